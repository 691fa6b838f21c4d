"""Browser tests: the real app under uvicorn, driven in Debian's Chromium by Playwright.

Screenshots go to test-artifacts/screenshots/ so a person can look at what a student sees.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


def _chromium() -> str:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser",
                      shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError("Chromium not found: install Debian's 'chromium' package or set CHROMIUM")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    # runs and saved models of the tests go to a scratch data directory; MNIST comes along
    # (read-only) when it is set up
    data_dir = tmp_path_factory.mktemp("data")
    if (ROOT / "data" / "mnist.npz").exists():
        (data_dir / "mnist.npz").symlink_to(ROOT / "data" / "mnist.npz")
    # the prepared sequence data and the kernel lab's photos likewise, file by file, so that
    # uploads stay in the scratch
    for folder in ("sequences", "photos"):
        prepared = ROOT / "data" / folder
        if prepared.is_dir():
            (data_dir / folder).mkdir()
            for f in prepared.iterdir():
                if f.is_file():
                    (data_dir / folder / f.name).symlink_to(f)
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env={**os.environ, "PLAYGROUND_DATA_DIR": str(data_dir)},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/api/v1/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        proc.kill()
        raise RuntimeError("the app did not start within 30 s")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


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
