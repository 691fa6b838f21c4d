"""Training runs in the background: a bounded number at once, a bounded queue, numbered events.

`JobBackend` is what routers use (submit, get, list, events, pause, resume, cancel). The
embedded backend runs each run in its own spawned process (killable; a crash cannot take the
server down) with `torch.set_num_threads` set to its share of the cores. The process sends
events over a queue; one pump task moves them into a per-run buffer of numbered events and
wakes the subscribers. A server-sent-event handler only reads that buffer, so a client that
leaves never stops a run. Run records live in SQLite, so they survive a restart; a run that was
running when the app stopped is marked interrupted at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import multiprocessing as mp
import os
import queue as queue_mod
import secrets
import socket
import sqlite3
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from app.catalog import Catalog, CatalogConfig
from app.core import generative, images, nets
from app.core.datasets import Dataset
from app.core.errors import InputError
from app.core.training import TrainConfig, TrainingDiverged, train
from app.model_store import write_weights

log = logging.getLogger(__name__)

ACTIVE = ("queued", "running", "paused", "stopping")
FINISHED = ("completed", "stopped", "failed", "interrupted")
LIGHT_EVENTS_KEPT = 20_000  # per run: progress, epoch and status events (small)


class QueueFull(Exception):
    def __init__(self, retry_after: int, message: str) -> None:
        super().__init__(message)
        self.retry_after, self.message = retry_after, message


class UnknownRun(KeyError):
    pass


class RunConflict(Exception):
    """The action does not fit the run's state (pause a finished run…)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class RunRecord:
    id: str
    status: str
    dataset: str
    config: dict
    created: float
    started: float | None = None
    finished: float | None = None
    message: str = ""
    metrics: dict = field(default_factory=dict)
    has_weights: bool = False
    node: str = ""  # where it runs or ran: a host name (and address, on a cluster)
    queue_position: int | None = None  # 1 = next to start


# ---------------------------------------------------------------- run records (SQLite)

class RunStore:
    """Run records in one SQLite file; safe to call from the event loop and worker threads."""

    COLUMNS = ("id", "status", "dataset", "config", "created", "started", "finished", "message",
               "metrics", "has_weights", "node")

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # several web workers may share the file: wait for another's write rather than fail
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                   timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, status TEXT NOT NULL, "
                "dataset TEXT NOT NULL, config TEXT NOT NULL, created REAL NOT NULL, started REAL, "
                "finished REAL, message TEXT NOT NULL DEFAULT '', metrics TEXT NOT NULL "
                "DEFAULT '{}', has_weights INTEGER NOT NULL DEFAULT 0, "
                "node TEXT NOT NULL DEFAULT '')")
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(runs)")}
            if "node" not in columns:  # a records file from before runs had a place
                self._db.execute("ALTER TABLE runs ADD COLUMN node TEXT NOT NULL DEFAULT ''")

    def add(self, r: RunRecord) -> None:
        with self._lock:
            self._db.execute(
                f"INSERT INTO runs ({', '.join(self.COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(self.COLUMNS))})",
                (r.id, r.status, r.dataset, json.dumps(r.config), r.created, r.started,
                 r.finished, r.message, json.dumps(r.metrics), int(r.has_weights), r.node))

    def update(self, run_id: str, **values: Any) -> None:
        for key in ("config", "metrics"):
            if key in values:
                values[key] = json.dumps(values[key])
        sets = ", ".join(f"{k} = ?" for k in values)
        with self._lock:
            self._db.execute(f"UPDATE runs SET {sets} WHERE id = ?", (*values.values(), run_id))

    def update_if(self, run_id: str, statuses: tuple[str, ...], **values: Any) -> bool:
        """Updates only while the run's status is one of `statuses`; True if it did. Several
        web workers may see a run end at once: exactly one of them records it."""
        for key in ("config", "metrics"):
            if key in values:
                values[key] = json.dumps(values[key])
        sets = ", ".join(f"{k} = ?" for k in values)
        with self._lock:
            cur = self._db.execute(
                f"UPDATE runs SET {sets} WHERE id = ? AND status IN "
                f"({', '.join('?' * len(statuses))})", (*values.values(), run_id, *statuses))
        return cur.rowcount == 1

    def active(self) -> list[RunRecord]:
        """Queued, running, paused or stopping runs, oldest first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(self.COLUMNS)} FROM runs WHERE status IN "
                f"({', '.join('?' * len(ACTIVE))}) ORDER BY created", ACTIVE).fetchall()
        return [self._record(r) for r in rows]

    def get(self, run_id: str) -> RunRecord:
        with self._lock:
            row = self._db.execute(f"SELECT {', '.join(self.COLUMNS)} FROM runs WHERE id = ?",
                                   (run_id,)).fetchone()
        if row is None:
            raise UnknownRun(run_id)
        return self._record(row)

    def list(self, limit: int = 50) -> list[RunRecord]:
        with self._lock:
            rows = self._db.execute(f"SELECT {', '.join(self.COLUMNS)} FROM runs "
                                    "ORDER BY created DESC LIMIT ?", (limit,)).fetchall()
        return [self._record(r) for r in rows]

    def interrupt_unfinished(self) -> int:
        """Runs the previous app process left queued or running: they will never finish."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE runs SET status = 'interrupted', finished = ?, message = "
                "'the app stopped while this run was queued or running' "
                f"WHERE status IN ({', '.join('?' * len(ACTIVE))})", (time.time(), *ACTIVE))
        return cur.rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @staticmethod
    def _record(row: tuple) -> RunRecord:
        d = dict(zip(RunStore.COLUMNS, row, strict=True))
        d["config"], d["metrics"] = json.loads(d["config"]), json.loads(d["metrics"])
        d["has_weights"] = bool(d["has_weights"])
        return RunRecord(**d)


