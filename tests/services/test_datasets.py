"""The dataset catalog: built-ins, IDX directories from the settings, uploads kept on disk."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.services.datasets import Catalog, CatalogConfig, UnknownDataset
from app.services.errors import Conflict, Invalid
from tests.core.test_datasets import write_idx_dir

LIMITS = {"max_unpacked_bytes": 10_000_000, "max_files": 1000, "max_image_pixels": 10**6,
          "max_image_side": 1000}


def zip_of_two_classes(n: int = 5) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for c, v in (("dark", 20), ("light", 230)):
            for i in range(n):
                png = io.BytesIO()
                Image.fromarray(np.full((16, 16), v + i, np.uint8)).save(png, format="PNG")
                z.writestr(f"{c}/{i}.png", png.getvalue())
    return buf.getvalue()


def test_idx_directories_are_datasets(tmp_path: Path) -> None:
    write_idx_dir(tmp_path / "Fashion", n_train=30, n_test=8)
    catalog = Catalog(CatalogConfig(data_dir=tmp_path / "data", idx_dirs=(tmp_path / "Fashion",
                                                                          tmp_path / "absent")))
    assert catalog.names() == ["mnist", "shapes", "fashion"]
    ds = catalog.load("fashion")
    assert len(ds.train) + len(ds.val) == 30 and len(ds.test) == 8
    listed = {d.name: d for d in catalog.list()}
    assert listed["fashion"].kind == "idx" and listed["fashion"].available
    assert not listed["mnist"].available and "make setup" in listed["mnist"].message


def test_an_upload_is_kept_and_comes_back_the_same(tmp_path: Path) -> None:
    config = CatalogConfig(data_dir=tmp_path)
    info = Catalog(config).add_upload("tones", zip_of_two_classes(), **LIMITS)
    assert info.classes == ("dark", "light") and info.kind == "upload"
    again = Catalog(config).load("tones")  # a new catalog: read from disk
    assert again.classes == ("dark", "light") and again.test is None
    assert len(again.train) + len(again.val) == 10 and again.train.x.dtype == np.uint8
    Catalog(config).delete("tones")
    with pytest.raises(UnknownDataset):
        Catalog(config).load("tones")


@pytest.mark.parametrize(("name", "error"), [
    ("mnist", Conflict), ("shapes", Conflict),  # built in: the name is taken
    ("Upper", Invalid), ("a/b", Invalid), ("../x", Invalid), ("", Invalid), ("x" * 41, Invalid)])
def test_upload_names_are_checked(tmp_path: Path, name: str, error: type) -> None:
    with pytest.raises(error) as err:
        Catalog(CatalogConfig(data_dir=tmp_path)).add_upload(name, zip_of_two_classes(), **LIMITS)
    assert err.value.field == "name"


def test_the_number_of_uploads_is_bounded(tmp_path: Path) -> None:
    catalog = Catalog(CatalogConfig(data_dir=tmp_path, max_datasets=2))
    catalog.add_upload("one", zip_of_two_classes(), **LIMITS)
    catalog.add_upload("two", zip_of_two_classes(), **LIMITS)
    catalog.add_upload("two", zip_of_two_classes(3), **LIMITS)  # replacing one is fine
    with pytest.raises(Invalid, match="delete one first"):
        catalog.add_upload("three", zip_of_two_classes(), **LIMITS)
