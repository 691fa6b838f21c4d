"""Explicit dependencies for routers: settings, stores and templates live on app.state, created in
create_app(); routers ask for them with Annotated[..., Depends()].

The getters are `async def` on purpose: FastAPI runs a plain `def` dependency on its thread
pool, a hop that cost more than the whole latent decode on the slider path."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.requests import HTTPConnection

from app.http.errors import validation_error
from app.http.owners import actor_of
from app.services.corpora import Corpora
from app.services.datasets import Catalog
from app.services.errors import Invalid
from app.services.generative import GenerativeLab
from app.services.images import ImageStore, ResultStore
from app.services.inspector import Inspector
from app.services.models import ModelStore
from app.services.owners import Actor
from app.services.runs.backend import JobBackend
from app.services.runs.records import RunRecord
from app.services.schemas import InspectInput
from app.services.sequences import SequenceModels
from app.settings import Settings


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


async def get_corpora(request: Request) -> Corpora:
    return request.app.state.corpora


async def get_sequence_models(request: Request) -> SequenceModels:
    return request.app.state.sequence_models


async def get_inspector(request: Request) -> Inspector:
    return request.app.state.inspector


async def get_generative(connection: HTTPConnection) -> GenerativeLab:
    """For requests and WebSockets alike (both are HTTP connections)."""
    return connection.app.state.generative


async def get_actor(connection: HTTPConnection) -> Actor:
    """Who makes the request: in shared mode the owner its cookie names (app.http.owners);
    otherwise the one local user, who may do everything."""
    return actor_of(connection.scope)


@dataclass
class Source:
    """An input for a model, as the inspector's and the generative lab's services take it."""

    values: dict


# The OpenAPI request body of a route that takes a Source (a JSON body or a multipart image).
SOURCE_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": InspectInput.model_json_schema()},
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary"},
        "invert": {"type": "boolean"}}}}}}}


async def read_source(request: Request, store: Annotated[ImageStore, Depends(get_images)]
                      ) -> Source:
    """A JSON body (InspectInput) or a multipart image upload (`file`)."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise Invalid("send the image as a file field named 'file'", "file",
                          code="invalid_request")
        decoded = store.decode(await upload.read())
        invert = str(form.get("invert", "")).lower()
        return Source({"upload": decoded.pixels,
                       "invert": {"true": True, "false": False}.get(invert)})
    try:
        body = InspectInput.model_validate(json.loads(await request.body() or b"{}"))
    except ValidationError as exc:
        raise validation_error(exc.errors()) from None
    except ValueError:
        raise Invalid("the body must be JSON: {\"pixels\": [[…]]}, {\"image_id\": …} or "
                      "{\"example\": …}, or a multipart image upload",
                      code="invalid_request") from None
    return Source(body.model_dump())


SettingsDep = Annotated[Settings, Depends(get_settings)]
ImagesDep = Annotated[ImageStore, Depends(get_images)]
ResultsDep = Annotated[ResultStore, Depends(get_results)]
TemplatesDep = Annotated[Jinja2Templates, Depends(get_templates)]
JobsDep = Annotated[JobBackend, Depends(get_jobs)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
ModelsDep = Annotated[ModelStore, Depends(get_models)]
ExistingRunDep = Annotated[RunRecord, Depends(existing_run)]
CorporaDep = Annotated[Corpora, Depends(get_corpora)]
SequenceModelsDep = Annotated[SequenceModels, Depends(get_sequence_models)]
InspectorDep = Annotated[Inspector, Depends(get_inspector)]
GenerativeDep = Annotated[GenerativeLab, Depends(get_generative)]
SourceDep = Annotated[Source, Depends(read_source)]
ActorDep = Annotated[Actor, Depends(get_actor)]
