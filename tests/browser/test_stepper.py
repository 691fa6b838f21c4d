"""The stepper in a real browser: play a convolution to its end, step a pooling, step gradient
descent, share a link, and see a bad grid refused in place."""

from __future__ import annotations

import re

import numpy as np
from PIL import Image
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot

# The slides' 6×6 example and its edge kernel, worked by hand (the slide's −7 is really −8).
SLIDES_OUT = [[-6, -11, -12, -11], [-8, -2, -4, -4], [4, 1, -2, 1], [3, -4, -6, -10]]


def _shown(values: list[list[int]]) -> list[str]:
    return [str(v).replace("-", "−") for row in values for v in row]


def _cells(page: Page, selector: str) -> list[str]:
    return page.locator(selector).evaluate_all("cells => cells.map(c => c.textContent)")


def test_play_a_convolution_to_the_end(page: Page, base_url: str) -> None:
    page.goto(base_url + "/stepper")
    label = page.locator("#step-label")
    expect(label).to_have_text("Step 1 of 16: output row 0, column 0")
    # only the first output cell is filled before playing
    assert _cells(page, ".output-grid .cell")[:2] == ["−6", ""]

    page.locator("#speed").select_option("60")
    page.get_by_role("button", name="▶ Play").click()
    expect(label).to_have_text("Step 16 of 16: output row 3, column 3", timeout=10_000)
    expect(page.locator("#play")).to_have_text("▶ Play")  # stopped by itself at the end
    assert _cells(page, ".output-grid .cell") == _shown(SLIDES_OUT)
    expect(page.locator(".expression .total-line")).to_have_text(re.compile(r"= −10$"))

    # scrub back to the slides' famous cell: the products add up to −8
    page.locator("#scrub").fill("4")
    expect(label).to_have_text("Step 5 of 16: output row 1, column 0")
    expect(page.locator(".expression .total-line")).to_have_text(
        "0×1 + 2×1 + 3×1 + 4×0 + 5×0 + 5×0 + 6×(−1) + 3×(−1) + 4×(−1) = −8")
    # the window: input rows 1-3, columns 0-2, nine tapped cells
    expect(page.locator(".grid[aria-label=input] .cell.tap")).to_have_count(9)
    screenshot(page, "stepper-convolution")

    # the address bar holds the state: a reload comes back to the same step
    page.reload()
    expect(label).to_have_text("Step 5 of 16: output row 1, column 0")

    # padding 1 and stride 2: ⌊(6 + 2 − 2 − 1) / 2⌋ + 1 = 3 a side, padding drawn as cells
    page.locator("#form-convolution input[name=padding]").fill("1")
    page.locator("#form-convolution input[name=stride]").fill("2")
    expect(page.locator(".formula-lines")).to_contain_text("⌊5 / 2⌋ + 1 = 3")
    expect(page.locator(".grid[aria-label=input] .cell.pad")).to_have_count(8 * 8 - 36)


def test_three_channels_show_each_channel_sum(page: Page, base_url: str) -> None:
    page.goto(base_url + "/stepper")
    page.locator("select[name=channels]").select_option("3")
    expect(page.locator(".channel-line")).to_have_count(3)
    expect(page.locator(".grid[aria-label=input]")).to_have_count(3)
    # first window, by hand: red rows are 9 9 1 under 1 0 −1, so 3·(9 − 1) = 24; green keeps
    # the centre, 5; blue is top row (0s) minus bottom row (7s), −21; no bias: 24 + 5 − 21 = 8
    expect(page.locator(".channel-line").first).to_contain_text("= 24")
    expect(page.locator(".expression .total-line")).to_have_text("24 + 5 + (−21) = 8")
    screenshot(page, "stepper-convolution-rgb")


def test_a_ragged_grid_is_refused_beside_the_input(page: Page, base_url: str) -> None:
    page.goto(base_url + "/stepper")
    expect(page.locator("#step-label")).to_contain_text("of 16")
    page.locator("#form-convolution textarea[name=input]").fill("1 2 3\n4 5")
    expect(page.locator("#form-convolution [data-error-for=input]")).to_contain_text(
        "rectangular")
    expect(page.locator("#stage-error")).to_be_visible()
    page.locator("#form-convolution textarea[name=input]").fill("1 2 3\n4 5 6\n7 8 9")
    expect(page.locator("#form-convolution [data-error-for=input]")).to_be_empty()
    expect(page.locator("#step-label")).to_have_text("Step 1 of 1: output row 0, column 0")


