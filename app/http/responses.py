"""A JSON response for the big answers (the sequence lab's traces, the stepper's): orjson writes
numpy arrays as they are, float32 in its shortest exact form, about twenty times faster than the
standard json module on a 64-step trace (measured: 0.6 ms against 12 ms for 310 KB)."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from fastapi.responses import JSONResponse


def _fallback(value: Any) -> Any:
    """What orjson hands back: arrays it cannot take as they are (not C-contiguous, or of
    objects) and numpy scalars of other kinds."""
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON")


class ArrayJSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        # non-finite numbers become null (JSON has no NaN)
        return orjson.dumps(content, default=_fallback, option=orjson.OPT_SERIALIZE_NUMPY)
