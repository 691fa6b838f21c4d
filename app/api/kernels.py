"""Kernels: the presets, one kernel on a grid or an image, and a filter bank."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel

from app.api.shared import errors
from app.core import kernels
from app.http.deps import ImagesDep, ResultsDep, SettingsDep
from app.services import kernel_lab
from app.services.schemas import (
    BankMap,
    ConvolveRequest,
    FilterBankRequest,
    FilterBankResult,
    GridResult,
    ImageResult,
    Preset,
    Stats,
)

router = APIRouter(prefix="/api/v1", tags=["kernels"])


@router.get("/kernels/presets", response_model=list[Preset])
def list_presets() -> list[Preset]:
    """Classic kernels with a one-line explanation each; `scale` is the divisor to use."""
    return [Preset(key=p.key, name=p.name, matrix=[list(r) for r in p.matrix], scale=p.scale,
                   explanation=p.explanation) for p in kernels.PRESETS]


def _stats(s) -> Stats:
    return Stats(min=s.min, max=s.max, mean=s.mean)


@router.post("/convolve", response_model=None, responses={
    200: {"model": GridResult | ImageResult,
          "description": "GridResult for `input`; for `image_id` the filtered image, or "
          "ImageResult when response='json'",
          "content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}},
    **errors(404, 422)})
def convolve(req: ConvolveRequest, store: ImagesDep, results: ResultsDep,
             settings: SettingsDep) -> Response | GridResult | ImageResult:
    """Cross-correlation as `torch.nn.functional.conv2d` computes it (`flip` for true
    convolution), on a grid of numbers or on an image."""
    kernel_lab.check_source(req.image_id, req.input)
    if req.input is not None:
        out = kernel_lab.convolve_grid(req)
        return GridResult(output=out.tolist(), shape=list(out.shape))
    if req.response == "image":  # the picture is the answer: nothing kept to fetch later
        r = kernel_lab.convolve_image(req, store, None)
        return Response(r.data, media_type=r.media_type)
    r = kernel_lab.convolve_image(req, store, results)
    return ImageResult(url=f"/api/v1/results/{r.result_id}", media_type=r.media_type,
                       shape=list(r.shape), input_shape=list(r.input_shape),
                       padding=[r.padding.top, r.padding.bottom, r.padding.left, r.padding.right],
                       stats=_stats(r.stats))


@router.post("/filter-bank", response_model=FilterBankResult,
             responses={**errors(404, 422)})
def filter_bank(req: FilterBankRequest, store: ImagesDep, results: ResultsDep,
                settings: SettingsDep) -> FilterBankResult:
    """Several kernels on one input, one activation map each (the depth of a conv layer's output).
    On an image, the maps are computed on its gray version scaled to `bank_map_side` (256 px)
    unless size='full'; each map is a picture at `url`. On a grid, each map is `output`."""
    kernel_lab.check_source(req.image_id, req.input)
    if req.input is not None:
        entries = kernel_lab.bank_entries(req)
        maps = []
        for e in entries:
            single = ConvolveRequest(**req.model_dump(exclude={"kernels", "image_id"}),
                                     kernel=e.kernel.tolist())
            out = kernel_lab.convolve_grid(single)
            maps.append(BankMap(name=e.name, output=out.tolist(), shape=list(out.shape),
                                stats=Stats(min=out.min(), max=out.max(), mean=out.mean())))
        return FilterBankResult(depth=len(maps), maps=maps)
    rendered = kernel_lab.filter_bank_image(req, store, results, settings.bank_map_side)
    return FilterBankResult(depth=len(rendered), maps=[
        BankMap(name=name, url=f"/api/v1/results/{r.result_id}", shape=list(r.shape),
                stats=_stats(r.stats)) for name, r in rendered])


class HealthOut(BaseModel):
    status: Literal["ok"]


@router.get("/health", response_model=HealthOut)
async def health() -> dict[str, str]:
    """A trivial JSON endpoint: liveness, and the reference the benchmarks compare against.
    (It returns a plain dict on purpose: the benchmarks' reference must stay trivial.)"""
    return {"status": "ok"}
