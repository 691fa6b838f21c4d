"""The app asks OpenMP's threads to wait passively and numpy's OpenBLAS for one thread
(app/__init__.py), unless the environment says otherwise."""

from __future__ import annotations

import os
import subprocess
import sys


def _env_seen(env: dict[str, str], name: str = "OMP_WAIT_POLICY") -> str:
    code = f"import app, os; print(os.environ[{name!r}])"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True).stdout.strip()


def test_openmp_waits_passively_unless_the_environment_says_otherwise() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    assert _env_seen(env) == "PASSIVE"
    assert _env_seen(env | {"OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"


def test_numpy_multiplies_on_one_thread_unless_the_environment_says_otherwise() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    assert _env_seen(env, "OPENBLAS_NUM_THREADS") == "1"
    assert _env_seen(env | {"OPENBLAS_NUM_THREADS": "2"}, "OPENBLAS_NUM_THREADS") == "2"
