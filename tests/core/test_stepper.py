"""Stepper traces against torch.nn.functional, autograd and the slides' worked examples."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from app.core.errors import InputError
from app.core.stepper import (
    conv_trace,
    fmt,
    gradient_descent,
    pool_trace,
)
from app.settings import LIMITS

STEPPER = LIMITS.stepper

# The slides' 6×6 example with the horizontal-edge kernel (top row minus bottom row).
SLIDES_X = [[1, 2, 5, 1, 4, 2], [0, 2, 3, 2, 0, 0], [4, 5, 5, 9, 8, 1],
            [6, 3, 4, 2, 3, 1], [0, 1, 9, 8, 7, 2], [2, 3, 5, 5, 5, 6]]
SLIDES_W = [[1, 1, 1], [0, 0, 0], [-1, -1, -1]]
# Worked by hand, row by row: e.g. out[1][0] = (0 + 2 + 3) − (6 + 3 + 4) = −8. The slide prints
# −7 there and −2 at out[1][2], where (3 + 2 + 0) − (4 + 2 + 3) = −4.
SLIDES_OUT = [[-6, -11, -12, -11], [-8, -2, -4, -4], [4, 1, -2, 1], [3, -4, -6, -10]]


def evaluate(expression: str) -> float:
    """The value of a step's written-out arithmetic, read back as Python."""
    left = expression.rsplit("=", 1)[0]
    return eval(left.replace("×", "*").replace("−", "-"), {"__builtins__": {}})  # noqa: S307


def test_slides_convolution_is_worked_correctly() -> None:
    t = conv_trace(SLIDES_X, SLIDES_W, limits=STEPPER)
    assert t.output.tolist() == SLIDES_OUT
    step = t.steps[4]
    assert step["out"] == [1, 0] and step["window"] == [[1, 0], [3, 2]]
    assert step["expression"] == ("0×1 + 2×1 + 3×1 + 4×0 + 5×0 + 5×0 + 6×(−1) + 3×(−1) + 4×(−1)"
                                  " = −8")
    assert step["products"] == [[0, 2, 3], [0, 0, 0], [-6, -3, -4]]
    assert t.formula["height"] == "⌊(6 + 2·0 − 1·(3 − 1) − 1) / 1⌋ + 1 = ⌊3 / 1⌋ + 1 = 4"


def test_numbers_are_written_as_on_paper() -> None:
    assert [fmt(v) for v in (6.0, -1.0, 0.25, -0.0, 1 / 3, 2.5e-7)] == [
        "6", "−1", "0.25", "0", "0.333333", "2.5e−07"]


def _random_conv_case(rng: random.Random) -> dict:
    c = rng.choice([1, 1, 3])
    return {"c": c, "h": rng.randint(1, 12), "w": rng.randint(1, 12), "kh": rng.randint(1, 5),
                "kw": rng.randint(1, 5), "stride": rng.randint(1, 3), "padding": rng.randint(0, 2),
                "dilation": rng.randint(1, 2), "bias": rng.choice([0.0, 1.5, -2.0])}


@pytest.mark.parametrize("seed", range(40))
def test_convolution_matches_conv2d(seed: int) -> None:
    rng = random.Random(seed)
    p = _random_conv_case(rng)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(p["c"], p["h"], p["w"], generator=gen, dtype=torch.float64)
    k = torch.randn(p["c"], p["kh"], p["kw"], generator=gen, dtype=torch.float64)
    span_h, span_w = p["dilation"] * (p["kh"] - 1) + 1, p["dilation"] * (p["kw"] - 1) + 1
    given_x = x[0].tolist() if p["c"] == 1 else x.tolist()
    given_k = k[0].tolist() if p["c"] == 1 else k.tolist()
    kwargs = {key: p[key] for key in ("stride", "padding", "dilation", "bias")}
    if span_h > p["h"] + 2 * p["padding"] or span_w > p["w"] + 2 * p["padding"]:
        with pytest.raises(InputError, match="padded input"):
            conv_trace(given_x, given_k, **kwargs, limits=STEPPER)
        return
    t = conv_trace(given_x, given_k, **kwargs, limits=STEPPER)
    ref = F.conv2d(x[None], k[None], bias=torch.tensor([p["bias"]], dtype=torch.float64),
                   **{k_: v for k_, v in kwargs.items() if k_ != "bias"})[0, 0]
    np.testing.assert_allclose(t.output, ref.numpy(), rtol=1e-12, atol=1e-12)
    assert len(t.steps) == ref.numel()
    for step in t.steps:
        i, j = step["out"]
        assert step["sum"] == t.output[i, j]
        (r0, c0), (r1, c1) = step["window"]
        assert (r0, c0) == (i * p["stride"] - p["padding"], j * p["stride"] - p["padding"])
        assert (r1 - r0 + 1, c1 - c0 + 1) == (span_h, span_w)
        products = np.array(step["products"]).reshape(p["c"], p["kh"], p["kw"])
        assert products.sum() + p["bias"] == pytest.approx(step["sum"], abs=1e-9)
        if p["c"] > 1:
            np.testing.assert_allclose(step["channel_sums"], products.sum(axis=(1, 2)))


