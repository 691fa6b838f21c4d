"""The generative lab: decode latent points of the shipped VAEs and GAN, sample, interpolate,
encode digits (VAE), the 2-D VAE's manifold and latent map, and latent arithmetic.

Each route asks `app.services.generative` one question and returns its answer in the shape
below; pictures inside JSON are PNG data URLs (`data:image/png;base64,…`)."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Query, WebSocket
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from app.api.shared import QUEUE_FULL, errors, run_out
from app.http.deps import SOURCE_BODY as BODY
from app.http.deps import (
    ActorDep,
    CatalogDep,
    GenerativeDep,
    InspectorDep,
    JobsDep,
    SourceDep,
)
from app.http.errors import INPUT_ERRORS, api_error_body
from app.services import generative as service
from app.services.schemas import ArithmeticRequest, Body, LatentPoint, RunOut
from app.settings import LIMITS

router = APIRouter(prefix="/api/v1/generative", tags=["generative"])
ERRORS = errors(404, 422, _404="no such model", _422="invalid latent point or settings")
# what only some models can do: a VAE's encoder, a 2-D latent space's map
VAE_ERRORS = errors(404, 409, 422, _404="no such model", _409="this model cannot do that (a GAN "
                    "has no encoder; the map needs a 2-D latent space)",
                    _422="invalid latent point or settings")
PNG = "a PNG data URL"
GEN = LIMITS.generative
BOUND = f"{GEN.latent_value:,.0f}"
OUTSIDE = (f"true when some coordinate lies beyond ±{GEN.prior_bound:g}, far outside the "
           "standard normal prior (one coordinate in ~16,000 of a true draw lands there): the "
           "point is decoded all the same, but the models never saw such points in training")
MAX_ABS = ("the largest |coordinate|: how many standard deviations the farthest coordinate "
           "lies from 0")
CLIPPED = (f"how many coordinates lay beyond ±{GEN.prior_bound:g} (far outside the prior) and "
           "were clipped to it; 0: none")


# ---------------------------------------------------------------- request models

DigitClass = Annotated[int, Field(ge=0, le=9)]
DIGIT = ("the digit to draw, 0 to 9: only for a class-conditional GAN (`classes` 10 in "
         "…/models: cgan), which requires it; any other model refuses it (422)")


class DecodeRequest(Body):
    # the numbers checked here; the length per model by core.generative.check_latents
    z: LatentPoint | list[LatentPoint] = Field(description=(
        "one latent point (a list of the model's latent size of numbers), or a batch of them; "
        f"any finite number from −{BOUND} to {BOUND} (a sanity bound: the decoders stay finite "
        f"far beyond it). Values beyond ±{GEN.prior_bound:g} are decoded and reported "
        "(`outside_prior`, or the X-Outside-Prior header), never refused"))
    format: Literal["png", "json"] = Field("png", description="png: the image (a grid for a "
                                           "batch); json: 0-255 numbers")
    digit: DigitClass | Annotated[list[DigitClass], Field(max_length=GEN.batch)] | None = Field(
        None, description=DIGIT + "; one for all the points, or a list with one per point")


class SampleRequest(Body):
    count: int = Field(16, ge=1, le=GEN.batch)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    digit: DigitClass | None = Field(None, description="a class-conditional GAN draws this "
                                     "digit at every point; without it, 0 to 9 in turn. Any "
                                     "other model refuses it (422)")


class InterpolateRequest(Body):
    start: LatentPoint = Field(description=f"a latent point, numbers from −{BOUND} to {BOUND}")
    end: LatentPoint = Field(description=f"a latent point, numbers from −{BOUND} to {BOUND}")
    steps: int = Field(8, ge=2, le=GEN.steps, description="frames, both ends included")
    method: Literal["linear", "slerp"] = "linear"
    digit: DigitClass | None = Field(None, description=DIGIT + " (every frame)")


class WatchRunRequest(Body):
    task: Literal["vae", "gan"] = "vae"
    latent: int = Field(2, ge=1, le=GEN.latent)
    epochs: int = Field(3, ge=1, le=GEN.run_epochs)
    dataset: str = Field("mnist", min_length=1, max_length=64,
                         description="any 28×28 gray dataset (mnist, shapes, …)")
    seed: int = Field(0, ge=0, le=2**31 - 1)


# ---------------------------------------------------------------- response models

class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class GenerativeModelOut(Out):
    name: str
    kind: Literal["vae", "ae", "gan"] = Field(description="vae, ae (a plain autoencoder: no "
                                              "prior to sample from) or gan")
    latent: int = Field(description="latent dimensions")
    image_shape: list[int]
    summary: str
    metrics: dict
    has_encoder: bool = Field(description="a VAE or an autoencoder: it can encode digits")
    has_map: bool = Field(description="a 2-D one with an encoder: it has a manifold, a latent "
                          "map and holes")
    classes: int = Field(description="10: a class-conditional GAN, told which digit to draw "
                         "(every decode, interpolation and live point names one: `digit`); 0: "
                         "the latent point alone decides")


class DecodeOut(Out):
    images: list[list[list[int]]] = Field(description="one 28×28 grid of 0-255 per point")
    outside_prior: bool = Field(description=OUTSIDE)
    max_abs_z: float = Field(description=MAX_ABS + " (over all the points)")


class SampleOut(Out):
    latents: list[list[float]]
    png: str = Field(description=f"the decoded samples as one grid, 8 a row, {PNG}")
    clipped: int = Field(description=CLIPPED + " (the latents are the clipped ones)")
    digits: list[int] | None = Field(description="a class-conditional GAN's: the digit asked "
                                     "at each point; null for the others")


class InterpolateOut(Out):
    latents: list[list[float]] = Field(description="the frames' points, both ends included")
    png: str = Field(description=f"the frames as one strip, {PNG}")
    frames: list[str] = Field(description=f"each frame, {PNG}")
    outside_prior: bool = Field(description=OUTSIDE + " (any frame; a slerp may swing beyond "
                                "its ends)")
    max_abs_z: float = Field(description=MAX_ABS + " (over all the frames)")


class EncodeOut(Out):
    mean: list[float] = Field(description="the latent Gaussian's mean (an autoencoder: its point)")
    log_var: list[float] | None = Field(description="null for an autoencoder: a point, no "
                                        "spread")
    std: list[float] = Field(description="exp(log_var / 2); zeros for an autoencoder")
    input_png: str = Field(description=f"the input as prepared, {PNG}")
    reconstruction_png: str = Field(description=f"decoded from the mean, {PNG}")
    clipped: int = Field(description=CLIPPED + ": the reconstruction is decoded from the mean "
                         "so clipped (`mean` is the encoder's own)")


class HolesOut(Out):
    size: int
    extent: float
    threshold: float = Field(description="a point whose decoded digit the shipped classifier "
                             "reads below this confidence is a hole")
    share: float = Field(description="of the grid's points that are holes")
    confidence: list[list[float]] = Field(description="size × size, row by row from the top "
                                          "(z₂ high), z₁ growing to the right, as the manifold")
    digits: list[list[int]] = Field(description="the digit read at each point")


class LatentMapOut(Out):
    points: list[tuple[float, float, int]] = Field(description="[z₁, z₂, digit] each (a VAE: "
                                                   "its Gaussian's mean)")
    std: list[tuple[float, float]] | None = Field(description="a VAE's: [σ₁, σ₂] of each "
                                                  "point's Gaussian, in the same order; null "
                                                  "for an autoencoder (a point, no spread)")


class ArithmeticTermOut(Out):
    digit: str
    sign: Literal["+", "−"]
    png: str = Field(description=f"the digit's average point decoded, {PNG}")


class ArithmeticOut(Out):
    z: list[float] = Field(description="the result point, clipped to the prior's bound")
    png: str = Field(description=f"the result decoded, {PNG}")
    terms: list[ArithmeticTermOut]
    clipped: int = Field(description=CLIPPED + " (the sum's, before it was decoded)")


# ---------------------------------------------------------------- routes

@router.get("/models", response_model=list[GenerativeModelOut])
def list_models(lab: GenerativeDep) -> list[GenerativeModelOut]:
    """The shipped generative models: name, kind (vae, ae or gan), latent size, image shape."""
    return [GenerativeModelOut.model_validate(m) for m in service.list_models(lab)]


@router.post("/{model}/decode", response_model=None, responses={
    200: {"model": DecodeOut, "content": {"image/png": {}},
          "description": "the digit (a grid for a batch) as a PNG, or its numbers (JSON)",
          "headers": {
              "X-Outside-Prior": {"schema": {"type": "integer", "enum": [0, 1]},
                                  "description": "PNG answers: 1 when " + OUTSIDE.removeprefix(
                                      "true when ") + "; else 0"},
              "X-Max-Abs-Z": {"schema": {"type": "number"},
                              "description": "PNG answers: " + MAX_ABS}}},
    **ERRORS})
async def decode(model: str, req: DecodeRequest, lab: GenerativeDep) -> Response | DecodeOut:
    """Latent point(s) → 28×28 digit(s). Every finite value up to ±1,000,000 is taken, so any
    draw from the standard normal prior decodes; a point beyond ±4 in some coordinate lies far
    outside the prior (the digit may be noise), and the answer says so: `outside_prior` in JSON,
    the `X-Outside-Prior: 1` header on a PNG. Answered on the event loop: a decode is a fraction
    of a millisecond, less than a hop to a worker thread, and the points of requests that
    arrive together are decoded in one product.

    For many points in a row (a slider being dragged), the WebSocket
    `/api/v1/generative/{model}/live` answers the same pictures with less work per point: send
    `{"z": [...]}` (a class-conditional GAN: `{"z": [...], "digit": 3}`) as text, receive the
    PNG as a binary message."""
    decoded = await service.decode(lab, model, req.z, req.digit)
    if req.format == "json":
        return DecodeOut(images=decoded.pixels(), outside_prior=decoded.outside_prior,
                         max_abs_z=decoded.max_abs_z)
    return Response(decoded.png(), media_type="image/png", headers={
        "X-Outside-Prior": str(int(decoded.outside_prior)),
        "X-Max-Abs-Z": f"{decoded.max_abs_z:.6g}"})


@router.websocket("/{model}/live")
async def decode_live(websocket: WebSocket, model: str, lab: GenerativeDep) -> None:
    """The sliders' lane while dragging: one open connection, each text message `{"z":
    [...]}` (one point; a class-conditional GAN's also names its `"digit"`) answered by a
    binary message, its 28×28 PNG, in order. A refused point is answered by a text message
    in the API's error shape, `{"error": {...}}`, and the connection stays open; an unknown
    model gets that answer and close code 1008. Same checks and pictures as POST …/decode,
    without an HTTP request per frame (that was two thirds of a frame's cost). A frame is
    the PNG alone: whether its point lies outside the prior is in the point's own numbers
    (any |z_i| > 4), as POST …/decode reports it. WebSockets are not in the OpenAPI
    document, so the decode endpoint names this."""
    await websocket.accept()
    try:
        m = lab.get(model)
    except INPUT_ERRORS as exc:
        await websocket.send_text(json.dumps(api_error_body(exc)))
        await websocket.close(code=1008)
        return
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        try:
            frame = await service.live_frame(m, message.get("text"))
        except INPUT_ERRORS as exc:
            await websocket.send_text(json.dumps(api_error_body(exc)))
            continue
        await websocket.send_bytes(frame)


@router.post("/{model}/sample", response_model=SampleOut, responses=errors(
    404, 409, 422, _404="no such model", _409="a plain autoencoder: no prior to sample from",
    _422="invalid settings"))
def sample(model: str, req: SampleRequest, lab: GenerativeDep) -> SampleOut:
    """`count` points from the prior (seeded), decoded: a grid picture and the latents used."""
    return SampleOut.model_validate(service.sample(lab, model, req.count, req.seed, req.digit))


@router.post("/{model}/interpolate", response_model=InterpolateOut, responses=ERRORS)
def interpolate(model: str, req: InterpolateRequest, lab: GenerativeDep) -> InterpolateOut:
    """The frames between two latent points: a strip picture, each frame, and the points."""
    return InterpolateOut.model_validate(service.interpolate(lab, model, req.start, req.end,
                                                             req.steps, req.method, req.digit))


@router.post("/{model}/encode", openapi_extra=BODY, response_model=EncodeOut,
             responses=errors(404, 409, 413, 415, 422, _404="no such model",
                              _409="the model is a GAN (no encoder)", _422="invalid input"))
def encode(model: str, source: SourceDep, lab: GenerativeDep, inspector: InspectorDep
           ) -> EncodeOut:
    """A digit (drawing, image or MNIST test example) → its latent Gaussian (a VAE: mean and
    log-variance) or point (the autoencoder), the input as prepared, and the reconstruction
    decoded from the mean."""
    return EncodeOut.model_validate(service.encode(lab, inspector, model, source.values))


@router.get("/{model}/manifold", response_class=Response, responses={
    200: {"content": {"image/png": {}}}, **VAE_ERRORS})
def manifold(model: str, lab: GenerativeDep,
             size: Annotated[int, Query(ge=2, le=GEN.manifold_side)] = 15,
             range_: Annotated[float, Query(alias="range", gt=0, le=GEN.map_range)] = 3.0
             ) -> Response:
    """A 2-D model's latent plane as a size × size grid of decoded digits over
    [−range, range]²: z₁ grows to the right, z₂ upwards (a VAE's digits lie within ±3; ae-2d's
    card gives its `latent_extent`)."""
    return Response(service.manifold(lab, model, size, range_), media_type="image/png",
                    headers={"Cache-Control": "max-age=3600"})


@router.get("/{model}/holes", response_model=HolesOut, responses=VAE_ERRORS)
def holes(model: str, lab: GenerativeDep,
          size: Annotated[int, Query(ge=2, le=GEN.manifold_side)] = 24,
          range_: Annotated[float, Query(alias="range", gt=0, le=GEN.map_range)] = 3.0
          ) -> HolesOut:
    """Where a 2-D model's plane decodes to no digit: a size × size grid over
    [−range, range]², each point decoded and read by the shipped classifier (mnist-cnn), a
    hole where its confidence is under 0.5. A plain autoencoder's plane has many; a VAE's,
    whose prior it was trained to fill, few."""
    return HolesOut.model_validate(service.holes(lab, model, size, range_))


@router.get("/{model}/latent-map", response_model=LatentMapOut, responses=VAE_ERRORS)
def latent_map(model: str, lab: GenerativeDep,
               count: Annotated[int, Query(ge=10, le=10_000)] = 2000) -> LatentMapOut:
    """Where the MNIST test digits land in a 2-D model's latent plane: [z₁, z₂, digit] each,
    and a VAE's spread about each (`std`).
    (A plain `def`: the first call for a model encodes the test set, on a worker thread.)"""
    return LatentMapOut.model_validate(service.latent_map(lab, model, count))


@router.post("/{model}/arithmetic", response_model=ArithmeticOut, responses=errors(
    404, 409, 422, _404="no such model", _409="a class-conditional GAN: its points hold no "
    "digit to add", _422="invalid digits"))
def arithmetic(model: str, req: ArithmeticRequest, lab: GenerativeDep) -> ArithmeticOut:
    """Latent arithmetic: Σ mean(plus digits) − Σ mean(minus digits), decoded, with each term.
    Not for a class-conditional GAN (409): it is told the digit, its points hold the style."""
    return ArithmeticOut.model_validate(service.arithmetic(lab, model, list(req.plus),
                                                           list(req.minus)))


@router.post("/training-runs", status_code=201, response_model=RunOut,
             responses=errors(404, 409, 422, 429, _409="the dataset's images are not gray "
                              "28×28", _429=QUEUE_FULL))
async def watch_one_train(req: WatchRunRequest, jobs: JobsDep, catalog: CatalogDep,
                          actor: ActorDep) -> RunOut:
    """A short VAE or GAN training run, through the same job runner as the CNN lab; follow it
    at `events_url`: "samples" events carry 16 fixed latent points decoded (a PNG), "progress"
    the losses (the VAE's −ELBO; the GAN's generator and discriminator losses)."""
    return run_out(await service.start_watch_run(req.task, req.latent, req.epochs, req.dataset,
                                                 req.seed, jobs, catalog, actor), actor)
