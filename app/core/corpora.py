"""The sequence lab's data: texts (names, code, your own), names labelled by language, and time
series, as the training loop takes them.

The lead defined these three shapes; loaders and the setup that prepares the files follow below.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import io
import json
import math
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from app.core.datasets import (
    DatasetMissing,
    HashMismatch,
    check_fraction,
    check_name,
    read_checked,
    sha256_file,
    write_atomically,
)
from app.core.errors import InputError


@dataclass(frozen=True)
class TextCorpus:
    """Characters to model: documents (names, source files) joined by "\n", split by document."""

    name: str
    title: str
    train: str
    val: str


@dataclass(frozen=True)
class LabeledCorpus:
    """Short texts (names) with a class each (their language): (text, class index) pairs."""

    name: str
    title: str
    classes: tuple[str, ...]
    train: list[tuple[str, int]]
    val: list[tuple[str, int]]


@dataclass(frozen=True)
class SeriesCorpus:
    """One series of numbers in time order; values[val_from:] is held out for validation."""

    name: str
    title: str
    values: np.ndarray  # (T,) float32
    val_from: int
    unit: str = ""


Corpus = TextCorpus | LabeledCorpus | SeriesCorpus


# The names, series and code come from files the setup prepares (scripts/get_sequences.py, run
# by `make setup`): two wheels from the package index, downloaded but never installed, and this
# Python's own standard library. Nothing here touches the network.

FAKER_WHEEL = "faker==40.63.0"
FAKER_WHEEL_SHA256 = "36627c20b575b4138f54b6c21f8703e9ab122fd487aca11319beec2aa6ca7232"
STATSMODELS_WHEEL = "statsmodels==0.14.6"
# The statsmodels wheel is built per platform, so its own hash differs from machine to machine;
# the two CSVs inside are the same bytes in every build, so those are what is pinned.
STATSMODELS_CSV_SHA256 = {
    "statsmodels/datasets/sunspots/sunspots.csv":
        "f67889b1d9002cd5227f0e0ef54e35b419cdd85a31279adef6f73fb41e5c0a9b",
    "statsmodels/datasets/co2/co2.csv":
        "16695fa2786e53414e5a6b54767a3fdf5de99cfbc68617f69d1362d92776a92f",
}
SERIES = ("sunspots", "co2")  # load_series's `which`, and the CSV names in the prepared folder

# The languages of the names tasks: Latin scripts plus Cyrillic and Greek, each with at least
# ~150 first names in faker 40.63.0. English is faker's `en` (6,824 names); `en_US` has only
# the ~700 most common ones.
LANGUAGES: dict[str, str] = {
    "en": "English", "de_DE": "German", "fr_FR": "French", "it_IT": "Italian",
    "es_ES": "Spanish", "pt_BR": "Portuguese", "nl_NL": "Dutch", "sv_SE": "Swedish",
    "fi_FI": "Finnish", "pl_PL": "Polish", "cs_CZ": "Czech", "hu_HU": "Hungarian",
    "tr_TR": "Turkish", "ru_RU": "Russian", "el_GR": "Greek",
}
MIN_NAMES = 150  # per language, checked by the setup: fewer is too little to learn from

SEQUENCES_COMMAND = "make setup"
SEQUENCES_SCRIPT = "python scripts/get_sequences.py"
PREPARED_FILES = ("names.json", "sunspots.csv", "co2.csv", "python.txt")  # plus manifest.json
FILE_MARK = "# file: "  # starts the line before each source file in python.txt
_FIRST_NAME_ATTRS = ("first_names_male", "first_names_female")
_BLANKS = frozenset({"", "na", "n/a", "nan", "null", "none"})  # empty cells in a CSV column
_SERIES_TITLES = {"sunspots": ("Yearly sunspot numbers, 1700–2008", "sunspot number"),
                  "co2": ("Monthly CO₂ at Mauna Loa, 1958–2001", "ppm")}
_MIN_TEXT_CHARS = 100
_MIN_SERIES = 20


# ------------------------------------------------------------------------------------ preparing

def names_from_faker(wheel: Path, locales: Iterable[str], *,
                     wheel_sha256: str = FAKER_WHEEL_SHA256) -> dict[str, list[str]]:
    """First names per locale from faker's person providers, read from the wheel's source text
    with ast (faker is never imported or installed, no code in it runs). Each name is NFC
    normalised and stripped; entries that are not one plain name (digits, spaces, dots as in
    "Hans-J.", stray symbols) are dropped; each list is deduplicated and sorted."""
    wheel = Path(wheel)
    actual = sha256_file(wheel)
    if actual != wheel_sha256:
        raise HashMismatch(wheel.name, wheel_sha256, actual)
    out: dict[str, list[str]] = {}
    with zipfile.ZipFile(wheel) as zf:
        for locale in locales:
            member = f"faker/providers/person/{locale}/__init__.py"
            try:
                source = zf.read(member).decode("utf-8")
            except KeyError:
                raise ValueError(f"{wheel.name} has no person provider for {locale!r} "
                                 f"({member})") from None
            raw = _first_names(source, f"{wheel.name}:{member}")
            clean = (unicodedata.normalize("NFC", s).strip() for s in raw)
            out[locale] = sorted({s for s in clean if _is_name(s)})
    return out


def _first_names(source: str, what: str) -> list[str]:
    """The values of first_names_male / first_names_female in the provider's class body: tuple
    or list literals, or OrderedDict(((name, weight), ...)) calls, with or without an annotation.
    Anything else (e.g. `first_names = first_names_male + first_names_female`) is skipped."""
    names: list[str] = []
    found = 0
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ClassDef):
            continue
        for stmt in node.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                target, value = stmt.targets[0], stmt.value
            elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                target, value = stmt.target, stmt.value
            else:
                continue
            if not (isinstance(target, ast.Name) and target.id in _FIRST_NAME_ATTRS):
                continue
            if isinstance(value, ast.Tuple | ast.List):
                items = list(ast.literal_eval(value))
            elif (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
                  and value.func.id == "OrderedDict" and len(value.args) == 1
                  and not value.keywords):
                pairs = ast.literal_eval(value.args[0])
                if not all(isinstance(p, tuple) and len(p) == 2 for p in pairs):
                    raise ValueError(f"{what}: {target.id} is an OrderedDict of something other "
                                     "than (name, weight) pairs")
                items = [name for name, _ in pairs]
            else:
                continue  # an expression built from other attributes
            if not all(isinstance(s, str) for s in items):
                raise ValueError(f"{what}: {target.id} holds values that are not strings")
            names.extend(items)
            found += 1
    if not found:
        raise ValueError(f"{what} has no literal first_names_male or first_names_female")
    return names


def _is_name(s: str) -> bool:
    # Letters, with inner hyphens or apostrophes (Jean-Luc, D'Arcy); nothing else.
    return (bool(s) and s[0].isalpha() and s[-1].isalpha()
            and all(c.isalpha() or c in "-'" for c in s))


def series_from_statsmodels(wheel: Path, *, csv_sha256: Mapping[str, str] = STATSMODELS_CSV_SHA256
                            ) -> dict[str, bytes]:
    """The original bytes of the sunspots and CO₂ CSVs in the statsmodels wheel, each
    sha256-checked ({"sunspots": b"...", "co2": b"..."}). The wheel itself is not hashed: it is
    built per platform, while the CSVs are the same in every build."""
    wheel = Path(wheel)
    out: dict[str, bytes] = {}
    with zipfile.ZipFile(wheel) as zf:
        for member, expected in csv_sha256.items():
            out[PurePosixPath(member).stem] = read_checked(zf, wheel.name, member, expected)
    return out


def python_sources(stdlib_dir: Path, max_bytes: int = 400_000) -> str:
    """Python source text for a character model: the standard library's top-level module files
    in name order (so packages, test/, idlelib/ and lib2to3/ are left out, and so are private
    `_*` modules and files that are not UTF-8, hold tabs or carriage returns, or already have a
    FILE_MARK line), each after a "# file: name.py" line, whole files until the next would pass
    max_bytes (UTF-8). The same Python gives the same text."""
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be at least 1, got {max_bytes}")
    parts: list[str] = []
    used = 0
    for path in sorted(Path(stdlib_dir).glob("*.py")):
        if path.name.startswith("_") or not path.is_file():
            continue
        try:
            text = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if "\t" in text or "\r" in text or not text.strip() or _has_mark(text):
            continue
        chunk = f"{FILE_MARK}{path.name}\n{text if text.endswith(chr(10)) else text + chr(10)}"
        size = len(chunk.encode("utf-8"))
        if used + size > max_bytes:
            break
        parts.append(chunk)
        used += size
    if not parts:
        raise ValueError(f"no standard-library module in {Path(stdlib_dir).name} fits in "
                         f"{max_bytes:,} bytes")
    return "".join(parts)


def _has_mark(text: str) -> bool:
    return text.startswith(FILE_MARK) or f"\n{FILE_MARK}" in text


def write_sequences(out_dir: Path, *, names: Mapping[str, list[str]],
                    series: Mapping[str, bytes], code: str, sources: Mapping[str, object]
                    ) -> dict:
    """Writes the prepared files (each atomically) and then manifest.json, which records every
    file's sha256 and size, the counts and `sources`: the manifest is written last, so its
    presence means the set is complete. Returns the manifest."""
    out_dir = Path(out_dir)
    blobs = {
        "names.json": json.dumps({"languages": {loc: LANGUAGES.get(loc, loc) for loc in names},
                                  "names": dict(names)}, ensure_ascii=False,
                                 indent=0).encode("utf-8") + b"\n",
        "sunspots.csv": series["sunspots"],
        "co2.csv": series["co2"],
        "python.txt": code.encode("utf-8"),
    }
    for fname, data in blobs.items():
        write_atomically(out_dir / fname, data)
    files = {fname: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
             for fname, data in blobs.items()}
    manifest = {"files": files, "sources": dict(sources),
                "counts": {"names": {loc: len(v) for loc, v in names.items()},
                           "python_files": code.count(FILE_MARK)}}
    for which in SERIES:
        manifest["counts"][which] = len(load_series(out_dir / f"{which}.csv", which).values)
    write_atomically(out_dir / "manifest.json",
                     json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8") + b"\n")
    return manifest


def check_sequences(out_dir: Path) -> dict:
    """The manifest of a complete, intact prepared set (every file present, with the sha256 the
    manifest records, and readable by its loader); DatasetMissing saying what is wrong
    otherwise."""
    out_dir = Path(out_dir)
    path = out_dir / "manifest.json"
    if not path.is_file():
        raise DatasetMissing(f"the sequence data is not prepared yet: {_hint()}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        files = manifest["files"]
        for fname in PREPARED_FILES:
            expected = files[fname]["sha256"]
            if sha256_file(out_dir / fname) != expected:
                raise ValueError(f"{fname} is not the file the manifest records")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetMissing(f"the sequence data in {out_dir.name}/ is incomplete or damaged "
                             f"({exc}): {_hint()}") from exc
    load_names(out_dir / "names.json")
    for which in SERIES:
        load_series(out_dir / f"{which}.csv", which)
    code_text(_read_text(out_dir / "python.txt", "the Python source text"))
    return manifest


def _hint() -> str:
    return (f"run `{SEQUENCES_COMMAND}` (or `{SEQUENCES_SCRIPT}`) once to prepare it; "
            "sine mixtures and your own uploads work without it")


# -------------------------------------------------------------------------------------- loading

def load_names(path: Path) -> dict[str, list[str]]:
    """{locale: [first names]} from the prepared names.json."""
    path = Path(path)
    raw = _read_text(path, "the names")
    try:
        names = json.loads(raw)["names"]
        if not (isinstance(names, dict) and names and all(
                isinstance(k, str) and isinstance(v, list) and v
                and all(isinstance(s, str) and s for s in v) for k, v in names.items())):
            raise ValueError("expected {locale: [name, ...]} with no empty lists")
    except (ValueError, KeyError, TypeError) as exc:
        raise DatasetMissing(f"{path.name} is unreadable ({exc}): delete it and {_hint()}") from exc
    return names


def names_text(names: Mapping[str, list[str]], locales: Sequence[str] | None = None, *,
               val_fraction: float = 0.1, seed: int = 0, name: str | None = None,
               title: str | None = None) -> TextCorpus:
    """The first names of the chosen locales (all by default) as one text, a name a line, for
    generating names character by character. A name in several locales appears once; the names
    are shuffled with the seed and split by name, so no name is in both train and val."""
    chosen = _check_locales(names, locales, at_least=1)
    check_fraction(val_fraction)
    unique = list(dict.fromkeys(n for loc in chosen for n in names[loc]))
    if len(unique) < 2:
        raise InputError(f"the chosen languages have {len(unique)} distinct names; at least 2 "
                         "are needed to hold some out for validation", "locales")
    order = np.random.default_rng(seed).permutation(len(unique))
    shuffled = [unique[i] for i in order]
    n_val = _n_val(len(shuffled), val_fraction)
    languages = [LANGUAGES.get(loc, loc) for loc in chosen]
    if name is None:
        name = "names" if locales is None else "names-" + "-".join(chosen)
    if title is None:
        title = (f"First names in {', '.join(languages)}" if len(languages) <= 3
                 else f"First names in {len(languages)} languages")
    return TextCorpus(name=name, title=title, train=_lines(shuffled[:-n_val]),
                      val=_lines(shuffled[-n_val:]))


def names_by_language(names: Mapping[str, list[str]], locales: Sequence[str] | None = None, *,
                      val_fraction: float = 0.1, seed: int = 0,
                      per_class_cap: int | None = None, name: str = "languages",
                      title: str | None = None) -> LabeledCorpus:
    """(name, language index) pairs for "which language is this name?". A name listed under more
    than one chosen locale is dropped: it has no single right answer (most of them are common
    international names, like Anna, that faker's English list also holds). Each language is
    shuffled with its own stream of the seed, capped at per_class_cap names (to balance English's
    thousands against Polish's ~70), and split on its own, so every language is in train and val;
    then each split is shuffled. Classes are language names ("German"), in the locales' order."""
    chosen = _check_locales(names, locales, at_least=2)
    check_fraction(val_fraction)
    if per_class_cap is not None and per_class_cap < 2:
        raise InputError(f"per_class_cap must be at least 2 (or none), got {per_class_cap}",
                         "per_class_cap")
    seen: dict[str, int] = {}
    for loc in chosen:
        for n in set(names[loc]):
            seen[n] = seen.get(n, 0) + 1
    train: list[tuple[str, int]] = []
    val: list[tuple[str, int]] = []
    for label, loc in enumerate(chosen):
        own = [n for n in dict.fromkeys(names[loc]) if seen[n] == 1]
        if len(own) < 2:
            raise InputError(f"{LANGUAGES.get(loc, loc)} has {len(own)} names no other chosen "
                             "language shares; at least 2 are needed", "locales")
        rng = np.random.default_rng([seed, zlib.crc32(loc.encode())])  # its own stream
        own = [own[i] for i in rng.permutation(len(own))][:per_class_cap]
        n_val = _n_val(len(own), val_fraction)
        train += [(n, label) for n in own[:-n_val]]
        val += [(n, label) for n in own[-n_val:]]
    rng = np.random.default_rng(seed)
    train = [train[i] for i in rng.permutation(len(train))]
    val = [val[i] for i in rng.permutation(len(val))]
    classes = tuple(LANGUAGES.get(loc, loc) for loc in chosen)
    return LabeledCorpus(name=name, title=title or f"First names by language ({len(classes)})",
                         classes=classes, train=train, val=val)


def load_code(path: Path, *, val_fraction: float = 0.1) -> TextCorpus:
    """The prepared python.txt as a TextCorpus (see code_text)."""
    return code_text(_read_text(Path(path), "the Python source text"), val_fraction=val_fraction)


def code_text(text: str, *, val_fraction: float = 0.1, name: str = "python",
              title: str | None = None) -> TextCorpus:
    """Source files joined as python_sources writes them, split by file at the "# file:" lines:
    the last val_fraction of the files (at least one) is the validation text."""
    check_fraction(val_fraction)
    starts = [0] if text.startswith(FILE_MARK) else []
    at = text.find("\n" + FILE_MARK)
    while at != -1:
        starts.append(at + 1)
        at = text.find("\n" + FILE_MARK, at + 1)
    if len(starts) < 2:
        raise InputError(f"the code text holds {len(starts)} files (lines starting "
                         f"{FILE_MARK.strip()!r}); at least 2 are needed to split by file", "file")
    files = [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]
    n_val = _n_val(len(files), val_fraction)
    head = text[:starts[0]]  # anything before the first mark stays with the training text
    return TextCorpus(name=name, title=title or f"Python standard-library source ({len(files)} "
                      "files)", train=head + "".join(files[:-n_val]), val="".join(files[-n_val:]))


def load_series(path_csv: Path, which: str) -> SeriesCorpus:
    """A prepared series: "sunspots" (yearly sunspot numbers 1700–2008, 309 values) or "co2"
    (Mauna Loa CO₂ in ppm: the weekly readings averaged by month, a month with no reading filled
    in linearly from its neighbours). The last 20% is held out for validation."""
    if which not in SERIES:
        raise InputError(f"which must be one of {', '.join(SERIES)}, got {which!r}", "which")
    path = Path(path_csv)
    raw = _read_text(path, f"the {which} series")
    try:
        rows = list(csv.reader(io.StringIO(raw)))
        values = _sunspots(rows) if which == "sunspots" else _co2_monthly(rows)
    except (ValueError, IndexError) as exc:
        raise DatasetMissing(f"{path.name} is unreadable ({exc}): delete it and {_hint()}") from exc
    title, unit = _SERIES_TITLES[which]
    return SeriesCorpus(name=which, title=title, values=values,
                        val_from=len(values) - _n_val(len(values), 0.2), unit=unit)


def _sunspots(rows: list[list[str]]) -> np.ndarray:
    if [c.strip().upper() for c in rows[0]] != ["YEAR", "SUNACTIVITY"]:
        raise ValueError(f"expected the header YEAR,SUNACTIVITY, got {','.join(rows[0])}")
    body = [r for r in rows[1:] if r]
    years = [int(float(r[0])) for r in body]
    if years != list(range(years[0], years[0] + len(years))):
        raise ValueError("the years are not consecutive")
    return _finite32([float(r[1]) for r in body])


def _co2_monthly(rows: list[list[str]]) -> np.ndarray:
    if [c.strip().lower() for c in rows[0]] != ["date", "co2"]:
        raise ValueError(f"expected the header date,co2, got {','.join(rows[0])}")
    by_month: dict[int, list[float]] = {}
    for r in rows[1:]:
        if not r:
            continue
        date = r[0].strip()
        if len(date) != 8 or not date.isdigit():
            raise ValueError(f"expected a date as YYYYMMDD, got {date!r}")
        month = int(date[:4]) * 12 + int(date[4:6]) - 1  # months since year 0
        if len(r) > 1 and r[1].strip():
            by_month.setdefault(month, []).append(float(r[1]))
    if not by_month:
        raise ValueError("no CO₂ readings")
    first, last = min(by_month), max(by_month)
    months = np.arange(first, last + 1)
    have = np.array(sorted(by_month))
    means = np.array([np.mean(by_month[m]) for m in have])
    return _finite32(np.interp(months, have, means))  # months without a reading: linear


def sine_mixture(*, length: int = 600, seed: int = 0, components: int = 3,
                 noise: float = 0.05) -> SeriesCorpus:
    """A generated series (always available): `components` sines with seeded periods of 8–80
    steps, amplitudes 0.3–1 and phases, plus Gaussian noise of standard deviation `noise`. The
    last 20% is held out. Upper bounds on length and components are the caller's limits."""
    if length < _MIN_SERIES:
        raise InputError(f"length must be at least {_MIN_SERIES}, got {length}", "length")
    if components < 1:
        raise InputError(f"components must be at least 1, got {components}", "components")
    if not (math.isfinite(noise) and noise >= 0):
        raise InputError(f"noise must be a number of at least 0, got {noise}", "noise")
    rng = np.random.default_rng(seed)
    periods = rng.uniform(8, 80, components)
    amplitudes = rng.uniform(0.3, 1.0, components)
    phases = rng.uniform(0, 2 * np.pi, components)
    t = np.arange(length)[:, None]  # (T, 1)
    values = (amplitudes * np.sin(2 * np.pi * t / periods + phases)).sum(axis=1)  # (T,)
    values = values + noise * rng.standard_normal(length)
    return SeriesCorpus(name="sines", title=f"Sine mixture ({components} components, seed {seed})",
                        values=values.astype(np.float32),
                        val_from=length - _n_val(length, 0.2))


# -------------------------------------------------------------------------------------- uploads

def text_upload(data: bytes, *, name: str, max_bytes: int, val_fraction: float = 0.1,
                title: str | None = None) -> TextCorpus:
    """An uploaded text file as a corpus. Strict UTF-8 (a leading byte-order mark is dropped),
    line endings made "\n". Split by lines, the last val_fraction of them (at least one) held
    out; a text of fewer than 10 lines is split by characters instead."""
    name = check_name(name, "corpus")
    check_fraction(val_fraction)
    text = _decode_upload(data, max_bytes)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise InputError(f"the file is empty or only whitespace; upload a UTF-8 text of at "
                         f"least {_MIN_TEXT_CHARS} characters", "file")
    if "\x00" in text:
        raise InputError("the file holds NUL characters, so it is not a text file; upload a "
                         "UTF-8 text", "file")
    if len(text) < _MIN_TEXT_CHARS:
        raise InputError(f"the file holds {len(text)} characters; at least {_MIN_TEXT_CHARS} "
                         "are needed to learn from", "file")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it does not start another
    if len(lines) >= 10:
        n_val = _n_val(len(lines), val_fraction)
        train, val = _lines(lines[:-n_val]), _lines(lines[-n_val:])
    else:
        cut = len(text) - _n_val(len(text), val_fraction)
        train, val = text[:cut], text[cut:]
    return TextCorpus(name=name, title=title or name, train=train, val=val)


def csv_column(data: bytes, *, name: str, column: str | None = None, max_bytes: int,
               title: str | None = None) -> SeriesCorpus:
    """A series from one column of an uploaded CSV (comma, semicolon or tab separated; strict
    UTF-8): the column named `column`, or else the first column whose every cell is a number.
    Blank cells ("", NA, NaN, null) inside the series are filled in linearly from their
    neighbours; blank cells at its start or end are dropped. A first row of numbers is data, not
    a header (the columns are then "column 1", "column 2", …). The last 20% is held out."""
    name = check_name(name, "corpus")
    text = _decode_upload(data, max_bytes)
    if not text.strip():
        raise InputError("the file is empty; upload a CSV with a column of at least "
                         f"{_MIN_SERIES} numbers", "file")
    if "\x00" in text:
        raise InputError("the file holds NUL characters, so it is not a CSV text file", "file")
    sample = text[:8192]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = [r for r in csv.reader(io.StringIO(text, newline=""), dialect) if any(
            c.strip() for c in r)]
    except csv.Error as exc:
        raise InputError(f"the file is not a readable CSV ({exc})", "file") from exc
    if not rows:
        raise InputError("the file holds no rows; upload a CSV with a column of at least "
                         f"{_MIN_SERIES} numbers", "file")
    width = max(len(r) for r in rows)
    if all(_number(c) is not None for c in rows[0]):
        header = [f"column {i + 1}" for i in range(width)]
    else:
        header = [c.strip() for c in rows[0]] + [f"column {i + 1}"
                                                 for i in range(len(rows[0]), width)]
        rows = rows[1:]
    cells = [[r[i] if i < len(r) else "" for r in rows] for i in range(width)]  # by column
    listed = ", ".join(repr(h) for h in header)
    if column is None:
        for i in range(width):
            nums = _numeric(cells[i])
            if nums is not None and any(v is not None for v in nums):
                col, values = header[i], nums
                break
        else:
            raise InputError(f"no column holds only numbers; the columns are {listed}", "file")
    else:
        if column.strip() not in header:
            raise InputError(f"there is no column {column!r}; the columns are {listed}",
                             "column")
        i = header.index(column.strip())
        col, values = header[i], _numeric(cells[i])
        if values is None:
            row, bad = next((j, c) for j, c in enumerate(cells[i])
                            if _number(c) is None and c.strip().lower() not in _BLANKS)
            raise InputError(f"column {col!r} holds {bad.strip()[:40]!r} in data row {row + 1}, "
                             "which is not a number; pick a column of numbers", "column")
    present = np.array([v is not None for v in values])
    count = int(present.sum())
    if count < _MIN_SERIES:
        raise InputError(f"column {col!r} holds {count} numbers; at least {_MIN_SERIES} are "
                         "needed", "column" if column is not None else "file")
    idx = np.flatnonzero(present)
    span = np.arange(idx[0], idx[-1] + 1)
    known = np.array([values[j] for j in idx], dtype=np.float64)
    series = np.interp(span, idx, known)  # blanks inside the series: linear
    if not np.all(np.abs(series) < 3e38):
        raise InputError(f"column {col!r} holds numbers too large for float32 (±3e38)", "column")
    return SeriesCorpus(name=name, title=title or f"{name}: {col}",
                        values=series.astype(np.float32),
                        val_from=len(series) - _n_val(len(series), 0.2))


def _number(cell: str) -> float | None:
    try:
        v = float(cell.strip())
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _numeric(cells: list[str]) -> list[float | None] | None:
    """The column's numbers (None for a blank cell), or None if a cell is something else."""
    out: list[float | None] = []
    for c in cells:
        if c.strip().lower() in _BLANKS:
            out.append(None)
        elif (v := _number(c)) is not None:
            out.append(v)
        else:
            return None
    return out


def _decode_upload(data: bytes, max_bytes: int) -> str:
    if len(data) > max_bytes:
        raise InputError(f"the file is {len(data):,} bytes; at most {max_bytes:,} are allowed",
                         "file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} at byte "
                         f"offset {exc.start:,} cannot be decoded); save it as UTF-8 and upload "
                         "it again", "file") from exc
    return text.removeprefix("\ufeff")


# ------------------------------------------------------------------------------------- helpers

def _read_text(path: Path, what: str) -> str:
    if not path.is_file():
        raise DatasetMissing(f"{what} is not prepared yet ({path.name} is missing): {_hint()}")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetMissing(f"{path.name} is unreadable ({exc}): delete it and {_hint()}") from exc


def _check_locales(names: Mapping[str, list[str]], locales: Sequence[str] | None,
                   at_least: int) -> list[str]:
    chosen = list(names) if locales is None else list(dict.fromkeys(locales))
    unknown = [loc for loc in chosen if loc not in names]
    if unknown:
        raise InputError(f"unknown locale {unknown[0]!r}; the locales are "
                         f"{', '.join(names)}", "locales")
    if len(chosen) < at_least:
        raise InputError(f"choose at least {at_least} language{'s' if at_least > 1 else ''}, got "
                         f"{len(chosen)}", "locales")
    return chosen


def _n_val(n: int, fraction: float) -> int:
    # At least one held out and at least one kept (n >= 2 is checked by the callers).
    return min(max(round(n * fraction), 1), n - 1)


def _lines(items: Sequence[str]) -> str:
    return "\n".join(items) + "\n"


def _finite32(values: Sequence[float] | np.ndarray) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    if a.size < 2 or not np.all(np.isfinite(a)) or not np.all(np.abs(a) < 3e38):
        raise ValueError("the series must hold at least 2 finite numbers")
    return a.astype(np.float32)


