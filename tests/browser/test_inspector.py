"""The model inspector in a real browser: draw a digit with the mouse, see the answer and the
maps of every layer, open one unit."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot
from tests.mnist import needs_mnist
from tests.servers import scratch_data_dir, served


def draw(page: Page, strokes: list[list[tuple[float, float]]]) -> None:
    """Strokes in 0-1 coordinates of the drawing pad, drawn with mouse events."""
    box = page.locator("#pad").bounding_box()
    assert box is not None
    for stroke in strokes:
        x, y = stroke[0]
        page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
        page.mouse.down()
        for x, y in stroke[1:]:  # in small moves, as a hand makes them
            page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=8)
        page.mouse.up()


def test_draw_a_digit_and_see_every_layer(page: Page, base_url: str) -> None:
    page.goto(base_url + "/inspector")
    layers = page.locator("#layers li")
    expect(layers).to_have_count(19, timeout=20_000)  # the shipped CNN's layers, for example 0
    page.get_by_role("button", name="Clear").click()
    draw(page, [[(0.25, 0.2), (0.72, 0.2), (0.42, 0.85)]])  # a 7
    expect(page.locator("#answer")).to_have_text(re.compile(r"^7 \(\d+%\)$"), timeout=10_000)
    expect(layers).to_have_count(19)
    expect(page.locator("#saliency")).to_have_attribute("src", re.compile("^blob:"))
    expect(page.locator("#gradcam")).to_have_attribute("src", re.compile("^blob:"))
    # each layer's maps come at their own size and are drawn at a whole zoom of it, pixelated
    first = page.locator("#layers img").first
    expect(first).to_have_css("image-rendering", "pixelated")
    sizes = page.locator("#layers img").evaluate_all(
        "imgs => imgs.map(i => [i.naturalWidth, i.naturalHeight, i.width, i.height])")
    assert sizes[0][:2] == [16 * 29 - 1, 28]  # 16 maps of 28×28, 1 px apart
    for natural_w, natural_h, w, h in sizes:
        zoom = w / natural_w
        assert zoom >= 1 and abs(h - natural_h * zoom) <= 1, (natural_w, natural_h, w, h)
        assert h <= 220  # at most LAYER_MAX_HEIGHT (inspector.js)
    screenshot(page, "inspector-seven")

    page.get_by_role("button", name="Clear").click()
    draw(page, [[(0.5, 0.15), (0.5, 0.85)]])  # a 1
    expect(page.locator("#answer")).to_have_text(re.compile(r"^1 \("), timeout=10_000)

    # a map of the first conv layer: the unit panel with its filter and the digits it likes
    page.locator("#layers img.clickable").first.click(position={"x": 10, "y": 10})
    expect(page.locator("#unit")).to_be_visible()
    expect(page.locator("#unit-title")).to_contain_text("map 1 of 16")
    expect(page.locator("#unit-kernels")).to_have_attribute("src", re.compile("^data:image/png"))
    # the test set's pass began when the server started: the top examples are ready, or
    # their progress shows until they are
    expect(page.locator("#unit-top li")).to_have_count(9, timeout=20_000)
    expect(page.locator("#unit-top-progress")).to_be_hidden()
    page.locator("#unit-map").hover()
    expect(page.locator("#rf-box")).to_be_visible()
    expect(page.locator("#filters li")).to_have_count(16)
    screenshot(page, "inspector-unit")


def test_its_mistakes_can_be_inspected(page: Page, base_url: str) -> None:
    page.goto(base_url + "/inspector")
    page.get_by_role("tab", name="Test set").click()
    page.get_by_role("button", name="Its mistakes").click()
    # the tab first asked for any digits; only the mistakes list, asked last, may be shown
    expect(page.locator("#examples")).to_have_attribute("data-list", "mistakes",
                                                       timeout=20_000)  # computed at start-up
    expect(page.locator("#examples-progress")).to_be_hidden()
    wrong = page.locator("#examples .wrong")
    expect(page.locator("#examples button")).to_have_count(24)
    expect(wrong).to_have_count(24)
    label = wrong.first.text_content()
    page.locator("#examples button").first.click()
    truth, said = label.split("→")
    expect(page.locator("#answer")).to_have_text(re.compile(rf"^{said} "), timeout=20_000)


@needs_mnist
def test_the_page_shows_the_pass_under_way_then_the_digits(
        page: Page, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A server that does not compute the test set ahead: the page's first ask begins the
    pass, and the page says how far it got until the digits come."""
    with served(scratch_data_dir(tmp_path_factory.mktemp("lazy")),
                PRECOMPUTE_TEST_SETS="0") as url:
        page.goto(url + "/inspector")
        expect(page.locator("#layers li")).to_have_count(19, timeout=20_000)
        # every text the progress line shows, however briefly
        page.evaluate("""() => {
          const p = document.querySelector('#examples-progress');
          window.progressSeen = [];
          new MutationObserver(() => { if (!p.hidden) window.progressSeen.push(p.textContent); })
            .observe(p, { attributes: true, childList: true, characterData: true, subtree: true });
        }""")
        page.get_by_role("tab", name="Test set").click()
        expect(page.locator("#examples button")).to_have_count(24, timeout=60_000)
        expect(page.locator("#examples-progress")).to_be_hidden()
        seen = page.evaluate("window.progressSeen")
        assert seen and all(re.fullmatch(r"Running the test set through the model… \d+%", t)
                            for t in seen), seen
