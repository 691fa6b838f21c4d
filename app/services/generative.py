"""The generative lab's service: the shipped VAE and GAN models (models/generative/<name>/),
loaded once, and what the page needs beside decoding: the test digits' latent points (the 2-D
map) and each digit class's average latent point (latent arithmetic). Then one function per
question the lab answers (decode, sample, interpolate, encode, the manifold and latent map, latent
arithmetic, a short training run to watch); the API router turns their results into responses.

Pictures inside an answer are PNG data URLs (`data:image/png;base64,…`); a picture that is the
whole answer is PNG bytes."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from app.core import generative as gen
from app.core import images
from app.core.images import png_data_url
from app.core.training import to_inputs
from app.services import models as model_store
from app.services import training
from app.services.datasets import Catalog
from app.services.errors import Conflict, Invalid
from app.services.inspector import Inspector
from app.services.models import StoredModel, UnknownModel
from app.services.owners import LOCAL, Actor
from app.services.runs.backend import JobBackend
from app.services.runs.records import RunRecord
from app.settings import LIMITS

CLASSES = [str(d) for d in range(10)]
TOGETHER_POINTS = 32  # points in one product at most (8 KB of vae-16d's activations a layer)


class DecodeTogether:
    """Decodes together the points that requests bring within one turn of the event loop.

    Under a class dragging sliders, dozens of requests arrive in one burst and each used to
    decode its point alone: a matrix product reading all of the decoder's weights (2.1 MB for
    vae-16d, more than a core's cache) for one row. Here the first point of a turn schedules
    a decode for the next turn (`call_soon`) and waits; the points that the other requests of
    the same turn bring join it, and the one product answers them all. A point that comes
    alone waits one turn of the loop (microseconds). Measured on vae-16d (2 cores, caches cold
    as on a busy server): 1 point ~160 µs, 8 points ~430 µs, 32 points ~680 µs (~21 µs each).
    Under 32 users dragging (bench.generative_slider) the server's CPU time per request fell by
    a third to a half; the median answer did not get faster over POST: a request that waits
    for a turn of the loop lets the rest of its burst pass before it, which costs it about
    what the shared product saves.

    For the event loop's thread only (the routes are `async def`); `decode` is any function of
    (B, latent) float32 points to (B, 28, 28) uint8 pictures."""

    def __init__(self, decode: Callable[[np.ndarray], np.ndarray], max_points: int) -> None:
        self._decode, self._max = decode, max_points
        self._waiting: list[tuple[np.ndarray, asyncio.Future[np.ndarray]]] = []
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop _waiting belongs to

    async def __call__(self, points: np.ndarray) -> np.ndarray:
        loop = asyncio.get_running_loop()
        if not self._waiting or loop is not self._loop:
            # a loop that stopped before its turn (an app's test client closing) leaves
            # points nobody waits for any more: they are dropped, not left to block this one
            self._waiting, self._loop = [], loop
            loop.call_soon(self._run)
        answer: asyncio.Future[np.ndarray] = loop.create_future()
        self._waiting.append((points, answer))
        return await answer

    def _run(self) -> None:
        waiting, self._waiting = self._waiting, []
        groups: list[list[tuple[np.ndarray, asyncio.Future[np.ndarray]]]] = [[]]
        rows = 0
        for item in waiting:  # whole requests, at most max_points a product
            if groups[-1] and rows + len(item[0]) > self._max:
                groups.append([])
                rows = 0
            groups[-1].append(item)
            rows += len(item[0])
        for group in groups:
            self._answer(group)

    def _answer(self, group: list[tuple[np.ndarray, asyncio.Future[np.ndarray]]]) -> None:
        try:
            pictures = self._decode(np.concatenate([points for points, _ in group]))
        except Exception as exc:  # every request of the product hears of it
            for _, answer in group:
                if not answer.done():
                    answer.set_exception(exc)
            return
        row = 0
        for points, answer in group:
            if not answer.done():  # a request that gave up (its client went away)
                answer.set_result(pictures[row:row + len(points)])
            row += len(points)


@dataclass
class GenModel:
    stored: StoredModel
    decoder: torch.nn.Module
    fast: gen.NumpyDecoder | None = None  # the slider path of the VAEs and the autoencoder
    together: DecodeTogether | None = field(init=False)  # `fast`, for concurrent requests' points
    lock: threading.Lock = field(default_factory=threading.Lock)
    points: np.ndarray | None = None  # test digits' latent means (N, latent), with an encoder
    spreads: np.ndarray | None = None  # and a VAE's standard deviations about them (N, latent)
    labels: np.ndarray | None = None
    class_means: np.ndarray | None = None  # (10, latent)

    def __post_init__(self) -> None:
        self.together = None if self.fast is None else DecodeTogether(self.fast, TOGETHER_POINTS)

    @property
    def name(self) -> str:
        return self.stored.name

    def decode(self, z: torch.Tensor | np.ndarray, digits: np.ndarray | None = None
               ) -> np.ndarray:
        """Latent points → uint8 digits, by the fastest path this model has; a conditional
        GAN also takes the digit to draw at each point (see `check_digits`)."""
        if self.fast:
            return self.fast(z.numpy() if isinstance(z, torch.Tensor) else z)
        return gen.decode(self.decoder, torch.as_tensor(z),
                          None if digits is None else torch.from_numpy(digits))

    async def decode_soon(self, z: np.ndarray, digits: np.ndarray | None = None) -> np.ndarray:
        """`decode`, on the event loop, where the model has a fast path with the points of the
        other requests of this turn of the loop (DecodeTogether)."""
        if self.together is not None:
            return await self.together(z)
        return self.decode(z, digits)

    @property
    def classes(self) -> int:
        """10 for a class-conditional GAN (each point is drawn as the digit asked), else 0."""
        return self.stored.generative.config.get("classes", 0)

    def check_digits(self, digit: int | list[int] | None, count: int) -> np.ndarray | None:
        return gen.check_digits(digit, count, self.classes, self.name)

    @property
    def kind(self) -> str:
        return self.stored.generative.kind

    @property
    def has_encoder(self) -> bool:
        return self.kind in ENCODERS

    @property
    def latent(self) -> int:
        return self.stored.generative.latent


def load_decoder(stored: StoredModel) -> torch.nn.Module:
    """A stored VAE, autoencoder or GAN generator, built from its card's config, in eval
    mode."""
    decoder = gen.build(stored.generative.config)
    decoder.load_state_dict(load_file(stored.weights))
    return decoder.eval()


ENCODERS = ("vae", "ae")  # the kinds with an encoder: a GAN has none


class GenerativeLab:
    def __init__(self, directory: Path, catalog: Catalog) -> None:
        self.dir, self.catalog = directory, catalog
        self._loaded: dict[str, GenModel] = {}
        self._lock = threading.Lock()
        self._reader: tuple[torch.nn.Module, tuple] | None = None  # the shipped classifier

    def names(self) -> list[str]:
        return sorted(p.parent.name for p in self.dir.glob("*/model.json"))

    def list(self) -> list[GenModel]:
        return [self.get(n) for n in self.names()]

    def get(self, name: str) -> GenModel:
        with self._lock:
            if name in self._loaded:
                return self._loaded[name]
        if name not in self.names():
            raise UnknownModel(name, kind="generative")
        stored = replace(model_store.read(self.dir / name / "model"), name=name, shipped=True)
        decoder = load_decoder(stored)
        fast = (gen.NumpyDecoder(decoder)
                if isinstance(decoder, (gen.VAE, gen.Autoencoder)) else None)
        m = GenModel(stored=stored, decoder=decoder, fast=fast)
        with self._lock:
            return self._loaded.setdefault(name, m)

    def require_encoder(self, m: GenModel, what: str) -> gen.VAE | gen.Autoencoder:
        if not m.has_encoder:
            raise Conflict(f"{m.name} is a GAN: it has no encoder, so it cannot {what}; "
                           "use a VAE or the autoencoder", "model")
        return m.decoder  # type: ignore[return-value]

    def test_points(self, m: GenModel) -> tuple[np.ndarray, np.ndarray]:
        """The latent points (a VAE: means) of the MNIST test digits, and their labels."""
        vae = self.require_encoder(m, "place the test digits in its latent space")
        with m.lock:
            if m.points is None:
                test = self.catalog.load("mnist").test
                x = torch.from_numpy(test.x).float().div_(255)
                m.points, log_var = gen.encode(vae, x)
                m.spreads = None if log_var is None else np.exp(0.5 * log_var)
                m.labels = test.y
            return m.points, m.labels

    def class_means(self, m: GenModel) -> np.ndarray:
        """Each digit's average latent point: for a VAE, the mean of its test digits' codes;
        for a GAN (no encoder), the mean of 4,000 prior samples that the shipped classifier
        reads as that digit with ≥ 90% confidence, as the DCGAN paper averaged its samples."""
        with m.lock:
            if m.class_means is not None:
                return m.class_means
        if m.has_encoder:
            points, labels = self.test_points(m)
        else:
            points, labels = self._labelled_samples(m)
        means = np.stack([points[labels == d].mean(axis=0) if np.any(labels == d)
                          else np.zeros(m.latent) for d in range(10)])
        with m.lock:
            m.class_means = means.astype(np.float32)
        return m.class_means

    def read_digits(self, pictures: np.ndarray) -> np.ndarray:
        """The shipped classifier's probabilities (N, 10) for digits (N, 28, 28) uint8."""
        with self._lock:
            if self._reader is None:
                stored = model_store.read(self.dir.parent / "mnist-cnn")
                self._reader = (stored.load(), stored.classifier.normalization)
            model, norm = self._reader
        with torch.no_grad():
            return torch.softmax(model(to_inputs(pictures[:, None], norm)), dim=1).numpy()

    def _labelled_samples(self, m: GenModel) -> tuple[np.ndarray, np.ndarray]:
        zs, ys = [], []
        for seed in range(16):  # 4,096 samples, 256 at a time
            z = gen.sample_latents(m.latent, 256, seed=seed, limits=LIMITS.generative)
            p = torch.from_numpy(self.read_digits(m.decode(z)))
            conf, label = p.max(dim=1)
            keep = conf >= 0.9
            zs.append(z[keep].numpy())
            ys.append(label[keep].numpy())
        return np.concatenate(zs), np.concatenate(ys)


