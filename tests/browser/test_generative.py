"""The generative lab in a real browser: drag a slider, click the latent map, interpolate, add
and subtract digits."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot


def test_sliders_map_and_interpolation(page: Page, base_url: str) -> None:
    live_pictures: list[bytes] = []  # the PNGs that came over the sliders' WebSocket
    page.on("websocket", lambda ws: ws.on(
        "framereceived", lambda p: live_pictures.append(p) if isinstance(p, bytes) else None))
    page.goto(base_url + "/generative")
    decoded = page.locator("#decoded")
    expect(decoded).to_have_attribute("data-z", "[0,0]")  # the 2-D VAE comes first
    first = decoded.get_attribute("src")

    # drag the first slider to the right: a new point, a new picture
    slider = page.get_by_label("latent dimension 1")
    box = slider.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2, steps=10)
    page.mouse.up()
    expect(decoded).not_to_have_attribute("src", first)
    expect(decoded).to_have_attribute("data-z", re.compile(r"^\[2\.\d+,0\]$"))
    assert any(p.startswith(b"\x89PNG") for p in live_pictures), "the drag went by HTTP only"

    # click the latent map's top-left corner: z₁ negative, z₂ positive
    dots = page.locator("#map-dots")
    expect(dots).to_have_attribute("data-points", "2500")  # the encoded test digits are drawn
    box = dots.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.1)
    expect(decoded).to_have_attribute("data-z", re.compile(r"^\[-2\.\d+,2\.\d+\]$"))
    screenshot(page, "generative-vae-2d")

    # interpolate between two points and animate
    page.get_by_role("button", name="Start: this point").click()
    slider.fill("1.5")
    page.get_by_role("button", name="End: this point").click()
    page.get_by_role("button", name="Interpolate").click()
    expect(page.locator("#strip")).to_have_attribute("src", re.compile("^data:image/png"))
    page.get_by_role("button", name="▶ Animate").click()
    expect(page.locator("#frame")).to_be_visible()

    # the GAN: 64 dimensions, 16 sliders until asked for all
    page.get_by_role("tab", name="dcgan").click()
    expect(page.locator("#sliders li:visible")).to_have_count(16)
    page.get_by_role("button", name="Show all 64 dimensions").click()
    expect(page.locator("#sliders li:visible")).to_have_count(64)
    expect(page.locator("#map-panel")).to_be_hidden()
    page.get_by_role("button", name="Random point").click()
    screenshot(page, "generative-dcgan")


def test_latent_arithmetic_is_a_fragment_htmx_fetches(page: Page, base_url: str) -> None:
    page.goto(base_url + "/generative")
    page.get_by_role("tab", name="vae-16d").click()
    panel = page.get_by_label("Latent arithmetic")
    panel.locator("#plus").get_by_text("7").click()
    panel.locator("#minus").get_by_text("1").click()
    panel.get_by_role("button", name="Compute").click()
    result = page.locator("#arith")
    # "+ 1", "+ 7", "− 1" and the sum: four pictures, all drawn by the server's fragment
    expect(result.locator("img")).to_have_count(4)
    expect(result.get_by_text("result")).to_be_visible()
    expect(result.locator("img").last).to_have_attribute("src", re.compile("^data:image/png"))
    screenshot(page, "generative-arithmetic")


def test_the_two_planes_and_their_holes(page: Page, base_url: str) -> None:
    page.goto(base_url + "/generative")
    holes = page.locator("#holes-line")
    expect(holes).to_contain_text("prior asked it to fill", timeout=30_000)
    assert re.search(r"Holes: \d+%", holes.inner_text())
    page.locator("[data-model='ae-2d']").click()
    expect(holes).to_contain_text("plain autoencoder", timeout=30_000)
    assert re.search(r"Holes: \d+%", holes.inner_text())
    # the map spans the autoencoder's own range, as its card gives it
    expect(page.locator("#manifold")).to_have_attribute("src", re.compile(r"range=27"))
    expect(page.locator("#model-summary")).to_contain_text("reconstruction error")
    page.locator("#map-panel").scroll_into_view_if_needed()
    screenshot(page, "generative-ae-2d-holes", full_page=False)
