"""Generative models of 28×28 digits: a variational autoencoder (VAE) and a DCGAN, their
training steps, and what the generative lab does with them (decode, sample, interpolate, encode).

Each net has one config dataclass that travels with its weights (`config` in the JSON card).
Images are (B, 1, 28, 28) in [0, 1]; latents are (B, latent) from the standard normal prior.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from app.core.errors import InputError
from app.core.training import TrainingDiverged, check_optimizer


@dataclass(frozen=True)
class GenerativeLimits:
    """The generative lab's bounds (the values live in app.settings.LIMITS.generative)."""

    batch: int  # latent points in one request
    steps: int  # frames of an interpolation
    prior_bound: float  # |z| beyond this lies far outside the prior: decoded, and said so
    latent_value: float  # |z| beyond this is refused (a sanity bound, far below float32 overflow)
    manifold_side: int  # the manifold picture is at most this many digits a side
    map_range: float  # a map (the manifold, the holes) spans at most ±this a side
    latent: int  # latent size of a run to watch
    run_epochs: int
    run_batch: int
    run_learning_rate: float


@dataclass(frozen=True)
class VAEConfig:
    latent: int = 2
    hidden: int = 512

    kind: Literal["vae"] = "vae"


@dataclass(frozen=True)
class AEConfig:
    latent: int = 2
    hidden: int = 512

    kind: Literal["ae"] = "ae"


@dataclass(frozen=True)
class GANConfig:
    latent: int = 64
    width: int = 64  # channels of the generator's last hidden layer (×2 before it)
    refine: int = 0  # 3×3 convolutions at 14×14 before the last upsampling (more drawing power)
    minibatch_std: bool = False  # the discriminator sees the batch's spread (Karras et al., 2018)
    # how the discriminator keeps its layers in check: "batch" norm (DCGAN), "spectral" norm
    # (Miyato et al., 2018) or "none" (with a gradient penalty in training instead)
    disc_norm: Literal["batch", "spectral", "none"] = "batch"
    disc_layers: int = 2  # 3 adds a convolution down to 4×4 with 4w channels: a sharper critic
    # 0: unconditional. 10: class-conditional (Mirza & Osindero, 2014): the generator is told
    # which digit to draw, the discriminator which digit it judges (as 10 more input channels,
    # one-hot), so each digit is drawn on demand and no digit can be dropped
    classes: int = 0

    kind: Literal["gan"] = "gan"


class VAE(nn.Module):
    """Kingma & Welling (2014): an encoder gives a Gaussian over the latent space for each image
    (mean, log-variance); the decoder turns any latent point back into an image."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.config = config
        h = config.hidden
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(784, h), nn.ReLU(),
                                     nn.Linear(h, h // 2), nn.ReLU())
        self.mean = nn.Linear(h // 2, config.latent)
        self.log_var = nn.Linear(h // 2, config.latent)
        self.decoder = nn.Sequential(nn.Linear(config.latent, h // 2), nn.ReLU(),
                                     nn.Linear(h // 2, h), nn.ReLU(), nn.Linear(h, 784))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e = self.encoder(x)  # (B, h/2)
        return self.mean(e), self.log_var(e)  # (B, latent) each

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z)).view(-1, 1, 28, 28)  # (B, 1, 28, 28)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, 1, 28, 28)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mean, log_var = self.encode(x)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)  # reparameterisation
        return self.decode_logits(z), mean, log_var


class Autoencoder(nn.Module):
    """A plain autoencoder with the VAE's shapes: the encoder gives each image one point (no
    spread, and nothing pulls the points towards a prior), the decoder is the VAE's. Trained to
    reconstruct alone, it may scatter the digits anywhere over the plane and leave the space
    between them unused: points there decode to no digit (the "holes")."""

    def __init__(self, config: AEConfig) -> None:
        super().__init__()
        self.config = config
        h = config.hidden
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(784, h), nn.ReLU(),
                                     nn.Linear(h, h // 2), nn.ReLU(),
                                     nn.Linear(h // 2, config.latent))
        self.decoder = nn.Sequential(nn.Linear(config.latent, h // 2), nn.ReLU(),
                                     nn.Linear(h // 2, h), nn.ReLU(), nn.Linear(h, 784))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)  # (B, latent)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z)).view(-1, 1, 28, 28)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encode(x)).view(-1, 1, 28, 28)  # logits


def ae_loss(model: Autoencoder, x: torch.Tensor) -> torch.Tensor:
    """The reconstruction error per image, in nats: the Bernoulli negative log-likelihood of
    the pixels, the same term as the VAE's reconstruction."""
    return F.binary_cross_entropy_with_logits(model(x), x, reduction="sum") / len(x)


