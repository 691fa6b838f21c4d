"""CNN architectures as plain data: a list of layer dicts becomes an `nn.Sequential`.

An architecture is JSON-friendly, e.g. `[{"type": "conv2d", "out_channels": 8}, {"type": "relu"},
{"type": "flatten"}, {"type": "linear", "out_features": 10}]`. `normalize` checks it and fills the
defaults, `table` walks it computing every layer's output shape and parameter count (with the
arithmetic written out) exactly as torch would, and stops with an `InputError` at the first layer
that cannot run, before any training; `build` turns it into the module.

Shapes are per example, without the batch: `(C, H, W)` for images, `(F,)` once flattened.
"""

from __future__ import annotations

import copy
import io
import math
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn

from app.core.errors import InputError
from app.core.shapes import output_size


@dataclass(frozen=True)
class NetLimits:
    """Bounds on an architecture (the values live in app.settings.LIMITS.nets). `params` and
    `layer_values` keep a network trainable on a laptop's CPU: its weights, and the values one
    layer holds per example (times the batch, and kept for the backward pass, they decide the
    memory a run needs). Each layer setting's own range is the layer kind's data (LAYER_TYPES)."""

    layers: int
    params: int  # weights and biases of the whole network
    layer_values: int  # numbers in one layer's output, per example
    classes: int
    input_channels: int
    input_side: int  # px, the input's longer side


# ---------------------------------------------------------------- layer kinds


@dataclass(frozen=True)
class Setting:
    """One setting of a layer kind: its type, allowed range and default (for the editor and
    validation). `nullable` settings also take None, whose meaning `help` explains."""

    name: str
    kind: type  # int or float
    low: float
    high: float
    default: int | float | None
    help: str
    nullable: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind.__name__, "min": self.low, "max": self.high,
                "default": self.default, "nullable": self.nullable, "help": self.help}


@dataclass(frozen=True)
class LayerKind:
    """A type of layer: the name used in the spec, its title and one-line explanation for the
    page, and its settings."""

    name: str
    title: str
    explanation: str
    settings: tuple[Setting, ...] = field(default_factory=tuple)

    def setting(self, name: str) -> Setting | None:
        return next((s for s in self.settings if s.name == name), None)

    def defaults(self) -> dict[str, Any]:
        return {s.name: s.default for s in self.settings}

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.name, "title": self.title, "explanation": self.explanation,
                "settings": [s.as_dict() for s in self.settings]}


def _pool_settings() -> tuple[Setting, ...]:
    return (
        Setting("kernel_size", int, 1, 8, 2, "side of the square window"),
        Setting("stride", int, 1, 8, None, "step between windows; empty: the window's side, "
                "so windows do not overlap", nullable=True),
        Setting("padding", int, 0, 4, 0, "cells added on each side (a max-pool's count as −∞, "
                "an average's as 0); at most half the window"),
    )


LAYER_TYPES: dict[str, LayerKind] = {k.name: k for k in (
    LayerKind("conv2d", "Conv2d",
              "Slides out_channels learned k×k filters over all input channels; each output "
              "channel is one filter's response map (plus a bias).",
              (Setting("out_channels", int, 1, 512, 8, "number of filters (output channels)"),
               Setting("kernel_size", int, 1, 11, 3, "side of the square filter"),
               Setting("stride", int, 1, 4, 1, "step between filter positions"),
               Setting("padding", int, 0, 5, 0, "zeros added on each side of the input"),
               Setting("bias", int, 0, 1, 1, "1: a learned bias per filter; 0: none (a batch "
                       "norm right after has its own shift, so ResNet's convolutions have "
                       "none)"))),
    LayerKind("residual", "Residual block",
              "Two 3×3 convolutions with a ReLU between, and the block's input added to their "
              "output before a last ReLU: y = ReLU(F(x) + x). The added x is the skip "
              "connection: the gradient reaches earlier layers through it undiminished. When "
              "the block changes the channels or the size, x first goes through a 1×1 "
              "convolution with the block's stride (the projection). ResNet's basic block.",
              (Setting("out_channels", int, 1, 512, 16, "filters of both convolutions"),
               Setting("stride", int, 1, 2, 1, "the first convolution's (and the "
                       "projection's) step: 2 halves the map"),
               Setting("batchnorm", int, 0, 1, 1, "1: a batch norm after each convolution "
                       "(the convolutions then have no bias), as in ResNet; 0: none"))),
    LayerKind("batchnorm2d", "BatchNorm2d",
              "Normalizes each channel to mean 0 and variance 1 over the batch, then scales and "
              "shifts it by a learned γ and β; steadies and speeds up training."),
    LayerKind("relu", "ReLU", "max(0, x) element by element: keeps positives, zeroes negatives."),
    LayerKind("leakyrelu", "LeakyReLU",
              "x for positives, negative_slope·x for negatives, so negative inputs still pass "
              "a small gradient.",
              (Setting("negative_slope", float, 0.0, 1.0, 0.01, "slope for negative inputs"),)),
    LayerKind("tanh", "Tanh", "Squashes each value into (−1, 1); zero-centred, saturates at the "
              "ends."),
    LayerKind("sigmoid", "Sigmoid", "Squashes each value into (0, 1): 1 / (1 + e^−x)."),
    LayerKind("maxpool2d", "MaxPool2d",
              "Keeps the largest value of each k×k window, per channel: shrinks the map and "
              "tolerates small shifts. No parameters.", _pool_settings()),
    LayerKind("avgpool2d", "AvgPool2d",
              "Averages each k×k window, per channel: shrinks the map smoothly. No parameters.",
              _pool_settings()),
    LayerKind("dropout", "Dropout",
              "While training, zeroes each value with probability p (and scales the rest by "
              "1/(1 − p)) so the net cannot rely on any one unit; does nothing at test time.",
              (Setting("p", float, 0.0, 0.9, 0.5, "probability of zeroing a value"),)),
    LayerKind("globalavgpool", "Global average pool",
              "Averages each channel's whole map to one number: a C×H×W block becomes C "
              "numbers, whatever H and W. ResNet ends this way instead of flattening into a "
              "huge Linear layer. No parameters."),
    LayerKind("flatten", "Flatten",
              "Lays the C×H×W block out as one vector of C·H·W numbers, the input a Linear "
              "layer needs."),
    LayerKind("linear", "Linear",
              "Dense (fully connected) layer: every output is a weighted sum of all inputs plus a "
              "bias.",
              (Setting("out_features", int, 1, 4096, 10, "number of outputs"),)),
    LayerKind("batchnorm1d", "BatchNorm1d",
              "Normalizes each feature of a flat vector over the batch, then scales and shifts "
              "it by a learned γ and β."),
)}

