"""Trained weights on disk: `name.safetensors` beside `name.json`, the model's card (architecture,
classes, input normalisation, metrics, dataset, date…), the config travelling with the weights.

A card is one frozen dataclass per kind of model: `ClassifierCard` (the networks trained on the
training page and the shipped `mnist-cnn`) and `GenerativeCard` (the generative lab's VAEs and
GAN); a card's `kind` says which (absent: a classifier). `from_json` accepts every card written so
far; keys it does not know are kept in `extra` and written back, so reading and writing a card
never loses a figure.

Writes are atomic (a temporary file, then os.replace) and the JSON is written last, so a model is
listed only once both files are whole. Weights are read only with safetensors.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors.torch import load_file, save_file

from app.core import nets
from app.services.errors import Conflict, Invalid, NotFound
from app.settings import LIMITS

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class UnknownModel(NotFound):
    """No model of that name; `kind` says which list to look in."""

    def __init__(self, name: str, kind: str = "saved", why: str = "") -> None:
        listing = {"generative": "generative-models", "sequence": "sequence-models",
                   "generating": "sequence-models", "classifying": "sequence-models"}
        super().__init__(f"no {kind} model named {name!r}{f' ({why})' if why else ''}",
                         "name", listing=listing.get(kind, "models"))
        self.name = name


class ShippedModel(Conflict):
    """A model that came with the app: it can be used, not deleted."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name!r} ships with the playground and cannot be deleted; only "
                         "models you saved can", "name")


# ---------------------------------------------------------------- cards

# A card's fields that hold JSON arrays but are tuples here: written back as lists.
_TUPLES = frozenset({"input_shape", "classes", "normalization", "image_shape"})


def _from_json(cls: type, data: dict, required: tuple[str, ...]) -> dict[str, Any]:
    """The keyword arguments of card class `cls` from a card's JSON: its known keys (arrays as
    tuples), the rest in `extra`. A known key set to null stays in `extra` as null, so the
    field reads as absent and the card is written back as it was."""
    if not isinstance(data, dict):
        raise ValueError(f"a model card is a JSON object, not {type(data).__name__}")
    missing = [k for k in required if data.get(k) is None]
    if missing:
        raise ValueError(f"the model card has no {', '.join(missing)}")
    names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
    kwargs: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names or value is None:
            extra[key] = value
        elif key in _TUPLES:
            if not isinstance(value, list):
                raise ValueError(f"the model card's {key} must be an array")
            kwargs[key] = tuple(value)
        else:
            kwargs[key] = value
    return kwargs | {"extra": extra}


def _to_json(card: ClassifierCard | GenerativeCard | SequenceCard) -> dict:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(card):
        value = getattr(card, f.name)
        if f.name == "extra" or value is None:
            continue
        out[f.name] = list(value) if f.name in _TUPLES else value
    return out | card.extra


def _check_extra(card: ClassifierCard | GenerativeCard | SequenceCard) -> None:
    names = {f.name for f in dataclasses.fields(card)}
    for key in card.extra:
        if key in names and getattr(card, key) is not None:
            raise ValueError(f"{key!r} is a field of the card: set it, not extra[{key!r}]")


@dataclass(frozen=True, kw_only=True)
class ClassifierCard:
    """A classifier's card: what builds the network again (layers, input shape, classes), how
    its inputs are made (normalization) and its figures. None: the card does not say."""

    name: str | None = None
    layers: list[dict]  # nets layer specs, as `nets.normalize` gives them
    input_shape: tuple[int, int, int]  # (C, H, W)
    classes: tuple[str, ...]
    normalization: tuple[list[float], list[float]] | None = None  # per-channel (means, stds)
    dataset: str | None = None
    run_id: str | None = None  # the training run that made it
    metrics: dict | None = None  # the last epoch's figures (and test figures when measured)
    params: int | None = None
    history: list[dict] | None = None  # one entry of figures per epoch
    trained: str | None = None  # a date, or a UTC time
    config: dict | None = None  # the training settings (optimizer, rate, batch, epochs, seed…)
    command: str | None = None  # the command line that trained it (the shipped model's)
    summary: str | None = None
    extra: dict = field(default_factory=dict)  # keys of the JSON this class does not know

    def __post_init__(self) -> None:
        _check_extra(self)

    @classmethod
    def from_json(cls, data: dict) -> ClassifierCard:
        return cls(**_from_json(cls, data, ("layers", "input_shape", "classes")))

    def to_json(self) -> dict:
        return _to_json(self)


