"""Live training: datasets, architectures, training runs (with their event streams) and models."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Header, Query, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent

from app import training_lab
from app.core import datasets, images, nets
from app.core.training import TrainConfig
from app.deps import CatalogDep, ExistingRunDep, JobsDep, ModelsDep, SettingsDep
from app.errors import ApiError
from app.schemas import (
    ArchitectureOut,
    ArchitectureRequest,
    BackendOut,
    DatasetOut,
    ErrorResponse,
    ModelOut,
    RunOut,
    SaveModelRequest,
    TrainingRunRequest,
)

router = APIRouter(prefix="/api/v1")


def _errors(*codes: int) -> dict[int | str, dict]:
    text = {404: "unknown name or id", 409: "not possible in the run's current state",
            413: "upload too large", 415: "not a zip", 422: "invalid values",
            429: "the training queue is full (see Retry-After)"}
    return {c: {"model": ErrorResponse, "description": text[c]} for c in codes}


# ---------------------------------------------------------------- datasets

@router.get("/datasets", response_model=list[DatasetOut], tags=["datasets"])
def list_datasets(catalog: CatalogDep) -> list[DatasetOut]:
    """Every dataset a run can use, with class names and counts; MNIST says how to set it up
    when it is not there yet."""
    return [training_lab.dataset_out(info) for info in catalog.list()]


@router.get("/datasets/{name}/samples", response_class=Response, tags=["datasets"],
            responses={200: {"content": {"image/png": {}}}, **_errors(404, 422)})
def dataset_samples(name: str, catalog: CatalogDep,
                    per_class: Annotated[int, Query(ge=1, le=32)] = 8) -> Response:
    """A PNG mosaic: one row per class, the first `per_class` training images of each."""
    grid = datasets.sample_grid(catalog.load(name), per_class=per_class)
    return Response(images.encode(grid), media_type="image/png",
                    headers={"Cache-Control": "max-age=60"})


@router.post("/datasets", status_code=201, response_model=DatasetOut, tags=["datasets"],
             responses=_errors(413, 422))
def upload_dataset(file: Annotated[UploadFile, File(description="a zip of class folders")],
                   name: Annotated[str, Form(description="lowercase letters, digits, - and _")],
                   catalog: CatalogDep, settings: SettingsDep,
                   size: Annotated[int, Form(ge=8, le=64)] = 28,
                   channels: Annotated[Literal["gray", "rgb"], Form()] = "gray") -> DatasetOut:
    """Your own dataset: one folder per class, images inside; every image is converted to
    `size`×`size`, gray or RGB; 15% of each class is held out for validation."""
    info = training_lab.add_dataset(catalog, settings, name, file.file.read(), size=size,
                                    channels=channels)
    return training_lab.dataset_out(info)


@router.delete("/datasets/{name}", status_code=204, tags=["datasets"], responses=_errors(404))
def delete_dataset(name: str, catalog: CatalogDep) -> Response:
    """Deletes an uploaded dataset (built-in ones stay)."""
    catalog.delete(name)
    return Response(status_code=204)


# ---------------------------------------------------------------- architectures

@router.get("/architectures/presets", tags=["architectures"])
def architecture_presets() -> dict:
    """Ready-made networks (layers as plain data), and every layer type with its settings."""
    return {"presets": nets.PRESETS,
            "layer_types": {k: v.as_dict() for k, v in nets.LAYER_TYPES.items()}}


@router.post("/architectures/validate", response_model=ArchitectureOut, tags=["architectures"],
             responses=_errors(404, 422))
def validate_architecture(req: ArchitectureRequest, catalog: CatalogDep) -> ArchitectureOut:
    """Each layer's output shape and parameter count (with the formula), or a 422 naming the
    first layer that cannot run (`field`: layers.<index>)."""
    layers = nets.normalize(req.layers)
    if req.input_shape is not None:
        if len(req.input_shape) != 3 or req.num_classes is None:
            raise ApiError(422, "invalid_value", "input_shape is [channels, height, width] and "
                           "needs num_classes with it", "input_shape")
        shape, k = tuple(req.input_shape), req.num_classes
    else:
        shape, k = training_lab.input_of(catalog, req.dataset or "mnist")
    return training_lab.architecture_out(layers, shape, k)


# ---------------------------------------------------------------- training runs

@router.post("/training-runs", status_code=201, response_model=RunOut, tags=["training"],
             responses=_errors(404, 422, 429))
async def create_run(req: TrainingRunRequest, jobs: JobsDep, catalog: CatalogDep) -> RunOut:
    """Starts training in the background (or queues it); follow it at `events_url`."""
    shape, k = await run_in_threadpool(training_lab.input_of, catalog, req.dataset)
    layers = training_lab.resolve_layers(req.architecture, k)
    nets.table(layers, shape, k)  # refuse a net that cannot run before it is queued
    config = TrainConfig(layers=layers, optimizer=req.optimizer,
                         learning_rate=req.learning_rate, momentum=req.momentum,
                         batch_size=req.batch_size, epochs=req.epochs, seed=req.seed)
    return training_lab.run_out(jobs.submit(req.dataset, config))


@router.get("/training-backend", response_model=BackendOut, tags=["training"])
async def training_backend(jobs: JobsDep) -> BackendOut:
    """Where runs execute (this machine or a Ray cluster), how many fit, how many are busy."""
    return BackendOut(**asdict(jobs.describe()))


@router.get("/training-runs", response_model=list[RunOut], tags=["training"])
async def list_runs(jobs: JobsDep) -> list[RunOut]:
    """Recent runs, newest first, with queue positions for those waiting."""
    return [training_lab.run_out(r) for r in jobs.list()]


@router.get("/training-runs/{run_id}", response_model=RunOut, tags=["training"],
            responses=_errors(404))
async def get_run(run_id: str, jobs: JobsDep) -> RunOut:
    """Status and the latest figures."""
    return training_lab.run_out(jobs.get(run_id))


@router.get("/training-runs/{run_id}/events", response_class=EventSourceResponse,
            tags=["training"], responses=_errors(404))
async def run_events(run: ExistingRunDep, jobs: JobsDep,
                     last_event_id: Annotated[str | None, Header()] = None,
                     after: Annotated[int, Query(ge=0)] = 0) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events, numbered (`id`), named by type: status, start, progress (a few a
    second), snapshot (filters and activation maps as PNG data URLs, about once a second),
    epoch (with the confusion matrix), done. The stream ends when the run does. Reconnecting
    with Last-Event-ID (or ?after=N) resumes; leaving never stops the run."""
    start = int(last_event_id) if last_event_id and last_event_id.isdigit() else after
    async for seq, event in jobs.events(run.id, start):
        yield ServerSentEvent(data=event, event=event["type"], id=str(seq))