_SPATIAL = ("conv2d", "maxpool2d", "avgpool2d", "batchnorm2d", "residual", "globalavgpool")


# ---------------------------------------------------------------- normalize


def normalize(layers: object, *, limits: NetLimits) -> list[dict]:
    """Checks an architecture's layer types and settings and fills in the defaults.

    Returns a new list of `{"type": ..., **settings}` with every setting present (a pool's
    `stride` stays None when it means "same as kernel_size"). Shapes are not checked here:
    that needs the input, see `table`.
    """
    return [_normalize_layer(spec, i) for i, spec in enumerate(_check_list(layers, limits))]


def _check_list(layers: object, limits: NetLimits) -> list | tuple:
    layers = _as_list(layers)
    if len(layers) > limits.layers:
        raise InputError(f"at most {limits.layers} layers, got {len(layers)}: remove some",
                         "layers")
    return layers


def _as_list(layers: object) -> list | tuple:
    if not isinstance(layers, (list, tuple)):
        raise InputError("layers must be a list of layers, each like {\"type\": \"relu\"}",
                         "layers")
    if not layers:
        raise InputError("the network has no layers: add at least one (e.g. Flatten and Linear)",
                         "layers")
    return layers


def _normalize_layer(spec: object, i: int) -> dict:
    where = f"layers.{i}"
    if not isinstance(spec, dict):
        raise InputError(f"each layer must be an object like {{\"type\": \"relu\"}}, "
                         f"got {type(spec).__name__}", where)
    kind_name = spec.get("type")
    kind = LAYER_TYPES.get(kind_name) if isinstance(kind_name, str) else None
    if kind is None:
        got = "nothing" if kind_name is None else repr(kind_name)
        raise InputError(f"unknown layer type {got}; use one of {', '.join(LAYER_TYPES)}",
                         f"{where}.type")
    out: dict[str, Any] = {"type": kind.name}
    for name in spec:
        if name != "type" and kind.setting(name) is None:
            allowed = ", ".join(s.name for s in kind.settings)
            has = f"its settings are {allowed}" if allowed else "it takes no settings"
            raise InputError(f"{kind.title} has no setting {name!r}: {has}", f"{where}.{name}")
    for s in kind.settings:
        out[s.name] = _check_setting(kind, s, spec.get(s.name, s.default), f"{where}.{s.name}")
    return out


def _check_setting(kind: LayerKind, s: Setting, value: object, where: str) -> int | float | None:
    if value is None:
        if s.nullable:
            return None
        raise InputError(f"{kind.title} needs a value for {s.name}", where)
    span = f"{s.low:g} to {s.high:g}"
    if s.kind is int:
        # Bools are ints in Python but never what the editor means; 3.0 from JSON is fine.
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                isinstance(value, int) or (math.isfinite(value) and value.is_integer())):
            raise InputError(f"{kind.title} {s.name} must be a whole number {span}, "
                             f"got {value!r}", where)
        value = int(value)
    else:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
                value):
            raise InputError(f"{kind.title} {s.name} must be a number {span}, got {value!r}",
                             where)
        value = float(value)
    if not s.low <= value <= s.high:
        raise InputError(f"{kind.title} {s.name} must be {span}, got {value:g}", where)
    return value


