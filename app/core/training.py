"""The training loop: one function, `train(dataset, config, emit, should_stop)`, that any runner
(an embedded process, a Ray task, a unit test) drives the same way.

It reports through `emit(event)`, plain dicts of numbers and numpy arrays:
- "start": the architecture table, the dataset's shape and sizes;
- "progress", a few times a second: running train loss and accuracy, images/s, time left;
- "snapshot", about once a second: the first layer's filters and every layer's activation maps
  for one fixed probe image, so a page can show them change as the net learns;
- "epoch": train and validation loss and accuracy, and the validation confusion matrix;
- "done": the final figures (test accuracy when the dataset has a test split).
`should_stop()` is called between batches; a runner may block inside it to pause a run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from app.core import nets
from app.core.datasets import Dataset, Split
from app.core.errors import InputError

Emit = Callable[[dict], None]
ShouldStop = Callable[[], bool]

OPTIMIZERS = ("adam", "sgd")


class TrainingDiverged(Exception):
    """The loss stopped being a finite number; the message says when and what to try."""


def check_optimizer(optimizer: str | None, learning_rate: float, most: float,
                    typical: str = "") -> None:
    """Every run kind's one check of its optimizer (None: the run has no choice of one) and its
    learning rate, which must be finite, above 0 and at most `most`."""
    if optimizer is not None and optimizer not in OPTIMIZERS:
        raise InputError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}",
                         "optimizer")
    if not (isinstance(learning_rate, int | float) and math.isfinite(learning_rate)
            and 0 < learning_rate <= most):
        raise InputError(f"learning_rate must be above 0 and at most {most:g}"
                         f"{f' (typical: {typical})' if typical else ''}, got {learning_rate}",
                         "learning_rate")


class RunClock:
    """A run's training time: the wall clock less what is not training (a pause inside
    should_stop(), an epoch's validation). Every training loop asks it, between batches,
    whether to go on."""

    def __init__(self, max_seconds: float) -> None:
        self.start = time.perf_counter()
        self.max_seconds = max_seconds
        self.excluded = 0.0  # seconds not training

    def busy(self) -> float:
        """Seconds spent training so far."""
        return time.perf_counter() - self.start - self.excluded

    def exclude_since(self, t: float) -> None:
        """What ran since perf_counter() read `t` was not training."""
        self.excluded += time.perf_counter() - t

    def stop_reason(self, should_stop: Callable[[], bool]) -> str | None:
        """Asks should_stop() (which may block: a pause, not counted), then the time limit:
        "stopped", "time limit", or None to go on."""
        t = time.perf_counter()
        stop = should_stop()
        self.exclude_since(t)
        if stop:
            return "stopped"
        return "time limit" if self.busy() > self.max_seconds else None


@dataclass(frozen=True)
class TrainLimits:
    """Bounds on a training run's settings (the values live in app.settings.LIMITS.training)."""

    epochs: int
    batch: int  # examples per batch
    learning_rate: float


@dataclass(frozen=True)
class TrainConfig:
    layers: list[dict]
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.9  # SGD only
    batch_size: int = 64
    epochs: int = 2
    seed: int = 0
    max_seconds: float = 1800.0  # wall-clock limit of one run, pauses excluded
    progress_every: float = 0.2  # seconds between "progress" events (5 updates a second)
    snapshot_every: float = 1.0  # seconds between "snapshot" events
    max_batches: int | None = None  # per epoch; for dry runs and tests

    def validate(self, limits: TrainLimits) -> None:
        check_optimizer(self.optimizer, self.learning_rate, limits.learning_rate,
                        "0.001 for Adam, 0.01-0.1 for SGD")
        if not 0 <= self.momentum < 1:
            raise InputError(f"momentum must be from 0 to below 1, got {self.momentum}", "momentum")
        if not 1 <= self.batch_size <= limits.batch:
            raise InputError(f"batch_size must be 1 to {limits.batch}, got {self.batch_size}",
                             "batch_size")
        if not 1 <= self.epochs <= limits.epochs:
            raise InputError(f"epochs must be 1 to {limits.epochs}, got {self.epochs}", "epochs")
        if not 0 <= self.seed < 2**31:
            raise InputError("seed must be 0 to 2147483647", "seed")
        if self.batch_size == 1 and any(
                isinstance(layer, dict) and layer.get("type") == "batchnorm1d"
                for layer in self.layers):
            raise InputError("batch norm over features needs batches of 2 or more examples",
                             "batch_size")


