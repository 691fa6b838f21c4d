"""The stepper: a convolution, a pooling or gradient descent, as a list of worked steps."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.shared import errors
from app.core import stepper
from app.http.responses import ArrayJSON
from app.services.schemas import (
    ConvolutionStepRequest,
    ConvolutionTrace,
    GradientDescentRequest,
    GradientDescentTrace,
    PoolingStepRequest,
    PoolingTrace,
)
from app.settings import LIMITS

router = APIRouter(prefix="/api/v1/stepper", tags=["stepper"])


# The traces answer with ArrayJSON (orjson) rather than through their response models: a
# 32×32 trace is ~1,000 steps and ~200 KB, which validating and writing with the standard json
# module took longer than computing. The models still document the shape; the core leaves out
# a step's keys that do not apply (no nulls to drop).
@router.post("/convolution", response_model=ConvolutionTrace, responses=errors(422))
def convolution(req: ConvolutionStepRequest) -> ArrayJSON:
    """Every window of a convolution (cross-correlation, as `conv2d` computes): the window,
    the products, the sum and the arithmetic written out. A channels × rows × cols input takes
    a kernel with the same channel count; each step then has the per-channel sums."""
    t = stepper.conv_trace(req.input, req.kernel, limits=LIMITS.stepper, stride=req.stride,
                           padding=req.padding, dilation=req.dilation, bias=req.bias)
    return ArrayJSON({
        "input_shape": _shape(req.input), "kernel_shape": _shape(req.kernel),
        "output": t.output, "output_shape": list(t.output.shape), "padding": t.padding,
        "formula": t.formula, "steps": t.steps})


@router.post("/pooling", response_model=PoolingTrace, responses=errors(422))
def pooling(req: PoolingStepRequest) -> ArrayJSON:
    """Every window of a max, average or sum pooling, as `max_pool2d` / `avg_pool2d` pool,
    then the pooled map flattened into the vector a dense layer receives."""
    t = stepper.pool_trace(req.input, limits=LIMITS.stepper, op=req.op, size=req.size,
                           stride=req.stride,
                           padding=req.padding, ceil_mode=req.ceil_mode,
                           count_include_pad=req.count_include_pad)
    output = t.output if len(_shape(req.input)) == 3 else t.output[0]
    return ArrayJSON({
        "input_shape": _shape(req.input), "output": output, "output_shape": list(output.shape),
        "formula": t.formula, "steps": t.steps, "flattened": t.output.ravel()})


@router.post("/gradient-descent", response_model=GradientDescentTrace,
             responses=errors(422))
def gradient_descent(req: GradientDescentRequest) -> stepper.DescentTrace:
    """Gradient descent on the squared error of y ≈ x·w (or x·w + b with `b0`), one step per
    point as the slides do it, or per epoch on all points; stops if the weights blow up."""
    return stepper.gradient_descent(req.points, limits=LIMITS.stepper,
                                    learning_rate=req.learning_rate, epochs=req.epochs,
                                    w0=req.w0, b0=req.b0, update=req.update)


def _shape(values: list) -> list[int]:
    shape = []
    while isinstance(values, list) and values:
        shape.append(len(values))
        values = values[0]
    return shape