# ---------------------------------------------------------------- table


@dataclass(frozen=True)
class LayerRow:
    """One layer of the table. `output_shape` is per example, without the batch."""

    index: int
    type: str
    label: str  # "Conv2d 1→6, 5×5"
    output_shape: tuple[int, ...]
    params: int
    formula: str  # "(5·5·3 + 1)·6 = 456"; "0" for a layer without parameters
    shape_formula: str  # "⌊(28 + 2·0 − 5) / 1⌋ + 1 = 24" for conv/pool, "16·5·5 = 400" for flatten
    parts: tuple[LayerRow, ...] = ()  # a residual block's inside, each part a row of its own


@dataclass(frozen=True)
class ArchitectureTable:
    input_shape: tuple[int, int, int]
    rows: list[LayerRow]
    total_params: int
    num_classes: int


def num(n: int) -> str:
    """An integer as the table writes it: thousands separated by commas, `48,120`."""
    return f"{n:,}".replace("-", "−")


def shape_text(shape: tuple[int, ...]) -> str:
    """`16×5×5`, or `400` for a flat shape."""
    return "×".join(str(d) for d in shape)


def _window(h: int, w: int, k: int, s: int, p: int | None) -> tuple[int, int, str]:
    """Output height and width of a k×k window sliding with stride s (padding p, None for a
    pool, which has none here), and how they came out."""
    oh, ow = (output_size(n, k, stride=s, padding=p, dilation=None) for n in (h, w))
    text = oh.formula if h == w else f"height {oh.formula}; width {ow.formula}"
    return oh.size, ow.size, text


def _check_shape(input_shape: object, limits: NetLimits) -> tuple[int, int, int]:
    ok = (isinstance(input_shape, (tuple, list)) and len(input_shape) == 3
          and all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in input_shape))
    if not ok:
        raise InputError(f"input_shape must be (channels, height, width) of positive whole "
                         f"numbers, got {input_shape!r}", "input_shape")
    c, h, w = input_shape
    if c > limits.input_channels or max(h, w) > limits.input_side:
        raise InputError(f"input_shape must have at most {limits.input_channels} channels and "
                         f"{limits.input_side} px a side, got {c}×{h}×{w}", "input_shape")
    return c, h, w


def _check_classes(num_classes: object, limits: NetLimits) -> int:
    if (isinstance(num_classes, bool) or not isinstance(num_classes, int)
            or not 2 <= num_classes <= limits.classes):
        raise InputError(f"num_classes must be a whole number 2 to {limits.classes}, "
                         f"got {num_classes!r}", "num_classes")
    return num_classes


def walk(layers: object, input_shape: tuple[int, int, int], *, limits: NetLimits
         ) -> tuple[list[LayerRow], InputError | None]:
    """The rows of the layers that run, in order, and the problem at the first one that does not
    (None when all run). For an editor that shows the table as far as it goes; the network's
    output size is not checked (that needs the class count, see `table`). A bad `input_shape`
    raises: it comes from the dataset, not from the layers."""
    shape: tuple[int, ...] = _check_shape(input_shape, limits)
    try:
        specs = _check_list(layers, limits)
    except InputError as exc:
        return [], exc
    rows: list[LayerRow] = []
    total = 0
    for i, spec in enumerate(specs):
        try:
            row = _row(i, _normalize_layer(spec, i), shape)
            total += row.params
            _check_size(i, row, total, limits)
        except InputError as exc:
            return rows, exc
        rows.append(row)
        shape = row.output_shape
    return rows, None


def _check_size(i: int, row: LayerRow, total: int, limits: NetLimits) -> None:
    if total > limits.params:
        raise InputError(f"the network would have {num(total)} parameters by this layer, more "
                         f"than the {num(limits.params)} a laptop trains in reasonable time: use "
                         f"fewer channels or features, or pool before flattening", f"layers.{i}")
    values = math.prod(row.output_shape)
    if values > limits.layer_values:
        raise InputError(f"this layer's output, {shape_text(row.output_shape)}, holds "
                         f"{num(values)} values per image, more than {num(limits.layer_values)}: "
                         f"use fewer channels, a stride, or pool earlier", f"layers.{i}")


