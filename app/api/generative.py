"""The generative lab: decode latent points of the shipped VAEs and GAN, sample, interpolate,
encode digits (VAE), the 2-D VAE's manifold and latent map, and latent arithmetic."""

from __future__ import annotations

import json
from typing import Annotated, Literal

import numpy as np
import torch
from fastapi import APIRouter, Query, WebSocket
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from app.api.shared import errors, run_out
from app.core import generative as gen
from app.core import images
from app.core.errors import InputError
from app.core.images import png_data_url
from app.http.deps import SOURCE_BODY as BODY
from app.http.deps import CatalogDep, GenerativeDep, InspectorDep, JobsDep, SourceDep
from app.http.errors import INPUT_ERRORS, api_error_body, error_body
from app.services import training
from app.services.generative import CLASSES, GenModel
from app.services.schemas import RunOut

router = APIRouter(prefix="/api/v1/generative", tags=["generative"])
ERRORS = errors(404, 422, _404="no such model", _422="invalid latent point or settings")


def _info(m: GenModel) -> dict:
    meta = m.stored.meta
    return {"name": m.name, "kind": m.kind, "latent": m.latent, "image_shape": [1, 28, 28],
            "summary": meta.get("summary", ""), "metrics": meta.get("metrics", {}),
            "has_encoder": m.kind == "vae", "has_map": m.kind == "vae" and m.latent == 2}


@router.get("/models")
def list_models(lab: GenerativeDep) -> list[dict]:
    """The shipped generative models: name, kind (vae or gan), latent size, image shape."""
    return [_info(m) for m in lab.list()]


class DecodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # checked by core.generative.check_latents (length, finiteness, range): one parse, not two
    z: list = Field(description="one latent point (a list of numbers), or a batch of them")
    format: Literal["png", "json"] = Field("png", description="png: the image (a grid for a "
                                           "batch); json: 0-255 numbers")


@router.post("/{model}/decode", response_model=None, responses={
    200: {"content": {"image/png": {}, "application/json": {}}}, **ERRORS})
async def decode(model: str, req: DecodeRequest, lab: GenerativeDep) -> Response | dict:
    """Latent point(s) → 28×28 digit(s). Values farther than 4 from 0 are refused: the prior is
    a standard normal, and such points decode to noise. Answered on the event loop: a decode is
    a fraction of a millisecond, less than a hop to a worker thread.

    For many points in a row (a slider being dragged), the WebSocket
    `/api/v1/generative/{model}/live` answers the same pictures with less work per point: send
    `{"z": [...]}` as text, receive the PNG as a binary message."""
    m = lab.get(model)
    z = gen.check_latents(req.z, m.latent)
    pictures = m.decode(z)
    if req.format == "json":
        return {"images": pictures.tolist()}
    grid = pictures[0] if len(pictures) == 1 else gen.tile(pictures, min(len(pictures), 10))
    return Response(images.encode(grid), media_type="image/png")


# A slider point is one latent of at most a few hundred numbers: far under this.
LIVE_MESSAGE_BYTES = 16_384


@router.websocket("/{model}/live")
async def decode_live(websocket: WebSocket, model: str, lab: GenerativeDep) -> None:
    """The sliders' lane while dragging: one open connection, each text message `{"z": [...]}`
    (one point) answered by a binary message, its 28×28 PNG, in order. A refused point is
    answered by a text message in the API's error shape, `{"error": {...}}`, and the connection
    stays open; an unknown model gets that answer and close code 1008. Same checks and pictures
    as POST …/decode, without an HTTP request per frame (that was two thirds of a frame's
    cost). WebSockets are not in the OpenAPI document, so the decode endpoint names this."""
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
            z = _live_point(message.get("text"), m.latent)
        except InputError as exc:
            await websocket.send_text(json.dumps(error_body("invalid_value", exc.message,
                                                            exc.field)))
            continue
        await websocket.send_bytes(images.encode(m.decode(z)[0]))


def _live_point(text: str | None, latent: int) -> torch.Tensor:
    if text is None:
        raise InputError('send each point as a text message, JSON: {"z": [numbers]}', "z")
    if len(text) > LIVE_MESSAGE_BYTES:
        raise InputError(f"a message must be under {LIVE_MESSAGE_BYTES:,} characters", "z")
    try:
        message = json.loads(text)
    except ValueError as exc:
        raise InputError('each message must be JSON: {"z": [numbers]}', "z") from exc
    if not isinstance(message, dict) or set(message) != {"z"}:
        raise InputError('each message must be {"z": [numbers]}, nothing else', "z")
    z = gen.check_latents(message["z"], latent)
    if len(z) != 1:
        raise InputError("one point per message (POST …/decode takes batches)", "z")
    return z


class SampleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(16, ge=1, le=256)
    seed: int = Field(0, ge=0, le=2**31 - 1)


@router.post("/{model}/sample", responses=ERRORS)
def sample(model: str, req: SampleRequest, lab: GenerativeDep) -> dict:
    """`count` points from the prior (seeded), decoded: a grid picture and the latents used."""
    m = lab.get(model)
    z = gen.sample_latents(m.latent, req.count, req.seed)
    pictures = m.decode(z)
    return {"latents": z.tolist(), "png": png_data_url(gen.tile(pictures, min(req.count, 8)))}


class InterpolateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: list[float]
    end: list[float]
    steps: int = Field(8, description="frames, both ends included: 2 to 64")
    method: Literal["linear", "slerp"] = "linear"


