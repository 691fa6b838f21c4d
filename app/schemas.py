"""Request and response models shared by the API and the pages (one validation, two faces)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.kernels import MAX_DILATION, MAX_PADDING, MAX_STRIDE

Matrix = list[list[float]]


class ConvSettings(BaseModel):
    """How the kernel slides; shared by /convolve and /filter-bank."""

    model_config = ConfigDict(extra="forbid")

    stride: Annotated[int, Field(ge=1, le=MAX_STRIDE, description="step between windows")] = 1
    padding: Literal["valid", "same"] | Annotated[int, Field(ge=0, le=MAX_PADDING)] = Field(
        "valid", description="'valid' (none), 'same' (output as large as the input at stride 1, "
        "⌈n/s⌉ otherwise) or cells added on every side")
    padding_mode: Literal["zeros", "reflect", "replicate", "circular"] = "zeros"
    dilation: Annotated[int, Field(ge=1, le=MAX_DILATION, description="gap between taps")] = 1
    scale: float = Field(1.0, description="divisor: the sum is divided by it (9 for a 3×3 box "
                         "blur of ones); must not be 0")
    bias: float = Field(0.0, description="added after dividing by scale")
    flip: bool = Field(False, description="flip the kernel first: true convolution instead of "
                       "the cross-correlation deep-learning frameworks compute")
    channels: Literal["gray", "rgb"] = Field(
        "rgb", description="images only: 'gray' converts to luma first, 'rgb' filters each "
        "channel on its own")
    display: Literal["clip", "abs", "normalize", "relu", "diverging"] = Field(
        "clip", description="images only: how raw values become pixels")
    size: Literal["preview", "full"] = Field(
        "preview", description="images only: the preview (long side ≤ 1024 px) or full size")
    format: Literal["png", "jpeg", "webp"] = "png"


class ConvolveRequest(ConvSettings):
    input: Matrix | None = Field(None, description="a 2-D grid of numbers (give this or image_id)")
    image_id: str | None = Field(None, max_length=64, description="an uploaded or sample image")
    kernel: Matrix = Field(description="2-D list, 1×1 to 15×15, finite numbers")
    response: Literal["image", "json"] = Field(
        "image", description="images only: the picture itself, or JSON with its URL and stats")


class NamedKernel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field("", max_length=80)
    kernel: Matrix


class FilterBankRequest(ConvSettings):
    image_id: str | None = Field(None, max_length=64)
    input: Matrix | None = None
    kernels: list[NamedKernel] = Field(min_length=1, description="one activation map each")


class ImageInfo(BaseModel):
    id: str
    width: int
    height: int
    format: str
    url: str
    title: str = ""


class Stats(BaseModel):
    min: float
    max: float
    mean: float


class GridResult(BaseModel):
    output: Matrix
    shape: list[int]


class ImageResult(BaseModel):
    url: str
    media_type: str
    shape: list[int] = Field(description="[height, width] of the output")
    input_shape: list[int]
    padding: list[int] = Field(description="[top, bottom, left, right] cells added")
    stats: Stats


class BankMap(BaseModel):
    name: str
    url: str | None = None
    output: Matrix | None = None
    shape: list[int]
    stats: Stats


class FilterBankResult(BaseModel):
    depth: int
    maps: list[BankMap]


class Preset(BaseModel):
    key: str
    name: str
    matrix: Matrix
    scale: float
    explanation: str


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail
