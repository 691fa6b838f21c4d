"""The one place errors become HTTP: {"error": {"code", "message", "field"?}} with a 4xx status.

Services raise domain errors (`app.services.errors`), core functions their own plain ones; both
are mapped here, once, for the API and the pages alike. Anything else is a bug and stays a 500.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.services.errors import (
    CORE_ERRORS,
    Busy,
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    TooLarge,
    Unsupported,
    as_domain,
)

log = logging.getLogger(__name__)

# What a service or a core function raises on bad input (for the pages' `except`).
INPUT_ERRORS = (DomainError, *CORE_ERRORS)

# Most specific first: TooLarge and Unsupported are kinds of Invalid.
STATUS: tuple[tuple[type[DomainError], int], ...] = (
    (TooLarge, 413), (Unsupported, 415), (Invalid, 422), (NotFound, 404), (Conflict, 409),
    (Busy, 429), (Forbidden, 403))


def status_of(exc: DomainError) -> int:
    return next(code for kind, code in STATUS if isinstance(exc, kind))


# Where the API lists what a NotFound looked for (services name the kind, not the URL).
LISTINGS = {
    "images": "upload with POST /api/v1/images or use a sample id (GET /api/v1/images)",
    "datasets": "GET /api/v1/datasets lists them",
    "training-runs": "GET /api/v1/training-runs lists them",
    "models": "GET /api/v1/models lists them",
    "generative-models": "GET /api/v1/generative/models lists them",
    "sequence-models": "GET /api/v1/sequences/models lists them",
    "sequence-datasets": "GET /api/v1/sequences/datasets lists them",
}


def api_error_body(exc: Exception) -> dict:
    """The API's error shape for anything in INPUT_ERRORS."""
    e = as_domain(exc)
    message = e.message
    if isinstance(e, NotFound) and e.listing in LISTINGS:
        message = f"{message}; {LISTINGS[e.listing]}"
    return error_body(e.code, message, e.field)


def error_body(code: str, message: str, field: str | None = None) -> dict:
    err: dict[str, str] = {"code": code, "message": message}
    if field:
        err["field"] = field
    return {"error": err}


def error_response(exc: Exception) -> JSONResponse:
    e = as_domain(exc)
    headers = {"Retry-After": str(e.retry_after)} if isinstance(e, Busy) else None
    return JSONResponse(api_error_body(e), status_code=status_of(e), headers=headers)


# loc entries that name a branch of a union ("literal['valid','same']", "constrained-int",
# "int"), not a field: left out of the name of the field at fault
_BRANCHES = ("int", "float", "str", "bool", "list", "dict", "none")
_NOT_FIELDS = ("body", "query", "path", "form")


def _field_path(loc: tuple) -> tuple[str, ...]:
    return tuple(str(p) for p in loc if p not in _NOT_FIELDS and not (
        isinstance(p, str) and ("[" in p or "-" in p or p in _BRANCHES)))


def _plural(n: object, what: str = "item") -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


# pydantic's words, where they say less than they could: a list's length (with what is
# allowed), and the same words for a strict JSON body and for a page's form of strings
_WORDS = {
    "int_parsing": lambda c: "Input should be a valid integer",
    "float_parsing": lambda c: "Input should be a valid number",
    "bool_parsing": lambda c: "Input should be a valid boolean",
    "too_short": lambda c: (f"is empty: give at least {_plural(c['min_length'])}"
                            if c.get("actual_length") == 0 else
                            f"has {_plural(c.get('actual_length'))}, at least "
                            f"{c['min_length']} needed"),
    "too_long": lambda c: (f"has {_plural(c.get('actual_length'))}, at most "
                           f"{c['max_length']} allowed"),
}


def _message(e: dict) -> str:
    words = _WORDS.get(str(e.get("type")))
    try:
        return words(e.get("ctx") or {}) if words else str(e.get("msg", "invalid"))
    except KeyError:
        return str(e.get("msg", "invalid"))


def validation_error(errors: list[dict], code: str = "invalid_request") -> Invalid:
    """pydantic's errors as one domain error: per field at fault its messages (a union's
    branches joined with "or"), the first field named (the API and the pages use the same
    words)."""
    said: dict[tuple[str, ...], list[str]] = {}
    for e in errors:
        if e.get("type") == "json_invalid":  # its loc is a character offset, not a field
            return Invalid(f"the body is not valid JSON ({e.get('ctx', {}).get('error', '')} "
                           f"at character {e.get('loc', ('', '?'))[-1]})", code=code)
        messages = said.setdefault(_field_path(e.get("loc", ())), [])
        if (m := _message(e)) not in messages:  # a union's branches often say the same
            messages.append(m)
    parts = []
    for path, messages in list(said.items())[:5]:
        text = messages[0] + "".join(
            ", or " + m.removeprefix("Input should be ") for m in messages[1:])
        parts.append(f"{'.'.join(path)}: {text}" if path else text)
    first = next(iter(said), ())
    return Invalid("; ".join(parts) or "invalid request", first[0] if first else None,
                   code=code)


def install(app: FastAPI) -> None:
    async def on_input_error(request: Request, exc: Exception) -> JSONResponse:
        return error_response(exc)

    for kind in INPUT_ERRORS:
        app.add_exception_handler(kind, on_input_error)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        return error_response(validation_error(list(errors)))

    app.add_exception_handler(RequestValidationError, on_validation)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 400:
            # FastAPI's answer to a body it cannot even decode (bytes that are not UTF-8 under
            # a JSON content type): a 422 like every other bad body, the status each route
            # with a body documents
            return error_response(Invalid(
                "the body could not be read: send UTF-8 JSON with Content-Type: "
                "application/json (or, where a route takes files, multipart/form-data)",
                code="invalid_request"))
        if exc.status_code == 404 and message == "Not Found":
            message = f"there is nothing at {request.url.path}; the API is listed at /docs"
        if exc.status_code == 405 and (allowed := (exc.headers or {}).get("Allow")):
            message = f"{request.method} is not allowed on {request.url.path}; allowed: {allowed}"
        return JSONResponse(
            error_body(codes.get(exc.status_code, "error"), message),
            status_code=exc.status_code, headers=getattr(exc, "headers", None))

    app.add_exception_handler(StarletteHTTPException, on_http)
