"""Request and response models shared by the API and the pages (one validation, two faces)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.core import nets
from app.services.models import NAME as _MODEL_NAME
from app.settings import LIMITS

# The bounds below are the checks' own (app.settings.LIMITS), so the schema and the core agree.
KERNELS, STEPPER, TRAINING, NETS = LIMITS.kernels, LIMITS.stepper, LIMITS.training, LIMITS.nets


def _json_integers(value: object) -> object:
    """A JSON number without a fraction (`3.0`) as an int: JSON Schema calls it an integer, so
    the strict models below must take it where they take `3`."""
    if type(value) is float and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_json_integers(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_integers(v) for k, v in value.items()}
    return value


class Body(BaseModel):
    """Every JSON request body: strict types, as its schema says (`false` is not 0, `"3"` is
    not 3, NaN and Infinity are not numbers), no keys but its own. A page's form is read with
    `strict=False` (app.http.forms), where every value arrives as a string."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _integers(cls, data: object) -> object:
        return _json_integers(data)


Matrix = list[list[float]]


def rows_schema(side: int, high: float, low: float | None = None) -> dict:
    """The JSON Schema of 1 to `side` rows of 1 to `side` numbers from `low` (default −high)
    to `high`."""
    return {"type": "array", "minItems": 1, "maxItems": side, "items": {
        "type": "array", "minItems": 1, "maxItems": side,
        "items": {"type": "number", "minimum": -high if low is None else low, "maximum": high}}}


# Grids: the schema states their sizes and ranges, and the core's grid check enforces them
# (with its own words: "input is empty…", "1 to 15 rows"), with what JSON Schema cannot say:
# rows of equal length.
KernelGrid = Annotated[Matrix, Field(
    json_schema_extra=rows_schema(KERNELS.kernel_side, KERNELS.weight),
    description=f"rows of weights, 1×1 to {KERNELS.kernel_side}×{KERNELS.kernel_side}, "
    f"|w| ≤ {KERNELS.weight:g}")]
# A default of None, but null is not in the schema: give the field, or leave it out.
InputGrid = Annotated[Matrix, Field(json_schema_extra=rows_schema(KERNELS.grid_side,
                                                                  KERNELS.value))]
ImageId = Annotated[str, Field(min_length=1, max_length=64)]
Scale = Annotated[float, Field(ge=KERNELS.min_scale, le=KERNELS.value)] | Annotated[
    float, Field(ge=-KERNELS.value, le=-KERNELS.min_scale)]
# Exactly one of `input` and `image_id` (the service checks it too, for the pages' forms).
ONE_SOURCE = {"oneOf": [{"required": ["input"]}, {"required": ["image_id"]}]}


class ConvSettings(Body):
    """How the kernel slides; shared by /convolve and /filter-bank."""

    stride: Annotated[int, Field(ge=1, le=KERNELS.stride, description="step between windows")
                      ] = 1
    padding: Literal["valid", "same"] | Annotated[int, Field(ge=0, le=KERNELS.padding)] = Field(
        "valid", description="'valid' (none), 'same' (output as large as the input at stride 1, "
        "⌈n/s⌉ otherwise) or cells added on every side")
    padding_mode: Literal["zeros", "reflect", "replicate", "circular"] = "zeros"
    dilation: Annotated[int, Field(ge=1, le=KERNELS.dilation, description="gap between taps")
                        ] = 1
    scale: Scale = Field(1.0, description="divisor: the sum is divided by it (9 for a 3×3 "
                         f"box blur of ones); |scale| from {KERNELS.min_scale:g} to "
                         f"{KERNELS.value:g}")
    bias: Annotated[float, Field(ge=-KERNELS.value, le=KERNELS.value)] = Field(
        0.0, description="added after dividing by scale")
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
    model_config = ConfigDict(json_schema_extra=ONE_SOURCE)
    input: InputGrid = Field(None, description="a 2-D grid of numbers (give this or image_id)")
    image_id: ImageId = Field(None, description="an uploaded or sample image")
    kernel: KernelGrid
    response: Literal["image", "json"] = Field(
        "image", description="images only: the picture itself, or JSON with its URL and stats")