GENERATIVE_KINDS = ("vae", "ae", "gan")


@dataclass(frozen=True, kw_only=True)
class GenerativeCard:
    """A VAE's, a plain autoencoder's or a GAN generator's card: `config` is the model's config
    dataclass as a dict (`app.core.generative.config_dict`; `build` makes the model from it).
    None: not said."""

    kind: Literal["vae", "ae", "gan"]
    name: str | None = None
    config: dict  # VAEConfig, AEConfig or GANConfig as a dict, its "kind" included
    summary: str | None = None
    dataset: str | None = None
    image_shape: tuple[int, int, int] | None = None
    epochs: int | None = None
    batch: int | None = None
    seed: int | None = None
    metrics: dict | None = None  # test figures, sample quality, wall time
    history: list[dict] | None = None  # one entry of figures per epoch
    trained: str | None = None
    command: str | None = None  # the command line that trained it
    averaged: bool | None = None  # GAN: the weights are the generator's moving average
    recipe: str | None = None  # GAN: the loss and optimiser, in words
    params: int | None = None  # parameters of the part that decodes
    extra: dict = field(default_factory=dict)  # keys of the JSON this class does not know

    def __post_init__(self) -> None:
        if self.kind not in GENERATIVE_KINDS:
            raise ValueError(f"a generative model is a vae, an ae or a gan, not {self.kind!r}")
        _check_extra(self)

    @property
    def latent(self) -> int:
        return int(self.config["latent"])

    @classmethod
    def from_json(cls, data: dict) -> GenerativeCard:
        return cls(**_from_json(cls, data, ("kind", "config")))

    def to_json(self) -> dict:
        return _to_json(self)


@dataclass(frozen=True, kw_only=True)
class SequenceCard:
    """A sequence-lab model's card: `config` is its `CharModelConfig` as a dict (`build` makes
    the net from it), `vocab` the characters it reads (generate, classify), `classes` the
    languages (classify), `normalization` a series' (mean, std) (forecast)."""

    kind: Literal["sequence"] = "sequence"
    name: str | None = None
    task: str  # "generate", "classify" or "forecast"
    config: dict
    vocab: str | None = None  # every character the model knows, in its index order
    classes: tuple[str, ...] | None = None
    normalization: tuple[float, float] | None = None
    dataset: str | None = None
    run_id: str | None = None
    metrics: dict | None = None  # val_loss beside the bigram baseline on the same split
    params: int | None = None
    history: list[dict] | None = None
    trained: str | None = None
    train_config: dict | None = None  # the run's settings (optimizer, rate, window, clip…)
    command: str | None = None  # the command line that trained it (a shipped model's)
    summary: str | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_extra(self)

    @classmethod
    def from_json(cls, data: dict) -> SequenceCard:
        return cls(**_from_json(cls, data, ("task", "config")))

    def to_json(self) -> dict:
        return _to_json(self)


Card = ClassifierCard | GenerativeCard | SequenceCard


def card_from_json(data: dict) -> Card:
    """The card for a card's JSON, by its `kind`: "vae" or "gan", "sequence", or none for a
    classifier. ValueError for a card that cannot be one."""
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind is None:
        return ClassifierCard.from_json(data)
    if kind in GENERATIVE_KINDS:
        return GenerativeCard.from_json(data)
    if kind == "sequence":
        return SequenceCard.from_json(data)
    raise ValueError(f"unknown model kind {kind!r}")


# ---------------------------------------------------------------- weights with their card

@dataclass(frozen=True)
class StoredModel:
    name: str
    card: Card
    weights: Path
    shipped: bool = False  # trained by us, in models/: read-only

    @property
    def classifier(self) -> ClassifierCard:
        """The card, which must be a classifier's."""
        if not isinstance(self.card, ClassifierCard):
            raise Invalid(f"{self.name} is a {self.card.kind} model, not an image classifier",
                          "name")
        return self.card

    @property
    def generative(self) -> GenerativeCard:
        """The card, which must be a VAE's or a GAN's."""
        if not isinstance(self.card, GenerativeCard):
            raise Invalid(f"{self.name} is not a generative model", "name")
        return self.card

    @property
    def sequence(self) -> SequenceCard:
        """The card, which must be a sequence model's."""
        if not isinstance(self.card, SequenceCard):
            raise Invalid(f"{self.name} is not a sequence model", "name")
        return self.card

    def load(self) -> torch.nn.Sequential:
        """The classifier with its weights, in eval mode."""
        card = self.classifier
        model = nets.build(card.layers, card.input_shape, len(card.classes), limits=LIMITS.nets)
        model.load_state_dict(load_file(self.weights))
        return model.eval()


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")


