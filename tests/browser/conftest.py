"""Browser tests: the real app under uvicorn, driven in Debian's Chromium by Playwright.

Screenshots go to test-artifacts/screenshots/ so a person can look at what a student sees.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.servers import scratch_data_dir, served

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


def _chromium() -> str:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser",
                      shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError("Chromium not found: install Debian's 'chromium' package or set CHROMIUM")


@pytest.fixture(scope="session")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # runs and saved models of the tests go to a scratch data directory; MNIST, the sequence
    # data and the photos come along (read-only) where they are set up
    with served(scratch_data_dir(tmp_path_factory.mktemp("data"))) as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=_chromium(),
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield p
    context.close()
    # hx-sync="this:replace" aborts a render that a newer keystroke supersedes; htmx logs that
    # abort (and the aborted request's end) as errors, but it is the intended behaviour.
    if any(e.startswith("htmx:sendAbort") for e in errors):
        errors = [e for e in errors if not e.startswith(("htmx:sendAbort", "htmx:afterRequest"))]
    # Chromium logs every 4xx answer to fetch(); a 422 is the API refusing input a test typed
    # on purpose, which the page shows in place. Any other failed load is a bug.
    errors = [e for e in errors if "responded with a status of 422" not in e]
    assert not errors, f"the page logged errors: {errors}"


def screenshot(page: Page, name: str, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
