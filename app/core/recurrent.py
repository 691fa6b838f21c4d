"""Recurrent cells (RNN, LSTM, GRU) stepped by hand, the gradient that flows back through them,
and the memory task that shows why the gates matter.

- `trace` runs a cell over a short sequence and keeps every step: the hidden state, the LSTM's
  cell state, every gate, and the step's equations written out with its numbers. The numbers are
  the ones `torch.nn.RNNCell` / `LSTMCell` / `GRUCell` compute with the same weights (the tests
  check that); the weights use torch's names, layout and gate order.
- `gradient_flow` measures how much the last hidden state still depends on each earlier input:
  ‖∂(Σ h_T) / ∂x_t‖ for every t, from one backward pass.
- `train_memory` trains each cell to recall, after `delay` blank steps, the symbol it saw first,
  and reports which delays each cell learned.

Everything that checks its input takes a `RecurrentLimits` as the keyword argument `limits`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from app.core.errors import InputError
from app.core.training import RunClock, check_optimizer

Emit = Callable[[dict], None]
ShouldStop = Callable[[], bool]

CELLS: tuple[str, ...] = ("rnn", "lstm", "gru")
GATES: dict[str, tuple[str, ...]] = {
    "rnn": (),
    "lstm": ("input", "forget", "cell", "output"),
    "gru": ("reset", "update", "new"),
}
GATE_COUNT: dict[str, int] = {"rnn": 1, "lstm": 4, "gru": 3}
WEIGHT_NAMES: tuple[str, ...] = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")

_LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
_CELL_NAME = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
# why a weight has as many rows as it has: the gates' blocks stacked in torch's order
_STACKED = {
    "rnn": "an RNN's one tanh layer",
    "lstm": "an LSTM's gates i, f, g, o stacked",
    "gru": "a GRU's gates r, z, n stacked",
}


@dataclass(frozen=True)
class RecurrentLimits:
    """The sequence lab's bounds on cells, traces, gradient flows and the memory task (the values
    live in app.settings)."""

    input_size: int  # numbers per time step
    hidden_size: int
    steps: int  # a trace's length T
    value: float  # |input|, |weight|, |h0|, |c0|
    flow_length: int  # gradient flow: sequence length
    flow_hidden: int
    weight_scale: float  # gradient flow: weight_scale in (0, weight_scale]
    memory_delay: int  # memory task: blank steps between the symbol and the recall marker
    memory_steps: int  # training steps per (cell, delay)
    memory_hidden: int
    memory_batch: int = 512  # sequences per training batch
    memory_learning_rate: float = 0.1


# ---------------------------------------------------------------- checks

def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _check_int(value: object, name: str, low: int, high: int, why: str = "") -> None:
    if not _is_int(value) or not low <= value <= high:  # type: ignore[operator]
        got = value if _is_int(value) else repr(value)
        raise InputError(f"{name} must be a whole number from {low} to {high}{why}, got {got}",
                         name)


def _check_cell(cell: object) -> None:
    if cell not in CELLS:
        raise InputError(f"cell must be one of {', '.join(CELLS)}, got {cell!r}", "cell")


def _check_seed(seed: object) -> None:
    _check_int(seed, "seed", 0, 2**31 - 1)


def check_sizes(cell: str, input_size: int, hidden_size: int, *, limits: RecurrentLimits
                ) -> None:
    """Raises InputError unless `cell` is one of CELLS and both sizes are within the limits."""
    _check_cell(cell)
    _check_int(input_size, "input_size", 1, limits.input_size, " (numbers per time step)")
    _check_int(hidden_size, "hidden_size", 1, limits.hidden_size)


def _shape_text(shape: tuple[int, ...]) -> str:
    if len(shape) == 0:
        return "a single number"
    if len(shape) == 1:
        return f"{shape[0]} numbers"
    return "×".join(str(n) for n in shape)


def _where(index: tuple[int, ...]) -> str:
    """Where a bad number sits, counted from 1 as a person counts rows."""
    if len(index) == 1:
        return f"number {index[0] + 1}"
    return f"row {index[0] + 1}, column {index[1] + 1}"


def _numbers(values: object, name: str, ndim: int, limits: RecurrentLimits, *,
             rows: str = "row", row_tail: str = "") -> np.ndarray:
    """A 1-D or 2-D float64 array of finite numbers within ±limits.value, from nested lists or
    an array. Ragged rows, non-numbers, non-finite and too large values raise InputError."""
    if isinstance(values, np.ndarray):
        if values.dtype.kind not in "biuf":
            raise InputError(f"{name} must hold numbers, got an array of {values.dtype}", name)
        array = values.astype(np.float64)
    else:
        if not isinstance(values, list | tuple):
            raise InputError(f"{name} must be a list of numbers"
                             + (" per row" if ndim == 2 else "") + f", got {type(values).__name__}",
                             name)
        if ndim == 2:
            width = None
            for i, row in enumerate(values):
                if not isinstance(row, list | tuple | np.ndarray):
                    raise InputError(f"{name} {rows} {i + 1} must be a list of numbers, got "
                                     f"{type(row).__name__}", name)
                if width is None:
                    width = len(row)
                elif len(row) != width:
                    raise InputError(f"{name} {rows} {i + 1} has {len(row)} numbers, {rows} 1 "
                                     f"has {width}: every {rows} needs the same "
                                     f"length{row_tail}", name)
        try:
            array = np.array(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(f"{name} must hold numbers only", name) from None
    if array.ndim == ndim and array.size:
        bad = ~np.isfinite(array)
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            raise InputError(f"{name} must hold finite numbers, got {array[index]} at "
                             f"{_where(index)}", name)
        big = np.abs(array) > limits.value
        if big.any():
            index = tuple(int(i) for i in np.argwhere(big)[0])
            raise InputError(f"{name} values must be from −{limits.value:g} to {limits.value:g}, "
                             f"got {array[index]:g} at {_where(index)}", name)
    return array


def check_weights(cell: str, input_size: int, hidden_size: int, weights: Mapping, *,
                  limits: RecurrentLimits) -> dict[str, np.ndarray]:
    """The four weights of a cell as float32 arrays in torch's layout, checked: exactly the keys
    weight_ih (G·H × I), weight_hh (G·H × H), bias_ih and bias_hh (G·H), G the number of gate
    blocks (1, 4, 3), every value finite and within ±limits.value."""
    check_sizes(cell, input_size, hidden_size, limits=limits)
    names = ", ".join(WEIGHT_NAMES)
    if not isinstance(weights, Mapping):
        raise InputError(f"weights must be an object with the keys {names}, got "
                         f"{type(weights).__name__}", "weights")
    for key in weights:
        if key not in WEIGHT_NAMES:
            raise InputError(f"weights.{key} is not a weight of a cell: the weights are {names}",
                             f"weights.{key}")
    g = GATE_COUNT[cell]
    rows = "hidden_size" if g == 1 else f"{g}·hidden_size"
    expected = {
        "weight_ih": ((g * hidden_size, input_size), f"{rows} × input_size"),
        "weight_hh": ((g * hidden_size, hidden_size), f"{rows} × hidden_size"),
        "bias_ih": ((g * hidden_size,), rows),
        "bias_hh": ((g * hidden_size,), rows),
    }
    checked = {}
    for key in WEIGHT_NAMES:
        name = f"weights.{key}"
        if key not in weights:
            raise InputError(f"{name} is missing: a cell needs all of {names}", name)
        shape, why = expected[key]
        array = _numbers(weights[key], name, len(shape), limits)
        if array.shape != shape:
            raise InputError(f"{name} must be {_shape_text(shape)} ({why}: "
                             f"{_STACKED[cell]}), got {_shape_text(array.shape)}", name)
        checked[key] = np.ascontiguousarray(array, dtype=np.float32)
    return checked


def check_inputs(inputs: object, *, limits: RecurrentLimits) -> np.ndarray:
    """A T × I sequence as float32: T from 1 to limits.steps time steps, each a list of I numbers
    (1 to limits.input_size), finite and within ±limits.value."""
    if isinstance(inputs, np.ndarray | list | tuple):
        t = len(inputs)
        if not 1 <= t <= limits.steps:
            raise InputError(f"inputs must have 1 to {limits.steps} time steps, got {t}",
                             "inputs")
    x = _numbers(inputs, "inputs", 2, limits, rows="row",
                 row_tail=" (every time step has input_size numbers)")
    if x.ndim != 2:
        raise InputError("inputs must be a list of time steps, each a list of numbers "
                         f"(T × input_size), got {_shape_text(x.shape)}", "inputs")
    if not 1 <= x.shape[1] <= limits.input_size:
        raise InputError(f"each time step of inputs must have 1 to {limits.input_size} numbers "
                         f"(the input size), got {x.shape[1]}", "inputs")
    return x.astype(np.float32)


def _check_state(values: object, name: str, hidden_size: int, limits: RecurrentLimits,
                 why: str) -> np.ndarray:
    array = _numbers(values, name, 1, limits)
    if array.shape != (hidden_size,):
        raise InputError(f"{name} must be {_shape_text((hidden_size,))} ({why}: one per hidden "
                         f"unit), got {_shape_text(array.shape)}", name)
    return array.astype(np.float32)


# ---------------------------------------------------------------- weights

def random_weights(cell: str, input_size: int, hidden_size: int, seed: int
                   ) -> dict[str, np.ndarray]:
    """Weights as torch initializes a cell: every entry U(−1/√H, 1/√H), float32, in torch's names
    and layout (gate blocks stacked: LSTM i, f, g, o; GRU r, z, n). The same seed gives the same
    weights."""
    _check_cell(cell)
    rows = GATE_COUNT[cell] * hidden_size
    k = 1.0 / math.sqrt(hidden_size)
    rng = np.random.default_rng(seed)
    shapes = {"weight_ih": (rows, input_size), "weight_hh": (rows, hidden_size),
              "bias_ih": (rows,), "bias_hh": (rows,)}
    return {name: rng.uniform(-k, k, size=shape).astype(np.float32)
            for name, shape in shapes.items()}


# ---------------------------------------------------------------- the trace

@dataclass
class Step:
    """One time step t (counted from 1; h_0 and c_0 are the initial states)."""

    t: int
    x: np.ndarray  # (I,) float32
    h: np.ndarray  # (H,) the hidden state after this step
    c: np.ndarray | None  # (H,) LSTM only: the cell state after this step
    # LSTM: input, forget, cell (g, the candidate, in (−1, 1)), output; GRU: reset, update, new
    # (n, the candidate); None for the RNN
    gates: dict[str, np.ndarray] | None
    expression: str  # this step's equations with its numbers, one per line


@dataclass
class Trace:
    cell: str
    input_size: int
    hidden_size: int
    steps: list[Step]
    weights: dict[str, np.ndarray]


def _sigmoid(a: np.ndarray) -> np.ndarray:
    """σ in place on a float32 array (exp may overflow to inf for very negative inputs: σ is
    then exactly 0, as it should be)."""
    np.negative(a, out=a)
    np.exp(a, out=a)
    a += 1
    np.reciprocal(a, out=a)
    return a


def _run_rnn(x: np.ndarray, w: dict[str, np.ndarray], h0: np.ndarray) -> dict[str, np.ndarray]:
    t_len, hidden = len(x), len(h0)
    wx = x @ w["weight_ih"].T  # (T, H)
    gi = wx + w["bias_ih"]  # (T, H)
    whh_t, b_hh = w["weight_hh"].T, w["bias_hh"]
    wh = np.empty((t_len, hidden), np.float32)  # W_hh·h_{t−1}
    pre = np.empty((t_len, hidden), np.float32)
    h = np.empty((t_len + 1, hidden), np.float32)
    h[0] = h0
    for t in range(t_len):
        np.matmul(h[t], whh_t, out=wh[t])
        np.add(gi[t], wh[t] + b_hh, out=pre[t])  # torch's order: (W_ih x + b_ih) + (W_hh h + b_hh)
        np.tanh(pre[t], out=h[t + 1])
    return {"wx": wx, "wh": wh, "pre": pre, "h": h}


def _run_lstm(x: np.ndarray, w: dict[str, np.ndarray], h0: np.ndarray, c0: np.ndarray
              ) -> dict[str, np.ndarray]:
    t_len, hidden = len(x), len(h0)
    gi = x @ w["weight_ih"].T + w["bias_ih"]  # (T, 4H)
    whh_t, b_hh = w["weight_hh"].T, w["bias_hh"]
    pre = np.empty((t_len, 4 * hidden), np.float32)
    act = np.empty((t_len, 4 * hidden), np.float32)  # σ(i), σ(f), tanh(g), σ(o)
    h = np.empty((t_len + 1, hidden), np.float32)
    c = np.empty((t_len + 1, hidden), np.float32)
    tanh_c = np.empty((t_len, hidden), np.float32)
    h[0], c[0] = h0, c0
    g0, g1 = 2 * hidden, 3 * hidden
    with np.errstate(over="ignore"):
        for t in range(t_len):
            np.add(gi[t], h[t] @ whh_t + b_hh, out=pre[t])  # (4H,)
            a = act[t]
            a[:] = pre[t]
            _sigmoid(a)
            np.tanh(pre[t, g0:g1], out=a[g0:g1])
            i, f, g, o = a[:hidden], a[hidden:g0], a[g0:g1], a[g1:]
            np.add(f * c[t], i * g, out=c[t + 1])
            np.tanh(c[t + 1], out=tanh_c[t])
            np.multiply(o, tanh_c[t], out=h[t + 1])
    return {"pre": pre, "act": act, "h": h, "c": c, "tanh_c": tanh_c}


def _run_gru(x: np.ndarray, w: dict[str, np.ndarray], h0: np.ndarray) -> dict[str, np.ndarray]:
    t_len, hidden = len(x), len(h0)
    gi = x @ w["weight_ih"].T + w["bias_ih"]  # (T, 3H)
    whh_t, b_hh = w["weight_hh"].T, w["bias_hh"]
    gh = np.empty((t_len, 3 * hidden), np.float32)  # W_hh·h_{t−1} + b_hh
    pre = np.empty((t_len, 3 * hidden), np.float32)  # r, z, n before σ / tanh
    act = np.empty((t_len, 3 * hidden), np.float32)  # r, z, n
    h = np.empty((t_len + 1, hidden), np.float32)
    h[0] = h0
    h2 = 2 * hidden
    with np.errstate(over="ignore"):
        for t in range(t_len):
            np.add(h[t] @ whh_t, b_hh, out=gh[t])
            p, a = pre[t], act[t]
            np.add(gi[t, :h2], gh[t, :h2], out=p[:h2])
            a[:h2] = p[:h2]
            _sigmoid(a[:h2])
            r, z = a[:hidden], a[hidden:h2]
            np.add(gi[t, h2:], r * gh[t, h2:], out=p[h2:])
            n = np.tanh(p[h2:], out=a[h2:])
            np.add(n, z * (h[t] - n), out=h[t + 1])  # = (1 − z)⊙n + z⊙h, as torch writes it
    return {"gi": gi, "gh": gh, "pre": pre, "act": act, "h": h}


@lru_cache(maxsize=64)
def _template(cell: str, shown: int, more: bool) -> str:
    """The step's equations with a `%.3f` per number shown and {t}, {p} for the step's index
    and the one before; `more` adds "…" to vectors cut short."""
    v = "[" + ", ".join(["%.3f"] * shown) + (", …]" if more else "]")
    if cell == "rnn":
        return (f"h_{{t}} = tanh(W_ih·x_{{t}} + b_ih + W_hh·h_{{p}} + b_hh) = "
                f"tanh({v} + {v} + {v} + {v}) = tanh({v}) = {v}")

    def gate(name: str, key: str, fn: str) -> str:
        return (f"{name}_{{t}} = {fn}(W_i{key}·x_{{t}} + b_i{key} + W_h{key}·h_{{p}} + b_h{key}) "
                f"= {fn}({v}) = {v}")

    if cell == "lstm":
        return "\n".join([
            gate("i", "i", "σ"), gate("f", "f", "σ"), gate("g", "g", "tanh"), gate("o", "o", "σ"),
            f"c_{{t}} = f_{{t}}⊙c_{{p}} + i_{{t}}⊙g_{{t}} = {v}⊙{v} + {v}⊙{v} = {v}",
            f"h_{{t}} = o_{{t}}⊙tanh(c_{{t}}) = {v}⊙{v} = {v}",
        ])
    return "\n".join([
        gate("r", "r", "σ"), gate("z", "z", "σ"),
        f"n_{{t}} = tanh(W_in·x_{{t}} + b_in + r_{{t}}⊙(W_hn·h_{{p}} + b_hn)) = "
        f"tanh({v} + {v}⊙{v}) = tanh({v}) = {v}",
        f"h_{{t}} = (1−z_{{t}})⊙n_{{t}} + z_{{t}}⊙h_{{p}} = (1−{v})⊙{v} + {v}⊙{v} = {v}",
    ])


def _expressions(cell: str, hidden: int, columns: list[np.ndarray]) -> list[str]:
    """One expression per step: `columns` are the (T, H) or (H,) vectors in the template's order;
    all numbers of all steps are cut and stacked, then formatted in one go."""
    shown = hidden if hidden <= 8 else 4
    template = _template(cell, shown, hidden > shown)
    t_len = max(len(col) for col in columns if col.ndim == 2)
    cut = [np.broadcast_to(col[..., :shown], (t_len, shown)) for col in columns]
    numbers = np.concatenate(cut, axis=1).ravel().tolist()
    # one `%` over every step at once (the per-call cost dominates a per-step `%`)
    text = "\x00".join(template.replace("{t}", str(t)).replace("{p}", str(t - 1))
                        for t in range(1, t_len + 1)) % tuple(numbers)
    return text.replace("-0.000", "0.000").replace("-", "−").split("\x00")


def trace(cell: str, inputs: object, *, hidden_size: int, weights: Mapping | None = None,
          h0: object = None, c0: object = None, seed: int = 0, limits: RecurrentLimits) -> Trace:
    """Runs `cell` over `inputs` (T × I, I the length of each row) one step at a time, in
    float32, from h0 (and c0 for an LSTM; zeros when omitted), and keeps every step's state,
    gates and equations. Weights omitted: `random_weights(cell, I, hidden_size, seed)`."""
    _check_cell(cell)
    x = check_inputs(inputs, limits=limits)  # (T, I)
    input_size = x.shape[1]
    check_sizes(cell, input_size, hidden_size, limits=limits)
    if weights is None:
        _check_seed(seed)
        w = random_weights(cell, input_size, hidden_size, seed)
    else:
        w = check_weights(cell, input_size, hidden_size, weights, limits=limits)
    h_start = (np.zeros(hidden_size, np.float32) if h0 is None
               else _check_state(h0, "h0", hidden_size, limits, "the initial hidden state"))
    if c0 is not None and cell != "lstm":
        raise InputError(f"c0 (the initial cell state) is for an LSTM only: a {_CELL_NAME[cell]} "
                         "has no cell state", "c0")
    c_start = (np.zeros(hidden_size, np.float32) if c0 is None
               else _check_state(c0, "c0", hidden_size, limits, "the initial cell state"))

    hid = hidden_size
    if cell == "rnn":
        r = _run_rnn(x, w, h_start)
        h = r["h"]
        texts = _expressions(cell, hid, [r["wx"], w["bias_ih"], r["wh"], w["bias_hh"], r["pre"],
                                         h[1:]])
        steps = [Step(t=t + 1, x=x[t], h=h[t + 1], c=None, gates=None, expression=texts[t])
                 for t in range(len(x))]
    elif cell == "lstm":
        r = _run_lstm(x, w, h_start, c_start)
        pre, act, h, c = r["pre"], r["act"], r["h"], r["c"]
        i, f, g, o = (act[:, k * hid:(k + 1) * hid] for k in range(4))
        texts = _expressions(cell, hid, [
            pre[:, :hid], i, pre[:, hid:2 * hid], f, pre[:, 2 * hid:3 * hid], g,
            pre[:, 3 * hid:], o, f, c[:-1], i, g, c[1:], o, r["tanh_c"], h[1:]])
        steps = [Step(t=t + 1, x=x[t], h=h[t + 1], c=c[t + 1],
                      gates={"input": i[t], "forget": f[t], "cell": g[t], "output": o[t]},
                      expression=texts[t])
                 for t in range(len(x))]
    else:
        r = _run_gru(x, w, h_start)
        gi, gh, pre, act, h = r["gi"], r["gh"], r["pre"], r["act"], r["h"]
        rg, z, n = (act[:, k * hid:(k + 1) * hid] for k in range(3))
        texts = _expressions(cell, hid, [
            pre[:, :hid], rg, pre[:, hid:2 * hid], z,
            gi[:, 2 * hid:], rg, gh[:, 2 * hid:], pre[:, 2 * hid:], n,
            z, n, z, h[:-1], h[1:]])
        steps = [Step(t=t + 1, x=x[t], h=h[t + 1], c=None,
                      gates={"reset": rg[t], "update": z[t], "new": n[t]}, expression=texts[t])
                 for t in range(len(x))]
    return Trace(cell=cell, input_size=input_size, hidden_size=hidden_size, steps=steps,
                 weights=w)


# ---------------------------------------------------------------- gradient flow

@dataclass
class Flow:
    lags: list[int]  # 0 .. T−1: how many steps before the last one the input came
    norms: list[float | None]  # ‖∂(Σ_j h_T[j]) / ∂x_t‖₂ for t = T−1−lag; None: not finite
    inputs: np.ndarray  # (T, input_size) float64, the sequence it ran on
    weights: dict[str, np.ndarray]  # float32, weight_hh already scaled


def gradient_flow(cell: str, *, hidden_size: int, length: int, seed: int = 0,
                  weight_scale: float = 1.0, forget_bias: float = 0.0, input_size: int = 4,
                  limits: RecurrentLimits) -> Flow:
    """How strongly the last hidden state h_T depends on each input x_t: the norm of
    ∂(Σ_j h_T[j]) / ∂x_t for every t, by lag T−1−t, from one backward pass in float64.

    The inputs are N(0, 1) draws and the weights `random_weights(seed)`, with weight_hh (the
    recurrent weights) multiplied by `weight_scale`: that scale decides whether the gradient
    vanishes (small: the norms fall geometrically with the lag) or explodes (large: they grow,
    until tanh saturates).

    An LSTM's cell state is a sum, c_t = f_t⊙c_{t−1} + i_t⊙g_t, so along it the gradient is
    multiplied by the forget gate f_t at each step and by no weight matrix: `forget_bias`,
    added to the LSTM's forget-gate bias, opens that gate (σ(3) ≈ 0.95, and 0.95 per step
    keeps a gradient alive over many more steps than an RNN's product of W_hh and tanh′). At 0
    (torch's start) f ≈ σ(0) = ½ and the LSTM forgets nearly as fast as the RNN: the gate is
    what training learns to open."""
    _check_cell(cell)
    _check_int(hidden_size, "hidden_size", 1, limits.flow_hidden)
    _check_int(length, "length", 1, limits.flow_length, " (time steps)")
    _check_int(input_size, "input_size", 1, limits.input_size)
    _check_seed(seed)
    if not (isinstance(weight_scale, int | float) and math.isfinite(weight_scale)
            and 0 < weight_scale <= limits.weight_scale):
        raise InputError(f"weight_scale must be above 0 and at most {limits.weight_scale:g}, got "
                         f"{weight_scale}", "weight_scale")
    if not (isinstance(forget_bias, int | float) and abs(forget_bias) <= 10):
        raise InputError(f"forget_bias must be from −10 to 10, got {forget_bias}", "forget_bias")
    w = random_weights(cell, input_size, hidden_size, seed)
    w["weight_hh"] = (w["weight_hh"] * np.float32(weight_scale)).astype(np.float32)
    if cell == "lstm":  # gates i, f, g, o: the second block of rows is the forget gate's
        w["bias_ih"][hidden_size:2 * hidden_size] += np.float32(forget_bias)
    inputs = np.random.default_rng([seed, 1]).standard_normal((length, input_size))

    # torch's own layer (its fused loop, far faster than stepping cells in Python), built
    # without an init (on the meta device: the global generator is left alone), given our
    # weights
    layer = _LAYERS[cell](input_size, hidden_size, device="meta", dtype=torch.float64)
    layer = layer.to_empty(device="cpu")
    with torch.no_grad():
        for name, value in w.items():
            getattr(layer, f"{name}_l0").copy_(torch.from_numpy(value))
    layer.requires_grad_(False)  # only ∂/∂x is wanted
    with torch.enable_grad():
        x = torch.from_numpy(inputs.copy()).requires_grad_(True)  # (T, I)
        out, _ = layer(x[:, None])  # (T, 1, H): every step, from h0 = 0
        (grad,) = torch.autograd.grad(out[-1, 0].sum(), x)  # (T, I), one backward pass
    norms = grad.norm(dim=1).flip(0).tolist()  # lag 0 first
    return Flow(lags=list(range(length)),
                norms=[v if math.isfinite(v) else None for v in norms],
                inputs=inputs, weights=w)


# ---------------------------------------------------------------- the memory task

@dataclass(frozen=True)
class MemoryConfig:
    """The memory task: a sequence of delay + 2 one-hot steps (size symbols + 2): one of
    `symbols` symbols, `delay` blank steps, then a recall marker; at the last step a linear head
    must name the first symbol. Each (cell, delay) pair trains from scratch with Adam and
    gradient clipping; the same hidden size, steps and optimizer for every cell."""

    task: str = "memory"  # what a run's config says it trains (the job runner reads it)
    cells: tuple[str, ...] = ("rnn", "lstm")
    delays: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    hidden_size: int = 16
    symbols: int = 4
    steps: int = 2000  # training steps per (cell, delay), at most
    batch_size: int = 64
    learning_rate: float = 0.003
    # the LSTM's forget-gate bias at the start: σ(3) ≈ 0.95 keeps the cell state open, the
    # usual way to start an LSTM on long lags (Gers et al. 2000 open it; Keras starts at 1); at
    # torch's 0 the cell forgets half of its state a step and learns no delay beyond ~16 here
    forget_bias: float = 3.0
    seed: int = 0
    max_seconds: float = 600.0  # the whole sweep, pauses excluded
    progress_every: float = 0.25  # seconds between "memory" events

    def validate(self, limits: RecurrentLimits) -> None:
        if (not isinstance(self.cells, tuple | list) or not self.cells
                or len(set(self.cells)) != len(self.cells)):
            raise InputError(f"cells must be one or more of {', '.join(CELLS)}, each once, got "
                             f"{self.cells!r}", "cells")
        for cell in self.cells:
            if cell not in CELLS:
                raise InputError(f"cells must be chosen from {', '.join(CELLS)}, got {cell!r}",
                                 "cells")
        if (not isinstance(self.delays, tuple | list) or not self.delays
                or len(set(self.delays)) != len(self.delays)):
            raise InputError(f"delays must be one or more whole numbers from 1 to "
                             f"{limits.memory_delay}, each once, got {self.delays!r}", "delays")
        for delay in self.delays:
            if not _is_int(delay) or not 1 <= delay <= limits.memory_delay:
                raise InputError(f"delays must be whole numbers from 1 to {limits.memory_delay} "
                                 f"(blank steps between the symbol and the recall), got "
                                 f"{delay!r}", "delays")
        _check_int(self.hidden_size, "hidden_size", 1, limits.memory_hidden)
        _check_int(self.symbols, "symbols", 2, limits.input_size - 2,
                   " (a step is one-hot over the symbols, blank and recall)")
        _check_int(self.steps, "steps", 1, limits.memory_steps, " (training steps per pair)")
        _check_int(self.batch_size, "batch_size", 1, limits.memory_batch)
        check_optimizer(None, self.learning_rate, limits.memory_learning_rate,
                        "0.001 to 0.01 for Adam")
        if not (isinstance(self.forget_bias, int | float) and abs(self.forget_bias) <= 10):
            raise InputError(f"forget_bias must be from −10 to 10 (σ(10) ≈ 0.99995), got "
                             f"{self.forget_bias}", "forget_bias")
        _check_seed(self.seed)
        if not (isinstance(self.max_seconds, int | float) and self.max_seconds > 0):
            raise InputError(f"max_seconds must be above 0, got {self.max_seconds}",
                             "max_seconds")
        if not (isinstance(self.progress_every, int | float)
                and 0 <= self.progress_every < math.inf):
            raise InputError(f"progress_every must be 0 seconds or more, got "
                             f"{self.progress_every}", "progress_every")


@dataclass
class MemoryResult:
    reason: str  # "completed", "stopped", "time limit"
    metrics: dict = field(default_factory=dict)


LEARNED = 0.9  # held-out accuracy at which a pair counts as learned
_EARLY_ACCURACY = 0.98  # running accuracy that, held for _EARLY_STEPS steps, ends a pair early
_EARLY_STEPS = 20
_EVAL_BATCH = 512
_CLIP = 1.0  # gradient norm clipping


class MemoryNet(nn.Module):
    """A one-layer recurrent cell and a linear head that reads its last hidden state."""

    def __init__(self, cell: str, symbols: int, hidden_size: int, generator: torch.Generator, *,
                 forget_bias: float = 0.0) -> None:
        super().__init__()
        self.rnn = _LAYERS[cell](symbols + 2, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, symbols)
        # torch's default ranges, drawn from our generator so a seed gives the same net every
        # time (and the global generator is left alone)
        k = 1.0 / math.sqrt(hidden_size)
        with torch.no_grad():
            for p in self.parameters():
                p.uniform_(-k, k, generator=generator)
            if cell == "lstm":
                # the forget gate biased open, so the cell state keeps what it holds until it
                # learns otherwise (torch's two biases add up: one carries it)
                self.rnn.bias_ih_l0[hidden_size:2 * hidden_size] = forget_bias
                self.rnn.bias_hh_l0[hidden_size:2 * hidden_size] = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)  # (B, L, H)
        return self.head(out[:, -1])  # (B, symbols)


def memory_batch(n: int, delay: int, symbols: int, generator: torch.Generator
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """n sequences of delay + 2 one-hot steps (symbols + 2 wide: the symbols, blank, recall) and
    their targets, the first step's symbol."""
    y = torch.randint(symbols, (n,), generator=generator)  # (n,)
    x = torch.zeros(n, delay + 2, symbols + 2)  # (n, L, S + 2)
    x[torch.arange(n), 0, y] = 1.0
    x[:, 1:delay + 1, symbols] = 1.0  # blank
    x[:, delay + 1, symbols + 1] = 1.0  # recall
    return x, y


def _pair_seed(seed: int, *parts: int) -> int:
    return int(np.random.SeedSequence([seed, *parts]).generate_state(1)[0])


def _memory_event(cell: str, delay: int, step: int, window: list) -> dict:
    """The running loss and accuracy since the last event; empties the window."""
    event = {"type": "memory", "cell": cell, "delay": delay, "step": step,
             "loss": window[0] / window[2], "accuracy": window[1] / window[2]}
    window[:] = [0.0, 0, 0]
    return event


def train_memory(config: MemoryConfig, emit: Emit, should_stop: ShouldStop, *,
                 limits: RecurrentLimits) -> MemoryResult:
    """Trains every (cell, delay) pair of `config` from scratch on the memory task and reports
    each pair's held-out accuracy. Events: "start", "memory" (running loss and accuracy, at most
    every progress_every seconds), "memory_result" per pair, "done"."""
    config.validate(limits)
    chance = 1.0 / config.symbols
    pairs = [(cell, delay) for cell in config.cells for delay in config.delays]
    emit({"type": "start", "config": asdict(config), "chance": chance,
          "pairs": [list(p) for p in pairs], "learned_at": LEARNED})
    clock = RunClock(config.max_seconds)
    reason = "completed"
    results: list[dict] = []

    for cell, delay in pairs:
        # the data depend on the delay only, so every cell sees the same sequences
        data = torch.Generator().manual_seed(_pair_seed(config.seed, delay, 0))
        init = torch.Generator().manual_seed(_pair_seed(config.seed, delay, 1 + CELLS.index(cell)))
        model = MemoryNet(cell, config.symbols, config.hidden_size, init,
                          forget_bias=config.forget_bias)
        optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
        window = [0.0, 0, 0]  # loss × n, correct, n since the last "memory" event
        last_progress = time.perf_counter()
        streak, step = 0, 0
        model.train()
        while step < config.steps:
            x, y = memory_batch(config.batch_size, delay, config.symbols, data)
            logits = model(x)  # (B, symbols)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), _CLIP)
            optimizer.step()
            step += 1
            correct = int((logits.argmax(dim=1) == y).sum())
            window[0] += loss.item() * len(y)
            window[1] += correct
            window[2] += len(y)
            streak = streak + 1 if correct >= _EARLY_ACCURACY * len(y) else 0
            if time.perf_counter() - last_progress >= config.progress_every:
                emit(_memory_event(cell, delay, step, window))
                last_progress = time.perf_counter()
            if streak >= _EARLY_STEPS:
                break  # learned: the rest of the steps would only confirm it
            ended = clock.stop_reason(should_stop)
            if ended:
                reason = ended
                break
        if window[2]:
            emit(_memory_event(cell, delay, step, window))  # every pair ends on a point
        if reason == "stopped":
            break
        held_out = torch.Generator().manual_seed(_pair_seed(config.seed, delay, 99))
        x, y = memory_batch(_EVAL_BATCH, delay, config.symbols, held_out)
        model.eval()
        with torch.no_grad():
            logits = model(x)
        accuracy = float((logits.argmax(dim=1) == y).float().mean())
        result = {"cell": cell, "delay": delay, "accuracy": accuracy,
                  "learned": accuracy >= LEARNED, "steps": step,
                  "loss": float(F.cross_entropy(logits, y))}
        results.append(result)
        emit({"type": "memory_result", **result})
        if reason != "completed":
            break

    longest = {cell: max((r["delay"] for r in results if r["cell"] == cell and r["learned"]),
                         default=0)
               for cell in config.cells}
    metrics = {"longest": longest, "results": results, "chance": chance,
               "elapsed_s": clock.busy()}
    emit({"type": "done", "reason": reason, "metrics": metrics})
    return MemoryResult(reason=reason, metrics=metrics)

