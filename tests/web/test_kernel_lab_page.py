"""The kernel lab's fragments: the form parsed into the API's ConvolveRequest, each bad value's
message beside its control, and the picture with its output-size formula otherwise; the filter
bank in a fragment of its own, with the sliding settings and without the grid's kernel."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.core import kernels
from app.main import create_app
from app.settings import LIMITS, Settings
from app.web.kernel_lab import DEFAULT_BANK
from tests.web.conftest import slot

FORM = {"image_id": "sample-shapes", "rows": "3", "cols": "3", "scale": "1", "stride": "1",
        "padding": "same", "padding_mode": "zeros", "dilation": "1", "bias": "0",
        "channels": "rgb", "display": "clip"}
SHARPEN = ["0", "-1", "0", "-1", "5", "-1", "0", "-1", "0"]


def render(client: TestClient, **change: str) -> str:
    data = {**FORM, "k": SHARPEN, **change}
    r = client.post("/kernels/render", data=data)
    assert r.status_code == 200, r.text
    return r.text


def test_a_good_form_gives_the_picture_and_no_error(client: TestClient) -> None:
    html = render(client)
    assert "/api/v1/results/" in html
    assert all(slot(html, f) == "" for f in ("kernel", "stride", "padding", "scale"))


@pytest.mark.parametrize(("change", "field", "says"), [
    ({"stride": "9"}, "stride", "less than or equal to 8"),
    ({"stride": "two"}, "stride", "valid integer"),
    ({"stride": "1.5"}, "stride", "valid integer"),
    ({"bias": "a lot"}, "bias", "valid number"),
    ({"dilation": "0"}, "dilation", "greater than or equal to 1"),
    ({"padding": "65"}, "padding", "less than or equal to 64"),
    ({"scale": "0"}, "scale", "0"),
    ({"k": ["1", "x", "1", "1", "1", "1", "1", "1", "1"]}, "kernel", "'x' is not a number"),
    ({"image_id": "nope"}, "image_id", "no image or result with id 'nope'"),
])
def test_a_bad_value_gets_its_message_beside_its_control(client: TestClient, change: dict,
                                                         field: str, says: str) -> None:
    html = render(client, **change)
    assert says in slot(html, field), slot(html, field)
    assert "/api/v1/results/" not in html  # no picture for a form that does not hold


def test_the_output_size_formula_has_this_inputs_numbers(client: TestClient) -> None:
    # the shapes sample is 512 px: a 3×3 kernel at stride 2, no padding → ⌊(512 − 3) / 2⌋ + 1
    html = render(client, stride="2", padding="valid")
    assert "= 255" in html


def test_a_typed_minus_sign_is_a_minus(client: TestClient) -> None:
    html = render(client, bias="−20", k=["0", "−1", "0", "−1", "5", "−1", "0", "−1", "0"])
    assert "/api/v1/results/" in html and slot(html, "bias") == "" and slot(html, "kernel") == ""


def test_the_page_and_the_api_refuse_with_the_same_words(client: TestClient) -> None:
    page = slot(render(client, stride="two"), "stride")
    api = client.post("/api/v1/convolve", json={"image_id": "sample-shapes", "stride": "two",
                                                "kernel": [[1]]})
    assert api.status_code == 422 and api.json()["error"]["message"] == page


def _checked_image(html: str) -> str:
    found = re.findall(r'<input type="radio" name="image_id" value="([^"]+)"[^>]* checked[ >]',
                       html)
    assert len(found) == 1, found
    return found[0]


def test_the_page_opens_on_the_drawn_landscape_without_photos(client: TestClient) -> None:
    html = client.get("/kernels").text
    assert _checked_image(html) == "sample-landscape"
    assert 'value="sample-astronaut"' not in html
    assert "/api/v1/images/sample-landscape?size=preview" in html  # the input shown


@pytest.fixture(scope="module")
def photo_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app on a data directory where the setup's photos are (stand-ins: the app decodes
    them, only the setup checks their hashes)."""
    data = tmp_path_factory.mktemp("data")
    (data / "photos").mkdir()
    for name, (h, w) in {"astronaut.png": (64, 64), "chelsea.png": (30, 45),
                         "coffee.png": (40, 60)}.items():
        pixels = np.random.default_rng(h).integers(0, 256, (h, w, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(data / "photos" / name)
    with TestClient(create_app(Settings(data_dir=data))) as c:
        yield c


def test_the_page_opens_on_a_photo_when_the_setup_fetched_them(photo_client: TestClient) -> None:
    html = photo_client.get("/kernels").text
    assert _checked_image(html) == "sample-astronaut"
    assert "/api/v1/images/sample-astronaut?size=preview" in html  # the input shown
    assert "Eileen Collins, NASA Great Images; public domain" in html  # its credit
    assert "64×64" in html  # the stand-in's size, in the input's caption
    thumbs = re.findall(r'name="image_id" value="([^"]+)"', html)
    assert thumbs[:4] == ["sample-astronaut", "sample-cat", "sample-coffee", "sample-landscape"]
    listed = photo_client.get("/api/v1/images").json()
    assert [s["id"] for s in listed][:3] == ["sample-astronaut", "sample-cat", "sample-coffee"]
    assert "CC0" in listed[1]["credit"] and listed[3]["credit"] == ""
    # a form without an image falls back to the same default
    form = {k: v for k, v in FORM.items() if k != "image_id"}
    r = photo_client.post("/kernels/render", data={**form, "k": SHARPEN})
    assert "/api/v1/images/sample-astronaut?size=preview" in r.text


# ---------------------------------------------------------------- the filter bank, its own fragment

BANK = ["edge-vertical", "sobel-x", "laplacian"]


def bank(client: TestClient, **change: object) -> str:
    data = {**FORM, "k": SHARPEN, "bank": BANK, **change}
    r = client.post("/kernels/bank", data=data)
    assert r.status_code == 200, r.text
    return r.text


def _maps(html: str) -> list[tuple[str, str]]:
    """(filter name, its map's size as captioned) for each map of a bank fragment."""
    return re.findall(r'alt="Activation map of ([^"]+)".*?<span class="dim">(\d+×\d+)</span>',
                      html, re.S)


def test_a_keystroke_answers_the_result_without_the_bank(client: TestClient) -> None:
    """The grid's kernel changed, the bank ticked: the answer is the filtered image alone."""
    html = render(client, bank=BANK, k=["0", "-1", "0", "-1", "6", "-1", "0", "-1", "0"])
    assert len(set(re.findall(r"/api/v1/results/[\w-]+", html))) == 1  # the filtered image
    assert 'id="bank-maps"' not in html and "Activation map" not in html
    assert 'id="error-kernels"' not in html  # the bank's slot is the bank fragment's to answer


def test_the_bank_fragment_has_a_map_per_filter_with_the_sliding_settings(client: TestClient
                                                                          ) -> None:
    # the shapes sample (512 px) is reduced to 256 px for the bank; same padding keeps the size
    html = bank(client)
    assert _maps(html) == [("Vertical edges", "256×256"), ("Sobel x", "256×256"),
                           ("Laplacian", "256×256")]
    assert "/api/v1/results/" in html and "Depth 3" in html
    assert slot(html, "kernels") == ""
    assert "Red is positive" in html  # clipped values would hide the negative half: diverging
    # stride 2 with no padding: ⌊(256 − 3) / 2⌋ + 1 = 127 for every map
    assert {size for _, size in _maps(bank(client, stride="2", padding="valid"))} == {"127×127"}
    # dilation 2: a 3×3 kernel spans 5 cells, valid padding leaves 252
    assert {size for _, size in _maps(bank(client, dilation="2", padding="valid"))} == {"252×252"}
    assert "Red is positive" not in bank(client, display="relu")


def test_the_bank_maps_match_the_api_filter_bank(client: TestClient) -> None:
    """The same maps as POST /api/v1/filter-bank for the same kernels and settings."""
    page = bank(client, stride="2", padding_mode="reflect", flip="on", bank=["sobel-x"])
    sobel_x = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    api = client.post("/api/v1/filter-bank", json={
        "image_id": "sample-shapes", "kernels": [{"name": "s", "kernel": sobel_x}], "stride": 2,
        "padding": "same", "padding_mode": "reflect", "flip": True, "display": "diverging"})
    assert api.status_code == 200, api.text
    url = re.search(r'src="(/api/v1/results/[\w-]+)"', page).group(1)
    mine = np.asarray(Image.open(io.BytesIO(client.get(url).content)))
    theirs = np.asarray(Image.open(io.BytesIO(client.get(api.json()["maps"][0]["url"]).content)))
    assert mine.shape == theirs.shape == (128, 128, 3) and np.array_equal(mine, theirs)


def test_the_bank_reads_the_grid_only_when_your_kernel_is_ticked(client: TestClient) -> None:
    bad = ["1", "x", "1", "1", "1", "1", "1", "1", "1"]
    assert len(_maps(bank(client, k=bad))) == 3  # the grid is not in the bank: not read
    html = bank(client, k=SHARPEN, bank_current="on")
    assert [name for name, _ in _maps(html)] == ["Your kernel", "Vertical edges", "Sobel x",
                                                  "Laplacian"]
    html = bank(client, k=bad, bank_current="on")
    assert _maps(html) == [] and "settings above hold" in html  # the grid's slot says why
    assert slot(html, "kernels") == ""


def test_a_setting_that_does_not_hold_leaves_the_bank_waiting(client: TestClient) -> None:
    html = bank(client, stride="9")
    assert _maps(html) == [] and "settings above hold" in html
    assert slot(html, "kernels") == ""  # the message is beside the stride (the result's)


def test_too_many_filters_are_refused_beside_the_bank(client: TestClient) -> None:
    every = [p.key for p in kernels.PRESETS]
    assert len(every) + 1 > LIMITS.kernels.bank_kernels
    html = bank(client, bank=every, bank_current="on")
    assert _maps(html) == [] and f"at most {LIMITS.kernels.bank_kernels}" in slot(html, "kernels")


def test_no_filter_ticked_asks_for_some(client: TestClient) -> None:
    html = client.post("/kernels/bank", data={**FORM, "k": SHARPEN}).text
    assert "Tick some filters" in html and _maps(html) == []


def test_the_page_opens_with_the_result_and_the_default_bank(client: TestClient) -> None:
    html = client.get("/kernels").text
    assert 'id="filtered"' in html
    assert len(_maps(html)) == len(DEFAULT_BANK)
    assert 'hx-post="/kernels/bank"' in html  # the bank asks for itself


def test_an_upload_redraws_the_result_and_the_bank(client: TestClient) -> None:
    buf = io.BytesIO()
    Image.fromarray(np.full((20, 30, 3), 90, np.uint8)).save(buf, format="PNG")
    r = client.post("/kernels/upload", files={"file": ("a.png", buf.getvalue(), "image/png")})
    assert r.status_code == 200 and r.headers["HX-Trigger-After-Settle"] == "image-changed"
