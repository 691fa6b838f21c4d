"""The stepper page. Its numbers come from the REST API (/api/v1/stepper/...): the page fetches
one whole trace per change and steps through it in the browser, so play and scrub are instant."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.core import kernels
from app.http.deps import ImagesDep, TemplatesDep

router = APIRouter(include_in_schema=False)

# Starting points a student can load with one click; the first ones are the slides' examples.
EXAMPLES = {
    "convolution": {
        "input": [[1, 2, 5, 1, 4, 2], [0, 2, 3, 2, 0, 0], [4, 5, 5, 9, 8, 1],
                  [6, 3, 4, 2, 3, 1], [0, 1, 9, 8, 7, 2], [2, 3, 5, 5, 5, 6]],
        "kernel": [[1, 1, 1], [0, 0, 0], [-1, -1, -1]],
    },
    "convolution_rgb": {
        "input": [[[9, 9, 1, 0, 0], [9, 9, 1, 0, 0], [9, 9, 1, 0, 0], [9, 9, 1, 0, 0],
                   [9, 9, 1, 0, 0]],
                  [[2, 2, 2, 2, 2], [2, 5, 5, 5, 2], [2, 5, 8, 5, 2], [2, 5, 5, 5, 2],
                   [2, 2, 2, 2, 2]],
                  [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [7, 7, 7, 7, 7], [7, 7, 7, 7, 7],
                   [7, 7, 7, 7, 7]]],
        "kernel": [[[1, 0, -1], [1, 0, -1], [1, 0, -1]],
                   [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
                   [[1, 1, 1], [0, 0, 0], [-1, -1, -1]]],
    },
    "pooling": {
        "input": [[0, 1, 0, 0, 0], [0, 1, 1, 1, 0], [1, 0, 1, 2, 1], [1, 4, 2, 1, 0],
                  [0, 0, 1, 2, 1]],
    },
    "descent": {"points": [[2, 4], [1, 2], [3, 6]]},
}


@router.get("/stepper", response_class=HTMLResponse)
def stepper_page(request: Request, templates: TemplatesDep, images: ImagesDep) -> HTMLResponse:
    presets = [{"key": p.key, "name": p.name, "matrix": [list(r) for r in p.matrix]}
               for p in kernels.PRESETS if len(p.matrix) <= 5]
    return templates.TemplateResponse(request, "stepper.html", {
        "examples": EXAMPLES, "presets": presets, "samples": images.samples})
