"""The kernel lab's fragments: the form parsed into the API's ConvolveRequest, each bad value's
message beside its control, and the picture with its output-size formula otherwise."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

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
