"""The kernel lab's one implementation, called by both the REST router and the page router.

It joins the stores to the pure core: looks the image up, applies the kernel, maps values for
display, encodes, and files the picture in the result store.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from app.core import images, kernels
from app.services.errors import Invalid
from app.services.images import ImageStore, ResultStore
from app.services.schemas import ConvolveRequest, ConvSettings, FilterBankRequest
from app.settings import LIMITS


def conv_spec(s: ConvSettings) -> kernels.ConvSpec:
    spec = kernels.ConvSpec(stride=s.stride, padding=s.padding, padding_mode=s.padding_mode,
                            dilation=s.dilation, scale=s.scale, bias=s.bias, flip=s.flip)
    spec.validate(LIMITS.kernels)
    return spec


def check_source(image_id: str | None, grid: object) -> None:
    if (image_id is None) == (grid is None):
        raise Invalid("give exactly one of `input` (a 2-D grid of numbers) "
                       "or `image_id` (an uploaded or sample image)", "image_id")


def convolve_grid(req: ConvolveRequest) -> np.ndarray:
    return kernels.convolve_grid(req.input, req.kernel, conv_spec(req), limits=LIMITS.kernels)


@dataclass(frozen=True)
class Rendered:
    """A filtered image: the picture (display-mapped, encoded, stored) and its numbers. Asked
    for without a result store, the picture alone: no result_id, no stats."""

    result_id: str | None
    media_type: str
    data: bytes
    shape: tuple[int, int]
    input_shape: tuple[int, int]
    padding: kernels.Padding
    stats: images.ValueStats | None


def _planes(store: ImageStore, image_id: str, s: ConvSettings, max_side: int | None
            ) -> torch.Tensor:
    img = store.get(image_id)
    if max_side is not None:
        return img.planes(s.channels, max_side)
    if s.size == "full":
        return images.to_planes(img.full, s.channels)
    return img.planes(s.channels)


def render(x: torch.Tensor, kernel: np.ndarray, s: ConvSettings, results: ResultStore | None,
           strips: kernels.Strips | None = None) -> Rendered:
    """The kernel on x, mapped for display and encoded; filed in `results` with its stats, or
    (None) the picture alone, for an answer that is the picture: a result nobody can ask for
    by id would cost a file write and push out one that a page still shows."""
    spec = conv_spec(s)
    pad = kernels.check_fits(x.shape[2], x.shape[3], *kernel.shape, spec)
    y = kernels.convolve(x, kernel, spec, limits=LIMITS.kernels, strips=strips)  # (1, C, Ho, Wo)
    stats = None if results is None else images.value_stats(y)
    data = images.encode(images.to_display(y, s.display, stats, overwrite=True), s.format)
    media_type = images.MEDIA_TYPES[s.format]
    result_id = None if results is None else results.put(data, media_type)
    return Rendered(result_id=result_id, media_type=media_type, data=data,
                    shape=(int(y.shape[2]), int(y.shape[3])),
                    input_shape=(int(x.shape[2]), int(x.shape[3])), padding=pad, stats=stats)


def convolve_image(req: ConvolveRequest, store: ImageStore, results: ResultStore | None
                   ) -> Rendered:
    """req's kernel on its image (the preview's planes and strips cached beside it); `results`
    as for render."""
    assert req.image_id is not None
    kernel = kernels.validate_kernel(req.kernel, LIMITS.kernels)
    x = _planes(store, req.image_id, req, None)
    halo = kernels.strip_halo(x, kernel, conv_spec(req))
    strips = (store.get(req.image_id).strips(req.channels, halo)
              if halo is not None and req.size != "full" else None)  # cached beside the planes
    return render(x, kernel, req, results, strips)


@dataclass(frozen=True)
class BankEntry:
    name: str
    kernel: np.ndarray


def bank_entries(req: FilterBankRequest) -> list[BankEntry]:
    max_kernels = LIMITS.kernels.bank_kernels
    if len(req.kernels) > max_kernels:
        raise Invalid(f"a filter bank holds at most {max_kernels} kernels, "
                       f"got {len(req.kernels)}", "kernels")
    entries = []
    for i, k in enumerate(req.kernels):
        try:
            kernel = kernels.validate_kernel(k.kernel, LIMITS.kernels)
        except kernels.KernelError as exc:
            raise Invalid(f"kernel {i + 1}: {exc.message}", "kernels"
                           ) from exc
        entries.append(BankEntry(k.name or f"filter {i + 1}", kernel))
    return entries


def filter_bank_image(req: FilterBankRequest, store: ImageStore, results: ResultStore,
                      map_side: int) -> list[tuple[str, Rendered]]:
    """Every kernel on the same (gray, reduced) image: the activation maps of one conv layer."""
    assert req.image_id is not None
    entries = bank_entries(req)
    settings = req.model_copy(update={"channels": "gray"})
    x = _planes(store, req.image_id, settings, None if req.size == "full" else map_side)
    return [(e.name, render(x, e.kernel, settings, results)) for e in entries]
