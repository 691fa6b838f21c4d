"""The model inspector's API on the shipped MNIST classifier: answers checked against the model
run independently (forward hooks, autograd), bad input refused with a reason, and the answers
drawn from the test set given as progress (202) until its pass, begun at start-up, is done."""

from __future__ import annotations

import base64
import io
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw
from safetensors.torch import load_file

from app.core import inspect, nets
from app.main import create_app
from app.services.models import ClassifierCard, read, write_weights
from app.services.runs.records import RunRecord
from app.settings import LIMITS, ROOT, Settings
from tests.mnist import HAVE_MNIST, needs_mnist

MODEL = "mnist-cnn"


@pytest.fixture(scope="module")
def client(mnist_client: TestClient) -> TestClient:
    return mnist_client


def drawn_seven(size: int = 200) -> np.ndarray:
    """A 7 drawn dark on light, off centre, the way a person might photograph one."""
    im = Image.new("L", (size, size), 235)
    d = ImageDraw.Draw(im)
    d.line([(40, 50), (130, 50), (80, 170)], fill=20, width=14)
    return np.asarray(im)


def independent_model() -> tuple[torch.nn.Sequential, ClassifierCard]:
    stored = read(ROOT / "models" / MODEL)
    card = stored.classifier
    model = nets.build(card.layers, card.input_shape, 10, limits=LIMITS.nets)
    model.load_state_dict(load_file(stored.weights))
    return model.eval(), card


def decoded(data_url: str) -> np.ndarray:
    assert data_url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))


def when_ready(client: TestClient, url: str, **params: object) -> tuple[list[int], dict]:
    """GETs an answer drawn from the test set, asking again while the pass runs (202): the
    statuses seen, and the last body. (A deadline against a hang, not a speed check.)"""
    statuses = []
    deadline = time.monotonic() + 300
    while True:
        r = client.get(url, params=params)
        statuses.append(r.status_code)
        if r.status_code != 202 or time.monotonic() > deadline:
            return statuses, r.json()
        time.sleep(0.2)


def normalised(x: np.ndarray, card: ClassifierCard) -> torch.Tensor:
    mean, std = card.normalization
    return ((torch.from_numpy(x).float()[None, None] / 255) - mean[0]) / std[0]


def test_the_shipped_model_is_listed_with_its_card(client: TestClient) -> None:
    card = client.get(f"/api/v1/models/{MODEL}").json()
    assert card["shipped"] and card["dataset"] == "mnist" and card["classes"] == list("0123456789")
    assert card["metrics"]["test_acc"] >= 0.99


def test_activations_match_forward_hooks(client: TestClient) -> None:
    picture = drawn_seven()
    r = client.post(f"/api/v1/models/{MODEL}/activations", params={"values": True},
                    json={"pixels": picture.tolist()})
    assert r.status_code == 200, r.text
    body = r.json()
    model, card = independent_model()
    x = inspect.mnist_style(picture)  # the preparation itself is tested in test_inspect.py
    seen = np.asarray(Image.open(io.BytesIO(__import__("base64").b64decode(
        body["input_png"].split(",", 1)[1]))))
    np.testing.assert_array_equal(seen, x)
    captured: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: captured.append(out.detach()))
             for m in model]
    with torch.no_grad():
        logits = model(normalised(x, card))
    for h in hooks:
        h.remove()
    assert len(body["layers"]) == len(captured) == len(card.layers)
    for layer, expected in zip(body["layers"], captured, strict=True):
        assert layer["shape"] == list(expected.shape[1:])
        np.testing.assert_allclose(layer["values"], expected[0].numpy(), rtol=1e-4, atol=1e-5)
        assert_tiles_are_the_maps(layer, expected[0].numpy(), shared=False)
    probs = torch.softmax(logits[0].double(), 0).numpy()
    np.testing.assert_allclose(body["probabilities"], probs, rtol=1e-6)
    assert body["label"] == "7"  # and it reads the drawing right


