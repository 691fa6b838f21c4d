"""Training runs on this machine: a bounded number at once, a bounded queue, numbered events.

Each run trains in its own spawned process (killable; a crash cannot take the server down) with
`torch.set_num_threads` set to its share of the cores. The process sends events over a queue;
one pump task moves them into a per-run buffer of numbered events and wakes the subscribers. A
server-sent-event handler only reads that buffer, so a client that leaves never stops a run.
A run's process never outlives the server: it exits within a second or so of the server's
death, however that comes (worker.watch_parent); the next start marks its record interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing as mp
import os
import queue as queue_mod
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.services.corpora import CorporaConfig
from app.services.datasets import CatalogConfig
from app.services.errors import Conflict
from app.services.runs.backend import (
    Capacity,
    RunConfig,
    admit,
    delete_finished,
    not_in_state,
)
from app.services.runs.events import EventBuffer, metrics_of
from app.services.runs.records import FINISHED, RunRecord, RunStore
from app.services.runs.worker import ChildArgs, run_child

log = logging.getLogger(__name__)


@dataclass
class _Live:
    process: Any
    events: Any
    stop: Any
    pause: Any
    lifeline: Any  # the writing end of the pipe the process watches: closed, it exits
    stop_requested: float | None = None


class EmbeddedBackend:
    """Runs on this machine, one spawned process per run."""

    def __init__(self, store: RunStore, catalog: CatalogConfig, runs_dir: Path, *,
                 max_concurrent: int = 1, max_queued: int = 4, max_seconds: float = 1800,
                 threads: int = 0, corpora: CorporaConfig | None = None,
                 per_owner: int = 0) -> None:
        self.store, self.catalog, self.runs_dir = store, catalog, runs_dir
        self.per_owner = per_owner  # shared mode: runs one owner may have at once (0: any)
        # the sequence lab's datasets: beside the image datasets unless told otherwise
        self.corpora = corpora or CorporaConfig(catalog.data_dir / "sequences")
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
            live.lifeline.close()  # should SIGTERM not be enough
            live.process.join(timeout=5)
            self.store.update(run_id, status="interrupted", finished=time.time(),
                              message="the app stopped while this run was running")
        for run_id in self._queue:
            self.store.update(run_id, status="interrupted", finished=time.time(),
                              message="the app stopped while this run was queued")
        self._live.clear()
        self._queue.clear()

    # the interface
    def submit(self, dataset: str, config: RunConfig, owner: str | None = None) -> RunRecord:
        record = admit(dataset, config, running=len(self._live), queued=len(self._queue),
                       room=self.max_concurrent, max_queued=self.max_queued,
                       max_seconds=self.max_seconds, where="", owner=owner,
                       owner_active=self.store.active_of(owner) if owner else 0,
                       per_owner=self.per_owner)
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
            raise not_in_state(run_id, record.status, "only a paused run resumes")
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
            raise Conflict(f"run {run_id} has already ended ({record.status})")
        return self.get(run_id)

    def delete(self, run_id: str) -> None:
        delete_finished(self.store, run_id, self.weights_stem(run_id))
        self._buffers.pop(run_id, None)

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
            raise not_in_state(run_id, record.status, f"only a running run can {action}")
        return live

    def _emit(self, run_id: str, event: dict) -> None:
        buffer = self._buffers.setdefault(run_id, EventBuffer())
        buffer.add(event)

    def _start_queued(self) -> None:
        while self._queue and len(self._live) < self.max_concurrent:
            run_id = self._queue.popleft()
            record = self.store.get(run_id)
            args = ChildArgs(run_id=run_id, dataset=record.dataset, catalog=self.catalog,
                             corpora=self.corpora,
                             config=record.config, weights_stem=self.weights_stem(run_id),
                             threads=self.threads, parent_pid=os.getpid(),
                             # the kernel's parent-death signal follows the spawning thread:
                             # only safe from the main one (uvicorn's event loop; a test
                             # client's loop has a thread of its own)
                             death_signal=threading.current_thread() is threading.main_thread())
            events, stop, pause = self._ctx.Queue(), self._ctx.Event(), self._ctx.Event()
            # only this process holds the writing end: the kernel closes it when we die, however
            # we die, and the child watching the reading end exits
            watched, lifeline = self._ctx.Pipe(duplex=False)
            process = self._ctx.Process(target=run_child,
                                        args=(args, events, stop, pause, watched),
                                        name=f"training-{run_id}", daemon=True)
            process.start()
            watched.close()  # the child has its own copy now
            self._live[run_id] = _Live(process, events, stop, pause, lifeline)
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
        live.lifeline.close()  # a process still there (a join that timed out) exits now
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
