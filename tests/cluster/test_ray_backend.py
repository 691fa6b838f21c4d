"""The Ray backend through the REST API, on a real local Ray: the same runs, events, controls
and saved models as the embedded backend, with several web workers and a worker that dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import ray
from fastapi.testclient import TestClient
from safetensors.torch import load_file

from app.main import create_app
from app.services.runs.ray import NAMESPACE, actor_name
from app.settings import ROOT, Settings
from tests.api.conftest import png_bytes
from tests.api.test_training_api import read_events, start, wait_for

LONG = {"epochs": 30, "batch_size": 16}  # minutes of training: stopped by the test


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


def ray_app(data_dir: Path, **settings) -> TestClient:
    return TestClient(create_app(Settings(data_dir=data_dir, ray_address="auto",
                                          ray_cpus_per_run=1, max_queued_runs=1, **settings)))


@pytest.fixture(scope="module")
def client(ray_cluster: dict, data_dir: Path) -> Iterator[TestClient]:
    with ray_app(data_dir) as c:
        yield c


@pytest.fixture(scope="module")
def second_worker(ray_cluster: dict, data_dir: Path) -> Iterator[TestClient]:
    """Another web worker on the same data directory and cluster (uvicorn --workers 2)."""
    with ray_app(data_dir) as c:
        yield c


def test_a_run_on_ray_matches_the_same_run_on_this_machine(client: TestClient,
                                                            tmp_path: Path) -> None:
    body = {"epochs": 2, "seed": 7}
    remote = start(client, **body)
    events = read_events(client, remote["id"])
    seqs = [seq for seq, _, _ in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    kinds = [kind for _, kind, _ in events]
    for kind in ("status", "start", "progress", "snapshot", "epoch", "done"):
        assert kind in kinds, kinds
    last = events[-1][2]
    assert last["status"] == "completed" and last["has_weights"], last
    remote = client.get(f"/api/v1/training-runs/{remote['id']}").json()
    assert remote["node"], remote  # where it ran is recorded, and shown with the cluster
    runs_list = client.get("/training/runs-list").text
    assert "Ray cluster" in runs_list and remote["node"] in runs_list

    # the embedded backend, one thread per run like the Ray actor's one CPU
    local_settings = Settings(data_dir=tmp_path, max_concurrent_runs=os.cpu_count() or 1)
    with TestClient(create_app(local_settings)) as local_client:
        local = start(local_client, **body)
        local = wait_for(local_client, local["id"], ("completed",), timeout=120)
    # Same seed, same thread count: the same arithmetic, so the figures agree to rounding
    # (tolerance: 1e-4 relative on losses, 0.002 on accuracies, for nodes with other CPUs).
    r, m = remote["metrics"], local["metrics"]
    for key in ("train_loss", "val_loss", "test_loss"):
        assert r[key] == pytest.approx(m[key], rel=1e-4), (key, r, m)
    for key in ("train_acc", "val_acc", "test_acc"):
        assert r[key] == pytest.approx(m[key], abs=0.002), (key, r, m)
    assert r["step"] == m["step"] and r["epoch"] == m["epoch"] == 2

    # the weights came back to the app and were saved like a local run's
    stem = Path(client.app.state.jobs.weights_stem(remote["id"]))
    weights = load_file(str(stem.with_suffix(".safetensors")))
    assert weights and all(t.isfinite().all() for t in weights.values())
    saved = client.post(f"/api/v1/training-runs/{remote['id']}/model", json={"name": "from-ray"})
    assert saved.status_code == 201, saved.text


def test_any_web_worker_serves_any_run(client: TestClient, second_worker: TestClient) -> None:
    run = start(client, **LONG)
    wait_for(second_worker, run["id"], ("running",), timeout=60)
    seen = read_events(second_worker, run["id"], limit=6)  # then leaves: the run goes on
    assert [kind for _, kind, _ in seen][:2] == ["status", "status"]
    assert any(kind == "progress" for _, kind, _ in seen), seen
    assert second_worker.post(f"/api/v1/training-runs/{run['id']}/pause").json()["status"] == \
        "paused"
    assert client.post(f"/api/v1/training-runs/{run['id']}/resume").json()["status"] == "running"
    asked = time.monotonic()
    assert second_worker.post(f"/api/v1/training-runs/{run['id']}/cancel").status_code == 200
    ended = wait_for(client, run["id"], ("stopped",), timeout=30)
    assert time.monotonic() - asked < 3, "cancel took too long to reach the remote run"
    assert ended["has_weights"] and "stopped by request" in ended["message"]
    events = read_events(second_worker, run["id"])  # a finished run: its recorded end
    assert events[-1][2]["status"] == "stopped"


def test_an_image_uploaded_on_one_worker_is_found_on_another(
        client: TestClient, second_worker: TestClient) -> None:
    pixels = np.random.default_rng(3).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    up = client.post("/api/v1/images", files={"file": ("x.png", png_bytes(pixels), "image/png")})
    assert up.status_code == 201, up.text
    image_id = up.json()["id"]
    second_worker.app.state.images._uploads.clear()  # noqa: SLF001 (a worker that never saw it)
    r = second_worker.get(f"/api/v1/images/{image_id}/grid", params={"size": 8})
    assert r.status_code == 200, r.text


def test_a_full_cluster_answers_429_and_a_queued_run_can_be_cancelled(
        client: TestClient) -> None:
    capacity = client.get("/api/v1/training-backend").json()
    assert capacity["backend"] == "ray" and capacity["concurrent"] == 2, capacity
    runs = [start(client, **LONG) for _ in range(3)]  # 2 train (1 CPU each), 1 waits
    try:
        for run in runs[:2]:
            wait_for(client, run["id"], ("running",), timeout=60)
        time.sleep(1)  # room for a third run to start, if there were any
        waiting = client.get(f"/api/v1/training-runs/{runs[2]['id']}").json()
        assert waiting["status"] == "queued" and waiting["queue_position"] == 1, waiting
        busy = client.get("/api/v1/training-backend").json()
        assert (busy["running"], busy["queued"]) == (2, 1), busy
        r = client.post("/api/v1/training-runs", json={"dataset": "shapes",
                                                       "architecture": "tiny"})
        assert r.status_code == 429, r.text
        assert int(r.headers["retry-after"]) > 0 and "waiting" in r.json()["error"]["message"]
        cancelled = client.post(f"/api/v1/training-runs/{runs[2]['id']}/cancel").json()
        assert cancelled["status"] == "stopped" and not cancelled["has_weights"]
    finally:
        for run in runs:
            client.post(f"/api/v1/training-runs/{run['id']}/cancel")
        for run in runs:
            wait_for(client, run["id"], ("stopped",), timeout=30)


def test_a_killed_worker_fails_its_run_and_nothing_else(client: TestClient) -> None:
    run = start(client, **LONG)
    wait_for(client, run["id"], ("running",), timeout=60)
    actor = ray.get_actor(actor_name(run["id"]), namespace=NAMESPACE)
    os.kill(ray.get(actor.state.remote())["pid"], signal.SIGKILL)
    failed = wait_for(client, run["id"], ("failed",), timeout=30)
    assert "died" in failed["message"], failed
    events = read_events(client, run["id"])
    assert events[-1][2]["status"] == "failed"
    # the app and the cluster go on: the next run trains to the end
    after = start(client, epochs=1)
    assert wait_for(client, after["id"], ("completed",), timeout=120)["has_weights"]


def test_an_unreachable_cluster_stops_the_app_from_starting(tmp_path: Path) -> None:
    env = {**os.environ, "PLAYGROUND_RAY_ADDRESS": "127.0.0.1:9", "PLAYGROUND_DATA_DIR":
           str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory",
                           "--port", "0"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0
    assert "cannot reach the Ray cluster" in done.stderr and "127.0.0.1:9" in done.stderr


def test_a_generative_run_to_watch_also_trains_on_the_cluster(client: TestClient) -> None:
    r = client.post("/api/v1/generative/training-runs",
                    json={"dataset": "shapes", "task": "vae", "latent": 2, "epochs": 1})
    assert r.status_code == 201, r.text
    events = read_events(client, r.json()["id"])
    samples = [data for _, kind, data in events if kind == "samples"]
    assert samples and samples[-1]["png"].startswith("data:image/png;base64,")
    assert events[-1][2]["status"] == "completed" and not events[-1][2]["has_weights"]


def test_the_sequence_labs_runs_train_on_the_cluster_too(client: TestClient) -> None:
    # a series model (the generated sine mixtures need no setup) keeps its weights
    r = client.post("/api/v1/sequences/training-runs", json={
        "dataset": "sine", "cell": "gru", "hidden_size": 8, "seq_len": 16, "epochs": 1})
    assert r.status_code == 201, r.text
    events = read_events(client, r.json()["id"])
    forecast = [data for _, kind, data in events if kind == "snapshot"][-1]["forecast"]
    assert len(forecast["truth"]) == len(forecast["free_running"]) > 0
    assert events[-1][2]["status"] == "completed" and events[-1][2]["has_weights"]
    saved = client.post(f"/api/v1/training-runs/{r.json()['id']}/model", json={"name": "sine-ray"})
    assert saved.status_code == 201 and saved.json()["task"] == "forecast", saved.text
    # the memory task: a run to watch, nothing kept
    r = client.post("/api/v1/sequences/memory-runs",
                    json={"delays": [1], "steps": 30, "hidden_size": 4})
    events = read_events(client, r.json()["id"])
    assert [d["cell"] for _, kind, d in events if kind == "memory_result"] == ["rnn", "lstm"]
    assert events[-1][2]["status"] == "completed" and not events[-1][2]["has_weights"]
