"""The body of a training run, on any backend: load the data, train, say how it ended."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

import torch

from app.core import depth, generative, nets, recurrent
from app.core import sequences as seq
from app.core.datasets import Dataset
from app.core.errors import InputError
from app.core.training import TrainConfig, TrainingDiverged, train
from app.services.corpora import Corpora, CorporaConfig
from app.services.datasets import Catalog, CatalogConfig
from app.services.errors import DomainError
from app.services.models import Card, ClassifierCard, SequenceCard, write_weights
from app.services.runs.backend import run_kind
from app.services.runs.events import serialize_event
from app.settings import LIMITS

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """How a run ended, wherever it ran: the weights are saved by whoever asked for the run."""

    status: str  # completed, stopped or failed
    message: str = ""
    weights: dict[str, torch.Tensor] | None = None
    card: Card | None = None  # saved with the weights


def load_data(dataset: str, config: dict, catalog: Catalog, corpora: Corpora) -> Any:
    """A run's data: images from the catalog, a corpus from the sequence datasets, or nothing
    (the memory task makes its own)."""
    kind = run_kind(config)
    if kind == "memory":
        return None
    return corpora.load(dataset) if kind == "sequence" else catalog.load(dataset)


def _stamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


_ENDED = {"completed": "", "stopped": "stopped by request; the model is kept as it is",
          "time limit": "stopped at the time limit; the model is kept as it is"}


def execute(run_id: str, dataset_name: str, load_dataset: Callable[[], Any], config: dict,
            emit: Callable[[dict], None], should_stop: Callable[[], bool]) -> Outcome:
    """The body of every run, on any backend: load the data, train, say how it ended. Events go
    to `emit` already JSON-ready (`serialize_event`), each stamped with the wall-clock time it
    was made (`at`, seconds), so a client can tell how fresh it is. Never raises: a failure is
    an Outcome."""

    def send(event: dict) -> None:
        emit(serialize_event(event) | {"at": round(time.time(), 4)})

    try:
        dataset = load_dataset()
        kind = run_kind(config)
        if kind == "generative":
            return _execute_generative(dataset, config, send, should_stop)
        if kind == "sequence":
            return _execute_sequence(run_id, dataset_name, dataset, config, send, should_stop)
        if kind == "memory":
            return _execute_memory(config, send, should_stop)
        if kind == "depth":
            reason = depth.train_pair(dataset, depth.DepthConfig(**config), send, should_stop,
                                      limits=LIMITS.depth, net_limits=LIMITS.nets)
            return Outcome("completed" if reason == "completed" else "stopped",
                           "a run to watch: the experiment keeps no model")
        train_config = TrainConfig(**config)
        result = train(dataset, train_config, send, should_stop, limits=LIMITS.training,
                       net_limits=LIMITS.nets)
        table = nets.table(train_config.layers, dataset.shape, len(dataset.classes),
                           limits=LIMITS.nets)
        card = ClassifierCard(
            layers=nets.normalize(train_config.layers, limits=LIMITS.nets),
            input_shape=dataset.shape,
            classes=tuple(dataset.classes), normalization=tuple(result.normalization),
            dataset=dataset_name, run_id=run_id, metrics=result.metrics,
            params=table.total_params, trained=_stamp(),
            config={k: v for k, v in config.items() if k != "layers"})
        return Outcome("stopped" if result.stopped else "completed", _ENDED[result.reason],
                       result.model.state_dict(), card)
    except TrainingDiverged as exc:
        return Outcome("failed", str(exc))
    except (InputError, DomainError) as exc:
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
                                         send, should_stop, limits=LIMITS.generative)
    return Outcome("completed" if reason == "completed" else "stopped",
                   "a run to watch: its weights are not kept")


def _execute_sequence(run_id: str, dataset_name: str, corpus: Any, config: dict,
                      send: Callable[[dict], None], should_stop: Callable[[], bool]) -> Outcome:
    """A character model or a series model (the sequence lab): its weights are kept."""
    train_config = seq.SequenceTrainConfig(**config)
    result = seq.train_sequence(corpus, train_config, send, should_stop,
                                limits=LIMITS.sequences)
    card = SequenceCard(
        task=result.model_config.task, config=asdict(result.model_config),
        vocab=None if result.vocab is None else "".join(result.vocab.chars),
        classes=tuple(result.classes) or None, normalization=result.normalization,
        dataset=dataset_name, run_id=run_id, metrics=result.metrics,
        params=sum(p.numel() for p in result.model.parameters()), trained=_stamp(),
        train_config=config)
    status = "completed" if result.reason == "completed" else "stopped"
    return Outcome(status, _ENDED[result.reason], result.model.state_dict(), card)


def _execute_memory(config: dict, send: Callable[[dict], None],
                    should_stop: Callable[[], bool]) -> Outcome:
    """The memory task for each cell and delay: a run to watch, nothing to keep. Its nets are
    tiny: one thread trains them several times faster than two (measured: 39 s against 237 s
    for the default sweep), the rest only adds synchronisation."""
    torch.set_num_threads(1)
    memory_config = recurrent.MemoryConfig(**{k: tuple(v) if isinstance(v, list) else v
                                              for k, v in config.items()})
    result = recurrent.train_memory(memory_config, send, should_stop, limits=LIMITS.recurrent)
    return Outcome("completed" if result.reason == "completed" else "stopped",
                   "a run to watch: the memory task keeps no model")


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
    corpora: CorporaConfig
    config: dict
    weights_stem: Path
    threads: int
    parent_pid: int  # the server: once it is gone, so is the run
    death_signal: bool  # spawned from the server's main thread: see `set_death_signal`


# A run's process never outlives its server (DESIGN, "Limits and hardening"): a server killed
# by the OOM killer or SIGKILL runs no shutdown, and its run would go on training for no one,
# then block forever on its full event queue. Two watches, either enough on its own: the
# kernel's parent-death signal (Linux) and a pipe from the server that only closes when the
# server is gone (everywhere), watched by a thread with the parent's pid.
PARENT_GONE_EXIT = 75  # EX_TEMPFAIL: the run was not at fault
WATCH_POLL_S = 1.0  # how often the watcher looks at the parent's pid besides the pipe
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def set_death_signal() -> bool:
    """Linux only: the kernel SIGKILLs this process once its parent goes, without it doing
    anything (it may be deep in a torch kernel). The kernel means the parent *thread* (the one
    that spawned it), so it is only asked for when that was the server's main thread."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def parent_gone(parent_pid: int, lifeline: Any, timeout: float) -> bool:
    """True once the parent is gone: the pipe's far end closed (the parent never writes on it,
    so readable means closed), or this process has a new parent (it was reparented)."""
    if os.getppid() != parent_pid:
        return True
    if not wait([lifeline], timeout):
        return False
    try:
        lifeline.recv()
    except (EOFError, OSError):
        return True
    return os.getppid() != parent_pid


