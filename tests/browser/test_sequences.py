"""The sequence lab in a real browser: step an LSTM by hand and come back to it by its address,
draw the gradient flow of both cells, train a small character model and watch its samples
change, then generate at two temperatures and classify a typed name."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import SCREENSHOTS, screenshot

# pixels of a canvas within a small distance of a colour (the cells' colours on the chart)
COUNT_COLOUR = """([id, hex]) => {
  const c = document.getElementById(id), ctx = c.getContext("2d");
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  const want = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    const off = Math.abs(d[i] - want[0]) + Math.abs(d[i + 1] - want[1])
      + Math.abs(d[i + 2] - want[2]);
    if (off < 40) n++;
  }
  return n;
}"""
RNN_COLOUR, LSTM_COLOUR = "#d97706", "#4f46e5"


def _section_shot(page: Page, section: str, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # the sticky table of contents would sit over the section's top in its picture
    page.add_style_tag(content=".seq-toc { position: static; }")
    page.locator(f"#{section}").screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def test_step_an_lstm_by_hand_and_share_it(page: Page, base_url: str) -> None:
    page.goto(base_url + "/sequences?cell=lstm&hidden=3&text=hello&seed=0&step=1")
    label = page.locator("#cell-label")
    expect(label).to_have_text("Step 1 of 5: x₁ reads “h”")
    # four gates of three units each; i, f and o fill from 0 to 1, g is signed
    expect(page.locator("#cell-state .gbar")).to_have_count(12)
    expect(page.locator("#cell-state .gate-row.unit")).to_have_count(3)
    expect(page.locator("#cell-state .gate-row.signed")).to_have_count(1)
    # the bars are the API's numbers: the input gate's first unit, as a height
    trace = httpx.post(base_url + "/api/v1/sequences/trace", json={
        "cell": "lstm", "input_size": 4, "hidden_size": 3, "seed": 0,
        "inputs": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 0], [0, 0, 0, 1]]}).json()
    height = page.locator("#cell-state .gate-row.unit .gfill").first.evaluate(
        "e => parseFloat(e.style.height)")
    assert abs(height - 100 * trace["steps"][0]["gates"]["input"][0]) < 0.01
    expression = page.locator("#cell-expression")
    expect(expression).to_have_text(trace["steps"][0]["expression"])
    expect(page.locator("#onehot")).to_contain_text("input_size = 4")
    expect(page.locator("svg.unrolled .col")).to_have_count(5)

    page.locator("#cell-next").click()
    expect(label).to_have_text("Step 2 of 5: x₂ reads “e”")
    expect(expression).to_have_text(trace["steps"][1]["expression"])
    page.locator("#cell-prev").click()
    expect(label).to_contain_text("Step 1 of 5")
    page.locator("#cell-scrub").fill("3")
    expect(label).to_have_text("Step 4 of 5: x₄ reads “l”")
    expect(page.locator("svg.unrolled .col.current")).to_have_attribute("data-step", "3")
    # the keyboard steps too, once the focus is off the controls
    page.locator("#cell-title").click()
    page.keyboard.press("ArrowRight")
    expect(label).to_contain_text("Step 5 of 5")
    # a click on a column of the unrolled picture goes to that step
    page.locator("svg.unrolled .col[data-step='2'] .x-label").click()
    expect(label).to_contain_text("Step 3 of 5")
    _section_shot(page, "cell", "sequences-cell-lstm")

    # the address holds the state: GRU, hidden 2, its own text, step 3
    page.locator("#cell-form label:has(input[value=gru])").click()
    expect(page.locator("#cell-state-title")).to_contain_text("GRU")
    expect(page.locator("#cell-state .gbar")).to_have_count(3 * 3)
    assert re.search(r"cell=gru.*text=hello.*step=3", page.url), page.url
    page.goto(page.url)
    expect(label).to_contain_text("Step 3 of 5")
    expect(page.locator("#cell-form input[value=gru]")).to_be_checked()
    expect(page.locator("#cell-text")).to_have_value("hello")

    # numbers instead of text: input size 1
    page.locator("#cell-form label:has(input[value=numbers])").click()
    page.locator("#cell-numbers").fill("0.5, -1, 2, 0")
    expect(label).to_contain_text("of 4")
    expect(page.locator("#onehot")).to_contain_text("input_size = 1")


def test_the_gradient_flow_draws_both_cells(page: Page, base_url: str) -> None:
    page.goto(base_url + "/sequences#flow")
    reading = page.locator("#flow-reading")
    expect(reading).to_contain_text("At lag 50 the RNN's gradient is")
    assert page.evaluate(COUNT_COLOUR, ["flow-chart", RNN_COLOUR]) > 300
    assert page.evaluate(COUNT_COLOUR, ["flow-chart", LSTM_COLOUR]) > 300
    first = reading.text_content()
    # a large recurrent scale: the RNN's gradient no longer vanishes
    page.locator("#flow-scale").fill("3")
    expect(page.locator("#flow-scale-out")).to_have_text("3.00")
    expect(reading).not_to_have_text(first or "")
    _section_shot(page, "flow", "sequences-flow")


def test_train_a_small_model_and_watch_its_samples_change(page: Page, base_url: str) -> None:
    page.goto(base_url + "/sequences#train")
    page.locator("#train-dataset").select_option("names")
    page.locator("#train-hidden").fill("32")
    page.locator("#train-seq-len").fill("16")
    page.locator("#train-batch").fill("16")
    page.locator("#train-lr").fill("0.01")
    page.locator("#train-epochs").fill("30")
    page.locator("#train-start").click()
    expect(page.locator("#train-status")).to_have_text("running", timeout=10_000)
    # the snapshot before training, then at least one more (about a second later; the training
    # process takes a few seconds to start): their samples differ
    groups = page.locator("#samples .sample-group")
    expect(groups.nth(1)).to_be_visible(timeout=30_000)
    newest = groups.first.locator(".sample").all_text_contents()
    oldest = groups.last.locator(".sample").all_text_contents()
    assert newest != oldest
    expect(groups.last).to_contain_text("before training")
    expect(page.locator("#heatmap")).to_have_attribute("aria-label", re.compile("hidden units"))
    assert page.evaluate(COUNT_COLOUR, ["loss-chart", LSTM_COLOUR]) > 20  # the training curve
    # a unit of the heatmap, picked: its activations behind the probe text
    page.locator("#heatmap").click(position={"x": 200, "y": 6})
    expect(page.locator("#unit-text .uchar").first).to_be_visible()
    _section_shot(page, "train", "sequences-train-running")

    page.locator("#train-stop").click()
    expect(page.locator("#train-status")).to_have_text("stopped", timeout=10_000)
    expect(page.locator("#train-save")).to_be_enabled()
    page.locator("#train-save-name").fill("browser-names")
    page.locator("#train-save").click()
    expect(page.locator("#train-save-status")).to_contain_text("saved as browser-names")
    expect(page.locator("#gen-model option[value=browser-names]")).to_have_count(1)


def test_generate_at_two_temperatures_and_classify(page: Page, base_url: str) -> None:
    page.goto(base_url + "/sequences#use")
    page.locator("#gen-model").select_option("names-lstm")
    page.locator("#gen-length").fill("120")
    text = page.locator("#gen-text")
    page.locator("#gen-temperature").fill("0.3")
    expect(page.locator("#gen-temperature-out")).to_have_text("0.30")
    page.locator("#gen-start").click()
    expect(text.locator(".gen-char")).to_have_count(120)
    cold = text.text_content()
    page.locator("#gen-temperature").fill("2")
    expect(text).not_to_have_text(cold or "")
    hot = text.text_content()
    assert cold != hot
    # the top five of one step: as sampled, beside temperature 1
    text.locator(".gen-char").nth(3).hover()
    expect(page.locator("#gen-top .top-bars li")).to_have_count(5)
    expect(page.locator("#gen-top")).to_contain_text("at temperature 2")
    expect(page.locator("#gen-card")).to_contain_text("vs bigram")

    page.locator("#cls-text").fill("Yamamoto")
    expect(page.locator("#cls-prefixes .prefix-col")).to_have_count(8)
    expect(page.locator("#cls-bars li.best")).to_have_count(1)
    _section_shot(page, "use", "sequences-use")
    screenshot(page, "sequences-full")
