"""Training runs on a Ray cluster, behind the same `JobBackend` interface as the embedded one.

Chosen when `PLAYGROUND_RAY_ADDRESS` is set (`auto`, or `host:port` of the head). Each run is a
detached, named Ray actor (`run-<id>` in the namespace "playground") that asks for
`ray_cpus_per_run` CPUs: Ray places it on a node with room, or keeps it pending, which is our
queue. The actor trains in a thread with the same `worker.execute` as a local process and keeps
the run's numbered events; the app asks it for events, its state and, at the end, the weights.

Nothing about a run lives in one web worker's memory, so `uvicorn --workers N` (or several
containers sharing the data volume) works: the run records are in the shared SQLite file, every
worker finds the actor by name, and every worker's monitor watches the active runs; the one that
records a run's end first (a conditional update) wins, the others see it already recorded.

Datasets go into Ray's object store once per content hash, owned by a small named actor, so
runs on the same data (and every web worker) share one copy; a worker reads it without a copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import ray
import torch
from ray.exceptions import RayActorError

from app.services.corpora import Corpora, CorporaConfig
from app.services.datasets import Catalog
from app.services.errors import Conflict
from app.services.models import Card, write_weights
from app.services.runs.backend import (
    Capacity,
    RunConfig,
    admit,
    delete_finished,
    not_in_state,
    run_kind,
)
from app.services.runs.events import EventBuffer, metrics_of
from app.services.runs.records import ACTIVE, FINISHED, RunRecord, RunStore
from app.services.runs.worker import execute, load_data, waiter

log = logging.getLogger(__name__)

NAMESPACE = "playground"
DATASETS_KEPT = 8  # distinct datasets held in the object store at once
KILL_AFTER_S = 0.5  # an ended run's actor lives this long, for subscribers still reading
STOP_GRACE_S = 60  # a run asked to stop that is still going after this is killed
FIRST_SEQ = 2  # event 1 is "queued", said by the app; the actor numbers from 2


def actor_name(run_id: str) -> str:
    return f"run-{run_id}"


# ---------------------------------------------------------------- on the cluster

@ray.remote(max_restarts=0, max_concurrency=64)
class RunActor:
    """One training run on a Ray worker. Its methods run on a pool of threads (a threaded
    actor), so a subscriber waiting for events never holds up a cancel."""

    def __init__(self, run_id: str, dataset_name: str, dataset: Any, config: dict,
                 threads: int) -> None:
        torch.set_num_threads(threads)
        self.node = f"{socket.gethostname()} ({ray.util.get_node_ip_address()})"
        self.stop, self.pause_flag = threading.Event(), threading.Event()
        self.changed = threading.Condition()
        self.buffer = EventBuffer(next_seq=FIRST_SEQ)
        self.metrics: dict = {}
        self.outcome = None
        self.emit({"type": "status", "status": "running", "node": self.node})
        # training in a thread of its own: the actor's methods keep answering while it runs
        threading.Thread(target=self._train, args=(run_id, dataset_name, dataset, config),
                         name=f"train-{run_id}", daemon=True).start()

    def emit(self, event: dict) -> None:
        with self.changed:
            self.buffer.add(event)
            if event["type"] in ("progress", "epoch", "done"):
                self.metrics |= metrics_of(event)
            self.changed.notify_all()

    def _train(self, run_id: str, dataset_name: str, dataset: Any, config: dict) -> None:
        outcome = execute(run_id, dataset_name, lambda: dataset, config, self.emit,
                          waiter(self.stop, self.pause_flag))
        with self.changed:
            self.outcome = outcome
            self.changed.notify_all()

    # what the app calls
    def state(self) -> dict:
        """Where the run is: phase running/paused/stopping/ended, node, pid, latest metrics."""
        with self.changed:
            ended = self.outcome is not None
            phase = ("ended" if ended else "stopping" if self.stop.is_set()
                     else "paused" if self.pause_flag.is_set() else "running")
            return {"phase": phase, "node": self.node, "pid": os.getpid(),
                    "metrics": dict(self.metrics),
                    "outcome": None if not ended else {
                        "status": self.outcome.status, "message": self.outcome.message,
                        "has_weights": self.outcome.weights is not None}}

    def events(self, after: int, wait_s: float) -> tuple[list[tuple[int, dict]], bool]:
        """Events numbered above `after`, waiting up to `wait_s` for one; and whether the run
        has ended (no more will come)."""
        with self.changed:
            self.changed.wait_for(lambda: self.buffer.after(after) or self.outcome is not None,
                                  timeout=wait_s)
            return self.buffer.after(after), self.outcome is not None

    def weights(self) -> tuple[dict[str, torch.Tensor], Card] | None:
        o = self.outcome
        return None if o is None or o.weights is None or o.card is None else (o.weights, o.card)

    def control(self, action: str) -> None:
        {"pause": self.pause_flag.set, "resume": self.pause_flag.clear,
         "cancel": self.stop.set}[action]()
        if action == "cancel":
            self.pause_flag.clear()


@ray.remote(num_cpus=0, max_restarts=-1)
class DatasetShelf:
    """Owns the object-store copies of datasets, by content hash, the newest few kept."""

    def __init__(self) -> None:
        self.refs: OrderedDict[str, list] = OrderedDict()

    def get(self, key: str) -> list | None:
        if key in self.refs:
            self.refs.move_to_end(key)
        return self.refs.get(key)

    def put(self, key: str, dataset: Any) -> list:
        """Puts a dataset in the object store, owned by this actor (not by the web worker that
        sent it, which may stop), and returns [reference]: in a list, Ray hands a reference
        over without fetching what it points to."""
        if key not in self.refs:
            self.refs[key] = [ray.put(dataset)]
            while len(self.refs) > DATASETS_KEPT:
                self.refs.popitem(last=False)
        return self.get(key)


# ---------------------------------------------------------------- in each web worker

class ClusterUnreachable(RuntimeError):
    pass


def connect(address: str) -> None:
    """Joins the cluster as a driver, or fails naming the address (the app then does not start)."""
    if ray.is_initialized():  # tests start Ray in-process before the app
        return
    advice = ("Start it with `ray start --head` (see the README, 'Running on a cluster'), or "
              "unset PLAYGROUND_RAY_ADDRESS to train on this machine.")
    # ray.init retries an address where nothing answers for minutes: knock first
    gcs = _gcs_address(address)
    if gcs is not None:
        host, _, port = gcs.rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=3).close()
        except (OSError, ValueError) as exc:
            raise ClusterUnreachable(
                f"cannot reach the Ray cluster at PLAYGROUND_RAY_ADDRESS={address!r} "
                f"(nothing answers at {gcs}: {exc}). {advice}") from exc
    try:
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=False,
                 logging_level=logging.WARNING)
    except Exception as exc:
        raise ClusterUnreachable(
            f"cannot reach the Ray cluster at PLAYGROUND_RAY_ADDRESS={address!r}: "
            f"{str(exc).rstrip('.')}. "
            f"{advice}") from exc


def _gcs_address(address: str) -> str | None:
    """host:port of the cluster's head: given, or for "auto" the one `ray start` wrote down."""
    if address == "auto":
        written = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        return written.read_text().strip() if written.exists() else None
    return address if ":" in address and "://" not in address else None


