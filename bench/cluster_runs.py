"""Training runs on the embedded backend and on a local two-node Ray cluster, in one run:
what a run costs to start, how fresh its events are when a client gets them, and how many
short runs the two get through when four are asked for at once.

Run from the repository root:  .venv/bin/python -m bench.cluster_runs [--runs 4] [--epochs 2]

Both backends serve the same app through uvicorn on this machine, with the same capacity: the
embedded one trains 2 runs at once (one PyTorch thread each); the Ray one is a head and a worker
node of 1 CPU each (`ray.cluster_utils.Cluster`, started and stopped by this script: no other
Ray on the machine is touched), each run asking for 1 CPU. The runs: the default CNN on the
shapes dataset (6,000 training images), batch 64.

- start-up: POST /api/v1/training-runs → the run's "start" event (data loaded, model built)
  → its first "progress" event, as the client reads them, on an idle backend (median of 3);
- event latency: the client's clock when a progress event arrives minus the `at` stamp the run
  put on it (same machine, same clock), over every progress event of those runs;
- throughput: --runs runs posted at once, wall time until the last one ends, in runs a minute
  and training images a second (all runs' images over that wall time); beside it, the median
  speed one run reports while it trains (images/s), which leaves out starting and queueing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench.harness import free_port, start_server, stop_server, wait_ready

RUN = {"dataset": "shapes", "architecture": "default", "batch_size": 64}


def stream(client: httpx.Client, run_id: str) -> Iterator[tuple[str, dict, float]]:
    """(event name, data, arrival time) of a run's events, until its end."""
    kind = ""
    with client.stream("GET", f"/api/v1/training-runs/{run_id}/events", timeout=600) as r:
        for line in r.iter_lines():
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                yield kind, json.loads(line[5:]), time.time()


def start_up(client: httpx.Client, epochs: int) -> tuple[float, float, float, list[float]]:
    posted = time.perf_counter()
    wall_posted = time.time()
    r = client.post("/api/v1/training-runs", json=RUN | {"epochs": epochs})
    r.raise_for_status()
    answered = time.perf_counter()
    started = first_progress = None
    lags: list[float] = []
    for kind, data, arrived in stream(client, r.json()["id"]):
        if kind == "start" and started is None:
            started = arrived - wall_posted
        if kind == "progress":
            first_progress = first_progress or arrived - wall_posted
            lags.append(arrived - data["at"])
    assert started and first_progress, "the run sent no start or progress event"
    return (answered - posted) * 1e3, started * 1e3, first_progress * 1e3, [x * 1e3 for x in lags]


def throughput(client: httpx.Client, runs: int, epochs: int) -> tuple[float, float, float]:
    begun = time.perf_counter()
    ids = []
    for _ in range(runs):
        r = client.post("/api/v1/training-runs", json=RUN | {"epochs": epochs})
        r.raise_for_status()
        ids.append(r.json()["id"])
    images, speeds = 0, []
    for run_id in ids:
        final = None
        while final is None or final["status"] not in ("completed", "stopped", "failed"):
            time.sleep(0.2)
            final = client.get(f"/api/v1/training-runs/{run_id}").json()
        assert final["status"] == "completed", final
        images += final["metrics"]["images"]
        speeds.append(final["metrics"]["images_per_s"])
    wall = time.perf_counter() - begun
    return runs / wall * 60, images / wall, statistics.median(speeds)


@contextmanager
def served(settings: dict[str, str], name: str) -> Iterator[httpx.Client]:
    port = free_port()
    with tempfile.TemporaryFile() as log:
        server = start_server(port, None, log, settings)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                wait_ready(server, client, timeout_s=120)
                yield client
        finally:
            print(f"  [{name}] {stop_server(server, log)}")


def measure(client: httpx.Client, name: str, runs: int, epochs: int) -> dict:
    client.get("/api/v1/datasets")  # the app's first listing loads the datasets once
    starts = [start_up(client, 1) for _ in range(3)]
    lags = [lag for s in starts for lag in s[3]]
    per_min, images_s, run_speed = throughput(client, runs, epochs)
    backend = client.get("/api/v1/training-backend").json()
    return {"name": name, "where": f"{backend['nodes']} node(s), {backend['concurrent']} at once",
            "post_ms": statistics.median(s[0] for s in starts),
            "start_ms": statistics.median(s[1] for s in starts),
            "progress_ms": statistics.median(s[2] for s in starts),
            "lag_p50": statistics.median(lags),
            "lag_p99": statistics.quantiles(lags, n=100, method="inclusive")[98],
            "per_min": per_min, "images_s": images_s, "run_speed": run_speed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as data:
        common = {"DATA_DIR": data, "MAX_QUEUED_RUNS": str(args.runs)}
        with served(common | {"MAX_CONCURRENT_RUNS": "2"}, "embedded") as client:
            rows.append(measure(client, "embedded, 2 processes", args.runs, args.epochs))

        from ray.cluster_utils import Cluster  # only this half of the bench needs Ray

        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
        cluster.add_node(num_cpus=1)
        try:
            cluster.wait_for_nodes()
            ray_settings = common | {"RAY_ADDRESS": cluster.address, "RAY_CPUS_PER_RUN": "1",
                                     "DATA_DIR": str(Path(data) / "ray")}
            with served(ray_settings, "ray") as client:
                rows.append(measure(client, "Ray, 2 nodes × 1 CPU", args.runs, args.epochs))
        finally:
            cluster.shutdown()

    print(f"\n{args.runs} runs of the default CNN on shapes, {args.epochs} epochs each; start-up "
          "and latency from 3 runs of 1 epoch on an idle backend (medians)")
    print(f"{'backend':24} {'POST ms':>8} {'→start ms':>10} {'→progress ms':>13} "
          f"{'event lag p50/p99 ms':>21} {'runs/min':>9} {'images/s':>9} {'one run':>8}")
    for r in rows:
        print(f"{r['name']:24} {r['post_ms']:8.1f} {r['start_ms']:10.0f} {r['progress_ms']:13.0f} "
              f"{r['lag_p50']:10.1f} / {r['lag_p99']:<8.1f} {r['per_min']:9.2f} "
              f"{r['images_s']:9.0f} {r['run_speed']:8.0f}")
    base, other = rows
    print(f"Ray against embedded: start-up {other['start_ms'] - base['start_ms']:+.0f} ms, "
          f"throughput {100 * other['images_s'] / base['images_s']:.0f}%")


if __name__ == "__main__":
    main()
