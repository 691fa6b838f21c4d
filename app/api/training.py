"""Live training: datasets, architectures, training runs (with their event streams) and models."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Header, Query, Response, UploadFile
from fastapi.responses import FileResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, Field

from app.api.shared import (
    NOT_YOURS,
    QUEUE_FULL,
    YOUR_SHARE,
    errors,
    run_out,
    sequence_model_out,
)
from app.core import datasets, images, nets
from app.http.deps import (
    ActorDep,
    CatalogDep,
    ExistingRunDep,
    JobsDep,
    ModelsDep,
    SettingsDep,
)
from app.services import training
from app.services.datasets import NAME as DATASET_NAME
from app.services.datasets import DatasetInfo
from app.services.errors import Conflict
from app.services.models import SequenceCard, StoredModel
from app.services.schemas import (
    ArchitectureOut,
    ArchitectureRequest,
    BackendOut,
    DatasetOut,
    DepthRunRequest,
    ModelOut,
    RunOut,
    SaveModelRequest,
    SequenceModelOut,
    TrainingRunRequest,
)

router = APIRouter(prefix="/api/v1")


def dataset_out(info: DatasetInfo) -> DatasetOut:
    return DatasetOut(**asdict(info) | {
        "classes": list(info.classes), "shape": list(info.shape),
        "samples_url": f"/api/v1/datasets/{info.name}/samples" if info.available else None})


def model_out(model: StoredModel) -> ModelOut:
    c = model.classifier
    return ModelOut(name=model.name, dataset=c.dataset, classes=list(c.classes),
                    input_shape=list(c.input_shape), params=c.params, metrics=c.metrics or {},
                    trained=c.trained, run_id=c.run_id, layers=c.layers,
                    weights_url=f"/api/v1/models/{model.name}/weights", shipped=model.shipped,
                    normalization=None if c.normalization is None else list(c.normalization))


def architecture_out(t: nets.ArchitectureTable) -> ArchitectureOut:
    return ArchitectureOut(input_shape=list(t.input_shape), num_classes=t.num_classes,
                           total_params=t.total_params,
                           rows=[asdict(r) | {"output_shape": list(r.output_shape)}
                                 for r in t.rows])


# ---------------------------------------------------------------- datasets

@router.get("/datasets", response_model=list[DatasetOut], tags=["datasets"])
def list_datasets(catalog: CatalogDep) -> list[DatasetOut]:
    """Every dataset a run can use, with class names and counts; MNIST says how to set it up
    when it is not there yet."""
    return [dataset_out(info) for info in catalog.list()]


@router.get("/datasets/{name}/samples", response_class=Response, tags=["datasets"],
            responses={200: {"content": {"image/png": {}}}, **errors(404, 422)})
def dataset_samples(name: str, catalog: CatalogDep,
                    per_class: Annotated[int, Query(ge=1, le=32)] = 8) -> Response:
    """A PNG mosaic: one row per class, the first `per_class` training images of each."""
    grid = datasets.sample_grid(catalog.load(name), per_class=per_class)
    return Response(images.encode(grid), media_type="image/png",
                    headers={"Cache-Control": "max-age=60"})


@router.post("/datasets", status_code=201, response_model=DatasetOut, tags=["datasets"],
             responses=errors(403, 409, 413, 422, 429, _403=NOT_YOURS, _409="a built-in "
                              "dataset's name", _429=YOUR_SHARE))
def upload_dataset(file: Annotated[UploadFile, File(description="a zip of class folders")],
                   name: Annotated[str, Form(
                       min_length=1, max_length=40, pattern=DATASET_NAME.pattern,
                       description="lowercase letters, digits, - and _")],
                   catalog: CatalogDep, settings: SettingsDep, actor: ActorDep,
                   size: Annotated[int, Form(ge=8, le=64)] = 28,
                   channels: Annotated[Literal["gray", "rgb"], Form()] = "gray") -> DatasetOut:
    """Your own dataset: one folder per class, images inside; every image is converted to
    `size`×`size`, gray or RGB; 15% of each class is held out for validation."""
    info = training.add_dataset(catalog, settings, name, file.file.read(), size=size,
                                channels=channels, actor=actor)
    return dataset_out(info)


@router.delete("/datasets/{name}", status_code=204, tags=["datasets"],
               responses=errors(403, 404, _403=NOT_YOURS))
def delete_dataset(name: str, catalog: CatalogDep, actor: ActorDep) -> Response:
    """Deletes an uploaded dataset (built-in ones stay)."""
    catalog.delete(name, actor)
    return Response(status_code=204)


# ---------------------------------------------------------------- architectures

class PresetOut(BaseModel):
    title: str
    description: str
    layers: list[dict] = Field(description="the layers as plain data, as a run takes them")
    input_shape: list[int] = Field(description="[C, H, W] the preset is written for")
    num_classes: int
    for_reading: bool = Field(description="one of the slides' famous networks at its real "
                              "size: its table is for reading; too big to train here")
    small: str | None = Field(description="for a famous network: the preset of its "
                              "scaled-down version, which trains on 28×28 digits")
    table: ArchitectureOut = Field(description="every layer's output shape and parameters at "
                                   "input_shape")


class SettingOut(BaseModel):
    name: str
    kind: Literal["int", "float", "str"]
    min: float
    max: float
    default: int | float | str | None
    nullable: bool
    help: str


class LayerTypeOut(BaseModel):
    type: str
    title: str
    explanation: str
    settings: list[SettingOut]


class PresetsOut(BaseModel):
    presets: dict[str, PresetOut]
    layer_types: dict[str, LayerTypeOut]


@router.get("/architectures/presets", response_model=PresetsOut, tags=["architectures"])
def architecture_presets() -> PresetsOut:
    """Ready-made networks (layers as plain data) with their tables, the slides' famous ones
    (AlexNet, VGG-16/19, ResNet-18/34 at 224×224 and 1,000 classes, for reading) among them; and
    every layer type with its settings. A run may name any preset but the famous ones."""
    return PresetsOut.model_validate({
        "presets": {name: p | {"table": architecture_out(training.preset_table(name))}
                    for name, p in nets.PRESETS.items()},
        "layer_types": {k: v.as_dict() for k, v in nets.LAYER_TYPES.items()}})


@router.post("/architectures/validate", response_model=ArchitectureOut, tags=["architectures"],
             responses=errors(404, 422))
def validate_architecture(req: ArchitectureRequest, catalog: CatalogDep) -> ArchitectureOut:
    """Each layer's output shape and parameter count (with the formula), or a 422 naming the
    first layer that cannot run (`field`: layers.<index>)."""
    return architecture_out(training.architecture_table(
        req.layers, req.dataset, catalog, req.input_shape, req.num_classes))


# ---------------------------------------------------------------- training runs

@router.post("/training-runs", status_code=201, response_model=RunOut, tags=["training"],
             responses=errors(404, 422, 429, _429=QUEUE_FULL))
async def create_run(req: TrainingRunRequest, jobs: JobsDep, catalog: CatalogDep,
                     actor: ActorDep) -> RunOut:
    """Starts training in the background (or queues it); follow it at `events_url`."""
    return run_out(await training.start_run(req, jobs, catalog, actor), actor)


@router.post("/experiments/skip-connections", status_code=201, response_model=RunOut,
             tags=["training"], responses=errors(404, 422, 429, _429=QUEUE_FULL))
async def skip_connection_experiment(req: DepthRunRequest, jobs: JobsDep, catalog: CatalogDep,
                                     actor: ActorDep) -> RunOut:
    """Starts the skip-connection experiment: a plain and a residual net of `depth` weight
    layers each (no batch norm: the skip connection is their only difference), trained side by
    side on the same batches. Its events: start (both tables), progress (each net's loss and
    accuracy), gradients (every weight layer's ‖∂L/∂W‖, for both nets, first layer first),
    epoch (each net's validation figures), done. Nothing is kept: a run to watch."""
    return run_out(await training.start_depth_run(req, jobs, catalog, actor), actor)


@router.get("/training-backend", response_model=BackendOut, tags=["training"])
async def training_backend(jobs: JobsDep) -> BackendOut:
    """Where runs execute (this machine or a Ray cluster), how many fit, how many are busy."""
    return BackendOut(**asdict(jobs.describe()))


@router.get("/training-runs", response_model=list[RunOut], tags=["training"])
async def list_runs(jobs: JobsDep, actor: ActorDep) -> list[RunOut]:
    """Recent runs, newest first, with queue positions for those waiting."""
    return [run_out(r, actor) for r in jobs.list()]


@router.get("/training-runs/{run_id}", response_model=RunOut, tags=["training"],
            responses=errors(404))
async def get_run(run_id: str, jobs: JobsDep, actor: ActorDep) -> RunOut:
    """Status and the latest figures."""
    return run_out(jobs.get(run_id), actor)


@router.get("/training-runs/{run_id}/events", response_class=EventSourceResponse,
            tags=["training"], responses=errors(404))
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
             responses=errors(403, 404, 409, _403=NOT_YOURS))
async def pause_run(run_id: str, jobs: JobsDep, actor: ActorDep) -> RunOut:
    """Pauses after the current batch; the process waits, holding its place."""
    return run_out(training.control(jobs, run_id, "pause", actor), actor)


@router.post("/training-runs/{run_id}/resume", response_model=RunOut, tags=["training"],
             responses=errors(403, 404, 409, _403=NOT_YOURS))
async def resume_run(run_id: str, jobs: JobsDep, actor: ActorDep) -> RunOut:
    return run_out(training.control(jobs, run_id, "resume", actor), actor)


@router.post("/training-runs/{run_id}/cancel", response_model=RunOut, tags=["training"],
             responses=errors(403, 404, 409, _403=NOT_YOURS))
async def cancel_run(run_id: str, jobs: JobsDep, actor: ActorDep) -> RunOut:
    """Cancels: a queued run never starts; a running one stops after its batch and keeps its
    model as it is (status stopping, then stopped). 409 once it has ended."""
    return run_out(training.control(jobs, run_id, "cancel", actor), actor)


@router.delete("/training-runs/{run_id}", status_code=204, tags=["training"],
               responses=errors(403, 404, 409, _403=NOT_YOURS,
                                _409="the run is still going: cancel it first"))
async def delete_run(run_id: str, jobs: JobsDep, actor: ActorDep) -> Response:
    """Deletes an ended run: its record and its weights (models saved from it stay); then it
    is 404. A run still queued or going is a 409: POST …/cancel stops it."""
    try:
        training.delete_run(jobs, run_id, actor)
    except Conflict as exc:  # say where the cancel is (the service knows no URLs)
        raise Conflict(f"{exc.message} (POST /api/v1/training-runs/{run_id}/cancel stops it)",
                       exc.field, code=exc.code) from None
    return Response(status_code=204)


@router.post("/training-runs/{run_id}/model", status_code=201,
             response_model=ModelOut | SequenceModelOut, tags=["models"],
             responses=errors(403, 404, 409, 422, _403=NOT_YOURS,
                              _409="no weights yet, or the name is taken"))
def save_run_model(run_id: str, req: SaveModelRequest, jobs: JobsDep,
                   models: ModelsDep, actor: ActorDep) -> ModelOut | SequenceModelOut:
    """Keeps the run's trained weights as a named model (they survive restarts): an image
    classifier, listed at /api/v1/models, or a sequence model, at /api/v1/sequences/models."""
    model = training.save_run(run_id, req.name, jobs, models, actor)
    if isinstance(model.card, SequenceCard):
        return sequence_model_out(model)
    return model_out(model)


# ---------------------------------------------------------------- models

@router.get("/models", response_model=list[ModelOut], tags=["models"])
def list_models(models: ModelsDep) -> list[ModelOut]:
    return [model_out(m) for m in models.list()]


@router.get("/models/{name}", response_model=ModelOut, tags=["models"], responses=errors(404))
def get_model(name: str, models: ModelsDep) -> ModelOut:
    """The model card: architecture (layers), classes, input normalisation, metrics."""
    return model_out(models.get(name))


@router.get("/models/{name}/weights", response_class=FileResponse, tags=["models"],
            responses={200: {"content": {"application/octet-stream": {}}}, **errors(404)})
def get_model_weights(name: str, models: ModelsDep) -> FileResponse:
    """The weights as a safetensors file (load with safetensors.torch.load_file)."""
    m = models.get(name)
    return FileResponse(m.weights, media_type="application/octet-stream",
                        filename=f"{name}.safetensors")


@router.get("/models/{name}/onnx", response_class=Response, tags=["models"],
            responses={200: {"content": {"application/octet-stream": {}}}, **errors(404)})
def get_model_onnx(name: str, models: ModelsDep) -> Response:
    """The model as ONNX (opset 17), for Netron or any ONNX runtime: input `pixels`
    (N, C, H, W) on the 0-1 scale (the card's normalization is inside the graph), output
    `logits` (N, classes)."""
    return Response(training.model_onnx(models.get(name)), media_type="application/octet-stream",
                    headers={"Content-Disposition": f'attachment; filename="{name}.onnx"'})


@router.delete("/models/{name}", status_code=204, tags=["models"], responses=errors(
    403, 404, 409, _403=NOT_YOURS,
    _409="a shipped model: only the models you saved can be deleted"))
def delete_model(name: str, models: ModelsDep, actor: ActorDep) -> Response:
    training.delete_model(models, name, actor)
    return Response(status_code=204)
