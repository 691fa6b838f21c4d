"""The sequence lab's cell trace: an LSTM of 64 steps, hidden 32, target p50 ≤ 20 ms over HTTP
(DESIGN), the trivial endpoint as the reference in the same run.

Run from the repository root:  .venv/bin/python -m bench.sequence_trace [--n 200]

1. In-process: `core.recurrent.trace` (every step's gates, states and written-out equations)
   beside a bare `torch.nn.LSTMCell` loop over the same inputs: the ratio is what keeping and
   writing out the steps costs over computing the answer.
2. End to end through uvicorn on localhost, sequential requests over one keep-alive client,
   each timed from sending to having read the whole JSON body: POST /api/v1/sequences/trace
   for an LSTM, a GRU and an RNN of 64 steps (input 32, hidden 32), the page's usual small trace
   ("hello", hidden 3), and GET /api/v1/health as the reference.
Beside each figure: DESIGN's calibration and the figure scaled to the slow machine.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from app.core import recurrent
from app.settings import LIMITS
from bench.harness import (
    calibration,
    http_rows,
    median_ms,
    print_calibration,
    serving,
)

TARGET_MS = 20.0
STEPS, SIZE = 64, 32


def in_process(inputs: list[list[float]], repeat: int) -> None:
    cell = torch.nn.LSTMCell(SIZE, SIZE)
    x = torch.tensor(inputs)

    def bare() -> None:
        with torch.no_grad():
            h = c = torch.zeros(1, SIZE)
            for t in range(len(x)):
                h, c = cell(x[t:t + 1], (h, c))

    ours = median_ms(lambda: recurrent.trace("lstm", inputs, hidden_size=SIZE,
                                             limits=LIMITS.recurrent), repeat, 5)
    ref = median_ms(bare, repeat, 5)
    print(f"in-process, median of {repeat}: trace LSTM {STEPS} steps, hidden {SIZE}: "
          f"{ours:.2f} ms; bare LSTMCell loop {ref:.2f} ms ({ours / ref:.1f}×)")


def end_to_end(inputs: list[list[float]], n: int, factor: float) -> None:
    hello = [[1.0 if j == "helo".index(ch) else 0.0 for j in range(4)] for ch in "hello"]
    with serving() as client:

        def trace(cell: str, xs: list, hidden: int):
            return lambda: client.post("/api/v1/sequences/trace", json={
                "cell": cell, "input_size": len(xs[0]), "hidden_size": hidden,
                "inputs": xs})

        rows = [("GET /api/v1/health (reference)", lambda: client.get("/api/v1/health"))]
        rows += [(f"trace {cell.upper()} {STEPS} steps, input {SIZE}, hidden {SIZE}",
                  trace(cell, inputs, SIZE)) for cell in ("lstm", "gru", "rnn")]
        rows.append(("trace LSTM 'hello', hidden 3 (the page's)", trace("lstm", hello, 3)))
        medians = http_rows(rows, n, warmup=10, factor=factor)
    key = f"trace LSTM {STEPS} steps, input {SIZE}, hidden {SIZE}"
    p50, ref = medians[key], medians["GET /api/v1/health (reference)"]
    verdict = "MEETS" if p50 * max(factor, 1.0) <= TARGET_MS else "MISSES"
    print(f"\nLSTM trace over HTTP: p50 {p50:.1f} ms ({p50 / ref:.1f}× the health reference), "
          f"{p50 * factor:.1f} ms scaled to the slow machine: {verdict} the ≤ {TARGET_MS:.0f} ms "
          "target")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="requests per row")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    factor = print_calibration(calibration())
    inputs = np.random.default_rng(0).normal(size=(STEPS, SIZE)).round(4).tolist()
    in_process(inputs, repeat=100)
    end_to_end(inputs, args.n, factor)


if __name__ == "__main__":
    main()
