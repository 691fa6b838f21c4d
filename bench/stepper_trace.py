"""The stepper's full traces: a 32×32 convolution with a 3×3 kernel, target ≤ 20 ms (DESIGN).

Run from the repository root:  .venv/bin/python -m bench.stepper_trace [--n 200]

1. In-process: `conv_trace` (every window, its products, sum and written-out expression) beside
   the bare output from `torch.nn.functional.conv2d` on the same float64 grid: the ratio is
   what writing out the steps costs over computing the answer.
2. End to end through uvicorn on localhost, sequential requests over one keep-alive client, each
   timed from sending to having read the whole JSON body: POST /api/v1/stepper/convolution
   (valid: 900 steps; padding 1: 1,024 steps), a 32×32 max pooling, the slides' gradient descent,
   and GET /api/v1/health as the reference in the same run.
"""

from __future__ import annotations

import argparse
import tempfile

import httpx
import numpy as np
import torch
import torch.nn.functional as F

from app.core import stepper
from app.settings import LIMITS
from bench.harness import (
    calibration,
    free_port,
    http_rows,
    median_ms,
    print_calibration,
    start_server,
    stop_server,
    wait_ready,
)

TARGET_MS = 20.0
KERNEL = [[1, 1, 1], [0, 0, 0], [-1, -1, -1]]


def in_process(grid: list[list[int]], repeat: int) -> None:
    x = torch.tensor(grid, dtype=torch.float64)[None, None]
    k = torch.tensor(KERNEL, dtype=torch.float64)[None, None]
    print("in-process, median of", repeat)
    for padding in (0, 1):
        trace = median_ms(lambda p=padding: stepper.conv_trace(
            grid, KERNEL, padding=p, limits=LIMITS.stepper), repeat, 5)
        bare = median_ms(lambda p=padding: F.conv2d(x, k, padding=p), repeat, 5)
        print(f"  conv_trace 32×32, 3×3, padding {padding}: {trace:6.2f} ms   "
              f"bare conv2d {bare:6.3f} ms   ratio {trace / bare:5.0f}×")


def end_to_end(grid: list[list[int]], n: int, factor: float) -> None:
    port = free_port()
    with tempfile.TemporaryFile() as log:
        server = start_server(port, None, log)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                wait_ready(server, client)
                rows = [
                    ("GET /api/v1/health (reference)", lambda: client.get("/api/v1/health")),
                    ("convolution 32×32, 3×3, valid (900 steps)", lambda: client.post(
                        "/api/v1/stepper/convolution", json={"input": grid, "kernel": KERNEL})),
                    ("convolution 32×32, 3×3, padding 1 (1,024 steps)", lambda: client.post(
                        "/api/v1/stepper/convolution",
                        json={"input": grid, "kernel": KERNEL, "padding": 1})),
                    ("max pooling 32×32, 2×2 (256 steps)", lambda: client.post(
                        "/api/v1/stepper/pooling", json={"input": grid})),
                    ("gradient descent, slides, 100 epochs (300 steps)", lambda: client.post(
                        "/api/v1/stepper/gradient-descent",
                        json={"points": [[2, 4], [1, 2], [3, 6]], "epochs": 100})),
                ]
                medians = http_rows(rows, n, warmup=10, factor=factor)
        finally:
            print(stop_server(server, log))
    key = "convolution 32×32, 3×3, padding 1 (1,024 steps)"
    ref = medians["GET /api/v1/health (reference)"]
    verdict = "MEETS" if medians[key] * max(factor, 1.0) <= TARGET_MS else "MISSES"
    print(f"\nfull 32×32 trace over HTTP: p50 {medians[key]:.1f} ms ({medians[key] / ref:.1f}× the "
          f"health reference), {medians[key] * factor:.1f} ms scaled to the slow machine: "
          f"{verdict} the ≤ {TARGET_MS:.0f} ms target")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="requests per row")
    args = parser.parse_args()
    grid = np.random.default_rng(0).integers(0, 10, (32, 32)).tolist()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    factor = print_calibration(calibration())
    in_process(grid, repeat=50)
    end_to_end(grid, args.n, factor)


if __name__ == "__main__":
    main()
