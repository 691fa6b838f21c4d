"""The kernel lab's photos: taken from a fake scikit-image wheel built here (each PNG's hash
checked, a changed byte refused naming the file, nothing written then), the setup script's
"ready", its clear failure without pip, and the real files when `make setup` fetched them."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import io
import os
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.core.datasets import DatasetMissing, HashMismatch
from app.core.images import decode_image
from app.core.photos import PHOTOS, check_photos, extract_photos, present_photos
from app.services import wheels

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "data" / "photos"
SIZES = {"astronaut.png": (512, 512), "chelsea.png": (300, 451), "coffee.png": (400, 600)}


def png_bytes(seed: int, shape: tuple[int, int] = (6, 9)) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


FAKE_PNGS = {p.member: png_bytes(i) for i, p in enumerate(PHOTOS)}
# PHOTOS with the fake files' hashes: the same members, names and titles
FAKE = tuple(dataclasses.replace(p, sha256=hashlib.sha256(FAKE_PNGS[p.member]).hexdigest())
             for p in PHOTOS)


def make_wheel(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("skimage/__init__.py", "raise SystemExit('never imported')\n")
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_extract_checks_every_file_and_writes_them(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "scikit_image-0.26.0-py3-none-any.whl", FAKE_PNGS)
    out = tmp_path / "photos"
    with pytest.raises(DatasetMissing, match="astronaut.png is not prepared yet.*make setup"):
        check_photos(out, FAKE)
    sizes = extract_photos(wheel, out, FAKE)
    assert sizes == {p.file: len(FAKE_PNGS[p.member]) for p in FAKE}
    assert [f.name for f in sorted(out.iterdir())] == ["astronaut.png", "chelsea.png",
                                                       "coffee.png"]
    check_photos(out, FAKE)
    assert (out / "chelsea.png").read_bytes() == FAKE_PNGS["skimage/data/chelsea.png"]
    assert [p.key for p, _ in present_photos(out, FAKE)] == ["astronaut", "cat", "coffee"]
    (out / "coffee.png").write_bytes(b"not the photo")
    with pytest.raises(DatasetMissing, match="coffee.png is not the published file"):
        check_photos(out, FAKE)
    (out / "astronaut.png").unlink()
    assert [p.key for p, _ in present_photos(out, FAKE)] == ["cat", "coffee"]
    assert present_photos(None) == [] and present_photos(tmp_path / "nowhere") == []


def test_a_changed_byte_is_refused_naming_the_file_and_nothing_is_written(tmp_path: Path) -> None:
    changed = dict(FAKE_PNGS)
    blob = bytearray(changed["skimage/data/chelsea.png"])
    blob[-20] ^= 1
    changed["skimage/data/chelsea.png"] = bytes(blob)
    wheel = make_wheel(tmp_path / "w.whl", changed)
    out = tmp_path / "photos"
    with pytest.raises(HashMismatch, match=r"w\.whl:skimage/data/chelsea\.png: sha256 is") as err:
        extract_photos(wheel, out, FAKE)
    assert err.value.expected == FAKE[1].sha256
    assert not out.exists()  # every file is checked before the first is written
    missing = make_wheel(tmp_path / "m.whl", {k: v for k, v in FAKE_PNGS.items()
                                              if "coffee" not in k})
    with pytest.raises(ValueError, match="m.whl has no member skimage/data/coffee.png"):
        extract_photos(missing, out, FAKE)


def test_the_pinned_hashes_are_the_published_ones() -> None:
    assert {p.file: p.sha256 for p in PHOTOS} == {
        "astronaut.png": "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
        "chelsea.png": "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
        "coffee.png": "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
    }
    assert all(p.member == f"skimage/data/{p.file}" for p in PHOTOS)
    credits = " ".join(p.credit for p in PHOTOS)
    assert "NASA" in credits and "public domain" in credits and credits.count("CC0") == 2


def load_script():
    spec = importlib.util.spec_from_file_location("get_photos", ROOT / "scripts" / "get_photos.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_fetches_leaves_a_good_set_and_fails_cleanly(tmp_path: Path, monkeypatch,
                                                            capsys) -> None:
    script = load_script()
    monkeypatch.setattr(script, "PHOTOS", FAKE)
    wheel_members = dict(FAKE_PNGS)
    calls = []

    def fake_pip(cmd, **kwargs):  # `pip download ... -d <folder>`: a wheel lands there
        calls.append(cmd)
        assert "download" in cmd and "--no-deps" in cmd and "install" not in cmd
        make_wheel(Path(cmd[cmd.index("-d") + 1]) / "scikit_image-0.26.0-x.whl", wheel_members)

    monkeypatch.setattr(wheels.subprocess, "run", fake_pip)
    out = tmp_path / "photos"
    assert script.main(["--out", str(out)]) == 0
    assert "Wrote" in capsys.readouterr().out and len(calls) == 1
    check_photos(out, FAKE)

    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert script.main(["--out", str(out)]) == 0
    assert "ready" in capsys.readouterr().out and len(calls) == 1  # no download
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before  # untouched

    (out / "astronaut.png").write_bytes(b"damaged")
    blob = bytearray(wheel_members["skimage/data/coffee.png"])
    blob[30] ^= 0xFF
    wheel_members["skimage/data/coffee.png"] = bytes(blob)
    assert script.main(["--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "astronaut.png is not the published file" in captured.out
    assert "fetching them again" in captured.out
    assert "skimage/data/coffee.png: sha256 is" in captured.err
    assert (out / "astronaut.png").read_bytes() == b"damaged"  # nothing written on a mismatch

    def no_network(cmd, **kwargs):
        raise subprocess.CalledProcessError(1, cmd)

    monkeypatch.setattr(wheels.subprocess, "run", no_network)
    assert script.main(["--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "pip download scikit-image==0.26.0 failed" in err
    assert "the drawn samples still work" in err


def test_prepared_photos(tmp_path: Path) -> None:
    """The real files when `make setup` fetched them (required where REQUIRE_MNIST=1, as in
    `make test` and CI); a set taken from a fake wheel otherwise, through the same checks."""
    real = all((REAL / p.file).is_file() for p in PHOTOS)
    if not real and os.environ.get("REQUIRE_MNIST"):
        pytest.fail(f"{REAL.relative_to(ROOT)}/ is incomplete: run `make setup` "
                    "(scripts/get_photos.py)")
    if real:
        folder, photos = REAL, PHOTOS
    else:
        folder, photos = tmp_path / "photos", FAKE
        extract_photos(make_wheel(tmp_path / "w.whl", FAKE_PNGS), folder, FAKE)
    check_photos(folder, photos)
    found = present_photos(folder, photos)
    assert [p.key for p, _ in found] == ["astronaut", "cat", "coffee"]
    shapes = {path.name: decode_image(path.read_bytes(), max_pixels=10**7,
                                      max_side=4096).pixels.shape for _, path in found}
    if not real:
        assert set(shapes.values()) == {(6, 9, 3)}
        return
    assert shapes == {name: (h, w, 3) for name, (h, w) in SIZES.items()}
