"""A real app under uvicorn for the tests that need one (the browser, the notebook, the schema
fuzzer): a scratch data directory, so runs, uploads and saved models stay out of the
checkout's, with the prepared data linked in read-only."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from app.settings import ROOT
from bench.harness import free_port, start_server, stop_server, wait_ready


def scratch_data_dir(data_dir: Path) -> Path:
    """Links MNIST, the sequence data and the kernel lab's photos into `data_dir` where they
    are set up: MNIST as a file, the folders file by file, so that uploads stay in the
    scratch."""
    if (ROOT / "data" / "mnist.npz").exists():
        (data_dir / "mnist.npz").symlink_to(ROOT / "data" / "mnist.npz")
    for folder in ("sequences", "photos"):
        prepared = ROOT / "data" / folder
        if prepared.is_dir():
            (data_dir / folder).mkdir()
            for f in prepared.iterdir():
                if f.is_file():
                    (data_dir / folder / f.name).symlink_to(f)
    return data_dir


@contextmanager
def served(data_dir: Path, **settings: str) -> Iterator[str]:
    """The app on a free localhost port, with PLAYGROUND_* `settings` (DATA_DIR is
    `data_dir`); yields its URL, and stops it with SIGTERM afterwards (its log is printed when
    the shutdown was not clean)."""
    port = free_port()
    with tempfile.TemporaryFile() as log:
        proc = start_server(port, None, log, {"DATA_DIR": str(data_dir), **settings})
        try:
            url = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=url, timeout=30) as client:
                wait_ready(proc, client)
            yield url
        finally:
            stop_server(proc, log)
