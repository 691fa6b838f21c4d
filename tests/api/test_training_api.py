"""Live training through the REST API: real runs in spawned processes, on the shapes dataset."""

from __future__ import annotations

import base64
import io
import json
import statistics
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image
from safetensors.torch import load_file

from app.core import nets
from app.main import create_app
from app.services.models import ClassifierCard, write_weights
from app.services.runs.records import RunRecord, RunStore
from app.settings import LIMITS, ROOT, Settings

TINY = "tiny"
DEEP_LINEAR = [{"type": "flatten"}] + [{"type": "linear", "out_features": 128}] * 4 + [
    {"type": "linear", "out_features": 6}]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def client(data_dir: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=data_dir, max_concurrent_runs=1, max_queued_runs=1)
    with TestClient(create_app(settings)) as c:
        yield c


def read_events(client: TestClient, run_id: str, *, limit: int | None = None,
                after: int = 0) -> list[tuple[int, str, dict]]:
    """(id, event, data) of the run's stream until it ends (or `limit` events)."""
    out: list[tuple[int, str, dict]] = []
    seq, kind = 0, ""
    with client.stream("GET", f"/api/v1/training-runs/{run_id}/events",
                       params={"after": after}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("id:"):
                seq = int(line[3:])
            elif line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                out.append((seq, kind, json.loads(line[5:])))
                if limit and len(out) >= limit:
                    break
    return out


def wait_for(client: TestClient, run_id: str, statuses: tuple[str, ...], timeout: float = 60
             ) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.get(f"/api/v1/training-runs/{run_id}").json()
        if run["status"] in statuses:
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not reach {statuses}: {run}")


def start(client: TestClient, **body) -> dict:
    r = client.post("/api/v1/training-runs", json={"dataset": "shapes", "architecture": TINY,
                                                   "epochs": 1, "batch_size": 128, **body})
    assert r.status_code == 201, r.text
    return r.json()


def test_datasets_are_listed_with_counts_and_samples(client: TestClient) -> None:
    listed = {d["name"]: d for d in client.get("/api/v1/datasets").json()}
    shapes = listed["shapes"]
    assert shapes["available"] and shapes["shape"] == [1, 28, 28] and len(shapes["classes"]) == 6
    assert sum(shapes["counts"]["train"]) == 6000
    assert not listed["mnist"]["available"] and "make setup" in listed["mnist"]["message"]
    png = client.get(shapes["samples_url"], params={"per_class": 4})
    assert png.headers["content-type"] == "image/png"
    im = Image.open(io.BytesIO(png.content))
    assert im.size[1] >= 6 * 28 and im.size[0] >= 4 * 28


def test_architecture_table_matches_torch(client: TestClient) -> None:
    layers = nets.PRESETS["lenet5"]["layers"][:-1] + [{"type": "linear", "out_features": 6}]
    r = client.post("/api/v1/architectures/validate", json={"layers": layers,
                                                            "dataset": "shapes"})
    assert r.status_code == 200, r.text
    body = r.json()
    model = nets.build(layers, (1, 28, 28), 6, limits=LIMITS.nets)
    assert body["total_params"] == sum(p.numel() for p in model.parameters())
    assert body["rows"][0]["formula"] == "(5·5·1 + 1)·6 = 156"
    assert body["rows"][-1]["output_shape"] == [6]


@pytest.mark.parametrize(("layers", "field", "words"), [
    ([{"type": "conv2d"}, {"type": "linear", "out_features": 6}], "layers.1", "Flatten"),
    ([{"type": "flatten"}, {"type": "linear", "out_features": 10}], "layers", "6 classes"),
    ([{"type": "conv2d", "kernel_size": 99}], "layers.0.kernel_size", "kernel_size"),
    ([{"type": "attention"}], "layers.0.type", "attention"),
])
def test_an_impossible_architecture_is_flagged_at_its_layer(client: TestClient, layers: list,
                                                             field: str, words: str) -> None:
    r = client.post("/api/v1/architectures/validate", json={"layers": layers,
                                                            "dataset": "shapes"})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["field"] == field and words in err["message"], err


@pytest.mark.parametrize(("change", "status", "field"), [
    ({"learning_rate": 0}, 422, "learning_rate"),
    ({"epochs": 51}, 422, "epochs"),
    ({"batch_size": 0}, 422, "batch_size"),
    ({"optimizer": "rmsprop"}, 422, "optimizer"),
    ({"dataset": "imagenet"}, 404, "dataset"),
    ({"architecture": "resnet"}, 422, "architecture"),
    ({"architecture": [{"type": "flatten"}]}, 422, "layers"),
])
def test_absurd_runs_are_refused(client: TestClient, change: dict, status: int, field: str
                                 ) -> None:
    body = {"dataset": "shapes", "architecture": TINY, **change}
    r = client.post("/api/v1/training-runs", json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["field"] == field


@pytest.mark.slow
def test_a_run_streams_its_learning_and_its_model_is_saved(client: TestClient) -> None:
    run = start(client, epochs=2)
    events = read_events(client, run["id"])
    kinds = [k for _, k, _ in events]
    seqs = [s for s, _, _ in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)  # numbered, in order
    assert kinds[0] == "status" and kinds[-1] == "status" and events[-1][2]["status"] == "completed"
    assert kinds.count("epoch") == 2 and "start" in kinds and "done" in kinds
    assert kinds.count("progress") >= 2
    snapshot = next(d for _, k, d in events if k == "snapshot")
    png = base64.b64decode(snapshot["filters"]["png"].split(",", 1)[1])
    assert Image.open(io.BytesIO(png)).format == "PNG" and snapshot["filters"]["count"] == 4
    assert len(snapshot["layers"]) == 5
    epoch = [d for _, k, d in events if k == "epoch"][-1]
    assert np.array(epoch["confusion"]).sum() == 1000  # every validation shape, counted once
    done = next(d for _, k, d in events if k == "done")
    assert done["val_acc"] == epoch["val_acc"] and 0 <= done["test_acc"] <= 1

    record = client.get(f"/api/v1/training-runs/{run['id']}").json()
    assert record["status"] == "completed" and record["has_weights"]
    assert record["metrics"]["val_acc"] == pytest.approx(epoch["val_acc"])

    saved = client.post(f"/api/v1/training-runs/{run['id']}/model", json={"name": "shapes-tiny"})
    assert saved.status_code == 201, saved.text
    again = client.post(f"/api/v1/training-runs/{run['id']}/model", json={"name": "shapes-tiny"})
    assert again.status_code == 409 and "exists" in again.json()["error"]["message"]
    saved = [m["name"] for m in client.get("/api/v1/models").json() if not m["shipped"]]
    assert saved == ["shapes-tiny"]
    card = client.get("/api/v1/models/shapes-tiny").json()
    weights = client.get(card["weights_url"])
    path = Path(client.app.state.settings.data_dir) / "download.safetensors"
    path.write_bytes(weights.content)
    model = nets.build(card["layers"], tuple(card["input_shape"]), len(card["classes"]),
                       limits=LIMITS.nets)
    model.load_state_dict(load_file(path))  # the download is the whole, loadable model
    assert client.delete("/api/v1/models/shapes-tiny").status_code == 204
    assert client.get("/api/v1/models/shapes-tiny").status_code == 404


@pytest.mark.slow
def test_queue_full_cancel_and_a_stopped_run_keeps_its_model(client: TestClient) -> None:
    running = start(client, epochs=20)
    queued = start(client)
    assert queued["status"] == "queued" and queued["queue_position"] == 1
    full = client.post("/api/v1/training-runs", json={"dataset": "shapes", "architecture": TINY})
    assert full.status_code == 429 and int(full.headers["retry-after"]) > 0
    assert "try again" in full.json()["error"]["message"]

    cancelled = client.post(f"/api/v1/training-runs/{queued['id']}/cancel").json()
    assert cancelled["status"] == "stopped" and not cancelled["has_weights"]

    read_events(client, running["id"], limit=4)  # it is under way
    wait_for(client, running["id"], ("running",))
    stopping = client.post(f"/api/v1/training-runs/{running['id']}/cancel").json()
    assert stopping["status"] == "stopping"
    ended = wait_for(client, running["id"], ("stopped", "failed"), timeout=60)
    assert ended["status"] == "stopped" and ended["has_weights"], ended
    assert client.post(f"/api/v1/training-runs/{running['id']}/cancel").status_code == 409


def test_delete_removes_an_ended_run_and_refuses_a_running_one(client: TestClient,
                                                             data_dir: Path) -> None:
    run = start(client, epochs=20)
    wait_for(client, run["id"], ("running",))
    r = client.delete(f"/api/v1/training-runs/{run['id']}")
    assert r.status_code == 409 and f"/api/v1/training-runs/{run['id']}/cancel" in \
        r.json()["error"]["message"]
    client.post(f"/api/v1/training-runs/{run['id']}/cancel")
    ended = wait_for(client, run["id"], ("stopped",), timeout=60)
    assert ended["has_weights"]
    weights = data_dir / "runs" / f"{run['id']}.safetensors"
    assert weights.exists()
    saved = client.post(f"/api/v1/training-runs/{run['id']}/model", json={"name": "kept-copy"})
    assert saved.status_code == 201
    assert client.delete(f"/api/v1/training-runs/{run['id']}").status_code == 204
    assert client.get(f"/api/v1/training-runs/{run['id']}").status_code == 404
    assert run["id"] not in [r["id"] for r in client.get("/api/v1/training-runs").json()]
    assert not weights.exists()
    assert client.delete(f"/api/v1/training-runs/{run['id']}").status_code == 404
    # a model saved from the run is a copy: it stays
    assert client.get("/api/v1/models/kept-copy").status_code == 200
    assert client.delete("/api/v1/models/kept-copy").status_code == 204


@pytest.mark.slow
def test_pause_holds_the_run_and_resume_goes_on(client: TestClient) -> None:
    run = start(client, epochs=20)
    read_events(client, run["id"], limit=6)
    wait_for(client, run["id"], ("running",))
    assert client.post(f"/api/v1/training-runs/{run['id']}/pause").json()["status"] == "paused"
    assert client.post(f"/api/v1/training-runs/{run['id']}/pause").status_code == 409
    time.sleep(1.0)  # let a batch in flight finish
    steps = []
    for _ in range(2):
        progress = [d for _, k, d in read_events_now(client, run["id"]) if k == "progress"]
        steps.append(progress[-1]["step"] if progress else 0)
        time.sleep(1.0)
    assert steps[0] == steps[1], "a paused run went on training"
    assert client.post(f"/api/v1/training-runs/{run['id']}/resume").json()["status"] == "running"
    wait_for_step(client, run["id"], steps[1] + 1)
    client.post(f"/api/v1/training-runs/{run['id']}/cancel")
    wait_for(client, run["id"], ("stopped", "failed"))


def read_events_now(client: TestClient, run_id: str) -> list[tuple[int, str, dict]]:
    """The events so far, without waiting for more (the backend's buffer, read directly)."""
    buffer = client.app.state.jobs._buffers[run_id]
    return [(s, e["type"], e) for s, e in buffer.after(0)]


def wait_for_step(client: TestClient, run_id: str, step: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        progress = [d for _, k, d in read_events_now(client, run_id) if k == "progress"]
        if progress and progress[-1]["step"] >= step:
            return
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not reach step {step}")


@pytest.mark.slow
def test_leaving_the_stream_does_not_stop_the_run(client: TestClient) -> None:
    run = start(client)
    read_events(client, run["id"], limit=3)  # then the client goes away
    assert wait_for(client, run["id"], ("completed", "failed"))["status"] == "completed"


@pytest.mark.slow
def test_a_loss_that_becomes_nan_ends_the_run_saying_so(client: TestClient) -> None:
    run = start(client, architecture=DEEP_LINEAR, optimizer="sgd", learning_rate=10.0)
    ended = wait_for(client, run["id"], ("completed", "failed"))
    assert ended["status"] == "failed" and "smaller learning rate" in ended["message"]


@pytest.mark.slow
def test_the_kernel_lab_answers_while_a_run_trains(client: TestClient) -> None:
    run = start(client, epochs=20)
    wait_for_step(client, run["id"], 2)
    times = []
    for i in range(12):
        t = time.perf_counter()
        r = client.post("/api/v1/convolve", json={
            "image_id": "sample-landscape", "kernel": [[0, -1, 0], [-1, 5 + i, -1], [0, -1, 0]],
            "padding": "same", "format": "jpeg"})
        times.append(time.perf_counter() - t)
        assert r.status_code == 200
    client.post(f"/api/v1/training-runs/{run['id']}/cancel")
    wait_for(client, run["id"], ("stopped", "failed"))
    # on its own a request takes ~30 ms; sharing two cores with training it must stay interactive
    assert statistics.median(times) < 0.5, times


def test_dataset_upload_and_its_bad_forms(client: TestClient) -> None:
    def zip_of(files: dict[str, bytes]) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for name, data in files.items():
                z.writestr(name, data)
        return buf.getvalue()

    def png(value: int) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(np.full((12, 12), value, np.uint8)).save(buf, format="PNG")
        return buf.getvalue()

    good = zip_of({f"{c}/{i}.png": png(40 * i) for c in ("cats", "dogs") for i in range(5)})
    r = client.post("/api/v1/datasets", data={"name": "pets"},
                    files={"file": ("pets.zip", good, "application/zip")})
    assert r.status_code == 201, r.text
    assert r.json()["classes"] == ["cats", "dogs"] and r.json()["shape"] == [1, 28, 28]
    assert "pets" in [d["name"] for d in client.get("/api/v1/datasets").json()]
    evil = zip_of({"cats/1.png": png(1), "../../escape.png": png(2), "dogs/1.png": png(3)})
    r = client.post("/api/v1/datasets", data={"name": "evil"},
                    files={"file": ("evil.zip", evil, "application/zip")})
    assert r.status_code == 422
    one_class = zip_of({"cats/1.png": png(1)})
    r = client.post("/api/v1/datasets", data={"name": "lonely"},
                    files={"file": ("one.zip", one_class, "application/zip")})
    assert r.status_code == 422 and "class" in r.json()["error"]["message"]
    r = client.post("/api/v1/datasets", data={"name": "Bad Name!"},
                    files={"file": ("pets.zip", good, "application/zip")})
    assert r.status_code == 422 and r.json()["error"]["field"] == "name"
    assert client.delete("/api/v1/datasets/pets").status_code == 204
    assert client.delete("/api/v1/datasets/pets").status_code == 404


def test_runs_left_running_are_marked_interrupted_at_the_next_start(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite3")
    store.add(RunRecord(id="old-run", status="running", dataset="shapes", config={},
                        created=time.time()))
    store.close()
    with TestClient(create_app(Settings(data_dir=tmp_path))) as c:
        run = c.get("/api/v1/training-runs/old-run").json()
    assert run["status"] == "interrupted" and "stopped" in run["message"]


def test_unknown_runs_and_models_are_404(client: TestClient) -> None:
    for method, path in (("GET", "/api/v1/training-runs/nope"),
                         ("GET", "/api/v1/training-runs/nope/events"),
                         ("POST", "/api/v1/training-runs/nope/pause"),
                         ("DELETE", "/api/v1/training-runs/nope"),
                         ("GET", "/api/v1/models/nope"), ("DELETE", "/api/v1/models/nope"),
                         ("GET", "/api/v1/datasets/nope/samples")):
        assert client.request(method, path).status_code == 404, path


@pytest.mark.skipif(not (ROOT / "data" / "mnist.npz").exists(),
                    reason="MNIST is fetched by `make setup`; this checks it once it is there")
def test_mnist_is_listed_once_set_up(tmp_path: Path) -> None:
    (tmp_path / "mnist.npz").symlink_to(ROOT / "data" / "mnist.npz")
    with TestClient(create_app(Settings(data_dir=tmp_path))) as c:
        mnist = next(d for d in c.get("/api/v1/datasets").json() if d["name"] == "mnist")
    assert mnist["available"] and sum(mnist["counts"]["test"]) == 10_000
    assert torch.tensor(mnist["shape"]).tolist() == [1, 28, 28]


@pytest.mark.slow
def test_shipped_models_cannot_be_deleted_or_shadowed(tmp_path: Path) -> None:
    shipped = tmp_path / "models"
    nets_layers = [{"type": "flatten"}, {"type": "linear", "out_features": 6}]
    ours = nets.build(nets_layers, (1, 28, 28), 6, limits=LIMITS.nets)
    write_weights(shipped / "ours", ours.state_dict(),
                  ClassifierCard(layers=nets_layers, input_shape=(1, 28, 28),
                                 classes=tuple("abcdef")))
    settings = Settings(data_dir=tmp_path / "data", models_dir=shipped)
    with TestClient(create_app(settings)) as c:
        listed = c.get("/api/v1/models").json()
        assert [(m["name"], m["shipped"]) for m in listed] == [("ours", True)]
        r = c.delete("/api/v1/models/ours")
        assert r.status_code == 409 and "ships with" in r.json()["error"]["message"]
        run = c.post("/api/v1/training-runs", json={"dataset": "shapes", "architecture": TINY,
                                                    "epochs": 1, "batch_size": 256}).json()
        wait_for(c, run["id"], ("completed",))
        r = c.post(f"/api/v1/training-runs/{run['id']}/model", json={"name": "ours"})
        assert r.status_code == 409 and "exists" in r.json()["error"]["message"]


@pytest.mark.slow
def test_the_inspector_reads_a_run_by_id_once_it_has_weights(client: TestClient) -> None:
    run = start(client, epochs=20)
    wait_for_step(client, run["id"], 1)
    early = client.post(f"/api/v1/models/{run['id']}/predict", json={"pixels": [[0, 255]] * 4})
    assert early.status_code == 409 and "no saved weights yet" in early.json()["error"]["message"]
    client.post(f"/api/v1/training-runs/{run['id']}/cancel")
    wait_for(client, run["id"], ("stopped",))
    later = client.post(f"/api/v1/models/{run['id']}/predict", json={"pixels": [[0, 255]] * 4})
    assert later.status_code == 200 and len(later.json()["probabilities"]) == 6


def test_the_backend_says_where_runs_train_and_how_many_fit(client: TestClient) -> None:
    backend = client.get("/api/v1/training-backend").json()
    assert backend["backend"] == "embedded" and backend["nodes"] == 1
    assert (backend["concurrent"], backend["max_queued"]) == (1, 1)
    page = client.get("/training").text
    assert "Training on <strong>this machine</strong>" in page and "1 run at a time" in page


def test_a_model_downloads_as_onnx_that_computes_what_torch_does(client: TestClient) -> None:
    """The ONNX file is checked by onnx's own checker and run by onnx's reference evaluator (a
    numpy interpreter, independent of torch): its logits for plain 0-1 pixels equal the shipped
    model's on the same pixels normalised as the card says."""
    import onnx  # the exporter's dependency; the tests also read its output with it
    from onnx.reference import ReferenceEvaluator

    r = client.get("/api/v1/models/mnist-cnn/onnx")
    assert r.status_code == 200 and 'filename="mnist-cnn.onnx"' in r.headers["content-disposition"]
    graph = onnx.load_from_string(r.content)
    onnx.checker.check_model(graph, full_check=True)
    assert [i.name for i in graph.graph.input] == ["pixels"]
    pixels = np.random.default_rng(0).random((3, 1, 28, 28), dtype=np.float32)
    (logits,) = ReferenceEvaluator(graph).run(None, {"pixels": pixels})

    card = client.get("/api/v1/models/mnist-cnn").json()
    mean, std = (torch.tensor(v).view(1, -1, 1, 1) for v in card["normalization"])
    model = nets.build(card["layers"], tuple(card["input_shape"]), len(card["classes"]),
                       limits=LIMITS.nets)
    model.load_state_dict(load_file(ROOT / "models" / "mnist-cnn.safetensors"))
    with torch.no_grad():
        expected = model.eval()((torch.from_numpy(pixels) - mean) / std).numpy()
    np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=1e-4)
    assert client.get("/api/v1/models/no-such-model/onnx").status_code == 404


def test_the_skip_connection_experiment_is_a_run_of_both_nets(client: TestClient) -> None:
    r = client.post("/api/v1/experiments/skip-connections",
                    json={"dataset": "shapes", "depth": 8, "batches_per_epoch": 4})
    assert r.status_code == 201, r.text
    events = read_events(client, r.json()["id"])
    grads = [d for _, k, d in events if k == "gradients"]
    assert grads and all(len(g["plain"]) == len(g["residual"]) == 8 for g in grads)
    start = next(d for _, k, d in events if k == "start")
    assert start["params"]["plain"] == start["params"]["residual"]
    assert wait_for(client, r.json()["id"], ("completed",))["status"] == "completed"
    for body, status in (({"depth": 7}, 422), ({"dataset": "no-such-set"}, 404),
                         ({"learning_rate": 0}, 422)):
        assert client.post("/api/v1/experiments/skip-connections", json=body).status_code == \
            status
