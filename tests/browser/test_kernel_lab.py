"""The kernel lab in a real browser: upload, edit a cell, pick a preset, build a bank, and a
keystroke in the grid that redraws the image but not the bank."""

from __future__ import annotations

import io
import os
import re

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from tests.browser.conftest import ROOT, screenshot


def _output_pixels(page: Page) -> np.ndarray:
    """The output image as the browser received it, fetched again from its own URL."""
    src = page.evaluate("document.getElementById('filtered').src")  # absolute URL
    body = page.request.get(src).body()
    return np.asarray(Image.open(io.BytesIO(body)).convert("RGB"), dtype=np.int16)


def _wait_for_new_output(page: Page, old_src: str) -> str:
    expect(page.locator("#filtered")).not_to_have_attribute("src", old_src, timeout=10_000)
    return page.locator("#filtered").get_attribute("src")


def test_home_lists_the_labs(page: Page, base_url: str) -> None:
    page.goto(base_url + "/")
    expect(page.get_by_role("heading", name="See how neural networks see")).to_be_visible()
    page.get_by_role("link", name="Open the kernel lab").click()
    expect(page).to_have_url(base_url + "/kernels")
    screenshot(page, "home-then-kernel-lab")


def test_the_lab_opens_on_a_photo(page: Page, base_url: str) -> None:
    """The astronaut when the setup fetched the photos (required where REQUIRE_MNIST=1, as in
    `make test`), the drawn landscape otherwise."""
    photos = all((ROOT / "data" / "photos" / f).is_file()
                 for f in ("astronaut.png", "chelsea.png", "coffee.png"))
    if not photos and os.environ.get("REQUIRE_MNIST"):
        pytest.fail("data/photos/ is incomplete: run `make setup` (scripts/get_photos.py)")
    page.goto(base_url + "/kernels")
    expect(page.locator("#filtered")).to_be_visible()
    first = "sample-astronaut" if photos else "sample-landscape"
    expect(page.locator(f"input[name=image_id][value={first}]")).to_be_checked()
    expect(page.locator("#original")).to_have_attribute("src", re.compile(first))
    if photos:
        expect(page.locator(".pair .credit")).to_contain_text("NASA")
        expect(page.locator(".thumb", has_text="Cat (photo)")).to_be_visible()
        page.locator(".thumb", has_text="Cat (photo)").click()
        expect(page.locator("#original")).to_have_attribute("src", re.compile("sample-cat"))
        expect(page.locator(".facts")).to_contain_text("451 wide × 300 high")
        expect(page.locator(".pair .credit")).to_contain_text("Stéfan van der Walt; CC0")
        screenshot(page, "kernel-lab-cat")


def test_upload_edit_cell_and_preset_change_the_output(page: Page, base_url: str, tmp_path
                                                       ) -> None:
    page.goto(base_url + "/kernels")
    expect(page.locator("#filtered")).to_be_visible()
    screenshot(page, "kernel-lab-first-view")

    # upload: a 96×64 image, left half dark, right half bright: one vertical edge
    pixels = np.zeros((64, 96, 3), np.uint8)
    pixels[:, 48:] = 200
    path = tmp_path / "edge.png"
    Image.fromarray(pixels).save(path)
    src = page.locator("#filtered").get_attribute("src")
    page.locator("input[type=file]").set_input_files(str(path))
    src = _wait_for_new_output(page, src)
    expect(page.locator(".facts")).to_contain_text("96 wide × 64 high")

    # identity kernel through the grid: the output must equal the upload
    page.locator("select[name=preset]").select_option("identity")
    src = _wait_for_new_output(page, src)
    assert np.array_equal(_output_pixels(page), pixels.astype(np.int16))

    # change one cell: centre 1 → 2 doubles the bright side (clipped at 255), keeps black black
    page.get_by_label("weight row 2 column 2").fill("2")
    src = _wait_for_new_output(page, src)
    out = _output_pixels(page)
    assert out[:, :48].max() == 0 and out[:, 49:].min() == 255

    # a preset: vertical edges light up only along the edge column(s), with |v| display
    page.locator("select[name=display]").select_option("abs")
    src = _wait_for_new_output(page, src)
    page.locator("select[name=preset]").select_option("edge-vertical")
    src = _wait_for_new_output(page, src)
    out = _output_pixels(page)
    lit_columns = np.nonzero(out[32, :, 0] > 100)[0]
    assert set(lit_columns) <= {47, 48} | {0, 95} and {47, 48} <= set(lit_columns)
    expect(page.get_by_label("weight row 1 column 3")).to_have_value("-1")

    # hovering the output shows the input window
    page.locator("#filtered").hover()
    expect(page.locator("#hover-info")).to_contain_text("comes from input rows")
    expect(page.locator("#window-box")).to_be_visible()
    screenshot(page, "kernel-lab-after-edits")


def test_bad_cell_shows_message_beside_the_kernel(page: Page, base_url: str) -> None:
    page.goto(base_url + "/kernels")
    page.get_by_label("weight row 1 column 1").fill("abc")
    expect(page.locator("#error-kernel")).to_contain_text("not a number")
    page.get_by_label("weight row 1 column 1").fill("0")
    expect(page.locator("#error-kernel")).to_be_empty()


def _settled(page: Page) -> None:
    """htmx wires up swapped-in controls when the swap settles (20 ms later); a change made
    before then is not seen. A person is never that fast; a test is."""
    page.wait_for_function(
        "!document.querySelector('.htmx-request, .htmx-settling, .htmx-added, .htmx-swapping')")


