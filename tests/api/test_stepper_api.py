"""The stepper's REST contract: answer shapes, agreement with torch, a 4xx for bad input."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from fastapi.testclient import TestClient
from PIL import Image

SLIDES_X = [[1, 2, 5, 1, 4, 2], [0, 2, 3, 2, 0, 0], [4, 5, 5, 9, 8, 1],
            [6, 3, 4, 2, 3, 1], [0, 1, 9, 8, 7, 2], [2, 3, 5, 5, 5, 6]]
EDGE = [[1, 1, 1], [0, 0, 0], [-1, -1, -1]]


def test_convolution_contract(client: TestClient) -> None:
    r = client.post("/api/v1/stepper/convolution", json={"input": SLIDES_X, "kernel": EDGE})
    assert r.status_code == 200
    body = r.json()
    assert body["output_shape"] == [4, 4] and body["input_shape"] == [6, 6]
    assert body["output"][1] == [-8, -2, -4, -4]  # the slide's −7 and −2 are slips
    assert len(body["steps"]) == 16
    step = body["steps"][4]
    assert set(step) == {"out", "window", "products", "sum", "expression"}
    assert step["window"] == [[1, 0], [3, 2]] and step["sum"] == -8
    assert body["formula"]["width"].endswith("= 4")


def test_multichannel_convolution_matches_conv2d(client: TestClient) -> None:
    gen = torch.Generator().manual_seed(5)
    x = torch.randint(-5, 6, (3, 9, 7), generator=gen).double()
    k = torch.randint(-2, 3, (3, 3, 3), generator=gen).double()
    r = client.post("/api/v1/stepper/convolution", json={
        "input": x.tolist(), "kernel": k.tolist(), "stride": 2, "padding": 1, "bias": 0.5})
    assert r.status_code == 200
    ref = F.conv2d(x[None], k[None], bias=torch.tensor([0.5], dtype=torch.float64), stride=2,
                   padding=1)[0, 0]
    np.testing.assert_allclose(r.json()["output"], ref.numpy())
    step = r.json()["steps"][0]
    assert len(step["channel_sums"]) == 3 and len(step["channel_expressions"]) == 3
    assert sum(step["channel_sums"]) + 0.5 == pytest.approx(step["sum"])


def test_pooling_contract_and_torch(client: TestClient) -> None:
    x = torch.randn(7, 6, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    r = client.post("/api/v1/stepper/pooling", json={
        "input": x.tolist(), "op": "avg", "size": 3, "stride": 2, "padding": 1,
        "ceil_mode": True})
    assert r.status_code == 200
    body = r.json()
    ref = F.avg_pool2d(x[None, None], 3, 2, 1, ceil_mode=True)[0, 0]
    np.testing.assert_allclose(body["output"], ref.numpy(), rtol=1e-12)
    assert body["flattened"] == pytest.approx(ref.flatten().tolist(), rel=1e-12)
    assert all("divisor" in s and "argmax" not in s for s in body["steps"])


def test_gradient_descent_contract(client: TestClient) -> None:
    r = client.post("/api/v1/stepper/gradient-descent", json={
        "w0": 0.5, "learning_rate": 0.1, "points": [[2, 4], [1, 2], [3, 6]], "epochs": 1})
    assert r.status_code == 200
    steps = r.json()["steps"]
    assert [round(s["w"], 9) for s in steps] == [1.7, 1.76, 2.192]
    assert {"x", "y", "prediction", "error", "gradient", "w"} <= set(steps[0])
    r = client.post("/api/v1/stepper/gradient-descent", json={
        "w0": 0, "b0": 0, "learning_rate": 0.05, "points": [[0, 1], [1, 3], [2, 5]],
        "epochs": 300, "update": "full_batch"})
    last = r.json()["steps"][-1]
    assert (last["w"], last["b"]) == (pytest.approx(2, abs=1e-3), pytest.approx(1, abs=1e-3))
    assert len(r.json()["curve"]["loss"]) == len(r.json()["curve"]["b"])


@pytest.mark.parametrize(("path", "body", "field", "message"), [
    ("convolution", {"input": [[1, 2], [3]], "kernel": [[1]]}, "input", "rectangular"),
    ("convolution", {"input": [], "kernel": [[1]]}, "input", "empty"),
    ("convolution", {"input": [[0] * 65], "kernel": [[1]]}, "input", "64×64"),
    ("convolution", {"input": [[1, "seven"]], "kernel": [[1]]}, "input", "numbers"),
    ("convolution", {"input": [[1, 2]], "kernel": EDGE}, "kernel", "padded input"),
    ("convolution", {"input": [[1]], "kernel": [[1]], "stride": 0}, "stride", "greater"),
    ("convolution", {"input": [[1]], "kernel": [[1]], "colour": 1}, "colour", "not permitted"),
    ("convolution", {"input": [[[1]], [[2]]], "kernel": [[1]]}, "kernel", "2 channels"),
    ("pooling", {"input": [[1, 2], [3, 4]], "size": 3}, "size", "does not fit"),
    ("pooling", {"input": [[1, 2], [3, 4]], "size": 2, "padding": 2}, "padding", "half"),
    ("pooling", {"input": [[1]], "op": "median"}, "op", "max"),
    ("gradient-descent", {"points": [[1, 2]], "learning_rate": 0}, "learning_rate", "above 0"),
    ("gradient-descent", {"points": []}, "points", "at least one"),
    ("gradient-descent", {"points": [[1, 2]], "epochs": 501}, "epochs", "500"),
])
def test_bad_input_is_a_422_that_says_why(client: TestClient, path: str, body: dict,
                                          field: str, message: str) -> None:
    r = client.post(f"/api/v1/stepper/{path}", json=body)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["field"] == field and message in err["message"], err


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused(client: TestClient, literal: str) -> None:
    raw = f'{{"input": [[1, {literal}]], "kernel": [[1]]}}'
    r = client.post("/api/v1/stepper/convolution", content=raw,
                    headers={"content-type": "application/json"})
    assert r.status_code == 422 and "finite" in r.json()["error"]["message"]


def test_not_json_is_refused(client: TestClient) -> None:
    r = client.post("/api/v1/stepper/pooling", content=b"input=1",
                    headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"


def test_an_image_as_a_grid_of_numbers(client: TestClient) -> None:
    png = client.get("/api/v1/images/sample-digit").content
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.int64)
    assert pixels.shape == (28, 28)
    r = client.get("/api/v1/images/sample-digit/grid", params={"rows": 28, "cols": 28})
    assert r.status_code == 200 and r.json()["shape"] == [28, 28]
    assert np.array_equal(r.json()["input"], pixels)
    # 14 × 14 is the mean of each 2 × 2 block (rounded)
    half = np.array(client.get("/api/v1/images/sample-digit/grid?rows=14&cols=14").json()["input"])
    blocks = pixels.reshape(14, 2, 14, 2).mean(axis=(1, 3))
    assert np.abs(half - blocks).max() <= 1
    rgb = client.get("/api/v1/images/sample-landscape/grid?rows=5&cols=9&channels=rgb").json()
    assert rgb["shape"] == [3, 5, 9]
    assert client.get("/api/v1/images/nope/grid").status_code == 404
    assert client.get("/api/v1/images/sample-digit/grid?rows=0").status_code == 422


def test_stepper_is_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("convolution", "pooling", "gradient-descent"):
        assert f"/api/v1/stepper/{p}" in paths
