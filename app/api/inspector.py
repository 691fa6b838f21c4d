"""The model inspector: what a trained CNN answers, what every layer makes of an input, where it
looks, and what its units respond to. Inputs are a drawing (rows of 0-255 numbers), an image
(uploaded as a file here, or by id from POST /api/v1/images) or a test-set example."""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
import torch
from fastapi import APIRouter, Query
from fastapi.responses import Response

from app.core import images, inspect, kernels
from app.core.errors import InputError
from app.core.images import png_data_url
from app.http.deps import SOURCE_BODY as BODY
from app.http.deps import InspectorDep, Source, SourceDep
from app.services.inspector import Inspector, Loaded, to_display
from app.services.schemas import ErrorResponse

router = APIRouter(prefix="/api/v1/models", tags=["inspector"])

ERRORS: dict[int | str, dict] = {
    404: {"model": ErrorResponse, "description": "no such model"},
    413: {"model": ErrorResponse, "description": "image too large"},
    415: {"model": ErrorResponse, "description": "not an image format we take"},
    422: {"model": ErrorResponse, "description": "invalid input, layer or channel"},
}
ENLARGED = 224  # px: the side a single map or heat map is drawn at


def _input(inspector: Inspector, m: Loaded, source: Source) -> tuple[np.ndarray, torch.Tensor]:
    x = inspector.input_from(m, **source.values)
    return x, m.tensor(x)


def _answer(m: Loaded, x: np.ndarray, t: torch.Tensor) -> dict:
    p = inspect.predict(m.model, t)
    best = int(p.argmax())
    return {"model": m.stored.name, "classes": m.classes, "prediction": best,
            "label": m.classes[best], "probabilities": p.tolist(),
            "input_png": png_data_url(to_display(x))}


