"""The model inspector's compute: what a trained CNN answers for a picture, and why.

A picture is brought to the model's input the way its training data was made (`mnist_style`,
`fit_to_model`); then `predict` gives the class probabilities, `activations` every layer's output,
`map_grid` draws one layer's output as one small picture, `saliency` and `grad_cam` where in the
picture the answer comes from, `maximize_unit` what a unit responds to, and `kernel_similarity`
which hand-made kernel a learned first-layer filter resembles. `dataset_answers` runs a whole
test set through the model: its answers, and each image's mean activation per unit (which ranks
the test images that excite a unit most).

Models are `nn.Sequential`s as `nets.build` makes them, inputs normalised as in training
(`training.to_inputs`). Every function runs the model in eval mode (BatchNorm on its running
statistics, Dropout off) and puts the mode back afterwards, and takes gradients with respect to the
input only (`torch.autograd.grad`), so the parameters' `.grad` is never touched: inspecting a model
does not disturb one that is being trained.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from app.core.errors import InputError
from app.core.images import LUMA, vector_rows

# A picture whose ink stands out from its background by less than this (of 255) counts as empty:
# stretching sensor noise into a "digit" would only mislead.
MIN_INK_CONTRAST = 16
# Share of the brightest ink a pixel needs to count towards the digit's bounding box.
INK_SHARE = 0.1


# ---------------------------------------------------------------- pictures


def mnist_style(gray: np.ndarray, *, size: int = 28, invert: bool | None = None) -> np.ndarray:
    """A drawing or photo of a digit, (H, W) uint8, as a (size, size) uint8 MNIST digit.

    MNIST digits are white on black, their bounding box scaled to 20×20 (keeping the aspect
    ratio) and placed so that the centre of mass sits at the centre of the 28×28 frame; a model
    trained on them reads a digit drawn anywhere, at any size, only once it looks like that.

    `invert=None` decides the polarity from the outer 1-px frame: mostly light (median > 127)
    means dark ink on light paper, which is inverted. When the background is dark (after any
    inversion) its level (the frame's median) is subtracted, so grey paper in a photo becomes
    black; the result is stretched so the brightest ink is 255. Raises InputError (field
    "image") when nothing stands out.
    """
    a = np.asarray(gray)
    if a.ndim != 2 or a.size == 0:
        raise InputError(f"the picture must be one gray plane (height × width), got shape "
                         f"{a.shape}", "image")
    if not 8 <= size <= 512:
        raise InputError(f"size must be 8 to 512 px, got {size}", "size")
    a = a.astype(np.float32)
    frame = np.concatenate([a[0], a[-1], a[1:-1, 0], a[1:-1, -1]])
    if invert is None:
        invert = bool(np.median(frame) > 127)
    if invert:
        a = 255.0 - a
        frame = 255.0 - frame
    background = float(np.median(frame))
    if background <= 127:  # dark background: take it down to black, as in MNIST
        a = np.clip(a - background, 0.0, None)
    top = float(a.max())
    if top < MIN_INK_CONTRAST:
        raise InputError("the picture is empty: draw or upload a digit", "image")
    a *= 255.0 / top

    rows, cols = np.nonzero(a > INK_SHARE * 255.0)
    box = a[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    side = max(1, round(size * 20 / 28))
    h, w = box.shape
    scale = side / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    patch = np.asarray(Image.fromarray(np.ascontiguousarray(box)).resize((new_w, new_h),
                                                             Image.Resampling.LANCZOS))
    patch = np.clip(patch, 0.0, 255.0)  # LANCZOS rings slightly below 0 and above 255

    # Centre of mass at pixel (size/2, size/2), counting from 0, where MNIST's own digits have
    # it (13.98, 14.01 on average over its test set): half a pixel off costs a trained model
    # points of accuracy. A whole-pixel shift (no second resampling blur); a lopsided digit is
    # shifted only as far as keeps all its ink on the canvas.
    mass = patch.sum()
    cy = float((patch.sum(axis=1) * np.arange(new_h)).sum() / mass)
    cx = float((patch.sum(axis=0) * np.arange(new_w)).sum() / mass)
    centre = size / 2
    top_row = min(max(round(centre - cy), 0), size - new_h)
    left = min(max(round(centre - cx), 0), size - new_w)
    canvas = np.zeros((size, size), dtype=np.float32)
    canvas[top_row:top_row + new_h, left:left + new_w] = patch
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)


def fit_to_model(pixels: np.ndarray, input_shape: tuple[int, int, int], *,
                 digits: bool = True) -> np.ndarray:
    """(H, W) or (H, W, 3) uint8 → (C, H', W') uint8, the picture as the model takes it.

    A one-channel model gets the gray picture (luma of RGB); when `digits` (the default: such
    models here are MNIST-like) and the input is square it goes through `mnist_style`, since a
    digit-trained model expects that framing; otherwise the picture is resized to (H', W')
    (aspect ratio not kept). A three-channel model gets RGB (gray repeated).
    """
    p = np.asarray(pixels)
    if p.dtype != np.uint8 or not (p.ndim == 2 or (p.ndim == 3 and p.shape[2] == 3)):
        raise InputError(f"the picture must be uint8 (height × width) or (height × width × 3), "
                         f"got {p.dtype} {p.shape}", "image")
    c, h, w = (int(d) for d in input_shape)
    if c not in (1, 3):
        raise InputError(f"this model takes {c} input channels; a picture gives 1 (gray) or 3 "
                         f"(RGB)", "image")
    if c == 1:
        gray = p if p.ndim == 2 else _luma(p)
        if digits and h == w:
            return mnist_style(gray, size=h)[None]
        return _resize(gray, h, w)[None]
    rgb = p if p.ndim == 3 else np.repeat(p[:, :, None], 3, axis=2)
    return _resize(rgb, h, w).transpose(2, 0, 1).copy()


def _luma(rgb: np.ndarray) -> np.ndarray:
    """Gray as the kernel lab computes it (ITU-R 601 weights), so both labs agree."""
    gray = rgb.astype(np.float32) @ np.asarray(LUMA, dtype=np.float32)
    return np.clip(np.rint(gray), 0, 255).astype(np.uint8)


def _resize(pixels: np.ndarray, h: int, w: int) -> np.ndarray:
    if pixels.shape[:2] == (h, w):
        return pixels.copy()
    resized = Image.fromarray(pixels).resize((w, h), Image.Resampling.LANCZOS)
    return np.asarray(resized, dtype=np.uint8).copy()


# ---------------------------------------------------------------- model plumbing


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode for the inspection, then the caller's mode back (training may be paused)."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _one(x: torch.Tensor) -> torch.Tensor:
    """One input as a batch of one: (C, H, W) or (1, C, H, W) → (1, C, H, W) float32."""
    if not isinstance(x, torch.Tensor):
        raise InputError("the input must be a tensor (1, C, H, W)", "image")
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[0] != 1:
        raise InputError(f"the input must be one image (1, C, H, W), got {tuple(x.shape)}",
                         "image")
    return x.detach().float()


def _check_target(logits: torch.Tensor, target: int) -> int:
    k = logits.shape[-1]
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)) or not (
            0 <= target < k):
        raise InputError(f"target must be a class index 0 to {k - 1}, got {target!r}", "target")
    return int(target)


def _check_layer(model: nn.Sequential, layer: int) -> int:
    n = len(model)
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not (
            0 <= layer < n):
        raise InputError(f"layer must be an index 0 to {n - 1}, got {layer!r}", "layer")
    return int(layer)


def _prefix(model: nn.Sequential, layer: int) -> nn.Sequential:
    return model[:layer + 1]  # type: ignore[return-value]


def _channel_score(out: torch.Tensor, channel: int, objective: str = "channel") -> torch.Tensor:
    """(N, C, H, W) → the channel's mean over its map ("channel") or its value at the centre of
    the map ("neuron"), (N,); (N, F) → feature `channel` either way."""
    if out.dim() == 4:
        if objective == "neuron":
            return out[:, channel, out.shape[2] // 2, out.shape[3] // 2]
        return out[:, channel].mean(dim=(1, 2))
    return out.reshape(out.shape[0], -1)[:, channel]


def _check_channel(out: torch.Tensor, channel: int, layer: int) -> int:
    n = out.shape[1] if out.dim() >= 2 else 1
    what = "channels" if out.dim() == 4 else "features"
    if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)) or not (
            0 <= channel < n):
        raise InputError(f"layer {layer} has {n} {what}: channel must be 0 to {n - 1}, "
                         f"got {channel!r}", "channel")
    return int(channel)


# ---------------------------------------------------------------- answers


def predict(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    """Softmax probabilities (K,) float64 for one normalised input (1, C, H, W); the softmax is
    taken in float64 so the shown percentages add up to 100."""
    x = _one(x)
    with _eval_mode(model), torch.no_grad():
        logits = model(x)  # (1, K)
    return torch.softmax(logits.double(), dim=1)[0].numpy()


def activations(model: nn.Sequential, x: torch.Tensor) -> list[np.ndarray]:
    """Every layer's output for one input, without the batch dimension, float32."""
    x = _one(x)
    outs: list[np.ndarray] = []
    with _eval_mode(model), torch.no_grad():
        for layer in model:
            x = layer(x)
            outs.append(x[0].float().numpy().copy())
    return outs


def dataset_answers(model: nn.Sequential, x: torch.Tensor, *, batch: int = 500,
                    progress: Callable[[int, int], None] | None = None
                    ) -> tuple[np.ndarray, list[np.ndarray]]:
    """The model over a whole (test) set x (N, C, H, W), normalised, in batches: the softmax
    probabilities (N, K) float32 and, per layer, each image's mean activation per channel ((N,
    C) for a layer with maps, the outputs themselves (N, F) for a flat one): what ranks "the
    images that excite a unit most".

    `progress(done, total)` is called after each batch; an exception it raises stops the pass
    there (how a caller cancels it).

    Runs on a copy of the model (the caller's, perhaps serving requests meanwhile, is not
    touched) with its maps in channels_last, and layers that act value by value (batch norm
    on its running statistics, the activations) applied in place to the maps the layer before
    made, once their means are taken. Measured on the shipped CNN over the 10,000 MNIST test
    images, 2 cores: 1.3-1.5 s for a first pass in a fresh process, where plain calls took
    2.5-2.8 s (a fresh map each layer: the allocator hands the memory back and forth to the
    system, ~1 s of page faults)."""
    if x.dim() != 4 or len(x) == 0:
        raise InputError(f"the set must be images (N, C, H, W), got {tuple(x.shape)}", "x")
    model = copy.deepcopy(model).eval().to(memory_format=torch.channels_last)
    means: list[list[torch.Tensor]] = [[] for _ in model]
    probs: list[torch.Tensor] = []
    with torch.inference_mode():
        in_place = [_in_place(layer) for layer in model]
        given = x.untyped_storage().data_ptr()
        for start in range(0, len(x), batch):
            h = x[start:start + batch].contiguous(memory_format=torch.channels_last)
            for j, layer in enumerate(model):
                # overwritten only if it is a map a layer made (not x, nor a flat output, which
                # is kept below as it is), its mean already taken
                ours = h.dim() == 4 and h.untyped_storage().data_ptr() != given
                h = in_place[j](h) if ours and in_place[j] is not None else layer(h)
                means[j].append(h.mean(dim=(2, 3)) if h.dim() == 4 else h.reshape(len(h), -1))
            probs.append(torch.softmax(h, dim=1))
            if progress is not None:
                progress(min(start + batch, len(x)), len(x))
    return (torch.cat(probs).numpy(), [torch.cat(m).numpy() for m in means])


def _in_place(layer: nn.Module) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The eval-mode layer as an in-place operation on its input, where it acts value by value
    (or channel by channel); None for the others."""
    if isinstance(layer, nn.ReLU):
        return torch.relu_
    if isinstance(layer, nn.LeakyReLU):
        return lambda h: F.leaky_relu_(h, layer.negative_slope)
    if isinstance(layer, nn.Tanh):
        return torch.tanh_
    if isinstance(layer, nn.Sigmoid):
        return torch.sigmoid_
    if isinstance(layer, nn.BatchNorm2d) and layer.running_var is not None:
        # eval mode: y = (x − mean) / √(var + eps) · weight + bias, one scale and shift per channel
        scale = (layer.running_var + layer.eps).rsqrt()
        if layer.weight is not None:
            scale = scale * layer.weight
        shift = -layer.running_mean * scale
        if layer.bias is not None:
            shift = shift + layer.bias
        return lambda h: h.mul_(scale.view(1, -1, 1, 1)).add_(shift.view(1, -1, 1, 1))
    return None


def map_grid(out: np.ndarray, *, cols: int = 16, width: int = 32, gap: int = 1,
             shared: bool = False, fill: int = 235) -> tuple[np.ndarray, int]:
    """One layer's output as one gray picture at its own size, one pixel per value: maps (C,
    H, W) side by side, `cols` a row, `gap` pixels of `fill` between them (and in the unused
    cells of the last row); a flat output (F,) wrapped into rows of `width` values, as one map
    (the cells after its end take its minimum).

    Each map's values are scaled linearly from its minimum (0, black) to its maximum (255,
    white), rounded; `shared`: all maps from the layer's minimum to its maximum, so maps can be
    compared. A flat map is black. Returns the (rows·(H+gap)−gap, cols'·(W+gap)−gap) uint8
    picture and cols', the maps in a row (min(cols, C); 1 for a flat output). Built in one
    pass over the array, no per-map loop: it sits on the inspector's busiest path."""
    a = np.asarray(out, dtype=np.float32)
    if a.ndim == 1:
        maps = vector_rows(a, width)
        cols = 1
    elif a.ndim == 3:
        maps = a
        cols = max(1, min(cols, len(a)))
    else:
        raise InputError(f"a layer's output is (C, H, W) or (F,), got shape {a.shape}", "out")
    n, h, w = maps.shape
    flat = maps.reshape(n, -1)
    lo = flat.min() if shared else flat.min(axis=1, keepdims=True)
    hi = flat.max() if shared else flat.max(axis=1, keepdims=True)
    span = np.asarray(hi - lo, dtype=np.float32)
    scale = np.divide(np.float32(255.0), span, out=np.zeros_like(span), where=span > 0)
    gray = np.clip(np.rint((flat - lo) * scale), 0, 255).astype(np.uint8)
    rows = math.ceil(n / cols)
    cells = np.full((rows * cols, h, w), fill, np.uint8)
    cells[:n] = gray.reshape(n, h, w)
    grid = np.full((rows, h + gap, cols, w + gap), fill, np.uint8)
    grid[:, :h, :, :w] = cells.reshape(rows, cols, h, w).transpose(0, 2, 1, 3)
    grid = grid.reshape(rows * (h + gap), cols * (w + gap))
    return np.ascontiguousarray(grid[:grid.shape[0] - gap, :grid.shape[1] - gap]), cols


def saliency(model: nn.Sequential, x: torch.Tensor, target: int) -> np.ndarray:
    """|∂ logit_target / ∂ input|, max over channels, (H, W) float32: the pixels whose change
    would move the class score most (vanilla gradient saliency, Simonyan et al. 2014)."""
    x = _one(x).requires_grad_(True)
    with _eval_mode(model), torch.enable_grad():
        logits = model(x)  # (1, K)
        target = _check_target(logits, target)
        (grad,) = torch.autograd.grad(logits[0, target], x)  # (1, C, H, W)
    return grad[0].abs().amax(dim=0).numpy().astype(np.float32)


def grad_cam(model: nn.Sequential, x: torch.Tensor, target: int,
             layer: int | None = None) -> np.ndarray:
    """Grad-CAM (Selvaraju et al. 2017): where in the picture the evidence for `target` lies,
    seen from the maps A of `layer` (default: the last layer whose output is an image (C, H, W),
    the last block before Flatten, whose maps are the most semantic that still have a place).

    Each channel is weighted by the spatial mean of ∂ logit_target / ∂ A_c; cam = ReLU(Σ_c w_c
    A_c), upsampled bilinearly to the input's (H, W) and scaled so the maximum is 1 (an
    all-zero map, no positive evidence anywhere, stays zero). (H, W) float32.
    """
    x = _one(x)
    if layer is not None:
        layer = _check_layer(model, layer)
    with _eval_mode(model), torch.enable_grad():
        h = x
        maps: torch.Tensor | None = None
        spatial: list[int] = []
        outputs: list[torch.Tensor] = []
        for i, module in enumerate(model):
            h = module(h)
            outputs.append(h)
            if h.dim() == 4:
                spatial.append(i)
            if layer is not None and i == layer:
                if h.dim() != 4:
                    raise InputError(f"layer {layer} gives a flat vector; Grad-CAM needs "
                                     f"image maps: use one of layers "
                                     f"{_span(spatial) or 'before Flatten'}", "layer")
                maps = h
                h = h.clone()  # an in-place next layer (ReLU(inplace=True)) must not alter A
        logits = h  # (1, K)
        target = _check_target(logits, target)
        if layer is None:
            if not spatial:
                raise InputError("this model has no layer with image maps (C, H, W) to take a "
                                 "Grad-CAM from", "layer")
            layer = spatial[-1]
            maps = outputs[layer]
        assert maps is not None
        (grads,) = torch.autograd.grad(logits[0, target], maps)  # (1, C, h, w)
    weights = grads.mean(dim=(2, 3), keepdim=True)  # (1, C, 1, 1)
    cam = torch.relu((weights * maps.detach()).sum(dim=1, keepdim=True))  # (1, 1, h, w)
    cam = F.interpolate(cam, size=tuple(x.shape[2:]), mode="bilinear", align_corners=False)
    top = float(cam.max())
    if top > 0:
        cam = cam / top
    return cam[0, 0].numpy().astype(np.float32)


def _span(indices: list[int]) -> str:
    return ", ".join(str(i) for i in indices)


# ---------------------------------------------------------------- units


class _RedirectedReLU(torch.autograd.Function):
    """ReLU forward; backward also lets through a gradient that would raise a negative input
    (Lucid's "redirected ReLU"), so ascent can wake a unit that starts silent on the noise."""

    @staticmethod
    def forward(ctx, z: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(z)
        return z.clamp(min=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (z,) = ctx.saved_tensors
        # Minimising the negative score: a negative gradient means "raise this input".
        return grad * ((z > 0) | (grad < 0)).to(grad.dtype)


def _run_to(head: nn.Sequential, x: torch.Tensor, redirect: bool) -> torch.Tensor:
    for module in head:
        if redirect and isinstance(module, nn.ReLU):
            x = _RedirectedReLU.apply(x)
        else:
            x = module(x)
    return x


def maximize_unit(model: nn.Sequential, input_shape: tuple[int, int, int], layer: int,
                  channel: int, *, steps: int = 60, lr: float = 0.1, seed: int = 0,
                  l2: float = 1e-3, blur_every: int = 4,
                  objective: Literal["channel", "neuron"] = "channel") -> np.ndarray:
    """An input that excites unit (layer, channel): a picture of what it looks for.

    Gradient ascent (Adam) on the channel's mean activation (the feature itself for a flat
    layer), starting from small seeded noise, in normalised input space, with the regularisers
    of feature visualisation (Olah et al. 2017) that keep the picture from turning into
    high-frequency noise: L2 decay (l2·mean(x²), on the scale of the mean activation) and a
    light 3×3 binomial blur every `blur_every` steps. For the first half of the steps the ReLUs
    also pass gradient that would wake them, so a unit silent on the noise still gets a
    direction. `steps=0` gives the starting noise. Returns (C, H, W) float32, min–max scaled to
    [0, 1] for display.

    `objective="neuron"` maximises the channel at the centre of its map instead of its mean:
    the mean of a first-layer (linear) filter is maximised by a flat picture, while one
    position shows the pattern the filter looks for in its receptive field (Olah et al.'s
    "neuron" vs "channel" objectives).
    """
    img = _ascend(model, input_shape, layer, channel, steps=steps, lr=lr, seed=seed, l2=l2,
                  blur_every=blur_every, objective=objective)[0]  # (C, H, W)
    lo, hi = float(img.min()), float(img.max())
    img = (img - lo) / (hi - lo) if hi > lo else torch.zeros_like(img)
    return img.numpy().astype(np.float32)


def _ascend(model: nn.Sequential, input_shape: tuple[int, int, int], layer: int, channel: int,
            *, steps: int, lr: float, seed: int, l2: float, blur_every: int,
            objective: str = "channel") -> torch.Tensor:
    """The ascent itself: the optimised input, (1, C, H, W) in normalised space."""
    layer = _check_layer(model, layer)
    c, h, w = (int(d) for d in input_shape)
    if isinstance(steps, bool) or not isinstance(steps, int) or not 0 <= steps <= 1000:
        raise InputError(f"steps must be a whole number 0 to 1000, got {steps!r}", "steps")
    if objective not in ("channel", "neuron"):
        raise InputError(f"objective must be \"channel\" or \"neuron\", got {objective!r}",
                         "objective")
    head = _prefix(model, layer)
    gen = torch.Generator().manual_seed(seed)
    x = (0.1 * torch.randn(1, c, h, w, generator=gen)).requires_grad_(True)
    # Adam written out: torch.optim's first step costs ~1 s of one-off imports on a CPU.
    m, v = torch.zeros_like(x), torch.zeros_like(x)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    blur = _binomial_blur(c)
    with _eval_mode(model), torch.enable_grad():
        with torch.no_grad():
            channel = _check_channel(head(x), channel, layer)
        for step in range(1, steps + 1):
            out = _run_to(head, x, redirect=step <= steps // 2)
            loss = -_channel_score(out, channel, objective)[0] + l2 * x.pow(2).mean()
            (grad,) = torch.autograd.grad(loss, x)
            with torch.no_grad():
                m.mul_(beta1).add_(grad, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                m_hat, v_hat = m / (1 - beta1 ** step), v / (1 - beta2 ** step)
                x.sub_(lr * m_hat / (v_hat.sqrt() + eps))
                if blur_every > 0 and step % blur_every == 0:
                    x.copy_(F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), blur, groups=c))
    return x.detach()


def _binomial_blur(channels: int) -> torch.Tensor:
    """[1 2 1]ᵀ[1 2 1] / 16 per channel: the lightest blur that removes pixel-level checkers."""
    k = torch.tensor([1.0, 2.0, 1.0])
    k2 = torch.outer(k, k) / 16.0
    return k2.expand(channels, 1, 3, 3).contiguous()


# ---------------------------------------------------------------- filters


def kernel_similarity(filters: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Cosine similarity of each learned first-layer filter with a hand-made kernel, (N,) in
    [−1, 1]: "filter 3 looks most like a vertical-edge detector" (and −1: the same edge, dark
    and light swapped).

    `filters` is (N, kh, kw), or (N, C, kh, kw) as a Conv2d holds it: then the channels are
    summed, which is the filter's response to a gray picture (the same plane in every channel).
    Both are mean-removed (a filter's DC part only answers brightness) on their centred overlap
    when the sizes differ. A flat (constant) filter or kernel has similarity 0.
    """
    f = np.asarray(filters, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    if f.ndim == 4:
        f = f.sum(axis=1)
    if f.ndim != 3 or f.shape[0] == 0 or 0 in f.shape[1:]:
        raise InputError(f"filters must be (N, kh, kw) or (N, C, kh, kw), got shape "
                         f"{np.shape(filters)}", "filters")
    if r.ndim != 2 or 0 in r.shape:
        raise InputError(f"the kernel must be a 2-D grid, got shape {r.shape}", "kernel")
    if not (np.isfinite(f).all() and np.isfinite(r).all()):
        raise InputError("filters and kernel must be finite numbers", "kernel")
    oh, ow = min(f.shape[1], r.shape[0]), min(f.shape[2], r.shape[1])
    f = _centre_crop(f, oh, ow).reshape(f.shape[0], -1)
    r = _centre_crop(r[None], oh, ow).reshape(-1)
    f_norm = np.linalg.norm(f, axis=1)
    r_norm = np.linalg.norm(r)
    f = f - f.mean(axis=1, keepdims=True)
    r = r - r.mean()
    # What is left of a constant after removing its mean is rounding error, not a pattern.
    f_ok = np.linalg.norm(f, axis=1) > 1e-9 * f_norm
    r_ok = np.linalg.norm(r) > 1e-9 * r_norm
    norms = np.linalg.norm(f, axis=1) * np.linalg.norm(r)
    sim = np.zeros(f.shape[0])
    if r_ok:
        sim[f_ok] = (f[f_ok] @ r) / norms[f_ok]
    return np.clip(sim, -1.0, 1.0)


def _centre_crop(a: np.ndarray, h: int, w: int) -> np.ndarray:
    """(N, H, W) → its centred (N, h, w) window (for even differences, the upper-left one)."""
    top, left = (a.shape[1] - h) // 2, (a.shape[2] - w) // 2
    return a[:, top:top + h, left:left + w]

