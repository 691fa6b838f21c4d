"""No orphans: a training process never outlives its server (DESIGN, "Limits and hardening").

The real thing: uvicorn in its own process, a run training on the embedded backend, then the
server SIGKILLed (what the OOM killer does): the run's process, and multiprocessing's resource
tracker beside it, must be gone within a few seconds. Then the watcher alone, in-process.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.services.runs import worker
from bench.harness import free_port, start_server, wait_ready

GONE_WITHIN_S = 15.0  # issue 18: every process of the run has exited within 15 s


def _children(pid: int) -> list[int]:
    task_dir = Path(f"/proc/{pid}/task")
    if task_dir.is_dir():  # Linux: the kernel's own list, thread by thread
        found: list[int] = []
        for task in task_dir.iterdir():
            try:
                found += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
        return found
    out = subprocess.run(["ps", "-A", "-o", "pid=,ppid="], capture_output=True, text=True,
                         check=True).stdout
    return [int(p) for p, pp in (line.split() for line in out.splitlines()) if int(pp) == pid]


def _descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        for child in _children(todo.pop()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    """Running, not a zombie (the new parent of an orphan may be slow to reap it, or never)."""
    stat = Path(f"/proc/{pid}/stat")
    if stat.parent.parent.is_dir():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process now holds the number
        return False
    state = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True,
                           text=True).stdout.strip()
    return bool(state) and not state.startswith("Z")


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:160]
    except OSError:
        return "?"


@pytest.mark.slow
def test_a_run_exits_within_seconds_when_its_server_is_sigkilled(tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "server.log").open("w+b")
    server = start_server(port, None, log, {"DATA_DIR": str(tmp_path / "data")})
    processes: set[int] = set()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            wait_ready(server, client)
            # the shapes are drawn by code: no MNIST needed; 50 epochs outlast the test
            r = client.post("/api/v1/training-runs", json={"dataset": "shapes", "epochs": 50})
            assert r.status_code == 201, r.text
            run_url = f"/api/v1/training-runs/{r.json()['id']}"
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:  # training, past its imports and data loading
                run = client.get(run_url).json()
                assert run["status"] in ("queued", "running"), run
                if run["metrics"].get("step"):
                    break
                time.sleep(0.25)
            else:
                pytest.fail(f"the run did not start training within 90 s: {run}")
        processes = _descendants(server.pid)
        assert processes, "the run should train in a process of its own"
        server.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        server.wait(timeout=10)
        while time.monotonic() - killed < GONE_WITHIN_S and any(map(_alive, processes)):
            time.sleep(0.05)
        took = time.monotonic() - killed
        left = {pid: _command(pid) for pid in processes if _alive(pid)}
        print(f"\n{len(processes)} process(es) of the run gone {took:.2f} s after the SIGKILL")
        assert not left, f"still there {took:.1f} s after the server's SIGKILL: {left}"
        # the next start tells what became of the run
        port = free_port()
        server = start_server(port, None, log, {"DATA_DIR": str(tmp_path / "data")})
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            wait_ready(server, client)
            run = client.get(run_url).json()
        assert run["status"] == "interrupted" and "killed" in run["message"], run
    except BaseException:
        log.flush()
        log.seek(0)
        print("server log:\n" + log.read().decode(errors="replace")[-3000:])
        raise
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        for pid in processes:  # never leave one behind, even when the test fails
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        log.close()


def _watched(lifeline: object, parent: int) -> None:
    """A stand-in for a run's process: only the watcher, then a wait that it must cut short."""
    worker.watch_parent(parent, lifeline, poll_s=0.1)
    time.sleep(60)
    os._exit(3)  # the watcher did not act


def test_the_watcher_ends_the_process_once_the_pipe_closes() -> None:
    ctx = mp.get_context("spawn")
    watched, lifeline = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_watched, args=(watched, os.getpid()), daemon=True)
    process.start()
    watched.close()
    time.sleep(1.0)  # up and watching (and not ending while the pipe is open)
    assert process.is_alive()
    closed = time.monotonic()
    lifeline.close()  # what the kernel does when the server dies
    process.join(timeout=10)
    assert process.exitcode == worker.PARENT_GONE_EXIT
    assert time.monotonic() - closed < 5


def test_the_parent_is_gone_when_the_pipe_closes_or_the_parent_changes() -> None:
    watched, lifeline = mp.get_context("spawn").Pipe(duplex=False)
    parent = os.getppid()
    try:
        assert not worker.parent_gone(parent, watched, 0.05)
        # reparented (the parent died before the pipe was watched): another pid
        assert worker.parent_gone(parent + 1, watched, 0.05)
        lifeline.close()
        assert worker.parent_gone(parent, watched, 0.05)
    finally:
        watched.close()
        lifeline.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_the_death_signal_is_set_on_linux() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import ctypes, signal; from app.services.runs import worker; "
         "assert worker.set_death_signal(); sig = ctypes.c_int(); "
         "ctypes.CDLL(None).prctl(2, ctypes.byref(sig), 0, 0, 0); "  # PR_GET_PDEATHSIG
         "print(sig.value == signal.SIGKILL)"],
        capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "True", out.stderr
