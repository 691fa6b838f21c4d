"""Every kernel-lab endpoint and every bad input: a 4xx in the error shape, never a 500."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from app.core.images import LUMA
from tests.api.conftest import MAX_BODY, png_bytes

RNG = np.random.default_rng(3)
PIXELS = RNG.integers(0, 256, (24, 32, 3), dtype=np.uint8)


def _error(r, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["message"]
    if code:
        assert err["code"] == code
    return err


@pytest.fixture(scope="module")
def image_id(client) -> str:
    r = client.post("/api/v1/images", files={"file": ("p.png", png_bytes(PIXELS), "image/png")})
    assert r.status_code == 201
    return r.json()["id"]


def test_upload_and_fetch(client, image_id: str) -> None:
    again = client.post("/api/v1/images", files={"file": ("x.png", png_bytes(PIXELS))})
    body = again.json()
    assert body == {**body, "id": image_id, "width": 32, "height": 24, "format": "PNG"}
    got = client.get(f"/api/v1/images/{image_id}")
    assert got.headers["content-type"] == "image/png"
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(got.content))), PIXELS)
    listed = [s["id"] for s in client.get("/api/v1/images").json()]
    photos = [i for i in listed if i in ("sample-astronaut", "sample-cat", "sample-coffee")]
    assert listed[len(photos):][:2] == ["sample-landscape", "sample-shapes"]  # after the photos
    _error(client.get("/api/v1/images/nope"), 404, "not_found")


def test_upload_refusals(client) -> None:
    _error(client.post("/api/v1/images", files={"file": ("a.txt", b"hello")}), 415)
    png = png_bytes(PIXELS)
    _error(client.post("/api/v1/images", files={"file": ("a.png", png[:200])}), 422,
           "corrupt_image")
    _error(client.post("/api/v1/images", files={"file": ("a.png", b"")}), 422)
    _error(client.post("/api/v1/images", data={"other": "1"}), 422)
    big = b"\0" * (MAX_BODY + 10)
    err = _error(client.post("/api/v1/images", files={"file": ("a.png", big)}), 413)
    assert "MB" in err["message"]

    def chunks():  # no Content-Length: the middleware must count what arrives
        for _ in range(40):
            yield b"x" * 10_000

    _error(client.post("/api/v1/images", content=chunks(),
                       headers={"content-type": "multipart/form-data; boundary=b"}), 413)


def test_grid_matches_conv2d(client) -> None:
    grid = RNG.normal(size=(9, 11)).round(3)
    kernel = RNG.normal(size=(3, 4)).round(3)
    r = client.post("/api/v1/convolve", json={
        "input": grid.tolist(), "kernel": kernel.tolist(), "stride": 2, "padding": 1,
        "padding_mode": "replicate", "scale": 2, "bias": 1})
    xp = F.pad(torch.tensor(grid)[None, None], (1, 1, 1, 1), mode="replicate")
    want = F.conv2d(xp, torch.tensor(kernel)[None, None], stride=2)[0, 0] / 2 + 1
    assert r.json()["shape"] == list(want.shape)
    np.testing.assert_allclose(r.json()["output"], want.numpy(), rtol=1e-9, atol=1e-9)


def test_image_png_matches_an_independent_computation(client, image_id: str) -> None:
    kernel = [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]
    r = client.post("/api/v1/convolve", json={"image_id": image_id, "kernel": kernel,
                                              "padding": "same"})
    assert r.headers["content-type"] == "image/png"
    got = np.asarray(Image.open(io.BytesIO(r.content))).astype(int)
    x = torch.tensor(PIXELS, dtype=torch.float64).permute(2, 0, 1)[:, None]
    y = F.conv2d(x, torch.tensor(kernel, dtype=torch.float64)[None, None], padding=1)
    want = y[:, 0].permute(1, 2, 0).clamp(0, 255).round().numpy().astype(int)
    assert np.abs(got - want).max() <= 1


def test_image_json_gray_and_formats(client, image_id: str) -> None:
    r = client.post("/api/v1/convolve", json={"image_id": image_id, "kernel": [[1]],
                                              "channels": "gray", "response": "json",
                                              "stride": 2})
    body = r.json()
    assert body["shape"] == [12, 16] and body["input_shape"] == [24, 32]
    luma = PIXELS[::2, ::2].astype(float) @ np.array(LUMA)
    assert body["stats"]["max"] == pytest.approx(luma.max(), abs=1e-3)
    img = client.get(body["url"])
    assert img.status_code == 200
    assert Image.open(io.BytesIO(img.content)).size == (16, 12)
    for fmt, media in (("jpeg", "image/jpeg"), ("webp", "image/webp")):
        r = client.post("/api/v1/convolve", json={"image_id": image_id, "kernel": [[1]],
                                                  "format": fmt})
        assert r.headers["content-type"] == media


def test_a_picture_answer_is_not_kept_a_json_answer_is(client, image_id: str) -> None:
    """response='image' answers with the picture itself: nothing is filed under an id that no
    one was told (it would only push out results that pages still show)."""
    shelf = client.app.state.settings.data_dir / "results"
    before = set(shelf.iterdir())
    body = {"image_id": image_id, "kernel": [[0, 1, 0], [1, -4, 1], [0, 1, 0]]}
    for fmt in ("png", "jpeg", "webp"):
        r = client.post("/api/v1/convolve", json={**body, "format": fmt})
        assert r.status_code == 200 and r.headers["content-type"] == f"image/{fmt}"
    assert set(shelf.iterdir()) == before
    r = client.post("/api/v1/convolve", json={**body, "response": "json"})
    new = set(shelf.iterdir()) - before
    assert [p.stem for p in new] == [r.json()["url"].rsplit("/", 1)[1]]
    assert client.get(r.json()["url"]).content == next(iter(new)).read_bytes()


def test_filter_bank(client, image_id: str) -> None:
    kernels = [{"name": "id", "kernel": [[1]]}, {"kernel": [[1, -1]]}]
    r = client.post("/api/v1/filter-bank", json={"image_id": image_id, "kernels": kernels})
    body = r.json()
    assert body["depth"] == 2 and body["maps"][1]["name"] == "filter 2"
    assert body["maps"][1]["shape"] == [24, 31]
    assert client.get(body["maps"][0]["url"]).status_code == 200
    grid = client.post("/api/v1/filter-bank", json={"input": [[1, 2, 3]], "kernels": kernels})
    assert [m["output"] for m in grid.json()["maps"]] == [[[1, 2, 3]], [[-1, -1]]]
    err = _error(client.post("/api/v1/filter-bank", json={
        "image_id": image_id, "kernels": [{"kernel": [[1]]}, {"kernel": [[1], [2, 3]]}]}), 422)
    assert err["message"].startswith("kernel 2")
    _error(client.post("/api/v1/filter-bank", json={
        "image_id": image_id, "kernels": [{"kernel": [[1]]}] * 17}), 422)


BAD = [
    ({"kernel": [[1, 2], [3]]}, "same length"),
    ({"kernel": []}, "empty"),
    ({"kernel": [["a"]]}, None),
    ({"kernel": np.ones((16, 16)).tolist()}, "1 to 15"),
    ({"kernel": [[1]], "stride": 0}, "stride"),
    ({"kernel": [[1]], "stride": 9}, "stride"),
    ({"kernel": [[1]], "dilation": 9}, "dilation"),
    ({"kernel": [[1]], "padding": -1}, "padding"),
    ({"kernel": [[1]], "padding": "full"}, "padding"),
    ({"kernel": [[1]], "padding_mode": "mirror"}, "padding_mode"),
    ({"kernel": [[1]], "scale": 0}, "scale"),
    ({"kernel": [[1]], "surprise": 1}, "surprise"),
    ({"kernel": np.ones((5, 5)).tolist()}, "padded input is only"),
]


@pytest.mark.parametrize(("extra", "words"), BAD)
def test_bad_values_are_422(client, extra: dict, words: str | None) -> None:
    err = _error(client.post("/api/v1/convolve", json={"input": [[1, 2, 3]] * 3, **extra}), 422)
    if words:
        assert words in err["message"]


def test_source_and_raw_json_errors(client, image_id: str) -> None:
    _error(client.post("/api/v1/convolve", json={"kernel": [[1]]}), 422)
    _error(client.post("/api/v1/convolve", json={"kernel": [[1]], "input": [[1]],
                                                 "image_id": image_id}), 422)
    _error(client.post("/api/v1/convolve", json={"kernel": [[1]], "image_id": "nope"}), 404)
    for text in ('{"input": [[1]], "kernel": [[NaN]]}', '{"input": [[1]], "kernel": [[Infinity]]}',
                 "not json", "[1, 2]"):
        r = client.post("/api/v1/convolve", content=text,
                        headers={"content-type": "application/json"})
        _error(r, 422)
    huge = client.post("/api/v1/convolve", content=json.dumps(
        {"input": [[1e308, 1e308]], "kernel": [[1e308, 1e308]]}),
        headers={"content-type": "application/json"})
    assert "-1e+09 to 1e+09" in _error(huge, 422)["message"]


def test_presets_and_docs(client) -> None:
    presets = client.get("/api/v1/kernels/presets").json()
    keys = {p["key"] for p in presets}
    assert {"identity", "box-blur", "gaussian-3", "gaussian-5", "sharpen", "sharpen-strong",
            "edge-vertical", "edge-horizontal", "sobel-x", "sobel-y", "laplacian", "emboss",
            "outline"} <= keys
    assert all(p["explanation"] for p in presets)
    docs = client.get("/docs").text
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs and "cdn" not in docs
    spec = client.get("/openapi.json").json()
    for path in ("/api/v1/images", "/api/v1/convolve", "/api/v1/filter-bank"):
        assert "422" in spec["paths"][path]["post"]["responses"]
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200


def test_a_body_that_is_not_json_says_so_and_where(client) -> None:
    r = client.post("/api/v1/convolve", content=b'{"kernel": [[1]',
                    headers={"content-type": "application/json"})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["message"].startswith("the body is not valid JSON") and "character 15" in \
        err["message"]
    assert "field" not in err  # a character offset is no field


def test_a_method_a_route_lacks_says_which_it_has(client) -> None:
    r = client.put("/api/v1/health")
    assert r.status_code == 405 and r.headers["allow"] == "GET"
    assert r.json()["error"]["message"] == "PUT is not allowed on /api/v1/health; allowed: GET"


@pytest.mark.parametrize("body", [
    {"input": [[1]], "kernel": [[1]], "stride": False},  # false is not 0
    {"input": [[1]], "kernel": [[1]], "stride": "2"},
    {"input": [[1]], "kernel": [[True]]},
    {"input": [[1]], "kernel": [[1]], "scale": 0},  # |scale| from 1e-6
    {"input": [[1]], "kernel": [[1]], "image_id": "sample-digit"},  # one source only
])
def test_what_the_schema_forbids_is_refused(client, body: dict) -> None:
    assert client.post("/api/v1/convolve", json=body).status_code == 422


def test_a_whole_number_written_with_a_point_is_a_whole_number(client) -> None:
    # JSON Schema's "integer" takes 2.0, so the server does too
    r = client.post("/api/v1/convolve", json={"input": [[1, 2, 3]], "kernel": [[1]],
                                              "stride": 2.0})
    assert r.status_code == 200 and r.json()["output"] == [[1, 3]]


def test_the_schema_states_the_limits(client) -> None:
    from app.core.nets import LAYER_TYPES
    from app.settings import LIMITS

    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    kernel = schemas["ConvolveRequest"]["properties"]["kernel"]
    side = LIMITS.kernels.kernel_side
    assert (kernel["maxItems"], kernel["items"]["maxItems"]) == (side, side)
    assert kernel["items"]["items"]["maximum"] == LIMITS.kernels.weight
    assert {"required": ["image_id"]} in schemas["ConvolveRequest"]["oneOf"]
    layers = schemas["ArchitectureRequest"]["properties"]["layers"]
    kinds = {k["properties"]["type"]["const"] for k in layers["items"]["oneOf"]}
    assert kinds == set(LAYER_TYPES) and layers["maxItems"] == LIMITS.nets.layers
    conv = next(k for k in layers["items"]["oneOf"] if k["title"] == "Conv2d")
    assert conv["properties"]["kernel_size"]["maximum"] == LAYER_TYPES["conv2d"].setting(
        "kernel_size").high