# ---------------------------------------------------------------- what the lab answers


@dataclass
class ModelInfo:
    name: str
    kind: str
    latent: int
    image_shape: list[int]
    summary: str
    metrics: dict
    has_encoder: bool
    has_map: bool
    classes: int


def describe(m: GenModel) -> ModelInfo:
    card = m.stored.generative
    return ModelInfo(name=m.name, kind=m.kind, latent=m.latent, image_shape=[1, 28, 28],
                     summary=card.summary or "", metrics=card.metrics or {},
                     has_encoder=m.has_encoder, has_map=m.has_encoder and m.latent == 2,
                     classes=m.classes)


def list_models(lab: GenerativeLab) -> list[ModelInfo]:
    """The shipped generative models, by name."""
    return [describe(m) for m in lab.list()]


@dataclass
class Decoded:
    """Decoded digits (N, 28, 28) uint8: `png()` one picture (a grid for several), `pixels()`
    their 0-255 numbers; `max_abs_z` the largest |coordinate| of the points decoded."""

    pictures: np.ndarray
    max_abs_z: float = 0.0

    @property
    def outside_prior(self) -> bool:
        """Some coordinate lies beyond ±prior_bound (4) standard deviations: taken, but the
        models never saw such points in training, so the digit may be noise."""
        return self.max_abs_z > LIMITS.generative.prior_bound

    def png(self) -> bytes:
        p = self.pictures
        return images.encode(p[0] if len(p) == 1 else gen.tile(p, min(len(p), 10)))

    def pixels(self) -> list:
        return self.pictures.tolist()