def table(layers: object, input_shape: tuple[int, int, int], num_classes: int, *,
          limits: NetLimits) -> ArchitectureTable:
    """Every layer's output shape and parameter count, computed as torch computes them.

    Raises InputError at the first layer that cannot run on its input (field `layers.i` or
    `layers.i.<setting>`), and with field `layers` when the network's output is not one number
    per class.
    """
    k = _check_classes(num_classes, limits)
    rows, problem = walk(layers, input_shape, limits=limits)
    if problem is not None:
        raise problem
    shape = rows[-1].output_shape
    if shape != (k,):
        n = math.prod(shape)
        if len(shape) == 3:
            what = f" (a block of {shape_text(shape)})"
            todo = f"end with Flatten and a Linear layer with out_features = {k}"
        elif rows[-1].type == "linear":
            what, todo = "", f"set the last Linear layer's out_features to {k}"
        else:
            what, todo = "", f"end with a Linear layer with out_features = {k}"
        raise InputError(f"the last layer gives {num(n)} numbers per image{what} but the dataset "
                         f"has {k} classes: {todo}", "layers")
    return ArchitectureTable(input_shape=_check_shape(input_shape, limits), rows=rows,
                             total_params=sum(r.params for r in rows), num_classes=k)


def _row(i: int, spec: dict, shape: tuple[int, ...]) -> LayerRow:
    """One layer applied to a per-example input `shape`; InputError when it cannot run."""
    t = spec["type"]
    kind = LAYER_TYPES[t]
    where = f"layers.{i}"
    if t in _SPATIAL and len(shape) != 3:
        raise InputError(f"{kind.title} works on images (channels × height × width), but its "
                         f"input was flattened to {num(shape[0])} numbers: move it before the "
                         f"Flatten layer", where)
    if t in ("linear", "batchnorm1d") and len(shape) != 1:
        other = "" if t == "linear" else ", or use BatchNorm2d here"
        raise InputError(f"{kind.title} needs a flat input, but it gets a {shape_text(shape)} "
                         f"block: add a Flatten layer before it{other}", where)

    def row(label: str, out: tuple[int, ...], params: int = 0, formula: str = "0",
            shape_formula: str = "") -> LayerRow:
        return LayerRow(i, t, label, out, params, formula, shape_formula)

    if t == "conv2d":
        c, h, w = shape
        oc, ks, s, p = spec["out_channels"], spec["kernel_size"], spec["stride"], spec["padding"]
        if min(h, w) + 2 * p < ks:
            padded = f" padded by {p} on each side ({h + 2 * p}×{w + 2 * p})" if p else ""
            raise InputError(f"Conv2d's {ks}×{ks} window is larger than its {h}×{w} input"
                             f"{padded}: use kernel_size ≤ {min(h, w) + 2 * p}, more padding, or "
                             f"fewer pooling layers (or strides) before it", f"{where}.kernel_size")
        oh, ow, how = _window(h, w, ks, s, p)
        label = f"Conv2d {c}→{oc}, {ks}×{ks}"
        label += f", stride {s}" if s != 1 else ""
        label += f", pad {p}" if p else ""
        if spec.get("bias", 1):
            params = (ks * ks * c + 1) * oc
            formula = f"({ks}·{ks}·{c} + 1)·{oc} = {num(params)}"
        else:
            params = ks * ks * c * oc
            formula = f"{ks}·{ks}·{c}·{oc} = {num(params)}"
            label += ", no bias"
        return row(label, (oc, oh, ow), params, formula, how)
    if t in ("maxpool2d", "avgpool2d"):
        c, h, w = shape
        ks, p = spec["kernel_size"], spec.get("padding", 0)
        s = spec["stride"] or ks
        if 2 * p > ks:
            raise InputError(f"{kind.title}'s padding must be at most half its window: "
                             f"≤ {ks // 2} for a {ks}×{ks} window, got {p}", f"{where}.padding")
        if min(h, w) + 2 * p < ks:
            raise InputError(f"{kind.title}'s {ks}×{ks} window is larger than its {h}×{w} "
                             f"input: use kernel_size ≤ {min(h, w)}, or remove a pooling layer "
                             f"(or a stride) before it", f"{where}.kernel_size")
        oh, ow, how = _window(h, w, ks, s, p or None)
        name = "MaxPool" if t == "maxpool2d" else "AvgPool"
        return row(f"{name} {ks}×{ks}, stride {s}" + (f", pad {p}" if p else ""), (c, oh, ow),
                   shape_formula=how)
    if t == "residual":
        return _residual_row(i, spec, shape)
    if t == "globalavgpool":
        c, h, w = shape
        return row(f"Global average pool {h}×{w} → 1", (c,),
                   shape_formula=f"{c}×{h}×{w} → {c} (one mean per channel)")
    if t in ("batchnorm2d", "batchnorm1d"):
        c = shape[0]
        return row(f"{kind.title} ({num(c)})", shape, 2 * c, f"2·{num(c)} = {num(2 * c)}")
    if t == "linear":
        f_in, f_out = shape[0], spec["out_features"]
        params = (f_in + 1) * f_out
        return row(f"Linear {num(f_in)}→{num(f_out)}", (f_out,), params,
                   f"({num(f_in)} + 1)·{num(f_out)} = {num(params)}")
    if t == "flatten":
        n = math.prod(shape)
        if len(shape) == 1:
            return row("Flatten (already flat)", shape)
        return row(f"Flatten {shape_text(shape)} → {num(n)}", (n,),
                   shape_formula=f"{'·'.join(str(d) for d in shape)} = {num(n)}")
    if t == "leakyrelu":
        return row(f"LeakyReLU (slope {spec['negative_slope']:g})", shape)
    if t == "dropout":
        return row(f"Dropout (p = {spec['p']:g})", shape)
    return row(kind.title, shape)  # relu, tanh, sigmoid: element-wise, no parameters


