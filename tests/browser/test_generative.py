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

    # drag the first slider to the right: a new point, a new picture (vae-2d's sliders span
    # ±4, the square its card says its test digits fill)
    slider = page.get_by_label("latent dimension 1")
    box = slider.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2, steps=10)
    page.mouse.up()
    expect(decoded).not_to_have_attribute("src", first)
    expect(decoded).to_have_attribute("data-z", re.compile(r"^\[3\.\d+,0\]$"))
    assert any(p.startswith(b"\x89PNG") for p in live_pictures), "the drag went by HTTP only"

    # click the VAE's latent plane near its top-left corner: z₁ negative, z₂ positive
    dots = page.locator("[data-plane='vae-2d'] canvas")
    expect(dots).to_have_attribute("data-points", "2500")  # the encoded test digits are drawn
    dots.scroll_into_view_if_needed()
    box = dots.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.1)
    expect(decoded).to_have_attribute("data-z", re.compile(r"^\[-3\.\d+,3\.\d+\]$"))
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
    expect(page.locator("#digit-row")).to_be_hidden()  # it draws whatever its point holds
    screenshot(page, "generative-dcgan")


def test_the_conditional_gan_draws_the_digit_chosen(page: Page, base_url: str) -> None:
    """cgan: a digit to choose beside the sliders; the same point, another digit, another
    picture; no latent arithmetic (its points hold the style, not the digit)."""
    page.goto(base_url + "/generative")
    expect(page.locator("#decoded")).to_have_attribute("data-z", "[0,0]")
    page.get_by_role("tab", name="cgan", exact=True).click()
    decoded = page.locator("#decoded")
    expect(page.locator("#digit-row")).to_be_visible()
    expect(page.get_by_label("Latent arithmetic")).to_be_hidden()
    expect(page.locator("#model-summary")).to_contain_text("mnist-judge")
    expect(decoded).to_have_attribute("data-z", re.compile(r"^\[0(,0){63}\]$"))
    three = decoded.get_attribute("src")
    page.locator("#digit-chips").get_by_text("8").click()
    expect(decoded).not_to_have_attribute("src", three)
    page.get_by_role("button", name="Random point").click()
    page.get_by_role("button", name="Start: this point").click()
    page.get_by_role("button", name="Random point").click()
    page.get_by_role("button", name="End: this point").click()
    page.get_by_role("button", name="Interpolate").click()
    expect(page.locator("#strip")).to_have_attribute("src", re.compile("^data:image/png"))
    screenshot(page, "generative-cgan")


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


def test_the_two_planes_side_by_side(page: Page, base_url: str) -> None:
    """vae-2d's and ae-2d's planes at once, each at its own range, each with its holes; a
    click on the other plane switches to its model at that point."""
    page.goto(base_url + "/generative")
    vae, ae = page.locator("[data-plane='vae-2d']"), page.locator("[data-plane='ae-2d']")
    expect(vae.locator(".holes-line")).to_contain_text("prior asked it to fill", timeout=30_000)
    expect(ae.locator(".holes-line")).to_contain_text("plain autoencoder", timeout=30_000)
    for plane in (vae, ae):
        assert re.search(r"Holes: \d+%", plane.locator(".holes-line").inner_text())
        expect(plane.locator("canvas")).to_have_attribute("data-points", "2500")
    # each map spans its own model's range, as its card gives it
    expect(ae.locator("img")).to_have_attribute("src", re.compile(r"range=27"))
    expect(vae.locator("img")).to_have_attribute("src", re.compile(r"range=4"))
    expect(vae).to_have_class(re.compile("chosen"))
    ae.locator("canvas").scroll_into_view_if_needed()
    box = ae.locator("canvas").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] * 0.5)
    expect(page.locator("[data-model='ae-2d']")).to_have_attribute("aria-selected", "true")
    expect(ae).to_have_class(re.compile("chosen"))
    expect(page.locator("#decoded")).to_have_attribute("data-z", re.compile(r"^\[1[34]\.\d+,"))
    expect(page.locator("#model-summary")).to_contain_text("reconstruction error")
    page.locator("#map-panel").scroll_into_view_if_needed()
    screenshot(page, "generative-two-planes", full_page=False)
