"""Step-by-step traces of a convolution, a pooling and gradient descent, as the slides work them.

Every step carries the numbers a student would write on paper: the window, the products, the sum,
and the whole line as text (`7×1 + 4×1 + … + 2×(−1) = 6`). The results are the same numbers
`torch.nn.functional.conv2d`, `max_pool2d` and `avg_pool2d` compute (the tests check that).

Grids are float64, small (`StepperLimits` bounds them), and given as nested lists; every
function that checks its input takes the limits as an argument.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from app.core.errors import InputError
from app.core.shapes import output_size, validate_grid


@dataclass(frozen=True)
class StepperLimits:
    """The stepper's bounds (the values live in app.settings.LIMITS.stepper): traces are for
    reading, so grids are small."""

    grid_side: int  # rows and columns of an input grid
    channels: int  # channels of a channels × rows × cols grid
    kernel_side: int
    stride: int
    dilation: int
    padding: int  # convolution: zero cells on each side
    pool_side: int  # a pooling window is pool_side × pool_side at most
    trace_terms: int  # products one convolution trace lists
    value: float  # |a grid value|, |bias|
    points: int  # gradient descent: [x, y] pairs
    epochs: int
    steps: int  # epochs × steps per epoch
    learning_rate: float
    coord: float  # |a point coordinate|, |w0|, |b0|
    diverged_at: float  # |w| or |b| beyond this: the descent has blown up and stops


PoolOp = Literal["max", "avg", "sum"]
POOL_OPS: tuple[str, ...] = ("max", "avg", "sum")


# ---------------------------------------------------------------- numbers as a person writes them

def fmt(v: float) -> str:
    """A number the way a worksheet shows it: `6`, `0.25`, `−1.5` (a true minus sign)."""
    v = float(v)
    if v == 0:
        return "0"  # also turns −0 into 0
    if v.is_integer() and abs(v) < 1e15:
        text = str(int(v))
    else:
        text = f"{v:.6g}"
    return text.replace("-", "−")


def factor(v: float) -> str:
    """A number inside a product or a sum: negatives in parentheses, `2×(−1)`, `3 + (−2)`."""
    text = fmt(v)
    return f"({text})" if text.startswith("−") else text


# ---------------------------------------------------------------- validation

def _grid(values: object, field: str, limits: StepperLimits, max_side: int | None = None
          ) -> np.ndarray:
    """A rows × cols or channels × rows × cols grid as float64, in the shape it was given; at
    most `max_side` (default: the grid side) a side."""
    return validate_grid(values, field, max_side=limits.grid_side if max_side is None else max_side,
                         value_range=(-limits.value, limits.value), max_channels=limits.channels)


def _check_int(value: int, name: str, low: int, high: int, why: str = "") -> None:
    if not low <= value <= high:
        raise InputError(f"{name} must be {low} to {high}{why}, got {value}", name)


def _check_number(value: float, name: str, limit: float) -> None:
    if not (math.isfinite(value) and abs(value) <= limit):
        raise InputError(f"{name} must be a finite number from −{limit:g} to {limit:g}", name)


# ---------------------------------------------------------------- convolution

@dataclass
class ConvTrace:
    output: np.ndarray  # (Ho, Wo)
    padding: int
    formula: dict[str, str]
    steps: list[dict] = field(default_factory=list)


def conv_trace(values: object, kernel: object, *, limits: StepperLimits, stride: int = 1,
               padding: int = 0, dilation: int = 1, bias: float = 0.0) -> ConvTrace:
    """Every window of a cross-correlation (what conv2d computes), one output channel.

    `values` is rows × cols, or channels × rows × cols with a kernel of the same channel count
    (then each step also has the per-channel sums, added up with the bias as a conv layer does).
    Padding adds `padding` zero cells on every side. Window corners are in input coordinates
    (inclusive): a negative row or column, or one past the edge, lies in the padding.
    """
    given_x = _grid(values, "input", limits)
    given_k = _grid(kernel, "kernel", limits, limits.kernel_side)
    two_d = given_x.ndim == 2
    x = given_x if given_x.ndim == 3 else given_x[None]
    k = given_k if given_k.ndim == 3 else given_k[None]
    if given_k.ndim == 2:
        if x.shape[0] > 1:
            raise InputError(f"the input has {x.shape[0]} channels, so the kernel needs "
                             f"{x.shape[0]} too: give it as channels × rows × cols", "kernel")
    elif k.shape[0] != x.shape[0]:
        raise InputError(f"the kernel has {k.shape[0]} channels but the input has {x.shape[0]}; "
                         "a conv kernel has one slice per input channel", "kernel")
    _check_int(stride, "stride", 1, limits.stride)
    _check_int(padding, "padding", 0, limits.padding)
    _check_int(dilation, "dilation", 1, limits.dilation)
    _check_number(bias, "bias", limits.value)
    c, h, w = x.shape
    _, kh, kw = k.shape
    span_h, span_w = dilation * (kh - 1) + 1, dilation * (kw - 1) + 1
    if span_h > h + 2 * padding or span_w > w + 2 * padding:
        raise InputError(
            f"the kernel covers {span_h}×{span_w} cells"
            + (f" (with dilation {dilation})" if dilation > 1 else "")
            + f" but the padded input is only {h + 2 * padding}×{w + 2 * padding}; "
            "use a smaller kernel, or more padding", "kernel")
    size_h = output_size(h, kh, stride=stride, padding=padding, dilation=dilation)
    size_w = output_size(w, kw, stride=stride, padding=padding, dilation=dilation)
    oh, ow = size_h.size, size_w.size
    terms = oh * ow * c * kh * kw
    if terms > limits.trace_terms:
        raise InputError(
            f"this trace would list {terms:,} products; the stepper shows at most "
            f"{limits.trace_terms:,}: use a smaller input or kernel, or a larger stride "
            "(POST /api/v1/convolve gives just the output)", "input")

    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))
    # windows[c, i, j] is the (kh, kw) patch under the kernel for output cell (i, j)
    windows = sliding_window_view(xp, (span_h, span_w), axis=(1, 2))[
        :, ::stride, ::stride, ::dilation, ::dilation]
    products = windows * k[:, None, None] + 0.0  # (C, Ho, Wo, kh, kw); + 0.0 turns −0 into 0
    channel_sums = products.sum(axis=(3, 4))  # (C, Ho, Wo)
    output = channel_sums.sum(axis=0) + bias

    # Text: each input cell and weight formatted once; then, per window cell, every window's
    # "cell×weight" made by numpy over object arrays, and the window's terms joined by map and
    # str.join, both in C: ~1 µs a step, where a Python loop over the steps took ~17.
    cell_text = np.vectorize(factor, otypes=[object])(xp)
    cell_windows = sliding_window_view(cell_text, (span_h, span_w), axis=(1, 2))[
        :, ::stride, ::stride, ::dilation, ::dilation].reshape(c, oh * ow, kh * kw)
    weight_text = [[factor(v) for v in kc.ravel()] for kc in k]
    lines = [list(map(" + ".join, zip(*[(cell_windows[ch, :, p] + f"×{weight_text[ch][p]}")
                                           .tolist() for p in range(kh * kw)], strict=True)))
             for ch in range(c)]  # lines[ch][step]
    per_step_products = products.transpose(1, 2, 0, 3, 4).reshape(oh * ow, c, kh, kw).tolist()
    if two_d:
        per_step_products = [p[0] for p in per_step_products]
    sums = channel_sums.reshape(c, oh * ow).T.tolist()
    totals = output.ravel().tolist()
    bias_text = f" + {factor(bias)}" if bias else ""
    corners = [(i * stride - padding, j * stride - padding) for i in range(oh) for j in range(ow)]
    if c == 1:
        extra = [{"expression": f"{line}{bias_text} = {fmt(t)}"}
                 for line, t in zip(lines[0], totals, strict=True)]
    else:
        extra = [{"channel_sums": ss,
                  "channel_expressions": [f"{chl[idx]} = {fmt(v)}" for chl, v in zip(
                      lines, ss, strict=True)],
                  "expression": " + ".join(map(factor, ss)) + f"{bias_text} = {fmt(t)}"}
                 for idx, (ss, t) in enumerate(zip(sums, totals, strict=True))]
    steps = [{"out": [idx // ow, idx % ow],
              "window": [[r0, c0], [r0 + span_h - 1, c0 + span_w - 1]],
              "products": prods, "sum": t, **more}
             for idx, ((r0, c0), prods, t, more) in enumerate(
                 zip(corners, per_step_products, totals, extra, strict=True))]
    formula = {"general": size_h.general, "height": size_h.worked, "width": size_w.worked}
    return ConvTrace(output=output, padding=padding, formula=formula, steps=steps)


# ---------------------------------------------------------------- pooling

@dataclass
class PoolTrace:
    output: np.ndarray  # (C, Ho, Wo)
    formula: dict[str, str]
    steps: list[dict] = field(default_factory=list)


def pool_trace(values: object, *, limits: StepperLimits, op: str = "max", size: int = 2,
               stride: int | None = None, padding: int = 0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> PoolTrace:
    """Every window of a max, average or sum pooling, channel by channel, as PyTorch pools.

    Padding cells count as zeros for the average when `count_include_pad` (PyTorch's default)
    and never win a max. `values` in a step lists the window's cells (row by row) and is None
    where the cell lies in the padding or past the edge.
    """
    given = _grid(values, "input", limits)
    x = given if given.ndim == 3 else given[None]
    if op not in POOL_OPS:
        raise InputError(f"op must be one of {', '.join(POOL_OPS)}, got {op!r}", "op")
    stride = size if stride is None else stride
    _check_int(size, "size", 1, limits.pool_side)
    _check_int(stride, "stride", 1, limits.stride)
    _check_int(padding, "padding", 0, size // 2,
               " (at most half the window, so every window holds a real cell)")
    c, h, w = x.shape
    if size > h + 2 * padding or size > w + 2 * padding:
        raise InputError(f"a {size}×{size} window does not fit in the padded input "
                         f"({h + 2 * padding}×{w + 2 * padding}); use a smaller window or "
                         "more padding", "size")
    size_h, size_w = (output_size(n, size, stride=stride, padding=padding, dilation=None,
                                  ceil_mode=ceil_mode) for n in (h, w))
    oh, ow = size_h.size, size_w.size
    output = np.zeros((c, oh, ow))
    steps: list[dict] = []
    for ch in range(c):
        for i in range(oh):
            for j in range(ow):
                r0, c0 = i * stride - padding, j * stride - padding
                result, step = _pool_window(x[ch], r0, c0, size, padding, op, count_include_pad)
                output[ch, i, j] = result
                step = {"out": [i, j], **step}
                if given.ndim == 3:
                    step = {"channel": ch, **step}
                steps.append(step)
    formula = {"general": size_h.general, "height": size_h.worked, "width": size_w.worked}
    return PoolTrace(output=output, formula=formula, steps=steps)


def _pool_window(x: np.ndarray, r0: int, c0: int, size: int, padding: int, op: str,
                 count_include_pad: bool) -> tuple[float, dict]:
    h, w = x.shape
    cells: list[float | None] = []
    real: list[tuple[float, int, int]] = []
    for r in range(r0, r0 + size):
        for col in range(c0, c0 + size):
            if 0 <= r < h and 0 <= col < w:
                v = float(x[r, col])
                cells.append(v)
                real.append((v, r, col))
            else:
                cells.append(None)
    step: dict = {"window": [[r0, c0], [r0 + size - 1, c0 + size - 1]], "values": cells}
    if op == "max":
        best = max(real, key=lambda t: t[0])  # max() keeps the first of equal values
        result = best[0]
        step.update(argmax=[best[1], best[2]],
                    expression=f"max({', '.join(fmt(v) for v, _, _ in real)}) = {fmt(result)}")
    else:
        total = math.fsum(v for v, _, _ in real)
        if op == "sum":
            result = total
            step["expression"] = f"{' + '.join(factor(v) for v, _, _ in real)} = {fmt(result)}"
        else:
            # The divisor PyTorch uses: the window clipped to the padded input (with padding)
            # or to the input itself (without).
            if count_include_pad:
                rows = min(r0 + size, h + padding) - r0
                cols = min(c0 + size, w + padding) - c0
                divisor = rows * cols
                zeros = divisor - len(real)
            else:
                divisor, zeros = len(real), 0
            result = total / divisor
            listed = [factor(v) for v, _, _ in real] + ["0"] * zeros
            step.update(divisor=divisor, expression=(
                f"({' + '.join(listed)}) / {divisor} = {fmt(result)}"))
    step["result"] = result
    return result, step


# ---------------------------------------------------------------- gradient descent

Update = Literal["per_point", "full_batch"]


@dataclass
class DescentTrace:
    steps: list[dict]
    diverged: bool
    message: str
    optimum: dict[str, float]
    stable_below: float | None
    curve: dict[str, list] = field(default_factory=dict)


def gradient_descent(points: object, *, limits: StepperLimits, learning_rate: float,
                     epochs: int, w0: float, b0: float | None = None, update: str = "per_point"
                     ) -> DescentTrace:
    """Fits y ≈ x·w (or x·w + b when `b0` is given) by gradient descent on the squared error.

    Per point (the slides): for each point in turn, E = (xw − y)², dE/dw = 2x(xw − y),
    w ← w − α·dE/dw. Full batch: the same with E the mean over all points. `loss` after each
    step is the mean squared error over all points. Stops early, saying so, if the weights blow
    up (the learning rate is too large: `stable_below` is the largest rate that converges).
    """
    pts = _validate_points(points, limits)
    _check_number(learning_rate, "learning_rate", limits.learning_rate)
    if learning_rate <= 0:
        raise InputError(f"learning_rate must be above 0 (and at most {limits.learning_rate:g})",
                         "learning_rate")
    _check_int(epochs, "epochs", 1, limits.epochs)
    _check_number(w0, "w0", limits.coord)
    if b0 is not None:
        _check_number(b0, "b0", limits.coord)
    if update not in ("per_point", "full_batch"):
        raise InputError(f"update must be 'per_point' or 'full_batch', got {update!r}", "update")
    n = len(pts)
    per_epoch = n if update == "per_point" else 1
    if epochs * per_epoch > limits.steps:
        raise InputError(f"{epochs} epochs × {per_epoch} steps is more than {limits.steps:,} "
                         "steps; "
                         "use fewer epochs or points", "epochs")
    xs, ys = pts[:, 0], pts[:, 1]
    with_bias = b0 is not None
    w, b = float(w0), float(b0 or 0.0)
    steps: list[dict] = []
    diverged = False
    for epoch in range(1, epochs + 1):
        batches = [[i] for i in range(n)] if update == "per_point" else [list(range(n))]
        for batch in batches:
            step = _descent_step(xs[batch], ys[batch], w, b, learning_rate, with_bias)
            step = {"epoch": epoch, "point": batch[0] if update == "per_point" else None, **step}
            w, b = step["w"], step.get("b", 0.0)
            if (not (math.isfinite(w) and math.isfinite(b))
                    or max(abs(w), abs(b)) > limits.diverged_at):
                diverged = True
                step["loss"] = None
                steps.append(step)
                break
            step["loss"] = _finite(float(np.mean((xs * w + b - ys) ** 2)))
            steps.append(step)
        if diverged:
            break
    stable = _stable_rate(xs, with_bias, update)
    optimum = _optimum(xs, ys, with_bias)
    message = ""
    if diverged:
        message = (f"the weights grew past {limits.diverged_at:g}: a learning rate of "
                   f"{fmt(learning_rate)} is too large for these points"
                   + (f"; try a rate below {fmt(stable)}" if stable else ""))
    trace = DescentTrace(steps=steps, diverged=diverged, message=message, optimum=optimum,
                         stable_below=stable)
    trace.curve = _loss_curve(xs, ys, w0, b0, steps, optimum)
    return trace


def _validate_points(points: object, limits: StepperLimits) -> np.ndarray:
    if not isinstance(points, (list, tuple)) or not points:
        raise InputError("points must be a list of [x, y] pairs, at least one", "points")
    if len(points) > limits.points:
        raise InputError(f"{len(points)} points; at most {limits.points} are allowed", "points")
    if not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in points):
        raise InputError("each point must be a pair [x, y]", "points")
    try:
        arr = np.array(points, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError("point coordinates must be numbers", "points") from exc
    if not np.all(np.isfinite(arr)) or np.abs(arr).max() > limits.coord:
        raise InputError(f"point coordinates must be finite numbers from −{limits.coord:g} to "
                         f"{limits.coord:g}", "points")
    return arr


def _descent_step(xs: np.ndarray, ys: np.ndarray, w: float, b: float, lr: float,
                  with_bias: bool) -> dict:
    pred = xs * w + b
    residual = pred - ys
    grad_w = float(np.mean(2 * xs * residual))
    grad_b = float(np.mean(2 * residual))
    new_w = w - lr * grad_w
    step: dict = {}
    if len(xs) == 1:
        x, y, p = float(xs[0]), float(ys[0]), float(pred[0])
        step.update(x=x, y=y, prediction=p, error=float(residual[0] ** 2))
        guess = f"{factor(x)}·{factor(w)}" + (f" + {factor(b)}" if with_bias else "")
        line_w = (f"w ← {fmt(w)} − {fmt(lr)}·2·{factor(x)}·({guess} − {factor(y)}) "
                  f"= {fmt(new_w)}")
        line_b = f"b ← {fmt(b)} − {fmt(lr)}·2·({guess} − {factor(y)}) = {fmt(b - lr * grad_b)}"
    else:
        step.update(x=None, y=None, prediction=None, error=float(np.mean(residual ** 2)))
        line_w = f"w ← {fmt(w)} − {fmt(lr)}·{factor(grad_w)} = {fmt(new_w)}"
        line_b = f"b ← {fmt(b)} − {fmt(lr)}·{factor(grad_b)} = {fmt(b - lr * grad_b)}"
    step.update(gradient=grad_w, w_before=w, w=new_w)
    if with_bias:
        step.update(gradient_b=grad_b, b_before=b, b=b - lr * grad_b)
        step["expression"] = f"{line_w};  {line_b}"
    else:
        step["expression"] = line_w
    return step


def _stable_rate(xs: np.ndarray, with_bias: bool, update: str) -> float | None:
    """A learning rate below which every step shrinks the error: 2 / the largest curvature of
    the loss being stepped on (the Hessian's top eigenvalue; per point, the worst point's).
    None when the loss is flat (all x = 0 and no bias): then no rate moves w."""
    if update == "per_point":
        # one point's Hessian is 2·[[x², x], [x, 1]] (or 2x²); top eigenvalue 2(x² + 1) or 2x²
        curv = 2 * (xs ** 2 + (1 if with_bias else 0))
        top = float(curv.max())
    elif with_bias:
        hess = 2 * np.array([[np.mean(xs ** 2), np.mean(xs)], [np.mean(xs), 1.0]])
        top = float(np.linalg.eigvalsh(hess).max())
    else:
        top = float(2 * np.mean(xs ** 2))
    return 2 / top if top > 0 else None


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


def _optimum(xs: np.ndarray, ys: np.ndarray, with_bias: bool) -> dict[str, float]:
    """The least-squares answer the descent is heading for."""
    if with_bias:
        design = np.stack([xs, np.ones_like(xs)], axis=1)
        (w, b), *_ = np.linalg.lstsq(design, ys, rcond=None)
        best = {"w": float(w), "b": float(b), "loss": float(np.mean((xs * w + b - ys) ** 2))}
    else:
        sxx = float(np.sum(xs ** 2))
        w = float(np.sum(xs * ys) / sxx) if sxx else 0.0
        best = {"w": w, "loss": float(np.mean((xs * w - ys) ** 2))}
    # rounding noise of the solver (b = −1e−16 where the answer is 0) is not worth showing
    return {k: round(v, 12) + 0.0 for k, v in best.items()}


def _span(values: list[float], margin: float = 0.15) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    pad = max((hi - lo) * margin, 0.5)
    return lo - pad, hi + pad


def _loss_curve(xs: np.ndarray, ys: np.ndarray, w0: float, b0: float | None,
                steps: list[dict], optimum: dict[str, float]) -> dict[str, list]:
    """The loss over the plane the path walks on: a curve over w (one weight) or a grid over
    (w, b), spanning the start, the visited weights and the optimum."""
    reach = 10 * (abs(w0) + abs(optimum["w"]) + 1)  # a diverging path must not stretch the plot
    ws = [w0, optimum["w"]] + [s["w"] for s in steps if abs(s["w"] - optimum["w"]) < reach]
    w_lo, w_hi = _span(ws)
    if b0 is None:
        grid = np.linspace(w_lo, w_hi, 121)
        loss = np.mean((xs[None, :] * grid[:, None] - ys[None, :]) ** 2, axis=1)
        return {"w": grid.tolist(), "loss": loss.tolist()}
    reach_b = 10 * (abs(b0) + abs(optimum["b"]) + 1)
    bs = [b0, optimum["b"]] + [s["b"] for s in steps if abs(s["b"] - optimum["b"]) < reach_b]
    b_lo, b_hi = _span(bs)
    wg, bg = np.linspace(w_lo, w_hi, 61), np.linspace(b_lo, b_hi, 61)
    pred = xs[None, None, :] * wg[None, :, None] + bg[:, None, None]  # (b, w, point)
    loss = np.mean((pred - ys) ** 2, axis=2)
    return {"w": wg.tolist(), "b": bg.tolist(), "loss": loss.tolist()}
