"""Pure compute: numpy, torch and Pillow only. Nothing here imports the web layers."""