def write_weights(stem: Path, state_dict: dict[str, torch.Tensor], card: Card) -> None:
    """Writes stem.safetensors then stem.json, each atomically."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    weights = stem.with_suffix(".safetensors")
    tmp = _tmp(weights)
    save_file({k: v.detach().contiguous() for k, v in state_dict.items()}, str(tmp))
    os.chmod(tmp, 0o644)  # readable by the app's own user wherever the file is copied
    os.replace(tmp, weights)
    write_meta(stem, card)


def write_meta(stem: Path, card: Card) -> None:
    """Writes stem.json alone, atomically: new figures for weights that stay as they are."""
    path = stem.with_suffix(".json")
    tmp = _tmp(path)
    tmp.write_text(json.dumps(card.to_json(), indent=1))
    os.replace(tmp, path)


def owner_of(model: StoredModel) -> str | None:
    """Who saved it, in shared mode (kept in the card's extra keys); None: shipped, or saved
    off shared mode."""
    owner = model.card.extra.get("owner")
    return owner if isinstance(owner, str) else None


def read(stem: Path, shipped: bool = False) -> StoredModel:
    """The model at stem; UnknownModel without both files, ValueError for an unreadable card."""
    path, weights = stem.with_suffix(".json"), stem.with_suffix(".safetensors")
    if not (path.exists() and weights.exists()):
        raise UnknownModel(stem.name)
    return StoredModel(name=stem.name, card=card_from_json(json.loads(path.read_text())),
                       weights=weights, shipped=shipped)


def read_all(directory: Path, shipped: bool, kind: type = ClassifierCard
              ) -> list[StoredModel]:
    """The models in a directory whose cards are of `kind` (the store lists classifiers)."""
    out = []
    for path in sorted(directory.glob("*.json")):
        try:
            model = read(path.with_suffix(""), shipped)
        except (UnknownModel, ValueError):
            continue  # a card without weights (or unreadable) is not a model
        if isinstance(model.card, kind):
            out.append(model)
    return out


class ModelStore:
    """Models by name: the ones shipped in models/ (read-only) and the ones users saved."""

    def __init__(self, directory: Path, max_models: int = 50, shipped_dir: Path | None = None
                 ) -> None:
        self.dir = directory
        self.max_models = max_models
        self.shipped_dir = shipped_dir

    def list(self) -> list[StoredModel]:
        shipped = read_all(self.shipped_dir, True) if self.shipped_dir else []
        return shipped + read_all(self.dir, False)

    def _saved(self) -> list[StoredModel]:
        return read_all(self.dir, False)

    def get(self, name: str) -> StoredModel:
        if not NAME.match(name):
            raise UnknownModel(name)
        if self.shipped_dir and (self.shipped_dir / f"{name}.json").exists():
            return read(self.shipped_dir / name, shipped=True)
        return read(self.dir / name)

    def save_copy(self, name: str, source: StoredModel, extra: dict) -> StoredModel:
        """Keeps a run's weights under a name of the user's choosing, its card with `extra`'s
        keys added."""
        if not NAME.match(name):
            raise Invalid("name must be 1 to 64 letters, digits, '.', '-' or '_', starting "
                             "with a letter or digit", "name")
        taken = (self.dir / f"{name}.json").exists() or bool(
            self.shipped_dir and (self.shipped_dir / f"{name}.json").exists())
        if taken:
            raise Conflict(f"a model named {name!r} exists; delete it or choose another name",
                           "name")
        if len(self._saved()) >= self.max_models:
            raise Conflict(f"{self.max_models} models are saved, the most kept; delete one",
                           "name")
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = _tmp(self.dir / f"{name}.safetensors")
        shutil.copyfile(source.weights, tmp)
        os.replace(tmp, self.dir / f"{name}.safetensors")
        write_meta(self.dir / name, card_from_json(source.card.to_json() | extra | {"name": name}))
        return self.get(name)

    def delete(self, name: str) -> None:
        model = self.get(name)
        if model.shipped:
            raise ShippedModel(name)
        model.weights.with_suffix(".json").unlink()  # the card first: the model stops existing
        model.weights.unlink(missing_ok=True)
