"""The sequence lab's generation: 200 characters with the top-5 of every step, target p50 ≤ 100 ms
(DESIGN), from the shipped models.

Run from the repository root:  .venv/bin/python -m bench.sequence_generate [--n 100]

1. In-process: `core.sequences.generate` (one character at a time, keeping the net's state,
   sampling and listing the five likeliest of every step) beside a bare loop of the same net's
   steps with argmax and nothing listed: what sampling and the top-5 cost over the net itself.
2. End to end through uvicorn: POST /api/v1/sequences/models/{name}/generate for the shipped
   `names-lstm` (an LSTM of 128) and `python-lstm` (an LSTM of 384), 200 characters, temperature
   0.8, a new seed each request; GET /api/v1/health as the reference in the same run.
Beside each figure: DESIGN's calibration and the figure scaled to the slow machine.
"""

from __future__ import annotations

import argparse

import torch

from app.core import sequences as seq
from app.services.sequences import SequenceModels
from app.settings import LIMITS, ROOT
from bench.harness import (
    calibration,
    http_rows,
    median_ms,
    print_calibration,
    serving,
)

TARGET_MS = 100.0
LENGTH = 200
MODELS = ("names-lstm", "python-lstm")


def in_process(repeat: int) -> None:
    models = SequenceModels(ROOT / "models" / "sequences", ROOT / "data" / "models")
    print(f"in-process, median of {repeat}, {LENGTH} characters:")
    for name in MODELS:
        m = models.load(name)
        stepper = seq.Stepper(m.net)

        def bare(stepper=stepper) -> None:
            with torch.inference_mode():
                state, ids = stepper.split(None, 1), torch.tensor([0])
                for _ in range(LENGTH):
                    logits, state = stepper(stepper.inputs(ids), state)  # (1, V)
                    ids = logits.argmax(-1)

        def ours(m=m) -> None:
            with torch.inference_mode():
                seq.generate(m.net, m.vocab, "", length=LENGTH, temperature=0.8, seed=1,
                             limits=LIMITS.sequences)

        ref = median_ms(bare, repeat)
        mine = median_ms(ours, repeat)
        print(f"  {name:12s} generate + top-5 {mine:6.2f} ms   bare steps with argmax "
              f"{ref:6.2f} ms ({mine / ref:.2f}×)")


def end_to_end(n: int, factor: float) -> None:
    with serving() as client:
        seeds = iter(range(10**9))

        def generate(name: str):
            return lambda: client.post(f"/api/v1/sequences/models/{name}/generate", json={
                "length": LENGTH, "temperature": 0.8, "seed": next(seeds)})

        rows = [("GET /api/v1/health (reference)", lambda: client.get("/api/v1/health"))]
        rows += [(f"generate {LENGTH} chars + top-5, {name}", generate(name))
                 for name in MODELS]
        medians = http_rows(rows, n, warmup=5, factor=factor)
    for name in MODELS:
        p50 = medians[f"generate {LENGTH} chars + top-5, {name}"]
        verdict = "MEETS" if p50 * max(factor, 1.0) <= TARGET_MS else "MISSES"
        print(f"{name}: p50 {p50:.1f} ms, {p50 * factor:.1f} ms scaled to the slow machine: "
              f"{verdict} the ≤ {TARGET_MS:.0f} ms target")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="requests per row")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    factor = print_calibration(calibration())
    in_process(repeat=30)
    end_to_end(args.n, factor)


if __name__ == "__main__":
    main()