def _residual_parts(spec: dict, c: int) -> tuple[list[dict], list[dict]]:
    """A residual block's body and shortcut as layer specs (the shortcut empty: identity)."""
    oc, s, bn = spec["out_channels"], spec["stride"], bool(spec["batchnorm"])
    norm = [_plain("batchnorm2d")] if bn else []
    body = [_conv(oc, 3, padding=1, stride=s, bias=int(not bn)), *norm, _plain("relu"),
            _conv(oc, 3, padding=1, bias=int(not bn)), *copy.deepcopy(norm)]
    if s == 1 and c == oc:
        return body, []
    return body, [_conv(oc, 1, stride=s, bias=int(not bn)), *copy.deepcopy(norm)]


def _residual_row(i: int, spec: dict, shape: tuple[int, ...]) -> LayerRow:
    """One row for the block, its parts (the body's layers, then the shortcut's) inside it."""
    c, h, w = shape
    body, shortcut = _residual_parts(spec, c)
    parts: list[LayerRow] = []
    at: tuple[int, ...] = shape
    for part in body:
        parts.append(_row(i, part, at))
        at = parts[-1].output_shape
    out = at
    at = shape
    for part in shortcut:
        r = _row(i, part, at)
        parts.append(replace(r, label=f"shortcut: {r.label}"))
        at = r.output_shape
    if not shortcut:
        parts.append(LayerRow(i, "identity", "shortcut: x itself (same shape)", shape, 0, "0", ""))
    parts.append(LayerRow(i, "add", "F(x) + shortcut(x), then ReLU", out, 0, "0", ""))
    params = sum(r.params for r in parts)
    counted = [num(r.params) for r in parts if r.params]
    label = f"Residual {c}→{out[0]}" + (f", stride {spec['stride']}" if spec["stride"] != 1
                                        else "")
    label += ", projection" if shortcut else ""
    return LayerRow(i, "residual", label, out, params,
                    f"{' + '.join(counted)} = {num(params)}", parts[0].shape_formula,
                    tuple(parts))


# ---------------------------------------------------------------- build


def build(layers: object, input_shape: tuple[int, int, int], num_classes: int, *,
          limits: NetLimits) -> nn.Sequential:
    """The architecture as an `nn.Sequential` (children named "0", "1", … in order), after
    `table` has checked that every layer can run. Weights use torch's default initialization;
    seed torch first for a reproducible start."""
    specs = normalize(layers, limits=limits)
    tab = table(specs, input_shape, num_classes, limits=limits)
    modules: list[nn.Module] = []
    shape: tuple[int, ...] = tab.input_shape
    for spec, row in zip(specs, tab.rows, strict=True):
        modules.append(_module(spec, shape))
        shape = row.output_shape
    return nn.Sequential(*modules)


class Residual(nn.Module):
    """ReLU(body(x) + shortcut(x)): the residual block's module."""

    def __init__(self, body: nn.Sequential, shortcut: nn.Module) -> None:
        super().__init__()
        self.body, self.shortcut = body, shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


def _chain(specs: list[dict], shape: tuple[int, ...]) -> nn.Sequential:
    modules = []
    for spec in specs:
        modules.append(_module(spec, shape))
        shape = _row(0, spec, shape).output_shape
    return nn.Sequential(*modules)


def _module(spec: dict, shape: tuple[int, ...]) -> nn.Module:
    t = spec["type"]
    if t == "conv2d":
        return nn.Conv2d(shape[0], spec["out_channels"], spec["kernel_size"],
                         stride=spec["stride"], padding=spec["padding"],
                         bias=bool(spec.get("bias", 1)))
    if t == "residual":
        body, shortcut = _residual_parts(spec, shape[0])
        return Residual(_chain(body, shape), _chain(shortcut, shape) if shortcut
                        else nn.Identity())
    if t == "globalavgpool":
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    if t == "maxpool2d":
        return nn.MaxPool2d(spec["kernel_size"], stride=spec["stride"] or spec["kernel_size"],
                            padding=spec.get("padding", 0))
    if t == "avgpool2d":
        return nn.AvgPool2d(spec["kernel_size"], stride=spec["stride"] or spec["kernel_size"],
                            padding=spec.get("padding", 0))
    if t == "batchnorm2d":
        return nn.BatchNorm2d(shape[0])
    if t == "batchnorm1d":
        return nn.BatchNorm1d(shape[0])
    if t == "linear":
        return nn.Linear(shape[0], spec["out_features"])
    if t == "leakyrelu":
        return nn.LeakyReLU(spec["negative_slope"])
    if t == "dropout":
        return nn.Dropout(spec["p"])
    simple: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh,
                                          "sigmoid": nn.Sigmoid, "flatten": nn.Flatten}
    return simple[t]()


