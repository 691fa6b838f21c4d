"""The sequence lab's datasets, by name: first names (all languages, one language, or labelled by
language), Python's own source code, sunspots and CO₂ (all prepared by `make setup`), generated
sine mixtures (always there) and texts or CSV columns uploaded by users (kept on disk).

Plain Python (no web imports): the training process opens the same catalog to load its data.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from app.core import corpora
from app.core.corpora import Corpus, LabeledCorpus, TextCorpus
from app.core.datasets import DatasetMissing, write_atomically
from app.services.errors import Conflict, Invalid, NotFound, TooLarge
from app.services.owners import LOCAL, Actor, UploadCaps, check_room, require_owner

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
SETUP = ("run `make setup` (it prepares the sequence data once, from the faker and statsmodels "
         "wheels)")


class UnknownCorpus(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"no sequence dataset named {name!r}", "dataset",
                         listing="sequence-datasets")


# The tasks a kind of corpus can train: characters to generate, names to classify, numbers to
# forecast.
TASKS = {"text": ("generate",), "labeled": ("classify",), "series": ("forecast",)}


def kind_of(corpus: Corpus) -> str:
    if isinstance(corpus, TextCorpus):
        return "text"
    return "labeled" if isinstance(corpus, LabeledCorpus) else "series"


@dataclass(frozen=True)
class CorpusInfo:
    name: str
    title: str
    kind: str  # "text", "labeled" or "series"
    source: str  # "builtin" or "upload"
    available: bool
    message: str = ""  # why it is not available, and how to make it so
    tasks: tuple[str, ...] = ()
    size: dict = field(default_factory=dict)  # train/val characters, names or values
    classes: tuple[str, ...] = ()
    preview: str = ""  # the first characters, names or values


def info_of(name: str, corpus: Corpus, source: str) -> CorpusInfo:
    """What the catalog says of a corpus under its name in the catalog."""
    kind = kind_of(corpus)
    if isinstance(corpus, TextCorpus):
        size = {"train_chars": len(corpus.train), "val_chars": len(corpus.val)}
        preview, classes = corpus.train[:160], ()
    elif isinstance(corpus, LabeledCorpus):
        size = {"train_names": len(corpus.train), "val_names": len(corpus.val)}
        preview = ", ".join(f"{t} ({corpus.classes[c]})" for t, c in corpus.train[:6])
        classes = corpus.classes
    else:
        size = {"train_values": corpus.val_from,
                "val_values": int(len(corpus.values) - corpus.val_from)}
        preview = ", ".join(f"{v:g}" for v in corpus.values[:12].tolist())
        classes = ()
    return CorpusInfo(name=name, title=corpus.title, kind=kind, source=source,
                      available=True, tasks=TASKS[kind], size=size, classes=classes,
                      preview=preview)


@dataclass(frozen=True)
class CorporaConfig:
    """Where the prepared files and the uploads live (picklable, for the training process)."""

    directory: Path  # data_dir/sequences
    max_uploads: int = 20
    max_text_bytes: int = 5_000_000

    @property
    def uploads(self) -> Path:
        return self.directory / "uploads"


class Corpora:
    """Sequence datasets by name; built-in ones are cached once loaded (a few MB at most)."""

    def __init__(self, config: CorporaConfig) -> None:
        self.config = config
        self._cache: dict[str, Corpus] = {}
        self._names_cache: dict[str, list[str]] | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------ built-in

    def _names(self) -> dict[str, list[str]]:
        """names.json, read once: 17 built-in corpora are made from it."""
        with self._lock:
            if self._names_cache is None:
                self._names_cache = corpora.load_names(self.config.directory / "names.json")
            return self._names_cache

    def _builtin(self) -> dict[str, str]:
        """Built-in names and titles; those made from the prepared files only when they exist."""
        out: dict[str, str] = {}
        names_file = self.config.directory / "names.json"
        if names_file.is_file():
            out["names"] = "First names, every language"
            out["names-by-language"] = "First names labelled by language"
            for language in corpora.LANGUAGES.values():
                out[_language_dataset(language)] = f"First names: {language}"
        else:
            out["names"] = "First names, every language"
        out["python-code"] = "Python's standard library source"
        out["sunspots"] = "Yearly sunspot numbers, 1700–2008"
        out["co2"] = "Monthly CO₂ at Mauna Loa, 1958–2001"
        out["sine"] = "A mixture of sine waves (generated)"
        return out

    def _load_builtin(self, name: str) -> Corpus:
        d = self.config.directory
        if name == "sine":
            return corpora.sine_mixture(seed=0)
        if name == "names":
            return corpora.names_text(self._names(), name="names",
                                      title="First names, every language")
        if name == "names-by-language":
            # English alone has ~5,000 names: a cap keeps one language from being the answer
            return corpora.names_by_language(self._names(), name=name, per_class_cap=1000,
                                             title="First names labelled by language")
        for locale, language in corpora.LANGUAGES.items():
            if name == _language_dataset(language):
                return corpora.names_text(self._names(), [locale], name=name,
                                          title=f"First names: {language}")
        if name == "python-code":
            return corpora.code_text(_read_prepared(d / "python.txt"), name=name,
                                     title="Python's standard library source")
        if name in ("sunspots", "co2"):
            return corpora.load_series(d / f"{name}.csv", name)
        raise UnknownCorpus(name)

    # ------------------------------------------------------------ the catalog

    def names(self) -> list[str]:
        return list(self._builtin()) + sorted(self._uploads())

    def list(self) -> list[CorpusInfo]:
        out = []
        for name, title in self._builtin().items():
            try:
                out.append(info_of(name, self.load(name), "builtin"))
            except DatasetMissing:
                out.append(CorpusInfo(name=name, title=title, kind=_BUILTIN_KIND.get(
                    name, "text"), source="builtin", available=False,
                    message=f"not prepared yet: {SETUP}"))
        for name in sorted(self._uploads()):
            try:
                out.append(info_of(name, self.load(name), "upload"))
            except (Invalid, OSError, ValueError):
                continue  # a broken upload is not listed
        return out

    def info(self, name: str) -> CorpusInfo:
        return info_of(name, self.load(name),
                       "upload" if name in self._uploads() else "builtin")

    def load(self, name: str) -> Corpus:
        """The corpus; UnknownCorpus for a name it does not hold, DatasetMissing (a 404 naming
        `make setup`) for a built-in one that is not prepared."""
        with self._lock:
            if name in self._cache:
                return self._cache[name]
        uploads = self._uploads()
        if name in uploads:
            corpus = self._load_upload(name, uploads[name])
        elif name in self._builtin():
            corpus = self._load_builtin(name)
        else:
            raise UnknownCorpus(name)
        with self._lock:
            self._cache[name] = corpus
        return corpus

    # ------------------------------------------------------------ uploads

    def _uploads(self) -> dict[str, Path]:
        d = self.config.uploads
        if not d.is_dir():
            return {}
        return {p.stem: p for p in d.iterdir() if p.suffix in (".txt", ".csv")}

    def _load_upload(self, name: str, path: Path) -> Corpus:
        meta = _read_meta(path.with_suffix(".json"))
        data = path.read_bytes()
        if path.suffix == ".txt":
            return corpora.text_upload(data, name=name, title=meta.get("title", name),
                                       max_bytes=self.config.max_text_bytes)
        return corpora.csv_column(data, name=name, title=meta.get("title", name),
                                  column=meta.get("column"), max_bytes=self.config.max_text_bytes)

    def add_upload(self, name: str, filename: str, data: bytes, *, column: str | None = None,
                   actor: Actor = LOCAL, caps: UploadCaps | None = None) -> CorpusInfo:
        """A `.txt` (characters to generate) or a `.csv` (a numeric column to forecast), checked
        by loading it before it is kept; in shared mode its uploader owns it."""
        if not NAME.match(name):
            raise Invalid("name must be 1 to 40 lowercase letters, digits, '-' or '_', starting "
                          "with a letter or digit", "name")
        if name in self._builtin() or name in self._uploads():
            raise Conflict(f"a sequence dataset named {name!r} exists; choose another name",
                           "name")
        suffix = Path(filename or "").suffix.lower()
        if suffix not in (".txt", ".csv"):
            raise Invalid(f"the file must be a .txt (text to model) or a .csv (a column of "
                          f"numbers), got {filename!r}", "file")
        if len(data) > self.config.max_text_bytes:
            raise TooLarge(f"the file is {len(data):,} bytes; at most "
                           f"{self.config.max_text_bytes:,} are taken", "file")
        if len(self._uploads()) >= self.config.max_uploads:
            raise Conflict(f"{self.config.max_uploads} sequence datasets are uploaded, the most "
                           "kept; delete one first", "name")
        check_room(actor, [p.stat().st_size for n, p in self._uploads().items()
                           if self.owner(n) == actor.owner], len(data), caps,
                   "sequence datasets")
        title = Path(filename).name[:80]
        if suffix == ".txt":
            corpus: Corpus = corpora.text_upload(data, name=name, title=title,
                                                 max_bytes=self.config.max_text_bytes)
        else:
            corpus = corpora.csv_column(data, name=name, title=title, column=column or None,
                                        max_bytes=self.config.max_text_bytes)
        d = self.config.uploads
        d.mkdir(parents=True, exist_ok=True)
        write_atomically(d / f"{name}.json", json.dumps({"title": title, "column": column or None,
                                                      "owner": actor.owner}).encode())
        write_atomically(d / f"{name}{suffix}", data)
        return info_of(name, corpus, "upload")

    def owner(self, name: str) -> str | None:
        """Who uploaded it, in shared mode (None: built in, or uploaded off shared mode)."""
        path = self._uploads().get(name)
        owner = _read_meta(path.with_suffix(".json")).get("owner") if path else None
        return owner if isinstance(owner, str) else None

    def delete(self, name: str, actor: Actor = LOCAL) -> None:
        uploads = self._uploads()
        if name not in uploads:
            if name in self._builtin():
                raise Conflict(f"{name!r} is built in and cannot be deleted; only uploaded "
                               "sequence datasets can", "name")
            raise UnknownCorpus(name)
        require_owner(actor, self.owner(name), f"sequence dataset {name!r}",
                      "train on it", "name")
        uploads[name].unlink()
        uploads[name].with_suffix(".json").unlink(missing_ok=True)
        with self._lock:
            self._cache.pop(name, None)


_BUILTIN_KIND = {"names-by-language": "labeled", "sunspots": "series", "co2": "series",
                 "sine": "series"}


def _language_dataset(language: str) -> str:
    return "names-" + re.sub(r"[^a-z0-9]+", "-", language.lower()).strip("-")


def _read_prepared(path: Path) -> str:
    if not path.is_file():
        raise DatasetMissing(f"{path.name} is not prepared: {SETUP}")
    return path.read_text(encoding="utf-8")


def _read_meta(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