def test_step_a_max_pooling_then_flatten(page: Page, base_url: str) -> None:
    page.goto(base_url + "/stepper")
    page.get_by_role("tab", name="Pooling & flattening").click()
    label = page.locator("#step-label")
    expect(label).to_have_text("Step 1 of 9: output row 0, column 0")
    for _ in range(3):
        page.get_by_role("button", name="Next step").click()
    expect(label).to_have_text("Step 4 of 9: output row 1, column 0")
    expect(page.locator(".expression .total-line")).to_have_text("max(1, 0, 1, 4) = 4")
    expect(page.locator(".grid[aria-label=input] .cell.winner")).to_have_text("4")
    screenshot(page, "stepper-pooling")
    page.get_by_role("button", name="Last step").click()
    assert _cells(page, ".vector .cell") == ["1", "1", "0", "4", "2", "1", "0", "2", "1"]

    # average pooling of the same map, without ceil mode: a 2×2 output
    page.locator("select[name=op]").select_option("avg")
    page.locator("input[name=ceil_mode]").uncheck()
    expect(page.locator(".vector .cell")).to_have_count(4)
    page.get_by_role("button", name="First step").click()
    expect(page.locator(".expression .total-line")).to_have_text("(0 + 1 + 0 + 1) / 4 = 0.5")


def test_step_gradient_descent(page: Page, base_url: str) -> None:
    page.goto(base_url + "/stepper?mode=descent")
    label = page.locator("#step-label")
    expect(label).to_have_text("Step 1 of 3: epoch 1, point (2, 4)")
    expect(page.locator(".expression .total-line")).to_have_text(
        "w ← 0.5 − 0.1·2·2·(2·0.5 − 4) = 1.7")
    page.get_by_role("button", name="Next step").click()
    page.get_by_role("button", name="Next step").click()
    expect(page.locator(".expression .total-line")).to_have_text(
        "w ← 1.76 − 0.1·2·3·(3·1.76 − 6) = 2.192")
    expect(page.locator(".steps-table tr.current")).to_contain_text("1.76 → 2.192")
    screenshot(page, "stepper-descent")

    # two parameters, several epochs: a path over the contour plot
    page.locator("select[name=model]").select_option("wb")
    page.locator("input[name=epochs]").fill("20")
    expect(label).to_have_text(re.compile(r"of 60: epoch 1"))
    page.get_by_role("button", name="Last step").click()
    expect(label).to_have_text(re.compile(r"Step 60 of 60: epoch 20"))
    expect(page.locator(".expression .total-line")).to_have_count(2)  # w and b lines
    screenshot(page, "stepper-descent-two-parameters")

    # too large a learning rate: it says so instead of drawing nonsense
    page.locator("input[name=learning_rate]").fill("0.5")
    expect(page.locator(".hint.warn")).to_contain_text("too large")


def test_step_through_a_picture(page: Page, base_url: str, tmp_path) -> None:
    page.goto(base_url + "/stepper")
    expect(page.locator("#step-label")).to_contain_text("of 16")
    # the built-in digit, averaged down to 14×14: a 3×3 kernel gives 12×12 = 144 steps
    page.locator("#form-convolution select[name=preset]").select_option("sobel-x")
    page.locator("#form-convolution input[name=image_size]").fill("14")
    page.get_by_role("button", name="Load").click()
    expect(page.locator("#step-label")).to_have_text("Step 1 of 144: output row 0, column 0")
    page.locator("#speed").select_option("60")
    page.get_by_role("button", name="▶ Play").click()
    page.wait_for_timeout(700)
    page.get_by_role("button", name="‖ Pause").click()
    screenshot(page, "stepper-digit")

    # an upload: black left half, bright right half, read as an 8×8 grid of numbers
    pixels = np.zeros((80, 80), np.uint8)
    pixels[:, 40:] = 250
    path = tmp_path / "half.png"
    Image.fromarray(pixels).save(path)
    page.locator("#form-convolution input[name=image_size]").fill("8")
    page.locator("#form-convolution input[type=file]").set_input_files(str(path))
    expect(page.locator("#form-convolution textarea[name=input]")).to_have_value(
        re.compile(r"^ *0 +0 +0 +0 +250 +250 +250 +250\n"))
    expect(page.locator("#step-label")).to_have_text("Step 1 of 36: output row 0, column 0")