def vae_loss(model: VAE, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The negative ELBO per image, in nats: reconstruction (Bernoulli log-likelihood of the
    pixels) plus the KL divergence of the encoder's Gaussian from the prior."""
    logits, mean, log_var = model(x)
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
    kl = -0.5 * torch.sum(1 + log_var - mean.pow(2) - log_var.exp()) / len(x)
    return recon + kl, recon, kl


def one_hot_digits(digits: torch.Tensor | None, classes: int, count: int) -> torch.Tensor:
    """The digits a conditional GAN is asked for, (count,) integers, as one-hot rows; refused
    when they are missing (a conditional model) or the wrong number."""
    if digits is None or len(digits) != count:
        raise InputError(f"a class-conditional GAN draws the digit it is asked for: give one "
                         f"digit (0 to {classes - 1}) per point", "digit")
    return F.one_hot(digits.long(), classes).float()


class Generator(nn.Module):
    """DCGAN generator (Radford et al., 2016): latent → 7×7 → 14×14 → 28×28 by transposed
    convolutions with batch norm, tanh at the end (mapped to [0, 1] by `decode`). A
    conditional one (config.classes) takes the digit too, one-hot beside the latent point."""

    def __init__(self, config: GANConfig) -> None:
        super().__init__()
        w = config.width
        self.config = config
        inputs = config.latent + config.classes
        self.project = nn.Sequential(nn.Linear(inputs, 2 * w * 7 * 7, bias=False),
                                     nn.BatchNorm1d(2 * w * 7 * 7), nn.ReLU())
        refine = [layer for _ in range(config.refine) for layer in (
            nn.Conv2d(w, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU())]
        self.up = nn.Sequential(
            nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1, bias=False),  # (B, w, 14, 14)
            nn.BatchNorm2d(w), nn.ReLU(),
            *refine,  # (B, w, 14, 14)
            nn.ConvTranspose2d(w, 1, 4, stride=2, padding=1), nn.Tanh())  # (B, 1, 28, 28)

    def forward(self, z: torch.Tensor, digits: torch.Tensor | None = None) -> torch.Tensor:
        if self.config.classes:
            z = torch.cat([z, one_hot_digits(digits, self.config.classes, len(z))], dim=1)
        x = self.project(z).view(len(z), 2 * self.config.width, 7, 7)  # (B, 2w, 7, 7)
        return self.up(x)  # (B, 1, 28, 28) in [-1, 1]

    def decode(self, z: torch.Tensor, digits: torch.Tensor | None = None) -> torch.Tensor:
        return (self.forward(z, digits) + 1) / 2


class Discriminator(nn.Module):
    def __init__(self, config: GANConfig) -> None:
        super().__init__()
        w = config.width
        self.minibatch_std = config.minibatch_std
        sn = nn.utils.parametrizations.spectral_norm if config.disc_norm == "spectral" else (
            lambda layer: layer)

        def norm(channels: int) -> list[nn.Module]:
            return [nn.BatchNorm2d(channels)] if config.disc_norm == "batch" else []

        self.classes = config.classes
        layers = [sn(nn.Conv2d(1 + config.classes, w, 4, stride=2, padding=1)),  # (B, w, 14, 14)
                  nn.LeakyReLU(0.2),
                  sn(nn.Conv2d(w, 2 * w, 4, stride=2, padding=1,
                               bias=config.disc_norm != "batch")),  # (B, 2w, 7, 7)
                  *norm(2 * w), nn.LeakyReLU(0.2)]
        channels, side = 2 * w, 7
        if config.disc_layers == 3:
            layers += [sn(nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1,
                                    bias=config.disc_norm != "batch")),  # (B, 4w, 4, 4)
                       *norm(4 * w), nn.LeakyReLU(0.2)]
            channels, side = 4 * w, 4
        self.side = side
        self.features = nn.Sequential(*layers)
        self.judge = nn.Sequential(
            nn.Flatten(), sn(nn.Linear((channels + config.minibatch_std) * side * side, 1)))

    def forward(self, x: torch.Tensor, digits: torch.Tensor | None = None) -> torch.Tensor:
        if self.classes:  # the digit judged, as one plane per class: 1 on its own, 0 elsewhere
            planes = one_hot_digits(digits, self.classes, len(x))[:, :, None, None]
            x = torch.cat([x, planes.expand(-1, -1, *x.shape[2:])], dim=1)  # (B, 1 + classes, …)
        f = self.features(x)  # (B, C, side, side)
        if self.minibatch_std:
            # One more channel: how much the batch varies. A generator that draws the same few
            # digits over and over makes this small, so the discriminator can catch it.
            spread = f.std(dim=0).mean().expand(len(f), 1, self.side, self.side)
            f = torch.cat([f, spread], dim=1)  # (B, C + 1, side, side)
        return self.judge(f).squeeze(1)  # (B,) logits: real vs generated


