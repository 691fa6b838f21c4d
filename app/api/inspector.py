"""The model inspector: what a trained CNN answers, what every layer makes of an input, where it
looks, and what its units respond to. Inputs are a drawing (rows of 0-255 numbers), an image
(uploaded as a file here, or by id from POST /api/v1/images) or a test-set example.

Each route asks `app.services.inspector` one question and returns its answer in the shape below;
pictures inside JSON are PNG data URLs (`data:image/png;base64,…`). A layer's maps come at their
own size, one pixel per value: enlarge them without smoothing to look at them (in a notebook,
`plt.imshow(img, interpolation="nearest")`; the page, CSS `image-rendering: pixelated`).

The answers drawn from the test set (top examples, the listing of examples and mistakes) need
the model's pass over it, which takes seconds. The server begins it for the shipped models when
it starts, and for another model when first asked; until it is done these routes answer 202
with its progress and a Retry-After header: ask again then."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from app.api.shared import errors
from app.http.deps import SOURCE_BODY as BODY
from app.http.deps import InspectorDep, SourceDep
from app.services import inspector as service
from app.settings import LIMITS

router = APIRouter(prefix="/api/v1/models", tags=["inspector"])

# every route: a training run's id names a model too, once the run has saved its weights
NO_WEIGHTS = "a training run's id, but the run has no saved weights yet"
WORDS = {"_404": "no such model", "_409": NO_WEIGHTS, "_413": "image too large",
         "_415": "not an image format we take", "_422": "invalid input, layer or channel"}
ERRORS = errors(404, 409, 413, 415, 422, **WORDS)  # routes that take an input
UNIT_ERRORS = errors(404, 409, 422, _404=WORDS["_404"], _409=NO_WEIGHTS,
                     _422="invalid layer or channel, or no test set")
PNG = "a PNG data URL"


# ---------------------------------------------------------------- response models

class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ReceptiveFieldOut(Out):
    """Along each axis, unit i of the map sees input pixels left + i·jump to
    left + i·jump + size − 1 (left < 0 reaches into the padding)."""

    size: int
    jump: int
    left: int


class PredictOut(Out):
    model: str
    classes: list[str]
    prediction: int = Field(description="index of the most probable class")
    label: str = Field(description="its class name")
    probabilities: list[float] = Field(description="softmax, one per class")
    input_png: str = Field(description=f"the input as the model saw it, {PNG}")


class LayerActivation(Out):
    index: int
    label: str
    type: str
    shape: list[int] = Field(description="the layer's output, without the batch")
    range: list[float] = Field(description="[min, max] of the output")
    receptive_field: ReceptiveFieldOut | None
    cols: int = Field(description="maps in a row of the grid")
    tile: list[int] = Field(description="[height, width] of one map in the grid, px: the map's "
                                        "own size (one pixel per value)")
    gap: int = Field(description="px between maps (light gray, 235)")
    zoom: int = Field(description="the enlargement the page draws the grid at (pixelated): "
                                  "maps about 56 px a side")
    png: str = Field(description=f"the maps as one gray grid at their own size, {PNG}: map c "
                                 "at row c // cols, column c % cols; each map's values scaled "
                                 "from its minimum (0) to its maximum (255), or with "
                                 "scale=shared from the layer's; a 1-D output wrapped into rows "
                                 "of 32 values (one tile; the cells past its end black)")
    values: list | None = Field(None, exclude_if=lambda v: v is None,
                                description="the raw output (with values=true only)")


class ActivationsOut(PredictOut):
    layers: list[LayerActivation]


class UnitKernelsOut(Out):
    layer: int = Field(description="the conv layer whose filter made this channel")
    label: str
    shape: list[int] = Field(description="[in_channels, height, width]")
    bias: float
    png: str = Field(description=f"one slice per input channel, {PNG}")


class UnitOut(Out):
    layer: int
    channel: int
    label: str
    shape: list[int] = Field(description="[height, width] of the map")
    range: list[float] = Field(description="[min, max] of the map")
    png: str = Field(description=f"the map enlarged, {PNG}")
    receptive_field: ReceptiveFieldOut | None
    kernels: UnitKernelsOut | None = Field(description="null after Flatten (no conv filter)")


class HeatValuesOut(Out):
    target: int
    label: str
    values: list[list[float]] = Field(description="the heat map over the input, 0 to 1")


class ExampleOut(Out):
    index: int = Field(description="index into the test set")
    label: str
    prediction: str
    confidence: float
    png: str


class ScoredExampleOut(ExampleOut):
    score: float = Field(description="the unit's mean activation for this image")


class TopExamplesOut(Out):
    layer: int
    channel: int
    label: str
    examples: list[ScoredExampleOut]


class ExamplesOut(Out):
    total: int = Field(description="how many there are (all, or all the mistakes)")
    accuracy: float = Field(description="on the whole test set")
    examples: list[ExampleOut]


class ClosestOut(Out):
    key: str
    name: str
    similarity: float = Field(description="cosine similarity, −1 to 1")


class LearnedFilterOut(Out):
    index: int
    png: str
    closest: ClosestOut


class ClassicKernelOut(Out):
    key: str
    name: str
    png: str


class PendingOut(Out):
    status: Literal["pending"] = "pending"
    progress: float = Field(ge=0, le=1, description="the test-set pass, 0 to 1 (images done)")
    retry_after: int = Field(ge=1, description="seconds to wait before asking again (also "
                                               "the Retry-After header)")
    message: str = Field(description="what is under way, in words")


PENDING = {202: {"model": PendingOut, "description": "the model's pass over its test set is "
                 "still running (begun at start-up for the shipped models, else by this "
                 "request): its progress; ask again after Retry-After seconds",
                 "headers": {"Retry-After": {"schema": {"type": "integer"},
                                             "description": "seconds"}}}}


def _pending(p: service.Pending) -> JSONResponse:
    return JSONResponse(PendingOut.model_validate(p).model_dump(), status_code=202,
                        headers={"Retry-After": str(p.retry_after)})


class FiltersOut(Out):
    layer: int
    label: str
    filters: list[LearnedFilterOut]
    classic: list[ClassicKernelOut]


HEAT = {200: {"model": HeatValuesOut, "content": {"image/png": {}},
              "description": "the heat map over the input (PNG), or its numbers (JSON)"},
        **ERRORS}
Target = Annotated[int | None, Query(description="class; default: predicted")]
Format = Annotated[Literal["png", "json"], Query()]


# ---------------------------------------------------------------- routes

@router.post("/{name}/predict", openapi_extra=BODY, response_model=PredictOut, responses=ERRORS)
def predict(name: str, source: SourceDep, inspector: InspectorDep) -> PredictOut:
    """Class probabilities (softmax) for one input, and the input as the model saw it."""
    return PredictOut.model_validate(service.predict(inspector, name, source.values))


@router.post("/{name}/activations", openapi_extra=BODY, response_model=ActivationsOut,
             responses=ERRORS)
def activations(name: str, source: SourceDep, inspector: InspectorDep,
                scale: Annotated[Literal["each", "shared"], Query(
                    description="each map to its own range, or one range per layer")] = "each",
                values: Annotated[bool, Query(description="also the raw numbers")] = False
                ) -> ActivationsOut:
    """Every layer's output for one input: name, shape, receptive field, and its maps as one
    PNG grid (`cols` maps a row, each `tile` pixels, `gap` between); 1-D outputs as a strip."""
    return ActivationsOut.model_validate(service.activations(
        inspector, name, source.values, shared=scale == "shared", values=values))


@router.post("/{name}/units/{layer}/{channel}", openapi_extra=BODY, response_model=UnitOut,
             responses=ERRORS)
def unit(name: str, layer: int, channel: int, source: SourceDep, inspector: InspectorDep
         ) -> UnitOut:
    """One map enlarged, with the kernels that produced it (the conv filter, one slice per
    input channel) and the receptive field of its units."""
    return UnitOut.model_validate(service.unit(inspector, name, layer, channel, source.values))


def _heat_response(heat: service.HeatMap, fmt: str) -> Response | HeatValuesOut:
    if fmt == "json":
        return HeatValuesOut(target=heat.target, label=heat.label, values=heat.values())
    return Response(heat.png(), media_type="image/png")


@router.post("/{name}/saliency", openapi_extra=BODY, response_model=None, responses=HEAT)
def saliency(name: str, source: SourceDep, inspector: InspectorDep, target: Target = None,
             format: Format = "png") -> Response | HeatValuesOut:
    """Where a small change of the input moves the class score most (|gradient|), as a heat
    map over the input; scaled to its largest value."""
    return _heat_response(service.saliency(inspector, name, source.values, target), format)


@router.post("/{name}/gradcam", openapi_extra=BODY, response_model=None, responses=HEAT)
def gradcam(name: str, source: SourceDep, inspector: InspectorDep, target: Target = None,
            layer: Annotated[int | None, Query(description="default: the last layer with "
                                                           "maps")] = None,
            format: Format = "png") -> Response | HeatValuesOut:
    """Grad-CAM: the last maps weighted by how much the class score depends on each, as a heat
    map over the input (0 to 1)."""
    return _heat_response(service.gradcam(inspector, name, source.values, target, layer),
                          format)


@router.get("/{name}/units/{layer}/{channel}/top-examples", response_model=TopExamplesOut,
            responses={**PENDING, **UNIT_ERRORS})
def top_examples(name: str, layer: int, channel: int, inspector: InspectorDep,
                 k: Annotated[int, Query(ge=1, le=LIMITS.top_examples)] = 9
                 ) -> TopExamplesOut | JSONResponse:
    """The test images that excite this unit most (its mean activation), as in the feature
    visualisation literature's "dataset examples". 202 with progress while the model's
    test-set pass runs."""
    answer = service.top_examples(inspector, name, layer, channel, k)
    if isinstance(answer, service.Pending):
        return _pending(answer)
    return TopExamplesOut.model_validate(answer)


@router.get("/{name}/units/{layer}/{channel}/optimized", response_class=Response,
            responses={200: {"content": {"image/png": {}}}, **UNIT_ERRORS})
def optimized(name: str, layer: int, channel: int, inspector: InspectorDep) -> Response:
    """An input made to excite this unit: gradient ascent from faint noise, kept smooth."""
    return Response(service.optimized(inspector, name, layer, channel), media_type="image/png",
                    headers={"Cache-Control": "max-age=3600"})


@router.get("/{name}/examples", response_model=ExamplesOut, responses={**PENDING, **errors(
    404, 409, 422, _404=WORDS["_404"], _409=NO_WEIGHTS,
    _422="invalid limit or offset, or no test set")})
def examples(name: str, inspector: InspectorDep,
             wrong: Annotated[bool, Query(description="only the ones it gets wrong")] = False,
             limit: Annotated[int, Query(ge=1, le=LIMITS.examples_page)] = 24,
             offset: Annotated[int, Query(ge=0)] = 0) -> ExamplesOut | JSONResponse:
    """Test-set images to inspect, with the label and the model's answer; `wrong=true` lists
    its mistakes (most confident first). 202 with progress while the model's test-set pass runs."""
    answer = service.examples(inspector, name, wrong=wrong, limit=limit, offset=offset)
    if isinstance(answer, service.Pending):
        return _pending(answer)
    return ExamplesOut.model_validate(answer)


@router.get("/{name}/filters", response_model=FiltersOut, responses=errors(
    404, 409, _404=WORDS["_404"], _409=f"the model has no convolution layer; or {NO_WEIGHTS}"))
def filters(name: str, inspector: InspectorDep) -> FiltersOut:
    """The first conv layer's filters beside hand-made kernels from the kernel lab: for each
    learned filter, the classic kernel it resembles most (cosine similarity, means removed;
    a negative similarity means the same detector with the sign flipped)."""
    return FiltersOut.model_validate(service.filters(inspector, name))
