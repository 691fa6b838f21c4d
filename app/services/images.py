"""Bounded stores: uploaded images (by content hash) and rendered results.

Both are least-recently-used caches in memory, bounded by item count and bytes, safe to share
between the threads FastAPI runs sync endpoints on, and backed by files in one directory: an id
made by one web worker works on every other (`uvicorn --workers N`, several containers on one
volume), and after a restart. Built-in samples are pinned and never evicted: the real photos
the setup fetched (app.core.photos), when they are there, then the ones drawn by code.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from app.core import images, kernels
from app.core.photos import present_photos
from app.core.samples import SAMPLES
from app.services.errors import Invalid, NotFound

log = logging.getLogger(__name__)


@dataclass
class StoredImage:
    id: str
    format: str
    full: np.ndarray  # (H, W, 3) uint8, as uploaded (orientation applied)
    preview: np.ndarray  # long side ≤ preview_side
    title: str = ""
    credit: str = ""  # a photo's author and licence
    _planes: dict[tuple[str, str], torch.Tensor] = field(default_factory=dict, repr=False)
    _strips: dict[str, kernels.Strips] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def width(self) -> int:
        return int(self.full.shape[1])

    @property
    def height(self) -> int:
        return int(self.full.shape[0])

    @property
    def nbytes(self) -> int:
        # pixels, float planes (gray and rgb), at most their strips with a 15-wide halo, and
        # the filter bank's reduced gray planes (no larger than the preview's gray planes)
        planes = 4 * 4 * self.preview.size // 3
        ws = -(-self.preview.shape[1] // kernels.STRIPS)
        return (self.full.nbytes + self.preview.nbytes + planes + planes * (ws + 14) // ws
                + planes // 4)

    def pixels(self, size: Literal["preview", "full"]) -> np.ndarray:
        return self.preview if size == "preview" else self.full

    def planes(self, channels: Literal["gray", "rgb"], max_side: int | None = None
               ) -> torch.Tensor:
        """The preview as float planes, or with `max_side` the preview scaled down to fit it
        (the filter bank's maps), prepared once: changing a kernel or a setting re-uses them
        (scaling a 1024 px preview down to 256 px takes ~20 ms)."""
        key = ("preview" if max_side is None else str(max_side), channels)
        with self._lock:
            if key not in self._planes:
                pixels = (self.preview if max_side is None
                          else images.fit_within(self.preview, max_side))
                self._planes[key] = images.to_planes(pixels, channels)
            return self._planes[key]

    def strips(self, channels: Literal["gray", "rgb"], halo: int) -> kernels.Strips | None:
        """The preview planes cut into strips (core.kernels.Strips), made once like the planes
        and remade only when a wider kernel needs a wider halo; None for a narrow image."""
        planes = self.planes(channels)
        with self._lock:
            st = self._strips.get(channels)
            if st is None or st.halo < halo:
                st = kernels.to_strips(planes, halo)
                if st is not None:
                    self._strips[channels] = st
            return st


class UnknownId(NotFound):
    def __init__(self, image_id: str) -> None:
        super().__init__(f"no image or result with id {image_id!r}", "image_id",
                         listing="images")


SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class FileShelf:
    """Files under ids in one directory, the newest `max_files` kept. Written atomically (a
    temporary file renamed), so a reader in another process sees a whole file or none.

    Listing the directory to evict costs ~0.2 ms at 256 files, so it happens once every
    `max_files // 16` new files: between two sweeps, a writer leaves at most that many extra."""

    def __init__(self, directory: Path, max_files: int) -> None:
        self.directory, self.max_files = directory, max_files
        self.sweep_every = max(1, max_files // 16)
        self._since_sweep = 0
        directory.mkdir(parents=True, exist_ok=True)

    def put(self, name: str, data: bytes) -> None:
        path = self.directory / name
        if path.exists():
            path.touch()  # recently used: evicted last
            return
        tmp = path.with_name(f".{name}.{secrets.token_hex(4)}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        self._since_sweep += 1
        if self._since_sweep >= self.sweep_every:
            self._since_sweep = 0
            self._evict()

    def get(self, name: str) -> bytes | None:
        try:
            return (self.directory / name).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            return None

    def remove(self, name: str) -> None:
        (self.directory / name).unlink(missing_ok=True)

    def find(self, stem: str) -> Path | None:
        return next(iter(self.directory.glob(f"{stem}.*")), None)

    def _evict(self) -> None:
        files = [p for p in self.directory.iterdir() if not p.name.startswith(".")]
        if len(files) <= self.max_files:
            return
        files.sort(key=lambda p: p.stat().st_mtime)
        for old in files[:len(files) - self.max_files]:
            old.unlink(missing_ok=True)


class ImageStore:
    def __init__(self, *, max_items: int, max_bytes: int, preview_side: int, directory: Path,
                 max_files: int, max_pixels: int, max_side: int,
                 photos_dir: Path | None = None, per_owner: int = 0) -> None:
        self._photos_dir = photos_dir
        # shared mode: the uploads of each owner, oldest first; beyond `per_owner`, an owner's
        # own oldest go, so no one visitor can push the class's images out of the store
        self._per_owner = per_owner
        self._by_owner: dict[str, OrderedDict[str, None]] = {}
        self._max_items, self._max_bytes, self._preview_side = max_items, max_bytes, preview_side
        self._max_pixels, self._max_side = max_pixels, max_side
        self._samples: dict[str, StoredImage] = {}
        self._uploads: OrderedDict[str, StoredImage] = OrderedDict()
        self._lock = threading.Lock()
        self._files = FileShelf(directory, max_files)

    def add_samples(self) -> None:
        """The photos found in photos_dir (a missing or unreadable one is left out: the setup
        may not have run), then the drawn samples."""
        for photo, path in present_photos(self._photos_dir):
            try:
                px = images.decode_image(path.read_bytes(), max_pixels=self._max_pixels,
                                         max_side=self._max_side).pixels
            except (OSError, images.ImageError) as exc:
                log.warning("sample photo %s left out: %s", path.name, exc)
                continue
            self._pin(f"sample-{photo.key}", px, photo.title, photo.credit)
        for s in SAMPLES:
            self._pin(f"sample-{s.key}", s.draw(), s.title)

    def _pin(self, image_id: str, px: np.ndarray, title: str, credit: str = "") -> None:
        self._samples[image_id] = StoredImage(
            id=image_id, format="PNG", full=px, preview=images.fit_within(px, self._preview_side),
            title=title, credit=credit)

    @property
    def samples(self) -> list[StoredImage]:
        return list(self._samples.values())

    def decode(self, data: bytes) -> images.DecodedImage:
        """An uploaded file's pixels, within the store's pixel limits (not stored)."""
        if not data:
            raise Invalid("the uploaded file is empty", "file", code="empty_file")
        return images.decode_image(data, max_pixels=self._max_pixels, max_side=self._max_side)

    def upload(self, data: bytes, owner: str | None = None) -> StoredImage:
        """An uploaded file decoded and stored; the API and the kernel-lab page both call this."""
        return self.add(data, self.decode(data), owner)

    def add(self, data: bytes, decoded: images.DecodedImage, owner: str | None = None
            ) -> StoredImage:
        """Stores a decoded upload under the hash of its bytes; the same file gets the same id."""
        image_id = hashlib.sha256(data).hexdigest()[:24]
        if owner is not None and self._per_owner:
            self._count_for(owner, image_id)
        with self._lock:
            if image_id in self._uploads:
                self._uploads.move_to_end(image_id)
                return self._uploads[image_id]
        self._files.put(image_id, data)
        return self._remember(image_id, decoded)

    def _count_for(self, owner: str, image_id: str) -> None:
        """Notes an owner's upload; drops that owner's oldest beyond their share."""
        with self._lock:
            mine = self._by_owner.setdefault(owner, OrderedDict())
            mine[image_id] = None
            mine.move_to_end(image_id)
            dropped = []
            while len(mine) > self._per_owner:
                old, _ = mine.popitem(last=False)
                self._uploads.pop(old, None)
                dropped.append(old)
        for old in dropped:
            self._files.remove(old)

    def _remember(self, image_id: str, decoded: images.DecodedImage) -> StoredImage:
        img = StoredImage(id=image_id, format=decoded.format, full=decoded.pixels,
                          preview=images.fit_within(decoded.pixels, self._preview_side))
        with self._lock:
            self._uploads[image_id] = img
            while len(self._uploads) > 1 and (
                len(self._uploads) > self._max_items
                or sum(i.nbytes for i in self._uploads.values()) > self._max_bytes
            ):
                self._uploads.popitem(last=False)
        return img

    def get(self, image_id: str) -> StoredImage:
        with self._lock:
            if image_id in self._samples:
                return self._samples[image_id]
            if image_id in self._uploads:
                self._uploads.move_to_end(image_id)
                return self._uploads[image_id]
        # uploaded through another worker, or before a restart
        data = self._files.get(image_id) if SAFE_ID.fullmatch(image_id) else None
        if data is None:
            raise UnknownId(image_id)
        decoded = images.decode_image(data, max_pixels=self._max_pixels, max_side=self._max_side)
        return self._remember(image_id, decoded)


@dataclass(frozen=True)
class StoredResult:
    data: bytes
    media_type: str


class ResultStore:
    """Rendered images (already encoded), each under a random id, so a page or a notebook can
    fetch the picture from its own URL after a JSON answer."""

    def __init__(self, *, max_items: int, max_bytes: int, directory: Path,
                 max_files: int) -> None:
        self._max_items, self._max_bytes = max_items, max_bytes
        self._items: OrderedDict[str, StoredResult] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._files = FileShelf(directory, max_files)

    def put(self, data: bytes, media_type: str) -> str:
        result_id = secrets.token_urlsafe(12)
        self._files.put(f"{result_id}.{media_type.removeprefix('image/')}", data)
        with self._lock:
            self._items[result_id] = StoredResult(data, media_type)
            self._bytes += len(data)
            while len(self._items) > 1 and (
                len(self._items) > self._max_items or self._bytes > self._max_bytes
            ):
                _, old = self._items.popitem(last=False)
                self._bytes -= len(old.data)
        return result_id

    def get(self, result_id: str) -> StoredResult:
        with self._lock:
            if result_id in self._items:
                return self._items[result_id]
        # rendered by another worker
        path = self._files.find(result_id) if SAFE_ID.fullmatch(result_id) else None
        data = self._files.get(path.name) if path else None
        if data is None:
            raise UnknownId(result_id)
        return StoredResult(data, f"image/{path.suffix[1:]}")
