"""Live training in a real browser: edit the network, train, watch it learn, pause, save."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot


def _layer_count(page: Page) -> int:
    return page.locator("#arch-editor tbody tr[data-layer]").count()


def test_the_editor_flags_the_layer_that_breaks(page: Page, base_url: str) -> None:
    page.goto(base_url + "/training")
    page.locator("select[name=dataset]").select_option("shapes")
    # the preset's last Linear layer follows the dataset: 6 shapes, 6 outputs
    expect(page.locator("#arch-editor tfoot")).to_contain_text("6 outputs, one per class")
    n = _layer_count(page)
    # a Linear layer moved above Flatten cannot take a 3-D block: flagged at that row
    page.get_by_role("button", name=f"move layer {n} up").click()
    broken = page.locator("#arch-editor tr.broken")
    expect(broken).to_have_count(1)
    expect(broken).to_contain_text("Flatten")
    assert broken.get_attribute("data-layer") == str(n - 2)
    page.get_by_role("button", name=f"move layer {n - 1} down").click()
    expect(page.locator("#arch-editor tr.broken")).to_have_count(0)
    # a setting changed: shapes and parameter counts follow
    page.get_by_label("layer 1 out channels").fill("8")
    page.get_by_label("layer 1 out channels").press("Tab")
    expect(page.locator("#arch-editor tr[data-layer='0'] td.params")).to_contain_text(
        "(3·3·1 + 1)·8 = 80")
    page.locator("select[name=new_type]").select_option("dropout")
    page.get_by_role("button", name="Add at the end").click()
    expect(page.locator("#arch-editor tbody tr[data-layer]")).to_have_count(n + 1)
    screenshot(page, "training-editor")


def test_train_watch_it_learn_pause_and_save(page: Page, base_url: str) -> None:
    page.goto(base_url + "/training")
    page.locator("select[name=dataset]").select_option("shapes")
    expect(page.locator("#arch-editor tfoot")).to_contain_text("6 outputs")
    page.locator("input[name=epochs]").fill("30")  # more than it needs: we stop it
    page.get_by_role("button", name="▶ Train").click()

    status = page.locator("#run-controls .status")
    expect(status).to_have_text("running", timeout=30_000)
    filters = page.locator("#filters-image")
    expect(filters).to_be_visible(timeout=30_000)
    expect(page.locator(".chart polyline").first).to_be_attached(timeout=30_000)
    first_filters = filters.get_attribute("src")
    first_curve = page.locator(".chart polyline").first.get_attribute("points")
    # it learns while we watch: new filters, a longer loss curve
    expect(filters).not_to_have_attribute("src", first_filters, timeout=15_000)
    expect(page.locator(".chart polyline").first).not_to_have_attribute(
        "points", first_curve, timeout=15_000)
    screenshot(page, "training-live")

    page.get_by_role("button", name="‖ Pause").click()
    expect(status).to_have_text("paused")
    page.get_by_role("button", name="▶ Resume").click()
    expect(status).to_have_text("running")

    page.get_by_role("button", name="■ Stop").click()  # stopping keeps the model as it is
    expect(status).to_have_text("stopped", timeout=60_000)
    expect(page.locator("#run-metrics")).to_contain_text(re.compile(r"Test accuracy \d+\.\d+%"))
    expect(page.locator("#run-confusion table")).to_be_visible()
    page.locator("#save-model input[name=name]").fill("my-shapes")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#save-model")).to_contain_text("Saved as my-shapes")
    expect(page.locator("#models-list")).to_contain_text("my-shapes")
    expect(page.locator("#runs-list")).to_contain_text("stopped")
    screenshot(page, "training-done")


def test_read_a_famous_network_and_train_its_small_version(page: Page, base_url: str) -> None:
    page.goto(base_url + "/training")
    famous = page.locator("#famous-net")
    expect(famous).to_contain_text("62,378,344")  # AlexNet first
    expect(page.locator("#famous-slip")).to_contain_text("6,400 inputs instead of 9,216")
    page.locator("select[name=famous]").select_option("resnet18")
    expect(page.locator("#famous-total")).to_have_text("11,689,512")
    block = famous.locator("tr", has_text="Residual 64→128, stride 2, projection")
    block.locator("summary").click()
    expect(block.locator("table.parts")).to_contain_text("shortcut: Conv2d 64→128, 1×1")
    screenshot(page, "training-famous")
    page.get_by_role("button", name="Load “ResNet, small” into the editor").click()
    expect(page.locator("#arch-editor tbody tr[data-layer]")).to_have_count(11)
    expect(page.locator("#arch-editor tfoot")).to_contain_text("10 outputs, one per class")
    # the shipped model downloads as ONNX beside its weights
    link = page.locator("#models-list a", has_text="ONNX").first
    download = page.request.get(base_url + link.get_attribute("href"))
    assert download.ok and len(download.body()) > 100_000


def test_skip_connections_shown(page: Page, base_url: str) -> None:
    page.goto(base_url + "/training")
    page.locator("select[name=dataset]").select_option("shapes")
    panel = page.get_by_role("region", name="Skip connections")
    panel.locator("select[name=batches]").select_option("100")
    panel.get_by_role("button", name="▶ Run the experiment").click()
    finding = page.locator("#skip-finding")
    expect(finding).to_contain_text("smaller than its last layer's", timeout=60_000)
    expect(panel.locator(".chart polyline")).to_have_count(6)  # losses, gradients twice
    expect(page.locator("#skip-val")).to_contain_text("residual", timeout=90_000)
    ratios = [float(s.replace(",", "")) for s in re.findall(r"([\d,.]+)×", finding.inner_text())]
    assert ratios[0] > 1000 * ratios[1]  # the plain net's first layer: starved of gradient
    panel.scroll_into_view_if_needed()
    screenshot(page, "training-skip-connections")
