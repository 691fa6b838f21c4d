"""create_app(): settings, stores, routers, static files, templates; nothing else."""

from __future__ import annotations

import gc
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import torch
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from app.api import generative as generative_api
from app.api import images as images_api
from app.api import inspector as inspector_api
from app.api import kernels as kernels_api
from app.api import sequences as sequences_api
from app.api import stepper as stepper_api
from app.api import training as training_api
from app.http import errors
from app.http.middleware import BodyLimitMiddleware
from app.http.owners import (
    OwnerMiddleware,
    listening_beyond_loopback,
    page_helpers,
    secret_key,
)
from app.services.corpora import Corpora, CorporaConfig
from app.services.datasets import Catalog, CatalogConfig
from app.services.generative import GenerativeLab
from app.services.images import ImageStore, ResultStore
from app.services.inspector import Inspector
from app.services.models import ModelStore
from app.services.runs.backend import JobBackend, run_kind
from app.services.runs.embedded import EmbeddedBackend
from app.services.runs.records import RunStore
from app.services.sequences import SequenceModels
from app.settings import LIMITS, Settings
from app.web import generative as generative_pages
from app.web import inspector as inspector_pages
from app.web import kernel_lab as kernel_lab_pages
from app.web import pages
from app.web import sequences as sequences_pages
from app.web import skip as skip_pages
from app.web import stepper as stepper_pages
from app.web import training as training_pages

log = logging.getLogger("app")


def job_backend(settings: Settings, runs: RunStore, catalog: Catalog, corpora: Corpora
                ) -> JobBackend:
    """Runs train on this machine, or on a Ray cluster when one is named."""
    per_owner = settings.max_runs_per_owner if settings.shared else 0
    if settings.ray_address:
        from app.services.runs.ray import RayBackend  # Ray is imported only when it is used

        return RayBackend(runs, catalog, settings.data_dir / "runs", corpora=corpora,
                          address=settings.ray_address, cpus_per_run=settings.ray_cpus_per_run,
                          max_queued=settings.max_queued_runs,
                          max_seconds=settings.max_run_seconds, per_owner=per_owner)
    return EmbeddedBackend(runs, catalog.config, settings.data_dir / "runs",
                           max_concurrent=settings.max_concurrent_runs,
                           max_queued=settings.max_queued_runs,
                           max_seconds=settings.max_run_seconds, corpora=corpora.config,
                           per_owner=per_owner)


def add_stores(app: FastAPI, settings: Settings) -> None:
    """The stores, labs and job backend, each made once, on app.state (read by app/http/deps)."""
    state = app.state
    state.settings = settings
    state.images = ImageStore(max_items=settings.image_store_items,
                              max_bytes=settings.image_store_bytes,
                              preview_side=settings.preview_side,
                              directory=settings.data_dir / "uploads",
                              max_files=settings.image_store_files,
                              max_pixels=settings.max_image_pixels,
                              max_side=settings.max_image_side,
                              photos_dir=settings.data_dir / "photos",
                              per_owner=settings.max_images_per_owner if settings.shared else 0)
    state.results = ResultStore(max_items=settings.result_store_items,
                                max_bytes=settings.result_store_bytes,
                                directory=settings.data_dir / "results",
                                max_files=settings.result_store_items)
    state.templates = Jinja2Templates(directory=settings.templates_dir)
    state.templates.env.globals["limits"] = LIMITS  # the forms' min/max are the checks' own
    state.templates.env.globals.update(page_helpers())  # mine, yours, admin
    state.templates.env.globals["shared"] = settings.shared
    state.templates.env.globals["run_kind"] = run_kind  # the admin's list names each run's lab
    state.catalog = Catalog(CatalogConfig(
        data_dir=settings.data_dir, max_datasets=settings.max_datasets,
        idx_dirs=tuple(Path(p) for p in settings.idx_dirs.split(os.pathsep) if p)))
    state.models = ModelStore(settings.data_dir / "models", settings.max_saved_models,
                              shipped_dir=settings.models_dir)
    state.generative = GenerativeLab(settings.models_dir / "generative", state.catalog)
    state.corpora = Corpora(CorporaConfig(settings.data_dir / "sequences",
                                          max_uploads=settings.max_sequence_datasets,
                                          max_text_bytes=settings.max_text_upload_bytes))
    state.sequence_models = SequenceModels(settings.models_dir / "sequences",
                                           settings.data_dir / "models")
    state.runs = RunStore(settings.data_dir / "runs.sqlite3")
    state.inspector = Inspector(state.models, state.catalog, state.images, runs=state.runs,
                                runs_dir=settings.data_dir / "runs")
    state.jobs = job_backend(settings, state.runs, state.catalog, state.corpora)


def add_docs(app: FastAPI) -> None:
    """/docs from static/vendor: no CDN, so it works in a classroom without internet."""

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} API",
            swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/vendor/swagger-ui/favicon-32x32.png",
        )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.torch_threads:
            torch.set_num_threads(settings.torch_threads)
        # first, so that it overlaps the rest of the start-up: the shipped models' test-set
        # passes, on the inspector's thread (see Settings.precompute_test_sets)
        app.state.inspector.start(precompute=settings.precompute_test_sets)
        app.state.images.add_samples()
        await app.state.jobs.start()
        # Move the ~200,000 objects of the loaded libraries out of the collector's sight: a full
        # collection over them takes ~100 ms, and a request that builds a long trace triggers
        # one every few requests (measured: p90 of a stepper trace 126 ms → p99 under 20 ms).
        gc.collect()
        gc.freeze()
        log.info("playground ready: %d sample images", len(app.state.images.samples))
        exposed = listening_beyond_loopback(sys.argv, dict(os.environ))
        if exposed and not settings.shared:
            log.warning("listening on %s, beyond this machine, without shared mode: every "
                        "visitor can stop, pause and delete everyone's runs, datasets and "
                        "models. For a class, set PLAYGROUND_SHARED=true (README, \"Hosting a "
                        "class\")", exposed)
        yield
        app.state.inspector.close()  # a pass under way stops after its current batch
        await app.state.jobs.stop()
        app.state.runs.close()

    app = FastAPI(
        title="Deep-learning playground",
        version="0.1.0",
        summary="See how convolutions and networks work, on real images; every view is an API.",
        docs_url=None,  # add_docs serves it from static/vendor
        redoc_url=None,
        lifespan=lifespan,
    )
    add_stores(app, settings)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_upload_bytes, overrides={
        "/api/v1/datasets": settings.max_dataset_upload_bytes,
        "/training/datasets": settings.max_dataset_upload_bytes})
    if settings.shared:  # after the body limit: added last, it runs first
        app.state.owner_key = secret_key(settings.secret_key, settings.data_dir)
        app.add_middleware(OwnerMiddleware, key=app.state.owner_key,
                           admin_token=settings.admin_token)
    errors.install(app)
    app.mount("/static", StaticFiles(directory=settings.static_dir), name="static")
    # generative first: its slider requests come many a second, and routes match in order
    for module in (generative_api, images_api, kernels_api, stepper_api, training_api,
                   inspector_api, sequences_api, pages,
                   kernel_lab_pages, stepper_pages, training_pages, skip_pages, inspector_pages,
                   generative_pages, sequences_pages):
        app.include_router(module.router)
    add_docs(app)
    return app
