"""What the training API and the training page share: architecture presets resolved to layers,
the shape table for a dataset, and records turned into response models. One implementation."""

from __future__ import annotations

from dataclasses import asdict

from app import model_store
from app.catalog import Catalog, DatasetInfo
from app.core import nets
from app.core.errors import InputError
from app.jobs import JobBackend, RunRecord
from app.model_store import StoredModel
from app.schemas import ArchitectureOut, DatasetOut, ModelOut, RunOut
from app.settings import Settings


def resolve_layers(architecture: list[dict] | str, num_classes: int) -> list[dict]:
    """The given layers checked and completed with defaults; or a preset's layers, its last
    Linear layer sized to the dataset's classes (presets are written for 10)."""
    if not isinstance(architecture, str):
        return nets.normalize(architecture)
    preset = nets.PRESETS.get(architecture)
    if preset is None:
        raise InputError(f"no architecture preset {architecture!r}; presets: "
                         f"{', '.join(nets.PRESETS)}", "architecture")
    layers = [dict(layer) for layer in nets.normalize(preset["layers"])]
    if layers[-1]["type"] == "linear":
        layers[-1]["out_features"] = num_classes
    return layers


def input_of(catalog: Catalog, dataset: str) -> tuple[tuple[int, int, int], int]:
    """The (C, H, W) and class count a net for this dataset must take and give."""
    ds = catalog.load(dataset)
    return ds.shape, len(ds.classes)


def architecture_out(layers: list[dict], input_shape: tuple[int, int, int],
                     num_classes: int) -> ArchitectureOut:
    t = nets.table(layers, input_shape, num_classes)
    return ArchitectureOut(input_shape=list(t.input_shape), num_classes=t.num_classes,
                           total_params=t.total_params,
                           rows=[asdict(r) | {"output_shape": list(r.output_shape)}
                                 for r in t.rows])


def dataset_out(info: DatasetInfo) -> DatasetOut:
    return DatasetOut(**asdict(info) | {
        "classes": list(info.classes), "shape": list(info.shape),
        "samples_url": f"/api/v1/datasets/{info.name}/samples" if info.available else None})


def run_out(record: RunRecord) -> RunOut:
    return RunOut(**asdict(record), events_url=f"/api/v1/training-runs/{record.id}/events")


def model_out(model: StoredModel) -> ModelOut:
    m = model.meta
    return ModelOut(name=model.name, dataset=m.get("dataset"), classes=m["classes"],
                    input_shape=m["input_shape"], params=m.get("params"),
                    metrics=m.get("metrics", {}), trained=m.get("trained"),
                    run_id=m.get("run_id"), layers=m["layers"],
                    weights_url=f"/api/v1/models/{model.name}/weights", shipped=model.shipped,
                    normalization=m.get("normalization"))


def read_run_weights(jobs: JobBackend, run_id: str) -> StoredModel:
    return model_store.read(jobs.weights_stem(run_id))


def add_dataset(catalog: Catalog, settings: Settings, name: str, data: bytes, *,
                size: int = 28, channels: str = "gray") -> DatasetInfo:
    """A zip of class folders kept as a dataset, within the settings' limits."""
    return catalog.add_upload(
        name, data, max_unpacked_bytes=settings.max_dataset_unpacked_bytes,
        max_files=settings.max_dataset_files, max_image_pixels=settings.max_image_pixels,
        max_image_side=settings.max_image_side, size=size, channels=channels)
