"""The notebook client (app.client) against the real app in-process: FastAPI's TestClient is an
httpx.Client, so `Playground(client=TestClient(app))` makes the same calls a notebook makes over
the network."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from app.client import Playground, PlaygroundError
from app.main import create_app
from app.settings import Settings

TINY = {"dataset": "shapes", "architecture": "tiny", "batch_size": 128}


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Playground]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), max_concurrent_runs=1,
                        max_queued_runs=1)
    with TestClient(create_app(settings)) as c:
        yield Playground(client=c)


def test_a_grid_convolves_as_conv2d(pg: Playground) -> None:
    rng = np.random.default_rng(0)
    grid, kernel = rng.normal(size=(9, 7)), rng.normal(size=(3, 3))
    out = pg.convolve(grid, kernel, stride=2, padding=1)
    want = torch.nn.functional.conv2d(torch.tensor(grid)[None, None],
                                      torch.tensor(kernel)[None, None], stride=2, padding=1)
    assert isinstance(out, np.ndarray) and out.shape == (5, 4)
    np.testing.assert_allclose(out, want[0, 0].numpy(), rtol=1e-5, atol=1e-5)
    bank = pg.filter_bank(grid, {"id": [[1]], "neg": [[-1]]})
    np.testing.assert_allclose(bank["neg"], -grid, rtol=1e-6)


def test_presets_come_by_key_with_their_matrix_as_an_array(pg: Playground) -> None:
    presets = pg.kernel_presets()
    blur = presets["box-blur"]
    assert isinstance(blur["matrix"], np.ndarray) and blur["matrix"].shape == (3, 3)
    assert blur["scale"] == blur["matrix"].sum() == 9 and blur["explanation"]
    # with its scale, a blur keeps a flat grid flat
    out = pg.convolve(np.full((5, 5), 7.0), blur["matrix"], scale=blur["scale"])
    np.testing.assert_allclose(out, np.full((3, 3), 7.0))
    np.testing.assert_array_equal(presets["sobel-x"]["matrix"],
                                  [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])


def test_an_image_convolves_to_a_picture_of_its_size(pg: Playground, tmp_path: Path) -> None:
    photo = Image.fromarray(np.random.default_rng(1).integers(0, 256, (40, 60, 3), np.uint8))
    sobel = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    out = pg.convolve(photo, sobel, padding="same", display="abs")
    assert isinstance(out, Image.Image) and out.size == (60, 40)
    photo.save(tmp_path / "photo.png")
    image_id = pg.upload(tmp_path / "photo.png")  # a path, the same bytes: the same id
    assert image_id == pg.upload(str(tmp_path / "photo.png"))
    assert pg.convolve(image_id, sobel).size == (58, 38)  # valid: 2 px less each way
    assert "sample-shapes" in [i["id"] for i in pg.images()]
    maps = pg.filter_bank("sample-shapes", [sobel, np.array(sobel).T])
    assert list(maps) == ["0", "1"] and all(isinstance(m, Image.Image) for m in maps.values())


def test_errors_raise_with_the_field_and_the_message(pg: Playground) -> None:
    with pytest.raises(PlaygroundError) as caught:
        pg.convolve(np.ones((4, 4)), [[1]], padding="bad")
    e = caught.value
    assert (e.status, e.code, e.field) == (422, "invalid_request", "padding")
    assert "'valid' or 'same'" in e.message and "padding" in str(e)
    with pytest.raises(PlaygroundError) as caught:
        pg.decode("no-such-model", [0, 0])
    assert caught.value.status == 404
    for start, field in [(pg.train_sequence, "hidden_size"), (pg.train_generative, "task")]:
        with pytest.raises(PlaygroundError) as caught:
            start(**{field: 0})  # refused before anything queues
        assert (caught.value.status, caught.value.field) == (422, field)


def test_the_stepper_traces(pg: Playground) -> None:
    t = pg.trace_convolution([[1, 2, 5], [0, 2, 3], [4, 5, 5]], [[1, 0], [0, -1]])
    np.testing.assert_array_equal(t["output"], [[-1, -1], [-5, -3]])
    assert t["steps"][0]["sum"] == -1
    p = pg.trace_pooling([[1, 3], [2, 9]], op="max", size=2)
    assert p["output"].tolist() == [[9]] and p["flattened"].tolist() == [9]


def test_the_inspector_and_the_generative_lab(pg: Playground) -> None:
    assert "mnist-cnn" in [m["name"] for m in pg.models()]
    pixels = np.zeros((28, 28))
    pixels[4:24, 12:16] = 255  # a one
    answer = pg.predict("mnist-cnn", pixels)
    assert len(answer["probabilities"]) == 10 and isinstance(answer["input_png"], Image.Image)
    layers = pg.activations("mnist-cnn", pixels, values=True)["layers"]
    assert isinstance(layers[0]["png"], Image.Image)
    assert list(layers[0]["values"].shape) == layers[0]["shape"]

    digit = pg.decode("vae-2d", np.array([0.5, -1.2]))
    assert digit.size == (28, 28) and digit.info["outside_prior"] is False
    assert pg.decode("vae-2d", [9, 0]).info["outside_prior"] is True
    many = pg.decode_many("vae-2d", [[0, 0], [1, 1], [2, -2]])
    assert [m.size for m in many] == [(28, 28)] * 3
    assert np.array_equal(np.asarray(many[0]), np.asarray(pg.decode("vae-2d", [0, 0]).convert("L")))
    s = pg.sample("vae-2d", count=4, seed=3)
    assert s["latents"].shape == (4, 2) and isinstance(s["png"], Image.Image)
    np.testing.assert_array_equal(s["latents"], pg.sample("vae-2d", 4, 3)["latents"])
    code = pg.encode("vae-2d", pixels)
    assert len(code["mean"]) == 2 and code["reconstruction_png"].size == (28, 28)
    frames = pg.interpolate("vae-2d", [0, 0], [2, 1], steps=5)["frames"]
    assert len(frames) == 5 and all(f.size == (28, 28) for f in frames)


def test_a_trace_equals_torchs_lstm_cell_on_the_returned_weights(pg: Playground) -> None:
    inputs = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    t = pg.sequence_trace("lstm", inputs, hidden_size=3, seed=2)
    cell = torch.nn.LSTMCell(2, 3)
    with torch.no_grad():
        for name, value in t["weights"].items():
            getattr(cell, name).copy_(torch.tensor(value))
        h = c = torch.zeros(1, 3)
        for x, step in zip(inputs, t["steps"], strict=True):
            h, c = cell(torch.tensor(x, dtype=torch.float32)[None], (h, c))
            np.testing.assert_allclose(step["h"], h[0].numpy(), atol=1e-5)
            np.testing.assert_allclose(step["c"], c[0].numpy(), atol=1e-5)
    flow = pg.gradient_flow("lstm", hidden_size=8, length=20)
    assert len(flow["norms"]) == 20


def test_generating_is_seeded_and_names_are_classified(pg: Playground) -> None:
    a = pg.generate("names-lstm", prompt="Ma", length=30, temperature=0.8, seed=5)
    assert a == pg.generate("names-lstm", prompt="Ma", length=30, temperature=0.8, seed=5)
    assert len(a["steps"]) == 30
    assert a["text"] != pg.generate("names-lstm", prompt="Ma", length=30, temperature=0.8,
                                    seed=6)["text"]
    answer = pg.classify("names-language-gru", "Giuseppe")
    assert answer["best"] in answer["classes"]


@pytest.mark.slow
def test_a_tiny_run_streams_to_its_end_and_is_saved(pg: Playground) -> None:
    run = pg.train(**TINY, epochs=1)
    events = list(run.events())
    kinds = [k for k, _ in events]
    assert kinds[0] == "status" and "progress" in kinds and "epoch" in kinds and "done" in kinds
    assert events[-1] == ("status", events[-1][1]) and events[-1][1]["status"] == "completed"
    snapshot = next(d for k, d in events if k == "snapshot")
    assert isinstance(snapshot["filters"]["png"], Image.Image)
    assert run.status()["has_weights"]
    card = run.save("client-tiny")
    assert card["name"] == "client-tiny" and "client-tiny" in [m["name"] for m in pg.models()]
    shape = pg.predict("client-tiny", np.eye(28) * 255)
    assert shape["model"] == "client-tiny" and len(shape["probabilities"]) == 6
    with pytest.raises(PlaygroundError) as caught:
        run.save("client-tiny")
    assert caught.value.status == 409 and "exists" in caught.value.message
    run.delete()
    with pytest.raises(PlaygroundError) as caught:
        run.status()
    assert caught.value.status == 404


@pytest.mark.slow
def test_a_long_run_pauses_resumes_and_is_cancelled(pg: Playground) -> None:
    run = pg.train(**TINY, epochs=20)
    for kind, _ in run.events():
        if kind == "progress":
            break  # leaving the stream does not stop it
    assert run.status()["status"] == "running"
    assert run.pause()["status"] == "paused" and run.resume()["status"] == "running"
    assert pg.run(run.id).id == run.id
    assert run.cancel()["status"] == "stopping"
    assert run.wait()["status"] == "stopped" and run.info["has_weights"]
    with pytest.raises(PlaygroundError) as caught:
        run.cancel()
    assert caught.value.status == 409
    run.delete()


def test_without_httpx_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real = builtins.__import__

    def no_httpx(name: str, *args, **kw):
        if name == "httpx":
            raise ImportError("No module named 'httpx'")
        return real(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_httpx)
    with pytest.raises(ImportError, match=r"pip install 'dl-playground\[client\]'"):
        Playground()


def test_an_image_answer_is_a_png(pg: Playground) -> None:
    img = pg.image("sample-digit")
    buf = io.BytesIO()
    img.save(buf, "PNG")
    assert img.format == "PNG" and pg.image_grid("sample-digit", 8, 8).shape == (8, 8)
