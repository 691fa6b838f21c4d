"""The generative lab's page and its latent-arithmetic fragment. Every other picture on the page
comes from /api/v1/generative/..."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from app.api.generative import ArithmeticRequest, arithmetic
from app.deps import TemplatesDep
from app.errors import INPUT_ERRORS, ApiError, as_api_error
from app.generative_lab import GenerativeLab

router = APIRouter(include_in_schema=False)


@router.get("/generative", response_class=HTMLResponse)
def generative_page(request: Request, templates: TemplatesDep) -> HTMLResponse:
    lab: GenerativeLab = request.app.state.generative
    return templates.TemplateResponse(request, "generative.html", {"names": lab.names()})


@router.post("/generative/arithmetic", response_class=HTMLResponse)
async def arithmetic_result(request: Request, templates: TemplatesDep) -> HTMLResponse:
    """The arithmetic form (model, plus, minus) → the result fragment: the same call as
    POST /api/v1/generative/{model}/arithmetic; a refusal is shown in its place."""
    lab: GenerativeLab = request.app.state.generative
    form = await request.form()
    ctx: dict = {"error": None, "result": None}
    try:
        req = ArithmeticRequest(plus=form.getlist("plus"), minus=form.getlist("minus"))
        ctx["result"] = await run_in_threadpool(arithmetic, str(form.get("model", "")), req, lab)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err.get("loc") else "plus"
        ctx["error"] = ApiError(422, "invalid_value", f"{field}: {err['msg']}", field)
    except INPUT_ERRORS as exc:
        ctx["error"] = as_api_error(exc)
    return templates.TemplateResponse(request, "partials/arithmetic.html", ctx)
