"""The generative lab's page and its latent-arithmetic fragment. Every other picture on the page
comes from /api/v1/generative/..."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from app.http.deps import GenerativeDep, TemplatesDep
from app.http.errors import INPUT_ERRORS
from app.http.forms import parse_form
from app.services import generative
from app.services.errors import as_domain
from app.services.schemas import ArithmeticRequest

router = APIRouter(include_in_schema=False)


@router.get("/generative", response_class=HTMLResponse)
def generative_page(request: Request, templates: TemplatesDep, lab: GenerativeDep
                    ) -> HTMLResponse:
    return templates.TemplateResponse(request, "generative.html", {"names": lab.names()})


@router.post("/generative/arithmetic", response_class=HTMLResponse)
async def arithmetic_result(request: Request, templates: TemplatesDep, lab: GenerativeDep
                            ) -> HTMLResponse:
    """The arithmetic form (model, plus, minus) → the result fragment: the same call as
    POST /api/v1/generative/{model}/arithmetic; a refusal is shown in its place."""
    form = await request.form()
    ctx: dict = {"error": None, "result": None}
    try:
        req = parse_form(ArithmeticRequest, {"plus": form.getlist("plus"),
                                             "minus": form.getlist("minus")})
        ctx["result"] = await run_in_threadpool(
            generative.arithmetic, lab, str(form.get("model", "")), list(req.plus),
            list(req.minus))
    except INPUT_ERRORS as exc:
        ctx["error"] = as_domain(exc)
    return templates.TemplateResponse(request, "partials/arithmetic.html", ctx)
