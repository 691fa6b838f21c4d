"""The sequence lab through the REST API: traces against torch's cells, the gradient flow against
autograd, datasets, live runs, the shipped models, and every bad input the issue names."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import LIMITS, ROOT, Settings

PREPARED = ROOT / "data" / "sequences"
R = LIMITS.recurrent


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app on a scratch data directory holding a copy of the prepared sequence data."""
    data = tmp_path_factory.mktemp("data")
    if not (PREPARED / "manifest.json").is_file():
        pytest.fail("the sequence data is not prepared: run `make setup`")
    shutil.copytree(PREPARED, data / "sequences", ignore=shutil.ignore_patterns("uploads"))
    with TestClient(create_app(Settings(data_dir=data, max_queued_runs=2))) as c:
        yield c


def error_of(r) -> dict:
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    return r.json()["error"]


def read_events(client: TestClient, run_id: str) -> list[tuple[str, dict]]:
    out, kind = [], ""
    with client.stream("GET", f"/api/v1/training-runs/{run_id}/events") as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                out.append((kind, json.loads(line[5:])))
    return out


# ---------------------------------------------------------------- cells by hand

def torch_cell(cell: str, weights: dict, input_size: int, hidden: int) -> torch.nn.Module:
    module = {"rnn": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell,
              "gru": torch.nn.GRUCell}[cell](input_size, hidden)
    with torch.no_grad():
        for name, value in weights.items():
            getattr(module, name).copy_(torch.tensor(value))
    return module


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_a_trace_equals_torchs_cell_with_the_weights_it_returns(client: TestClient, cell: str):
    rng = np.random.default_rng(3)
    inputs = rng.normal(size=(7, 3)).round(3).tolist()
    h0 = [0.5, -0.25, 0.1, 0.0]
    body = {"cell": cell, "input_size": 3, "hidden_size": 4, "inputs": inputs, "h0": h0,
            "seed": 11}
    if cell == "lstm":
        body["c0"] = [0.3, 0.0, -0.2, 1.0]
    r = client.post("/api/v1/sequences/trace", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert [s["t"] for s in out["steps"]] == list(range(1, 8))
    module = torch_cell(cell, out["weights"], 3, 4)
    h = torch.tensor([h0])
    c = torch.tensor([body.get("c0", [0.0] * 4)])
    for step, x in zip(out["steps"], inputs, strict=True):
        with torch.no_grad():
            if cell == "lstm":
                h, c = module(torch.tensor([x]), (h, c))
                np.testing.assert_allclose(step["c"], c[0], atol=2e-6)
                assert set(step["gates"]) == {"input", "forget", "cell", "output"}
            else:
                h = module(torch.tensor([x]), h)
        np.testing.assert_allclose(step["h"], h[0], atol=2e-6)
        biggest = max(step["h"], key=abs)  # (a tiny negative would print as 0.000)
        assert f"{biggest:.3f}".replace("-", "−") in step["expression"]
    if cell == "gru":
        assert set(out["steps"][0]["gates"]) == {"reset", "update", "new"}
    # the same seed draws the same weights; the weights sent back in give the same trace
    again = client.post("/api/v1/sequences/trace", json=body | {"weights": out["weights"],
                                                                  "seed": 99}).json()
    assert again["steps"] == out["steps"]


def nan_body(**change) -> bytes:
    body = {"cell": "rnn", "input_size": 1, "hidden_size": 2, "inputs": [[1.0]]} | change
    return json.dumps(body).encode()  # json.dumps writes NaN and Infinity as those tokens


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"cell": "transformer"}, "cell", "'rnn', 'lstm' or 'gru'"),
    ({"hidden_size": 0}, "hidden_size", "greater than or equal to 1"),
    ({"hidden_size": R.hidden_size + 1}, "hidden_size", f"less than or equal to {R.hidden_size}"),
    ({"hidden_size": "2"}, "hidden_size", "integer"),
    ({"hidden_size": True}, "hidden_size", "integer"),
    ({"inputs": []}, "inputs", "at least 1"),
    ({"inputs": [[1.0, 2.0], [1.0]], "input_size": 2}, "inputs", "inputs[1] has 1"),
    ({"inputs": [["a"]]}, "inputs", "inputs.0.0: Input should be a valid number"),
    ({"inputs": [[1.0]] * (R.steps + 1)}, "inputs", f"at most {R.steps}"),
    ({"inputs": [[2e6]]}, "inputs", "less than or equal to 1000000"),
    ({"c0": [0.0, 0.0]}, "c0", "LSTM"),
    ({"h0": [0.0]}, "h0", "2"),
    ({"cell": "lstm", "weights": {"weight_ih": [[0.1]] * 2, "weight_hh": [[0.1] * 2] * 8,
                                  "bias_ih": [0.0] * 8, "bias_hh": [0.0] * 8}},
     "weights.weight_ih", "8×1"),
    ({"weights": {"weight_ih": [[0.1]] * 2, "weight_hh": [[0.1] * 2] * 2,
                  "bias_ih": [0.0] * 2}}, "weights", "weights.bias_hh: Field required"),
])
def test_bad_traces_are_422_naming_the_field_and_the_range(client: TestClient, body: dict,
                                                          field: str, words: str):
    base = {"cell": "rnn", "input_size": 1, "hidden_size": 2, "inputs": [[1.0]]}
    r = client.post("/api/v1/sequences/trace", json=base | body)
    assert r.status_code == 422, r.text
    error = error_of(r)
    assert error["field"] == field, error
    assert words in error["message"], error


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused(client: TestClient, token: str):
    r = client.post("/api/v1/sequences/trace", headers={"content-type": "application/json"},
                    content=nan_body(inputs=[[float(token.replace("Infinity", "inf"))]]))
    assert r.status_code == 422 and error_of(r)["field"].startswith("inputs"), r.text