def test_resize_the_kernel_and_build_a_bank(page: Page, base_url: str) -> None:
    page.goto(base_url + "/kernels")
    page.locator("select[name=rows]").select_option("5")
    expect(page.locator(".kernel-grid input")).to_have_count(15)  # 5 rows × 3 columns
    _settled(page)
    page.locator("select[name=cols]").select_option("5")
    expect(page.locator(".kernel-grid input")).to_have_count(25)
    expect(page.locator(".facts")).to_contain_text("5 − 1")
    maps = page.locator(".maps li")
    count = maps.count()
    assert count >= 4
    page.locator("label.chip", has_text="Your kernel").click()
    expect(maps).to_have_count(count + 1)
    expect(maps.first).to_contain_text("Your kernel")
    screenshot(page, "kernel-lab-bank")


def test_a_keystroke_redraws_the_image_not_the_bank(page: Page, base_url: str) -> None:
    """The page opens with the default bank ticked. Typing in the grid fetches the filtered
    image alone: no request for the bank, the bank's maps the very same nodes. A change of the
    stride draws the bank again, at the new size; with "Your kernel" ticked, so does the grid."""
    bank_posts: list[str] = []
    renders: list[str] = []
    page.on("request", lambda r: bank_posts.append(r.post_data or "")
            if r.method == "POST" and r.url.endswith("/kernels/bank") else None)
    page.on("request", lambda r: renders.append(r.post_data or "")
            if r.method == "POST" and r.url.endswith("/kernels/render") else None)
    page.goto(base_url + "/kernels")
    maps = page.locator(".maps li")
    expect(maps).to_have_count(8)
    page.evaluate("window.firstMap = document.querySelector('.maps img')")
    first_map_src = page.locator(".maps img").first.get_attribute("src")

    src = page.locator("#filtered").get_attribute("src")
    page.get_by_label("weight row 2 column 2").fill("6")
    src = _wait_for_new_output(page, src)
    page.get_by_label("weight row 1 column 2").fill("-2")
    src = _wait_for_new_output(page, src)
    _settled(page)
    assert bank_posts == []
    assert page.evaluate("document.querySelector('.maps img') === window.firstMap")
    expect(page.locator(".maps img").first).to_have_attribute("src", first_map_src)
    screenshot(page, "kernel-lab-keystroke-bank-kept")

    # stride 2: the bank is asked for once, and its maps come back at half the size
    expect(page.locator(".maps figcaption").first).to_contain_text("256×")
    page.locator("input[name=stride]").fill("2")
    expect(page.locator(".maps figcaption").first).to_contain_text("128×", timeout=10_000)
    src = _wait_for_new_output(page, src)
    _settled(page)
    assert len(bank_posts) == 1 and "stride=2" in bank_posts[0]
    assert not page.evaluate("document.querySelector('.maps img') === window.firstMap")

    # so do the padding and the dilation, each once, at the size the core counts: 256 wide,
    # stride 2, no padding → (256 − 3) // 2 + 1 = 127; dilated by 2 the kernel spans 5 → 126
    page.locator("select[name=padding]").select_option("valid")
    expect(page.locator(".maps figcaption").first).to_contain_text("127×", timeout=10_000)
    _settled(page)
    page.locator("input[name=dilation]").fill("2")
    expect(page.locator(".maps figcaption").first).to_contain_text("126×", timeout=10_000)
    _settled(page)
    assert len(bank_posts) == 3 and "padding=valid" in bank_posts[1]
    assert "dilation=2" in bank_posts[2]

    # one edit, one render: typing a cell and leaving it (its `change`) draws the result once
    expect(page.locator("#filtered")).to_have_attribute("data-dilation", "2")
    _settled(page)
    before = len(renders)
    page.get_by_label("weight row 3 column 3").click()
    page.keyboard.type("3")
    src = _wait_for_new_output(page, src)
    page.keyboard.press("Tab")
    page.wait_for_timeout(500)  # a second render would have been sent by now
    _settled(page)
    assert len(renders) == before + 1

    # ticking a filter adds its map (and draws the bank once more); the result is left alone
    expect(page.locator("#filtered")).to_have_attribute("data-dilation", "2")
    _settled(page)
    src = page.locator("#filtered").get_attribute("src")
    page.locator("label.chip", has_text="Box blur").click()
    expect(maps).to_have_count(9)
    expect(page.locator(".maps figcaption", has_text="Box blur")).to_contain_text("126×")
    _settled(page)
    assert len(bank_posts) == 4 and "bank=box-blur" in bank_posts[3]
    expect(page.locator("#filtered")).to_have_attribute("src", src)
    page.locator("label.chip", has_text="Box blur").click()
    expect(maps).to_have_count(8)
    _settled(page)
    assert len(bank_posts) == 5

    # with the grid's kernel in the bank, a keystroke in the grid redraws the bank too
    page.locator("label.chip", has_text="Your kernel").click()
    expect(maps).to_have_count(9)
    expect(maps.first).to_contain_text("Your kernel")
    _settled(page)
    before = len(bank_posts)
    own = page.locator(".maps img").first.get_attribute("src")
    page.get_by_label("weight row 2 column 2").fill("7")
    expect(page.locator(".maps img").first).not_to_have_attribute("src", own, timeout=10_000)
    _settled(page)
    assert len(bank_posts) == before + 1
    screenshot(page, "kernel-lab-bank-redrawn")


def test_tablet_layout(browser, base_url: str) -> None:
    context = browser.new_context(viewport={"width": 820, "height": 1180})
    page = context.new_page()
    page.goto(base_url + "/kernels")
    expect(page.locator("#filtered")).to_be_visible()
    screenshot(page, "kernel-lab-tablet")
    context.close()
