"""A visual deep-learning playground: FastAPI pages and a REST API over a pure-compute core."""

import os

# Torch's OpenMP threads (libgomp) spin for a few milliseconds after each parallel op, holding
# the core that the server's own threads need next: the banded JPEG and PNG encoders, the event
# loop. Measured on 2 cores: a banded 1024 px JPEG right after a torch op took 7.1 ms where it
# takes 3.8 ms with passive waiting, which costs torch's own ops ~3%. libgomp reads this once,
# when torch first loads it, so it is set here, before anything in the app imports torch; a
# value already in the environment wins. Training processes inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# numpy's OpenBLAS starts a thread per core for any product over a few rows and lets them spin
# between products. The app's numpy products are small (the sliders' decoder, a few rows at a
# time: see app.services.generative.DecodeTogether), and torch does the large ones with its own
# threads. Measured (vae-16d's sliders, 32 users on 2 cores): the server's CPU time per request
# 1.9-2.4 ms with OpenBLAS's threads, 0.3-0.8 ms with one. Read when numpy loads, so set here.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