@router.post("/{model}/interpolate", responses=ERRORS)
def interpolate(model: str, req: InterpolateRequest, lab: GenerativeDep) -> dict:
    """The frames between two latent points: a strip picture, each frame, and the points."""
    m = lab.get(model)
    start = gen.check_latents(req.start, m.latent, "start")
    end = gen.check_latents(req.end, m.latent, "end")
    z = gen.interpolate(start, end, req.steps, req.method)
    pictures = m.decode(z)
    return {"latents": z.tolist(), "png": png_data_url(gen.tile(pictures, len(pictures))),
            "frames": [png_data_url(p) for p in pictures]}


@router.post("/{model}/encode", openapi_extra=BODY, responses=ERRORS)
def encode(model: str, source: SourceDep, lab: GenerativeDep, inspector: InspectorDep) -> dict:
    """A digit (drawing, image or MNIST test example) → its latent Gaussian (VAE only): mean and
    log-variance, the input as prepared, and the reconstruction decoded from the mean."""
    m = lab.get(model)
    vae = lab.require_vae(m, "encode a digit")
    # the inspector makes inputs the way it does for classifiers
    x = inspector.prepare((1, 28, 28), lambda: lab.catalog.load("mnist").test,
                          **source.values)[0]
    mean, log_var = gen.encode(vae, torch.from_numpy(x).float()[None, None] / 255)
    recon = m.decode(torch.from_numpy(mean).clamp(-gen.PRIOR_BOUND, gen.PRIOR_BOUND))
    return {"mean": mean[0].tolist(), "log_var": log_var[0].tolist(),
            "std": np.exp(0.5 * log_var[0]).tolist(), "input_png": png_data_url(x),
            "reconstruction_png": png_data_url(recon[0])}


@router.get("/{model}/manifold", response_class=Response, responses={
    200: {"content": {"image/png": {}}}, **ERRORS})
def manifold(model: str, lab: GenerativeDep, size: Annotated[int, Query(ge=2, le=30)] = 15,
             range_: Annotated[float, Query(alias="range", gt=0, le=4)] = 3.0) -> Response:
    """The 2-D VAE's latent plane as a size × size grid of decoded digits over
    [−range, range]²: z₁ grows to the right, z₂ upwards."""
    m = lab.get(model)
    if m.latent != 2:
        raise InputError(f"{m.name} has {m.latent} latent dimensions; the manifold is drawn "
                         "for a 2-D latent space (vae-2d)", "model")
    pictures = m.decode(gen.manifold_latents(size, range_))
    return Response(images.encode(gen.tile(pictures, size, gap=0)), media_type="image/png",
                    headers={"Cache-Control": "max-age=3600"})


@router.get("/{model}/latent-map", responses=ERRORS)
async def latent_map(model: str, lab: GenerativeDep,
                     count: Annotated[int, Query(ge=10, le=10_000)] = 2000) -> dict:
    """Where the MNIST test digits land in a 2-D VAE's latent plane: [z₁, z₂, digit] each."""
    m = lab.get(model)
    if m.latent != 2:
        raise InputError("the latent map is for a 2-D latent space (vae-2d)", "model")
    points, labels = await run_in_threadpool(lab.test_points, m)
    step = max(1, len(points) // count)
    return {"points": [[round(float(p[0]), 4), round(float(p[1]), 4), int(y)]
                       for p, y in zip(points[::step], labels[::step], strict=True)]}


class ArithmeticRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plus: list[Literal["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]] = Field(
        description="digits whose average latent points are added")
    minus: list[Literal["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]] = []


@router.post("/{model}/arithmetic", responses=ERRORS)
def arithmetic(model: str, req: ArithmeticRequest, lab: GenerativeDep) -> dict:
    """Latent arithmetic: Σ mean(plus digits) − Σ mean(minus digits), decoded, with each term."""
    m = lab.get(model)
    if not req.plus:
        raise InputError("name at least one digit to add", "plus")
    means = lab.class_means(m)
    z = sum(means[CLASSES.index(d)] for d in req.plus) - sum(
        (means[CLASSES.index(d)] for d in req.minus), np.zeros(m.latent))
    z = np.clip(z, -gen.PRIOR_BOUND, gen.PRIOR_BOUND)
    terms = m.decode(torch.from_numpy(np.stack(
        [means[CLASSES.index(d)] for d in req.plus + req.minus]).astype(np.float32)))
    result = m.decode(torch.from_numpy(z[None].astype(np.float32)))
    return {"z": z.tolist(), "png": png_data_url(result[0]),
            "terms": [{"digit": d, "sign": "+" if i < len(req.plus) else "−",
                       "png": png_data_url(t)} for i, (d, t) in enumerate(zip(req.plus + req.minus,
                                                                       terms, strict=True))]}


class WatchRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task: Literal["vae", "gan"] = "vae"
    latent: int = Field(2, ge=1, le=128)
    epochs: int = Field(3, ge=1, le=20)
    dataset: str = Field("mnist", description="any 28×28 gray dataset (mnist, shapes, …)")
    seed: int = Field(0, ge=0, le=2**31 - 1)


@router.post("/training-runs", status_code=201, response_model=RunOut,
             responses=errors(404, 422, 429))
async def watch_one_train(req: WatchRunRequest, jobs: JobsDep, catalog: CatalogDep) -> RunOut:
    """A short VAE or GAN training run, through the same job runner as the CNN lab; follow it
    at `events_url`: "samples" events carry 16 fixed latent points decoded (a PNG), "progress"
    the losses (the VAE's −ELBO; the GAN's generator and discriminator losses)."""
    shape, _ = await run_in_threadpool(training.input_of, catalog, req.dataset)
    if shape != (1, 28, 28):
        raise InputError(f"{req.dataset} holds {'×'.join(map(str, shape))} images; the "
                         "generative models take 1×28×28 (gray 28×28)", "dataset")
    config = gen.GenerativeTrainConfig(task=req.task, latent=req.latent, epochs=req.epochs,
                                       seed=req.seed)
    return run_out(jobs.submit(req.dataset, config))