def test_expression_reads_back_to_the_sum() -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(-9, 10, (3, 7, 6)).tolist()
    k = rng.integers(-3, 4, (3, 3, 3)).tolist()
    t = conv_trace(x, k, padding=1, stride=2, bias=-4, limits=STEPPER)
    for step in t.steps:
        assert evaluate(step["expression"]) == step["sum"]
        for line, s in zip(step["channel_expressions"], step["channel_sums"], strict=True):
            assert evaluate(line) == s


def test_multichannel_kernel_must_match_input() -> None:
    with pytest.raises(InputError, match="3 channels") as err:
        conv_trace(np.zeros((3, 4, 4)).tolist(), [[1, 0], [0, 1]], limits=STEPPER)
    assert err.value.field == "kernel"
    with pytest.raises(InputError, match="2 channels but the input has 3"):
        conv_trace(np.zeros((3, 4, 4)).tolist(), np.zeros((2, 2, 2)).tolist(), limits=STEPPER)


@pytest.mark.parametrize(("values", "message"), [
    ([[1, 2], [3]], "rectangular"),
    ([], "empty"),
    ([[]], "empty"),
    ([[1, "x"]], "must be numbers"),
    ([[1, float("nan")]], "finite"),
    ([[float("inf")]], "finite"),
    (np.zeros((65, 2)).tolist(), "65×2; it must be 1×1 to 64×64"),
    (np.zeros((5, 2, 2)).tolist(), "at most 4"),
    ([1, 2, 3], "2-D list"),
    ([[[[1]]]], "2-D list"),
    ([[[1, 2]], [[3]]], "every channel the same size"),
    ([[2e9]], "-1e\\+09 to 1e\\+09"),
])
def test_bad_grids_are_refused_with_a_reason(values: list, message: str) -> None:
    with pytest.raises(InputError, match=message) as err:
        conv_trace(values, [[1]], limits=STEPPER)
    assert err.value.field == "input"


def test_too_long_a_trace_is_refused() -> None:
    with pytest.raises(InputError, match=f"{STEPPER.trace_terms:,}"):
        conv_trace(np.zeros((64, 64)).tolist(), np.ones((9, 9)).tolist(), padding=4, limits=STEPPER)


def test_slides_max_pooling_and_flattening() -> None:
    fmap = [[0, 1, 0, 0, 0], [0, 1, 1, 1, 0], [1, 0, 1, 2, 1], [1, 4, 2, 1, 0], [0, 0, 1, 2, 1]]
    t = pool_trace(fmap, op="max", size=2, ceil_mode=True, limits=STEPPER)
    assert t.output[0].tolist() == [[1, 1, 0], [4, 2, 1], [0, 2, 1]]
    assert t.output.ravel().tolist() == [1, 1, 0, 4, 2, 1, 0, 2, 1]
    assert t.steps[3]["argmax"] == [3, 1] and t.steps[3]["expression"] == "max(1, 0, 1, 4) = 4"
    # the last window hangs over the corner: one real cell, three outside
    assert t.steps[-1]["values"] == [1, None, None, None]
    # without ceil mode the partial windows are dropped
    assert pool_trace(fmap, size=2, limits=STEPPER).output.shape == (1, 2, 2)


def test_average_and_sum_pooling_write_their_arithmetic() -> None:
    t = pool_trace([[1, 2], [3, 5]], op="avg", size=2, limits=STEPPER)
    assert t.steps[0]["expression"] == "(1 + 2 + 3 + 5) / 4 = 2.75"
    t = pool_trace([[1, -2], [3, 5]], op="sum", size=2, limits=STEPPER)
    assert t.steps[0]["expression"] == "1 + (−2) + 3 + 5 = 7"
    # padding counts as zeros in the average (PyTorch's default)
    t = pool_trace([[4, 8], [8, 4]], op="avg", size=2, stride=2, padding=1, limits=STEPPER)
    assert t.steps[0]["expression"] == "(4 + 0 + 0 + 0) / 4 = 1"