def build(config: dict) -> nn.Module:
    """The decoding model from a card's config: a VAE, an autoencoder or a GAN generator."""
    kind = config.get("kind")
    if kind == "vae":
        return VAE(VAEConfig(**config))
    if kind == "ae":
        return Autoencoder(AEConfig(**config))
    if kind == "gan":
        return Generator(GANConfig(**config))
    raise ValueError(f"unknown generative model kind {kind!r}")


def config_dict(config: VAEConfig | AEConfig | GANConfig) -> dict:
    return asdict(config)


# ---------------------------------------------------------------- what the lab does

def _all_numbers(z: object) -> bool:
    """A list of numbers or a list of such lists (JSON numbers: no strings, no booleans), or a
    numeric array."""
    if isinstance(z, np.ndarray | torch.Tensor):
        return z.dtype.is_floating_point if isinstance(z, torch.Tensor) else z.dtype.kind in "iuf"
    if not isinstance(z, list | tuple):
        return False
    rows = z if z and isinstance(z[0], list | tuple) else [z]
    return all(isinstance(row, list | tuple) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in row) for row in rows)


def latent_array(z: object, latent: int, field: str = "z", *, limits: GenerativeLimits
                 ) -> tuple[np.ndarray, float]:
    """`check_latents`' checks, for the slider path: the points as a (B, latent) float32 numpy
    array, and their largest |coordinate| (what `farthest` says). No torch tensor on the way:
    on a busy server, where caches are cold, that halves the cost of the checks."""
    shape = f"{field} must be a list of {latent} numbers (or a list of such lists)"
    if not _all_numbers(z):
        raise InputError(shape, field)
    try:
        arr = np.asarray(z, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InputError(shape, field) from exc
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != latent:
        got = arr.shape[-1] if arr.ndim >= 1 and arr.size else 0
        raise InputError(f"{field} must have {latent} numbers per point (this model's latent "
                         f"size), got {got}", field)
    if len(arr) == 0 or len(arr) > limits.batch:
        raise InputError(f"{field} must hold 1 to {limits.batch} points", field)
    bound = limits.latent_value
    peak = float(np.abs(arr).max())  # NaN and ±inf fail the test below too
    if not peak <= bound:
        if not np.all(np.isfinite(arr)):
            raise InputError(f"{field} values must be finite numbers", field)
        raise InputError(f"{field} values must be from −{bound:,.0f} to {bound:,.0f} (a sanity "
                         f"bound; the prior is a standard normal, and points beyond "
                         f"±{limits.prior_bound:g} are decoded but lie far outside it)", field)
    # float32's largest |coordinate| is the float64 one rounded (rounding keeps the order)
    return arr.astype(np.float32), float(np.float32(peak))


def check_digits(digit: int | list[int] | None, count: int, classes: int, model: str
                 ) -> np.ndarray | None:
    """The digits asked of `count` points: for a class-conditional GAN (`classes` > 0) one
    digit for them all or one per point, as (count,) integers; for any other model, none
    (refused when given: it has no way to take one)."""
    if not classes:
        if digit is not None:
            raise InputError(f"{model} is not class-conditional: it draws whatever digit its "
                             "point holds; leave digit out (cgan takes one)", "digit")
        return None
    ask = (f"{model} draws the digit it is asked for: give digit, a whole number 0 to "
           f"{classes - 1}, one for all the points or a list with one per point")
    if digit is None:
        raise InputError(ask, "digit")
    digits = np.asarray(digit if isinstance(digit, list) else [digit] * count)
    if digits.ndim != 1 or len(digits) != count or digits.dtype.kind not in "iu" or (
            len(digits) and not 0 <= digits.min() <= digits.max() < classes):
        raise InputError(ask + f" ({count} here)", "digit")
    return digits.astype(np.int64)


def check_latents(z: object, latent: int, field: str = "z", *, limits: GenerativeLimits
                  ) -> torch.Tensor:
    """A latent point or a batch of them → (B, latent) float32; refused with a reason when the
    length is wrong or a value is not a finite number within ±limits.latent_value. A point
    outside the prior (|z| beyond limits.prior_bound) is taken: `farthest` says how far out."""
    return torch.from_numpy(latent_array(z, latent, field, limits=limits)[0])


def farthest(z: torch.Tensor | np.ndarray) -> float:
    """The largest |coordinate| of these latent points: how many standard deviations of the
    prior the farthest one lies out along an axis (beyond limits.prior_bound: outside it)."""
    return float(np.abs(np.asarray(z)).max()) if np.size(z) else 0.0


def clip_to_prior(z: torch.Tensor, *, limits: GenerativeLimits) -> tuple[torch.Tensor, int]:
    """z clipped to ±limits.prior_bound, and how many coordinates that moved."""
    bound = limits.prior_bound
    return z.clamp(-bound, bound), int((z.abs() > bound).sum())


@torch.no_grad()
def decode(model: nn.Module, z: torch.Tensor, digits: torch.Tensor | None = None) -> np.ndarray:
    """(B, latent) → (B, 28, 28) uint8 images; a conditional GAN also takes the (B,) digits
    to draw."""
    model.eval()
    x = (model.decode(z) if digits is None else model.decode(z, digits))[:, 0]
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


class NumpyDecoder:
    """A VAE's decoder as three numpy matrix products, for the slider path: a latent point
    decodes in 20-170 µs on one core (by machine: the 512×784 product is bound by memory
    bandwidth), without waking PyTorch's thread pool, whose threads wait milliseconds for a
    core when the machine is busy (measured: p99 0.2 ms → 3 ms)."""

    def __init__(self, model: VAE | Autoencoder) -> None:
        layers = [m for m in model.decoder if isinstance(m, nn.Linear)]
        self.weights = [(m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy())
                        for m in layers]

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """(B, latent) float32 → (B, 28, 28) uint8: the pixels round(255 · sigmoid(x)) of
        `decode`, but where float32 rounding lands on the other side of a half (a rare pixel,
        by one). Six passes over the last layer's output, in place: measured (2 cores, caches
        cold) 21 µs for one point, 64 µs for 32, where one binary search per pixel among the
        255 steps of the rounding took 30 µs and 2,040 µs."""
        h = np.asarray(z, dtype=np.float32)
        for i, (w, b) in enumerate(self.weights):
            h = h @ w
            h += b
            if i < len(self.weights) - 1:
                np.maximum(h, 0, out=h)
        np.clip(h, -SIGMOID_SATURATES, SIGMOID_SATURATES, out=h)  # e^x stays finite
        np.negative(h, out=h)
        np.exp(h, out=h)
        h += 1
        np.divide(255, h, out=h)
        return np.rint(h, out=h).astype(np.uint8).reshape(-1, 28, 28)


# float32's e^x is finite up to x ≈ 88.7, and 255 · sigmoid(±80) rounds to 255 and 0 already
SIGMOID_SATURATES = 80.0


def draw_prior(latent: int, count: int, seed: int) -> torch.Tensor:
    """`count` points from the standard normal prior, seeded (the API caps count)."""
    if count < 1:
        raise InputError("count must be at least 1", "count")
    return torch.randn(count, latent, generator=torch.Generator().manual_seed(seed))


def sample_latents(latent: int, count: int, seed: int, *, limits: GenerativeLimits
                   ) -> torch.Tensor:
    """`draw_prior`'s points clamped to ±limits.prior_bound (the shipped models' sample
    figures are measured on these)."""
    return clip_to_prior(draw_prior(latent, count, seed), limits=limits)[0]


def interpolate(start: torch.Tensor, end: torch.Tensor, steps: int,
                method: Literal["linear", "slerp"] = "linear", *, limits: GenerativeLimits
                ) -> torch.Tensor:
    """`steps` points from start to end (both included). slerp walks the great circle, which
    keeps the points at the typical distance from the origin of a high-dimensional Gaussian
    (White, 2016); linear cuts through the middle, where samples are rarely drawn."""
    if not 2 <= steps <= limits.steps:
        raise InputError(f"steps must be 2 to {limits.steps}", "steps")
    t = torch.linspace(0, 1, steps)[:, None]
    a, b = start.reshape(1, -1), end.reshape(1, -1)
    if method == "linear":
        return a + (b - a) * t
    if method != "slerp":
        raise InputError("method must be 'linear' or 'slerp'", "method")
    na, nb = a.norm(), b.norm()
    if na == 0 or nb == 0:
        return a + (b - a) * t
    omega = torch.arccos(((a / na) * (b / nb)).sum().clamp(-1, 1))
    if omega.abs() < 1e-6:
        return a + (b - a) * t
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


@torch.no_grad()
def encode(model: VAE | Autoencoder, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
    """Images (B, 1, 28, 28) in [0, 1] → the mean and log-variance of their latent Gaussians
    (a VAE), or their points and None (an autoencoder: no spread)."""
    model.eval()
    if isinstance(model, Autoencoder):
        return model.encode(x).numpy(), None
    mean, log_var = model.encode(x)
    return mean.numpy(), log_var.numpy()


def manifold_latents(size: int, extent: float, *, limits: GenerativeLimits) -> torch.Tensor:
    """A size × size grid over [−extent, extent]², row by row from the top (z₂ high) down, so a
    picture of the decoded grid has z₁ to the right and z₂ up, like the latent map's axes."""
    if not 2 <= size <= limits.manifold_side:
        raise InputError(f"size must be 2 to {limits.manifold_side}", "size")
    if not 0 < extent <= limits.map_range:
        raise InputError(f"range must be above 0 and at most {limits.map_range:g}", "range")
    v = torch.linspace(-extent, extent, size)
    z1, z2 = torch.meshgrid(v, v.flip(0), indexing="xy")
    return torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1)


HOLE_CONFIDENCE = 0.5  # a decoded point the classifier reads below this is "no digit"


@dataclass(frozen=True)
class HoleMap:
    """A decoded size × size grid over a 2-D latent plane (rows from the top, z₂ high, as
    `manifold_latents` lays them), read by a classifier."""

    confidence: np.ndarray  # (size, size): the classifier's top probability
    digits: np.ndarray  # (size, size): the class it reads
    share: float  # of the grid points read below HOLE_CONFIDENCE: the holes


def holes(decode: Callable[[torch.Tensor], np.ndarray],
          classify: Callable[[np.ndarray], np.ndarray], size: int, extent: float, *,
          limits: GenerativeLimits) -> HoleMap:
    """Where a 2-D latent plane decodes to no digit: `decode` turns (N, 2) points into
    (N, 28, 28) uint8 digits, `classify` those into (N, classes) probabilities."""
    z = manifold_latents(size, extent, limits=limits)
    p = classify(decode(z))
    confidence = p.max(axis=1).reshape(size, size)
    return HoleMap(confidence=confidence, digits=p.argmax(axis=1).reshape(size, size),
                   share=float((confidence < HOLE_CONFIDENCE).mean()))


def empty_share(points: np.ndarray, size: int, extent: float) -> float:
    """Of a size × size grid of cells over [−extent, extent]², the share that holds none of
    these 2-D points (N, 2): the part of the plane the encoder left unused."""
    counts, _, _ = np.histogram2d(points[:, 0], points[:, 1], bins=size,
                                  range=[[-extent, extent], [-extent, extent]])
    return float((counts == 0).mean())


def fitted_gaussian_draws(points: np.ndarray, count: int, seed: int) -> np.ndarray:
    """`count` draws (float32) from the Gaussian fitted to these latent points (N, latent):
    their mean and covariance. A plain autoencoder has no prior to sample from; this is the
    nearest thing to one, to ask whether sampling it would draw digits."""
    rng = np.random.default_rng(seed)
    return rng.multivariate_normal(points.mean(axis=0), np.cov(points.T), count).astype(
        np.float32)


def tile(images: np.ndarray, cols: int, gap: int = 2) -> np.ndarray:
    """(N, 28, 28) uint8 → one picture, `cols` a row, dark gaps."""
    n, h, w = images.shape
    rows = math.ceil(n / cols)
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), 40, np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = im
    return out