async def decode(lab: GenerativeLab, model: str, z: object,
                 digit: int | list[int] | None = None) -> Decoded:
    """One latent point or a batch (checked: length, finite, within the sanity bound; a point
    outside the prior is decoded, and `outside_prior` says so); a conditional GAN's `digit`
    too, one for all or one per point."""
    m = lab.get(model)
    # numpy from the JSON to the pixels (no torch tensor between): the slider's path
    points, max_abs_z = gen.latent_array(z, m.latent, limits=LIMITS.generative)
    return Decoded(await m.decode_soon(points, m.check_digits(digit, len(points))), max_abs_z)


LIVE_MESSAGE = '{"z": [numbers]} (a class-conditional model: {"z": [numbers], "digit": 0-9})'


def live_point(text: str | None, m: GenModel) -> tuple[np.ndarray, np.ndarray | None]:
    """One slider message, `{"z": [numbers]}` (and `"digit"` for a conditional GAN) as text
    within the live-message limit, as a (1, latent) point and its digit; anything else is
    refused with what to send instead."""
    max_chars = LIMITS.live_message_bytes
    if text is None:
        raise Invalid(f"send each point as a text message, JSON: {LIVE_MESSAGE}", "z")
    if len(text) > max_chars:
        raise Invalid(f"a message must be under {max_chars:,} characters", "z")
    try:
        message = json.loads(text)
    except ValueError as exc:
        raise Invalid(f"each message must be JSON: {LIVE_MESSAGE}", "z") from exc
    if not isinstance(message, dict) or "z" not in message or not set(message) <= {"z", "digit"}:
        raise Invalid(f"each message must be {LIVE_MESSAGE}, nothing else", "z")
    z, _ = gen.latent_array(message["z"], m.latent, limits=LIMITS.generative)
    if len(z) != 1:
        raise Invalid("one point per message (a decode request takes batches)", "z")
    return z, m.check_digits(message.get("digit"), 1)


