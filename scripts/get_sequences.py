"""Prepares the sequence lab's data once: names, two time series and Python source (run by
`make setup`).

    python scripts/get_sequences.py [--out data/sequences]

- Names: the person providers of the faker 40.63.0 wheel (MIT), read as source text with ast;
  the wheel's sha256 is checked first.
- Sunspots (yearly, 1700-2008) and Mauna Loa CO2 (weekly, 1958-2001): the CSVs in the
  statsmodels 0.14.6 wheel. The design names 0.15.0, but the package index this setup reaches
  has no 0.15.0; 0.14.6 holds byte-identical CSVs (the same sha256 as the design's). pip picks
  the wheel built for this machine; the wheels differ per platform, so the wheel's own hash is
  not checked, only each CSV's, before it is written.
- Python source: this Python's own standard library (nothing downloaded; python.txt is written
  first, so it is there even when the downloads fail).

Neither wheel is installed, only downloaded into a temporary folder and read as a zip. A
complete set whose files match its manifest is left untouched ("ready"); otherwise everything
is fetched again. Without network the app still works: sine mixtures and uploads need none.
"""

from __future__ import annotations

import argparse
import platform
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from app.core.corpora import (
    FAKER_WHEEL,
    LANGUAGES,
    MIN_NAMES,
    STATSMODELS_CSV_SHA256,
    STATSMODELS_WHEEL,
    check_sequences,
    names_from_faker,
    python_sources,
    series_from_statsmodels,
    write_sequences,
)
from app.core.datasets import DatasetMissing, HashMismatch, sha256_file, write_atomically
from app.services.wheels import DownloadFailed, download_wheel

ROOT = Path(__file__).resolve().parents[1]
CODE_BYTES = 400_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "sequences",
                        help="folder for the prepared files (default: data/sequences in the repo)")
    args = parser.parse_args(argv)
    out: Path = args.out

    if (out / "manifest.json").is_file():
        try:
            manifest = check_sequences(out)
        except DatasetMissing as exc:  # incomplete or damaged: prepare it again
            print(f"{exc.message}; preparing it again")
        else:
            print(f"Sequence data is ready: {out} ({_summary(manifest)})")
            return 0

    start = time.perf_counter()
    code = python_sources(Path(sysconfig.get_paths()["stdlib"]), CODE_BYTES)
    write_atomically(out / "python.txt", code.encode("utf-8"))  # needs no network: works offline
    with tempfile.TemporaryDirectory(prefix="sequences-") as tmp:
        wheels = {}
        for spec, size in ((FAKER_WHEEL, "2 MB"), (STATSMODELS_WHEEL, "10 MB")):
            print(f"Downloading {spec} (about {size}, not installed)...")
            try:
                wheels[spec] = download_wheel(spec, Path(tmp) / spec.split("==")[0])
            except DownloadFailed as exc:
                print(f"error: {exc}; the names, sunspots and CO2 corpora are not available "
                      "(sine mixtures and uploads still work)", file=sys.stderr)
                return 1
        try:
            names = names_from_faker(wheels[FAKER_WHEEL], LANGUAGES)
            series = series_from_statsmodels(wheels[STATSMODELS_WHEEL])
        except (HashMismatch, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        small = {loc: len(v) for loc, v in names.items() if len(v) < MIN_NAMES}
        if small:
            print(f"error: too few names (fewer than {MIN_NAMES}) for {small}", file=sys.stderr)
            return 1
        faker, statsmodels = wheels[FAKER_WHEEL], wheels[STATSMODELS_WHEEL]
        sources = {
            "faker": {"wheel": faker.name, "version": FAKER_WHEEL.split("==")[1],
                      "sha256": sha256_file(faker), "license": "MIT",
                      "read": "faker/providers/person/<locale>/__init__.py"},
            "statsmodels": {"wheel": statsmodels.name,
                            "version": STATSMODELS_WHEEL.split("==")[1],
                            "files": dict(STATSMODELS_CSV_SHA256), "license": "BSD-3-Clause"},
            "python": {"version": platform.python_version(),
                       "what": "top-level standard-library modules, in name order",
                       "max_bytes": CODE_BYTES, "license": "PSF-2.0"},
        }
        manifest = write_sequences(out, names=names, series=series, code=code, sources=sources)
    check_sequences(out)
    size = sum(f["bytes"] for f in manifest["files"].values())
    print(f"Wrote {out} ({size / 1e6:.1f} MB: {_summary(manifest)}) "
          f"in {time.perf_counter() - start:.1f} s")
    return 0


def _summary(manifest: dict) -> str:
    counts = manifest["counts"]
    return (f"{sum(counts['names'].values()):,} names in {len(counts['names'])} languages, "
            f"{counts['sunspots']} years of sunspots, {counts['co2']} months of CO2, "
            f"{counts['python_files']} Python files")


if __name__ == "__main__":
    sys.exit(main())
