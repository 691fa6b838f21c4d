"""The sequence datasets' catalog: built-in ones (prepared or not), uploads kept on disk."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.core.corpora import SeriesCorpus, TextCorpus
from app.core.datasets import DatasetMissing
from app.core.errors import InputError
from app.services.corpora import Corpora, CorporaConfig, UnknownCorpus
from app.services.errors import Conflict, Invalid, TooLarge

ROOT = Path(__file__).resolve().parents[2]
PREPARED = ROOT / "data" / "sequences"
TEXT = ("the quick brown fox jumps over the lazy dog\n" * 12).encode()


@pytest.fixture
def empty(tmp_path: Path) -> Corpora:
    return Corpora(CorporaConfig(tmp_path / "sequences", max_uploads=2, max_text_bytes=4096))


def test_without_setup_only_generated_series_load_and_the_rest_say_how(empty: Corpora):
    infos = {i.name: i for i in empty.list()}
    assert infos["sine"].available and infos["sine"].kind == "series"
    assert infos["sine"].tasks == ("forecast",)
    for name in ("names", "python-code", "sunspots", "co2"):
        assert not infos[name].available
        assert "make setup" in infos[name].message
    with pytest.raises(DatasetMissing, match="make setup"):
        empty.load("python-code")
    with pytest.raises(UnknownCorpus, match="no sequence dataset named 'nope'"):
        empty.load("nope")


def test_a_text_upload_is_kept_listed_loaded_and_deleted(empty: Corpora):
    info = empty.add_upload("fox", "fox.txt", TEXT)
    assert (info.kind, info.source, info.tasks) == ("text", "upload", ("generate",))
    assert info.size["train_chars"] + info.size["val_chars"] >= len(TEXT) - 12
    corpus = Corpora(empty.config).load("fox")  # a fresh catalog reads it from disk
    assert isinstance(corpus, TextCorpus) and "quick brown fox" in corpus.train
    assert "fox" in [i.name for i in empty.list()]
    empty.delete("fox")
    assert "fox" not in empty.names()
    with pytest.raises(UnknownCorpus):
        empty.load("fox")


def test_a_csv_upload_takes_its_numeric_column(empty: Corpora):
    rows = "year,label,value\n" + "".join(f"{1900 + i},x{i},{i * i}\n" for i in range(40))
    info = empty.add_upload("squares", "squares.csv", rows.encode(), column="value")
    assert info.kind == "series"
    corpus = empty.load("squares")
    assert isinstance(corpus, SeriesCorpus)
    assert corpus.values[:4].tolist() == [0, 1, 4, 9]


@pytest.mark.parametrize(("name", "filename", "data", "error", "words"), [
    ("Bad Name", "a.txt", TEXT, Invalid, "lowercase letters"),
    ("sine", "a.txt", TEXT, Conflict, "exists"),
    ("ok", "a.pdf", TEXT, Invalid, ".txt"),
    ("ok", "a.txt", b"x" * 5000, TooLarge, "4,096"),
    # the core's own checks (InputError, a 422 like Invalid)
    ("ok", "a.txt", b"\xff\xfe not utf-8 " * 20, InputError, "UTF-8"),
    ("ok", "a.txt", b"   \n\n  ", InputError, "empty"),
    ("ok", "a.csv", b"a,b\nx,y\nz,w\n", InputError, "only numbers; the columns are 'a', 'b'"),
])
def test_bad_uploads_are_refused_with_what_is_allowed(empty: Corpora, name, filename, data,
                                                     error, words):
    with pytest.raises(error, match=words):
        empty.add_upload(name, filename, data)
    assert empty._uploads() == {}  # nothing half-written is left behind


def test_uploads_are_capped_and_built_ins_cannot_be_deleted(empty: Corpora):
    empty.add_upload("one", "a.txt", TEXT)
    empty.add_upload("two", "b.txt", TEXT)
    with pytest.raises(Conflict, match="2 sequence datasets"):
        empty.add_upload("three", "c.txt", TEXT)
    with pytest.raises(Conflict, match="built in"):
        empty.delete("sine")


def test_prepared_data_gives_every_built_in(tmp_path: Path):
    # the real files when `make setup` has run (CI's `make test` runs it first)
    if not (PREPARED / "manifest.json").is_file():
        pytest.fail("the sequence data is not prepared: run `make setup`")
    directory = tmp_path / "sequences"
    shutil.copytree(PREPARED, directory, ignore=shutil.ignore_patterns("uploads"))
    catalog = Corpora(CorporaConfig(directory))
    infos = {i.name: i for i in catalog.list()}
    assert all(i.available for i in infos.values()), [i.message for i in infos.values()]
    assert infos["names-by-language"].kind == "labeled"
    assert "German" in infos["names-by-language"].classes
    assert infos["names-german"].size["train_chars"] > 5000
    assert infos["python-code"].size["train_chars"] > 100_000
    assert infos["sunspots"].size["train_values"] + infos["sunspots"].size["val_values"] == 309
