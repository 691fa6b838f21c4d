"""The OpenAPI schema is the contract: schemathesis generates requests from it, valid and
invalid, and sends them to a real server (uvicorn, a scratch data directory). Over a bounded
time it must find no server error, no undocumented status, no schema-valid request refused and
no schema-violating request taken (schemathesis.toml lists the few rules JSON Schema cannot
state, where a valid-looking request may still get a 422 that names the rule)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app.settings import ROOT
from tests.servers import scratch_data_dir, served

CHECKS = ("not_a_server_error", "status_code_conformance", "positive_data_acceptance",
          "negative_data_rejection")
# seconds of generated requests (the whole run: start-up, coverage, fuzzing, stateful); CI's
# machines do about 4,000 cases in this time; SCHEMATHESIS_SECONDS=600 searches longer
SECONDS = int(os.environ.get("SCHEMATHESIS_SECONDS", "100"))


@pytest.mark.slow
def test_the_api_keeps_its_schema(tmp_path: Path) -> None:
    # runs the fuzzer starts stop within seconds, so the queue empties as it goes
    with served(scratch_data_dir(tmp_path), MAX_RUN_SECONDS="3") as url:
        st = Path(sys.executable).with_name("st")
        done = subprocess.run(
            [str(st), "run", f"{url}/openapi.json", "--checks", ",".join(CHECKS),
             "--max-time", str(SECONDS), "--workers", "1", "--no-color"],
            cwd=ROOT, capture_output=True, text=True, timeout=SECONDS + 240)
    out = done.stdout + done.stderr
    cases = re.search(r"(\d+) generated, (\d+) passed", out)
    summary = out[out.find("SUMMARY"):] if "SUMMARY" in out else out[-4000:]
    assert done.returncode == 0, out[-12000:]
    # it ran: every operation tested, and a few thousand cases sent
    assert cases and int(cases[1]) >= 500 and cases[1] == cases[2], summary
    assert re.search(r"Tested: (\d+)", out) and "Selected: " in out, summary
    selected = re.search(r"Selected: (\d+)/(\d+)", out)
    assert selected and selected[1] == selected[2], summary