def _enlarge(pixels: np.ndarray, side: int = ENLARGED) -> np.ndarray:
    k = max(1, side // max(pixels.shape[:2]))
    return pixels.repeat(k, axis=0).repeat(k, axis=1)


@router.post("/{name}/predict", openapi_extra=BODY, responses=ERRORS)
def predict(name: str, source: SourceDep, inspector: InspectorDep) -> dict:
    """Class probabilities (softmax) for one input, and the input as the model saw it."""
    m = inspector.load(name)
    x, t = _input(inspector, m, source)
    return _answer(m, x, t)


@router.post("/{name}/activations", openapi_extra=BODY, responses=ERRORS)
def activations(name: str, source: SourceDep, inspector: InspectorDep,
                scale: Annotated[Literal["each", "shared"], Query(
                    description="each map to its own range, or one range per layer")] = "each",
                values: Annotated[bool, Query(description="also the raw numbers")] = False
                ) -> dict:
    """Every layer's output for one input: name, shape, receptive field, and its maps as one
    PNG grid (`cols` maps a row, each `tile` pixels, `gap` between); 1-D outputs as a strip."""
    m = inspector.load(name)
    x, t = _input(inspector, m, source)
    outs = inspect.activations(m.model, t)
    layers = []
    for row, out, rf in zip(m.table.rows, outs, m.fields, strict=True):
        if out.ndim == 3:
            maps, cols = out, min(16, len(out))
            tile_scale = max(1, 56 // max(out.shape[1], 1))
        else:
            maps = images.vector_rows(out, 32)
            cols, tile_scale = 1, max(6, 192 // maps.shape[2])
        entry = {"index": row.index, "label": row.label, "type": m.table.rows[row.index].type,
                 "shape": list(out.shape), "range": [float(out.min()), float(out.max())],
                 "receptive_field": None if rf is None else vars(rf),
                 "cols": cols, "tile": [int(maps.shape[1]) * tile_scale,
                                        int(maps.shape[2]) * tile_scale], "gap": 2,
                 "png": png_data_url(images.mosaic(maps, signed=False, cols=cols, scale=tile_scale,
                                              gap=2, shared=scale == "shared"))}
        if values:
            entry["values"] = out.tolist()
        layers.append(entry)
    return _answer(m, x, t) | {"layers": layers}


def _producing_conv(m: Loaded, layer: int) -> int | None:
    """The conv layer whose filter made a channel of `layer`'s output: itself, or the last
    conv before it (batch norm, activations and pooling act channel by channel)."""
    for i in range(layer, -1, -1):
        t = m.table.rows[i].type
        if t == "conv2d":
            return i
        if t in ("flatten", "linear"):
            return None
    return None


@router.post("/{name}/units/{layer}/{channel}", openapi_extra=BODY, responses=ERRORS)
def unit(name: str, layer: int, channel: int, source: SourceDep, inspector: InspectorDep
         ) -> dict:
    """One map enlarged, with the kernels that produced it (the conv filter, one slice per
    input channel) and the receptive field of its units."""
    m = inspector.load(name)
    _check_unit(m, layer, channel)
    x, t = _input(inspector, m, source)
    out = inspect.activations(m.model, t)[layer]
    if out.ndim != 3:
        raise InputError(f"layer {layer} gives a vector, not maps; pick a conv, pooling or "
                         "activation layer before Flatten", "layer")
    conv = _producing_conv(m, layer)
    kernels_out = None
    if conv is not None:
        w = m.model[conv].weight[channel].detach().numpy()  # (in_channels, kh, kw)
        kernels_out = {"layer": conv, "label": m.table.rows[conv].label, "shape": list(w.shape),
                       "bias": float(m.model[conv].bias[channel].detach()),
                       "png": png_data_url(images.mosaic(w, signed=True, cols=min(8, len(w)),
                                                    scale=max(4, 48 // w.shape[1]), gap=2,
                                                    shared=True))}
    rf = m.fields[layer]
    return {"layer": layer, "channel": channel, "label": m.table.rows[layer].label,
            "shape": list(out.shape[1:]), "range": [float(out[channel].min()),
                                                    float(out[channel].max())],
            "png": png_data_url(_enlarge(images.mosaic(out[channel][None], signed=False, gap=0))),
            "receptive_field": None if rf is None else vars(rf), "kernels": kernels_out}


def _check_unit(m: Loaded, layer: int, channel: int) -> None:
    if not 0 <= layer < len(m.table.rows):
        raise InputError(f"layer must be 0 to {len(m.table.rows) - 1}", "layer")
    channels = m.table.rows[layer].output_shape[0]
    if not 0 <= channel < channels:
        raise InputError(f"layer {layer} has {channels} channels: channel must be 0 to "
                         f"{channels - 1}", "channel")


def _heat_response(m: Loaded, x: np.ndarray, heat: np.ndarray, target: int, fmt: str
                   ) -> Response | dict:
    if fmt == "json":
        return {"target": target, "label": m.classes[target], "values": heat.tolist()}
    gray = x[0] if x.shape[0] == 1 else x.mean(axis=0).astype(np.uint8)
    pixels = _enlarge(images.heat_overlay(gray, heat))
    return Response(images.encode(pixels), media_type="image/png")


@router.post("/{name}/saliency", openapi_extra=BODY, response_model=None, responses={
    200: {"content": {"image/png": {}, "application/json": {}}}, **ERRORS})
def saliency(name: str, source: SourceDep, inspector: InspectorDep,
             target: Annotated[int | None, Query(description="class; default: predicted")] = None,
             format: Annotated[Literal["png", "json"], Query()] = "png") -> Response | dict:
    """Where a small change of the input moves the class score most (|gradient|), as a heat
    map over the input; scaled to its largest value."""
    m = inspector.load(name)
    x, t = _input(inspector, m, source)
    target = int(inspect.predict(m.model, t).argmax()) if target is None else target
    heat = inspect.saliency(m.model, t, target)
    heat = heat / heat.max() if heat.max() > 0 else heat
    return _heat_response(m, x, heat, target, format)


@router.post("/{name}/gradcam", openapi_extra=BODY, response_model=None, responses={
    200: {"content": {"image/png": {}, "application/json": {}}}, **ERRORS})
def gradcam(name: str, source: SourceDep, inspector: InspectorDep,
            target: Annotated[int | None, Query(description="class; default: predicted")] = None,
            layer: Annotated[int | None, Query(description="default: the last layer with "
                                                           "maps")] = None,
            format: Annotated[Literal["png", "json"], Query()] = "png") -> Response | dict:
    """Grad-CAM: the last maps weighted by how much the class score depends on each, as a heat
    map over the input (0 to 1)."""
    m = inspector.load(name)
    x, t = _input(inspector, m, source)
    target = int(inspect.predict(m.model, t).argmax()) if target is None else target
    return _heat_response(m, x, inspect.grad_cam(m.model, t, target, layer), target, format)


@router.get("/{name}/units/{layer}/{channel}/top-examples", responses=ERRORS)
def top_examples(name: str, layer: int, channel: int, inspector: InspectorDep,
                 k: Annotated[int, Query(ge=1, le=64)] = 9) -> dict:
    """The test images that excite this unit most (its mean activation), as in the feature
    visualisation literature's "dataset examples"."""
    m = inspector.load(name)
    _check_unit(m, layer, channel)
    test = inspector.test_set(m)
    scores = test.unit_means[layer][:, channel]
    order = np.argsort(-scores, kind="stable")[:k]
    return {"layer": layer, "channel": channel, "label": m.table.rows[layer].label,
            "examples": [_example(m, test, int(i)) | {"score": float(scores[i])} for i in order]}


def _example(m: Loaded, test, i: int) -> dict:
    return {"index": i, "label": m.classes[int(test.y[i])],
            "prediction": m.classes[int(test.predictions[i])],
            "confidence": float(test.confidence[i]), "png": png_data_url(to_display(test.x[i]))}


@router.get("/{name}/units/{layer}/{channel}/optimized", response_class=Response,
            responses={200: {"content": {"image/png": {}}}, **ERRORS})
def optimized(name: str, layer: int, channel: int, inspector: InspectorDep) -> Response:
    """An input made to excite this unit: gradient ascent from faint noise, kept smooth."""
    m = inspector.load(name)
    _check_unit(m, layer, channel)
    # early units see a small patch: push the one in the middle to show its pattern; deeper
    # ones see most of the input: push the whole map (their texture, their digit parts)
    rf = m.fields[layer]
    small = rf is not None and rf.size < m.input_shape[1] // 2
    pic = inspect.maximize_unit(m.model, m.input_shape, layer, channel,
                                objective="neuron" if small else "channel")
    pixels = (pic * 255).round().astype(np.uint8)
    return Response(images.encode(_enlarge(to_display(pixels), 168)), media_type="image/png",
                    headers={"Cache-Control": "max-age=3600"})


@router.get("/{name}/examples", responses=ERRORS)
def examples(name: str, inspector: InspectorDep,
             wrong: Annotated[bool, Query(description="only the ones it gets wrong")] = False,
             limit: Annotated[int, Query(ge=1, le=200)] = 24,
             offset: Annotated[int, Query(ge=0)] = 0) -> dict:
    """Test-set images to inspect, with the label and the model's answer; `wrong=true` lists
    its mistakes (most confident first)."""
    m = inspector.load(name)
    test = inspector.test_set(m)
    if wrong:
        idx = np.nonzero(test.predictions != test.y)[0]
        idx = idx[np.argsort(-test.confidence[idx], kind="stable")]
    else:
        idx = np.arange(len(test.y))
    chosen = idx[offset:offset + limit]
    return {"total": int(len(idx)), "accuracy": float((test.predictions == test.y).mean()),
            "examples": [_example(m, test, int(i)) for i in chosen]}


CLASSIC = ("edge-vertical", "edge-horizontal", "sobel-x", "sobel-y", "laplacian", "outline",
           "box-blur", "gaussian-3", "sharpen", "identity", "emboss")


@router.get("/{name}/filters", responses=ERRORS)
def filters(name: str, inspector: InspectorDep) -> dict:
    """The first conv layer's filters beside hand-made kernels from the kernel lab: for each
    learned filter, the classic kernel it resembles most (cosine similarity, means removed;
    a negative similarity means the same detector with the sign flipped)."""
    m = inspector.load(name)
    conv = next((i for i, r in enumerate(m.table.rows) if r.type == "conv2d"), None)
    if conv is None:
        raise InputError("this model has no convolution layer", "name")
    w = m.model[conv].weight.detach().numpy()
    learned = w.mean(axis=1) if w.shape[1] > 1 else w[:, 0]
    classic = [kernels.PRESETS_BY_KEY[k] for k in CLASSIC]
    sims = np.stack([inspect.kernel_similarity(learned, np.array(p.matrix, dtype=np.float64))
                     for p in classic], axis=1)  # (filters, classic)
    out = []
    for i, f in enumerate(learned):
        j = int(np.abs(sims[i]).argmax())
        out.append({"index": i, "png": png_data_url(_enlarge(images.mosaic(
            f[None], signed=True, gap=0), 72)),
            "closest": {"key": classic[j].key, "name": classic[j].name,
                        "similarity": float(sims[i, j])}})
    return {"layer": conv, "label": m.table.rows[conv].label, "filters": out,
            "classic": [{"key": p.key, "name": p.name, "png": png_data_url(_enlarge(images.mosaic(
                np.array(p.matrix, dtype=np.float32)[None], signed=True, gap=0), 72))}
                for p in classic]}
