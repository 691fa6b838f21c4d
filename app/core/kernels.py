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
    grid_side: int  # rows and columns of a numeric input grid (convolve_grid)
    bank_kernels: int  # kernels in one filter bank


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


STRIPS = 16  # strips side by side: C·16 channels fill oneDNN's 16-float (AVX-512) vectors


@dataclass(frozen=True)
class Strips:
    """A (1, C, H, W) float32 image cut into STRIPS vertical strips of `strip_width` columns,
    laid side by side on the channel axis, each with `halo` columns of its neighbours on both
    sides and `halo` rows of zeros above and below (zeros past the image's edges): `data` is
    (1, STRIPS·C, H + 2·halo, strip_width + 2·halo), channels_last, its channel s·C + c channel
    c of strip s.

    Why: oneDNN's depthwise convolution works on channels_last vectors of 16 channels, so the
    planes of an RGB image fill 3 of its 16 lanes and strips fill all of them. Measured here
    (1024² RGB, 7×7, one thread): the convolution on strips takes a quarter of its time on the
    planes, the copy that puts the strips back together as many milliseconds again, and making
    the strips as much (so the app makes them once per image, beside its planes: a kernel change
    pays for the convolution and the copy back). Any kernel up to 2·halo + 1 cells wide and
    high runs on them (stride 1, dilation 1, zero padding, the same on opposite sides); with the
    zero rows in place the convolution pads nothing itself, which oneDNN does faster."""

    data: torch.Tensor
    channels: int
    height: int
    width: int
    strip_width: int
    halo: int