def test_the_gradient_flow_equals_autograd_on_the_inputs_and_weights_it_returns(
        client: TestClient):
    for cell in ("rnn", "lstm"):
        body = {"cell": cell, "hidden_size": 8, "length": 30, "seed": 2, "weight_scale": 1.5}
        r = client.post("/api/v1/sequences/gradient-flow", json=body)
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["lags"] == list(range(30))
        x = torch.tensor(out["inputs"], dtype=torch.float64, requires_grad=True)
        module = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM}[cell](x.shape[1], 8).double()
        with torch.no_grad():
            for name, value in out["weights"].items():
                getattr(module, f"{name}_l0").copy_(torch.tensor(value))
        seq, _ = module(x[:, None, :])  # (T, 1, H)
        (grad,) = torch.autograd.grad(seq[-1].sum(), x)
        expected = grad.norm(dim=1).flip(0)  # lag 0 is the last input
        np.testing.assert_allclose(out["norms"], expected, rtol=1e-4, atol=1e-10)


def test_an_lstm_carries_the_gradient_farther_than_an_rnn(client: TestClient):
    def norms(cell: str) -> list[float]:
        return client.post("/api/v1/sequences/gradient-flow", json={
            "cell": cell, "hidden_size": 16, "length": 60, "weight_scale": 1.0}).json()["norms"]

    rnn, lstm = norms("rnn"), norms("lstm")
    assert rnn[40] / rnn[0] < lstm[40] / lstm[0]


@pytest.mark.parametrize(("body", "field"), [
    ({"length": 0}, "length"), ({"length": R.flow_length + 1}, "length"),
    ({"weight_scale": 0}, "weight_scale"), ({"weight_scale": R.weight_scale + 1}, "weight_scale"),
    ({"hidden_size": R.flow_hidden + 1}, "hidden_size"), ({"cell": "gru2"}, "cell"),
])
def test_bad_gradient_flows_are_422(client: TestClient, body: dict, field: str):
    r = client.post("/api/v1/sequences/gradient-flow", json=body)
    assert r.status_code == 422 and error_of(r)["field"] == field, r.text


