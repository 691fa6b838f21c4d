"""A visual deep-learning playground: FastAPI pages and a REST API over a pure-compute core."""

import os

# Torch's OpenMP threads (libgomp) spin for a few milliseconds after each parallel op, holding
# the core that the server's own threads need next: the banded JPEG and PNG encoders, the event
# loop. Measured on 2 cores: a banded 1024 px JPEG right after a torch op took 7.1 ms where it
# takes 3.8 ms with passive waiting, which costs torch's own ops ~3%. libgomp reads this once,
# when torch first loads it, so it is set here, before anything in the app imports torch; a
# value already in the environment wins. Training processes inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
