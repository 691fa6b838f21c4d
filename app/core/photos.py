"""Real photographs for the kernel lab, beside the drawn samples: three PNGs of scikit-image's
test data, taken by the setup (scripts/get_photos.py, run by `make setup`) from the
scikit-image 0.26.0 wheel, downloaded but never installed. Nothing here touches the network.

- astronaut.png: Eileen Collins, from NASA's Great Images database (public domain), 512×512.
- chelsea.png: Chelsea the cat, by Stéfan van der Walt (CC0), 451×300.
- coffee.png: a cup of coffee, by Rachel Michetti, courtesy of Pikolo Espresso Bar (CC0), 600×400.

The wheel is built per platform, so its own hash differs from machine to machine; the PNGs
inside are the same bytes in every build, so each file's sha256 is what is pinned.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from app.core.datasets import DatasetMissing, read_checked, sha256_file, write_atomically

SKIMAGE_WHEEL = "scikit-image==0.26.0"
PHOTOS_COMMAND = "make setup"
PHOTOS_SCRIPT = "python scripts/get_photos.py"


@dataclass(frozen=True)
class Photo:
    key: str  # the sample's id is f"sample-{key}"
    title: str  # short: the picker's label under a 64 px thumbnail
    credit: str  # who took it and its licence, shown beside the title
    file: str  # the name in the prepared folder
    member: str  # the path inside the wheel
    sha256: str


PHOTOS: tuple[Photo, ...] = (
    Photo("astronaut", "Astronaut (photo)",
          "Eileen Collins, NASA Great Images; public domain", "astronaut.png",
          "skimage/data/astronaut.png",
          "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"),
    Photo("cat", "Cat (photo)",
          "Chelsea the cat, by Stéfan van der Walt; CC0", "chelsea.png",
          "skimage/data/chelsea.png",
          "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb"),
    Photo("coffee", "Coffee (photo)",
          "Rachel Michetti, courtesy of Pikolo Espresso Bar; CC0", "coffee.png",
          "skimage/data/coffee.png",
          "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7"),
)


def extract_photos(wheel: Path, out_dir: Path, photos: tuple[Photo, ...] = PHOTOS
                   ) -> dict[str, int]:
    """Reads every photo from the wheel (a zip), each refused (HashMismatch, naming the member)
    unless its sha256 is the pinned one, and only then writes them, each atomically, into
    out_dir. Returns {file name: bytes}."""
    wheel = Path(wheel)
    with zipfile.ZipFile(wheel) as zf:
        blobs = {p.file: read_checked(zf, wheel.name, p.member, p.sha256) for p in photos}
    for fname, data in blobs.items():
        write_atomically(Path(out_dir) / fname, data)
    return {fname: len(data) for fname, data in blobs.items()}


def check_photos(out_dir: Path, photos: tuple[Photo, ...] = PHOTOS) -> None:
    """Nothing when every photo is in out_dir with its pinned sha256; DatasetMissing naming
    the first one missing or different otherwise."""
    for p in photos:
        path = Path(out_dir) / p.file
        if not path.is_file():
            raise DatasetMissing(f"the photo {p.file} is not prepared yet: {_hint()}", "image_id")
        if sha256_file(path) != p.sha256:
            raise DatasetMissing(f"the photo {p.file} is not the published file: {_hint()}",
                                 "image_id")


def present_photos(out_dir: Path | None, photos: tuple[Photo, ...] = PHOTOS
                   ) -> list[tuple[Photo, Path]]:
    """The photos whose file is in out_dir, in PHOTOS order (the setup checked their hashes;
    the app only decodes them, within its usual limits)."""
    if out_dir is None:
        return []
    return [(p, Path(out_dir) / p.file) for p in photos if (Path(out_dir) / p.file).is_file()]


def _hint() -> str:
    return (f"run `{PHOTOS_COMMAND}` (or `{PHOTOS_SCRIPT}`) once to fetch the photos; the drawn "
            "samples and your own uploads work without them")