# ---------------------------------------------------------------- events, as JSON

def serialize_event(event: dict) -> dict:
    """A training event with numpy arrays → JSON-ready: maps become PNG data URLs."""
    if event["type"] == "start" and "probe" in event:
        probe = event["probe"]  # (C, H, W) uint8: the validation image the snapshots follow
        pixels = probe[0] if probe.shape[0] == 1 else probe.transpose(1, 2, 0)
        return {k: v for k, v in event.items() if k != "probe"} | {
            "probe_png": images.png_data_url(np.ascontiguousarray(pixels))}
    if event["type"] == "samples":
        return {k: v for k, v in event.items() if k != "images"} | {
            "png": images.png_data_url(generative.tile(event["images"], 8))}
    if event["type"] == "snapshot":
        out = {k: v for k, v in event.items() if k not in ("filters", "activations")}
        filters = event["filters"]
        if filters is not None:
            # one tile per filter: its first input channel (the colour channels averaged for RGB)
            tiles = filters.mean(axis=1) if filters.shape[1] == 3 else filters[:, 0]
            out["filters"] = {"count": int(filters.shape[0]), "size": list(filters.shape[2:]),
                              "png": images.png_data_url(images.mosaic(tiles, signed=True, scale=8,
                                                        cols=min(8, len(tiles))))}
        layers = []
        for a in event["activations"]:
            v = a["values"]
            if v.ndim == 3:  # channels of maps: a grid, small maps enlarged
                maps, scale, cols = v, max(1, 56 // max(v.shape[1], 1)), min(8, len(v))
            else:  # a vector: wrapped into rows of at most 56 values
                maps = images.vector_rows(v, 56)
                scale, cols = max(4, 224 // maps.shape[2]), 1
            layers.append({"index": a["index"], "label": a["label"], "shape": a["shape"],
                           "png": images.png_data_url(images.mosaic(maps, signed=False, scale=scale,
                                                     cols=cols, gap=2))})
        out["layers"] = layers
        return out
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in event.items()}


def metrics_of(event: dict) -> dict:
    """The figures of a progress, epoch or done event, for the run's record."""
    return {k: v for k, v in event.items() if k not in ("type", "confusion", "at")}


# ---------------------------------------------------------------- the training process

@dataclass
class Outcome:
    """How a run ended, wherever it ran: the weights are saved by whoever asked for the run."""

    status: str  # completed, stopped or failed
    message: str = ""
    weights: dict[str, torch.Tensor] | None = None
    meta: dict | None = None


def execute(run_id: str, dataset_name: str, load_dataset: Callable[[], Dataset], config: dict,
            emit: Callable[[dict], None], should_stop: Callable[[], bool]) -> Outcome:
    """The body of every run, on any backend: load the data, train, say how it ended. Events go
    to `emit` already JSON-ready (`serialize_event`), each stamped with the wall-clock time it
    was made (`at`, seconds), so a client can tell how fresh it is. Never raises: a failure is
    an Outcome."""

    def send(event: dict) -> None:
        emit(serialize_event(event) | {"at": round(time.time(), 4)})

    try:
        dataset = load_dataset()
        if config.get("task") in ("vae", "gan"):
            return _execute_generative(dataset, config, send, should_stop)
        train_config = TrainConfig(**config)
        result = train(dataset, train_config, send, should_stop)
        table = nets.table(train_config.layers, dataset.shape, len(dataset.classes))
        meta = {
            "layers": nets.normalize(train_config.layers), "input_shape": list(dataset.shape),
            "classes": list(dataset.classes), "normalization": list(result.normalization),
            "dataset": dataset_name, "run_id": run_id, "metrics": result.metrics,
            "params": table.total_params,
            "trained": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "config": {k: v for k, v in config.items() if k != "layers"}}
        message = {"completed": "", "stopped": "stopped by request; the model is kept as it is",
                   "time limit": "stopped at the time limit; the model is kept as it is"
                   }[result.reason]
        return Outcome("stopped" if result.stopped else "completed", message,
                       result.model.state_dict(), meta)
    except TrainingDiverged as exc:
        return Outcome("failed", str(exc))
    except InputError as exc:
        return Outcome("failed", exc.message)
    except Exception as exc:  # a bug: say it in the run's record, keep the server up
        log.exception("training run %s failed", run_id)
        return Outcome("failed", f"training failed: {exc!r}")


def _execute_generative(dataset: Dataset, config: dict, send: Callable[[dict], None],
                        should_stop: Callable[[], bool]) -> Outcome:
    """A VAE or GAN run to watch (the generative lab): its samples, not its weights, matter."""
    if dataset.shape != (1, 28, 28):
        raise InputError("the generative models take 28×28 gray images", "dataset")
    x = torch.from_numpy(dataset.train.x).float().div_(255)
    reason = generative.train_generative(x, generative.GenerativeTrainConfig(**config),
                                         send, should_stop)
    return Outcome("completed" if reason == "completed" else "stopped",
                   "a run to watch: its weights are not kept")


def waiter(stop: Any, pause: Any) -> Callable[[], bool]:
    """should_stop for `execute`: holds the run while paused; True once a stop is asked for."""

    def should_stop() -> bool:
        while pause.is_set() and not stop.is_set():
            time.sleep(0.05)
        return stop.is_set()

    return should_stop


@dataclass(frozen=True)
class ChildArgs:
    run_id: str
    dataset: str
    catalog: CatalogConfig
    config: dict
    weights_stem: Path
    threads: int


def run_child(args: ChildArgs, events: Any, stop: Any, pause: Any) -> None:
    """The body of an embedded training process. Everything goes back over `events`; the last
    message is always {"type": "exit", …}."""
    torch.set_num_threads(args.threads)
    outcome = execute(args.run_id, args.dataset, lambda: Catalog(args.catalog).load(args.dataset),
                      args.config, events.put, waiter(stop, pause))
    if outcome.weights is not None:
        write_weights(args.weights_stem, outcome.weights, outcome.meta or {})
    events.put({"type": "exit", "status": outcome.status, "message": outcome.message,
                "has_weights": outcome.weights is not None})


# ---------------------------------------------------------------- backends

class JobBackend(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def submit(self, dataset: str,
               config: TrainConfig | generative.GenerativeTrainConfig) -> RunRecord: ...
    def get(self, run_id: str) -> RunRecord: ...
    def list(self) -> list[RunRecord]: ...
    def events(self, run_id: str, after: int = 0) -> AsyncIterator[tuple[int, dict]]: ...
    def pause(self, run_id: str) -> RunRecord: ...
    def resume(self, run_id: str) -> RunRecord: ...
    def cancel(self, run_id: str) -> RunRecord: ...
    def weights_stem(self, run_id: str) -> Path: ...
    def describe(self) -> Capacity: ...


@dataclass
class Capacity:
    """Where runs execute and how many fit: what the training page tells an operator."""

    backend: str  # "embedded" or "ray"
    where: str  # this machine's name, or the cluster's address
    nodes: int
    cpus: float
    cpus_per_run: float
    concurrent: int  # runs that train at once
    max_queued: int  # beyond concurrent + this, a new run gets 429
    running: int
    queued: int


@dataclass
class EventBuffer:
    """Numbered events of one run. Light events are all kept (up to a cap); of the bulky
    snapshots only the latest, which is all a page that arrives late needs."""

    light: deque = field(default_factory=lambda: deque(maxlen=LIGHT_EVENTS_KEPT))
    snapshot: tuple[int, dict] | None = None
    next_seq: int = 1
    closed: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, event: dict) -> None:
        item = (self.next_seq, event)
        self.next_seq += 1
        if event["type"] == "snapshot":
            self.snapshot = item
        else:
            self.light.append(item)
        self.changed.set()

    def after(self, seq: int) -> list[tuple[int, dict]]:
        items = [it for it in self.light if it[0] > seq]
        if self.snapshot and self.snapshot[0] > seq:
            items.append(self.snapshot)
            items.sort(key=lambda it: it[0])
        return items


@dataclass
class _Live:
    process: Any
    events: Any
    stop: Any
    pause: Any
    stop_requested: float | None = None


class EmbeddedBackend:
    """Runs on this machine, one spawned process per run."""

    def __init__(self, store: RunStore, catalog: CatalogConfig, runs_dir: Path, *,
                 max_concurrent: int = 1, max_queued: int = 4, max_seconds: float = 1800,
                 threads: int = 0) -> None:
        self.store, self.catalog, self.runs_dir = store, catalog, runs_dir
        self.max_concurrent, self.max_queued, self.max_seconds = max_concurrent, max_queued, \
            max_seconds
        cores = os.cpu_count() or 1
        self.threads = threads or max(1, cores // max_concurrent)
        self._ctx = mp.get_context("spawn")
        self._live: dict[str, _Live] = {}
        self._queue: deque[str] = deque()
        self._buffers: dict[str, EventBuffer] = {}
        self._pump: asyncio.Task | None = None
        self._last_saved: dict[str, float] = {}

    # lifecycle
    async def start(self) -> None:
        n = self.store.interrupt_unfinished()
        if n:
            log.warning("%d run(s) were interrupted by the last shutdown", n)
        self._pump = asyncio.create_task(self._pump_forever(), name="training-event-pump")

    async def stop(self) -> None:
        if self._pump:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        for run_id, live in list(self._live.items()):
            live.process.terminate()
            live.process.join(timeout=5)
            self.store.update(run_id, status="interrupted", finished=time.time(),
                              message="the app stopped while this run was running")
        for run_id in self._queue:
            self.store.update(run_id, status="interrupted", finished=time.time(),
                              message="the app stopped while this run was queued")
        self._live.clear()
        self._queue.clear()

    # the interface
    def submit(self, dataset: str, config: TrainConfig | generative.GenerativeTrainConfig
               ) -> RunRecord:
        config.validate()
        busy = len(self._live) + len(self._queue)
        if busy >= self.max_concurrent + self.max_queued:
            raise QueueFull(self._retry_after(), f"{len(self._live)} run(s) training and "
                            f"{len(self._queue)} waiting, the most allowed; try again later")
        config = replace(config, max_seconds=min(config.max_seconds, self.max_seconds))
        record = RunRecord(id=secrets.token_urlsafe(9), status="queued", dataset=dataset,
                           config=asdict(config), created=time.time())
        self.store.add(record)
        self._buffers[record.id] = EventBuffer()
        self._queue.append(record.id)
        self._emit(record.id, {"type": "status", "status": "queued"})
        self._start_queued()
        return self.get(record.id)

    def get(self, run_id: str) -> RunRecord:
        record = self.store.get(run_id)
        if run_id in self._queue:
            record.queue_position = list(self._queue).index(run_id) + 1
        return record

    def list(self) -> list[RunRecord]:
        return [self.get(r.id) if r.id in self._queue else r for r in self.store.list()]

    async def events(self, run_id: str, after: int = 0) -> AsyncIterator[tuple[int, dict]]:
        """Every event after `after`, then new ones as they come, until the run ends."""
        record = self.store.get(run_id)  # UnknownRun before anything is sent
        buffer = self._buffers.get(run_id)
        if buffer is None:  # a run from before a restart: its state is all there is
            yield 1, {"type": "status", "status": record.status, "message": record.message,
                      "metrics": record.metrics}
            return
        while True:
            buffer.changed.clear()
            items = buffer.after(after)
            for seq, event in items:
                yield seq, event
                after = seq
            if not items:
                if buffer.closed:
                    return
                await buffer.changed.wait()

    def pause(self, run_id: str) -> RunRecord:
        live = self._require_running(run_id, "pause")
        live.pause.set()
        self.store.update(run_id, status="paused")
        self._emit(run_id, {"type": "status", "status": "paused"})
        return self.get(run_id)

    def resume(self, run_id: str) -> RunRecord:
        record = self.store.get(run_id)
        live = self._live.get(run_id)
        if live is None or record.status != "paused":
            raise RunConflict(f"run {run_id} is {record.status}; only a paused run resumes")
        live.pause.clear()
        self.store.update(run_id, status="running")
        self._emit(run_id, {"type": "status", "status": "running"})
        return self.get(run_id)

    def cancel(self, run_id: str) -> RunRecord:
        record = self.store.get(run_id)
        if run_id in self._queue:
            self._queue.remove(run_id)
            self._finish(run_id, "stopped", "cancelled before it started", False)
        elif run_id in self._live:
            live = self._live[run_id]
            live.stop.set()
            live.pause.clear()
            live.stop_requested = live.stop_requested or time.monotonic()
            self.store.update(run_id, status="stopping")
            self._emit(run_id, {"type": "status", "status": "stopping"})
        elif record.status in FINISHED:
            raise RunConflict(f"run {run_id} has already ended ({record.status})")
        return self.get(run_id)

    def weights_stem(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def describe(self) -> Capacity:
        cores = os.cpu_count() or 1
        return Capacity(backend="embedded", where=socket.gethostname(), nodes=1, cpus=cores,
                        cpus_per_run=self.threads, concurrent=self.max_concurrent,
                        max_queued=self.max_queued, running=len(self._live),
                        queued=len(self._queue))

    # inside
    def _require_running(self, run_id: str, action: str) -> _Live:
        record = self.store.get(run_id)
        live = self._live.get(run_id)
        if live is None or record.status != "running":
            raise RunConflict(f"run {run_id} is {record.status}; only a running run can {action}")
        return live

    def _retry_after(self) -> int:
        return 30 * (1 + len(self._queue))

    def _emit(self, run_id: str, event: dict) -> None:
        buffer = self._buffers.setdefault(run_id, EventBuffer())
        buffer.add(event)

    def _start_queued(self) -> None:
        while self._queue and len(self._live) < self.max_concurrent:
            run_id = self._queue.popleft()
            record = self.store.get(run_id)
            args = ChildArgs(run_id=run_id, dataset=record.dataset, catalog=self.catalog,
                             config=record.config, weights_stem=self.weights_stem(run_id),
                             threads=self.threads)
            events, stop, pause = self._ctx.Queue(), self._ctx.Event(), self._ctx.Event()
            process = self._ctx.Process(target=run_child, args=(args, events, stop, pause),
                                        name=f"training-{run_id}", daemon=True)
            process.start()
            self._live[run_id] = _Live(process, events, stop, pause)
            self.store.update(run_id, status="running", started=time.time(),
                              node=socket.gethostname())
            self._emit(run_id, {"type": "status", "status": "running"})

    def _finish(self, run_id: str, status: str, message: str, has_weights: bool) -> None:
        self.store.update(run_id, status=status, finished=time.time(), message=message,
                          has_weights=has_weights)
        self._emit(run_id, {"type": "status", "status": status, "message": message,
                            "has_weights": has_weights})
        self._buffers[run_id].closed = True
        self._buffers[run_id].changed.set()
        # keep the buffers of the last few ended runs for late subscribers
        ended = [r for r, b in self._buffers.items() if b.closed]
        for old in ended[:-20]:
            del self._buffers[old]

    async def _pump_forever(self) -> None:
        while True:
            try:
                self._pump_once()
            except Exception:  # never let one bad message stop every run's events
                log.exception("event pump")
            await asyncio.sleep(0.02)  # an event waits 10 ms on average here

    def _pump_once(self) -> None:
        for run_id, live in list(self._live.items()):
            exit_event = None
            while True:
                try:
                    event = live.events.get_nowait()
                except queue_mod.Empty:
                    break
                if event["type"] == "exit":
                    exit_event = event
                    break
                self._emit(run_id, event)
                self._save_metrics(run_id, event)
            if exit_event is not None:
                live.process.join(timeout=10)
                self._ended(run_id, exit_event["status"], exit_event["message"],
                            exit_event["has_weights"])
            elif not live.process.is_alive():
                self._ended(run_id, "failed", "the training process ended unexpectedly "
                            f"(exit code {live.process.exitcode})", False)
            elif live.stop_requested and time.monotonic() - live.stop_requested > 60:
                live.process.kill()
                self._ended(run_id, "stopped", "it did not stop within 60 s and was killed; "
                            "no weights were kept", False)

    def _ended(self, run_id: str, status: str, message: str, has_weights: bool) -> None:
        live = self._live.pop(run_id)
        with contextlib.suppress(Exception):
            live.events.close()
        self._finish(run_id, status, message, has_weights)
        self._start_queued()

    def _save_metrics(self, run_id: str, event: dict) -> None:
        """The latest figures into the run's record: at each epoch and at most every 2 s."""
        if event["type"] not in ("progress", "epoch", "done"):
            return
        record_metrics = metrics_of(event)
        now = time.monotonic()
        if event["type"] == "progress" and now - self._last_saved.get(run_id, 0) < 2:
            return
        self._last_saved[run_id] = now
        current = self.store.get(run_id).metrics
        self.store.update(run_id, metrics=current | record_metrics)
