"""The generative lab's page. Every picture on it comes from /api/v1/generative/..."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.http.deps import GenerativeDep, TemplatesDep

router = APIRouter(include_in_schema=False)


@router.get("/generative", response_class=HTMLResponse)
def generative_page(request: Request, templates: TemplatesDep, lab: GenerativeDep
                    ) -> HTMLResponse:
    return templates.TemplateResponse(request, "generative.html", {"names": lab.names()})
