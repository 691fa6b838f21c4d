"""The stepper: a convolution, a pooling or gradient descent, as a list of worked steps."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.shared import errors
from app.core import stepper
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


@router.post("/convolution", response_model=ConvolutionTrace, response_model_exclude_none=True,
             responses=errors(422))
def convolution(req: ConvolutionStepRequest) -> dict:
    """Every window of a convolution (cross-correlation, as `conv2d` computes): the window,
    the products, the sum and the arithmetic written out. A channels × rows × cols input takes
    a kernel with the same channel count; each step then has the per-channel sums."""
    t = stepper.conv_trace(req.input, req.kernel, limits=LIMITS.stepper, stride=req.stride,
                           padding=req.padding, dilation=req.dilation, bias=req.bias)
    return {"input_shape": _shape(req.input), "kernel_shape": _shape(req.kernel),
            "output": t.output.tolist(), "output_shape": list(t.output.shape),
            "padding": t.padding, "formula": t.formula, "steps": t.steps}


@router.post("/pooling", response_model=PoolingTrace, response_model_exclude_none=True,
             responses=errors(422))
def pooling(req: PoolingStepRequest) -> dict:
    """Every window of a max, average or sum pooling, as `max_pool2d` / `avg_pool2d` pool,
    then the pooled map flattened into the vector a dense layer receives."""
    t = stepper.pool_trace(req.input, limits=LIMITS.stepper, op=req.op, size=req.size,
                           stride=req.stride,
                           padding=req.padding, ceil_mode=req.ceil_mode,
                           count_include_pad=req.count_include_pad)
    output = t.output if len(_shape(req.input)) == 3 else t.output[0]
    return {"input_shape": _shape(req.input), "output": output.tolist(),
            "output_shape": list(output.shape), "formula": t.formula, "steps": t.steps,
            "flattened": t.output.ravel().tolist()}


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