@pytest.mark.parametrize("seed", range(40))
def test_pooling_matches_torch(seed: int) -> None:
    rng = random.Random(1000 + seed)
    size = rng.randint(1, 4)
    stride, padding = rng.randint(1, 3), rng.randint(0, size // 2)
    ceil_mode, include_pad = rng.random() < 0.5, rng.random() < 0.5
    c, h, w = rng.choice([1, 2]), rng.randint(size, 11), rng.randint(size, 11)
    x = torch.randn(c, h, w, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    args = {"kernel_size": size, "stride": stride, "padding": padding, "ceil_mode": ceil_mode}

    t = pool_trace(x.tolist(), op="max", size=size, stride=stride, padding=padding,
                   ceil_mode=ceil_mode, limits=STEPPER)
    ref, idx = F.max_pool2d(x[None], return_indices=True, **args)
    np.testing.assert_array_equal(t.output, ref[0].numpy())
    for step in t.steps:
        r, col = step["argmax"]
        assert r * w + col == idx[0, step["channel"], step["out"][0], step["out"][1]]

    t = pool_trace(x.tolist(), op="avg", size=size, stride=stride, padding=padding,
                   ceil_mode=ceil_mode, count_include_pad=include_pad, limits=STEPPER)
    ref = F.avg_pool2d(x[None], count_include_pad=include_pad, **args)
    np.testing.assert_allclose(t.output, ref[0].numpy(), rtol=1e-12, atol=1e-12)

    t = pool_trace(x.tolist(), op="sum", size=size, stride=stride, padding=padding,
                   ceil_mode=ceil_mode, limits=STEPPER)
    ref = F.avg_pool2d(x[None], divisor_override=1, **args)
    np.testing.assert_allclose(t.output, ref[0].numpy(), rtol=1e-12, atol=1e-12)


def test_pooling_writes_its_output_size() -> None:
    fmap = np.zeros((5, 5)).tolist()
    t = pool_trace(fmap, size=2, ceil_mode=True, limits=STEPPER)
    assert t.formula == {"general": "⌈(n + 2p − k) / s⌉ + 1",
                         "height": "⌈(5 + 2·0 − 2) / 2⌉ + 1 = ⌈3 / 2⌉ + 1 = 3",
                         "width": "⌈(5 + 2·0 − 2) / 2⌉ + 1 = ⌈3 / 2⌉ + 1 = 3"}
    t = pool_trace(fmap, size=2, padding=1, ceil_mode=True, limits=STEPPER)
    # ⌈5 / 2⌉ + 1 = 4 windows, but the fourth would start at row 6 = 5 + 1, in the padding
    assert t.formula["height"] == ("⌈(5 + 2·1 − 2) / 2⌉ + 1 = ⌈5 / 2⌉ + 1 = 4, less the last "
                                   "window, which would start in the padding: 3")
    assert t.output.shape == F.max_pool2d(torch.zeros(1, 5, 5), 2, 2, 1, ceil_mode=True).shape
    t = pool_trace(np.zeros((7, 4)).tolist(), size=3, stride=2, limits=STEPPER)
    assert t.formula["general"] == "⌊(n + 2p − k) / s⌋ + 1"
    assert t.formula["height"] == "⌊(7 + 2·0 − 3) / 2⌋ + 1 = ⌊4 / 2⌋ + 1 = 3"
    assert t.formula["width"] == "⌊(4 + 2·0 − 3) / 2⌋ + 1 = ⌊1 / 2⌋ + 1 = 1"


def test_convolution_writes_its_output_size() -> None:
    t = conv_trace(np.zeros((7, 6)).tolist(), np.ones((3, 2)).tolist(), stride=2, padding=1,
                   dilation=2, limits=STEPPER)
    assert t.formula == {
        "general": "⌊(n + 2p − d·(k − 1) − 1) / s⌋ + 1",
        "height": "⌊(7 + 2·1 − 2·(3 − 1) − 1) / 2⌋ + 1 = ⌊4 / 2⌋ + 1 = 3",
        "width": "⌊(6 + 2·1 − 2·(2 − 1) − 1) / 2⌋ + 1 = ⌊5 / 2⌋ + 1 = 3"}
    assert t.output.shape == (3, 3)


def test_pooling_bad_settings() -> None:
    with pytest.raises(InputError, match="half the window") as err:
        pool_trace([[1, 2], [3, 4]], size=2, padding=2, limits=STEPPER)
    assert err.value.field == "padding"
    with pytest.raises(InputError, match="does not fit"):
        pool_trace([[1, 2], [3, 4]], size=3, limits=STEPPER)
    with pytest.raises(InputError, match="op must be"):
        pool_trace([[1]], op="median", size=1, limits=STEPPER)


def test_slides_gradient_descent() -> None:
    t = gradient_descent([[2, 4], [1, 2], [3, 6]], learning_rate=0.1, epochs=1, w0=0.5,
                         limits=STEPPER)
    assert [round(s["w"], 10) for s in t.steps] == [1.7, 1.76, 2.192]
    assert t.steps[0]["expression"] == "w ← 0.5 − 0.1·2·2·(2·0.5 − 4) = 1.7"
    assert t.steps[2]["gradient"] == pytest.approx(2 * 3 * (3 * 1.76 - 6))
    assert t.optimum["w"] == pytest.approx(2.0)
    assert t.stable_below == pytest.approx(1 / 9)  # 2 / (2·3²): the largest x sets the pace


@pytest.mark.parametrize("update", ["per_point", "full_batch"])
@pytest.mark.parametrize("with_bias", [False, True])
def test_descent_matches_autograd(update: str, with_bias: bool) -> None:
    rng = np.random.default_rng(7)
    pts = np.round(rng.uniform(-3, 3, (5, 2)), 2)
    b0 = 0.3 if with_bias else None
    t = gradient_descent(pts.tolist(), learning_rate=0.05, epochs=3, w0=-1.0, b0=b0,
                         update=update, limits=STEPPER)
    w = torch.tensor(-1.0, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(0.3 if with_bias else 0.0, dtype=torch.float64, requires_grad=with_bias)
    x, y = torch.tensor(pts[:, 0]), torch.tensor(pts[:, 1])
    batches = [[i] for i in range(5)] if update == "per_point" else [list(range(5))]
    expected = []
    for _ in range(3):
        for batch in batches:
            loss = ((x[batch] * w + b - y[batch]) ** 2).mean()
            loss.backward()
            with torch.no_grad():
                expected.append((w.grad.item(), w.item() - 0.05 * w.grad.item(),
                                 b.grad.item() if with_bias else None))
                w -= 0.05 * w.grad
                w.grad = None
                if with_bias:
                    b -= 0.05 * b.grad
                    b.grad = None
    assert len(t.steps) == len(expected)
    for step, (grad, new_w, grad_b) in zip(t.steps, expected, strict=True):
        assert step["gradient"] == pytest.approx(grad, rel=1e-12)
        assert step["w"] == pytest.approx(new_w, rel=1e-12)
        if with_bias:
            assert step["gradient_b"] == pytest.approx(grad_b, rel=1e-12)


def test_descent_stops_when_the_rate_is_too_large() -> None:
    pts = [[1, 2], [2, 4], [3, 6]]
    stable = gradient_descent(pts, learning_rate=0.1, epochs=1, w0=0, update="full_batch",
                              limits=STEPPER)
    limit = stable.stable_below  # 2 / (2·mean(x²)) = 3 / 14
    assert limit == pytest.approx(3 / 14)
    calm = gradient_descent(pts, learning_rate=0.95 * limit, epochs=200, w0=0,
                            update="full_batch", limits=STEPPER)
    assert not calm.diverged and calm.steps[-1]["w"] == pytest.approx(2, abs=1e-3)
    wild = gradient_descent(pts, learning_rate=1.05 * limit, epochs=500, w0=0,
                            update="full_batch", limits=STEPPER)
    assert wild.diverged and "too large" in wild.message
    assert wild.steps[-1]["loss"] is None and len(wild.steps) < 500


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"points": []}, "points"),
    ({"points": [[1, 2, 3]]}, "points"),
    ({"points": [[1, float("nan")]]}, "points"),
    ({"points": [[1, 2]] * (STEPPER.points + 1)}, "points"),
    ({"learning_rate": 0}, "learning_rate"),
    ({"learning_rate": -1}, "learning_rate"),
    ({"epochs": 0}, "epochs"),
    ({"points": [[1, 2]] * 100, "epochs": 101}, "epochs"),
    ({"w0": float("inf")}, "w0"),
    ({"update": "adam"}, "update"),
])
def test_descent_bad_input(kwargs: dict, field: str) -> None:
    args = {"points": [[1, 2]], "learning_rate": 0.1, "epochs": 1, "w0": 0.0} | kwargs
    with pytest.raises(InputError) as err:
        gradient_descent(**args, limits=STEPPER)
    assert err.value.field == field
