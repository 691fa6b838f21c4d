"""One error shape for the whole API: {"error": {"code", "message", "field"?}} with a 4xx status.

Core functions raise plain exceptions (InputError, ImageError…); this module maps them to HTTP.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.catalog import UnknownDataset
from app.core.errors import InputError
from app.core.images import CorruptImage, ImageError, ImageTooLarge, UnsupportedImageFormat
from app.jobs import QueueFull, RunConflict, UnknownRun
from app.model_store import ShippedModel, UnknownModel
from app.stores import UnknownId

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers


# What a core function or a store raises on bad input; anything else is a bug and stays a 500.
INPUT_ERRORS = (ApiError, InputError, ImageError, UnknownId, UnknownDataset, UnknownRun,
                UnknownModel, ShippedModel, RunConflict, QueueFull)


def error_body(code: str, message: str, field: str | None = None) -> dict:
    err: dict[str, str] = {"code": code, "message": message}
    if field:
        err["field"] = field
    return {"error": err}


def error_response(
    status: int, code: str, message: str, field: str | None = None, headers: dict | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message, field), status_code=status, headers=headers)


def as_api_error(exc: Exception) -> ApiError:
    """The status, code and message for an exception a core function raised on bad input."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, InputError):
        return ApiError(422, "invalid_value", exc.message, exc.field)
    if isinstance(exc, UnsupportedImageFormat):
        return ApiError(415, "unsupported_media_type", exc.message, "file")
    if isinstance(exc, ImageTooLarge):
        return ApiError(413, "image_too_large", exc.message, "file")
    if isinstance(exc, (CorruptImage, ImageError)):
        return ApiError(422, "corrupt_image", exc.message, "file")
    if isinstance(exc, UnknownId):
        return ApiError(404, "not_found", f"no image or result with id {exc.args[0]!r}; "
                        "upload with POST /api/v1/images or use a sample id", "image_id")
    if isinstance(exc, UnknownDataset):
        return ApiError(404, "not_found", f"no dataset named {exc.args[0]!r}; "
                        "GET /api/v1/datasets lists them", "dataset")
    if isinstance(exc, UnknownRun):
        return ApiError(404, "not_found", f"no training run with id {exc.args[0]!r}; "
                        "GET /api/v1/training-runs lists them", "id")
    if isinstance(exc, UnknownModel):
        return ApiError(404, "not_found", f"no saved model named {exc.name!r}; "
                        f"{exc.listing} lists them", "name")
    if isinstance(exc, ShippedModel):
        return ApiError(409, "conflict", f"{exc.args[0]!r} ships with the playground and cannot "
                        "be deleted; only models you saved can", "name")
    if isinstance(exc, RunConflict):
        return ApiError(409, "conflict", exc.message)
    if isinstance(exc, QueueFull):
        return ApiError(429, "queue_full", exc.message,
                        headers={"Retry-After": str(exc.retry_after)})
    raise TypeError(f"not an input error: {exc!r}")


def _describe(err: dict) -> str:
    loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
    return f"{loc}: {err.get('msg', 'invalid')}" if loc else str(err.get("msg", "invalid"))


def install(app: FastAPI) -> None:
    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        e = as_api_error(exc)
        return error_response(e.status, e.code, e.message, e.field, headers=e.headers)

    for kind in INPUT_ERRORS:
        app.add_exception_handler(kind, on_api_error)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        message = "; ".join(_describe(e) for e in errors[:5]) or "invalid request"
        first = errors[0].get("loc", ()) if errors else ()
        field = next((str(p) for p in first if p not in ("body", "query", "path")), None)
        return error_response(422, "invalid_request", message, field)

    app.add_exception_handler(RequestValidationError, on_validation)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        codes = {404: "not_found", 405: "method_not_allowed", 400: "bad_request",
                 413: "too_large"}
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = f"there is nothing at {request.url.path}; the API is listed at /docs"
        return error_response(exc.status_code, codes.get(exc.status_code, "error"), message,
                              headers=getattr(exc, "headers", None))

    app.add_exception_handler(StarletteHTTPException, on_http)
