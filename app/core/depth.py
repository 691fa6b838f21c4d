"""Skip connections, shown: a deep plain network and a deep residual one of the same depth,
trained side by side on the same batches, with every weight layer's gradient norm.

Both nets have `depth` weight layers: a 3×3 stem convolution (then a 2×2 max-pool: 28×28 maps
become 14×14), `depth − 2` 3×3 convolutions of `width` filters, global average pooling and one
Linear layer. In the plain net the convolutions simply follow one another (each with a ReLU);
in the residual one they come in pairs, each pair a residual block: y = ReLU(F(x) + x). No
batch norm in either, so that the skip connection is the only difference, and both have
exactly the same parameters.

With PyTorch's default initialisation each plain layer passes on about a sixth of its input's
variance (weights of variance 1/(3·fan_in), halved again by the ReLU), so a signal, and the
gradient coming back, shrinks by orders of magnitude over twenty layers: the first layers of
the plain net barely learn. The sum x + F(x) carries both through the residual net unchanged.

Events (plain dicts, `emit`): "start" (both tables, sizes), "progress" (each net's running
loss and accuracy), "gradients" (each weight layer's ‖∂L/∂W‖ for both nets, the same batch),
"epoch" (validation loss and accuracy of each), "done".
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from app.core import nets
from app.core.datasets import Dataset
from app.core.errors import InputError
from app.core.training import (
    Emit,
    RunClock,
    RunningMean,
    ShouldStop,
    TrainingDiverged,
    check_optimizer,
    epoch_steps,
    evaluate,
    tensors,
)

NETS = ("plain", "residual")


@dataclass(frozen=True)
class DepthLimits:
    depth: int  # weight layers of each net, most
    width: int  # filters, most
    epochs: int
    batch: int
    learning_rate: float


@dataclass
class DepthConfig:
    task: str = "depth"
    depth: int = 20
    width: int = 16
    epochs: int = 1
    batch_size: int = 64
    learning_rate: float = 1e-3  # Adam's, for both
    seed: int = 0
    max_seconds: float = 1800.0
    progress_every: float = 0.25
    gradients_every: float = 0.5  # seconds between "gradients" events
    max_batches: int | None = None  # per epoch; for tests

    def validate(self, limits: DepthLimits) -> None:
        if not 4 <= self.depth <= limits.depth or self.depth % 2:
            raise InputError(f"depth must be an even number from 4 to {limits.depth} (the "
                             f"residual net pairs its convolutions), got {self.depth}", "depth")
        if not 1 <= self.width <= limits.width:
            raise InputError(f"width must be 1 to {limits.width}, got {self.width}", "width")
        if not 1 <= self.epochs <= limits.epochs:
            raise InputError(f"epochs must be 1 to {limits.epochs}, got {self.epochs}", "epochs")
        if not 2 <= self.batch_size <= limits.batch:
            raise InputError(f"batch_size must be 2 to {limits.batch}, got {self.batch_size}",
                             "batch_size")
        check_optimizer("adam", self.learning_rate, limits.learning_rate, "0.001")


def layers_of(kind: str, depth: int, width: int, num_classes: int) -> list[dict]:
    """The plain or the residual net as layer specs (core.nets), `depth` weight layers each."""
    stem = [{"type": "conv2d", "out_channels": width, "kernel_size": 3, "stride": 1,
             "padding": 1, "bias": 1}, {"type": "relu"},
            {"type": "maxpool2d", "kernel_size": 2, "stride": None, "padding": 0}]
    inner = depth - 2
    if kind == "plain":
        body = [layer for _ in range(inner) for layer in (
            {"type": "conv2d", "out_channels": width, "kernel_size": 3, "stride": 1,
             "padding": 1, "bias": 1}, {"type": "relu"})]
    else:
        body = [{"type": "residual", "out_channels": width, "stride": 1, "batchnorm": 0}
                for _ in range(inner // 2)]
    return [*stem, *body, {"type": "globalavgpool"},
            {"type": "linear", "out_features": num_classes}]


def weight_layers(model: nn.Module) -> list[nn.Module]:
    """The convolutions and Linear layers, input to output (a residual block's body's in
    turn; its identity shortcut has none)."""
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def gradient_norms(model: nn.Module) -> list[float]:
    """‖∂L/∂W‖ of each weight layer's weight, as the last backward pass left it."""
    return [0.0 if m.weight.grad is None else float(m.weight.grad.norm())
            for m in weight_layers(model)]