async def live_frame(m: GenModel, text: str | None) -> bytes:
    """The PNG for one slider message (see `live_point`): the same picture as `decode`, for
    any finite point within the sanity bound (the frame is the PNG alone: whether the point
    lies outside the prior is in its own numbers, any |z_i| > prior_bound)."""
    return images.encode((await m.decode_soon(*live_point(text, m)))[0])


@dataclass
class Sample:
    latents: list[list[float]]
    png: str  # the grid, a PNG data URL
    clipped: int  # coordinates of the draw clamped to ±prior_bound
    digits: list[int] | None  # a conditional GAN's: the digit asked at each point


def sample(lab: GenerativeLab, model: str, count: int, seed: int,
           digit: int | None = None) -> Sample:
    """`count` points from the prior (seeded), clamped to ±prior_bound (how many coordinates
    were is said), decoded into one grid, 8 a row. A conditional GAN draws `digit` at each,
    or, without one, 0 to 9 in turn."""
    m = lab.get(model)
    if m.kind == "ae":
        raise Conflict(f"{m.name} is a plain autoencoder: it has no prior to draw from, and a "
                       "random point of its plane may decode to no digit (the holes, "
                       "…/holes); decode points of its latent map instead", "model")
    asked: int | list[int] | None = digit
    if m.classes and digit is None:
        asked = [i % m.classes for i in range(count)]  # every digit in turn
    digits = m.check_digits(asked, count)
    z, clipped = gen.clip_to_prior(gen.draw_prior(m.latent, count, seed),
                                   limits=LIMITS.generative)
    return Sample(latents=z.tolist(), clipped=clipped,
                  png=png_data_url(gen.tile(m.decode(z, digits), min(count, 8))),
                  digits=None if digits is None else digits.tolist())


@dataclass
class Interpolation:
    latents: list[list[float]]
    png: str  # the strip, a PNG data URL
    frames: list[str]
    max_abs_z: float  # the largest |coordinate| of the frames' points

    @property
    def outside_prior(self) -> bool:
        return self.max_abs_z > LIMITS.generative.prior_bound


