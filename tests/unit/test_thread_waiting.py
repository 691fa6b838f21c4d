"""The app asks OpenMP's threads to wait passively (app/__init__.py), unless told otherwise."""

from __future__ import annotations

import os
import subprocess
import sys


def _policy_seen(env: dict[str, str]) -> str:
    code = "import app, os; print(os.environ['OMP_WAIT_POLICY'])"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True).stdout.strip()


def test_openmp_waits_passively_unless_the_environment_says_otherwise() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    assert _policy_seen(env) == "PASSIVE"
    assert _policy_seen(env | {"OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"
