"""The live-training lab's actions, one of each, called by the API and by the page: start a run,
save a run as a model, describe a network for a dataset, add an uploaded dataset."""

from __future__ import annotations

import asyncio
import functools

from app.core import depth, nets
from app.core.training import TrainConfig
from app.services import models as model_store
from app.services.datasets import Catalog, DatasetInfo
from app.services.errors import Conflict, Invalid
from app.services.models import ModelStore, StoredModel
from app.services.owners import LOCAL, Actor, require_owner, upload_caps
from app.services.runs.backend import JobBackend
from app.services.runs.records import ACTIVE, RunRecord
from app.services.schemas import DepthRunRequest, TrainingRunRequest
from app.settings import LIMITS, Settings


def resolve_layers(architecture: list[dict] | str, num_classes: int) -> list[dict]:
    """The given layers checked and completed with defaults; or a preset's layers, its last
    Linear layer sized to the dataset's classes (presets are written for 10)."""
    if not isinstance(architecture, str):
        return nets.normalize(architecture, limits=LIMITS.nets)
    preset = nets.PRESETS.get(architecture) if architecture in nets.TRAINABLE else None
    if preset is None:
        small = nets.PRESETS.get(architecture, {}).get("small")
        why = f": {architecture} is too big to train here, try {small!r}" if small else ""
        raise Invalid(f"no trainable architecture preset {architecture!r}{why}; presets: "
                      f"{', '.join(nets.TRAINABLE)}", "architecture")
    layers = [dict(layer) for layer in nets.normalize(preset["layers"], limits=LIMITS.nets)]
    if layers[-1]["type"] == "linear":
        layers[-1]["out_features"] = num_classes
    return layers


def model_onnx(model: StoredModel) -> bytes:
    """A saved or shipped classifier as an ONNX file (core.nets.to_onnx)."""
    card = model.classifier
    return nets.to_onnx(model.load(), card.input_shape, card.normalization)


@functools.cache  # the presets are constants: each table is walked once per process
def preset_table(name: str) -> nets.ArchitectureTable:
    """A preset's table at its own input (the famous networks' under the reading limits)."""
    return nets.preset_table(name, LIMITS.nets, LIMITS.reading_nets)


def input_of(catalog: Catalog, dataset: str) -> tuple[tuple[int, int, int], int]:
    """The (C, H, W) and class count a net for this dataset must take and give."""
    ds = catalog.load(dataset)
    return ds.shape, len(ds.classes)


def architecture_table(layers: list[dict], dataset: str | None, catalog: Catalog,
                       input_shape: list[int] | None = None, num_classes: int | None = None
                       ) -> nets.ArchitectureTable:
    """Each layer's output shape and parameters, for a dataset's images or a given shape."""
    layers = nets.normalize(layers, limits=LIMITS.nets)
    if input_shape is not None:
        if len(input_shape) != 3 or num_classes is None:
            raise Invalid("input_shape is [channels, height, width] and needs num_classes "
                          "with it", "input_shape")
        shape, k = (input_shape[0], input_shape[1], input_shape[2]), num_classes
    else:
        shape, k = input_of(catalog, dataset or "mnist")
    return nets.table(layers, shape, k, limits=LIMITS.nets)


async def start_depth_run(req: DepthRunRequest, jobs: JobBackend, catalog: Catalog,
                          actor: Actor = LOCAL) -> RunRecord:
    """The skip-connection experiment on a dataset's images; one run on the job backend."""
    await asyncio.to_thread(input_of, catalog, req.dataset)  # a 404 before anything is queued
    config = depth.DepthConfig(depth=req.depth, width=req.width, epochs=req.epochs,
                               batch_size=req.batch_size, learning_rate=req.learning_rate,
                               seed=req.seed, max_batches=req.batches_per_epoch)
    return jobs.submit(req.dataset, config, owner=actor.owner)


async def start_run(req: TrainingRunRequest, jobs: JobBackend, catalog: Catalog,
                    actor: Actor = LOCAL) -> RunRecord:
    """Checks the network against the dataset before anything is queued, then submits it. The
    dataset loads on a worker thread; the backend is called on the event loop it belongs to."""
    shape, k = await asyncio.to_thread(input_of, catalog, req.dataset)
    layers = resolve_layers(req.architecture, k)
    # refuse a net that cannot run before it is queued
    nets.table(layers, shape, k, limits=LIMITS.nets)
    config = TrainConfig(layers=layers, optimizer=req.optimizer,
                         learning_rate=req.learning_rate, momentum=req.momentum,
                         batch_size=req.batch_size, epochs=req.epochs, seed=req.seed)
    return jobs.submit(req.dataset, config, owner=actor.owner)


# what anyone may do with someone else's run or model, in shared mode
RUN_MAY = "watch it, inspect its layers and use the model saved from it"
MODEL_MAY = "inspect it and use it"


def own_run(jobs: JobBackend, run_id: str, actor: Actor) -> RunRecord:
    """The run, if this actor may change it (Forbidden otherwise; UnknownRun if none)."""
    record = jobs.get(run_id)
    require_owner(actor, record.owner, f"run {run_id}", RUN_MAY, "id")
    return record


def control(jobs: JobBackend, run_id: str, action: str, actor: Actor = LOCAL) -> RunRecord:
    """Pauses, resumes or cancels a run: its owner's (or the admin's) to do."""
    own_run(jobs, run_id, actor)
    return {"pause": jobs.pause, "resume": jobs.resume, "cancel": jobs.cancel}[action](run_id)


def delete_run(jobs: JobBackend, run_id: str, actor: Actor = LOCAL) -> None:
    """Deletes an ended run's record and weights; one still going must be cancelled first."""
    record = own_run(jobs, run_id, actor)
    if record.status in ACTIVE:
        raise Conflict(f"run {run_id} is {record.status}: cancel it first; only an ended run "
                       "can be deleted", "id", code="still_running")
    jobs.delete(run_id)


def save_run(run_id: str, name: str, jobs: JobBackend, models: ModelStore,
             actor: Actor = LOCAL) -> StoredModel:
    """Keeps a run's trained weights as a named model (they survive restarts), owned by
    whoever saves it (the run's owner, or the admin)."""
    record = own_run(jobs, run_id, actor)
    if not record.has_weights:
        raise Conflict(f"run {run_id} is {record.status} and has no weights to save yet; wait "
                       "until it completes or stop it", "name")
    extra = {"owner": actor.owner} if actor.shared else {}
    return models.save_copy(name.strip(), model_store.read(jobs.weights_stem(run_id)), extra)


def delete_model(models: ModelStore, name: str, actor: Actor = LOCAL) -> None:
    """Deletes a saved model (shipped ones stay): its owner's (or the admin's) to do."""
    require_owner(actor, model_store.owner_of(models.get(name)), f"model {name!r}", MODEL_MAY,
                  "name")
    models.delete(name)


def add_dataset(catalog: Catalog, settings: Settings, name: str, data: bytes, *,
                size: int = 28, channels: str = "gray", actor: Actor = LOCAL) -> DatasetInfo:
    """A zip of class folders kept as a dataset, within the settings' limits (and, in shared
    mode, the uploader's share)."""
    return catalog.add_upload(
        name.strip(), data, max_unpacked_bytes=settings.max_dataset_unpacked_bytes,
        max_files=settings.max_dataset_files, max_image_pixels=settings.max_image_pixels,
        max_image_side=settings.max_image_side, size=size, channels=channels, actor=actor,
        caps=upload_caps(settings))