def assert_tiles_are_the_maps(layer: dict, out: np.ndarray, *, shared: bool) -> None:
    """The layer's PNG holds its maps at their own size, one gray pixel per value, each map
    scaled from its minimum (0) to its maximum (255) (or the layer's, shared), at the place
    `cols`, `tile` and `gap` say; between them the gap colour."""
    grid = decoded(layer["png"])
    assert grid.dtype == np.uint8 and grid.ndim == 2  # gray
    width = min(32, len(out))  # a vector: in rows of 32 values (fewer: one row), its min after
    maps = out if out.ndim == 3 else np.concatenate(
        [out, np.full(-len(out) % width, out.min())]).reshape(1, -1, width)
    (h, w), gap, cols = layer["tile"], layer["gap"], layer["cols"]
    assert (h, w) == maps.shape[1:] and cols == min(16, len(maps))
    rows = -(-len(maps) // cols)
    assert grid.shape == (rows * (h + gap) - gap, cols * (w + gap) - gap)
    for c, m in enumerate(maps.astype(np.float64)):
        lo, hi = (maps.min(), maps.max()) if shared else (m.min(), m.max())
        want = np.zeros_like(m) if hi == lo else (m - lo) / (hi - lo) * 255
        r, k = divmod(c, cols)
        tile = grid[r * (h + gap):r * (h + gap) + h, k * (w + gap):k * (w + gap) + w]
        assert np.abs(tile - want).max() <= 0.51, f"layer {layer['index']}, map {c}"
    if gap and cols > 1:
        assert (grid[:, w:w + gap] == 235).all()  # the gap after the first column


def test_shared_scale_tiles_take_the_layers_range(client: TestClient) -> None:
    picture = drawn_seven()
    body = client.post(f"/api/v1/models/{MODEL}/activations",
                       params={"values": True, "scale": "shared"},
                       json={"pixels": picture.tolist()}).json()
    for layer in body["layers"][:8]:
        assert_tiles_are_the_maps(layer, np.asarray(layer["values"], dtype=np.float32),
                                  shared=True)
    first = decoded(body["layers"][0]["png"])
    assert first.max() == 255 and first[first != 235].min() == 0


def test_an_upload_gives_the_same_answer_as_its_pixels(client: TestClient) -> None:
    picture = drawn_seven()
    buf = io.BytesIO()
    Image.fromarray(picture).save(buf, format="PNG")
    by_file = client.post(f"/api/v1/models/{MODEL}/predict",
                          files={"file": ("seven.png", buf.getvalue(), "image/png")}).json()
    by_pixels = client.post(f"/api/v1/models/{MODEL}/predict",
                            json={"pixels": picture.tolist()}).json()
    assert by_file["probabilities"] == pytest.approx(by_pixels["probabilities"])


def test_saliency_is_the_input_gradient(client: TestClient) -> None:
    picture = drawn_seven()
    r = client.post(f"/api/v1/models/{MODEL}/saliency", params={"format": "json", "target": 7},
                    json={"pixels": picture.tolist()})
    values = np.array(r.json()["values"])
    model, card = independent_model()
    x = normalised(inspect.mnist_style(picture), card).requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x)[0, 7], x)
    expected = grad[0, 0].abs().numpy()
    np.testing.assert_allclose(values, expected / expected.max(), rtol=1e-4, atol=1e-6)
    png = client.post(f"/api/v1/models/{MODEL}/saliency", json={"pixels": picture.tolist()})
    assert png.headers["content-type"] == "image/png"


def test_gradcam_lights_up_the_digit_not_the_background(client: TestClient) -> None:
    picture = drawn_seven()
    r = client.post(f"/api/v1/models/{MODEL}/gradcam", params={"format": "json"},
                    json={"pixels": picture.tolist()})
    cam = np.array(r.json()["values"])
    ink = inspect.mnist_style(picture) > 60
    assert cam.shape == (28, 28) and 0 <= cam.min() and cam.max() == pytest.approx(1.0)
    assert cam[ink].mean() > 2 * cam[~ink].mean()


def test_a_unit_shows_the_filter_that_made_it(client: TestClient) -> None:
    r = client.post(f"/api/v1/models/{MODEL}/units/2/5", json={"pixels": drawn_seven().tolist()})
    assert r.status_code == 200, r.text
    unit = r.json()
    assert unit["kernels"]["layer"] == 0 and unit["kernels"]["shape"] == [1, 3, 3]
    assert unit["receptive_field"] == {"size": 3, "jump": 1, "left": -1}


