"""Fetches the kernel lab's real photographs once (run by `make setup`).

    python scripts/get_photos.py [--out data/photos]

Three PNGs of scikit-image's test data, from the scikit-image 0.26.0 wheel on the Python package
index: astronaut.png (Eileen Collins, NASA; public domain), chelsea.png (the cat, by Stéfan van
der Walt; CC0) and coffee.png (by Rachel Michetti; CC0). The wheel (about 13 MB) is only
downloaded into a temporary folder and read as a zip, never installed. pip picks the wheel built
for this machine; the wheels differ per platform, so the wheel's own hash is not checked, only
each PNG's, before anything is written. A complete set with the pinned hashes is left untouched
("ready"). Without the photos the app still works, on the drawn samples.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from app.core.datasets import DatasetMissing, HashMismatch
from app.core.photos import PHOTOS, SKIMAGE_WHEEL, check_photos, extract_photos
from app.services.wheels import DownloadFailed, download_wheel

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "photos",
                        help="folder for the PNGs (default: data/photos in the repo)")
    args = parser.parse_args(argv)
    out: Path = args.out

    if out.is_dir():
        try:
            check_photos(out, PHOTOS)
        except DatasetMissing as exc:  # missing or damaged: fetch them again
            print(f"{exc.message}; fetching them again")
        else:
            print(f"The photos are ready: {out} ({_names()})")
            return 0

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="photos-") as tmp:
        print(f"Downloading {SKIMAGE_WHEEL} (about 13 MB, not installed)...")
        try:
            wheel = download_wheel(SKIMAGE_WHEEL, Path(tmp))
        except DownloadFailed as exc:
            print(f"error: {exc}; the photos are not available, the drawn samples still work",
                  file=sys.stderr)
            return 1
        try:
            sizes = extract_photos(wheel, out, PHOTOS)
        except (HashMismatch, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    check_photos(out, PHOTOS)
    print(f"Wrote {out} ({sum(sizes.values()) / 1e6:.1f} MB: {_names()}) "
          f"in {time.perf_counter() - start:.1f} s")
    return 0


def _names() -> str:
    return ", ".join(p.file for p in PHOTOS)


if __name__ == "__main__":
    sys.exit(main())