def interpolate(lab: GenerativeLab, model: str, start: list[float], end: list[float],
                steps: int, method: str, digit: int | None = None) -> Interpolation:
    """`steps` frames from `start` to `end`, both included, linear or slerp (a conditional
    GAN's all drawn as `digit`). Ends outside the prior are taken (and a slerp may swing
    beyond its ends): `outside_prior` says so."""
    m = lab.get(model)
    g = LIMITS.generative
    z = gen.interpolate(gen.check_latents(start, m.latent, "start", limits=g),
                        gen.check_latents(end, m.latent, "end", limits=g), steps, method,
                        limits=g)
    pictures = m.decode(z, m.check_digits(digit, len(z)))
    return Interpolation(latents=z.tolist(), png=png_data_url(gen.tile(pictures, len(pictures))),
                         frames=[png_data_url(p) for p in pictures], max_abs_z=gen.farthest(z))


@dataclass
class Encoding:
    mean: list[float]  # the point (a VAE: its Gaussian's mean)
    log_var: list[float] | None  # None for an autoencoder: a point, no spread
    std: list[float]  # zeros for an autoencoder
    input_png: str
    reconstruction_png: str
    clipped: int  # coordinates of the mean clamped to ±prior_bound for the reconstruction


def encode(lab: GenerativeLab, inspector: Inspector, model: str, source: dict) -> Encoding:
    """A digit (see `Inspector.prepare` for `source`; examples are MNIST's test set) → its
    latent Gaussian (a VAE) or point (the autoencoder, which has no prior to clamp to), and
    the reconstruction decoded from its centre."""
    m = lab.get(model)
    encoder = lab.require_encoder(m, "encode a digit")
    # the inspector makes inputs the way it does for classifiers
    x = inspector.prepare((1, 28, 28), lambda: lab.catalog.load("mnist").test, **source)[0]
    mean, log_var = gen.encode(encoder, torch.from_numpy(x).float()[None, None] / 255)
    centre, clipped = torch.from_numpy(mean), 0
    if log_var is not None:
        centre, clipped = gen.clip_to_prior(centre, limits=LIMITS.generative)
    recon = m.decode(centre)
    return Encoding(mean=mean[0].tolist(),
                    log_var=None if log_var is None else log_var[0].tolist(),
                    std=np.zeros(m.latent).tolist() if log_var is None
                    else np.exp(0.5 * log_var[0]).tolist(), input_png=png_data_url(x),
                    reconstruction_png=png_data_url(recon[0]), clipped=clipped)


def plane(lab: GenerativeLab, model: str, what: str) -> GenModel:
    """The model, if its latent space is a plane (Conflict otherwise, saying `what` needs one)."""
    m = lab.get(model)
    if m.latent != 2:
        raise Conflict(f"{m.name} has {m.latent} latent dimensions; {what} a 2-D latent "
                       "space (vae-2d, ae-2d)", "model")
    return m


def manifold(lab: GenerativeLab, model: str, size: int, extent: float) -> bytes:
    """A PNG of the 2-D latent plane: size × size decoded digits over [−extent, extent]²."""
    m = plane(lab, model, "the manifold is drawn for")
    z = gen.manifold_latents(size, extent, limits=LIMITS.generative)
    return images.encode(gen.tile(m.decode(z), size, gap=0))


@dataclass
class Holes:
    size: int
    extent: float
    threshold: float
    share: float  # of the grid's points that decode to no digit
    confidence: list[list[float]]  # rows from the top (z₂ high), as the manifold's picture
    digits: list[list[int]]


def holes(lab: GenerativeLab, model: str, size: int, extent: float) -> Holes:
    """Where a 2-D model's plane decodes to no digit: a size × size grid over
    [−extent, extent]², each point decoded and read by the shipped classifier, a hole where
    its confidence is under 0.5."""
    m = plane(lab, model, "the holes are measured on")
    found = gen.holes(m.decode, lab.read_digits, size, extent, limits=LIMITS.generative)
    return Holes(size=size, extent=extent, threshold=gen.HOLE_CONFIDENCE, share=found.share,
                 confidence=found.confidence.round(4).tolist(), digits=found.digits.tolist())