# ---------------------------------------------------------------- datasets

def test_datasets_are_listed_and_an_upload_round_trips(client: TestClient):
    listed = {d["name"]: d for d in client.get("/api/v1/sequences/datasets").json()}
    assert listed["names"]["tasks"] == ["generate"] and listed["names"]["available"]
    assert listed["names-by-language"]["kind"] == "labeled"
    assert len(listed["names-by-language"]["classes"]) >= 10
    assert listed["sunspots"]["kind"] == "series"
    text = "def add(a, b):\n    return a + b\n" * 20
    r = client.post("/api/v1/sequences/datasets", data={"name": "tiny-code"},
                    files={"file": ("code.txt", text.encode(), "text/plain")})
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "text" and "def add" in r.json()["preview"]
    assert client.get("/api/v1/sequences/datasets/tiny-code").json()["source"] == "upload"
    taken = client.post("/api/v1/sequences/datasets", data={"name": "tiny-code"},
                        files={"file": ("code.txt", text.encode(), "text/plain")})
    assert taken.status_code == 409
    assert client.delete("/api/v1/sequences/datasets/tiny-code").status_code == 204
    assert client.get("/api/v1/sequences/datasets/tiny-code").status_code == 404
    assert client.delete("/api/v1/sequences/datasets/names").status_code == 409


@pytest.mark.parametrize(("filename", "data", "field", "words"), [
    ("a.txt", b"", "file", "empty"),
    ("a.txt", "café au lait ".encode("latin-1") * 20, "file", "UTF-8"),
    ("a.csv", b"city,country\nParis,France\nRome,Italy\n", "file", "only numbers"),
    ("a.zip", b"PK\x03\x04", "file", ".txt"),
])
def test_bad_text_uploads_are_422(client: TestClient, filename: str, data: bytes, field: str,
                                  words: str):
    r = client.post("/api/v1/sequences/datasets", data={"name": "bad"},
                    files={"file": (filename, data, "application/octet-stream")})
    error = error_of(r)
    assert r.status_code == 422 and error["field"] == field and words in error["message"], error


def test_a_csv_column_becomes_a_series(client: TestClient):
    rows = "t,level\n" + "".join(f"{i},{np.sin(i / 5):.4f}\n" for i in range(60))
    r = client.post("/api/v1/sequences/datasets", data={"name": "wave"},
                    files={"file": ("wave.csv", rows.encode(), "text/csv")})
    assert r.status_code == 201 and r.json()["kind"] == "series", r.text
    assert r.json()["size"]["train_values"] + r.json()["size"]["val_values"] == 60
    client.delete("/api/v1/sequences/datasets/wave")


# ---------------------------------------------------------------- shipped models

def test_the_shipped_models_beat_their_bigram_baselines(client: TestClient):
    models = {m["name"]: m for m in client.get("/api/v1/sequences/models").json()}
    assert {"names-lstm", "python-lstm", "names-language-gru"} <= set(models)
    for m in models.values():
        if m["shipped"]:
            metrics = m["metrics"]
            assert metrics["val_loss"] <= 0.9 * metrics["bigram_val_loss"], m["name"]
            assert m["command"].startswith("python scripts/train_sequences.py")


