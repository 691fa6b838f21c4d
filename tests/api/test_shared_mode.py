"""Shared mode (a class on one server): each client an owner by a signed cookie; others' runs
and models can be watched but not changed (403), the admin token may do everything, and one
owner's full share of the queue is a 429 for that owner alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.http.owners import COOKIE, sign, verify
from app.main import create_app
from app.settings import Settings

TINY = [{"type": "flatten"}, {"type": "linear", "out_features": 6}]  # shapes: 6 classes
# long enough to be still going while the test looks at it
RUN = {"dataset": "shapes", "architecture": TINY, "epochs": 50, "batch_size": 8}


@pytest.fixture
def app_shared(tmp_path: Path) -> Iterator:
    settings = Settings(data_dir=tmp_path, shared=True, admin_token="teacher-token",
                        max_runs_per_owner=1, max_queued_runs=4, precompute_test_sets=False)
    app = create_app(settings)
    with TestClient(app) as first:  # the lifespan runs once, for all the clients
        yield app, first


def test_a_client_gets_a_signed_cookie_and_keeps_its_identity(app_shared) -> None:
    app, alice = app_shared
    alice.get("/api/v1/health")
    value = alice.cookies[COOKIE]
    owner = verify(_key(app), value)
    assert owner
    alice.get("/api/v1/health")
    assert alice.cookies[COOKIE] == value  # no new identity on the second request
    # a tampered signature is a new owner, never the one it names
    tampered = value[:-2] + ("AA" if value[-2:] != "AA" else "BB")
    for cookie in (tampered, f"{owner}.forged", owner):
        r = TestClient(app).get("/api/v1/health", headers={"cookie": f"{COOKIE}={cookie}"})
        assert verify(_key(app), r.cookies[COOKIE]) not in (None, owner)


def _key(app) -> bytes:
    return (Path(app.state.settings.data_dir) / "secret_key").read_bytes()


def test_others_may_watch_a_run_but_only_its_owner_or_the_admin_change_it(app_shared) -> None:
    app, alice = app_shared
    run = alice.post("/api/v1/training-runs", json=RUN)
    assert run.status_code == 201 and run.json()["yours"] is True
    run_id = run.json()["id"]
    bob = TestClient(app)
    seen = bob.get(f"/api/v1/training-runs/{run_id}")
    assert seen.status_code == 200 and seen.json()["yours"] is False
    for action in ("pause", "cancel"):
        r = bob.post(f"/api/v1/training-runs/{run_id}/{action}")
        assert r.status_code == 403, r.text
        assert "not yours" in r.json()["error"]["message"]
        assert "watch it" in r.json()["error"]["message"]
    assert bob.delete(f"/api/v1/training-runs/{run_id}").status_code == 403
    teacher = TestClient(app, headers={"Authorization": "Bearer teacher-token"})
    assert teacher.post(f"/api/v1/training-runs/{run_id}/pause").status_code == 200
    assert alice.post(f"/api/v1/training-runs/{run_id}/resume").status_code == 200
    assert alice.post(f"/api/v1/training-runs/{run_id}/cancel").status_code == 200
    wrong = TestClient(app, headers={"Authorization": "Bearer guess"})
    assert wrong.post(f"/api/v1/training-runs/{run_id}/pause").status_code == 403


def test_one_owners_full_share_is_a_429_for_them_alone(app_shared) -> None:
    app, alice = app_shared
    first = alice.post("/api/v1/training-runs", json=RUN)
    assert first.status_code == 201
    again = alice.post("/api/v1/training-runs", json=RUN)
    assert again.status_code == 429 and "Retry-After" in again.headers
    assert "the most one visitor may have" in again.json()["error"]["message"]
    bob = TestClient(app)
    theirs = bob.post("/api/v1/training-runs", json=RUN)
    assert theirs.status_code == 201, theirs.text
    for client, r in ((alice, first), (bob, theirs)):
        assert client.post(f"/api/v1/training-runs/{r.json()['id']}/cancel").status_code == 200


def test_off_shared_mode_nothing_is_anyones(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(data_dir=tmp_path, precompute_test_sets=False))) as c:
        c.get("/api/v1/health")
        assert COOKIE not in c.cookies
        run = c.post("/api/v1/training-runs", json=RUN).json()
        assert run["yours"] is True
        other = TestClient(c.app)
        assert other.post(f"/api/v1/training-runs/{run['id']}/cancel").status_code == 200


def test_the_cookie_is_a_signature_of_its_id() -> None:
    key = b"k" * 32
    assert verify(key, sign(key, "abc")) == "abc"
    assert verify(key, sign(b"other", "abc")) is None
    assert verify(key, "abc") is None and verify(key, None) is None
