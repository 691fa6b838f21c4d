"""Explicit dependencies for routers: settings, stores and templates live on app.state, created in
create_app(); routers ask for them with Annotated[..., Depends()].

The getters are `async def` on purpose: FastAPI runs a plain `def` dependency on its thread
pool, a hop that cost more than the whole latent decode on the slider path."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates

from app.catalog import Catalog
from app.jobs import JobBackend, RunRecord
from app.model_store import ModelStore
from app.settings import Settings
from app.stores import ImageStore, ResultStore


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_images(request: Request) -> ImageStore:
    return request.app.state.images


async def get_results(request: Request) -> ResultStore:
    return request.app.state.results


async def get_templates(request: Request) -> Jinja2Templates:
    return request.app.state.templates


async def get_jobs(request: Request) -> JobBackend:
    return request.app.state.jobs


async def existing_run(run_id: str, request: Request) -> RunRecord:
    """The run named in the path, checked before a response starts (a stream cannot turn
    into a 404 once it has begun)."""
    return request.app.state.jobs.get(run_id)


async def get_catalog(request: Request) -> Catalog:
    return request.app.state.catalog


async def get_models(request: Request) -> ModelStore:
    return request.app.state.models


SettingsDep = Annotated[Settings, Depends(get_settings)]
ImagesDep = Annotated[ImageStore, Depends(get_images)]
ResultsDep = Annotated[ResultStore, Depends(get_results)]
TemplatesDep = Annotated[Jinja2Templates, Depends(get_templates)]
JobsDep = Annotated[JobBackend, Depends(get_jobs)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
ModelsDep = Annotated[ModelStore, Depends(get_models)]
ExistingRunDep = Annotated[RunRecord, Depends(existing_run)]