def watch_parent(parent_pid: int, lifeline: Any, poll_s: float = WATCH_POLL_S) -> None:
    """A daemon thread that ends this process at once when its parent is gone: nothing waits
    for its results any more, and a normal exit would wait on the event queue's feeder, which
    nobody empties (os._exit skips it)."""

    def watch() -> None:
        while not parent_gone(parent_pid, lifeline, poll_s):
            pass
        with contextlib.suppress(Exception):  # best effort: stderr may be gone with it
            print(f"training process {os.getpid()}: its server (pid {parent_pid}) is gone; "
                  "exiting", file=sys.stderr, flush=True)
        os._exit(PARENT_GONE_EXIT)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def run_child(args: ChildArgs, events: Any, stop: Any, pause: Any, lifeline: Any) -> None:
    """The body of an embedded training process. Everything goes back over `events`; the last
    message is always {"type": "exit", …}. `lifeline` is the reading end of a pipe whose
    writing end only the server holds."""
    # first of all, before any work: the parent may already have died while this process
    # started (the pid check in the watcher closes that gap for the signal too)
    if args.death_signal:
        set_death_signal()
    watch_parent(args.parent_pid, lifeline)
    torch.set_num_threads(args.threads)
    outcome = execute(args.run_id, args.dataset,
                      lambda: load_data(args.dataset, args.config, Catalog(args.catalog),
                                        Corpora(args.corpora)),
                      args.config, events.put, waiter(stop, pause))
    if outcome.weights is not None and outcome.card is not None:
        write_weights(args.weights_stem, outcome.weights, outcome.card)
    events.put({"type": "exit", "status": outcome.status, "message": outcome.message,
                "has_weights": outcome.weights is not None})
