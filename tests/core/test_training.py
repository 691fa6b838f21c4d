"""The training loop, driven directly: it learns, reports, stops when asked, and says when the loss
blows up."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from app.core import datasets, nets
from app.core.errors import InputError
from app.core.training import TrainConfig, TrainingDiverged, evaluate, normalization, train
from app.settings import LIMITS

LIMITED = {"limits": LIMITS.training, "net_limits": LIMITS.nets}  # train()'s limits
SMALL_NET = [{"type": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1},
             {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 2},
             {"type": "conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1},
             {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 2},
             {"type": "flatten"}, {"type": "linear", "out_features": 6}]


@pytest.fixture(scope="module")
def shapes() -> datasets.Dataset:
    return datasets.shapes(n_train=3000, n_val=600, n_test=600, seed=1)


def test_learns_the_shapes(shapes: datasets.Dataset) -> None:
    """A stated bar: two epochs of a small CNN on 3,000 shapes reach 85% on held-out shapes."""
    events: list[dict] = []
    config = TrainConfig(layers=SMALL_NET, epochs=2, batch_size=32, learning_rate=2e-3,
                         progress_every=0.0, snapshot_every=0.5)
    result = train(shapes, config, events.append, lambda: False, **LIMITED)
    kinds = [e["type"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("epoch") == 2
    assert result.reason == "completed" and not result.stopped
    assert result.metrics["val_acc"] >= 0.85 and result.metrics["test_acc"] >= 0.85
    # the progress numbers are consistent and the loss falls
    progress = [e for e in events if e["type"] == "progress"]
    assert progress[-1]["step"] == 2 * 94 and progress[-1]["images"] == 2 * 3000
    assert np.mean([p["train_loss"] for p in progress[-10:]]) < np.mean(
        [p["train_loss"] for p in progress[:10]])
    # snapshots: the filters change as it learns, one activation entry per layer
    snaps = [e for e in events if e["type"] == "snapshot"]
    assert snaps[0]["filters"].shape == (8, 1, 3, 3)
    assert not np.allclose(snaps[0]["filters"], snaps[-1]["filters"])
    assert [a["shape"] for a in snaps[-1]["activations"]] == [
        [8, 28, 28], [8, 28, 28], [8, 14, 14], [16, 14, 14], [16, 14, 14], [16, 7, 7], [784], [6]]
    # the epoch's confusion matrix counts every validation image, and its accuracy is the
    # reported one
    last = [e for e in events if e["type"] == "epoch"][-1]
    assert last["confusion"].sum() == 600
    assert np.trace(last["confusion"]) / 600 == pytest.approx(last["val_acc"])


def test_evaluate_matches_a_plain_computation(shapes: datasets.Dataset) -> None:
    torch.manual_seed(0)
    model = nets.build(SMALL_NET, (1, 28, 28), 6, limits=LIMITS.nets)
    x = torch.randn(50, 1, 28, 28)
    y = torch.randint(0, 6, (50,))
    loss, acc, confusion = evaluate(model, x, y, 6, batch=7)
    with torch.no_grad():
        logits = model.eval()(x)
    assert loss == pytest.approx(float(F.cross_entropy(logits, y)), rel=1e-5)
    assert acc == pytest.approx(float((logits.argmax(1) == y).float().mean()))
    assert confusion[2, 3] == int(((y == 2) & (logits.argmax(1) == 3)).sum())


def test_normalization_is_per_channel_mean_and_std() -> None:
    x = np.random.default_rng(0).integers(0, 256, (20, 3, 5, 5), dtype=np.uint8)
    mean, std = normalization(datasets.Split(x, np.zeros(20, np.int64)))
    np.testing.assert_allclose(mean, (x / 255.0).mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(std, (x / 255.0).std(axis=(0, 2, 3)), rtol=1e-4)


def test_should_stop_ends_it_early_and_keeps_the_model(shapes: datasets.Dataset) -> None:
    calls = []

    def stop_after_five() -> bool:
        calls.append(1)
        return len(calls) >= 5

    events: list[dict] = []
    config = TrainConfig(layers=SMALL_NET, epochs=3, batch_size=32)
    result = train(shapes, config, events.append, stop_after_five, **LIMITED)
    assert result.stopped and result.reason == "stopped"
    assert events[-1]["type"] == "done" and events[-1]["step"] == 5
    assert [e["type"] for e in events].count("epoch") == 1  # validated where it stopped


def test_a_huge_learning_rate_is_reported_not_hidden(shapes: datasets.Dataset) -> None:
    # a deep stack of Linear layers with nothing in between multiplies its gradients: with
    # SGD at rate 10 the weights overflow within a few batches
    deep_linear = [{"type": "flatten"}] + [{"type": "linear", "out_features": 128}] * 4 + [
        {"type": "linear", "out_features": 6}]
    config = TrainConfig(layers=deep_linear, optimizer="sgd", learning_rate=10.0, momentum=0.9,
                         epochs=1, batch_size=32)
    with pytest.raises(TrainingDiverged, match="smaller learning rate"):
        train(shapes, config, lambda e: None, lambda: False, **LIMITED)


@pytest.mark.parametrize(("change", "field"), [
    ({"learning_rate": 0.0}, "learning_rate"), ({"learning_rate": float("nan")}, "learning_rate"),
    ({"epochs": 0}, "epochs"), ({"epochs": 51}, "epochs"), ({"batch_size": 0}, "batch_size"),
    ({"optimizer": "rmsprop"}, "optimizer"), ({"momentum": 1.0}, "momentum"),
])
def test_absurd_settings_are_refused(change: dict, field: str) -> None:
    config = dataclasses.replace(TrainConfig(layers=SMALL_NET), **change)
    with pytest.raises(InputError) as err:
        config.validate(LIMITS.training)
    assert err.value.field == field


def test_same_seed_same_run(shapes: datasets.Dataset) -> None:
    config = TrainConfig(layers=SMALL_NET, epochs=1, batch_size=64, max_batches=10)
    a = train(shapes, config, lambda e: None, lambda: False, **LIMITED)
    b = train(shapes, config, lambda e: None, lambda: False, **LIMITED)
    for (ka, va), (kb, vb) in zip(a.model.state_dict().items(), b.model.state_dict().items(),
                                  strict=True):
        assert ka == kb and torch.equal(va, vb)