class RayBackend:
    """Runs go to a Ray cluster; the records stay in this app's SQLite file."""

    def __init__(self, store: RunStore, catalog: Catalog, runs_dir: Path, *, address: str,
                 cpus_per_run: float = 1, max_queued: int = 4, max_seconds: float = 1800,
                 poll_s: float = 0.25, corpora: Corpora | None = None, per_owner: int = 0
                 ) -> None:
        self.store, self.catalog, self.runs_dir = store, catalog, runs_dir
        self.per_owner = per_owner  # shared mode: runs one owner may have at once (0: any)
        self.corpora = corpora or Corpora(CorporaConfig(catalog.config.data_dir / "sequences"))
        self.address, self.cpus_per_run = address, cpus_per_run
        self.max_queued, self.max_seconds, self.poll_s = max_queued, max_seconds, poll_s
        self._handles: dict[str, Any] = {}
        self._cluster = {"nodes": 1, "cpus": 0.0}
        self._last_metrics: dict[str, float] = {}
        self._stop_asked: dict[str, float] = {}
        self._monitor: asyncio.Task | None = None
        self._shelf: Any = None

    # lifecycle
    async def start(self) -> None:
        await asyncio.to_thread(connect, self.address)
        self._shelf = DatasetShelf.options(name="datasets", namespace=NAMESPACE,
                                           lifetime="detached", get_if_exists=True).remote()
        await asyncio.to_thread(self._refresh_cluster)
        self._monitor = asyncio.create_task(self._monitor_forever(), name="ray-run-monitor")
        log.info("training runs go to the Ray cluster at %s: %d node(s), %g CPUs",
                 self.address, self._cluster["nodes"], self._cluster["cpus"])

    async def stop(self) -> None:
        """The runs go on without this web worker: another one, or the next start, watches."""
        if self._monitor:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor

    # the interface
    def submit(self, dataset: str, config: RunConfig, owner: str | None = None) -> RunRecord:
        active = self.store.active()
        queued = sum(r.status == "queued" for r in active)
        record = admit(dataset, config, running=len(active) - queued, queued=queued,
                       room=self._concurrent(), max_queued=self.max_queued,
                       max_seconds=self.max_seconds, where="on the cluster ", owner=owner,
                       owner_active=sum(r.owner == owner for r in active) if owner else 0,
                       per_owner=self.per_owner)
        ref = self._data_ref(dataset, record.config)
        threads = max(1, int(self.cpus_per_run))
        # The actor first, then the record: a monitor that sees the record finds the actor.
        self._handles[record.id] = RunActor.options(
            name=actor_name(record.id), namespace=NAMESPACE, lifetime="detached",
            num_cpus=self.cpus_per_run).remote(record.id, dataset, ref[0], record.config,
                                               threads)
        self.store.add(record)
        return self.get(record.id)

    def get(self, run_id: str) -> RunRecord:
        record = self.store.get(run_id)
        if record.status == "queued":
            waiting = [r.id for r in self.store.active() if r.status == "queued"]
            record.queue_position = waiting.index(run_id) + 1 if run_id in waiting else None
        return record

    def list(self) -> list[RunRecord]:
        waiting = [r.id for r in self.store.active() if r.status == "queued"]
        records = self.store.list()
        for r in records:
            if r.id in waiting:
                r.queue_position = waiting.index(r.id) + 1
        return records

    async def events(self, run_id: str, after: int = 0) -> AsyncIterator[tuple[int, dict]]:
        """Every event after `after`, then new ones as they come, until the run ends; the last
        is always the recorded end (status, message, has_weights)."""
        record = self.store.get(run_id)
        if record.status in FINISHED:
            yield max(after, FIRST_SEQ - 1) + 1, self._final(record)
            return
        if after < FIRST_SEQ - 1:
            yield FIRST_SEQ - 1, {"type": "status", "status": "queued"}
            after = FIRST_SEQ - 1
        while True:
            handle = self._handle(run_id)
            if handle is None:
                break
            try:  # a pending actor (queued run) answers nothing: check the record and ask again
                items, ended = await asyncio.wait_for(
                    _awaitable(handle.events.remote(after, 1.0)), timeout=2.0)
            except TimeoutError:
                if self.store.get(run_id).status in FINISHED:
                    break
                continue
            except RayActorError:  # it ended and was let go, or its worker died
                break
            for seq, event in items:
                if event["type"] == "status" and event["status"] == "running":
                    self._started(run_id, event["node"])  # the record says so before we do
                yield seq, event
                after = seq
            if ended:
                break
        record = await self._recorded_end(run_id)
        yield after + 1, self._final(record)

    def pause(self, run_id: str) -> RunRecord:
        self._control(run_id, "pause", ("running",), "paused")
        return self.get(run_id)

    def resume(self, run_id: str) -> RunRecord:
        self._control(run_id, "resume", ("paused",), "running")
        return self.get(run_id)

    def cancel(self, run_id: str) -> RunRecord:
        record = self.store.get(run_id)
        # recorded first: a monitor that then sees the actor gone finds the run already ended
        if record.status == "queued" and self.store.update_if(
                run_id, ("queued",), status="stopped", finished=time.time(),
                message="cancelled before it started"):
            handle = self._handle(run_id)
            if handle is not None:
                ray.kill(handle)
            self._handles.pop(run_id, None)
        elif record.status in ("queued", "running", "paused"):
            # it started (or is starting) meanwhile: ask it to stop like a running one
            self._control(run_id, "cancel", ("queued", "running", "paused"), "stopping")
        elif record.status in FINISHED:
            raise Conflict(f"run {run_id} has already ended ({record.status})")
        return self.get(run_id)

    def delete(self, run_id: str) -> None:
        delete_finished(self.store, run_id, self.weights_stem(run_id))
        self._handles.pop(run_id, None)

    def weights_stem(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def describe(self) -> Capacity:
        active = self.store.active()
        queued = sum(r.status == "queued" for r in active)
        return Capacity(backend="ray", where=self.address, nodes=self._cluster["nodes"],
                        cpus=self._cluster["cpus"], cpus_per_run=self.cpus_per_run,
                        concurrent=self._concurrent(), max_queued=self.max_queued,
                        running=len(active) - queued, queued=queued)

    # inside
    def _concurrent(self) -> int:
        return max(1, int(self._cluster["cpus"] // self.cpus_per_run))

    def _refresh_cluster(self) -> None:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        self._cluster = {"nodes": len(nodes),
                         "cpus": float(ray.cluster_resources().get("CPU", 0.0))}

    def _data_ref(self, name: str, config: dict) -> list:
        """[reference] to the run's data in the object store: an image dataset is put there
        once per content; a sequence corpus (a few MB at most) each time."""
        if run_kind(config) in ("sequence", "memory"):
            return [ray.put(load_data(name, config, self.catalog, self.corpora))]
        key = self.catalog.fingerprint(name)
        ref = ray.get(self._shelf.get.remote(key))
        if ref is None:
            ref = ray.get(self._shelf.put.remote(key, self.catalog.load(name)))
        return ref

    def _handle(self, run_id: str) -> Any:
        if run_id not in self._handles:
            try:
                self._handles[run_id] = ray.get_actor(actor_name(run_id), namespace=NAMESPACE)
            except ValueError:
                return None
        return self._handles[run_id]

    def _control(self, run_id: str, action: str, allowed: tuple[str, ...], status: str) -> None:
        record = self.store.get(run_id)
        handle = self._handle(run_id)
        if record.status not in allowed or handle is None:
            raise not_in_state(run_id, record.status,
                               f"only a {' or '.join(allowed)} run can {action}")
        handle.control.remote(action)  # reaches the training thread within a step
        if action == "cancel":
            self._stop_asked.setdefault(run_id, time.monotonic())
        self.store.update_if(run_id, allowed, status=status)

    @staticmethod
    def _final(record: RunRecord) -> dict:
        return {"type": "status", "status": record.status, "message": record.message,
                "has_weights": record.has_weights}

    async def _recorded_end(self, run_id: str, timeout: float = 60) -> RunRecord:
        """The run's record once a monitor (this worker's or another's) has written its end."""
        deadline = time.monotonic() + timeout
        record = self.store.get(run_id)
        while record.status not in FINISHED and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            record = self.store.get(run_id)
        return record

    async def _monitor_forever(self) -> None:
        last_refresh = time.monotonic()
        while True:
            try:
                await self._watch_once()
                if time.monotonic() - last_refresh > 5:
                    await asyncio.to_thread(self._refresh_cluster)
                    last_refresh = time.monotonic()
            except Exception:  # never let one odd answer stop the watching
                log.exception("ray run monitor")
            await asyncio.sleep(self.poll_s)

    async def _watch_once(self) -> None:
        records = self.store.active()
        asks = {}
        for record in records:
            handle = self._handle(record.id)
            if handle is None and time.time() - record.created > 10:
                self._end(record.id, "failed", "its Ray actor is gone: the cluster restarted or "
                          "the actor was killed", False)
                continue
            if handle is None:
                continue
            asks[record.id] = asyncio.ensure_future(_awaitable(handle.state.remote()))
        if not asks:
            return
        await asyncio.wait(asks.values(), timeout=1.0)
        for run_id, ask in asks.items():
            if not ask.done():  # pending: still waiting for room on the cluster
                ask.cancel()
                continue
            try:
                state = ask.result()
            except RayActorError as exc:
                self._end(run_id, "failed", f"the Ray worker running it died: {_reason(exc)}",
                          False)
                continue
            await self._follow(run_id, state)

    def _started(self, run_id: str, node: str) -> None:
        if self.store.update_if(run_id, ("queued",), status="running", started=time.time(),
                                node=node):
            log.info("run %s started on %s", run_id, node)

    async def _follow(self, run_id: str, state: dict) -> None:
        self._started(run_id, state["node"])
        now = time.monotonic()
        if state["metrics"] and now - self._last_metrics.get(run_id, 0) >= 2:
            self.store.update_if(run_id, ACTIVE, metrics=state["metrics"])
            self._last_metrics[run_id] = now
        outcome = state["outcome"]
        if outcome is not None:
            has_weights = False
            if outcome["has_weights"]:
                found = await _awaitable(self._handles[run_id].weights.remote())
                if found is not None:
                    await asyncio.to_thread(write_weights, self.weights_stem(run_id), *found)
                    has_weights = True
            self.store.update_if(run_id, ACTIVE, metrics=state["metrics"])
            self._end(run_id, outcome["status"], outcome["message"], has_weights)
        elif (run_id in self._stop_asked
              and now - self._stop_asked[run_id] > STOP_GRACE_S):
            self._end(run_id, "stopped", f"it did not stop within {STOP_GRACE_S} s and was "
                      "killed; no weights were kept", False)

    def _end(self, run_id: str, status: str, message: str, has_weights: bool) -> None:
        if self.store.update_if(run_id, ACTIVE, status=status, finished=time.time(),
                                message=message, has_weights=has_weights):
            log.info("run %s %s %s", run_id, status, message)
        handle = self._handles.pop(run_id, None)
        if handle is not None:  # frees its CPUs for the next run, once subscribers have read
            asyncio.get_running_loop().call_later(KILL_AFTER_S, _kill, handle)  # the last events
        self._stop_asked.pop(run_id, None)
        self._last_metrics.pop(run_id, None)


def _kill(handle: Any) -> None:
    with contextlib.suppress(Exception):
        ray.kill(handle)


def _awaitable(ref: Any) -> asyncio.Future:
    return asyncio.wrap_future(ref.future())


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return next((line.strip() for line in text if "died" in line.lower() or "exit" in line.lower()),
                text[0] if text else type(exc).__name__)

