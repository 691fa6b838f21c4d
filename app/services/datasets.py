"""The datasets a run can train on, by name: MNIST (once set up), the procedural shapes, IDX
directories named in the settings, and zips of class folders uploaded by users (kept on disk).

Plain Python (no web imports): the training process opens the same catalog to load its data.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.core import datasets
from app.core.datasets import Dataset, DatasetMissing, Split, write_atomically
from app.services.errors import Conflict, Invalid, NotFound
from app.services.owners import LOCAL, Actor, UploadCaps, check_room, require_owner
from app.settings import LIMITS

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
BUILTIN = {"mnist": "MNIST handwritten digits", "shapes": "Shapes (drawn by code)"}


class UnknownDataset(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"no dataset named {name!r}", "dataset", listing="datasets")


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    kind: str  # "builtin", "idx" or "upload"
    available: bool
    message: str = ""  # why it is not available, and how to make it so
    classes: tuple[str, ...] = ()
    shape: tuple[int, ...] = ()
    counts: dict | None = None


@dataclass(frozen=True)
class CatalogConfig:
    """What a process needs to open the catalog (picklable, for the training process)."""

    data_dir: Path
    idx_dirs: tuple[Path, ...] = ()
    max_datasets: int = 20

    @property
    def mnist_cache(self) -> Path:
        return self.data_dir / "mnist.npz"

    @property
    def uploads(self) -> Path:
        return self.data_dir / "datasets"


def _info(ds: Dataset, kind: str) -> DatasetInfo:
    return DatasetInfo(name=ds.name, title=ds.title, kind=kind, available=True,
                       classes=ds.classes, shape=ds.shape, counts=ds.counts())


class Catalog:
    def __init__(self, config: CatalogConfig, cache_items: int = 3) -> None:
        self.config = config
        self._cache: OrderedDict[str, Dataset] = OrderedDict()
        self._cache_items = cache_items
        self._infos: dict[tuple[str, float | None], DatasetInfo] = {}
        self._fingerprints: dict[tuple[str, float | None], str] = {}
        self._lock = threading.Lock()

    def _idx_dirs(self) -> dict[str, Path]:
        return {p.name.lower(): p for p in self.config.idx_dirs if p.is_dir()}

    def names(self) -> list[str]:
        uploads = sorted(p.stem for p in self.config.uploads.glob("*.npz"))
        return ["mnist", "shapes", *sorted(self._idx_dirs()), *uploads]

    def list(self) -> list[DatasetInfo]:
        return [self.info(name) for name in self.names()]

    def info(self, name: str) -> DatasetInfo:
        """Classes, shape and counts of a dataset, remembered while its file is unchanged, so a
        page that lists the datasets does not load every one of them each time."""
        key = (name, self._stamp(name))
        with self._lock:
            if key in self._infos:
                return self._infos[key]
        try:
            info = _info(self.load(name), self._kind(name))
        except DatasetMissing as exc:
            info = DatasetInfo(name=name, title=BUILTIN.get(name, name), kind=self._kind(name),
                               available=False, message=exc.message)
        with self._lock:
            self._infos = {k: v for k, v in self._infos.items() if k[0] != name}
            self._infos[key] = info
        return info

    def fingerprint(self, name: str) -> str:
        """The dataset's content hash (`Dataset.fingerprint`), remembered while its file is
        unchanged."""
        key = (name, self._stamp(name))
        with self._lock:
            if key in self._fingerprints:
                return self._fingerprints[key]
        digest = self.load(name).fingerprint()
        with self._lock:
            self._fingerprints = {k: v for k, v in self._fingerprints.items() if k[0] != name}
            self._fingerprints[key] = digest
        return digest

    def _stamp(self, name: str) -> float | None:
        """When the dataset's file last changed (None: generated, or not there)."""
        path = {"mnist": self.config.mnist_cache}.get(name, self.config.uploads / f"{name}.npz")
        if name in self._idx_dirs():
            path = self._idx_dirs()[name]
        return path.stat().st_mtime if path.exists() else None

    def _kind(self, name: str) -> str:
        if name in BUILTIN:
            return "builtin"
        return "idx" if name in self._idx_dirs() else "upload"

    def load(self, name: str) -> Dataset:
        """The dataset by name (kept in memory for the next call); UnknownDataset if none."""
        with self._lock:
            if name in self._cache:
                self._cache.move_to_end(name)
                return self._cache[name]
        ds = self._read(name)
        with self._lock:
            self._cache[name] = ds
            while len(self._cache) > self._cache_items:
                self._cache.popitem(last=False)
        return ds

    def _read(self, name: str) -> Dataset:
        if name == "mnist":
            return datasets.load_mnist(self.config.mnist_cache)
        if name == "shapes":
            return datasets.shapes(seed=0)
        idx = self._idx_dirs()
        if name in idx:
            return datasets.load_idx_dir(idx[name], name=name, max_bytes=LIMITS.idx_bytes)
        path = self.config.uploads / f"{name}.npz"
        if NAME.match(name) and path.exists():
            return _load_npz(path, name)
        raise UnknownDataset(name)

    def add_upload(self, name: str, data: bytes, *, max_unpacked_bytes: int, max_files: int,
                   max_image_pixels: int, max_image_side: int, size: int = 28,
                   channels: str = "gray", actor: Actor = LOCAL,
                   caps: UploadCaps | None = None) -> DatasetInfo:
        """Unpacks a zip of class folders (safely, in core) and keeps it as `name` (replacing
        an upload of that name: its owner's to do, in shared mode)."""
        if not NAME.match(name):
            raise Invalid("name must be 1 to 40 lowercase letters, digits, '-' or '_', "
                             "starting with a letter or digit", "name")
        if name in BUILTIN or name in self._idx_dirs():
            raise Conflict(f"{name!r} is a built-in dataset; choose another name", "name")
        if (self.config.uploads / f"{name}.npz").exists():
            require_owner(actor, self.owner(name), f"dataset {name!r}", "train on it", "name")
        else:
            check_room(actor, self._owned(actor.owner), len(data), caps, "uploaded datasets")
        existing = list(self.config.uploads.glob("*.npz"))
        if len(existing) >= self.config.max_datasets and not (
                self.config.uploads / f"{name}.npz").exists():
            raise Invalid(f"there are already {len(existing)} uploaded datasets, the most "
                             "kept; delete one first", "name")
        ds = datasets.from_zip(data, name=name, max_unpacked_bytes=max_unpacked_bytes,
                               max_files=max_files, max_image_pixels=max_image_pixels,
                               max_image_side=max_image_side, size=size, channels=channels)
        self.config.uploads.mkdir(parents=True, exist_ok=True)
        _save_npz(self.config.uploads / f"{name}.npz", ds)
        tag = self.config.uploads / f"{name}.owner"
        if actor.shared:  # who uploaded it, beside it
            write_atomically(tag, actor.owner.encode())  # type: ignore[union-attr]
        with self._lock:
            self._cache.pop(name, None)
        return _info(ds, "upload")

    def owner(self, name: str) -> str | None:
        """Who uploaded it, in shared mode (None: built in, or uploaded off shared mode)."""
        try:
            return (self.config.uploads / f"{name}.owner").read_text() or None
        except (FileNotFoundError, ValueError):
            return None

    def _owned(self, owner: str | None) -> list[int]:
        """The sizes of the uploads this owner keeps."""
        if owner is None or not self.config.uploads.is_dir():
            return []
        return [p.stat().st_size for p in self.config.uploads.glob("*.npz")
                if self.owner(p.stem) == owner]

    def delete(self, name: str, actor: Actor = LOCAL) -> None:
        path = self.config.uploads / f"{name}.npz"
        if not NAME.match(name) or not path.exists():
            raise UnknownDataset(name)
        require_owner(actor, self.owner(name), f"dataset {name!r}", "train on it", "name")
        path.unlink()
        (self.config.uploads / f"{name}.owner").unlink(missing_ok=True)
        with self._lock:
            self._cache.pop(name, None)


def _save_npz(path: Path, ds: Dataset) -> None:
    """Atomically: a reader sees the old file or the whole new one, never half of it."""
    tmp = path.with_suffix(f".{os.getpid()}.{time.monotonic_ns()}.tmp")
    meta = {"title": ds.title, "classes": list(ds.classes), "source": ds.source}
    with open(tmp, "wb") as f:
        np.savez(f, x_train=ds.train.x, y_train=ds.train.y, x_val=ds.val.x, y_val=ds.val.y,
                 meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    os.replace(tmp, path)


def _load_npz(path: Path, name: str) -> Dataset:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(bytes(z["meta"]).decode())
        return Dataset(name=name, title=meta["title"], classes=tuple(meta["classes"]),
                       train=Split(z["x_train"], z["y_train"]), val=Split(z["x_val"], z["y_val"]),
                       test=None, source=meta["source"])
