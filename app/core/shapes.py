"""Shapes, the one place for each: how big a sliding window's output is (with the arithmetic
written out), and whether a grid of numbers given as nested lists can be used.

`output_size` is PyTorch's rule for `conv2d`, `max_pool2d` and `avg_pool2d` along one axis,
`⌊(n + 2p − d·(k − 1) − 1) / s⌋ + 1` (⌈…⌉ in ceil mode, less a last window that would start in
the right padding), so the kernel lab, the stepper and the architecture table print the same
numbers torch computes, in the same words. `validate_grid` checks a 2-D (rows of numbers) or
3-D (channels of rows) list: rectangular, not empty, not too large, finite and in range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.core.errors import InputError

# ---------------------------------------------------------------- output size


@dataclass(frozen=True)
class OutputSize:
    """The output size along one axis and how it comes out.

    `formula` is the rule with this axis's numbers, `"⌊(28 + 2·0 − 1·(5 − 1) − 1) / 1⌋ + 1 = 24"`;
    `worked` adds the step between, `"… / 1⌋ + 1 = ⌊23 / 1⌋ + 1 = 24"`; `general` is the rule
    in letters, `"⌊(n + 2p − d·(k − 1) − 1) / s⌋ + 1"`. `span` is the cells one window covers,
    d·(k − 1) + 1.
    """

    size: int
    formula: str
    worked: str
    general: str
    span: int


_DROPPED = "less the last window, which would start in the padding"


def output_size(n: int, k: int, *, stride: int = 1, padding: int | tuple[int, int] | None = 0,
                dilation: int | None = 1, ceil_mode: bool = False) -> OutputSize:
    """How many windows of `k` cells fit along an axis of `n` cells, as torch counts them.

    `padding` is the cells added on each side (an int, written `2·p`), a (before, after) pair
    for uneven padding (written `p₁ + p₂`; the kernel lab's "same" with an even kernel), or None
    for an operation without padding (the term is left out). `dilation` None is an operation
    without dilation: the same as 1, written `− k` rather than `− 1·(k − 1) − 1`. In `ceil_mode`
    (pooling) the division rounds up, and a last window that would start in the right padding
    is dropped, as PyTorch does.

    The window must fit in the padded input (callers check that, with their own message);
    ValueError otherwise, or for a size, stride or dilation below 1 or a negative padding.
    """
    before, after = (0, 0) if padding is None else (
        (padding, padding) if isinstance(padding, int) else padding)
    d = 1 if dilation is None else dilation
    if min(n, k, stride, d) < 1 or min(before, after) < 0:
        raise ValueError(f"output_size needs n, k, stride and dilation ≥ 1 and padding ≥ 0, "
                         f"got n={n}, k={k}, stride={stride}, dilation={d}, padding={padding}")
    span = d * (k - 1) + 1
    inner = n + before + after - span
    if inner < 0:
        raise ValueError(f"a window of {span} cells does not fit in {n + before + after} cells")
    raw = (-(-inner // stride) if ceil_mode else inner // stride) + 1
    size = raw - 1 if ceil_mode and (raw - 1) * stride >= n + before else raw

    lo, hi = ("⌈", "⌉") if ceil_mode else ("⌊", "⌋")
    if padding is None:
        pad_text = pad_general = ""
    elif before == after:
        pad_text, pad_general = f" + 2·{before}", " + 2p"
    else:
        pad_text, pad_general = f" + {before} + {after}", " + p₁ + p₂"
    if dilation is None:
        window_text, window_general = f" − {k}", " − k"
    else:
        window_text, window_general = f" − {d}·({k} − 1) − 1", " − d·(k − 1) − 1"
    rule = f"{lo}({n}{pad_text}{window_text}) / {stride}{hi} + 1"
    result = f" = {size}" if raw == size else f" = {raw}, {_DROPPED}: {size}"
    return OutputSize(size=size, formula=rule + result,
                      worked=f"{rule} = {lo}{inner} / {stride}{hi} + 1{result}",
                      general=f"{lo}(n{pad_general}{window_general}) / s{hi} + 1", span=span)


# ---------------------------------------------------------------- grids


def _holds_bool(values: list | tuple, depth: int) -> bool:
    """Whether a rectangular nested list holds a bool (numpy would read it as 0 or 1)."""
    rows = values if depth == 2 else [row for channel in values for row in channel]
    return any(type(v) is bool for row in rows for v in row)


def validate_grid(values: object, field: str, *, max_side: int, value_range: tuple[float, float],
                  max_channels: int | None = None, error: type[InputError] = InputError
                  ) -> np.ndarray:
    """A grid of numbers checked and returned as float64, in the shape it was given.

    `values` is a 2-D list (rows of numbers) or, when `max_channels` is set, also a 3-D list
    (channels of rows), as nested lists/tuples or a numpy array. It must be rectangular and not
    empty, every side at most `max_side`, at most `max_channels` channels, and every value a
    finite number within `value_range` (inclusive). Otherwise raises `error` (InputError or a
    subclass) with `field` and a message that names `field` and says what is allowed.
    """
    depths = (2,) if max_channels is None else (2, 3)
    kinds = "a 2-D list (rows of numbers)" + (
        "" if max_channels is None else " or a 3-D list (channels of rows)")
    if isinstance(values, np.ndarray):
        shape: tuple[int, ...] = values.shape
    elif isinstance(values, (list, tuple)):
        shape = _first_shape(values)
    else:
        raise error(f"{field} must be {kinds}", field)
    if 0 in shape:
        raise error(f"{field} is empty: give at least one row with one number", field)
    if len(shape) not in depths:
        raise error(f"{field} must be {kinds}", field)
    h, w = shape[-2:]
    if len(shape) == 3 and max_channels is not None and shape[0] > max_channels:
        raise error(f"{field} has {shape[0]} channels; at most {max_channels} are allowed",
                    field)
    if h > max_side or w > max_side:
        raise error(f"{field} is {h}×{w}; it must be 1×1 to {max_side}×{max_side}", field)
    ragged = None if isinstance(values, np.ndarray) else _ragged(values, shape)
    if ragged is not None:
        raise error(f"{field} must be rectangular: every row the same length"
                    + (", every channel the same size" if len(shape) == 3 else "")
                    + ragged, field)
    try:
        arr = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise error(f"{field} values must be numbers", field) from exc
    if not isinstance(values, np.ndarray) and _holds_bool(values, len(shape)):
        raise error(f"{field} values must be numbers (true and false are not)", field)
    if not np.all(np.isfinite(arr)):
        raise error(f"{field} values must be finite numbers (no NaN or infinity)", field)
    low, high = value_range
    if arr.min() < low or arr.max() > high:
        raise error(f"{field} values must be from {low:g} to {high:g}", field)
    return arr


def _first_shape(values: list | tuple) -> tuple[int, ...]:
    """The lengths met going down the first element of each level: (rows, cols) for a 2-D
    list; a 0 where a list on that path is empty."""
    shape: list[int] = []
    probe: object = values
    while isinstance(probe, (list, tuple)):
        shape.append(len(probe))
        if not probe:
            break
        probe = probe[0]
    return tuple(shape)


def _ragged(values: list | tuple, shape: tuple[int, ...]) -> str | None:
    """None when every list above the numbers has the length `shape` gives it; otherwise what
    to add to the message: the row lengths of a 2-D list whose rows are all lists, or ""."""
    planes = [values] if len(shape) == 2 else values
    if not all(isinstance(p, (list, tuple)) and len(p) == shape[-2] for p in planes):
        return ""
    rows = [r for p in planes for r in p]
    if all(isinstance(r, (list, tuple)) and len(r) == shape[-1] for r in rows):
        return None
    if len(shape) == 2 and all(isinstance(r, (list, tuple)) for r in rows):
        return f"; got lengths {sorted({len(r) for r in rows})}"
    return ""
