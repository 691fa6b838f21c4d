"""The model inspector's page. Everything on it comes from the REST API (/api/v1/models/...):
the page sends the drawing, upload or example and draws what comes back."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.http.deps import ModelsDep, TemplatesDep

router = APIRouter(include_in_schema=False)


@router.get("/inspector", response_class=HTMLResponse)
def inspector_page(request: Request, templates: TemplatesDep, models: ModelsDep) -> HTMLResponse:
    available = models.list()
    return templates.TemplateResponse(request, "inspector.html", {
        "models": available, "selected": request.query_params.get("model") or (
            available[0].name if available else None)})