# ---------------------------------------------------------------- export

ONNX_OPSET = 17  # what the TorchScript exporter writes well, and every current runtime reads


class _Normalized(nn.Module):
    """(x − mean) / std per channel, then the net: so an exported model takes plain pixels."""

    def __init__(self, net: nn.Module, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


def to_onnx(model: nn.Module, input_shape: tuple[int, int, int],
            normalization: tuple[list[float], list[float]] | None = None) -> bytes:
    """The model as an ONNX file, for Netron or any ONNX runtime: input "pixels" (N, C, H, W)
    on the 0-1 scale, normalised inside the graph as the net saw its training data when
    `normalization` (per-channel means, stds) is given; output "logits" (N, classes); any batch
    size. torch's TorchScript exporter, which needs the `onnx` package (not its runtime)."""
    net = model if normalization is None else _Normalized(model, *normalization)
    net.eval()
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(net, (torch.zeros(1, *input_shape),), buf, dynamo=False,
                          opset_version=ONNX_OPSET, input_names=["pixels"],
                          output_names=["logits"],
                          dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}})
    return buf.getvalue()


# ---------------------------------------------------------------- presets


def _conv(out_channels: int, kernel_size: int = 3, padding: int = 0, stride: int = 1,
          bias: int = 1) -> dict:
    return {"type": "conv2d", "out_channels": out_channels, "kernel_size": kernel_size,
            "stride": stride, "padding": padding, "bias": bias}


def _pool(kind: str = "maxpool2d", kernel_size: int = 2, stride: int | None = None,
          padding: int = 0) -> dict:
    return {"type": kind, "kernel_size": kernel_size, "stride": stride, "padding": padding}


def _linear(out_features: int) -> dict:
    return {"type": "linear", "out_features": out_features}


def _plain(kind: str) -> dict:
    return {"type": kind}  # a fresh dict each time, so no two layers share one


def _relu_conv(out_channels: int, kernel_size: int = 3, padding: int = 1, stride: int = 1
               ) -> list[dict]:
    return [_conv(out_channels, kernel_size, padding=padding, stride=stride), _plain("relu")]


def _vgg(stages: list[tuple[int, int]], dense: int, classes: int) -> list[dict]:
    """VGG's pattern: per stage, `n` 3×3 convolutions of `c` filters (padded: the size stays),
    then a 2×2 max-pool halving it; then two dense layers with dropout, then the classes."""
    layers: list[dict] = []
    for c, n in stages:
        for _ in range(n):
            layers += _relu_conv(c)
        layers.append(_pool())
    dense_block = [_linear(dense), _plain("relu"), {"type": "dropout", "p": 0.5}]
    return layers + [_plain("flatten"), *dense_block, *copy.deepcopy(dense_block),
                     _linear(classes)]


def _resnet(stem: list[dict], stages: list[tuple[int, int]], classes: int) -> list[dict]:
    """ResNet's pattern: a stem, then per stage `n` residual blocks of `c` filters (the first
    block of every stage after the first halves the map, with a projection), then global
    average pooling and one Linear layer."""
    layers = list(stem)
    for k, (c, n) in enumerate(stages):
        for b in range(n):
            layers.append({"type": "residual", "out_channels": c,
                           "stride": 2 if k and not b else 1, "batchnorm": 1})
    return layers + [_plain("globalavgpool"), _linear(classes)]


def _resnet_stem(channels: int) -> list[dict]:
    """ResNet's ImageNet stem: a 7×7 convolution with stride 2 (no bias: batch norm follows),
    then a 3×3 max-pool with stride 2: 224 px become 56."""
    return [_conv(channels, 7, padding=3, stride=2, bias=0), _plain("batchnorm2d"),
            _plain("relu"), _pool(kernel_size=3, stride=2, padding=1)]


