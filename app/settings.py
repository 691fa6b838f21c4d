"""Every limit and path in one place; each can be overridden from the environment.

`PLAYGROUND_MAX_UPLOAD_BYTES=5000000` sets `max_upload_bytes`, and so on for every field.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    # uploads
    max_upload_bytes: int = 20_000_000  # whole request body, counted as it arrives → 413
    max_image_pixels: int = 40_000_000
    max_image_side: int = 12_000
    preview_side: int = 1024  # interactive previews work on an image scaled to this long side
    image_store_items: int = 32  # recent uploads kept in memory; built-in samples always are
    image_store_files: int = 256  # uploads kept on disk (data_dir/uploads), shared by workers
    image_store_bytes: int = 768_000_000
    result_store_items: int = 256  # rendered outputs, served from /api/v1/results/{id}, kept
    # in memory and in data_dir/results (the same count), so any web worker serves them
    result_store_bytes: int = 256_000_000
    # kernel lab
    max_grid_side: int = 512  # numeric `input` grids for /convolve
    max_bank_kernels: int = 16
    bank_map_side: int = 256  # filter-bank activation maps are computed on an image this size
    # paths
    static_dir: Path = ROOT / "static"
    templates_dir: Path = ROOT / "templates"
    data_dir: Path = ROOT / "data"  # MNIST cache, uploaded datasets, run records, saved models
    models_dir: Path = ROOT / "models"  # models trained by us and shipped (read-only)
    idx_dirs: str = ""  # directories of IDX files (Fashion-MNIST, KMNIST…), separated by os.pathsep
    # datasets
    max_dataset_upload_bytes: int = 100_000_000  # a zip of class folders, compressed
    max_dataset_unpacked_bytes: int = 200_000_000
    max_dataset_files: int = 100_000
    max_datasets: int = 20  # uploaded datasets kept on disk
    # training runs
    max_concurrent_runs: int = 1  # each run gets cores // this many threads
    max_queued_runs: int = 4  # beyond this a new run gets 429 with Retry-After
    max_run_seconds: float = 1800.0  # training time of one run, pauses excluded
    max_saved_models: int = 50
    # a Ray cluster (README, "Running on a cluster"): "auto", or the head's host:port. Empty:
    # runs train in processes on this machine, max_concurrent_runs at a time.
    ray_address: str = ""
    ray_cpus_per_run: float = 1.0  # CPUs a run asks the cluster for (its PyTorch threads)
    # compute
    torch_threads: int = 0  # 0: leave PyTorch's default (all cores)

    @classmethod
    def from_env(cls, prefix: str = "PLAYGROUND_") -> Settings:
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = os.environ.get(prefix + f.name.upper())
            if raw is None:
                continue
            kind = type(getattr(cls, f.name))
            values[f.name] = Path(raw) if kind is type(ROOT) else kind(raw)
        return cls(**values)
