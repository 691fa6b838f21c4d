"""Explicit dependencies for routers: settings, stores and templates live on app.state, created in
create_app(); routers ask for them with Annotated[..., Depends()]."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates

from app.settings import Settings
from app.stores import ImageStore, ResultStore


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_images(request: Request) -> ImageStore:
    return request.app.state.images


def get_results(request: Request) -> ResultStore:
    return request.app.state.results


def get_templates(request: Request) -> Jinja2Templates:
    return request.app.state.templates


SettingsDep = Annotated[Settings, Depends(get_settings)]
ImagesDep = Annotated[ImageStore, Depends(get_images)]
ResultsDep = Annotated[ResultStore, Depends(get_results)]
TemplatesDep = Annotated[Jinja2Templates, Depends(get_templates)]
