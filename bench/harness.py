"""What the benchmarks share: a real server (uvicorn on a free localhost port, stopped gracefully
with its log checked), timed requests, and in-process medians."""

from __future__ import annotations

import atexit
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def summary(times_s: list[float]) -> tuple[float, float, float]:
    ms = [t * 1e3 for t in times_s]
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return statistics.median(ms), q[89], q[98]


def start_server(port: int, threads: int | None, log: IO[bytes],
                 settings: dict[str, str] | None = None) -> subprocess.Popen:
    """uvicorn with the app; `settings` are PLAYGROUND_* overrides, {"DATA_DIR": "…"}."""
    env = dict(os.environ) | {f"PLAYGROUND_{k}": v for k, v in (settings or {}).items()}
    if threads:
        env["PLAYGROUND_TORCH_THREADS"] = str(threads)
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "info", "--no-access-log"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_ready(server: subprocess.Popen, client: httpx.Client, timeout_s: float = 60,
               poll_s: float = 0.1) -> None:
    """Returns once the server answers /api/v1/health (asked every `poll_s` seconds: a bench
    that times what follows the start asks often)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited early with status {server.returncode}")
        try:
            if client.get("/api/v1/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(poll_s)
    raise SystemExit(f"the server did not answer /api/v1/health within {timeout_s:.0f} s")


def stop_server(server: subprocess.Popen, log: IO[bytes]) -> str:
    """SIGTERM: uvicorn finishes in-flight requests, runs the lifespan shutdown and exits (it
    re-raises the signal afterwards, so the exit status is -15 after a clean shutdown too)."""
    killed = False
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
            killed = True
    log.flush()
    log.seek(0)
    text = log.read().decode(errors="replace")
    clean = "Application shutdown complete" in text and not killed
    problems = [line for line in text.splitlines()
                if line.startswith(("ERROR", "CRITICAL", "Traceback"))]
    if not clean or problems:
        print("server log:\n" + text[-3000:])
    how = "killed after 15 s" if killed else f"exit status {server.returncode}"
    return (f"server stopped with SIGTERM: {how}, "
            f"{'clean shutdown (lifespan completed)' if clean else 'NOT a clean shutdown'}, "
            f"{len(problems)} error lines in its log")


def measure(fn: Callable[[], int], n: int, warmup: int) -> tuple[list[float], float]:
    """Times `fn` (one request, body read; returns the bytes received) n times, sequentially."""
    for _ in range(warmup):
        fn()
    times, sizes = [], []
    for _ in range(n):
        t = time.perf_counter()
        sizes.append(fn())
        times.append(time.perf_counter() - t)
    return times, statistics.mean(sizes)


def median_ms(fn: Callable[[], object], repeat: int, warmup: int = 3) -> float:
    """The median time of `fn` in milliseconds, after a few untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


SLOW_MACHINE_IMG_S = 3100.0  # the calibration on our slowest 2-core machine (DESIGN)


def calibration(batches: int = 200, seed: int = 0) -> float:
    """DESIGN's calibration: the bare training loop's images/s for the default CNN at batch 64
    (random 28×28 images: the speed does not depend on what the pixels show)."""
    import torch
    import torch.nn.functional as F

    from app.core import nets
    from app.settings import LIMITS

    torch.manual_seed(seed)
    model = nets.build(nets.PRESETS["default"]["layers"], (1, 28, 28), 10, limits=LIMITS.nets)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,))
    model.train()
    for b in range(batches + 20):
        if b == 20:  # the first batches warm up the allocator and the kernels
            start = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return batches * 64 / (time.perf_counter() - start)