@pytest.mark.parametrize(("path", "body", "status", "field"), [
    (f"/api/v1/models/{MODEL}/predict", {"pixels": [[0] * 28] * 28}, 422, "image"),
    (f"/api/v1/models/{MODEL}/predict", {"pixels": [[0, 300]]}, 422, "pixels"),
    (f"/api/v1/models/{MODEL}/predict", {"pixels": [[1, 2], [3]]}, 422, "pixels"),
    (f"/api/v1/models/{MODEL}/predict", {}, 422, "pixels"),
    (f"/api/v1/models/{MODEL}/predict", {"pixels": [[1]], "example": 3}, 422, "pixels"),
    (f"/api/v1/models/{MODEL}/predict", {"colour": 1}, 422, "colour"),
    ("/api/v1/models/nope/predict", {"example": 1}, 404, "name"),
    (f"/api/v1/models/{MODEL}/units/99/0", {"example": 1}, 404, "layer"),
    (f"/api/v1/models/{MODEL}/units/0/16", {"example": 1}, 404, "channel"),
    (f"/api/v1/models/{MODEL}/units/16/0", {"example": 1}, 404, "layer"),
    (f"/api/v1/models/{MODEL}/gradcam?layer=15", {"example": 1}, 422, "layer"),
])
def test_bad_input_is_refused_with_a_reason(client: TestClient, path: str, body: dict,
                                            status: int, field: str) -> None:
    if "example" in body and not HAVE_MNIST and status != 404:
        body = {k: v for k, v in body.items() if k != "example"} | {"pixels": drawn_seven()}
    r = client.post(path, json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["field"] == field


def test_not_an_image_is_415(client: TestClient) -> None:
    r = client.post(f"/api/v1/models/{MODEL}/predict",
                    files={"file": ("x.png", b"not an image at all", "image/png")})
    assert r.status_code == 415


def test_what_exists_but_cannot_be_inspected_is_409(tmp_path: Path) -> None:
    """A training run's id names a model once the run has saved weights: before, the run
    exists but cannot be inspected (409, not 404 nor 422); so with a model without a conv
    layer asked for its filters."""
    layers = [{"type": "flatten"}, {"type": "linear", "out_features": 10}]
    flat = nets.build(layers, (1, 28, 28), 10, limits=LIMITS.nets)
    write_weights(tmp_path / "models" / "flat", flat.state_dict(), ClassifierCard(
        layers=layers, input_shape=(1, 28, 28), classes=tuple("0123456789"), dataset="shapes"))
    settings = Settings(data_dir=tmp_path / "data", models_dir=tmp_path / "models",
                        precompute_test_sets=False)
    pixels = {"pixels": drawn_seven().tolist()}
    with TestClient(create_app(settings)) as c:
        run = "run0000abcd"
        c.app.state.runs.add(RunRecord(id=run, status="running", dataset="shapes", config={},
                                       created=time.time()))
        for r in (c.post(f"/api/v1/models/{run}/predict", json=pixels),
                  c.post(f"/api/v1/models/{run}/activations", json=pixels),
                  c.get(f"/api/v1/models/{run}/examples"),
                  c.get(f"/api/v1/models/{run}/filters")):
            assert r.status_code == 409, r.text
            error = r.json()["error"]
            assert error["field"] == "name" and f"run {run} is running and has no saved " \
                "weights yet" in error["message"]
        assert c.post("/api/v1/models/run0000abce/predict", json=pixels).status_code == 404
        assert c.post("/api/v1/models/flat/predict", json=pixels).status_code == 200
        r = c.get("/api/v1/models/flat/filters")
        assert r.status_code == 409 and "no convolution layer" in r.json()["error"]["message"]
        documented = c.get("/openapi.json").json()["paths"]
        for path, method in (("/api/v1/models/{name}/predict", "post"),
                             ("/api/v1/models/{name}/examples", "get"),
                             ("/api/v1/models/{name}/filters", "get")):
            assert "409" in documented[path][method]["responses"], path


@pytest.mark.slow
@needs_mnist
def test_shipped_model_reaches_99_percent_on_the_mnist_test_set(client: TestClient) -> None:
    statuses, body = when_ready(client, f"/api/v1/models/{MODEL}/examples", wrong=True, limit=5)
    assert statuses[-1] == 200
    assert body["accuracy"] >= 0.99 and body["total"] <= 100
    assert all(e["label"] != e["prediction"] for e in body["examples"])
    confidences = [e["confidence"] for e in body["examples"]]
    assert confidences == sorted(confidences, reverse=True)


@needs_mnist
def test_top_examples_are_the_images_that_excite_the_unit_most(client: TestClient) -> None:
    statuses, body = when_ready(client, f"/api/v1/models/{MODEL}/units/6/3/top-examples", k=5)
    assert statuses[-1] == 200
    examples = body["examples"]
    scores = [e["score"] for e in examples]
    assert scores == sorted(scores, reverse=True)
    model, card = independent_model()
    from app.core.datasets import load_mnist
    test = load_mnist(ROOT / "data" / "mnist.npz").test
    x = ((torch.from_numpy(test.x[:2000]).float() / 255) - card.normalization[0][0]) \
        / card.normalization[1][0]
    with torch.no_grad():
        means = nets.layer_outputs(model, x)[6][:, 3].mean(dim=(1, 2))
    best_in_first = float(means.max())
    assert scores[0] >= best_in_first - 1e-4  # nothing in the first 2,000 beats the top one
    i = examples[0]["index"]
    if i < 2000:
        assert scores[0] == pytest.approx(float(means[i]), rel=1e-4)


@dataclass
class IndependentAnswers:
    """The shipped model's answers on the MNIST test set, computed here from its weights alone."""

    labels: np.ndarray
    predictions: np.ndarray
    confidence: np.ndarray
    unit_means: list[np.ndarray]  # per layer with maps (all before Flatten): (N, C)


@pytest.fixture(scope="module")
def independently() -> IndependentAnswers:
    model, card = independent_model()
    from app.core.datasets import load_mnist
    test = load_mnist(ROOT / "data" / "mnist.npz").test
    x = ((torch.from_numpy(test.x).float() / 255) - card.normalization[0][0]) \
        / card.normalization[1][0]
    logits, means = [], []
    for i in range(0, len(x), 1000):
        outs = nets.layer_outputs(model, x[i:i + 1000])
        logits.append(outs[-1])
        means.append([o.mean(dim=(2, 3)) for o in outs if o.dim() == 4])
    probs = torch.softmax(torch.cat(logits).double(), dim=1)
    return IndependentAnswers(labels=test.y, predictions=probs.argmax(1).numpy(),
                          confidence=probs.max(1).values.numpy(),
                          unit_means=[torch.cat(m).numpy() for m in zip(*means, strict=True)])


def assert_pending(r: httpx.Response) -> None:
    """A 202 is the pass's progress, in the shape the schema documents for it."""
    assert r.status_code == 202, r.text
    body = r.json()
    assert set(body) == {"status", "progress", "retry_after", "message"}
    assert body["status"] == "pending" and 0 <= body["progress"] < 1 and body["message"]
    assert int(r.headers["retry-after"]) == body["retry_after"] >= 1


def test_the_202_is_documented_with_its_progress_body(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    for path in ("/api/v1/models/{name}/units/{layer}/{channel}/top-examples",
                 "/api/v1/models/{name}/examples"):
        pending = schema["paths"][path]["get"]["responses"]["202"]
        ref = pending["content"]["application/json"]["schema"]["$ref"]
        assert ref == "#/components/schemas/PendingOut" and "Retry-After" in pending["headers"]
    body = schema["components"]["schemas"]["PendingOut"]["properties"]
    assert set(body) == {"status", "progress", "retry_after", "message"}


@needs_mnist
def test_the_pass_begins_at_start_up_without_holding_it_up(
        tmp_path: Path, independently: IndependentAnswers) -> None:
    """The start-up pass is held back here until the app has started: the start does not wait
    for it, the mistakes are its progress (202) meanwhile, then what the model gets wrong."""
    (tmp_path / "mnist.npz").symlink_to(ROOT / "data" / "mnist.npz")
    app = create_app(Settings(data_dir=tmp_path))
    inspector = app.state.inspector
    begun, go, evaluate = threading.Event(), threading.Event(), inspector._evaluate

    def held(m, ev):
        begun.set()
        go.wait(60)
        return evaluate(m, ev)

    inspector._evaluate = held
    with TestClient(app) as c:  # started, while the pass waits
        assert begun.wait(60)  # it began by itself, asked by no request
        url = f"/api/v1/models/{MODEL}/examples"
        assert_pending(c.get(url, params={"wrong": True, "limit": 30}))
        go.set()
        statuses, body = when_ready(c, url, wrong=True, limit=30)
    assert set(statuses[:-1]) <= {202} and statuses[-1] == 200
    want = independently
    wrong = np.nonzero(want.predictions != want.labels)[0]
    assert body["total"] == len(wrong) and 0 < len(wrong) <= 100
    assert body["accuracy"] == pytest.approx((want.predictions == want.labels).mean())
    # most confident first: the order of the independent confidences (ties too close to call
    # in float32 aside, so compared as sets and by confidence)
    listed = [e["index"] for e in body["examples"]]
    assert set(listed) <= set(wrong.tolist()) and len(listed) == min(30, len(wrong))
    most_confident = np.sort(want.confidence[wrong])[::-1][:len(listed)]
    np.testing.assert_allclose([e["confidence"] for e in body["examples"]], most_confident,
                               rtol=1e-4)
    for e in body["examples"]:
        assert e["label"] == str(want.labels[e["index"]])
        assert e["prediction"] == str(want.predictions[e["index"]]) != e["label"]


@pytest.fixture(scope="module")
def lazy_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app with the start-up pass turned off: the first request for a test-set answer
    begins it."""
    data = tmp_path_factory.mktemp("data")
    (data / "mnist.npz").symlink_to(ROOT / "data" / "mnist.npz")
    with TestClient(create_app(Settings(data_dir=data, precompute_test_sets=False))) as c:
        yield c


@needs_mnist
def test_until_the_pass_is_done_test_set_answers_are_its_progress(
        lazy_client: TestClient, independently: IndependentAnswers) -> None:
    m = lazy_client.app.state.inspector.load(MODEL)
    assert m.test is None and m.evaluation is None  # off at start-up: nothing ran
    url = f"/api/v1/models/{MODEL}/units/7/2/top-examples"
    assert_pending(lazy_client.get(url, params={"k": 4}))  # this request began the pass
    statuses, done = when_ready(lazy_client, url, k=4)
    assert statuses[-1] == 200 and set(statuses[:-1]) <= {202}
    assert len(done["examples"]) == 4
    # the mistakes listing came from the same pass: no second one to wait for
    mistakes = lazy_client.get(f"/api/v1/models/{MODEL}/examples", params={"wrong": True})
    assert mistakes.status_code == 200 and mistakes.json()["total"] == int(
        (independently.predictions != independently.labels).sum())
    # the same ranking as the independent model on the whole test set
    means = independently.unit_means[7][:, 2]
    expected = np.argsort(-means, kind="stable")[:4]
    assert [e["index"] for e in done["examples"]] == expected.tolist()
    np.testing.assert_allclose([e["score"] for e in done["examples"]], means[expected],
                               rtol=1e-4)


@needs_mnist
def test_the_pass_begins_at_start_up_unasked_and_stops_when_the_app_closes(tmp_path) -> None:
    (tmp_path / "mnist.npz").symlink_to(ROOT / "data" / "mnist.npz")
    with TestClient(create_app(Settings(data_dir=tmp_path))) as c:
        inspector = c.app.state.inspector
        m = inspector.load(MODEL)  # the model the start-up pass loads (one copy is kept)
        deadline = time.monotonic() + 300
        while m.evaluation is None or m.evaluation.done == 0:  # no request: it began itself
            assert m.test is None, "the pass ended before the app closed: nothing to stop"
            assert time.monotonic() < deadline
            time.sleep(0.01)
    worker = inspector._worker
    assert worker is not None and not worker.is_alive()  # joined at shutdown
    assert m.test is None  # stopped part-way, not run to the end