def test_generating_is_seeded_and_lists_the_top_five(client: TestClient):
    body = {"prompt": "Ma", "length": 40, "temperature": 0.8, "seed": 5}
    a = client.post("/api/v1/sequences/models/names-lstm/generate", json=body)
    assert a.status_code == 200, a.text
    a = a.json()
    assert a == client.post("/api/v1/sequences/models/names-lstm/generate", json=body).json()
    assert len(a["steps"]) == 40 and "".join(s["char"] for s in a["steps"]) == a["text"]
    for step in a["steps"]:
        ps = [t["p"] for t in step["top"]]
        assert len(ps) == 5 and ps == sorted(ps, reverse=True) and sum(ps) <= 1 + 1e-6
    other = client.post("/api/v1/sequences/models/names-lstm/generate",
                        json=body | {"seed": 6}).json()
    assert other["text"] != a["text"]
    # a low temperature sharpens the distribution it samples from: p rises above p_raw
    cold = client.post("/api/v1/sequences/models/names-lstm/generate",
                       json=body | {"temperature": 0.3}).json()
    first = cold["steps"][0]["top"][0]
    assert first["p"] > first["p_raw"]


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"temperature": 0}, "temperature", "greater than 0"),
    ({"temperature": 6}, "temperature", "less than or equal to 5"),
    ({"length": 0}, "length", "greater than or equal to 1"),
    ({"length": 5000}, "length", "less than or equal to 2000"),
    ({"prompt": "Ma☃!"}, "prompt", "'☃'"),
    ({"top_k": -1}, "top_k", "greater than or equal to 0"),
])
def test_bad_generations_are_422(client: TestClient, body: dict, field: str, words: str):
    r = client.post("/api/v1/sequences/models/names-lstm/generate", json=body)
    error = error_of(r)
    assert r.status_code == 422 and error["field"] == field and words in error["message"], error


