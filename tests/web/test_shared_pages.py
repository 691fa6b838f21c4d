"""Shared mode on the training page: every visitor sees every run, only its owner sees its
controls, and the teacher enters an admin view (every run, a stop button each) with the token."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.http.owners import ADMIN_COOKIE
from app.main import create_app
from app.settings import Settings
from tests.api.test_training_api import wait_for

TINY = [{"type": "flatten"}, {"type": "linear", "out_features": 6}]  # shapes: 6 classes
LONG = {"dataset": "shapes", "architecture": TINY, "epochs": 50, "batch_size": 8}
TOKEN = "teacher-token"


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[tuple]:
    settings = Settings(data_dir=tmp_path, shared=True, admin_token=TOKEN, max_queued_runs=4,
                        precompute_test_sets=False)
    app = create_app(settings)
    with TestClient(app) as alice:  # the lifespan runs once, for every client
        yield app, alice


def _row(listing: str, run_id: str) -> str:
    """The runs list's table row of one run."""
    found = re.search(rf"<tr><td><code>{run_id}</code>.*?</tr>", listing, re.S)
    assert found, f"run {run_id} is not in the list"
    return found.group(0)


def test_others_see_a_run_but_not_its_controls(shared) -> None:
    app, alice = shared
    run_id = alice.post("/api/v1/training-runs", json=LONG).json()["id"]
    bob = TestClient(app)
    page = bob.get("/training").text
    assert "another visitor" in _row(page, run_id) and "No run yet" in page  # none of his own
    assert "yours" in _row(alice.get("/training/runs-list").text, run_id)
    assert "Stop" not in _row(page, run_id)  # the list's stop buttons are the teacher's

    # bob's request to pause it is refused in place; the fragment offers him no control
    refused = bob.post(f"/training/runs/{run_id}/pause").text
    assert "is not yours" in refused and "Another visitor's run" in refused
    assert "‖ Pause" not in refused and "■ Stop" not in refused
    assert alice.get(f"/api/v1/training-runs/{run_id}").json()["status"] in ("queued", "running")

    wait_for(alice, run_id, ("running",))
    paused = alice.post(f"/training/runs/{run_id}/pause")
    assert "▶ Resume" in paused.text and "Another visitor" not in paused.text
    assert paused.headers["HX-Trigger"] == "runs-changed"
    assert alice.post(f"/api/v1/training-runs/{run_id}/cancel").status_code == 200


def test_only_the_owner_may_delete_a_saved_model(shared) -> None:
    app, alice = shared
    run_id = alice.post("/api/v1/training-runs", json={**LONG, "epochs": 1,
                                                        "batch_size": 128}).json()["id"]
    wait_for(alice, run_id, ("completed",))
    assert alice.post(f"/api/v1/training-runs/{run_id}/model",
                      json={"name": "alices-shapes"}).status_code == 201
    bob = TestClient(app)
    bob.get("/api/v1/health")
    theirs = bob.get("/training/models-list").text
    ours = alice.get("/training/models-list").text
    delete = 'hx-delete="/training/models/alices-shapes"'
    assert "alices-shapes" in theirs and delete not in theirs
    assert delete in ours and "yours" in ours
    assert "is not yours" in bob.delete("/training/models/alices-shapes").text
    assert alice.get("/api/v1/models/alices-shapes").status_code == 200


def test_the_teacher_enters_the_admin_view_with_the_token(shared) -> None:
    app, alice = shared
    run_id = alice.post("/api/v1/training-runs", json=LONG).json()["id"]
    teacher = TestClient(app)
    wrong = teacher.post("/training/admin", data={"token": "guess"})
    assert "not the admin token" in wrong.text and ADMIN_COOKIE not in teacher.cookies
    assert f"stop run {run_id}" not in teacher.get("/training/runs-list").text

    entered = teacher.post("/training/admin", data={"token": TOKEN})
    assert entered.headers["HX-Refresh"] == "true" and ADMIN_COOKIE in teacher.cookies
    page = teacher.get("/training").text
    assert "Admin view" in page and f"stop run {run_id}" in page
    # a cookie made up by a student is nobody's admin
    real = teacher.cookies[ADMIN_COOKIE]
    forged = real[:-1] + ("y" if real.endswith("x") else "x")  # never the real one
    forger = TestClient(app, cookies={ADMIN_COOKIE: forged})
    assert f"stop run {run_id}" not in forger.get("/training/runs-list").text

    stopped = teacher.post(f"/training/runs/{run_id}/stop")
    assert "is not yours" not in stopped.text
    assert wait_for(alice, run_id, ("stopped",))["status"] == "stopped"
    teacher.post("/training/admin/leave")
    assert ADMIN_COOKIE not in teacher.cookies
    assert "Admin view" not in teacher.get("/training").text


def test_off_shared_mode_the_page_is_unchanged(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(data_dir=tmp_path, precompute_test_sets=False))) as c:
        run_id = c.post("/api/v1/training-runs", json=LONG).json()["id"]
        page = c.get("/training").text
        assert "A shared server" not in page and "Whose" not in page
        assert f'sse-connect="/training/runs/{run_id}/stream"' in page  # shown, as before
        refused = c.post("/training/admin", data={"token": "anything"}).text
        assert "no admin token" in refused
        assert c.post(f"/api/v1/training-runs/{run_id}/cancel").status_code == 200