# ---------------------------------------------------------------- training steps

def vae_epoch(model: VAE | Autoencoder, x: torch.Tensor, optimizer: torch.optim.Optimizer,
              batch: int, generator: torch.Generator) -> float:
    """One pass over x (N, 1, 28, 28) in [0, 1]; the mean loss of its batches: the negative
    ELBO of a VAE, the reconstruction error of an autoencoder (nats per image)."""
    model.train()
    order = torch.randperm(len(x), generator=generator)
    total = 0.0
    for i in range(0, len(x), batch):
        xb = x[order[i:i + batch]]
        loss = ae_loss(model, xb) if isinstance(model, Autoencoder) else vae_loss(model, xb)[0]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(xb)
    return total / len(x)


def gan_epoch(gen: Generator, disc: Discriminator, x: torch.Tensor, opt_g: torch.optim.Optimizer,
              opt_d: torch.optim.Optimizer, batch: int, generator: torch.Generator,
              average: Generator | None = None, decay: float = 0.999,
              loss: Literal["bce", "hinge"] = "bce", r1: float = 0.0,
              top_k: int | None = None, labels: torch.Tensor | None = None
              ) -> tuple[float, float]:
    """One pass over real images x (N, 1, 28, 28) in [0, 1]; returns the mean generator and
    discriminator losses. `loss`: "bce", the non-saturating GAN loss (Goodfellow et al., 2014),
    with one-sided label smoothing (real labels 0.9) unless `r1` is set; or "hinge" (Lim & Ye,
    2017; Miyato et al., 2018). `r1`: a penalty on the discriminator's gradient at real images,
    weight r1/2 (Mescheder et al., 2018), which keeps the two nets from circling each other.
    With `average`, that copy of the generator follows an exponential moving average of its
    weights (Karras et al., 2018): it draws steadier digits than the last step's weights.
    `top_k`: the generator learns only from the k fakes the discriminator finds most real, so
    its worst drafts stop pulling it around (Sinha et al., 2020). A conditional pair
    (gen.config.classes) learns from the real digits' `labels` (N,); its fakes are asked for
    digits drawn uniformly."""
    classes = gen.config.classes
    if classes and labels is None:
        raise ValueError("a conditional GAN learns from labelled digits: give labels")
    gen.train()
    disc.train()
    order = torch.randperm(len(x), generator=generator)
    real_label = 1.0 if r1 else 0.9
    g_total = d_total = 0.0
    steps = 0
    for i in range(0, len(x) - batch + 1, batch):
        real = x[order[i:i + batch]] * 2 - 1  # to the generator's [-1, 1]
        z = torch.randn(batch, gen.config.latent, generator=generator)
        real_digits = fake_digits = None
        if classes:
            real_digits = labels[order[i:i + batch]]
            fake_digits = torch.randint(classes, (batch,), generator=generator)
        fake = gen(z, fake_digits)
        real.requires_grad_(r1 > 0)
        d_real, d_fake = disc(real, real_digits), disc(fake.detach(), fake_digits)
        if loss == "hinge":
            d_loss = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
        else:
            d_loss = (F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real,
                                                                                 real_label))
                      + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        if r1:
            (grad,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
            d_loss = d_loss + r1 / 2 * grad.pow(2).flatten(1).sum(1).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        d_out = disc(fake, fake_digits)
        if top_k is not None and top_k < len(d_out):
            d_out = d_out.flatten().topk(top_k).values
        g_loss = (-d_out.mean() if loss == "hinge" else
                  F.binary_cross_entropy_with_logits(d_out, torch.ones_like(d_out)))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        if average is not None:
            follow(average, gen, decay)
        g_total += float(g_loss.detach())
        d_total += float(d_loss.detach())
        steps += 1
    return g_total / max(steps, 1), d_total / max(steps, 1)


def rate_share(epoch: int, epochs: int, decay_last: int) -> float:
    """The learning rates' share in `epoch` (1-based): 1, then over the last `decay_last`
    epochs down in equal steps, to 1/decay_last in the final one."""
    if decay_last <= 0:
        return 1.0
    return min(1.0, (epochs - epoch + 1) / decay_last)


@torch.no_grad()
def follow(average: nn.Module, model: nn.Module, decay: float) -> None:
    """average ← decay·average + (1 − decay)·model, weights; batch-norm statistics copied."""
    for a, p in zip(average.parameters(), model.parameters(), strict=True):
        a.lerp_(p, 1 - decay)
    for a, b in zip(average.buffers(), model.buffers(), strict=True):
        a.copy_(b)


@torch.no_grad()
def test_elbo(model: VAE, x: torch.Tensor, batch: int = 1000) -> dict[str, float]:
    """Mean negative ELBO, reconstruction and KL per image (nats) on held-out images; the
    sampling of z makes it a one-sample estimate, seeded for repeatability."""
    model.eval()
    torch.manual_seed(0)
    totals = np.zeros(3)
    for i in range(0, len(x), batch):
        xb = x[i:i + batch]
        loss, recon, kl = vae_loss(model, xb)
        totals += np.array([float(loss), float(recon), float(kl)]) * len(xb)
    neg_elbo, recon, kl = totals / len(x)
    return {"neg_elbo": neg_elbo, "reconstruction": recon, "kl": kl}


@torch.no_grad()
def test_reconstruction(model: VAE | Autoencoder, x: torch.Tensor, batch: int = 1000
                        ) -> float:
    """Mean reconstruction error per image (nats) on held-out images, decoded from the point
    the encoder gives (a VAE: its mean, no sampling)."""
    model.eval()
    total = 0.0
    for i in range(0, len(x), batch):
        xb = x[i:i + batch]
        z = model.encode(xb) if isinstance(model, Autoencoder) else model.encode(xb)[0]
        logits = model.decoder(z).view(-1, 1, 28, 28)
        total += float(F.binary_cross_entropy_with_logits(logits, xb, reduction="sum"))
    return total / len(x)


def latent_extent(points: np.ndarray) -> float:
    """A square's half-side that holds the encoded digits of a 2-D map, for drawing it: the
    99th percentile of |z| over both axes, with a tenth more room, rounded up to a whole
    number (a VAE's is about 3: its prior's; an autoencoder's is whatever it chose)."""
    return float(math.ceil(np.quantile(np.abs(points), 0.99) * 1.1))


# ---------------------------------------------------------------- a run you can watch

@dataclass(frozen=True)
class GenerativeTrainConfig:
    """A short VAE or GAN training run through the job runner, to watch its samples improve."""

    task: Literal["vae", "gan"] = "vae"
    latent: int = 2
    epochs: int = 3
    batch_size: int = 128
    learning_rate: float = 1e-3  # the GAN uses 2e-4 whatever this says (DCGAN's setting)
    seed: int = 0
    max_seconds: float = 1800.0
    progress_every: float = 0.5
    samples_every: float = 2.0
    max_batches: int | None = None

    def validate(self, limits: GenerativeLimits) -> None:
        if self.task not in ("vae", "gan"):
            raise InputError("task must be 'vae' or 'gan'", "task")
        if not 1 <= self.latent <= limits.latent:
            raise InputError(f"latent must be 1 to {limits.latent}", "latent")
        if not 1 <= self.epochs <= limits.run_epochs:
            raise InputError(f"epochs must be 1 to {limits.run_epochs} (a run to watch, not to "
                             "ship)", "epochs")
        if not 8 <= self.batch_size <= limits.run_batch:
            raise InputError(f"batch_size must be 8 to {limits.run_batch}", "batch_size")
        check_optimizer(None, self.learning_rate, limits.run_learning_rate)


def train_generative(x: torch.Tensor, config: GenerativeTrainConfig, emit, should_stop, *,
                     limits: GenerativeLimits) -> str:
    """Trains on images x (N, 1, 28, 28) in [0, 1], reporting like core.training.train: "start",
    "progress" (losses), "samples" (16 fixed latent points decoded, so each picture shows the
    same points as the model learns), "epoch", "done". Returns how it ended. The config is
    checked against `limits`."""
    config.validate(limits)
    torch.manual_seed(config.seed)
    g = torch.Generator().manual_seed(config.seed)
    fixed = torch.randn(16, config.latent, generator=torch.Generator().manual_seed(99))
    if config.task == "vae":
        model: nn.Module = VAE(VAEConfig(latent=config.latent))
        opts = [torch.optim.Adam(model.parameters(), lr=config.learning_rate)]
        disc = None
    else:
        gan = GANConfig(latent=config.latent, width=32)
        model, disc = Generator(gan), Discriminator(gan)
        opts = [torch.optim.Adam(m.parameters(), lr=2e-4, betas=(0.5, 0.999))
                for m in (model, disc)]
    steps = len(x) // config.batch_size
    if config.max_batches:
        steps = min(steps, config.max_batches)
    emit({"type": "start", "task": config.task, "latent": config.latent,
          "total_steps": steps * config.epochs, "train_size": len(x)})

    def samples(epoch: int, step: int) -> None:
        emit({"type": "samples", "epoch": epoch, "step": step, "images": decode(model, fixed)})

    samples(0, 0)
    start = last_progress = last_samples = time.perf_counter()
    step, reason = 0, "completed"
    for epoch in range(1, config.epochs + 1):
        order = torch.randperm(len(x), generator=g)
        sums = np.zeros(2)
        for b in range(steps):
            batch = x[order[b * config.batch_size:(b + 1) * config.batch_size]]
            if disc is None:
                model.train()
                loss, _, _ = vae_loss(model, batch)
                opts[0].zero_grad(set_to_none=True)
                loss.backward()
                opts[0].step()
                values = (float(loss.detach()), 0.0)
            else:
                values = gan_epoch(model, disc, batch, opts[0], opts[1], len(batch), g)
            sums += values
            step += 1
            if not all(math.isfinite(v) for v in values):
                raise TrainingDiverged(f"the loss stopped being a number at step {step}; try a "
                                       "smaller learning rate")
            now = time.perf_counter()
            if now - last_progress >= config.progress_every:
                names = ("neg_elbo", None) if disc is None else ("generator_loss",
                                                                 "discriminator_loss")
                emit({"type": "progress", "epoch": epoch, "step": step,
                      "total_steps": steps * config.epochs,
                      **{n: v for n, v in zip(names, values, strict=True) if n}})
                last_progress = now
            if now - last_samples >= config.samples_every:
                samples(epoch, step)
                last_samples = now
            if should_stop():
                reason = "stopped"
                break
            if now - start > config.max_seconds:
                reason = "time limit"
                break
        mean = sums / max(1, b + 1)
        emit({"type": "epoch", "epoch": epoch, "step": step,
              **({"neg_elbo": mean[0]} if disc is None else
                 {"generator_loss": mean[0], "discriminator_loss": mean[1]})})
        samples(epoch, step)
        if reason != "completed":
            break
    emit({"type": "done", "reason": reason, "step": step})
    return reason
