"""A JSON response for the big answers (the sequence lab's traces): orjson writes numpy arrays as
they are, float32 in its shortest exact form, about twenty times faster than the standard json
module on a 64-step trace (measured: 0.6 ms against 12 ms for 310 KB)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse


class ArrayJSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        # non-finite numbers become null (JSON has no NaN)
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)
