"""Sequence corpora: faker's person providers and statsmodels' CSVs read from fake wheels built
here (both assignment styles, OrderedDicts, hash checks), the standard-library code text, every
loader and upload check, and the prepared files (the real ones when `make setup` wrote them)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sysconfig
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from app.core.corpora import (
    FILE_MARK,
    LANGUAGES,
    SERIES,
    STATSMODELS_CSV_SHA256,
    LabeledCorpus,
    SeriesCorpus,
    TextCorpus,
    check_sequences,
    code_text,
    csv_column,
    load_code,
    load_names,
    load_series,
    names_by_language,
    names_from_faker,
    names_text,
    python_sources,
    series_from_statsmodels,
    sine_mixture,
    text_upload,
    write_sequences,
)
from app.core.datasets import DatasetMissing, HashMismatch, sha256_file
from app.core.errors import InputError
from app.services import wheels

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "data" / "sequences"
SUNSPOTS, CO2 = STATSMODELS_CSV_SHA256  # the member paths inside the statsmodels wheel

# A provider in faker's shapes: a plain tuple, an annotated tuple, and skipped expressions. The
# module-level raise proves the file is parsed, never run.
PROVIDER_TUPLES = '''\
from typing import Tuple
from .. import Provider as PersonProvider
raise SystemExit("this file must never be executed")


class Provider(PersonProvider):
    formats = ("{{first_name}} {{last_name}}",)
    first_names_male = ("Jürgen", " Bo ", "Bo", "Hans D.", "Hans-J.", "R2D2", "Jean-Luc",
                        "Anna", "Ka\u0308the")
    first_names_female: Tuple[str, ...] = ("Zoë", "Anna", "Ådel", "", "D'Arcy")
    first_names = first_names_male + first_names_female
    last_names = ("Never", "Read")
'''
# The OrderedDict style (en_US, sv_SE, fi_FI, hu_HU, ko_KR), annotated and plain.
PROVIDER_ORDERED = '''\
from collections import OrderedDict
from typing import Dict


class Provider:
    first_names_male: Dict[str, float] = OrderedDict((("Олег", 0.5), ("Ян", 0.2), ("Anna", 0.1)))
    first_names_female = OrderedDict((("Ольга", 0.7),))
    first_names = first_names_male.copy()
'''
FAKE_SUNSPOTS = b'"YEAR","SUNACTIVITY"\n' + b"".join(
    f"{1700 + i},{(i * 7) % 50}\n".encode() for i in range(30))
# Weekly readings: two in March, one blank in April (a month with no value), two in May.
FAKE_CO2 = (b"date,co2\n19580301,316.0\n19580315,318.0\n19580405,\n19580503,320.0\n"
            b"19580517,322.0\n19580607,321.5\n")


def make_wheel(path: Path, members: dict[str, bytes | str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.fixture
def faker_wheel(tmp_path: Path) -> Path:
    return make_wheel(tmp_path / "faker-0-py3-none-any.whl", {
        "faker/providers/person/xx_XX/__init__.py": PROVIDER_TUPLES,
        "faker/providers/person/yy_YY/__init__.py": PROVIDER_ORDERED,
        "faker/providers/person/zz_ZZ/__init__.py": "class Provider:\n    x = 1\n",
    })


@pytest.fixture
def stats_wheel(tmp_path: Path) -> Path:
    return make_wheel(tmp_path / "statsmodels-0-cp311-x.whl",
                      {SUNSPOTS: FAKE_SUNSPOTS, CO2: FAKE_CO2, "statsmodels/__init__.py": ""})


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


FAKE_CSV_SHA = {SUNSPOTS: sha(FAKE_SUNSPOTS), CO2: sha(FAKE_CO2)}


# ------------------------------------------------------------------------------------ preparing

def test_names_from_faker_reads_both_styles_and_cleans(faker_wheel: Path) -> None:
    names = names_from_faker(faker_wheel, ["xx_XX", "yy_YY"],
                             wheel_sha256=sha256_file(faker_wheel))
    # stripped, NFC ("Ka" + combining diaeresis + "the" becomes "Käthe"), deduplicated, sorted;
    # "Hans D." (space), "Hans-J." (dot), "R2D2" (digit) and "" dropped
    assert names["xx_XX"] == sorted(["Anna", "Bo", "D'Arcy", "Jean-Luc", "Jürgen", "Käthe",
                                     "Zoë", "Ådel"])
    assert names["yy_YY"] == ["Anna", "Олег", "Ольга", "Ян"]  # OrderedDict keys, not weights
    assert list(names) == ["xx_XX", "yy_YY"]


def test_names_from_faker_refuses_a_changed_wheel(faker_wheel: Path) -> None:
    good = sha256_file(faker_wheel)
    with pytest.raises(HashMismatch) as err:
        names_from_faker(faker_wheel, ["xx_XX"])  # the real wheel's hash: not this file
    assert faker_wheel.name in str(err.value) and good in str(err.value)
    data = bytearray(faker_wheel.read_bytes())
    data[-1] ^= 1
    faker_wheel.write_bytes(bytes(data))
    with pytest.raises(HashMismatch, match=good):
        names_from_faker(faker_wheel, ["xx_XX"], wheel_sha256=good)


def test_names_from_faker_missing_locale_or_no_literal(faker_wheel: Path) -> None:
    digest = sha256_file(faker_wheel)
    with pytest.raises(ValueError, match="no person provider for 'qq_QQ'"):
        names_from_faker(faker_wheel, ["qq_QQ"], wheel_sha256=digest)
    with pytest.raises(ValueError, match="no literal first_names"):
        names_from_faker(faker_wheel, ["zz_ZZ"], wheel_sha256=digest)


def test_series_from_statsmodels_checks_each_csv(stats_wheel: Path, tmp_path: Path) -> None:
    got = series_from_statsmodels(stats_wheel, csv_sha256=FAKE_CSV_SHA)
    assert got == {"sunspots": FAKE_SUNSPOTS, "co2": FAKE_CO2}  # the original bytes
    # the real hashes do not match the fakes: the error names the member and both hashes
    with pytest.raises(HashMismatch) as err:
        series_from_statsmodels(stats_wheel)
    msg = str(err.value)
    assert SUNSPOTS in msg and STATSMODELS_CSV_SHA256[SUNSPOTS] in msg
    assert sha(FAKE_SUNSPOTS) in msg
    # one changed byte in one CSV is refused, naming that file
    changed = FAKE_CO2.replace(b"316.0", b"316.1")
    wheel = make_wheel(tmp_path / "changed.whl", {SUNSPOTS: FAKE_SUNSPOTS, CO2: changed})
    with pytest.raises(HashMismatch, match="co2.csv") as err:
        series_from_statsmodels(wheel, csv_sha256=FAKE_CSV_SHA)
    assert err.value.expected == sha(FAKE_CO2) and err.value.actual == sha(changed)
    with pytest.raises(ValueError, match="has no member"):
        series_from_statsmodels(make_wheel(tmp_path / "empty.whl", {"x": b""}),
                                csv_sha256=FAKE_CSV_SHA)


def write_modules(folder: Path) -> Path:
    folder.mkdir()
    files = {
        "alpha.py": "x = 1\n" * 10,  # 60 bytes
        "beta.py": "def f():\n    return 2",  # no final newline: one is added
        "_private.py": "p = 1\n",
        "tabs.py": "def g():\n\treturn 3\n",
        "gamma.py": "y = 2\n" * 10,
        "marked.py": "# file: fake.py\nz = 3\n",
    }
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "latin.py").write_bytes("s = 'caf\u00e9'\n".encode("latin-1"))
    (folder / "tests").mkdir()
    (folder / "tests" / "aaa.py").write_text("t = 1\n", encoding="utf-8")
    (folder / "notes.txt").write_text("not python\n", encoding="utf-8")
    return folder


def test_python_sources_choice_and_cap(tmp_path: Path) -> None:
    lib = write_modules(tmp_path / "lib")
    text = python_sources(lib, 10_000)
    assert text == python_sources(lib, 10_000)  # deterministic
    marks = [line for line in text.splitlines() if line.startswith(FILE_MARK)]
    # name order; private, tabbed, non-UTF-8 and already-marked files and tests/ left out
    assert marks == ["# file: alpha.py", "# file: beta.py", "# file: gamma.py"]
    assert "    return 2\n# file: gamma.py" in text and text.endswith("y = 2\n")
    first = len("# file: alpha.py\n") + 60
    # whole files only: a cap that cuts beta.py stops after alpha.py
    assert python_sources(lib, first + 5) == text[:first]
    with pytest.raises(ValueError, match="fits"):
        python_sources(lib, 10)


def test_python_sources_on_this_pythons_stdlib() -> None:
    lib = Path(sysconfig.get_paths()["stdlib"])
    text = python_sources(lib, 60_000)
    assert 10_000 < len(text.encode()) <= 60_000 and "\t" not in text
    assert text.startswith(FILE_MARK) and text == python_sources(lib, 60_000)
    corpus = code_text(text)
    assert corpus.train.startswith(FILE_MARK) and corpus.val.startswith(FILE_MARK)
    assert corpus.train + corpus.val == text


# -------------------------------------------------------------------------------------- names

NAMES = {
    "de_DE": ["Anna", "Jürgen", "Klaus", "Heike", "Uwe", "Dieter", "Helga", "Wolfgang"],
    "sv_SE": ["Anna", "Björn", "Sven", "Astrid", "Lars", "Maja", "Stina"],
    "ru_RU": ["Олег", "Ольга", "Иван", "Пётр", "Анна", "Мария"],
}


def test_names_text_dedupes_splits_by_name_and_follows_the_seed() -> None:
    corpus = names_text(NAMES)
    assert isinstance(corpus, TextCorpus) and corpus.name == "names"
    assert corpus.train.endswith("\n") and corpus.val.endswith("\n")
    train, val = corpus.train.split("\n")[:-1], corpus.val.split("\n")[:-1]
    everything = {n for v in NAMES.values() for n in v}
    assert sorted(train + val) == sorted(everything)  # "Anna" once, not twice
    assert len(val) == round(len(everything) * 0.1) and not set(train) & set(val)
    assert names_text(NAMES) == corpus  # the same seed, the same text
    assert names_text(NAMES, seed=1).train != corpus.train
    assert len(names_text(NAMES, val_fraction=0.5).val.split("\n")[:-1]) == 10


def test_names_text_locales_name_and_errors() -> None:
    corpus = names_text(NAMES, ["ru_RU"])
    assert set(corpus.train.split() + corpus.val.split()) == set(NAMES["ru_RU"])
    assert corpus.name == "names-ru_RU" and corpus.title == "First names in Russian"
    assert names_text(NAMES, ["ru_RU"], name="ru", title="Russian").title == "Russian"
    with pytest.raises(InputError, match="unknown locale 'xx'.*de_DE, sv_SE, ru_RU") as err:
        names_text(NAMES, ["xx"])
    assert err.value.field == "locales"
    with pytest.raises(InputError, match="at least 1 language"):
        names_text(NAMES, [])
    with pytest.raises(InputError, match="val_fraction"):
        names_text(NAMES, val_fraction=1.0)


def test_names_by_language_drops_shared_names_and_stratifies() -> None:
    corpus = names_by_language(NAMES, val_fraction=0.3)
    assert isinstance(corpus, LabeledCorpus)
    assert corpus.classes == ("German", "Swedish", "Russian")
    pairs = corpus.train + corpus.val
    assert "Anna" not in {n for n, _ in pairs}  # in German and Swedish: no single answer
    assert "Анна" in {n for n, _ in pairs}  # Cyrillic Анна is a different string
    assert Counter(label for _, label in pairs) == {0: 7, 1: 6, 2: 6}
    # each language on its own: round(0.3 · n) of it held out
    assert Counter(label for _, label in corpus.val) == {0: 2, 1: 2, 2: 2}
    assert all(corpus.classes[label] == LANGUAGES[loc] for loc in NAMES
               for n, label in pairs if n in NAMES[loc])
    assert not {n for n, _ in corpus.train} & {n for n, _ in corpus.val}
    assert names_by_language(NAMES, val_fraction=0.3) == corpus
    assert names_by_language(NAMES, name="lang", title="T").title == "T"
    assert names_by_language(NAMES, val_fraction=0.3, seed=3).train != corpus.train


def test_names_by_language_cap_selection_and_errors() -> None:
    capped = names_by_language(NAMES, per_class_cap=4)
    assert Counter(label for _, label in capped.train + capped.val) == {0: 4, 1: 4, 2: 4}
    # only German and Russian chosen: Anna is German alone now, so it stays
    two = names_by_language(NAMES, ["de_DE", "ru_RU"])
    assert two.classes == ("German", "Russian") and ("Anna", 0) in two.train + two.val
    # changing the other languages leaves a language's own shuffle as it was
    a = names_by_language(NAMES, ["de_DE", "ru_RU"], per_class_cap=3)
    b = names_by_language({"de_DE": NAMES["de_DE"], "ru_RU": NAMES["ru_RU"]}, per_class_cap=3)
    assert sorted(a.train) == sorted(b.train)
    with pytest.raises(InputError, match="at least 2 languages"):
        names_by_language(NAMES, ["de_DE"])
    with pytest.raises(InputError, match="per_class_cap must be at least 2") as err:
        names_by_language(NAMES, per_class_cap=1)
    assert err.value.field == "per_class_cap"
    with pytest.raises(InputError, match="has 1 names no other"):
        names_by_language({"de_DE": ["Anna", "Uwe"], "sv_SE": ["Anna", "Sven", "Lars"]})


def test_load_names(tmp_path: Path) -> None:
    path = tmp_path / "names.json"
    with pytest.raises(DatasetMissing, match="make setup"):
        load_names(path)
    path.write_text(json.dumps({"languages": {}, "names": NAMES}), encoding="utf-8")
    assert load_names(path) == NAMES
    for bad in ("{", '{"names": {"de_DE": []}}', '{"names": ["Anna"]}', "[]"):
        path.write_text(bad, encoding="utf-8")
        with pytest.raises(DatasetMissing, match="unreadable.*make setup"):
            load_names(path)


# --------------------------------------------------------------------------------------- code

def test_code_text_splits_by_file() -> None:
    files = [f"{FILE_MARK}m{i}.py\nx = {i}\n" for i in range(20)]
    corpus = code_text("".join(files))
    assert corpus.val == "".join(files[18:]) and corpus.train == "".join(files[:18])
    assert code_text("".join(files), val_fraction=0.25).val == "".join(files[15:])
    # a mark must start a line: one inside a line is code, not a new file
    assert code_text(files[0] + "s = '# file: no'\n" + files[1]).val == files[1]
    assert code_text("".join(files), name="py", title="T").title == "T"
    with pytest.raises(InputError, match="holds 1 files"):
        code_text(files[0])


def test_load_code(tmp_path: Path) -> None:
    path = tmp_path / "python.txt"
    with pytest.raises(DatasetMissing, match="make setup"):
        load_code(path)
    path.write_text(f"{FILE_MARK}a.py\na = 1\n{FILE_MARK}b.py\nb = 2\n", encoding="utf-8")
    assert load_code(path).val == f"{FILE_MARK}b.py\nb = 2\n"


# ------------------------------------------------------------------------------------- series

def test_load_series_sunspots_and_co2(tmp_path: Path) -> None:
    (tmp_path / "sunspots.csv").write_bytes(FAKE_SUNSPOTS)
    (tmp_path / "co2.csv").write_bytes(FAKE_CO2)
    spots = load_series(tmp_path / "sunspots.csv", "sunspots")
    assert isinstance(spots, SeriesCorpus) and spots.unit == "sunspot number"
    assert spots.values.dtype == np.float32
    np.testing.assert_array_equal(spots.values, [(i * 7) % 50 for i in range(30)])
    assert spots.val_from == 24  # the last 20%
    co2 = load_series(tmp_path / "co2.csv", "co2")
    assert co2.unit == "ppm"
    # March mean 317, April has no reading: halfway to May's mean 321; June 321.5
    np.testing.assert_allclose(co2.values, [317.0, 319.0, 321.0, 321.5])
    assert co2.val_from == 3


def test_load_series_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="which must be one of sunspots, co2"):
        load_series(tmp_path / "x.csv", "tides")
    with pytest.raises(DatasetMissing, match="make setup"):
        load_series(tmp_path / "sunspots.csv", "sunspots")
    (tmp_path / "sunspots.csv").write_text('"YEAR","SUNACTIVITY"\n1700,5\n1702,6\n')
    with pytest.raises(DatasetMissing, match="not consecutive"):
        load_series(tmp_path / "sunspots.csv", "sunspots")
    (tmp_path / "co2.csv").write_text("date,co2\n1958-03-01,316\n")
    with pytest.raises(DatasetMissing, match="YYYYMMDD"):
        load_series(tmp_path / "co2.csv", "co2")


def test_sine_mixture() -> None:
    s = sine_mixture()
    assert s.values.shape == (600,) and s.values.dtype == np.float32 and s.val_from == 480
    np.testing.assert_array_equal(s.values, sine_mixture().values)
    assert not np.array_equal(s.values, sine_mixture(seed=1).values)
    clean = sine_mixture(length=400, components=2, noise=0.0, seed=5)
    assert np.abs(clean.values).max() <= 2.0  # two amplitudes of at most 1
    # no noise: a sum of two sines has exactly two peaks in its spectrum (periods ≥ 8 steps)
    spectrum = np.abs(np.fft.rfft(sine_mixture(length=4000, components=2, noise=0.0).values))
    assert np.sum(spectrum > spectrum.max() / 4) <= 4  # two peaks, each leaking to a neighbour
    assert np.std(s.values - sine_mixture(noise=0.0).values) == pytest.approx(0.05, rel=0.15)
    for kwargs, field in (({"length": 19}, "length"), ({"components": 0}, "components"),
                          ({"noise": -1.0}, "noise"), ({"noise": float("nan")}, "noise")):
        with pytest.raises(InputError) as err:
            sine_mixture(**kwargs)
        assert err.value.field == field


# -------------------------------------------------------------------------------------- uploads

TEXT = "".join(f"line {i:02d} of a small poem\n" for i in range(20))


def test_text_upload_splits_by_lines() -> None:
    corpus = text_upload(TEXT.replace("\n", "\r\n").encode(), name="poem", max_bytes=10_000)
    assert corpus.name == corpus.title == "poem" and "\r" not in corpus.train + corpus.val
    assert corpus.val == "line 18 of a small poem\nline 19 of a small poem\n"
    assert corpus.train + corpus.val == TEXT
    assert text_upload(TEXT.encode(), name="p", title="A poem", max_bytes=10_000).title == "A poem"
    assert text_upload(b"\xef\xbb\xbf" + TEXT.encode(), name="p", max_bytes=10_000) \
        == TextCorpus("p", "p", corpus.train, corpus.val)  # a byte-order mark is dropped
    one_line = ("word " * 40).encode()  # fewer than 10 lines: split by characters
    short = text_upload(one_line, name="w", max_bytes=10_000)
    assert short.train + short.val == one_line.decode() and len(short.val) == 20


@pytest.mark.parametrize(("data", "message"), [
    (b"abc " * 30 + b"\xff more", r"not UTF-8 text \(byte 0xff at byte offset 120"),
    (b"", "empty or only whitespace"),
    (b" \n\t\r\n  ", "empty or only whitespace"),
    (b"short text\n", "holds 11 characters; at least 100"),
    (b"a\x00" * 60, "NUL characters"),
    (b"x" * 10_001, "10,001 bytes; at most 10,000"),
])
def test_text_upload_refuses(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message) as err:
        text_upload(data, name="t", max_bytes=10_000)
    assert err.value.field == "file"


def test_text_upload_name() -> None:
    with pytest.raises(InputError, match="1 to 64 printable") as err:
        text_upload(TEXT.encode(), name=" ", max_bytes=10_000)
    assert err.value.field == "name"


def table(rows: list[list[object]], sep: str = ",") -> bytes:
    return "".join(sep.join(str(c) for c in r) + "\r\n" for r in rows).encode()


def test_csv_column_first_numeric_and_named() -> None:
    rows = [["day", "temp", "rain"]] + [[f"d{i}", 10 + i, i % 3] for i in range(25)]
    rows[5][1] = ""  # a blank cell inside the series
    rows[6][1] = "NA"
    s = csv_column(table(rows), name="weather", max_bytes=10_000)
    assert s.title == "weather: temp" and s.values.shape == (25,) and s.val_from == 20
    expected = np.arange(10, 35, dtype=np.float32)  # the blanks fall on the line
    np.testing.assert_allclose(s.values, expected)
    rain = csv_column(table(rows, ";"), name="w", column="rain", max_bytes=10_000, title="Rain")
    assert rain.title == "Rain"
    np.testing.assert_array_equal(rain.values, [i % 3 for i in range(25)])


def test_csv_column_headerless_and_trimmed_blanks() -> None:
    rows = [[""], [""]] + [[i * 0.5] for i in range(22)] + [["nan"]]
    s = csv_column(table(rows), name="s", max_bytes=10_000)
    np.testing.assert_allclose(s.values, np.arange(22) * 0.5)  # blank ends dropped
    two = csv_column(table([[i, -i] for i in range(30)], "\t"), name="s", column="column 2",
                     max_bytes=10_000)
    np.testing.assert_array_equal(two.values, -np.arange(30))


@pytest.mark.parametrize(("data", "column", "message", "field"), [
    (table([["a", "b"]] + [["x", "y"]] * 30), None,
     "no column holds only numbers; the columns are 'a', 'b'", "file"),
    (table([["a", "b"]] + [[1, 2]] * 30), "c", "no column 'c'; the columns are 'a', 'b'",
     "column"),
    (table([["a", "b"]] + [[1, 2]] * 19), None, "holds 19 numbers; at least 20", "file"),
    (table([["a"]] + [[1]] * 25 + [["oops"]]), "a", "'oops' in data row 26", "column"),
    (table([["a"]] + [[1e39]] * 25), None, "too large for float32", "column"),
    (b"a,b\n1,2\n\xc3(", None, "not UTF-8 text .* at byte offset 8", "file"),
    (b"", None, "the file is empty", "file"),
])
def test_csv_column_refuses(data: bytes, column: str | None, message: str, field: str) -> None:
    with pytest.raises(InputError, match=message) as err:
        csv_column(data, name="c", column=column, max_bytes=10_000)
    assert err.value.field == field


# ------------------------------------------------------------------------------ prepared files

def write_fixture(out: Path, tmp_path: Path) -> dict:
    """A small prepared set, made the way the setup script makes the real one."""
    wheel = make_wheel(tmp_path / "f.whl", {"faker/providers/person/de_DE/__init__.py":
                                            PROVIDER_TUPLES,
                                            "faker/providers/person/ru_RU/__init__.py":
                                            PROVIDER_ORDERED})
    stats = make_wheel(tmp_path / "s.whl", {SUNSPOTS: FAKE_SUNSPOTS, CO2: FAKE_CO2})
    names = names_from_faker(wheel, ["de_DE", "ru_RU"], wheel_sha256=sha256_file(wheel))
    series = series_from_statsmodels(stats, csv_sha256=FAKE_CSV_SHA)
    code = python_sources(write_modules(tmp_path / "lib"), 10_000)
    return write_sequences(out, names=names, series=series, code=code, sources={"test": True})


def test_write_and_check_sequences(tmp_path: Path) -> None:
    out = tmp_path / "seq"
    with pytest.raises(DatasetMissing, match="make setup"):
        check_sequences(out)
    manifest = write_fixture(out, tmp_path)
    assert check_sequences(out) == manifest
    assert manifest["counts"] == {"names": {"de_DE": 8, "ru_RU": 4}, "python_files": 3,
                                  "sunspots": 30, "co2": 4}
    assert manifest["files"]["co2.csv"]["sha256"] == sha(FAKE_CO2)
    labels = json.loads((out / "names.json").read_text(encoding="utf-8"))["languages"]
    assert labels == {"de_DE": "German", "ru_RU": "Russian"}
    (out / "co2.csv").write_bytes(FAKE_CO2 + b"19580614,322.0\n")
    with pytest.raises(DatasetMissing, match="co2.csv is not the file the manifest records"):
        check_sequences(out)
    (out / "co2.csv").unlink()
    with pytest.raises(DatasetMissing, match="incomplete or damaged.*make setup"):
        check_sequences(out)


def load_script():
    spec = importlib.util.spec_from_file_location("get_sequences",
                                                  ROOT / "scripts" / "get_sequences.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_leaves_a_good_set_and_fails_cleanly(tmp_path: Path, monkeypatch, capsys) -> None:
    script = load_script()
    out = tmp_path / "seq"
    write_fixture(out, tmp_path)
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert script.main(["--out", str(out)]) == 0
    assert "ready" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before  # untouched

    def no_network(cmd, **kwargs):
        raise subprocess.CalledProcessError(1, cmd)

    monkeypatch.setattr(wheels.subprocess, "run", no_network)
    (out / "names.json").write_text("{}", encoding="utf-8")  # damaged: fetch again, which fails
    assert script.main(["--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "preparing it again" in captured.out and "pip download faker" in captured.err
    assert "sine mixtures and uploads still work" in captured.err
    assert load_code(out / "python.txt").val.startswith(FILE_MARK)  # written without network


def test_prepared_files(tmp_path: Path) -> None:
    """The real files when `make setup` wrote them (required where REQUIRE_MNIST=1, as in
    `make test` and CI); a small fixture set otherwise, through the same loaders."""
    real = (REAL / "manifest.json").is_file()
    if not real and os.environ.get("REQUIRE_MNIST"):
        pytest.fail(f"{REAL.relative_to(ROOT)}/ is missing: run `make setup` "
                    "(scripts/get_sequences.py)")
    if real:
        folder = REAL
    else:
        folder = tmp_path / "seq"
        write_fixture(folder, tmp_path)
    manifest = check_sequences(folder)
    names = load_names(folder / "names.json")
    assert manifest["counts"]["names"] == {loc: len(v) for loc, v in names.items()}
    series = {which: load_series(folder / f"{which}.csv", which) for which in SERIES}
    code = load_code(folder / "python.txt")
    languages = names_by_language(names, per_class_cap=200)
    assert len(languages.classes) == len(names) and code.val.startswith(FILE_MARK)
    if not real:
        assert series["sunspots"].values.shape == (30,) and len(names) == 2
        return
    assert list(names) == list(LANGUAGES)
    assert len(names["en"]) >= 6_500 and all(len(v) >= 150 for v in names.values())
    assert "Olga" not in names["ru_RU"] and "Ольга" in names["ru_RU"]
    spots = series["sunspots"]
    assert spots.values.shape == (309,) and spots.values[0] == 5 and spots.val_from == 247
    assert spots.values[-1] == pytest.approx(2.9)  # 2008
    co2 = series["co2"]
    assert co2.values.shape == (526,) and 310 < co2.values.min() < co2.values.max() < 380
    assert np.all(np.isfinite(co2.values))
    assert manifest["files"]["sunspots.csv"]["sha256"] == STATSMODELS_CSV_SHA256[SUNSPOTS]
    assert 300_000 < manifest["files"]["python.txt"]["bytes"] <= 400_000
    assert Counter(label for _, label in languages.val)[0] == 20  # a tenth of 200 English names
