"""Live training of a char-LSTM: characters/s with live updates against a bare PyTorch loop on the
same model and batch. Target (DESIGN): ≥ 85% of the bare loop.

Run from the repository root (the sequence data set up):
    .venv/bin/python -m bench.sequence_training [--rounds 3] [--batches 300]

In this process, in alternating rounds (so a drift in the machine's speed hits both alike), the
page's default run (an LSTM of 128 on the names, batch 32 × 64 characters, Adam 3e-3, clipping
at 1) and the python-lstm recipe's net (2 layers of 256, batch 32 × 128):
- bare: random windows of the same encoded text, `cross_entropy(model(x))`, backward, clip, step;
- ours: `core.sequences.train_sequence` with what a run does live: every event serialized as
  the training process does and put on a multiprocessing queue that a thread drains (the
  server's pump), progress every 0.25 s, a snapshot (validation loss, three samples, the hidden
  heatmap) every second.
Each figure is characters / wall-clock seconds of the training steps (ours: the run's own
`chars_per_s`, which leaves out the end-of-epoch validation, as the bare loop has none).
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import torch
import torch.nn.functional as F

from app.core import sequences as seq
from app.services.corpora import Corpora, CorporaConfig
from app.settings import LIMITS, ROOT
from bench.harness import calibration, live_events, print_calibration

CONFIGS = {
    "LSTM 128, batch 32×64 (the page's default)": seq.SequenceTrainConfig(
        task="generate", cell="lstm", hidden_size=128, seq_len=64, batch_size=32),
    "LSTM 384, batch 32×128 (python-lstm)": seq.SequenceTrainConfig(
        task="generate", cell="lstm", hidden_size=384, embedding=48, seq_len=128,
        batch_size=32, learning_rate=2e-3),
}


def bare_loop(corpus, config: seq.SequenceTrainConfig, batches: int) -> float:
    """characters/s of the plainest loop on the same net, windows and optimizer."""
    vocab, train_ids, _ = seq.encode_corpus(corpus)
    torch.manual_seed(config.seed)
    model = seq.build(seq.CharModelConfig("generate", config.cell, config.hidden_size,
                                          config.layers, vocab_size=len(vocab),
                                          embedding=config.embedding))
    opt = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    generator = torch.Generator().manual_seed(config.seed)
    top = len(train_ids) - config.seq_len
    model.train()
    t = time.perf_counter()
    for _ in range(batches):
        starts = torch.randint(0, top, (config.batch_size,), generator=generator)
        x, y = seq.windows(train_ids, starts, config.seq_len)  # (B, T) each
        logits, _ = model(x)  # (B, T, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        opt.step()
    return batches * config.batch_size * config.seq_len / (time.perf_counter() - t)


def live_loop(corpus, config: seq.SequenceTrainConfig, batches: int) -> tuple[float, float]:
    """characters/s and updates/s of train_sequence with live events going out as in a run."""
    t = time.perf_counter()
    with live_events() as (emit, received):
        result = seq.train_sequence(
            corpus, replace(config, epochs=1, batches_per_epoch=batches), emit, lambda: False,
            limits=LIMITS.sequences)
    span = time.perf_counter() - t
    return result.metrics["chars_per_s"], len(received) / span


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, default=300)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print_calibration(calibration())
    corpus = Corpora(CorporaConfig(ROOT / "data" / "sequences")).load("names")
    for name, config in CONFIGS.items():
        bare, ours, updates = [], [], []
        print(name)
        for r in range(args.rounds):
            config = replace(config, seed=r)
            bare.append(bare_loop(corpus, config, args.batches))
            rate, ups = live_loop(corpus, config, args.batches)
            ours.append(rate)
            updates.append(ups)
            print(f"  round {r + 1}: bare {bare[-1]:9,.0f} chars/s   live {ours[-1]:9,.0f} "
                  f"chars/s   {updates[-1]:.1f} updates/s")
        b, o = statistics.median(bare), statistics.median(ours)
        verdict = "MEETS" if o / b >= 0.85 else "MISSES"
        print(f"  median: bare {b:,.0f} chars/s, live {o:,.0f} chars/s = {o / b:.1%} of bare, "
              f"{statistics.median(updates):.1f} updates/s: {verdict} the ≥ 85% target")


if __name__ == "__main__":
    main()
