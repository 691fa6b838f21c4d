"""The skip-connection experiment: two nets that differ only by their skip connections, and
the gradient norms the page draws, checked against torch.autograd."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from app.core import datasets, depth, nets
from app.core.errors import InputError
from app.settings import LIMITS

SHAPES = datasets.shapes(n_train=256, n_val=64, n_test=64)


def _build(kind: str, d: int = 20) -> torch.nn.Module:
    layers = depth.layers_of(kind, d, 16, 10)
    limits = replace(LIMITS.nets, layers=len(layers))  # as train_pair allows
    torch.manual_seed(0)
    return nets.build(layers, (1, 28, 28), 10, limits=limits)


@pytest.mark.parametrize("d", [4, 12, 20])
def test_both_nets_have_the_depth_and_the_same_weights(d: int) -> None:
    plain, residual = _build("plain", d), _build("residual", d)
    assert len(depth.weight_layers(plain)) == len(depth.weight_layers(residual)) == d
    shapes = [tuple(m.weight.shape) for m in depth.weight_layers(plain)]
    assert shapes == [tuple(m.weight.shape) for m in depth.weight_layers(residual)]
    # the same seed, the same layers in the same order: the very same initial weights
    for a, b in zip(plain.parameters(), residual.parameters(), strict=True):
        assert torch.equal(a, b)


def test_gradient_norms_are_the_weights_gradients() -> None:
    model = _build("residual")
    x, y = torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))
    weights = [m.weight for m in depth.weight_layers(model)]
    expected = [float(g.norm()) for g in torch.autograd.grad(
        F.cross_entropy(model(x), y), weights)]
    F.cross_entropy(model(x), y).backward()
    assert depth.gradient_norms(model) == pytest.approx(expected, rel=1e-5)


def test_the_plain_nets_first_layers_get_almost_no_gradient() -> None:
    """What the page shows: at initialisation the plain net's first layer's gradient is orders
    of magnitude below its last layer's, the residual net's within a small factor."""
    x, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))
    ratios = {}
    for kind in depth.NETS:
        model = _build(kind)
        F.cross_entropy(model(x), y).backward()
        g = depth.gradient_norms(model)
        ratios[kind] = g[-1] / g[0]
    assert ratios["plain"] > 1e4 and ratios["residual"] < 100


def test_the_pair_trains_on_the_same_batches_and_reports_both() -> None:
    events: list[dict] = []
    config = depth.DepthConfig(depth=8, width=4, batch_size=32, max_batches=6,
                               gradients_every=0.0)
    reason = depth.train_pair(SHAPES, config, events.append, lambda: False,
                              limits=LIMITS.depth, net_limits=LIMITS.nets)
    assert reason == "completed"
    kinds = [e["type"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("epoch") == 1
    start = events[0]
    assert start["params"]["plain"] == start["params"]["residual"]
    grads = [e for e in events if e["type"] == "gradients"]
    assert len(grads) == 6 and all(len(e[k]) == 8 for e in grads for k in depth.NETS)
    assert all(0 <= e[k]["val_acc"] <= 1 for e in events if e["type"] == "epoch"
               for k in depth.NETS)


@pytest.mark.parametrize(("change", "field"), [({"depth": 7}, "depth"), ({"depth": 2}, "depth"),
                                                ({"width": 0}, "width"),
                                                ({"batch_size": 1}, "batch_size")])
def test_bad_settings_are_refused(change: dict, field: str) -> None:
    with pytest.raises(InputError) as e:
        depth.DepthConfig(**change).validate(LIMITS.depth)
    assert e.value.field == field
