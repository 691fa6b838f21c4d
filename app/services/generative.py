"""The generative lab's service: the shipped VAE and GAN models (models/generative/<name>/),
loaded once, and what the page needs beside decoding: the test digits' latent points (the 2-D
map) and each digit class's average latent point (latent arithmetic)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from app.core import generative as gen
from app.core.training import to_inputs
from app.services import models as model_store
from app.services.datasets import Catalog
from app.services.errors import Invalid
from app.services.models import StoredModel, UnknownModel

CLASSES = [str(d) for d in range(10)]


@dataclass
class GenModel:
    stored: StoredModel
    decoder: torch.nn.Module
    fast: gen.NumpyDecoder | None = None  # the VAEs' slider path
    lock: threading.Lock = field(default_factory=threading.Lock)
    points: np.ndarray | None = None  # test digits' latent means (N, latent), VAE
    labels: np.ndarray | None = None
    class_means: np.ndarray | None = None  # (10, latent)

    @property
    def name(self) -> str:
        return self.stored.name

    def decode(self, z: torch.Tensor) -> np.ndarray:
        """Latent points → uint8 digits, by the fastest path this model has."""
        return self.fast(z.numpy()) if self.fast else gen.decode(self.decoder, z)

    @property
    def kind(self) -> str:
        return self.stored.meta["kind"]

    @property
    def latent(self) -> int:
        return int(self.stored.meta["config"]["latent"])


def load_decoder(stored: StoredModel) -> torch.nn.Module:
    """A stored VAE or GAN generator, built from its card's config, in eval mode."""
    decoder = gen.build(stored.meta["config"])
    decoder.load_state_dict(load_file(stored.weights))
    return decoder.eval()


class GenerativeLab:
    def __init__(self, directory: Path, catalog: Catalog) -> None:
        self.dir, self.catalog = directory, catalog
        self._loaded: dict[str, GenModel] = {}
        self._lock = threading.Lock()

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
        m = GenModel(stored=stored, decoder=decoder,
                     fast=gen.NumpyDecoder(decoder) if isinstance(decoder, gen.VAE) else None)
        with self._lock:
            return self._loaded.setdefault(name, m)

    def require_vae(self, m: GenModel, what: str) -> gen.VAE:
        if m.kind != "vae":
            raise Invalid(f"{m.name} is a GAN: it has no encoder, so it cannot {what}; "
                             "use a VAE", "model")
        return m.decoder  # type: ignore[return-value]

    def test_points(self, m: GenModel) -> tuple[np.ndarray, np.ndarray]:
        """The latent means of the MNIST test digits, and their labels (VAE only)."""
        vae = self.require_vae(m, "place the test digits in its latent space")
        with m.lock:
            if m.points is None:
                test = self.catalog.load("mnist").test
                x = torch.from_numpy(test.x).float().div_(255)
                m.points, _ = gen.encode(vae, x)
                m.labels = test.y
            return m.points, m.labels

    def class_means(self, m: GenModel) -> np.ndarray:
        """Each digit's average latent point: for a VAE, the mean of its test digits' codes;
        for a GAN (no encoder), the mean of 4,000 prior samples that the shipped classifier
        reads as that digit with ≥ 90% confidence, as the DCGAN paper averaged its samples."""
        with m.lock:
            if m.class_means is not None:
                return m.class_means
        if m.kind == "vae":
            points, labels = self.test_points(m)
        else:
            points, labels = self._labelled_samples(m)
        means = np.stack([points[labels == d].mean(axis=0) if np.any(labels == d)
                          else np.zeros(m.latent) for d in range(10)])
        with m.lock:
            m.class_means = means.astype(np.float32)
        return m.class_means

    def _labelled_samples(self, m: GenModel) -> tuple[np.ndarray, np.ndarray]:
        classifier = model_store.read(self.dir.parent / "mnist-cnn")
        model = classifier.load()
        norm = tuple(classifier.meta["normalization"])
        zs, ys = [], []
        for seed in range(16):  # 4,096 samples, 256 at a time
            z = gen.sample_latents(m.latent, 256, seed=seed)
            with torch.no_grad():
                p = torch.softmax(model(to_inputs(m.decode(z)[:, None], norm)), dim=1)
            conf, label = p.max(dim=1)
            keep = conf >= 0.9
            zs.append(z[keep].numpy())
            ys.append(label[keep].numpy())
        return np.concatenate(zs), np.concatenate(ys)