IMAGENET = [3, 224, 224]
# Each preset holds the input and class count it is valid for (a unit test builds every one).
# Those "for_reading" are the slides' famous networks at their real size: tens of millions of
# parameters, beyond what a laptop trains here (LIMITS.nets); their table is read under
# LIMITS.reading_nets, and `small` names a scaled-down version that does train on 28×28.
PRESETS: dict[str, dict] = {
    "default": {
        "title": "Default CNN",
        "description": "Two 3×3 conv + ReLU + max-pool blocks (16 and 32 filters), then one "
                       "Linear layer: small and fast on a CPU, over 98% on MNIST in 2 epochs.",
        "layers": [
            _conv(16, 3, padding=1), _plain("relu"), _pool(),
            _conv(32, 3, padding=1), _plain("relu"), _pool(),
            _plain("flatten"), _linear(10),
        ],
    },
    "tiny": {
        "title": "Tiny CNN",
        "description": "Four 5×5 filters, one pool and one Linear layer: trains in seconds, "
                       "and its filters are easy to look at.",
        "layers": [_conv(4, 5), _plain("relu"), _pool(), _plain("flatten"), _linear(10)],
    },
    "lenet5": {
        "title": "LeNet-5",
        "description": "LeCun et al., 1998: conv 6 (5×5, padded so 28×28 stays 28×28) → "
                       "avg-pool → conv 16 → avg-pool → dense 120 → 84 → 10, with tanh.",
        "layers": [
            _conv(6, 5, padding=2), _plain("tanh"), _pool("avgpool2d"),
            _conv(16, 5), _plain("tanh"), _pool("avgpool2d"),
            _plain("flatten"), _linear(120), _plain("tanh"), _linear(84), _plain("tanh"),
            _linear(10),
        ],
    },
    "typical": {
        "title": "Typical CNN",
        "description": "The usual pattern: (conv → batch-norm → ReLU) twice, max-pool, repeated "
                       "with twice the filters; then flatten → dense → dropout → dense.",
        "layers": [
            _conv(16, 3, padding=1), _plain("batchnorm2d"), _plain("relu"),
            _conv(16, 3, padding=1), _plain("batchnorm2d"), _plain("relu"), _pool(),
            _conv(32, 3, padding=1), _plain("batchnorm2d"), _plain("relu"),
            _conv(32, 3, padding=1), _plain("batchnorm2d"), _plain("relu"), _pool(),
            _plain("flatten"), _linear(128), _plain("relu"), {"type": "dropout", "p": 0.5},
            _linear(10),
        ],
    },
    "alexnet-small": {
        "title": "AlexNet, small",
        "description": "AlexNet's shape on 28×28 digits: a wide first convolution, overlapping "
                       "3×3 max-pools with stride 2, three 3×3 convolutions in a row, then two "
                       "dense layers with dropout. A few minutes on a CPU.",
        "layers": [
            *_relu_conv(24, 5, padding=2), _pool(kernel_size=3, stride=2),
            *_relu_conv(64, 5, padding=2), _pool(kernel_size=3, stride=2),
            *_relu_conv(96), *_relu_conv(96), *_relu_conv(64), _pool(kernel_size=3, stride=2),
            _plain("flatten"), _linear(256), _plain("relu"), {"type": "dropout", "p": 0.5},
            _linear(256), _plain("relu"), {"type": "dropout", "p": 0.5}, _linear(10),
        ],
    },
    "vgg-small": {
        "title": "VGG, small",
        "description": "VGG's rule on 28×28 digits: only 3×3 convolutions, padded, two or three "
                       "in a row, a 2×2 max-pool after each stage, the filters doubling.",
        "layers": _vgg([(16, 2), (32, 2), (64, 3)], 128, 10),
    },
    "resnet-small": {
        "title": "ResNet, small",
        "description": "ResNet's plan on 28×28 digits: a 3×3 stem, then residual blocks of 16, "
                       "32 and 64 filters (two each; the map halves where the filters double), "
                       "global average pooling and one Linear layer.",
        "layers": _resnet([_conv(16, 3, padding=1, bias=0), _plain("batchnorm2d"),
                           _plain("relu")], [(16, 2), (32, 2), (64, 2)], 10),
    },
    "alexnet": {
        "title": "AlexNet (2012)",
        "description": "Krizhevsky, Sutskever and Hinton, as the slides draw it, the two GPUs' "
                       "halves merged: 96 filters of 11×11 with stride 4, five convolutions, "
                       "three max-pools, two dense layers of 4,096 with dropout. On 227×227: "
                       "with 224 (the paper's figure) (224 − 11)/4 + 1 is not a whole number, "
                       "and the table ends in 6,400 features instead of 9,216.",
        "input_shape": [3, 227, 227], "num_classes": 1000, "for_reading": True,
        "small": "alexnet-small",
        "layers": [
            *_relu_conv(96, 11, padding=0, stride=4), _pool(kernel_size=3, stride=2),
            *_relu_conv(256, 5, padding=2), _pool(kernel_size=3, stride=2),
            *_relu_conv(384), *_relu_conv(384), *_relu_conv(256), _pool(kernel_size=3, stride=2),
            _plain("flatten"), {"type": "dropout", "p": 0.5}, _linear(4096), _plain("relu"),
            {"type": "dropout", "p": 0.5}, _linear(4096), _plain("relu"), _linear(1000),
        ],
    },
    "vgg16": {
        "title": "VGG-16 (2014)",
        "description": "Simonyan and Zisserman: 13 convolutions, all 3×3 and padded, in five "
                       "stages of 64 to 512 filters, each closed by a 2×2 max-pool, then three "
                       "dense layers. Most of its 138 million parameters are in the first dense "
                       "layer (7·7·512 inputs × 4,096).",
        "input_shape": IMAGENET, "num_classes": 1000, "for_reading": True, "small": "vgg-small",
        "layers": _vgg([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)], 4096, 1000),
    },
    "vgg19": {
        "title": "VGG-19 (2014)",
        "description": "VGG-16 with a fourth convolution in each of the last three stages: 16 "
                       "convolutions and 3 dense layers.",
        "input_shape": IMAGENET, "num_classes": 1000, "for_reading": True, "small": "vgg-small",
        "layers": _vgg([(64, 2), (128, 2), (256, 4), (512, 4), (512, 4)], 4096, 1000),
    },
    "resnet18": {
        "title": "ResNet-18 (2015)",
        "description": "He, Zhang, Ren and Sun: a 7×7 stem, then eight residual blocks (two "
                       "each of 64, 128, 256, 512 filters), global average pooling and one "
                       "dense layer: 18 layers with weights, and 12× fewer parameters than VGG-16.",
        "input_shape": IMAGENET, "num_classes": 1000, "for_reading": True,
        "small": "resnet-small",
        "layers": _resnet(_resnet_stem(64), [(64, 2), (128, 2), (256, 2), (512, 2)], 1000),
    },
    "resnet34": {
        "title": "ResNet-34 (2015)",
        "description": "ResNet-18's plan with 3, 4, 6 and 3 blocks per stage: 34 layers with "
                       "weights.",
        "input_shape": IMAGENET, "num_classes": 1000, "for_reading": True,
        "small": "resnet-small",
        "layers": _resnet(_resnet_stem(64), [(64, 3), (128, 4), (256, 6), (512, 3)], 1000),
    },
}
for _preset in PRESETS.values():  # the small ones: MNIST-sized digits
    _preset.setdefault("input_shape", [1, 28, 28])
    _preset.setdefault("num_classes", 10)
    _preset.setdefault("for_reading", False)
    _preset.setdefault("small", None)