def test_classifying_a_name_gives_the_answer_after_every_character(client: TestClient):
    r = client.post("/api/v1/sequences/models/names-language-gru/classify",
                    json={"text": "Giuseppe"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert sum(out["probs"]) == pytest.approx(1, abs=1e-4)
    assert [p["prefix"] for p in out["prefixes"]] == ["Giuseppe"[:i] for i in range(1, 9)]
    assert out["prefixes"][-1]["probs"] == out["probs"]
    assert out["best"] == out["classes"][int(np.argmax(out["probs"]))]


def test_models_used_for_the_wrong_task_or_unknown_are_refused(client: TestClient):
    # a classifier has no generate action (and a writer no classify): 404, saying why
    r = client.post("/api/v1/sequences/models/names-language-gru/generate", json={})
    message = error_of(r)["message"]
    assert r.status_code == 404 and "names-language-gru is a classify model" in message
    assert "/api/v1/sequences/models" in message
    r = client.post("/api/v1/sequences/models/names-lstm/classify", json={"text": "Anna"})
    assert r.status_code == 404 and "generate model" in error_of(r)["message"]
    # a top_k past the vocabulary keeps every character, as 0 does
    big = client.post("/api/v1/sequences/models/names-lstm/generate",
                      json={"length": 10, "top_k": LIMITS.sequences.vocab, "seed": 3}).json()
    assert big["text"] == client.post("/api/v1/sequences/models/names-lstm/generate",
                                      json={"length": 10, "top_k": 0, "seed": 3}).json()["text"]
    r = client.post("/api/v1/sequences/models/nope/generate", json={})
    assert r.status_code == 404 and "/api/v1/sequences/models" in error_of(r)["message"]
    r = client.post("/api/v1/sequences/models/names-language-gru/classify", json={"text": ""})
    assert r.status_code == 422 and error_of(r)["field"] == "text"


# ---------------------------------------------------------------- runs

@pytest.mark.parametrize(("body", "status", "field"), [
    ({"dataset": "nope"}, 404, "dataset"),
    ({"dataset": "sunspots", "task": "generate"}, 422, "task"),
    ({"hidden_size": 0}, 422, "hidden_size"),
    ({"layers": 4}, 422, "layers"),
    ({"learning_rate": 0}, 422, "learning_rate"),
    ({"cell": "transformer"}, 422, "cell"),
    ({"epochs": 1000}, 422, "epochs"),
])
def test_bad_runs_are_refused_before_they_queue(client: TestClient, body: dict, status: int,
                                               field: str):
    r = client.post("/api/v1/sequences/training-runs", json=body)
    assert r.status_code == status and error_of(r)["field"] == field, r.text


@pytest.mark.slow
def test_a_char_run_streams_samples_and_its_model_generates(client: TestClient):
    r = client.post("/api/v1/sequences/training-runs", json={
        "dataset": "names-german", "hidden_size": 32, "seq_len": 32, "epochs": 2})
    assert r.status_code == 201, r.text
    run = r.json()
    events = read_events(client, run["id"])
    kinds = [k for k, _ in events]
    assert kinds[-1] == "status" and events[-1][1]["status"] == "completed", events[-1]
    start = next(d for k, d in events if k == "start")
    assert start["baseline"]["bigram_val_loss"] > 0 and "\n" in start["vocab"]
    snapshots = [d for k, d in events if k == "snapshot"]
    assert len(snapshots) >= 2 and len(snapshots[-1]["samples"]) == 3
    heat = snapshots[-1]["heatmap"]
    assert len(heat["values"]) == 32 and len(heat["values"][0]) == len(heat["text"])
    epochs = [d for k, d in events if k == "epoch"]
    assert len(epochs) == 2 and epochs[-1]["val_loss"] < start["baseline"]["bigram_val_loss"] * 2
    saved = client.post(f"/api/v1/training-runs/{run['id']}/model", json={"name": "german-tiny"})
    assert saved.status_code == 201 and saved.json()["task"] == "generate", saved.text
    listed = {m["name"]: m for m in client.get("/api/v1/sequences/models").json()}
    assert listed["german-tiny"]["metrics"]["bigram_val_loss"] == pytest.approx(
        start["baseline"]["bigram_val_loss"])
    g = client.post("/api/v1/sequences/models/german-tiny/generate", json={"length": 20})
    assert g.status_code == 200 and len(g.json()["text"]) == 20
    assert "german-tiny" not in [m["name"] for m in client.get("/api/v1/models").json()]
    assert client.delete("/api/v1/models/german-tiny").status_code == 204


@pytest.mark.slow
def test_the_memory_task_reports_each_cell_and_delay(client: TestClient):
    r = client.post("/api/v1/sequences/memory-runs",
                    json={"delays": [1, 3], "steps": 60, "hidden_size": 8})
    assert r.status_code == 201, r.text
    events = read_events(client, r.json()["id"])
    results = [(d["cell"], d["delay"]) for k, d in events if k == "memory_result"]
    assert results == [("rnn", 1), ("rnn", 3), ("lstm", 1), ("lstm", 3)]
    done = next(d for k, d in events if k == "done")
    assert set(done["metrics"]["longest"]) == {"rnn", "lstm"}
    assert events[-1][1]["status"] == "completed"


def test_bad_memory_runs_are_422(client: TestClient):
    for body, field in (({"delays": [0]}, "delays"), ({"cells": []}, "cells"),
                        ({"steps": R.memory_steps + 1}, "steps")):
        r = client.post("/api/v1/sequences/memory-runs", json=body)
        assert r.status_code == 422 and error_of(r)["field"] == field, r.text


def test_a_forecast_run_draws_the_prediction_over_the_truth(client: TestClient):
    r = client.post("/api/v1/sequences/training-runs", json={
        "dataset": "sine", "cell": "gru", "hidden_size": 16, "seq_len": 32, "epochs": 1})
    assert r.status_code == 201, r.text
    deadline = time.monotonic() + 60
    events = read_events(client, r.json()["id"])
    assert time.monotonic() < deadline
    snapshot = [d for k, d in events if k == "snapshot"][-1]
    f = snapshot["forecast"]
    assert len(f["truth"]) == len(f["teacher_forced"]) == len(f["free_running"]) > 0
    start = next(d for k, d in events if k == "start")
    assert start["baseline"]["persistence_mse"] > 0


@pytest.mark.parametrize("path", ["/api/v1/sequences/gradient-flow", "/api/v1/sequences/trace",
                                  "/api/v1/stepper/convolution"])
def test_a_body_that_is_not_utf8_is_a_documented_422(client: TestClient, path: str):
    r = client.post(path, content=b"\xff\xfe{", headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert "UTF-8 JSON" in error_of(r)["message"]
    assert "422" in client.get("/openapi.json").json()["paths"][path]["post"]["responses"]
