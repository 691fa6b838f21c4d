"""The training page's fragments: the run form parsed into the API's TrainingRunRequest (the
same validation and words as POST /api/v1/training-runs), each bad value's message beside its
control, and the architecture editor's actions."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import slot

# the editor's form for a small net on the shapes dataset (32×32 gray, 6 classes)
LAYERS = {"layer_count": "4", "layer-0-type": "conv2d", "layer-0-out_channels": "4",
          "layer-0-kernel_size": "3", "layer-1-type": "relu", "layer-2-type": "flatten",
          "layer-3-type": "linear", "layer-3-out_features": "6"}
RUN = {"dataset": "shapes", "optimizer": "adam", "learning_rate": "0.001", "momentum": "0.9",
       "batch_size": "32", "epochs": "1", "seed": "0", **LAYERS}


@pytest.mark.parametrize(("change", "field", "says"), [
    ({"learning_rate": "-1"}, "learning_rate", "greater than 0"),
    ({"learning_rate": "fast"}, "learning_rate", "valid number"),
    ({"momentum": "1.5"}, "momentum", "less than 1"),
    ({"epochs": "51"}, "epochs", "less than or equal to 50"),
    ({"batch_size": "0"}, "batch_size", "greater than or equal to 1"),
    ({"optimizer": "rmsprop"}, "optimizer", "'adam' or 'sgd'"),
    ({"seed": "-3"}, "seed", "greater than or equal to 0"),
])
def test_a_bad_run_setting_gets_its_message_beside_its_control(client: TestClient,
                                                               change: dict, field: str,
                                                               says: str) -> None:
    r = client.post("/training/runs", data={**RUN, **change})
    assert r.status_code == 200
    assert "Could not start" in r.text
    assert says in slot(r.text, field), r.text


def test_the_page_and_the_api_refuse_with_the_same_words(client: TestClient) -> None:
    page = client.post("/training/runs", data={**RUN, "learning_rate": "-1"}).text
    api = client.post("/api/v1/training-runs", json={"dataset": "shapes", "architecture": "tiny",
                                                     "learning_rate": -1})
    assert api.status_code == 422
    assert api.json()["error"]["message"] in html.unescape(page)


def test_a_net_that_cannot_run_is_refused_before_it_is_queued(client: TestClient) -> None:
    r = client.post("/training/runs", data={**RUN, "layer-0-kernel_size": "40"})
    assert "Could not start" in r.text and "40" in r.text
    assert client.get("/api/v1/training-runs").json() == []


def test_a_run_started_from_the_page_keeps_every_setting(client: TestClient) -> None:
    """momentum included: the page used to drop it."""
    r = client.post("/training/runs", data={**RUN, "optimizer": "sgd", "momentum": "0.5",
                                            "learning_rate": "0.02", "seed": "7"})
    assert r.status_code == 200 and "Could not start" not in r.text, r.text
    run = client.get("/api/v1/training-runs").json()[0]
    try:
        assert run["config"]["optimizer"] == "sgd"
        assert run["config"]["momentum"] == 0.5
        assert run["config"]["learning_rate"] == 0.02 and run["config"]["seed"] == 7
        assert [layer["type"] for layer in run["config"]["layers"]] == [
            "conv2d", "relu", "flatten", "linear"]
    finally:
        client.post(f"/api/v1/training-runs/{run['id']}/cancel")  # stops it


def layer_types(html: str) -> list[str]:
    """The type chosen in each layer's select, in order."""
    return re.findall(r'<option value="(\w+)" selected', html)


def test_the_editor_adds_moves_and_removes_layers(client: TestClient) -> None:
    added = client.post("/training/editor", data={**RUN, "action": "add",
                                                  "new_type": "maxpool2d"}).text
    assert added.count('name="layer_count" value="5"') == 1
    moved = client.post("/training/editor", data={**RUN, "action": "up:1"}).text
    assert layer_types(moved) == ["relu", "conv2d", "flatten", "linear"]
    removed = client.post("/training/editor", data={**RUN, "action": "remove:0"}).text
    assert 'name="layer_count" value="3"' in removed


def test_an_action_on_an_unknown_run_says_so(client: TestClient) -> None:
    r = client.post("/training/runs/nope/pause")
    assert r.status_code == 404
    assert "no training run with id 'nope'" in r.json()["error"]["message"]


@pytest.mark.parametrize("count", ["x", "-1", ""])
def test_a_layer_count_that_is_no_number_means_no_layers(client: TestClient,
                                                         count: str) -> None:
    r = client.post("/training/runs", data={**RUN, "layer_count": count})
    assert r.status_code == 200 and "Could not start" in r.text and "no layers" in r.text


def test_a_huge_layer_count_reads_the_layers_there_are(client: TestClient) -> None:
    r = client.post("/training/editor", data={**RUN, "layer_count": "99999999999"})
    assert r.status_code == 200
    assert layer_types(r.text) == ["conv2d", "relu", "flatten", "linear"]


def test_the_famous_networks_are_read_and_their_small_versions_load(client: TestClient) -> None:
    page = html.unescape(client.get("/training").text)
    assert "The slides' famous networks" in page
    famous = page[page.index('id="famous-net"'):]
    # AlexNet first, at 227 px, its published count; at 224 the arithmetic does not add up
    assert "62,378,344" in famous and "⌊(227 + 2·0 − 11) / 4⌋ + 1 = 55" in famous
    assert "6,400 inputs instead of 9,216" in famous
    # the editor offers only what trains here
    start_from = page[page.index('name="preset"'):page.index("</select>", page.index(
        'name="preset"'))]
    assert 'value="resnet-small"' in start_from and 'value="vgg16"' not in start_from

    resnet = html.unescape(client.get("/training/famous", params={"famous": "resnet18"}).text)
    assert "11,689,512" in resnet and "Residual 64→128, stride 2, projection" in resnet
    assert "inside the block: 8 steps" in resnet and "shortcut: Conv2d 64→128, 1×1" in resnet

    loaded = html.unescape(client.post("/training/editor", data={
        **RUN, "action": "preset:resnet-small"}).text)
    assert layer_types(loaded).count("residual") == 6 and "6 outputs, one per class" in loaded
    assert "inside the block" in loaded and "field-error" not in loaded