@dataclass
class LatentMap:
    points: list[list[float | int]]  # [z₁, z₂, digit] each
    std: list[list[float]] | None  # a VAE's: [σ₁, σ₂] of each point's Gaussian


def latent_map(lab: GenerativeLab, model: str, count: int) -> LatentMap:
    """About `count` of the MNIST test digits (every n-th) placed in a 2-D model's latent
    plane: a VAE's Gaussians (mean and spread), an autoencoder's points. The first call for a
    model encodes the whole test set: call it off the event loop."""
    m = plane(lab, model, "the latent map is drawn for")
    points, labels = lab.test_points(m)
    step = max(1, len(points) // count)
    spreads = None if m.spreads is None else m.spreads[::step].round(4).tolist()
    return LatentMap(points=[[round(float(p[0]), 4), round(float(p[1]), 4), int(y)]
                             for p, y in zip(points[::step], labels[::step], strict=True)],
                     std=spreads)


@dataclass
class Term:
    digit: str
    sign: str  # "+" or "−"
    png: str


@dataclass
class Arithmetic:
    z: list[float]
    png: str
    terms: list[Term]
    clipped: int  # coordinates of the sum that lay beyond ±prior_bound, clamped to it


def arithmetic(lab: GenerativeLab, model: str, plus: list[str], minus: list[str]
               ) -> Arithmetic:
    """Σ mean(plus digits) − Σ mean(minus digits), clipped to the prior's bound (how many
    coordinates were is said, never refused), decoded; with each term's average point decoded."""
    m = lab.get(model)
    if not plus:
        raise Invalid("name at least one digit to add", "plus")
    if m.classes:
        raise Conflict(f"{m.name} is told which digit to draw: its latent points hold only the "
                       "style (thickness, slant), so there is no digit's average point to add; "
                       "ask it for the digit instead (digit)", "model")
    means = lab.class_means(m)
    z = sum(means[CLASSES.index(d)] for d in plus) - sum(
        (means[CLASSES.index(d)] for d in minus), np.zeros(m.latent))
    # a VAE's sum is clamped to its prior's bound; the autoencoder has no prior
    bound = LIMITS.generative.prior_bound if m.kind != "ae" else np.inf
    clipped = int(np.sum(np.abs(z) > bound))
    z = np.clip(z, -bound, bound)
    digits = plus + minus
    terms = m.decode(torch.from_numpy(np.stack(
        [means[CLASSES.index(d)] for d in digits]).astype(np.float32)))
    result = m.decode(torch.from_numpy(z[None].astype(np.float32)))
    return Arithmetic(z=z.tolist(), png=png_data_url(result[0]), clipped=clipped, terms=[
        Term(digit=d, sign="+" if i < len(plus) else "−", png=png_data_url(t))
        for i, (d, t) in enumerate(zip(digits, terms, strict=True))])


async def start_watch_run(task: str, latent: int, epochs: int, dataset: str, seed: int,
                          jobs: JobBackend, catalog: Catalog, actor: Actor = LOCAL
                          ) -> RunRecord:
    """A short VAE or GAN training run on a gray 28×28 dataset, through the CNN lab's job
    runner. The dataset loads on a worker thread; the backend is called on the event loop it
    belongs to."""
    shape, _ = await asyncio.to_thread(training.input_of, catalog, dataset)
    if shape != (1, 28, 28):
        raise Conflict(f"{dataset} holds {'×'.join(map(str, shape))} images; the generative "
                       "models take 1×28×28 (gray 28×28)", "dataset")
    config = gen.GenerativeTrainConfig(task=task, latent=latent, epochs=epochs, seed=seed)
    return jobs.submit(dataset, config, owner=actor.owner)