TRAINABLE = tuple(k for k, p in PRESETS.items() if not p["for_reading"])  # what a run may name
FAMOUS = tuple(k for k, p in PRESETS.items() if p["for_reading"])


def preset_table(name: str, limits: NetLimits, reading: NetLimits) -> ArchitectureTable:
    """A preset's table at its own input size, under the limits it is meant for: `reading` for
    the famous networks, `limits` (training's) for the others."""
    p = PRESETS[name]
    return table(p["layers"], tuple(p["input_shape"]), p["num_classes"],
                 limits=reading if p["for_reading"] else limits)


# ---------------------------------------------------------------- inspection


def first_conv_weights(model: nn.Module) -> torch.Tensor | None:
    """The first Conv2d's weight, (out, in, kh, kw), as a detached copy (training goes on
    changing the original in place), or None when the model has no Conv2d."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return m.weight.detach().clone()
    return None


def layer_outputs(model: nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    """The output of every layer of `model` for the batch `x`, in order. Train/eval mode is
    left as the caller set it."""
    outs: list[torch.Tensor] = []
    with torch.no_grad():
        for layer in model:
            x = layer(x)
            outs.append(x)
    return outs


@dataclass(frozen=True)
class ReceptiveField:
    """Which input pixels one unit of a layer's map sees, along each axis: unit i covers
    input positions left + i·jump to left + i·jump + size − 1 (left < 0 reaches into padding)."""

    size: int
    jump: int
    left: int


def receptive_fields(layers: object) -> list[ReceptiveField | None]:
    """Per layer, the receptive field of its units; None once the map is flattened (every
    unit of a dense layer sees the whole input). Layers are checked as `normalize` checks them,
    except for their count: this refuses nothing for its size."""
    field_ = ReceptiveField(size=1, jump=1, left=0)
    out: list[ReceptiveField | None] = []
    flat = False
    for spec in (_normalize_layer(s, i) for i, s in enumerate(_as_list(layers))):
        t = spec["type"]
        if t in ("flatten", "linear", "batchnorm1d", "globalavgpool"):
            flat = True
        if flat:
            out.append(None)
            continue
        if t == "residual":  # the body's path sees the most: its convolutions, in turn
            for part in _residual_parts(spec, 0)[0]:
                if part["type"] == "conv2d":
                    field_ = _grown(field_, part["kernel_size"], part["stride"], part["padding"])
        elif t in ("conv2d", "maxpool2d", "avgpool2d"):
            k = spec["kernel_size"]
            s = spec["stride"] if t == "conv2d" else (spec["stride"] or k)
            field_ = _grown(field_, k, s, spec.get("padding", 0))
        out.append(field_)
    return out


def _grown(f: ReceptiveField, k: int, s: int, p: int) -> ReceptiveField:
    """The field after a k×k window with stride s and padding p."""
    return ReceptiveField(size=f.size + (k - 1) * f.jump, jump=f.jump * s, left=f.left - p * f.jump)
