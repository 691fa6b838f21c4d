from __future__ import annotations

import html as html_text
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import ROOT, Settings
from tests.mnist import HAVE_MNIST


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app on a scratch data directory (with the real MNIST when it is set up): the pages'
    fragments, as htmx asks for them."""
    data = tmp_path_factory.mktemp("data")
    if HAVE_MNIST:
        (data / "mnist.npz").symlink_to(ROOT / "data" / "mnist.npz")
    with TestClient(create_app(Settings(data_dir=data))) as c:
        yield c


def slot(html: str, field: str) -> str:
    """The text of the error slot beside a field's control (empty when there is no error)."""
    found = re.search(rf'id="error-{re.escape(field)}"[^>]*>(.*?)</p>', html, re.S)
    assert found, f"no error slot for {field!r} in the fragment"
    return html_text.unescape(found.group(1).strip())
