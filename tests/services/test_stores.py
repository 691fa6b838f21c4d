"""What several web workers share through the disk: uploads, rendered results, run records;
and the dataset fingerprints that key the cluster's object store."""

from __future__ import annotations

import dataclasses
import io
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from app.core import datasets, images
from app.services.images import FileShelf, ImageStore, ResultStore, UnknownId
from app.services.runs.records import RunRecord, RunStore


def image_store(directory: Path, max_files: int = 8) -> ImageStore:
    return ImageStore(max_items=4, max_bytes=10**8, preview_side=64, directory=directory,
                      max_files=max_files, max_pixels=10**6, max_side=1000)


def png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def test_an_upload_through_one_worker_is_found_by_another(tmp_path: Path) -> None:
    one, other = image_store(tmp_path), image_store(tmp_path)
    data = png(0)
    stored = one.add(data, images.decode_image(data, max_pixels=10**6, max_side=1000))
    found = other.get(stored.id)
    assert np.array_equal(found.full, stored.full) and found.format == "PNG"
    for bad in ("../etc/passwd", "nope", ""):
        with pytest.raises(UnknownId):
            other.get(bad)


def test_the_newest_uploads_are_kept_on_disk(tmp_path: Path) -> None:
    store = image_store(tmp_path, max_files=3)
    ids = [store.add(d, images.decode_image(d, max_pixels=10**6, max_side=1000)).id
           for d in (png(i) for i in range(5))]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(ids[-3:])


def test_a_result_rendered_by_one_worker_is_served_by_another(tmp_path: Path) -> None:
    one = ResultStore(max_items=4, max_bytes=10**6, directory=tmp_path, max_files=4)
    other = ResultStore(max_items=4, max_bytes=10**6, directory=tmp_path, max_files=4)
    result_id = one.put(b"\x89PNG fake", "image/png")
    got = other.get(result_id)
    assert (got.data, got.media_type) == (b"\x89PNG fake", "image/png")
    with pytest.raises(UnknownId):
        other.get("*")


def test_a_records_file_from_before_nodes_gains_the_column(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE runs (id TEXT PRIMARY KEY, status TEXT NOT NULL, dataset TEXT NOT "
               "NULL, config TEXT NOT NULL, created REAL NOT NULL, started REAL, finished REAL, "
               "message TEXT NOT NULL DEFAULT '', metrics TEXT NOT NULL DEFAULT '{}', "
               "has_weights INTEGER NOT NULL DEFAULT 0)")
    db.execute("INSERT INTO runs (id, status, dataset, config, created) VALUES "
               "('old', 'completed', 'shapes', '{}', 1.0)")
    db.commit()
    db.close()
    store = RunStore(path)
    assert store.get("old").node == ""
    store.add(RunRecord(id="new", status="running", dataset="shapes", config={}, created=2.0))
    # only one of several workers records an end: the first conditional update wins
    assert store.update_if("new", ("running",), status="completed", node="n1")
    assert not store.update_if("new", ("running",), status="failed")
    assert (store.get("new").status, store.get("new").node) == ("completed", "n1")
    assert [r.id for r in store.active()] == []


def test_a_fingerprint_follows_the_content() -> None:
    a, b = datasets.shapes(n_train=60, n_val=12, n_test=12), datasets.shapes(
        n_train=60, n_val=12, n_test=12)
    assert a.fingerprint() == b.fingerprint()
    y = a.train.y.copy()
    y[0] = (y[0] + 1) % len(a.classes)
    changed = dataclasses.replace(a, train=dataclasses.replace(a.train, y=y))
    assert changed.fingerprint() != a.fingerprint()
    other_seed = datasets.shapes(n_train=60, n_val=12, n_test=12, seed=1)
    assert other_seed.fingerprint() != a.fingerprint()


def test_a_large_shelf_sweeps_now_and_then_and_keeps_the_newest(tmp_path: Path) -> None:
    """64 files allowed: the directory is listed every 4th new file, so it never holds more
    than 64 + 3, and after each sweep exactly the newest 64."""
    shelf = FileShelf(tmp_path, max_files=64)
    assert shelf.sweep_every == 4
    names = []
    for i in range(100):
        names.append(f"f{i:03d}")
        shelf.put(names[-1], b"x")
        os.utime(tmp_path / names[-1], (i, i))  # distinct ages, whatever the clock's grain
        on_disk = sorted(p.name for p in tmp_path.iterdir())
        assert len(on_disk) <= 64 + 3
        if (i + 1) % 4 == 0 and i >= 64:
            assert on_disk == names[-64:]


def test_the_photos_the_setup_fetched_come_first_among_the_samples(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "astronaut.png").write_bytes(png(1))
    (photos / "chelsea.png").write_bytes(b"\x89PNG half a file")  # damaged: left out
    store = ImageStore(max_items=4, max_bytes=10**8, preview_side=64, directory=tmp_path / "up",
                       max_files=8, max_pixels=10**6, max_side=1000, photos_dir=photos)
    store.add_samples()
    ids = [s.id for s in store.samples]
    assert ids[0] == "sample-astronaut" and "sample-cat" not in ids and "sample-coffee" not in ids
    assert ids[1:] == ["sample-landscape", "sample-shapes", "sample-checkerboard",
                       "sample-zone-plate", "sample-digit"]
    astronaut = store.get("sample-astronaut")
    assert astronaut.title == "Astronaut (photo)" and "NASA" in astronaut.credit
    assert "public domain" in astronaut.credit and astronaut.format == "PNG"
    assert np.array_equal(astronaut.full, np.asarray(Image.open(photos / "astronaut.png")))
    assert store.get("sample-landscape").credit == ""

    (photos / "chelsea.png").write_bytes(png(2))
    (photos / "coffee.png").write_bytes(png(3))
    again = ImageStore(max_items=4, max_bytes=10**8, preview_side=8, directory=tmp_path / "up",
                       max_files=8, max_pixels=10**6, max_side=1000, photos_dir=photos)
    again.add_samples()
    assert [s.id for s in again.samples][:3] == ["sample-astronaut", "sample-cat",
                                                 "sample-coffee"]
    assert "CC0" in again.get("sample-cat").credit and "CC0" in again.get("sample-coffee").credit
    assert max(again.get("sample-coffee").preview.shape[:2]) == 8  # previews as for any image

    drawn_only = image_store(tmp_path / "up")  # no photos folder: the drawn samples alone
    drawn_only.add_samples()
    assert [s.id for s in drawn_only.samples][0] == "sample-landscape"


def test_the_reduced_planes_of_the_filter_bank_are_made_once(tmp_path: Path) -> None:
    """A stored image's planes scaled down for the bank's maps: the same as scaling its preview
    and making planes from that, made on the first ask and handed out again after."""
    store = image_store(tmp_path)
    pixels = np.random.default_rng(3).integers(0, 256, (48, 60, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    stored = store.add(buf.getvalue(), images.decode_image(buf.getvalue(), max_pixels=10**6,
                                                           max_side=1000))
    reduced = stored.planes("gray", 20)
    expected = images.to_planes(images.fit_within(stored.preview, 20), "gray")
    assert reduced.shape == (1, 1, 16, 20) and torch.equal(reduced, expected)
    assert stored.planes("gray", 20) is reduced  # cached
    assert stored.planes("gray") is not reduced and stored.planes("gray").shape[2:] == (48, 60)
    assert stored.planes("rgb", 20).shape == (1, 3, 16, 20)