def to_strips(x: torch.Tensor, halo: int) -> Strips | None:
    """`x` (1, C, H, W) float32 as Strips with `halo` columns each side; None where the image is
    too narrow for strips at least 2·halo (and 8) columns wide."""
    n, c, h, w = x.shape
    ws = -(-w // STRIPS)
    if (n != 1 or x.dtype != torch.float32 or ws < max(2 * halo, 8)
            or (STRIPS - 1) * ws + halo > w):
        return None
    src = x.contiguous(memory_format=torch.channels_last)[0].permute(1, 2, 0)  # (H, W, C) view
    with torch.inference_mode():
        rows = torch.empty((h + 2 * halo, ws + 2 * halo, STRIPS, c), dtype=x.dtype)
        rows[:halo] = 0
        rows[halo + h:] = 0
        data = rows[halo:halo + h]
        # strips 1 … STRIPS−2 lie inside the image, halos included: one strided copy
        data[:, :, 1:-1] = src.as_strided((h, ws + 2 * halo, STRIPS - 2, c),
                                          (src.stride(0), c, ws * c, 1),
                                          src.storage_offset() + (ws - halo) * c)
        first, last = data[:, :, 0], data[:, :, -1]  # (H, ws + 2·halo, C) each
        first[:, :halo] = 0
        first[:, halo:] = src[:, :ws + halo]
        start = (STRIPS - 1) * ws - halo  # the image column of the last strip's column 0
        last[:, :w - start] = src[:, start:]
        last[:, w - start:] = 0
    return Strips(rows.view(1, h + 2 * halo, ws + 2 * halo, STRIPS * c).permute(0, 3, 1, 2),
                  c, h, w, ws, halo)


# 3×3 kernels run faster on the planes. Measured (1024² RGB, 2 threads): a 3×3 on the strips
# takes 2.0-2.3 ms against 2.6-3.0 on the planes, but putting the strips back together costs
# 3.3-3.6 ms however it is done (a strided copy, index_select, embedding, channel_shuffle, a
# oneDNN transpose): its unit is one 12-byte pixel. Banded, the strips took 6.4 ms, the planes 3.4.
STRIP_MIN_TAPS = 10
# One pass over the strips costs about as much as 48 more taps. Measured with the zero rows in
# place (1024² RGB, 2 threads, a Gaussian): at 7×7 one 2-D pass beats its pair of 1-D passes
# (4.0-4.8 vs 5.3-7.7 ms), at 9×9 they tie, from 11×11 the pair wins; 48 splits 35 and 63, the
# values that would flip 7×7 and 9×9.
STRIP_PASS_TAPS = 48


def strip_halo(x: torch.Tensor, kernel: np.ndarray, spec: ConvSpec) -> int | None:
    """The halo this kernel needs on x's strips, or None when it runs on the planes (3×3, other
    strides, dilations and padding modes, float64 grids, images too narrow for strips)."""
    kh, kw = kernel.shape
    n, _, h, w = x.shape
    if not (spec.padding_mode == "zeros" and spec.stride == 1 and spec.dilation == 1
            and x.dtype == torch.float32 and n == 1 and kh * kw >= STRIP_MIN_TAPS):
        return None
    pad = padding_for(h, w, kh, kw, spec)
    if pad.top != pad.bottom or pad.left != pad.right:
        return None
    halo = max(pad.left, kw - 1 - pad.left, pad.top, kh - 1 - pad.top)
    ws = -(-w // STRIPS)
    if (ws < max(2 * halo, 8) or (STRIPS - 1) * ws + halo > w
            or w + 2 * pad.left - kw + 1 > STRIPS * ws):  # to_strips's limits; Wo fits
        return None
    return halo


def _strip_factors(kernel: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """The (column, row) pairs of a low-rank kernel when r pairs of 1-D passes over the strips
    cost less than one 2-D pass (each pass costs about STRIP_PASS_TAPS taps more), else None."""
    kh, kw = kernel.shape
    factors = _low_rank_factors(kernel)
    if factors is None or len(factors) * (kh + kw + 2 * STRIP_PASS_TAPS) >= (
            kh * kw + STRIP_PASS_TAPS):
        return None
    return factors


# The strip output is computed and put back a band of rows at a time, ~3 MB of it a band, so
# the process never holds two image-sized buffers (strip output and result) at once: with two,
# glibc often handed the freed pair back to the system and every call refaulted 500-6,000 pages
# at ~1.6 µs each. Measured (1024² RGB, 7×7, 2 threads, one process): the whole image at once
# 15.4 ms (4,800 faults a call), 3 MB bands 6.7 ms (460), 1 MB bands 7.5 ms (more conv calls);
# with glibc told to keep freed memory, whole and banded both ~6.9 ms: the gain is the faults.
STRIP_BAND_BYTES = 3 << 20


def _depthwise_weight(k: np.ndarray, shape: tuple[int, int], groups: int, dtype: torch.dtype
                      ) -> torch.Tensor:
    """`k` (a kernel or one of its 1-D factors) as the (groups, 1, *shape) weight of a depthwise
    conv2d, the same for every channel (copied: torch refuses a flipped kernel's strides)."""
    return torch.tensor(k.copy(), dtype=dtype).view(1, 1, *shape).expand(
        groups, 1, *shape).contiguous()


def _strip_passes(kernel: np.ndarray, groups: int, dtype: torch.dtype
                  ) -> list[list[torch.Tensor]]:
    """The depthwise weights of each pass over the strips: [[k×k]] for one 2-D pass, or
    [[1×kw, kh×1], …] for r pairs of 1-D passes (summed)."""
    kh, kw = kernel.shape
    factors = _strip_factors(kernel)
    if factors is None:
        return [[_depthwise_weight(kernel, (kh, kw), groups, dtype)]]
    return [[_depthwise_weight(row, (1, kw), groups, dtype),
             _depthwise_weight(col, (kh, 1), groups, dtype)] for col, row in factors]


def _on_strips(st: Strips, kernel: np.ndarray, pad: Padding) -> torch.Tensor:
    """The kernel on every strip (one 2-D pass, or r pairs of 1-D passes where they cost less),
    put back together as one (1, C, Ho, Wo) channels_last image, a band of rows at a time."""
    kh, kw = kernel.shape
    c, ws, g = st.channels, st.strip_width, STRIPS * st.channels
    ho = st.height + pad.top + pad.bottom - kh + 1
    wo = st.width + pad.left + pad.right - kw + 1
    wy = st.data.shape[3] - kw + 1  # output columns of each strip
    passes = _strip_passes(kernel, g, st.data.dtype)
    out = torch.empty((1, c, ho, wo), dtype=st.data.dtype, memory_format=torch.channels_last)
    hwc = out[0].permute(1, 2, 0)  # (Ho, Wo, C) view
    band = max(1, STRIP_BAND_BYTES // (wy * g * st.data.element_size()))
    top = st.halo - pad.top  # the strips' row that output row 0 reads first
    first = st.halo - pad.left  # strip s's output column j is the result's s·ws + j − first
    full = wo // ws  # strips whose columns all lie in the output
    for r0 in range(0, ho, band):
        r1 = min(ho, r0 + band)
        x = st.data[:, :, top + r0:top + r1 + kh - 1]  # the rows the band reads (a view)
        y = None
        for weights in passes:
            t = x
            for w in weights:
                t = F.conv2d(t, w, groups=g)
            y = t if y is None else y.add_(t)
        assert y is not None
        parts = (y[0].permute(1, 2, 0).view(r1 - r0, wy, STRIPS, c)[:, first:first + ws]
                 .permute(0, 2, 1, 3))  # (rows, STRIPS, ws, C), a view
        dst = hwc[r0:r1]
        dst[:, :full * ws].view(r1 - r0, full, ws, c).copy_(parts[:, :full])
        if full * ws < wo:
            dst[:, full * ws:].copy_(parts[:, full, :wo - full * ws])
    return out


def convolve(x: torch.Tensor, kernel: np.ndarray, spec: ConvSpec, *, limits: KernelLimits,
             strips: Strips | None = None) -> torch.Tensor:
    """Applies one kernel to every channel of `x` (N, C, H, W) independently, in x's float dtype.

    For speed, pass `x` as owned channels_last memory (`x.clone(memory_format=torch.channels_last)`);
    a permuted view of a numpy HWC array is 10-40× slower in oneDNN. Kernels larger than 3×3
    run on x's Strips: pass `strips` (to_strips(x, halo), made once per image) to skip making
    them here; they are used when their halo is at least strip_halo(x, kernel, spec).
    Returns (N, C, Ho, Wo).
    """
    spec.validate(limits)
    kernel = validate_kernel(kernel, limits)
    if spec.flip:
        kernel = kernel[::-1, ::-1]
    kh, kw = kernel.shape
    n, c, h, w = x.shape
    pad = check_fits(h, w, kh, kw, spec)
    halo = strip_halo(x, kernel, spec)
    with torch.inference_mode():
        if halo is not None:
            mine = strips is not None and strips.halo >= halo and (
                strips.channels, strips.height, strips.width) == (c, h, w)
            st = strips if mine else to_strips(x, halo)
            assert st is not None  # strip_halo checked that x can be cut into strips
            y = _on_strips(st, kernel, pad)
        else:
            y = _on_planes(x, kernel, pad, spec)
        if spec.scale != 1:
            y = y.div_(spec.scale)
        if spec.bias != 0:
            y = y.add_(spec.bias)
    return y


def _on_planes(x: torch.Tensor, kernel: np.ndarray, pad: Padding, spec: ConvSpec
               ) -> torch.Tensor:
    """One grouped conv2d on the planes, or r pairs of 1-D passes for a low-rank kernel."""
    kh, kw = kernel.shape
    c = x.shape[1]
    if spec.padding_mode == "zeros" and pad.top == pad.bottom and pad.left == pad.right:
        conv_pad: tuple[int, int] = (pad.top, pad.left)  # let the conv pad for free
    else:
        mode = "constant" if spec.padding_mode == "zeros" else spec.padding_mode
        x = F.pad(x, (pad.left, pad.right, pad.top, pad.bottom), mode=mode)
        conv_pad = (0, 0)
    s, d = spec.stride, spec.dilation
    factors = _low_rank_factors(kernel)
    if factors is None:
        weight = _depthwise_weight(kernel, (kh, kw), c, x.dtype)
        return F.conv2d(x, weight, stride=s, padding=conv_pad, dilation=d, groups=c)
    y = None
    for col, row in factors:
        t = F.conv2d(x, _depthwise_weight(row, (1, kw), c, x.dtype), stride=(1, s),
                     padding=(0, conv_pad[1]), dilation=d, groups=c)  # (N, C, H', Wo)
        t = F.conv2d(t, _depthwise_weight(col, (kh, 1), c, x.dtype), stride=(s, 1),
                     padding=(conv_pad[0], 0), dilation=d, groups=c)  # (N, C, Ho, Wo)
        y = t if y is None else y.add_(t)
    return y


def convolve_grid(values: object, kernel: object, spec: ConvSpec, *, limits: KernelLimits
                  ) -> np.ndarray:
    """Convolves a 2-D grid of numbers (a list of rows) in float64; returns the 2-D result."""
    grid = validate_grid(values, "input", max_side=limits.grid_side,
                         value_range=(-limits.value, limits.value), error=KernelError)
    y = convolve(torch.from_numpy(grid).view(1, 1, *grid.shape), validate_kernel(kernel, limits),
                 spec, limits=limits)
    return y[0, 0].numpy()
