"""The model inspector's main request: every layer's activations for one 28×28 input, end to end
through uvicorn (target DESIGN/issue: p50 ≤ 50 ms), with GET /api/v1/health as the reference in
the same run, and the shipped model's in-process forward pass for scale.

Run from the repository root:  .venv/bin/python -m bench.inspector_request [--n 200]
"""

from __future__ import annotations

import argparse
import tempfile

import httpx
import numpy as np
import torch

from app.core import inspect
from app.services.models import read
from app.settings import ROOT
from bench.harness import (
    free_port,
    measure,
    median_ms,
    start_server,
    stop_server,
    summary,
    wait_ready,
)

MODEL = "mnist-cnn"
TARGET_MS = 50.0


def a_digit(rng: np.random.Generator) -> list[list[int]]:
    """A 28×28 drawing: a slanted stroke with some jitter, a new one each time."""
    pixels = np.zeros((28, 28), np.uint8)
    x0, x1 = rng.integers(8, 20, 2)
    for i in range(5, 23):
        x = int(x0 + (x1 - x0) * (i - 5) / 17)
        pixels[i, max(0, x - 1):x + 2] = 255
    return pixels.tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    model = read(ROOT / "models" / MODEL).load()
    x = torch.zeros(1, 1, 28, 28)
    forward = median_ms(lambda: inspect.activations(model, x), 100, 10)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; in-process forward "
          f"with every layer's output: {forward:.2f} ms")
    port = free_port()
    with tempfile.TemporaryFile() as log:
        server = start_server(port, None, log)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                wait_ready(server, client)
                rows = {
                    "GET /api/v1/health (reference)": lambda: client.get("/api/v1/health"),
                    "POST …/predict, 28×28 pixels": lambda: client.post(
                        f"/api/v1/models/{MODEL}/predict", json={"pixels": a_digit(rng)}),
                    "POST …/activations, 28×28 pixels": lambda: client.post(
                        f"/api/v1/models/{MODEL}/activations", json={"pixels": a_digit(rng)}),
                    "POST …/gradcam (PNG), 28×28 pixels": lambda: client.post(
                        f"/api/v1/models/{MODEL}/gradcam", json={"pixels": a_digit(rng)}),
                }
                print(f"\nend to end over HTTP, n = {args.n} each, sequential")
                print(f"  {'request':40s} {'p50':>8s} {'p90':>8s} {'p99':>8s} {'body':>8s}")
                medians = {}
                for name, call in rows.items():
                    def once(call=call, name=name) -> int:
                        r = call()
                        if r.status_code != 200:
                            raise SystemExit(f"{name}: {r.status_code} {r.text[:300]}")
                        return len(r.content)
                    times, size = measure(once, args.n, warmup=10)
                    p50, p90, p99 = summary(times)
                    medians[name] = p50
                    print(f"  {name:40s} {p50:6.2f}ms {p90:6.2f}ms {p99:6.2f}ms "
                          f"{size / 1024:6.0f}KB")
        finally:
            print(stop_server(server, log))
    p50 = medians["POST …/activations, 28×28 pixels"]
    verdict = "MEETS" if p50 <= TARGET_MS else "MISSES"
    print(f"\nevery layer's activations for a 28×28 input: p50 {p50:.1f} ms: {verdict} the "
          f"≤ {TARGET_MS:.0f} ms target")


if __name__ == "__main__":
    main()
