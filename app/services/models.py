"""Trained weights on disk: `name.safetensors` beside `name.json` (architecture, classes, input
normalisation, metrics, dataset, date), the config travelling with the weights.

Writes are atomic (a temporary file, then os.replace) and the JSON is written last, so a model is
listed only once both files are whole. Weights are read only with safetensors.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from app.core import nets
from app.services.errors import Conflict, Invalid, NotFound

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class UnknownModel(NotFound):
    """No model of that name; `kind` says which list to look in."""

    def __init__(self, name: str, kind: str = "saved") -> None:
        super().__init__(f"no {kind} model named {name!r}", "name",
                         listing="generative-models" if kind == "generative" else "models")
        self.name = name


class ShippedModel(Conflict):
    """A model that came with the app: it can be used, not deleted."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name!r} ships with the playground and cannot be deleted; only "
                         "models you saved can", "name")


@dataclass(frozen=True)
class StoredModel:
    name: str
    meta: dict
    weights: Path
    shipped: bool = False  # trained by us, in models/: read-only

    def load(self) -> torch.nn.Sequential:
        """The network with its weights, in eval mode."""
        model = nets.build(self.meta["layers"], tuple(self.meta["input_shape"]),
                           len(self.meta["classes"]))
        model.load_state_dict(load_file(self.weights))
        return model.eval()


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")


def write_weights(stem: Path, state_dict: dict[str, torch.Tensor], meta: dict) -> None:
    """Writes stem.safetensors then stem.json, each atomically."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    weights = stem.with_suffix(".safetensors")
    tmp = _tmp(weights)
    save_file({k: v.detach().contiguous() for k, v in state_dict.items()}, str(tmp))
    os.chmod(tmp, 0o644)  # readable by the app's own user wherever the file is copied
    os.replace(tmp, weights)
    write_meta(stem, meta)


def write_meta(stem: Path, meta: dict) -> None:
    """Writes stem.json alone, atomically: new figures for weights that stay as they are."""
    card = stem.with_suffix(".json")
    tmp = _tmp(card)
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, card)


def read(stem: Path, shipped: bool = False) -> StoredModel:
    card, weights = stem.with_suffix(".json"), stem.with_suffix(".safetensors")
    if not (card.exists() and weights.exists()):
        raise UnknownModel(stem.name)
    return StoredModel(name=stem.name, meta=json.loads(card.read_text()), weights=weights,
                       shipped=shipped)


def _read_all(directory: Path, shipped: bool) -> list[StoredModel]:
    out = []
    for card in sorted(directory.glob("*.json")):
        try:
            out.append(read(card.with_suffix(""), shipped))
        except (UnknownModel, ValueError):
            continue  # a card without weights (or unreadable) is not a model
    return out


class ModelStore:
    """Models by name: the ones shipped in models/ (read-only) and the ones users saved."""

    def __init__(self, directory: Path, max_models: int = 50, shipped_dir: Path | None = None
                 ) -> None:
        self.dir = directory
        self.max_models = max_models
        self.shipped_dir = shipped_dir

    def list(self) -> list[StoredModel]:
        shipped = _read_all(self.shipped_dir, True) if self.shipped_dir else []
        return shipped + _read_all(self.dir, False)

    def _saved(self) -> list[StoredModel]:
        return _read_all(self.dir, False)

    def get(self, name: str) -> StoredModel:
        if not NAME.match(name):
            raise UnknownModel(name)
        if self.shipped_dir and (self.shipped_dir / f"{name}.json").exists():
            return read(self.shipped_dir / name, shipped=True)
        return read(self.dir / name)

    def save_copy(self, name: str, source: StoredModel, extra: dict) -> StoredModel:
        """Keeps a run's weights under a name of the user's choosing."""
        if not NAME.match(name):
            raise Invalid("name must be 1 to 64 letters, digits, '.', '-' or '_', starting "
                             "with a letter or digit", "name")
        taken = (self.dir / f"{name}.json").exists() or bool(
            self.shipped_dir and (self.shipped_dir / f"{name}.json").exists())
        if taken:
            raise Invalid(f"a model named {name!r} exists; delete it or choose another name",
                             "name")
        if len(self._saved()) >= self.max_models:
            raise Invalid(f"{self.max_models} models are saved, the most kept; delete one",
                             "name")
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = _tmp(self.dir / f"{name}.safetensors")
        shutil.copyfile(source.weights, tmp)
        os.replace(tmp, self.dir / f"{name}.safetensors")
        meta = source.meta | extra | {"name": name}
        tmp = _tmp(self.dir / f"{name}.json")
        tmp.write_text(json.dumps(meta, indent=1))
        os.replace(tmp, self.dir / f"{name}.json")
        return self.get(name)

    def delete(self, name: str) -> None:
        model = self.get(name)
        if model.shipped:
            raise ShippedModel(name)
        model.weights.with_suffix(".json").unlink()  # the card first: the model stops existing
        model.weights.unlink(missing_ok=True)