@dataclass
class RunningMean:
    """Loss and correct answers summed over some batches."""

    loss: float = 0.0
    correct: int = 0
    count: int = 0

    def add(self, loss: float, correct: int, n: int) -> None:
        self.loss += loss * n
        self.correct += correct
        self.count += n

    @property
    def mean_loss(self) -> float | None:
        return self.loss / self.count if self.count else None

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.count if self.count else None


@dataclass
class TrainResult:
    model: nn.Sequential
    normalization: tuple[list[float], list[float]]  # per-channel mean and std of the inputs
    stopped: bool  # True when should_stop() ended it early (the model is kept as it is)
    reason: str  # "completed", "stopped", "time limit"
    metrics: dict = field(default_factory=dict)


def normalization(split: Split) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of a split's pixels on the 0-1 scale (what the net is fed)."""
    x = split.x.astype(np.float32) / 255.0
    mean = x.mean(axis=(0, 2, 3))
    std = x.std(axis=(0, 2, 3))
    return [float(m) for m in mean], [float(max(s, 1e-6)) for s in std]


def to_inputs(x: np.ndarray, norm: tuple[list[float], list[float]]) -> torch.Tensor:
    """uint8 (N, C, H, W) → normalised float32, the way the model saw its training data."""
    t = torch.from_numpy(np.ascontiguousarray(x)).float().div_(255.0)
    mean = torch.tensor(norm[0]).view(1, -1, 1, 1)
    std = torch.tensor(norm[1]).view(1, -1, 1, 1)
    return t.sub_(mean).div_(std)


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int,
             batch: int = 1000) -> tuple[float, float, np.ndarray]:
    """Mean cross-entropy, accuracy and the confusion matrix (rows: true, columns: predicted)."""
    was_training = model.training
    model.eval()
    total_loss, confusion = 0.0, torch.zeros(num_classes, num_classes, dtype=torch.int64)
    with torch.no_grad():
        for i in range(0, len(x), batch):
            logits = model(x[i:i + batch])
            total_loss += float(F.cross_entropy(logits, y[i:i + batch], reduction="sum"))
            pred = logits.argmax(dim=1)
            confusion += torch.bincount(y[i:i + batch] * num_classes + pred,
                                        minlength=num_classes ** 2).view(num_classes, num_classes)
    model.train(was_training)
    n = max(len(x), 1)
    correct = int(confusion.diagonal().sum())
    return total_loss / n, correct / n, confusion.numpy()


