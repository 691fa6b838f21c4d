"""The kernel lab's fragments: the form parsed into the API's ConvolveRequest, each bad value's
message beside its control, and the picture with its output-size formula otherwise."""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.main import create_app
from app.settings import Settings
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
    found = re.findall(r'<input type="radio" name="image_id" value="([^"]+)" checked>', html)
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
