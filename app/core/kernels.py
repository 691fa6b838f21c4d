"""Convolution kernels: presets, validation and application.

"Convolution" here is what deep-learning frameworks compute, cross-correlation, exactly as
`torch.nn.functional.conv2d`: the kernel is laid over the window as it is, not flipped. `flip=True`
gives the textbook (true) convolution, which flips the kernel on both axes first.

Pixel values are on the 0-255 scale, so a kernel's output reads like the slides' worked examples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from app.core.errors import InputError
from app.core.shapes import validate_grid


@dataclass(frozen=True)
class KernelLimits:
    """The kernel lab's bounds (the values live in app.settings.LIMITS.kernels). `weight`,
    `value` and `min_scale` keep every result finite in float32: kernel_side² taps · weight ·
    value / min_scale must stay under 3e38 (15² · 1e6 · 1e9 / 1e-6 ≈ 2e23)."""

    kernel_side: int  # rows and columns of a kernel
    stride: int
    dilation: int
    padding: int  # cells added on each side (when given as a number)
    weight: float  # |a kernel weight|
    value: float  # |an input value|, |scale| and |bias|
    min_scale: float  # smallest |scale| (it divides the sum)


PaddingMode = Literal["zeros", "reflect", "replicate", "circular"]
PADDING_MODES: tuple[str, ...] = ("zeros", "reflect", "replicate", "circular")


class KernelError(InputError):
    """A kernel or convolution setting that cannot be used; `field` names the setting at fault."""


@dataclass(frozen=True)
class ConvSpec:
    """How a kernel slides over its input. `scale` divides the sum, then `bias` is added."""

    stride: int = 1
    padding: Literal["valid", "same"] | int = "valid"
    padding_mode: PaddingMode = "zeros"
    dilation: int = 1
    scale: float = 1.0
    bias: float = 0.0
    flip: bool = False

    def validate(self, limits: KernelLimits) -> None:
        if not 1 <= self.stride <= limits.stride:
            raise KernelError(f"stride must be 1 to {limits.stride}, got {self.stride}", "stride")
        if not 1 <= self.dilation <= limits.dilation:
            raise KernelError(
                f"dilation must be 1 to {limits.dilation}, got {self.dilation}", "dilation"
            )
        if isinstance(self.padding, str):
            if self.padding not in ("valid", "same"):
                raise KernelError(
                    f"padding must be 'valid', 'same' or an integer 0 to {limits.padding}, "
                    f"got {self.padding!r}",
                    "padding",
                )
        elif not 0 <= self.padding <= limits.padding:
            raise KernelError(
                f"padding must be 'valid', 'same' or an integer 0 to {limits.padding}, "
                f"got {self.padding}",
                "padding",
            )
        if self.padding_mode not in PADDING_MODES:
            raise KernelError(
                f"padding_mode must be one of {', '.join(PADDING_MODES)}, got {self.padding_mode!r}",
                "padding_mode",
            )
        if not (math.isfinite(self.scale)
                and limits.min_scale <= abs(self.scale) <= limits.value):
            raise KernelError(
                f"scale divides the sum, so it must not be 0; its size must be "
                f"{limits.min_scale:g} to {limits.value:g}", "scale"
            )
        if not (math.isfinite(self.bias) and abs(self.bias) <= limits.value):
            raise KernelError(f"bias must be a number from -{limits.value:g} to "
                              f"{limits.value:g}", "bias")


@dataclass(frozen=True)
class Padding:
    top: int
    bottom: int
    left: int
    right: int


@dataclass(frozen=True)
class Preset:
    key: str
    name: str
    matrix: tuple[tuple[float, ...], ...]
    explanation: str
    scale: float = 1.0


def _binomial(size: int) -> tuple[tuple[float, ...], ...]:
    row = np.array([math.comb(size - 1, i) for i in range(size)], dtype=float)
    return tuple(tuple(float(v) for v in r) for r in np.outer(row, row))


_GAUSS5 = _binomial(5)

PRESETS: tuple[Preset, ...] = (
    Preset("identity", "Identity", ((0, 0, 0), (0, 1, 0), (0, 0, 0)),
           "Copies each pixel unchanged: only the centre weight is on."),
    Preset("box-blur", "Box blur", ((1, 1, 1), (1, 1, 1), (1, 1, 1)),
           "Every output pixel is the plain average of its 3×3 neighbourhood.", scale=9),
    Preset("gaussian-3", "Gaussian blur 3×3", ((1, 2, 1), (2, 4, 2), (1, 2, 1)),
           "A weighted average: near neighbours count more than far ones, so edges blur softly.",
           scale=16),
    Preset("gaussian-5", "Gaussian blur 5×5", _GAUSS5,
           "A wider Gaussian (binomial weights 1-4-6-4-1): a stronger, smoother blur.",
           scale=float(np.sum(_GAUSS5))),
    Preset("smooth-weighted", "Weighted smoothing", ((0, 1, 0), (1, 4, 1), (0, 1, 0)),
           "The slides' weighted smoothing kernel: the centre counts four times its neighbours.",
           scale=8),
    Preset("sharpen", "Sharpen", ((0, -1, 0), (-1, 5, -1), (0, -1, 0)),
           "Adds to each pixel its difference from its neighbours, so edges get crisper."),
    Preset("sharpen-strong", "Intensified sharpen", ((-1, -1, -1), (-1, 9, -1), (-1, -1, -1)),
           "Sharpen against all eight neighbours: stronger, and noise gets louder too."),
    Preset("edge-vertical", "Vertical edges", ((1, 0, -1), (1, 0, -1), (1, 0, -1)),
           "Left column minus right column: lights up where brightness changes from left to right."),
    Preset("edge-horizontal", "Horizontal edges", ((1, 1, 1), (0, 0, 0), (-1, -1, -1)),
           "Top row minus bottom row: lights up where brightness changes from top to bottom."),
    Preset("sobel-x", "Sobel x", ((-1, 0, 1), (-2, 0, 2), (-1, 0, 1)),
           "A smoothed horizontal derivative: responds to vertical edges, ignores noise better."),
    Preset("sobel-y", "Sobel y", ((-1, -2, -1), (0, 0, 0), (1, 2, 1)),
           "A smoothed vertical derivative: responds to horizontal edges."),
    Preset("laplacian", "Laplacian", ((0, 1, 0), (1, -4, 1), (0, 1, 0)),
           "The second derivative: zero on flat areas and ramps, strong on both sides of an edge."),
    Preset("outline", "Outline", ((-1, -1, -1), (-1, 8, -1), (-1, -1, -1)),
           "Sums to zero, so flat regions go black and every outline lights up."),
    Preset("emboss", "Emboss", ((-2, -1, 0), (-1, 1, 1), (0, 1, 2)),
           "A diagonal derivative plus the pixel itself: the image looks pressed into metal."),
    Preset("prewitt-x", "Prewitt x", ((-1, 0, 1), (-1, 0, 1), (-1, 0, 1)),
           "Like the vertical-edge kernel, mirrored: dark-to-bright edges give positive values."),
    Preset("motion-blur", "Motion blur", tuple(
        tuple(1.0 if r == c else 0.0 for c in range(7)) for r in range(7)),
           "Averages along a diagonal line, like a camera moved while the shutter was open.",
           scale=7),
    Preset("unsharp-5", "Unsharp mask 5×5", tuple(
        tuple((476.0 if (r, c) == (2, 2) else -v) for c, v in enumerate(row))
        for r, row in enumerate(_GAUSS5)),
           "The image minus its blur, added back: the sharpening photo editors call unsharp mask.",
           scale=256),
)
PRESETS_BY_KEY: dict[str, Preset] = {p.key: p for p in PRESETS}


def validate_kernel(kernel: object, limits: KernelLimits) -> np.ndarray:
    """Checks a kernel given as a 2-D list (or array) of numbers and returns it as float64."""
    return validate_grid(kernel, "kernel", max_side=limits.kernel_side,
                         value_range=(-limits.weight, limits.weight), error=KernelError)


def padding_for(height: int, width: int, kh: int, kw: int, spec: ConvSpec) -> Padding:
    """Padding on each side. 'same' pads d·(k−1) in total, the extra cell (even kernels) at the
    bottom/right as PyTorch does, so stride 1 keeps the size and stride s gives ⌈n / s⌉."""
    if spec.padding == "valid":
        return Padding(0, 0, 0, 0)
    if spec.padding == "same":
        th, tw = spec.dilation * (kh - 1), spec.dilation * (kw - 1)
        return Padding(th // 2, th - th // 2, tw // 2, tw - tw // 2)
    p = int(spec.padding)
    return Padding(p, p, p, p)


def check_fits(height: int, width: int, kh: int, kw: int, spec: ConvSpec) -> Padding:
    """Raises KernelError when the (dilated) kernel is larger than the padded input."""
    pad = padding_for(height, width, kh, kw, spec)
    span_h, span_w = spec.dilation * (kh - 1) + 1, spec.dilation * (kw - 1) + 1
    ph, pw = height + pad.top + pad.bottom, width + pad.left + pad.right
    if span_h > ph or span_w > pw:
        raise KernelError(
            f"the kernel covers {span_h}×{span_w} cells (with dilation {spec.dilation}) but the "
            f"padded input is only {ph}×{pw}; use a smaller kernel or dilation, or more padding",
            "kernel",
        )
    largest_h, largest_w = max(pad.top, pad.bottom), max(pad.left, pad.right)
    if spec.padding_mode == "reflect" and (largest_h >= height or largest_w >= width):
        raise KernelError(
            f"reflect padding must be smaller than the input ({height}×{width}); "
            "use zeros, replicate or circular padding, or less padding",
            "padding",
        )
    if spec.padding_mode == "circular" and (largest_h > height or largest_w > width):
        raise KernelError(
            f"circular padding can wrap at most once around the input ({height}×{width})",
            "padding",
        )
    return pad


def _low_rank_factors(kernel: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """Splits a kernel into r (column, row) vector pairs whose outer products sum to it, when
    r pairs of 1-D passes cost less than one 2-D pass (measured: a 1-D pass pair costs about
    as much as a 17-tap 2-D kernel on this layout). Exact up to float rounding (SVD)."""
    kh, kw = kernel.shape
    if kh * kw < 17:
        return None
    u, s, vt = np.linalg.svd(kernel)
    tol = max(kernel.shape) * np.finfo(np.float64).eps * (s[0] if s.size else 0.0)
    rank = int(np.sum(s > tol))
    if rank == 0 or rank * 17 >= kh * kw:
        return None
    return [(u[:, i] * s[i], vt[i]) for i in range(rank)]


def convolve(x: torch.Tensor, kernel: np.ndarray, spec: ConvSpec, *, limits: KernelLimits
             ) -> torch.Tensor:
    """Applies one kernel to every channel of `x` (N, C, H, W) independently, in x's float dtype.

    For speed, pass `x` as owned channels_last memory (`x.clone(memory_format=torch.channels_last)`);
    a permuted view of a numpy HWC array is 10-40× slower in oneDNN. Returns (N, C, Ho, Wo).
    """
    spec.validate(limits)
    kernel = validate_kernel(kernel, limits)
    if spec.flip:
        kernel = kernel[::-1, ::-1]
    kh, kw = kernel.shape
    n, c, h, w = x.shape
    pad = check_fits(h, w, kh, kw, spec)
    symmetric = pad.top == pad.bottom and pad.left == pad.right
    if spec.padding_mode == "zeros" and symmetric:
        conv_pad: tuple[int, int] = (pad.top, pad.left)  # let the conv pad for free
    else:
        mode = "constant" if spec.padding_mode == "zeros" else spec.padding_mode
        x = F.pad(x, (pad.left, pad.right, pad.top, pad.bottom), mode=mode)
        conv_pad = (0, 0)
    s, d = spec.stride, spec.dilation
    with torch.inference_mode():
        factors = _low_rank_factors(kernel)
        if factors is None:
            weight = torch.tensor(kernel.copy(), dtype=x.dtype).expand(c, 1, kh, kw).contiguous()
            y = F.conv2d(x, weight, stride=s, padding=conv_pad, dilation=d, groups=c)
        else:
            y = None
            for col, row in factors:
                wr = torch.tensor(row, dtype=x.dtype).view(1, 1, 1, kw).expand(c, 1, 1, kw)
                wc = torch.tensor(col, dtype=x.dtype).view(1, 1, kh, 1).expand(c, 1, kh, 1)
                t = F.conv2d(x, wr.contiguous(), stride=(1, s), padding=(0, conv_pad[1]),
                             dilation=d, groups=c)  # (N, C, H', Wo)
                t = F.conv2d(t, wc.contiguous(), stride=(s, 1), padding=(conv_pad[0], 0),
                             dilation=d, groups=c)  # (N, C, Ho, Wo)
                y = t if y is None else y.add_(t)
        if spec.scale != 1:
            y = y.div_(spec.scale)
        if spec.bias != 0:
            y = y.add_(spec.bias)
    return y


def convolve_grid(values: object, kernel: object, spec: ConvSpec, *, max_side: int,
                  limits: KernelLimits) -> np.ndarray:
    """Convolves a 2-D grid of numbers (a list of rows) in float64; returns the 2-D result.
    `max_side` bounds the grid (Settings.max_grid_side)."""
    grid = validate_grid(values, "input", max_side=max_side,
                         value_range=(-limits.value, limits.value), error=KernelError)
    y = convolve(torch.from_numpy(grid).view(1, 1, *grid.shape), validate_kernel(kernel, limits),
                 spec, limits=limits)
    return y[0, 0].numpy()
