"""Request and response models shared by the API and the pages (one validation, two faces)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.settings import LIMITS

# The bounds below are the checks' own (app.settings.LIMITS), so the schema and the core agree.
KERNELS, STEPPER, TRAINING = LIMITS.kernels, LIMITS.stepper, LIMITS.training

Matrix = list[list[float]]


class ConvSettings(BaseModel):
    """How the kernel slides; shared by /convolve and /filter-bank."""

    model_config = ConfigDict(extra="forbid")

    stride: Annotated[int, Field(ge=1, le=KERNELS.stride, description="step between windows")
                      ] = 1
    padding: Literal["valid", "same"] | Annotated[int, Field(ge=0, le=KERNELS.padding)] = Field(
        "valid", description="'valid' (none), 'same' (output as large as the input at stride 1, "
        "⌈n/s⌉ otherwise) or cells added on every side")
    padding_mode: Literal["zeros", "reflect", "replicate", "circular"] = "zeros"
    dilation: Annotated[int, Field(ge=1, le=KERNELS.dilation, description="gap between taps")
                        ] = 1
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
    kernel: Matrix = Field(description=f"2-D list, 1×1 to {KERNELS.kernel_side}×"
                           f"{KERNELS.kernel_side}, finite numbers")
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


class InspectInput(BaseModel):
    """Exactly one of pixels, image_id, example. A drawing or picture of a digit is turned into
    a model input the MNIST way: inverted if dark-on-light, cropped, scaled to 20 px, centred."""

    model_config = ConfigDict(extra="forbid")
    pixels: list[list[float]] | None = Field(None, description="rows of 0-255 gray numbers")
    image_id: str | None = Field(None, max_length=64, description="an uploaded image's id")
    example: int | None = Field(None, description="index into the model's test set")
    invert: bool | None = Field(None, description="None: decide from the picture's border")


# ---------------------------------------------------------------- stepper

Grid = Annotated[list, Field(
    description="rows of numbers (rows × cols), or channels of rows (channels × rows × cols); "
    f"at most {STEPPER.grid_side}×{STEPPER.grid_side} and {STEPPER.channels} channels",
    examples=[[[1, 2, 5], [0, 2, 3], [4, 5, 5]]])]


class ConvolutionStepRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: Grid
    kernel: Grid = Field(description="rows of weights, or one slice per input channel")
    stride: Annotated[int, Field(ge=1, le=STEPPER.stride)] = 1
    padding: Annotated[int, Field(ge=0, le=STEPPER.padding,
                                  description="zero cells added on every side")] = 0
    dilation: Annotated[int, Field(ge=1, le=STEPPER.dilation, description="gap between taps")
                        ] = 1
    bias: float = Field(0.0, description="added to every output cell")


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


class PoolingStepRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
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


class GradientDescentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    points: list[list[float]] = Field(description=f"[x, y] pairs, 1 to {STEPPER.points}",
                                      examples=[[[2, 4], [1, 2], [3, 6]]])
    learning_rate: float = Field(0.1, description=f"α, above 0, at most "
                                 f"{STEPPER.learning_rate:g}")
    epochs: Annotated[int, Field(ge=1, le=STEPPER.epochs)] = 1
    w0: float = Field(0.5, description="the starting weight")
    b0: float | None = Field(None, description="give a starting bias to fit y = w·x + b "
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


class ArchitectureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    layers: list[dict] = Field(description="ordered layers, e.g. {\"type\": \"conv2d\", "
                               "\"out_channels\": 8, \"kernel_size\": 3}", examples=[[
                                   {"type": "conv2d", "out_channels": 8, "kernel_size": 3},
                                   {"type": "relu"}, {"type": "maxpool2d"}, {"type": "flatten"},
                                   {"type": "linear", "out_features": 10}]])
    dataset: str | None = Field("mnist", description="takes the input shape and class count "
                                "from this dataset…")
    input_shape: list[int] | None = Field(None, description="…or give [C, H, W] and "
                                          "num_classes yourself")
    num_classes: int | None = None


class LayerRowOut(BaseModel):
    index: int
    type: str
    label: str
    output_shape: list[int]
    params: int
    formula: str
    shape_formula: str


class ArchitectureOut(BaseModel):
    input_shape: list[int]
    num_classes: int
    rows: list[LayerRowOut]
    total_params: int


class TrainingRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset: str = "mnist"
    architecture: list[dict] | str = Field(
        "default", description="a preset name (one of the architecture presets) or layers")
    optimizer: Literal["adam", "sgd"] = "adam"
    learning_rate: float = Field(1e-3, gt=0, le=TRAINING.learning_rate)
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD only")
    batch_size: Annotated[int, Field(ge=1, le=TRAINING.batch)] = 64
    epochs: Annotated[int, Field(ge=1, le=TRAINING.epochs)] = 2
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


class SaveModelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=64, description="letters, digits, '.', '-', '_'")


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


class ArithmeticRequest(BaseModel):
    """Latent arithmetic: the API's body and the page's form."""

    model_config = ConfigDict(extra="forbid")
    plus: list[Digit] = Field(description="digits whose average latent points are added")
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


class RecurrentWeights(BaseModel):
    """A cell's weights in torch's layout: G·H rows (G = 1 for an RNN, 4 for an LSTM with its
    gates i, f, g, o stacked, 3 for a GRU with r, z, n), as `torch.nn.LSTMCell` keeps them."""

    model_config = ConfigDict(extra="forbid", strict=True)
    weight_ih: list[Vector] = Field(description="G·hidden_size rows of input_size numbers")
    weight_hh: list[Vector] = Field(description="G·hidden_size rows of hidden_size numbers")
    bias_ih: Vector = Field(description="G·hidden_size numbers")
    bias_hh: Vector = Field(description="G·hidden_size numbers")


class TraceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
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


class GradientFlowRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
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


class MemoryRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    cells: list[Cell] = Field(["rnn", "lstm"], min_length=1, max_length=3)
    delays: list[Annotated[int, Field(ge=1, le=RECURRENT.memory_delay)]] | None = Field(
        None, min_length=1, max_length=8, description="blank steps between the symbol and its "
        "recall; omitted: the default sweep")
    hidden_size: Annotated[int, Field(ge=1, le=RECURRENT.memory_hidden)] | None = None
    steps: Annotated[int, Field(ge=1, le=RECURRENT.memory_steps)] | None = Field(
        None, description="training steps per cell and delay (omitted: the default)")
    seed: Seed = 0


class SequenceRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
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


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
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


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
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