def cpu_ticks() -> tuple[int, int] | None:
    """(all, stolen) CPU ticks of this machine so far, from /proc/stat where there is one:
    "steal" is time a virtual machine's CPUs were runnable but the host ran someone else."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:9]]  # user … steal
    except (OSError, ValueError):
        return None
    return sum(fields), fields[7]


STARTED_TICKS = cpu_ticks()  # when the bench started (it imports this module first thing)


def print_steal(since: tuple[int, int] | None) -> None:
    """The share of this machine's CPU time the host took for others since `since`: on a
    shared virtual machine, a figure measured while the host took more than a few percent
    says more about the neighbours than about the code."""
    now = cpu_ticks()
    if since is None or now is None or now[0] <= since[0]:
        return
    share = (now[1] - since[1]) / (now[0] - since[0])
    print(f"\nCPU time taken by the host (steal) during this bench: {share:.1%}"
          + (" (a busy host: these figures are not this code's)" if share > 0.05 else ""))


def print_calibration(img_s: float) -> float:
    """Prints the calibration; returns the factor that scales a time measured here to the slow
    machine (a rough linear scale: the slow machine takes this many times as long). At the
    bench's exit, the share of CPU time the host took meanwhile is printed too."""
    factor = img_s / SLOW_MACHINE_IMG_S
    print(f"calibration: bare CNN loop {img_s:,.0f} img/s at batch 64 "
          f"(the slow machine: {SLOW_MACHINE_IMG_S:,.0f}); times scale by {factor:.2f}×")
    atexit.register(print_steal, STARTED_TICKS)
    return factor


def http_rows(rows: list[tuple[str, Callable[[], httpx.Response]]], n: int, warmup: int,
              factor: float | None = None) -> dict[str, float]:
    """Times each (name, request) row n times in turn and prints p50/p90/p99, the body size and,
    given the calibration `factor`, the p50 scaled to the slow machine; returns the p50s."""
    width = max(len(name) for name, _ in rows)
    print(f"\nend to end over HTTP, n = {n} each, sequential, one keep-alive client")
    print(f"  {'request':{width}s} {'p50':>8s} {'p90':>8s} {'p99':>8s} {'body':>7s}"
          + (f" {'p50 slow machine':>17s}" if factor else ""))
    medians = {}
    for name, call in rows:
        def once(call=call, name=name) -> int:
            r = call()
            if r.status_code != 200:
                raise SystemExit(f"{name}: {r.status_code} {r.text[:300]}")
            return len(r.content)
        times, size = measure(once, n, warmup)
        p50, p90, p99 = summary(times)
        medians[name] = p50
        print(f"  {name:{width}s} {p50:6.2f}ms {p90:6.2f}ms {p99:6.2f}ms {size / 1024:5.0f}KB"
              + (f" {p50 * factor:15.2f}ms" if factor else ""))
    return medians


@contextmanager
def serving(settings: dict[str, str] | None = None, threads: int | None = None
            ) -> Iterator[httpx.Client]:
    """The app under uvicorn on a free localhost port, with a keep-alive client to it; stopped
    with SIGTERM afterwards (the shutdown's verdict printed)."""
    port = free_port()
    with tempfile.TemporaryFile() as log:
        server = start_server(port, threads, log, settings)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                wait_ready(server, client)
                yield client
        finally:
            print(stop_server(server, log))


@contextmanager
def live_events() -> Iterator[tuple[Callable[[dict], None], list[float]]]:
    """What a run does with its events in a real run, for a training bench: each serialized as
    the training process does and put on a multiprocessing queue that a thread drains (the
    server's pump). Yields (emit, arrivals): the times progress and snapshot events arrived."""
    import multiprocessing as mp
    import threading

    from app.services.runs.events import serialize_event

    queue = mp.get_context("spawn").Queue()
    arrivals: list[float] = []
    done = threading.Event()

    def drain() -> None:
        while not done.is_set() or not queue.empty():
            try:
                event = queue.get(timeout=0.05)
            except Exception:
                continue
            if event["type"] in ("progress", "snapshot"):
                arrivals.append(time.perf_counter())

    pump = threading.Thread(target=drain)
    pump.start()
    try:
        yield (lambda e: queue.put(serialize_event(e))), arrivals
    finally:
        done.set()
        pump.join()