def probe_snapshot(model: nn.Sequential, probe: torch.Tensor, table: nets.ArchitectureTable
                   ) -> dict:
    """The first conv layer's filters, every layer's output for one probe image, and the
    class probabilities the network gives it."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        outputs = nets.layer_outputs(model, probe)
    model.train(was_training)
    weights = nets.first_conv_weights(model)
    return {
        "type": "snapshot",
        "probabilities": torch.softmax(outputs[-1][0], dim=0).tolist(),
        "filters": None if weights is None else weights.numpy().copy(),
        "activations": [{"index": row.index, "label": row.label, "shape": list(row.output_shape),
                         "values": out[0].numpy().copy()}
                        for row, out in zip(table.rows, outputs, strict=True)],
    }


def tensors(dataset: Dataset) -> tuple[tuple[list[float], list[float]], torch.Tensor,
                                       torch.Tensor, torch.Tensor, torch.Tensor]:
    """The training split's normalisation, and the training and validation images (normalised
    with it) and labels as tensors."""
    norm = normalization(dataset.train)
    return (norm, to_inputs(dataset.train.x, norm),
            torch.from_numpy(dataset.train.y.astype(np.int64)),
            to_inputs(dataset.val.x, norm), torch.from_numpy(dataset.val.y.astype(np.int64)))


def epoch_steps(n: int, batch_size: int, max_batches: int | None) -> int:
    """Batches in an epoch of n examples (at most max_batches, for dry runs and tests)."""
    steps = math.ceil(n / batch_size)
    return steps if max_batches is None else min(steps, max_batches)


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    return torch.optim.SGD(model.parameters(), lr=config.learning_rate, momentum=config.momentum)


def train(dataset: Dataset, config: TrainConfig, emit: Emit, should_stop: ShouldStop, *,
          limits: TrainLimits, net_limits: nets.NetLimits) -> TrainResult:
    """Trains the architecture in `config` on `dataset` and returns the model as it ends; the
    config is checked against `limits`, the architecture against `net_limits`."""
    config.validate(limits)
    table = nets.table(config.layers, dataset.shape, len(dataset.classes), limits=net_limits)
    torch.manual_seed(config.seed)
    model = nets.build(config.layers, dataset.shape, len(dataset.classes), limits=net_limits)
    optimizer = make_optimizer(model, config)
    norm, x_train, y_train, x_val, y_val = tensors(dataset)
    probe = x_val[:1]
    k = len(dataset.classes)
    n = len(x_train)
    steps_per_epoch = epoch_steps(n, config.batch_size, config.max_batches)
    total_steps = steps_per_epoch * config.epochs
    emit({"type": "start", "table": asdict(table), "steps_per_epoch": steps_per_epoch,
          "total_steps": total_steps, "train_size": n, "val_size": len(x_val),
          "classes": list(dataset.classes), "input_shape": list(dataset.shape),
          "probe": dataset.val.x[0], "probe_label": int(dataset.val.y[0])})
    emit(probe_snapshot(model, probe, table) | {"step": 0, "epoch": 0})

    generator = torch.Generator().manual_seed(config.seed)
    clock = RunClock(config.max_seconds)
    last_progress = last_snapshot = clock.start
    step, seen, reason = 0, 0, "completed"
    window = RunningMean()  # the batches since the last progress event
    metrics: dict = {}

    def progress(epoch: int) -> None:
        nonlocal window, last_progress
        busy = clock.busy()
        rate = seen / busy if busy > 0 else 0.0
        emit({"type": "progress", "epoch": epoch, "step": step, "total_steps": total_steps,
              "images": seen, "train_loss": window.mean_loss, "train_acc": window.accuracy,
              "images_per_s": rate, "elapsed_s": busy,
              "eta_s": (total_steps - step) * config.batch_size / rate if rate else None})
        window, last_progress = RunningMean(), time.perf_counter()

    model.train()
    for epoch in range(1, config.epochs + 1):
        order = torch.randperm(n, generator=generator)
        this_epoch = RunningMean()
        for b in range(steps_per_epoch):
            idx = order[b * config.batch_size:(b + 1) * config.batch_size]
            if len(idx) == 1 and config.batch_size > 1:
                continue  # a last batch of one: batch norm cannot train on it, and it says little
            xb, yb = x_train[idx], y_train[idx]
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            seen += len(idx)
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                raise TrainingDiverged(
                    f"the loss became {loss_value} at epoch {epoch}, batch {b + 1}: the weights "
                    f"blew up; try a smaller learning rate than {config.learning_rate:g}")
            correct = int((logits.argmax(dim=1) == yb).sum())
            window.add(loss_value, correct, len(idx))
            this_epoch.add(loss_value, correct, len(idx))

            now = time.perf_counter()
            if now - last_progress >= config.progress_every:
                progress(epoch)
            if now - last_snapshot >= config.snapshot_every:
                emit(probe_snapshot(model, probe, table) | {"step": step, "epoch": epoch})
                last_snapshot = now

            ended = clock.stop_reason(should_stop)
            if ended:
                reason = ended
                break
        if window.count:  # every epoch ends with a progress point, however fast it went
            progress(epoch)
        t = time.perf_counter()
        val_loss, val_acc, confusion = evaluate(model, x_val, y_val, k)
        metrics = {"epoch": epoch, "step": step, "train_loss": this_epoch.mean_loss,
                   "train_acc": this_epoch.accuracy, "val_loss": val_loss, "val_acc": val_acc}
        emit({"type": "epoch", **metrics, "confusion": confusion})
        emit(probe_snapshot(model, probe, table) | {"step": step, "epoch": epoch})
        clock.exclude_since(t)
        last_snapshot = time.perf_counter()
        if reason != "completed":
            break

    busy = clock.busy()
    metrics |= {"images_per_s": seen / busy if busy > 0 else 0.0, "elapsed_s": busy,
                "images": seen}
    if dataset.test is not None:
        x_test = to_inputs(dataset.test.x, norm)
        y_test = torch.from_numpy(dataset.test.y.astype(np.int64))
        test_loss, test_acc, _ = evaluate(model, x_test, y_test, k)
        metrics |= {"test_loss": test_loss, "test_acc": test_acc}
    emit({"type": "done", "reason": reason, **metrics})
    model.eval()
    return TrainResult(model=model, normalization=norm, stopped=reason != "completed",
                       reason=reason, metrics=metrics)
