"""A page's form → the API's request model: one validation, one message, for both faces."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from app.http.errors import validation_error

M = TypeVar("M", bound=BaseModel)


def parse_form(model: type[M], values: Mapping[str, object]) -> M:
    """Validates form values (strings, as a browser sends them) with the API's model; fields
    left empty take the model's defaults. Raises Invalid naming the first field at fault, so the
    page shows the message beside that control."""
    given = {k: v for k, v in values.items() if not (isinstance(v, str) and v.strip() == "")}
    try:
        return model.model_validate(given, strict=False)
    except ValidationError as exc:
        raise validation_error(exc.errors(), code="invalid_value") from None