def train_pair(dataset: Dataset, config: DepthConfig, emit: Emit, should_stop: ShouldStop, *,
               limits: DepthLimits, net_limits: nets.NetLimits) -> str:
    """Trains both nets on the same batches (same seed, same order) and returns how it ended:
    "completed", "stopped" or "time limit"."""
    config.validate(limits)
    if len(dataset.shape) != 3 or min(dataset.shape[1:]) < 8:
        raise InputError("the experiment takes images of at least 8×8", "dataset")
    k = len(dataset.classes)
    specs = {kind: layers_of(kind, config.depth, config.width, k) for kind in NETS}
    # the plain net lists a ReLU after each convolution: more entries than an editor's network
    # may have, but its size is bounded by `limits.depth`, and its weights by the net limits
    net_limits = replace(net_limits, layers=max(net_limits.layers, len(specs["plain"])))
    tables = {kind: nets.table(specs[kind], dataset.shape, k, limits=net_limits)
              for kind in NETS}
    models: dict[str, nn.Module] = {}
    for kind in NETS:  # the same seed: each starts from torch's default initialisation
        torch.manual_seed(config.seed)
        models[kind] = nets.build(specs[kind], dataset.shape, k, limits=net_limits).train()
    optimizers = {kind: torch.optim.Adam(models[kind].parameters(), lr=config.learning_rate)
                  for kind in NETS}
    _, x_train, y_train, x_val, y_val = tensors(dataset)
    n = len(x_train)
    steps_per_epoch = epoch_steps(n, config.batch_size, config.max_batches)
    total_steps = steps_per_epoch * config.epochs
    emit({"type": "start", "depth": config.depth, "width": config.width,
          "tables": {kind: asdict(tables[kind]) for kind in NETS},
          "params": {kind: tables[kind].total_params for kind in NETS},
          "steps_per_epoch": steps_per_epoch, "total_steps": total_steps, "train_size": n,
          "classes": list(dataset.classes)})

    generator = torch.Generator().manual_seed(config.seed)
    clock = RunClock(config.max_seconds)
    last_progress = last_gradients = clock.start
    windows = {kind: RunningMean() for kind in NETS}
    step, seen, reason = 0, 0, "completed"
    for epoch in range(1, config.epochs + 1):
        order = torch.randperm(n, generator=generator)
        for b in range(steps_per_epoch):
            idx = order[b * config.batch_size:(b + 1) * config.batch_size]
            xb, yb = x_train[idx], y_train[idx]
            for kind in NETS:
                logits = models[kind](xb)
                loss = F.cross_entropy(logits, yb)
                optimizers[kind].zero_grad(set_to_none=True)
                loss.backward()
                optimizers[kind].step()
                value = loss.item()
                if not math.isfinite(value):
                    raise TrainingDiverged(f"the {kind} net's loss became {value} at step "
                                           f"{step + 1}: try a smaller learning rate")
                windows[kind].add(value, int((logits.argmax(1) == yb).sum()), len(idx))
            step += 1
            seen += len(idx)
            now = time.perf_counter()
            if now - last_gradients >= config.gradients_every or step == 1:
                emit({"type": "gradients", "epoch": epoch, "step": step,
                      **{kind: gradient_norms(models[kind]) for kind in NETS}})
                last_gradients = now
            if now - last_progress >= config.progress_every:
                emit(_progress(epoch, step, total_steps, seen, clock, windows))
                windows, last_progress = {kind: RunningMean() for kind in NETS}, now
            reason = clock.stop_reason(should_stop) or reason
            if reason != "completed":
                break
        if windows["plain"].count:
            emit(_progress(epoch, step, total_steps, seen, clock, windows))
            windows = {kind: RunningMean() for kind in NETS}
        t = time.perf_counter()
        scores = {}
        for kind in NETS:
            val_loss, val_acc, _ = evaluate(models[kind], x_val, y_val, k)
            scores[kind] = {"val_loss": val_loss, "val_acc": val_acc}
        emit({"type": "epoch", "epoch": epoch, "step": step, **scores})
        clock.exclude_since(t)
        if reason != "completed":
            break
    emit({"type": "done", "reason": reason, "step": step, "images": seen,
          "elapsed_s": clock.busy()})
    return reason


def _progress(epoch: int, step: int, total_steps: int, seen: int, clock: RunClock,
              windows: dict[str, RunningMean]) -> dict:
    busy = clock.busy()
    return {"type": "progress", "epoch": epoch, "step": step, "total_steps": total_steps,
            "images": seen, "images_per_s": seen / busy if busy > 0 else 0.0,
            **{kind: {"train_loss": w.mean_loss, "train_acc": w.accuracy}
               for kind, w in windows.items()}}