@router.post("/training-runs/{run_id}/pause", response_model=RunOut, tags=["training"],
             responses=_errors(404, 409))
async def pause_run(run_id: str, jobs: JobsDep) -> RunOut:
    """Pauses after the current batch; the process waits, holding its place."""
    return training_lab.run_out(jobs.pause(run_id))


@router.post("/training-runs/{run_id}/resume", response_model=RunOut, tags=["training"],
             responses=_errors(404, 409))
async def resume_run(run_id: str, jobs: JobsDep) -> RunOut:
    return training_lab.run_out(jobs.resume(run_id))


@router.delete("/training-runs/{run_id}", response_model=RunOut, tags=["training"],
               responses=_errors(404, 409))
async def cancel_run(run_id: str, jobs: JobsDep) -> RunOut:
    """Cancels: a queued run never starts; a running one stops after its batch and keeps its
    model as it is (status stopping, then stopped)."""
    return training_lab.run_out(jobs.cancel(run_id))


@router.post("/training-runs/{run_id}/model", status_code=201, response_model=ModelOut,
             tags=["models"], responses=_errors(404, 409, 422))
def save_run_model(run_id: str, req: SaveModelRequest, jobs: JobsDep,
                   models: ModelsDep) -> ModelOut:
    """Keeps the run's trained weights as a named model (they survive restarts)."""
    record = jobs.get(run_id)
    if not record.has_weights:
        raise ApiError(409, "conflict", f"run {run_id} is {record.status} and has no weights "
                       "to save yet; wait until it completes or stop it")
    source = training_lab.read_run_weights(jobs, run_id)
    return training_lab.model_out(models.save_copy(req.name, source, {}))


# ---------------------------------------------------------------- models

@router.get("/models", response_model=list[ModelOut], tags=["models"])
def list_models(models: ModelsDep) -> list[ModelOut]:
    return [training_lab.model_out(m) for m in models.list()]


@router.get("/models/{name}", response_model=ModelOut, tags=["models"], responses=_errors(404))
def get_model(name: str, models: ModelsDep) -> ModelOut:
    """The model card: architecture (layers), classes, input normalisation, metrics."""
    return training_lab.model_out(models.get(name))


@router.get("/models/{name}/weights", response_class=FileResponse, tags=["models"],
            responses={200: {"content": {"application/octet-stream": {}}}, **_errors(404)})
def get_model_weights(name: str, models: ModelsDep) -> FileResponse:
    """The weights as a safetensors file (load with safetensors.torch.load_file)."""
    m = models.get(name)
    return FileResponse(m.weights, media_type="application/octet-stream",
                        filename=f"{name}.safetensors")


@router.delete("/models/{name}", status_code=204, tags=["models"], responses=_errors(404))
def delete_model(name: str, models: ModelsDep) -> Response:
    models.delete(name)
    return Response(status_code=204)
