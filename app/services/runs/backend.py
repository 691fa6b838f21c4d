"""What every training backend offers (`JobBackend`), and the one admission rule they share.

The embedded backend (`embedded.py`) trains in processes on this machine; the Ray backend
(`ray.py`) on a cluster. Routers and pages see only this interface.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Protocol

from app.core import depth, generative, recurrent
from app.core import sequences as seq
from app.core.training import TrainConfig
from app.services.errors import Busy, Conflict
from app.services.runs.records import FINISHED, RunRecord, RunStore
from app.settings import LIMITS

RunConfig = (TrainConfig | generative.GenerativeTrainConfig | seq.SequenceTrainConfig
             | recurrent.MemoryConfig | depth.DepthConfig)


def run_kind(config: dict) -> str:
    """What a run trains, from its config: "classifier" (the training page's CNNs), "generative"
    (a VAE or GAN to watch), "sequence" (the sequence lab's char models and series), "memory"
    (the sequence lab's memory task) or "depth" (the skip-connection experiment)."""
    task = config.get("task")
    if task in ("vae", "gan"):
        return "generative"
    if task == "depth":
        return "depth"
    if task in seq.TASKS:
        return "sequence"
    return "memory" if task == "memory" else "classifier"


def validate(config: RunConfig) -> None:
    """Checks a run's config against its kind's limits: the one place that knows which."""
    if isinstance(config, TrainConfig):
        config.validate(LIMITS.training)
    elif isinstance(config, depth.DepthConfig):
        config.validate(LIMITS.depth)
    elif isinstance(config, generative.GenerativeTrainConfig):
        config.validate(LIMITS.generative)
    elif isinstance(config, seq.SequenceTrainConfig):
        config.validate(LIMITS.sequences)
    else:
        config.validate(LIMITS.recurrent)


class JobBackend(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def submit(self, dataset: str, config: RunConfig, owner: str | None = None
               ) -> RunRecord: ...
    def get(self, run_id: str) -> RunRecord: ...
    def list(self) -> list[RunRecord]: ...
    def events(self, run_id: str, after: int = 0) -> AsyncIterator[tuple[int, dict]]: ...
    def pause(self, run_id: str) -> RunRecord: ...
    def resume(self, run_id: str) -> RunRecord: ...
    def cancel(self, run_id: str) -> RunRecord: ...
    def delete(self, run_id: str) -> None: ...
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


def admit(dataset: str, config: RunConfig, *, running: int, queued: int, room: int,
          max_queued: int, max_seconds: float, where: str, owner: str | None = None,
          owner_active: int = 0, per_owner: int = 0) -> RunRecord:
    """A new queued run's record, if there is room: `room` runs train at once and
    `max_queued` may wait, and (shared mode) an owner has at most `per_owner` of them at
    once (`owner_active` now). The run's time limit is capped at the backend's."""
    validate(config)
    if owner is not None and per_owner and owner_active >= per_owner:
        raise Busy(f"you have {owner_active} run(s) queued or training, the most one visitor "
                   f"may have at once ({per_owner}); the others of the class can still start "
                   "theirs: wait for one of yours to end, or cancel it",
                   retry_after=60, field="owner")
    if running + queued >= room + max_queued:
        raise Busy(f"{running} run(s) training {where}(room for {room}) and {queued} waiting, "
                   "the most allowed; try again later", retry_after=30 * (1 + queued))
    config = replace(config, max_seconds=min(config.max_seconds, max_seconds))
    return RunRecord(id=secrets.token_urlsafe(9), status="queued", dataset=dataset,
                     config=asdict(config), created=time.time(), owner=owner)


def delete_finished(store: RunStore, run_id: str, weights_stem: Path) -> None:
    """Removes an ended run: its record, then its weights (a model saved from it is a copy and
    stays). A run still going is a Conflict: it must be cancelled first."""
    record = store.get(run_id)
    if not store.delete_if(run_id, FINISHED):
        raise not_in_state(run_id, record.status, "cancel it first; only an ended run can be "
                           "deleted")
    for suffix in (".safetensors", ".json"):
        weights_stem.with_suffix(suffix).unlink(missing_ok=True)


def not_in_state(run_id: str, status: str, wanted: str) -> Conflict:
    """The error for an action the run's status does not allow."""
    return Conflict(f"run {run_id} is {status}; {wanted}")