class NamedKernel(Body):
    name: str = Field("", max_length=80)
    kernel: KernelGrid


class FilterBankRequest(ConvSettings):
    model_config = ConfigDict(json_schema_extra=ONE_SOURCE)
    image_id: ImageId = None
    input: InputGrid = None
    kernels: list[NamedKernel] = Field(min_length=1, max_length=KERNELS.bank_kernels,
                                       description="one activation map each")


class ImageInfo(BaseModel):
    id: str
    width: int
    height: int
    format: str
    url: str
    title: str = ""
    credit: str = Field("", description="a built-in photo's author and licence")


class ImageGrid(BaseModel):
    input: list = Field(description="rows of 0-255 integers, or 3 channels of rows")
    shape: list[int]


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


class InspectInput(Body):
    """Exactly one of pixels, image_id, example. A drawing or picture of a digit is turned into
    a model input the MNIST way: inverted if dark-on-light, cropped, scaled to 20 px, centred."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [
        {"required": ["pixels"]}, {"required": ["image_id"]}, {"required": ["example"]}]})
    pixels: Matrix = Field(
        None, json_schema_extra=rows_schema(LIMITS.pixels_side, 255, low=0),
        description=f"rows of 0-255 gray numbers, at most {LIMITS.pixels_side} a side")
    image_id: ImageId = Field(None, description="an uploaded image's id")
    example: Annotated[int, Field(ge=0, le=2**31 - 1)] = Field(
        None, description="index into the model's test set (beyond its end: 404)")
    invert: bool | None = Field(None, description="None: decide from the picture's border")


# ---------------------------------------------------------------- stepper

StepValue = Annotated[float, Field(ge=-STEPPER.value, le=STEPPER.value)]


def _grid(side: int, what: str) -> object:
    """rows × cols, or channels × rows × cols, at most `side` a side and STEPPER.channels
    channels: stated here, checked by the core (with rows of equal length and channels of
    equal shape)."""
    rows = rows_schema(side, STEPPER.value)
    return Annotated[list, Field(
        json_schema_extra={"type": "array", "anyOf": [rows, {
            "type": "array", "minItems": 1, "maxItems": STEPPER.channels, "items": rows}]},
        description=f"{what}: rows of numbers (rows × cols), or channels of rows (channels × "
        f"rows × cols); at most {side}×{side} and {STEPPER.channels} channels, |value| ≤ "
        f"{STEPPER.value:g}", examples=[[[1, 2, 5], [0, 2, 3], [4, 5, 5]]])]


Grid = _grid(STEPPER.grid_side, "the input")
StepKernel = _grid(STEPPER.kernel_side, "the weights, one slice per input channel")


class ConvolutionStepRequest(Body):
    input: Grid
    kernel: StepKernel
    stride: Annotated[int, Field(ge=1, le=STEPPER.stride)] = 1
    padding: Annotated[int, Field(ge=0, le=STEPPER.padding,
                                  description="zero cells added on every side")] = 0
    dilation: Annotated[int, Field(ge=1, le=STEPPER.dilation, description="gap between taps")
                        ] = 1
    bias: StepValue = Field(0.0, description="added to every output cell")


class ConvolutionStep(BaseModel):
    out: list[int] = Field(description="[row, col] of the output cell this step fills")
    window: list[list[int]] = Field(description="[[top, left], [bottom, right]] input cells "
                                    "under the kernel, inclusive; outside the input = padding")
    products: list = Field(description="input × weight for each tap, shaped like the kernel")
    sum: float
    expression: str = Field(description="the arithmetic written out, e.g. '7×1 + 4×0 + … = 6'")
    channel_sums: list[float] | None = None
    channel_expressions: list[str] | None = None


class ConvolutionTrace(BaseModel):
    input_shape: list[int]
    kernel_shape: list[int]
    output: Matrix
    output_shape: list[int]
    padding: int
    formula: dict[str, str] = Field(description="the output-size formula, general and per axis "
                                    "with this input's numbers")
    steps: list[ConvolutionStep]


class PoolingStepRequest(Body):
    input: Grid
    op: Literal["max", "avg", "sum"] = "max"
    size: Annotated[int, Field(ge=1, le=STEPPER.pool_side, description="the window is size × size")
                    ] = 2
    stride: Annotated[int | None, Field(ge=1, le=STEPPER.stride,
                                        description="default: the window size")] = None
    padding: Annotated[int, Field(ge=0, le=STEPPER.pool_side // 2,
                                  description="at most size // 2, as in PyTorch")] = 0
    ceil_mode: bool = Field(False, description="keep a last partial window at the edge")
    count_include_pad: bool = Field(True, description="avg: padding cells count as zeros")


class PoolingStep(BaseModel):
    channel: int | None = None
    out: list[int]
    window: list[list[int]]
    values: list[float | None] = Field(description="the window's cells row by row; null where "
                                       "the cell is padding or past the edge")
    result: float
    argmax: list[int] | None = Field(None, description="max: [row, col] of the winning input "
                                     "cell (the first one when several are equal)")
    divisor: int | None = Field(None, description="avg: how many cells the sum is divided by")
    expression: str


class PoolingTrace(BaseModel):
    input_shape: list[int]
    output: list = Field(description="rows × cols, or channels × rows × cols like the input")
    output_shape: list[int]
    formula: dict[str, str]
    steps: list[PoolingStep]
    flattened: list[float] = Field(description="the output as the vector a dense layer "
                                   "receives: channel by channel, row by row")


Coord = Annotated[float, Field(ge=-STEPPER.coord, le=STEPPER.coord)]


class GradientDescentRequest(Body):
    points: Matrix = Field(
        json_schema_extra={"minItems": 1, "maxItems": STEPPER.points, "items": {
            "type": "array", "minItems": 2, "maxItems": 2,
            "items": {"type": "number", "minimum": -STEPPER.coord, "maximum": STEPPER.coord}}},
        description=f"[x, y] pairs, 1 to {STEPPER.points}, |x|, |y| ≤ {STEPPER.coord:g} "
        "(checked by the core)", examples=[[[2, 4], [1, 2], [3, 6]]])
    learning_rate: float = Field(0.1, json_schema_extra={
        "exclusiveMinimum": 0, "maximum": STEPPER.learning_rate},
        description=f"α, above 0, at most {STEPPER.learning_rate:g}")
    epochs: Annotated[int, Field(ge=1, le=STEPPER.epochs)] = Field(
        1, description=f"epochs × steps per epoch (points, or 1 for full_batch) at most "
        f"{STEPPER.steps:,}")
    w0: Coord = Field(0.5, description="the starting weight")
    b0: Coord | None = Field(None, description="give a starting bias to fit y = w·x + b "
                             "(two parameters); leave out to fit y = w·x")
    update: Literal["per_point", "full_batch"] = Field(
        "per_point", description="one step per point (the slides), or one step per epoch on "
        "the mean over all points")


class GradientDescentStep(BaseModel):
    epoch: int
    point: int | None = Field(description="index of the point used (per-point updates)")
    x: float | None
    y: float | None
    prediction: float | None
    error: float = Field(description="squared error of this step's point (or the mean)")
    gradient: float = Field(description="dE/dw at the weight before the step")
    w_before: float
    w: float = Field(description="the weight after the step")
    gradient_b: float | None = None
    b_before: float | None = None
    b: float | None = None
    loss: float | None = Field(description="mean squared error over all points after the step")
    expression: str


class GradientDescentTrace(BaseModel):
    steps: list[GradientDescentStep]
    diverged: bool
    message: str
    optimum: dict[str, float] = Field(description="the least-squares answer: w (and b), loss")
    stable_below: float | None = Field(description="every step shrinks the error for learning "
                                       "rates below this")
    curve: dict[str, list] = Field(description="the loss over w (one weight) or over the (w, b) "
                                   "grid, rows = b values: for the plot")


# ---------------------------------------------------------------- datasets, architectures, runs

class DatasetOut(BaseModel):
    name: str
    title: str
    kind: str = Field(description="builtin, idx (IDX files in a directory) or upload")
    available: bool
    message: str = Field("", description="why it is not available, and how to make it so")
    classes: list[str] = []
    shape: list[int] = Field([], description="[channels, height, width] of one image")
    counts: dict[str, list[int]] | None = Field(None, description="per split, per class")
    samples_url: str | None = None


def _layer_schemas() -> list[dict]:
    """One JSON Schema per layer kind, from the kinds' own data (core.nets.LAYER_TYPES), so the
    schema states exactly what core.nets.normalize checks."""
    out = []
    for kind in nets.LAYER_TYPES.values():
        props: dict[str, dict] = {"type": {"const": kind.name}}
        for st in kind.settings:
            value = {"type": "integer" if st.kind is int else "number",
                     "minimum": st.low, "maximum": st.high}
            props[st.name] = ({"anyOf": [value, {"type": "null"}]} if st.nullable else value
                              ) | {"description": st.help, "default": st.default}
        out.append({"title": kind.title, "type": "object", "properties": props,
                    "required": ["type"], "additionalProperties": False})
    return out


Layers = Annotated[list[dict], Field(
    description="ordered layers, e.g. {\"type\": \"conv2d\", \"out_channels\": 8, "
    "\"kernel_size\": 3}; each kind's settings and ranges are below (and beside the "
    "architecture presets). Whether the shapes fit together is checked against the "
    "input (422 with the layer at fault).",
    json_schema_extra={"minItems": 1, "maxItems": NETS.layers,
                       "items": {"oneOf": _layer_schemas()}},
    examples=[[{"type": "conv2d", "out_channels": 8, "kernel_size": 3}, {"type": "relu"},
               {"type": "maxpool2d"}, {"type": "flatten"},
               {"type": "linear", "out_features": 10}]])]
DatasetName = Annotated[str, Field(min_length=1, max_length=64)]
Side = Annotated[int, Field(ge=1, le=NETS.input_side)]


class ArchitectureRequest(Body):
    model_config = ConfigDict(json_schema_extra={"dependentRequired": {
        "input_shape": ["num_classes"]}})
    layers: Layers
    dataset: DatasetName | None = Field("mnist", description="takes the input shape and class "
                                        "count from this dataset…")
    input_shape: tuple[Annotated[int, Field(ge=1, le=NETS.input_channels)], Side, Side] | None = (
        Field(None, strict=False, description="…or give [C, H, W] and num_classes yourself"))
    num_classes: Annotated[int, Field(ge=2, le=NETS.classes)] | None = None


class LayerRowOut(BaseModel):
    index: int
    type: str
    label: str
    output_shape: list[int]
    params: int
    formula: str
    shape_formula: str
    parts: list[LayerRowOut] = Field(default_factory=list, description="a residual block's "
                                     "inside: its body's layers, its shortcut, the addition")


class ArchitectureOut(BaseModel):
    input_shape: list[int]
    num_classes: int
    rows: list[LayerRowOut]
    total_params: int


class TrainingRunRequest(Body):
    dataset: DatasetName = "mnist"
    architecture: Literal[nets.TRAINABLE] | Layers = Field(  # type: ignore[valid-type]
        "default", description="an architecture preset's name, or layers")
    optimizer: Literal["adam", "sgd"] = "adam"
    learning_rate: float = Field(1e-3, gt=0, le=TRAINING.learning_rate)
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD only")
    batch_size: Annotated[int, Field(ge=1, le=TRAINING.batch)] = 64
    epochs: Annotated[int, Field(ge=1, le=TRAINING.epochs)] = 2
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0


class DepthRunRequest(Body):
    """The skip-connection experiment: a plain and a residual net of the same depth, trained
    side by side on the same batches (core.depth)."""

    dataset: DatasetName = "mnist"
    depth: Annotated[int, Field(ge=4, le=LIMITS.depth.depth, multiple_of=2)] = Field(
        20, description="weight layers of each net (even: the residual net pairs them)")
    width: Annotated[int, Field(ge=1, le=LIMITS.depth.width)] = 16
    epochs: Annotated[int, Field(ge=1, le=LIMITS.depth.epochs)] = 1
    batch_size: Annotated[int, Field(ge=2, le=LIMITS.depth.batch)] = 64
    learning_rate: float = Field(1e-3, gt=0, le=LIMITS.depth.learning_rate, description="Adam's")
    batches_per_epoch: Annotated[int, Field(ge=1, le=100_000)] | None = Field(
        None, description="at most this many batches an epoch (omitted: the whole set)")
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0


class RunOut(BaseModel):
    id: str
    status: str = Field(description="queued, running, paused, stopping, completed, stopped, "
                        "failed or interrupted")
    dataset: str
    config: dict
    created: float
    started: float | None
    finished: float | None
    message: str
    metrics: dict = Field(description="the latest figures: epoch, step, losses, accuracies, "
                          "images_per_s, eta_s…")
    has_weights: bool
    node: str = Field(description="where it runs or ran: a host name (and address on a cluster)")
    queue_position: int | None
    events_url: str
    yours: bool = Field(True, description="whether you may pause, cancel, save or delete it "
                        "(shared mode: your own runs; always true on one's own machine)")


class BackendOut(BaseModel):
    backend: str = Field(description="'embedded' (processes on the app's machine) or 'ray'")
    where: str = Field(description="the app's host name, or the Ray cluster's address")
    nodes: int
    cpus: float
    cpus_per_run: float
    concurrent: int = Field(description="runs that train at once")
    max_queued: int = Field(description="runs that may wait; beyond that a new run gets 429")
    running: int
    queued: int


class SaveModelRequest(Body):
    name: str = Field(min_length=1, max_length=64, pattern=_MODEL_NAME.pattern,
                      description="letters, digits, '.', '-', '_'")


class ModelOut(BaseModel):
    name: str
    dataset: str | None = None
    classes: list[str]
    input_shape: list[int]
    params: int | None = None
    metrics: dict = {}
    trained: str | None = None
    run_id: str | None = None
    layers: list[dict]
    weights_url: str
    shipped: bool = Field(False, description="trained by us and shipped in models/ (read-only)")
    normalization: list | None = Field(None, description="per-channel [means, stds] of the "
                                       "0-1 inputs, applied before the first layer")


# ---------------------------------------------------------------- generative lab

Digit = Literal["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
GENERATIVE = LIMITS.generative
# one coordinate of a latent point: any finite JSON number (no strings, no booleans) within the
# sanity bound; a standard-normal draw is never refused, and one beyond ±prior_bound is decoded
# and reported (`outside_prior`)
LatentValue = Annotated[float, Field(strict=True, allow_inf_nan=False,
                                     ge=-GENERATIVE.latent_value, le=GENERATIVE.latent_value)]
LatentPoint = list[LatentValue]


class ArithmeticRequest(Body):
    """Latent arithmetic: the API's body and the page's form."""

    plus: list[Digit] = Field(min_length=1, description="digits whose average latent points "
                              "are added")
    minus: list[Digit] = []


# ---------------------------------------------------------------- sequence lab

RECURRENT, SEQUENCES = LIMITS.recurrent, LIMITS.sequences
Cell = Literal["rnn", "lstm", "gru"]
Seed = Annotated[int, Field(ge=0, le=2**31 - 1)]
# one number of a trace's inputs, weights or start state: finite and bounded, so every sum stays
# finite in float32
TraceValue = Annotated[float, Field(ge=-RECURRENT.value, le=RECURRENT.value,
                                    allow_inf_nan=False)]
Vector = list[TraceValue]


class RecurrentWeights(Body):
    """A cell's weights in torch's layout: G·H rows (G = 1 for an RNN, 4 for an LSTM with its
    gates i, f, g, o stacked, 3 for a GRU with r, z, n), as `torch.nn.LSTMCell` keeps them."""

    weight_ih: list[Vector] = Field(description="G·hidden_size rows of input_size numbers")
    weight_hh: list[Vector] = Field(description="G·hidden_size rows of hidden_size numbers")
    bias_ih: Vector = Field(description="G·hidden_size numbers")
    bias_hh: Vector = Field(description="G·hidden_size numbers")


class TraceRequest(Body):
    cell: Cell = "lstm"
    input_size: Annotated[int, Field(ge=1, le=RECURRENT.input_size)] = 3
    hidden_size: Annotated[int, Field(ge=1, le=RECURRENT.hidden_size)] = 2
    inputs: list[Annotated[Vector, Field(min_length=1, max_length=RECURRENT.input_size)]] = Field(
        min_length=1, max_length=RECURRENT.steps,
        description="T rows of input_size numbers: x_0 … x_{T−1} (one-hot characters, or values)")
    weights: RecurrentWeights | None = Field(
        None, description="omitted: drawn from `seed` as torch initialises a cell, "
        "U(−1/√H, 1/√H)")
    h0: Annotated[Vector, Field(max_length=RECURRENT.hidden_size)] | None = Field(
        None, description="the state before step 0 (hidden_size numbers; default zeros)")
    c0: Annotated[Vector, Field(max_length=RECURRENT.hidden_size)] | None = Field(
        None, description="LSTM only: the cell state before step 0 (default zeros)")
    seed: Seed = 0


class TraceStep(BaseModel):
    t: int
    x: list[float]
    h: list[float]
    c: list[float] | None = Field(None, description="LSTM: the cell state after this step")
    gates: dict[str, list[float]] | None = Field(
        None, description="LSTM: input, forget, cell (the candidate g), output; GRU: reset, "
        "update, new (the candidate n)")
    expression: str = Field(description="this step's equations with its numbers")


class TraceOut(BaseModel):
    cell: Cell
    input_size: int
    hidden_size: int
    equations: list[str] = Field(description="the cell's equations, in symbols")
    steps: list[TraceStep]
    weights: dict[str, list] = Field(description="the weights used (torch's layout)")


class GradientFlowRequest(Body):
    cell: Cell = "rnn"
    hidden_size: Annotated[int, Field(ge=1, le=RECURRENT.flow_hidden)] = 16
    length: Annotated[int, Field(ge=1, le=RECURRENT.flow_length)] = 50
    seed: Seed = 0
    weight_scale: Annotated[float, Field(gt=0, le=RECURRENT.weight_scale,
                                         allow_inf_nan=False)] = Field(
        1.0, description="the recurrent weights W_hh are multiplied by this: below ~1 the "
        "gradient vanishes with the lag, well above it a vanilla RNN's can explode")
    forget_bias: Annotated[float, Field(ge=-10, le=10, allow_inf_nan=False)] = Field(
        3.0, description="LSTM only: added to the forget gate's bias. At 3, f ≈ σ(3) ≈ 0.95 "
        "and the cell state carries the gradient far (the start the memory task trains from); "
        "at 0, torch's start, f ≈ ½ and the LSTM forgets nearly as fast as an RNN")


class GradientFlowOut(BaseModel):
    cell: Cell
    forget_bias: float | None = Field(description="the LSTM's forget-gate bias added (null for "
                                      "other cells)")
    lags: list[int] = Field(description="T−1−t for each norm")
    norms: list[float | None] = Field(description="‖∂(Σ_j h_T[j]) / ∂x_t‖₂ at t = T−1−lag; "
                                      "null where it overflows")
    inputs: list[list[float]]
    weights: dict[str, list]


class MemoryRunRequest(Body):
    cells: list[Cell] = Field(["rnn", "lstm"], min_length=1, max_length=3)
    delays: list[Annotated[int, Field(ge=1, le=RECURRENT.memory_delay)]] | None = Field(
        None, min_length=1, max_length=8, description="blank steps between the symbol and its "
        "recall; omitted: the default sweep")
    hidden_size: Annotated[int, Field(ge=1, le=RECURRENT.memory_hidden)] | None = None
    steps: Annotated[int, Field(ge=1, le=RECURRENT.memory_steps)] | None = Field(
        None, description="training steps per cell and delay (omitted: the default)")
    seed: Seed = 0


class SequenceRunRequest(Body):
    dataset: str = Field("names", max_length=40,
                         description="a sequence dataset's name (the API lists them)")
    task: Literal["generate", "classify", "forecast"] | None = Field(
        None, description="omitted: the dataset's own (a text → generate, names by language → "
        "classify, a series → forecast)")
    cell: Cell = "lstm"
    layers: Annotated[int, Field(ge=1, le=SEQUENCES.layers)] = 1
    hidden_size: Annotated[int, Field(ge=1, le=SEQUENCES.hidden_size)] = 128
    embedding: Annotated[int, Field(ge=0, le=SEQUENCES.embedding)] = Field(
        0, description="0: one-hot characters")
    seq_len: Annotated[int, Field(ge=2, le=SEQUENCES.seq_len)] = Field(
        64, description="characters (or values) per training window: backpropagation through "
        "this many steps")
    batch_size: Annotated[int, Field(ge=1, le=SEQUENCES.batch)] = 32
    optimizer: Literal["adam", "sgd"] = "adam"
    learning_rate: Annotated[float, Field(gt=0, le=SEQUENCES.learning_rate,
                                          allow_inf_nan=False)] = 3e-3
    clip: Annotated[float, Field(ge=0, le=SEQUENCES.clip, allow_inf_nan=False)] = Field(
        1.0, description="the gradient's norm is clipped to this (0: no clipping)")
    epochs: Annotated[int, Field(ge=1, le=SEQUENCES.epochs)] = 1
    seed: Seed = 0


class GenerateRequest(Body):
    prompt: str = Field("", max_length=SEQUENCES.prompt_chars,
                        description="fed first; the text returned is what follows it")
    length: Annotated[int, Field(ge=1, le=SEQUENCES.generate_length)] = 200
    temperature: Annotated[float, Field(gt=0, le=SEQUENCES.temperature,
                                        allow_inf_nan=False)] = Field(
        1.0, description="the logits are divided by it: below 1 sharper, above 1 flatter")
    top_k: Annotated[int, Field(ge=0, le=SEQUENCES.vocab)] = Field(
        0, description="sample only among the k likeliest characters (0: all)")
    seed: Seed = 0


class TopChar(BaseModel):
    char: str
    p: float = Field(description="in the distribution sampled from (temperature, top-k)")
    p_raw: float = Field(description="at temperature 1, without top-k")


class GeneratedStep(BaseModel):
    char: str
    top: list[TopChar] = Field(description="the 5 likeliest next characters, descending")


class GenerationOut(BaseModel):
    model: str
    prompt: str
    text: str
    steps: list[GeneratedStep]


class ClassifyRequest(Body):
    text: str = Field(min_length=1, max_length=SEQUENCES.text_chars)


class ClassPrefix(BaseModel):
    prefix: str
    probs: list[float]
    best: str


class ClassificationOut(BaseModel):
    model: str
    text: str
    classes: list[str]
    probs: list[float]
    best: str
    prefixes: list[ClassPrefix] = Field(description="the answer after each prefix of the text")


class SequenceModelOut(BaseModel):
    name: str
    task: str
    cell: str
    config: dict
    vocab: str | None = Field(None, description="the characters it knows (generate, classify)")
    classes: list[str] | None = None
    dataset: str | None = None
    metrics: dict = Field(description="val_loss beside bigram_val_loss on the same split, …")
    params: int | None = None
    trained: str | None = None
    command: str | None = None
    summary: str | None = None
    shipped: bool
    weights_url: str


class CorpusOut(BaseModel):
    name: str
    title: str
    kind: Literal["text", "labeled", "series"]
    source: Literal["builtin", "upload"]
    available: bool
    message: str
    tasks: list[str]
    size: dict
    classes: list[str]
    preview: str
