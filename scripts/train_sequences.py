"""Trains the sequence lab's shipped models and writes them, with their cards, to models/sequences.

    python scripts/train_sequences.py names-lstm          # a character LSTM that writes names
    python scripts/train_sequences.py python-lstm         # a character LSTM that writes Python
    python scripts/train_sequences.py names-language-gru  # a GRU: a name in, its language out
    python scripts/train_sequences.py all

Runs on a CPU (a few minutes each on 2 cores); the data comes from `make setup`. Each card gives
the validation loss beside a bigram baseline computed on the same split (a character bigram for
the two writers, a naive-Bayes reader of character bigrams per language for the classifier),
and the script fails unless the model beats it by at least 10%: the baseline took no part in
choosing the recipe, so it is a fair judge.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from app.core import sequences as seq
from app.services.corpora import Corpora, CorporaConfig
from app.services.models import SequenceCard, write_weights
from app.settings import LIMITS, ROOT

log = logging.getLogger("train_sequences")


@dataclass(frozen=True)
class Recipe:
    dataset: str
    config: seq.SequenceTrainConfig
    summary: str


RECIPES = {
    "names-lstm": Recipe(
        "names", seq.SequenceTrainConfig(
            task="generate", cell="lstm", layers=1, hidden_size=128, embedding=32,
            seq_len=48, batch_size=64, learning_rate=3e-3, clip=1.0, epochs=6, seed=0,
            batches_per_epoch=200, snapshot_every=30.0),
        "A character LSTM that writes first names in many languages, one name a line."),
    "python-lstm": Recipe(
        "python-code", seq.SequenceTrainConfig(
            task="generate", cell="lstm", layers=2, hidden_size=256, embedding=48,
            seq_len=128, batch_size=32, learning_rate=2e-3, clip=1.0, epochs=3, seed=0,
            batches_per_epoch=400, snapshot_every=30.0),
        "A two-layer character LSTM that writes Python, trained on Python's own standard "
        "library: watch its units track indentation and open brackets."),
    "names-language-gru": Recipe(
        "names-by-language", seq.SequenceTrainConfig(
            task="classify", cell="gru", layers=1, hidden_size=128, embedding=32,
            seq_len=32, batch_size=64, learning_rate=3e-3, clip=1.0, epochs=5, seed=0,
            snapshot_every=30.0),
        "A GRU that reads a first name character by character and says its language."),
}


def train_one(name: str, out_dir: Path, corpora: Corpora, epochs: int | None) -> bool:
    recipe = RECIPES[name]
    config = recipe.config if epochs is None else replace(recipe.config, epochs=epochs)
    corpus = corpora.load(recipe.dataset)
    start = time.perf_counter()
    history: list[dict] = []

    def emit(event: dict) -> None:
        if event["type"] == "epoch":
            row = {k: v for k, v in event.items() if k not in ("type", "at")}
            history.append(row)
            log.info("%s epoch %s: %s", name, event.get("epoch"),
                     ", ".join(f"{k} {v:.4f}" for k, v in row.items()
                               if isinstance(v, float)))

    result = seq.train_sequence(corpus, config, emit, lambda: False, limits=LIMITS.sequences)
    metrics = dict(result.metrics) | {"seconds": round(time.perf_counter() - start, 1)}
    val, base = metrics["val_loss"], metrics["bigram_val_loss"]
    gain = 1 - val / base
    metrics["beats_bigram_by"] = round(gain, 4)
    card = SequenceCard(
        name=name, task=result.model_config.task, config=asdict(result.model_config),
        vocab=None if result.vocab is None else "".join(result.vocab.chars),
        classes=tuple(result.classes) or None, normalization=result.normalization,
        dataset=recipe.dataset, metrics=metrics, history=history,
        params=sum(p.numel() for p in result.model.parameters()),
        trained=time.strftime("%Y-%m-%d", time.gmtime()), train_config=asdict(config),
        command=f"python scripts/train_sequences.py {name}", summary=recipe.summary)
    write_weights(out_dir / name, result.model.state_dict(), card)
    verdict = "beats" if gain >= 0.10 else "does NOT beat"
    log.info("%s: val loss %.4f vs bigram %.4f (%.1f%% lower): %s the 10%% bar; %.0f s",
             name, val, base, 100 * gain, verdict, metrics["seconds"])
    return gain >= 0.10


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=[*RECIPES, "all"])
    parser.add_argument("--out", type=Path, default=ROOT / "models" / "sequences")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "sequences")
    parser.add_argument("--epochs", type=int, default=None, help="override (quick tries)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    corpora = Corpora(CorporaConfig(args.data))
    names = list(RECIPES) if args.model == "all" else [args.model]
    passed = [train_one(n, args.out, corpora, args.epochs) for n in names]  # all, even after a miss
    return 0 if all(passed) else 1


if __name__ == "__main__":
    sys.exit(main())
