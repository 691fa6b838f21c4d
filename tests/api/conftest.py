from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.main import create_app
from app.settings import Settings

MAX_BODY = 300_000


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(max_upload_bytes=MAX_BODY))) as c:
        yield c


def png_bytes(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def mnist_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app with a scratch data directory that holds the real MNIST when it is set up."""
    from app.settings import ROOT  # the repository's data/

    data = tmp_path_factory.mktemp("data")
    if (ROOT / "data" / "mnist.npz").exists():
        (data / "mnist.npz").symlink_to(ROOT / "data" / "mnist.npz")
    with TestClient(create_app(Settings(data_dir=data))) as c:
        yield c
