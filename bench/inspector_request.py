"""The model inspector's two speed rows (DESIGN, "Performance targets"; issue 17):

1. every layer's activations for one 28×28 input, end to end through uvicorn: p50 ≤ 50 ms, with
   GET /api/v1/health as the reference in the same run and the shipped model's in-process
   forward pass for scale;
2. the first top-examples and mistakes answers after a start: ≤ 5 s from the moment the server
   answers /api/v1/health (the test-set pass is begun at start-up, in the background; until it
   is done those routes answer 202 with its progress, and this bench asks again every 0.1 s).

Beside each figure: DESIGN's calibration (the bare training loop, measured first, in the same
run) and the figure scaled to the slow machine (3,100 img/s).

Run from the repository root:  .venv/bin/python -m bench.inspector_request [--n 200] [--starts 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import httpx
import numpy as np
import torch

from app.core import inspect
from app.services.models import read
from app.settings import ROOT
from bench.harness import (
    calibration,
    free_port,
    http_rows,
    median_ms,
    print_calibration,
    serving,
    start_server,
    stop_server,
    wait_ready,
)

MODEL = "mnist-cnn"
TARGET_MS = 50.0
FIRST_ANSWER_TARGET_S = 5.0
POLL_S = 0.1


def a_digit(rng: np.random.Generator) -> list[list[int]]:
    """A 28×28 drawing: a slanted stroke with some jitter, a new one each time."""
    pixels = np.zeros((28, 28), np.uint8)
    x0, x1 = rng.integers(8, 20, 2)
    for i in range(5, 23):
        x = int(x0 + (x1 - x0) * (i - 5) / 17)
        pixels[i, max(0, x - 1):x + 2] = 255
    return pixels.tolist()


def activations_over_http(n: int, factor: float) -> None:
    rng = np.random.default_rng(0)
    model = read(ROOT / "models" / MODEL).load()
    x = torch.zeros(1, 1, 28, 28)
    forward = median_ms(lambda: inspect.activations(model, x), 100, 10)
    print(f"in-process forward with every layer's output: {forward:.2f} ms "
          f"({forward * factor:.2f} ms scaled)")
    with serving() as client:
        rows = [
            ("GET /api/v1/health (reference)", lambda: client.get("/api/v1/health")),
            ("POST …/predict, 28×28 pixels", lambda: client.post(
                f"/api/v1/models/{MODEL}/predict", json={"pixels": a_digit(rng)})),
            ("POST …/activations, 28×28 pixels", lambda: client.post(
                f"/api/v1/models/{MODEL}/activations", json={"pixels": a_digit(rng)})),
            ("POST …/gradcam (PNG), 28×28 pixels", lambda: client.post(
                f"/api/v1/models/{MODEL}/gradcam", json={"pixels": a_digit(rng)})),
        ]
        medians = http_rows(rows, n, warmup=10, factor=factor)
    p50 = medians["POST …/activations, 28×28 pixels"]
    ref = medians["GET /api/v1/health (reference)"]
    verdict = "MEETS" if p50 * max(factor, 1.0) <= TARGET_MS else "MISSES"
    print(f"\nevery layer's activations for a 28×28 input: p50 {p50:.1f} ms ({p50 / ref:.1f}× the "
          f"health reference), {p50 * factor:.1f} ms scaled to the slow machine: {verdict} the "
          f"≤ {TARGET_MS:.0f} ms target")


def first_answers() -> tuple[float, float, float, int]:
    """One fresh server: seconds from its first health answer to the first complete (200)
    top-examples answer and mistakes listing, the start-up itself, and the 202s seen."""
    port = free_port()
    with tempfile.TemporaryFile() as log:
        spawned = time.perf_counter()
        server = start_server(port, None, log)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                wait_ready(server, client, poll_s=0.02)  # often: the clock starts at its answer
                ready = time.perf_counter()
                pending = 0
                got: dict[str, float] = {}
                urls = {"top": f"/api/v1/models/{MODEL}/units/6/3/top-examples?k=9",
                        "mistakes": f"/api/v1/models/{MODEL}/examples?wrong=true&limit=24"}
                while len(got) < len(urls):
                    for key, url in urls.items():
                        if key in got:
                            continue
                        r = client.get(url)
                        if r.status_code == 200:
                            got[key] = time.perf_counter() - ready
                        elif r.status_code == 202:
                            pending += 1
                        else:
                            raise SystemExit(f"{url}: {r.status_code} {r.text[:300]}")
                    if len(got) < len(urls):
                        time.sleep(POLL_S)
        finally:
            print("  " + stop_server(server, log))
    return got["top"], got["mistakes"], ready - spawned, pending


def first_answer_after_start(starts: int, factor: float) -> None:
    print(f"\nthe first test-set answers after a start, {starts} fresh servers "
          f"(asked every {POLL_S:.1f} s from the first health answer)")
    tops, mistakes = [], []
    for i in range(starts):
        top, wrong, startup, pending = first_answers()
        tops.append(top)
        mistakes.append(wrong)
        print(f"  start {i + 1}: start-up {startup:.2f} s; then top examples {top:.2f} s, "
              f"mistakes {wrong:.2f} s ({pending} answers 202 before)")
    top, wrong = statistics.median(tops), statistics.median(mistakes)
    worst = max(top, wrong)
    verdict = "MEETS" if worst * max(factor, 1.0) <= FIRST_ANSWER_TARGET_S else "MISSES"
    print(f"\nfirst top-examples answer after a start: median {top:.2f} s ({top * factor:.2f} s "
          f"scaled), first mistakes answer {wrong:.2f} s ({wrong * factor:.2f} s scaled): "
          f"{verdict} the ≤ {FIRST_ANSWER_TARGET_S:.0f} s target")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="requests per row")
    parser.add_argument("--starts", type=int, default=3, help="fresh servers for row 2")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    factor = print_calibration(calibration())
    activations_over_http(args.n, factor)
    first_answer_after_start(args.starts, factor)


if __name__ == "__main__":
    main()
