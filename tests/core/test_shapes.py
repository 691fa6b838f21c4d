"""The one output-size rule against torch's conv2d and pooling, its written-out forms worked by
hand, and the one grid validator on every way a grid can be wrong."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from app.core.errors import InputError
from app.core.shapes import OutputSize, output_size, validate_grid

# ---------------------------------------------------------------- output size against torch


def _line(n: int) -> torch.Tensor:
    """One axis of n cells (the other axis is 1 wide, so only this one is measured)."""
    return torch.zeros(1, 1, n, 1)


@pytest.mark.parametrize("seed", range(10))
def test_conv_size_is_conv2d_s(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        n, k = rng.randint(1, 40), rng.randint(1, 7)
        s, p, d = rng.randint(1, 5), rng.randint(0, 5), rng.randint(1, 4)
        weight = torch.zeros(1, 1, k, 1)
        try:
            want = F.conv2d(_line(n), weight, stride=(s, 1), padding=(p, 0),
                            dilation=(d, 1)).shape[2]
        except RuntimeError:  # the dilated kernel is larger than the padded input
            with pytest.raises(ValueError, match="does not fit"):
                output_size(n, k, stride=s, padding=p, dilation=d)
            continue
        assert output_size(n, k, stride=s, padding=p, dilation=d).size == want, (n, k, s, p, d)


@pytest.mark.parametrize("seed", range(5))
def test_uneven_padding_is_padding_then_conv2d(seed: int) -> None:
    rng = random.Random(100 + seed)
    for _ in range(200):
        n, k, s, d = rng.randint(1, 30), rng.randint(1, 7), rng.randint(1, 4), rng.randint(1, 3)
        before, after = rng.randint(0, 4), rng.randint(0, 4)
        if d * (k - 1) + 1 > n + before + after:
            continue
        x = F.pad(_line(n), (0, 0, before, after))
        want = F.conv2d(x, torch.zeros(1, 1, k, 1), stride=(s, 1), dilation=(d, 1)).shape[2]
        got = output_size(n, k, stride=s, padding=(before, after), dilation=d)
        assert got.size == want, (n, k, s, d, before, after)


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("seed", range(5))
def test_pool_size_is_max_pool2d_s(seed: int, ceil_mode: bool) -> None:
    rng = random.Random(200 + seed)
    for _ in range(300):
        n, k, s, d = rng.randint(1, 30), rng.randint(1, 6), rng.randint(1, 6), rng.randint(1, 3)
        p = rng.randint(0, k // 2)  # torch pads a pool by at most half its window
        if d * (k - 1) + 1 > n + 2 * p:
            with pytest.raises(ValueError):
                output_size(n, k, stride=s, padding=p, dilation=d, ceil_mode=ceil_mode)
            continue
        want = F.max_pool2d(_line(n), (k, 1), (s, 1), (p, 0), dilation=(d, 1),
                            ceil_mode=ceil_mode).shape[2]
        got = output_size(n, k, stride=s, padding=p, dilation=d, ceil_mode=ceil_mode)
        assert got.size == want, (n, k, s, p, d, ceil_mode)
        if d == 1:  # avg_pool2d has no dilation: the rule without it
            avg = F.avg_pool2d(_line(n), (k, 1), (s, 1), (p, 0), ceil_mode=ceil_mode).shape[2]
            plain = output_size(n, k, stride=s, padding=p, dilation=None, ceil_mode=ceil_mode)
            assert plain.size == avg == want


def test_every_small_pool_follows_torch() -> None:
    for n in range(1, 12):
        for k in range(1, min(n, 5) + 1):
            for s in range(1, 5):
                for p in range(0, k // 2 + 1):
                    for ceil in (False, True):
                        ref = F.max_pool2d(torch.zeros(1, 1, n, n), k, s, p, ceil_mode=ceil)
                        got = output_size(n, k, stride=s, padding=p, dilation=None,
                                          ceil_mode=ceil)
                        assert got.size == ref.shape[-1], (n, k, s, p, ceil)


# ---------------------------------------------------------------- worked by hand


def test_conv_worked_by_hand() -> None:
    # 28 + 0 − 1·4 − 1 = 23, ⌊23 / 1⌋ + 1 = 24: LeNet's first conv without padding
    assert output_size(28, 5) == OutputSize(
        size=24, formula="⌊(28 + 2·0 − 1·(5 − 1) − 1) / 1⌋ + 1 = 24",
        worked="⌊(28 + 2·0 − 1·(5 − 1) − 1) / 1⌋ + 1 = ⌊23 / 1⌋ + 1 = 24",
        general="⌊(n + 2p − d·(k − 1) − 1) / s⌋ + 1", span=5)
    # 7 + 2 − 2·2 − 1 = 4, ⌊4 / 2⌋ + 1 = 3; a dilated 3-tap kernel spans 5 cells
    out = output_size(7, 3, stride=2, padding=1, dilation=2)
    assert (out.size, out.span) == (3, 5)
    assert out.worked == "⌊(7 + 2·1 − 2·(3 − 1) − 1) / 2⌋ + 1 = ⌊4 / 2⌋ + 1 = 3"


def test_without_dilation_or_padding_the_terms_are_left_out() -> None:
    # the architecture table: conv layers have no dilation, pools no padding
    conv = output_size(28, 5, padding=2, dilation=None)
    assert conv.formula == "⌊(28 + 2·2 − 5) / 1⌋ + 1 = 28"
    assert conv.general == "⌊(n + 2p − k) / s⌋ + 1"
    pool = output_size(28, 2, stride=2, padding=None, dilation=None)
    assert pool.formula == "⌊(28 − 2) / 2⌋ + 1 = 14"
    assert pool.general == "⌊(n − k) / s⌋ + 1"
    # the same numbers as writing every term out
    assert conv.size == output_size(28, 5, padding=2).size
    assert pool.size == output_size(28, 2, stride=2).size


def test_uneven_padding_is_written_side_by_side() -> None:
    # 'same' with a 4-tap kernel pads 1 before and 2 after: 512 + 3 − 3 − 1 = 511, + 1 = 512
    out = output_size(512, 4, padding=(1, 2))
    assert out.formula == "⌊(512 + 1 + 2 − 1·(4 − 1) − 1) / 1⌋ + 1 = 512"
    assert out.general == "⌊(n + p₁ + p₂ − d·(k − 1) − 1) / s⌋ + 1"
    assert output_size(9, 3, padding=(1, 1)) == output_size(9, 3, padding=1)


def test_ceil_mode_rounds_up_and_drops_a_window_in_the_padding() -> None:
    # 5 + 0 − 2 = 3, ⌈3 / 2⌉ + 1 = 3: the last window hangs over the edge but starts inside
    out = output_size(5, 2, stride=2, dilation=None, ceil_mode=True)
    assert out.worked == "⌈(5 + 2·0 − 2) / 2⌉ + 1 = ⌈3 / 2⌉ + 1 = 3"
    assert out.general == "⌈(n + 2p − k) / s⌉ + 1"
    # padded by 1: ⌈5 / 2⌉ + 1 = 4, but the 4th window would start at cell 6 = 5 + 1, padding
    out = output_size(5, 2, stride=2, padding=1, dilation=None, ceil_mode=True)
    assert out.size == 3
    assert out.formula == ("⌈(5 + 2·1 − 2) / 2⌉ + 1 = 4, less the last window, which would "
                           "start in the padding: 3")
    assert out.worked.startswith("⌈(5 + 2·1 − 2) / 2⌉ + 1 = ⌈5 / 2⌉ + 1 = 4, less")


@pytest.mark.parametrize("kwargs", [
    {"n": 2, "k": 3},  # does not fit
    {"n": 5, "k": 3, "dilation": 3},  # spans 7 cells
    {"n": 0, "k": 1},
    {"n": 5, "k": 0},
    {"n": 5, "k": 1, "stride": 0},
    {"n": 5, "k": 1, "dilation": 0},
    {"n": 5, "k": 1, "padding": -1},
    {"n": 5, "k": 1, "padding": (0, -1)},
])
def test_impossible_settings_are_a_value_error(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        output_size(**kwargs)


# ---------------------------------------------------------------- grids


def _check(values: object, **limits: object) -> np.ndarray:
    args: dict = {"max_side": 4, "value_range": (-10.0, 10.0)} | limits
    return validate_grid(values, "grid", **args)


def test_a_good_grid_comes_back_as_float64_in_its_shape() -> None:
    g = _check([[1, 2], [3, 4]])
    assert g.dtype == np.float64 and g.shape == (2, 2) and g.tolist() == [[1, 2], [3, 4]]
    assert _check(((1,),)).shape == (1, 1)  # tuples are lists too
    assert _check(np.ones((2, 3), dtype=np.int64)).dtype == np.float64
    c = _check([[[1, 2]], [[3, 4]], [[5, 6]]], max_channels=3)
    assert c.shape == (3, 1, 2)
    assert _check([[[1]]], max_channels=3).shape == (1, 1, 1)  # one channel stays 3-D
    arr = np.zeros((2, 2))
    assert _check(arr) is not arr  # a copy: the caller's array is not touched later
    assert _check([[-10, 10]]).tolist() == [[-10, 10]]  # the range is inclusive


@pytest.mark.parametrize(("values", "limits", "words"), [
    ([[1, 2], [3]], {}, "grid must be rectangular: every row the same length; got lengths [1, 2]"),
    ([[1, 2], 3], {}, "rectangular"),
    ([[[1, 2]], [[3]]], {"max_channels": 2}, "every channel the same size"),
    ([[[1, 2]], [[3, 4], [5, 6]]], {"max_channels": 2}, "every channel the same size"),
    ([[1, [2]]], {}, "values must be numbers"),
    ([[1, "x"]], {}, "values must be numbers"),
    ([[1, None]], {}, "finite"),
    ([[float("nan")]], {}, "finite numbers (no NaN or infinity)"),
    ([[float("inf"), 1]], {}, "finite"),
    (np.array([[1.0, -np.inf]]), {}, "finite"),
    ([[11]], {}, "grid values must be from -10 to 10"),
    ([[-11]], {}, "from -10 to 10"),
    (np.ones((5, 2)).tolist(), {}, "grid is 5×2; it must be 1×1 to 4×4"),
    (np.ones((2, 5)), {}, "grid is 2×5; it must be 1×1 to 4×4"),
    (np.ones((3, 2, 2)).tolist(), {"max_channels": 2}, "3 channels; at most 2"),
    ([], {}, "grid is empty: give at least one row with one number"),
    ([[]], {}, "empty"),
    ([[[]]], {"max_channels": 2}, "empty"),
    (np.zeros((0, 3)), {}, "empty"),
    ([1, 2, 3], {}, "grid must be a 2-D list (rows of numbers)"),
    ([[[1]]], {}, "must be a 2-D list (rows of numbers)"),  # 3-D where only 2-D is taken
    ([[[[1]]]], {"max_channels": 2}, "2-D list (rows of numbers) or a 3-D list"),
    (np.ones(3), {}, "2-D list"),
    (np.ones((1, 1, 1)), {}, "2-D list"),
    (5, {}, "2-D list"),
    ("[[1]]", {}, "2-D list"),
    (None, {}, "2-D list"),
])
def test_a_bad_grid_is_refused_with_its_field_and_a_reason(values: object, limits: dict,
                                                           words: str) -> None:
    with pytest.raises(InputError) as err:
        _check(values, **limits)
    assert err.value.field == "grid"
    assert words in err.value.message, err.value.message
    assert err.value.message.startswith("grid ")


def test_the_caller_chooses_the_error_class() -> None:
    class GridError(InputError):
        pass

    with pytest.raises(GridError) as err:
        validate_grid([[1], [2, 3]], "kernel", max_side=15, value_range=(-1e6, 1e6),
                      error=GridError)
    assert err.value.field == "kernel" and err.value.message.startswith("kernel must be")


def test_a_large_grid_is_refused_before_its_numbers_are_read() -> None:
    huge = [[float("nan")] * 3] * 10_000  # too tall: the size is the reason, not the NaN
    with pytest.raises(InputError, match="10000×3"):
        _check(huge)


@pytest.mark.parametrize("values", [[[1, True]], [[[1.0]], [[False]]]])
def test_a_grid_of_booleans_is_no_grid_of_numbers(values: list) -> None:
    # numpy would read true as 1: JSON's true is not a number, and the schema says numbers
    with pytest.raises(InputError, match="true and false are not"):
        validate_grid(values, "kernel", max_side=15, value_range=(-9, 9), max_channels=4)
