from __future__ import annotations

import html as html_text
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app on a scratch data directory: the pages' fragments, as htmx asks for them."""
    with TestClient(create_app(Settings(data_dir=tmp_path_factory.mktemp("data")))) as c:
        yield c


def slot(html: str, field: str) -> str:
    """The text of the error slot beside a field's control (empty when there is no error)."""
    found = re.search(rf'id="error-{re.escape(field)}"[^>]*>(.*?)</p>', html, re.S)
    assert found, f"no error slot for {field!r} in the fragment"
    return html_text.unescape(found.group(1).strip())
