"""The model inspector's service: loaded models, inputs made the way a model expects, the
model's test set evaluated once per model (for "test images that excite this unit" and "digits it
gets wrong"), and one function per question the inspector answers (what the model says, what each
layer makes of an input, where it looks, what a unit responds to). Plain Python: the API router
calls it and turns the results into its responses; the page calls the API.

Pictures inside an answer are PNG data URLs (`data:image/png;base64,…`); a picture that is the
whole answer is PNG bytes.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from app.core import images, inspect, kernels, nets
from app.core.datasets import Split
from app.core.images import png_data_url
from app.core.training import to_inputs
from app.services import models as model_store
from app.services.datasets import Catalog
from app.services.errors import Invalid
from app.services.images import ImageStore
from app.services.models import ModelStore, StoredModel, UnknownModel
from app.services.runs.records import RunStore, UnknownRun
from app.settings import LIMITS

RUN_ID = re.compile(r"^[A-Za-z0-9_-]{8,32}$")
ENLARGED = 224  # px: the side a single map or heat map is drawn at
# The kernel lab's hand-made kernels that the first conv layer's filters are compared with.
CLASSIC = ("edge-vertical", "edge-horizontal", "sobel-x", "sobel-y", "laplacian", "outline",
           "box-blur", "gaussian-3", "sharpen", "identity", "emboss")


@dataclass
class Loaded:
    stored: StoredModel
    model: torch.nn.Sequential
    table: nets.ArchitectureTable
    fields: list[nets.ReceptiveField | None]
    norm: tuple[list[float], list[float]]
    test: TestSet | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def classes(self) -> list[str]:
        return list(self.stored.classifier.classes)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.stored.classifier.input_shape

    def tensor(self, x: np.ndarray) -> torch.Tensor:
        """uint8 (C, H, W) → the normalised (1, C, H, W) batch the model takes."""
        return to_inputs(x[None], self.norm)


@dataclass
class TestSet:
    """The model's dataset's test split, with the model's answers and, per layer and channel,
    each image's mean activation (what ranks "the images that excite a unit most")."""

    x: np.ndarray  # (N, C, H, W) uint8
    y: np.ndarray
    predictions: np.ndarray
    confidence: np.ndarray
    unit_means: list[np.ndarray]  # per layer (N, channels) or (N, features)


def to_display(x: np.ndarray) -> np.ndarray:
    """(C, H, W) uint8 → (H, W) or (H, W, 3) for a picture."""
    return x[0] if x.shape[0] == 1 else np.ascontiguousarray(x.transpose(1, 2, 0))


class Inspector:
    def __init__(self, models: ModelStore, catalog: Catalog, images_store: ImageStore,
                 max_loaded: int = 3, runs: RunStore | None = None,
                 runs_dir: Path | None = None) -> None:
        self.models, self.catalog, self.images = models, catalog, images_store
        self.runs, self.runs_dir = runs, runs_dir
        self._loaded: OrderedDict[str, Loaded] = OrderedDict()
        self._max = max_loaded
        self._lock = threading.Lock()

    def load(self, name: str) -> Loaded:
        """The model ready to run (kept for the next request; reloaded if its file changed).
        A training run's id works too: its weights as they were last written."""
        stored = self._find(name)
        key = f"{name}:{stored.weights.stat().st_mtime_ns}"
        with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
        card = stored.classifier
        shape = card.input_shape
        loaded = Loaded(stored=stored, model=stored.load(),
                        table=nets.table(card.layers, shape, len(card.classes),
                                         limits=LIMITS.nets),
                        fields=nets.receptive_fields(card.layers),
                        norm=card.normalization or ([0.0] * shape[0], [1.0] * shape[0]))
        with self._lock:
            self._loaded[key] = loaded
            while len(self._loaded) > self._max:
                self._loaded.popitem(last=False)
        return loaded

    def _find(self, name: str) -> StoredModel:
        try:
            return self.models.get(name)
        except UnknownModel:
            if self.runs is None or not RUN_ID.match(name):
                raise
        try:
            record = self.runs.get(name)
        except UnknownRun:
            raise UnknownModel(name) from None
        try:
            return model_store.read(self.runs_dir / name)
        except UnknownModel:
            raise Invalid(f"run {name} is {record.status} and has no saved weights yet: a "
                             "run writes them when it completes or is stopped", "name") from None

    # inputs
    def input_from(self, m: Loaded, **source: object) -> np.ndarray:
        """The input for model `m` from one source (see `prepare`); examples are its test set."""
        return self.prepare(m.input_shape, lambda: self.test_split(m), **source)

    def prepare(self, input_shape: tuple[int, int, int], examples: Callable[[], Split], *,
                pixels: list | None = None, image_id: str | None = None,
                example: int | None = None, upload: np.ndarray | None = None,
                invert: bool | None = None) -> np.ndarray:
        """A model input (C, H, W) uint8 from exactly one source: a grid of 0-255 numbers (a
        drawing), an uploaded or stored image, or an example of the `examples` split. Digits
        for one-channel models are made the MNIST way (see core.inspect.mnist_style)."""
        given = [s is not None for s in (pixels, image_id, example, upload)]
        if sum(given) != 1:
            raise Invalid("give exactly one input: pixels, image_id, example or an image "
                             "file", "pixels")
        if example is not None:
            split = examples()
            if not 0 <= example < len(split.x):
                raise Invalid(f"example must be 0 to {len(split.x) - 1}", "example")
            return split.x[example]
        if pixels is not None:
            picture = _pixels(pixels)
        elif image_id is not None:
            picture = self.images.get(image_id).pixels("preview")
        else:
            picture = upload
        if input_shape[0] == 1 and picture.ndim == 3:
            picture = np.asarray(Image.fromarray(picture).convert("L"))
        if input_shape[0] == 1:
            return inspect.mnist_style(picture, size=input_shape[1], invert=invert)[None]
        return inspect.fit_to_model(picture, input_shape)

    def test_split(self, m: Loaded) -> Split:
        """The images the model was tested on (its dataset's test split, else validation)."""
        ds = self.catalog.load(m.stored.classifier.dataset or "mnist")
        return ds.test if ds.test is not None else ds.val

    # the test set with the model's answers, once per model
    def test_set(self, m: Loaded) -> TestSet:
        with m.lock:
            if m.test is None:
                m.test = self._evaluate(m)
            return m.test

    def _evaluate(self, m: Loaded) -> TestSet:
        split = self.test_split(m)
        x = to_inputs(split.x, m.norm)
        means: list[list[torch.Tensor]] = [[] for _ in m.table.rows]
        probs = []
        with torch.no_grad():
            for i in range(0, len(x), 500):
                outs = nets.layer_outputs(m.model, x[i:i + 500])
                for j, out in enumerate(outs):
                    means[j].append(out.mean(dim=(2, 3)) if out.ndim == 4 else out)
                probs.append(torch.softmax(outs[-1], dim=1))
        p = torch.cat(probs)
        return TestSet(x=split.x, y=split.y, predictions=p.argmax(1).numpy(),
                       confidence=p.max(1).values.numpy(),
                       unit_means=[torch.cat(ms).numpy() for ms in means])


# ---------------------------------------------------------------- what the inspector answers


@dataclass
class Answer:
    """What the model says about one input, and the input as the model saw it."""

    model: str
    classes: list[str]
    prediction: int
    label: str
    probabilities: list[float]
    input_png: str


@dataclass
class LayerActivation:
    """One layer's output: its maps as one grid picture (`cols` a row, `tile` pixels each, `gap`
    between), a 1-D output as a strip; `values` (the raw numbers) only when asked for."""

    index: int
    label: str
    type: str
    shape: list[int]
    range: list[float]
    receptive_field: dict | None
    cols: int
    tile: list[int]
    gap: int
    png: str
    values: list | None = None


@dataclass
class Activations(Answer):
    layers: list[LayerActivation]


@dataclass
class UnitKernels:
    """The conv filter that made a channel: one slice per input channel, and its bias."""

    layer: int
    label: str
    shape: list[int]
    bias: float
    png: str


@dataclass
class UnitView:
    layer: int
    channel: int
    label: str
    shape: list[int]
    range: list[float]
    png: str
    receptive_field: dict | None
    kernels: UnitKernels | None


@dataclass
class HeatMap:
    """A heat map over the input (0 to 1) for class `target`; `png()` draws it over the input."""

    target: int
    label: str
    heat: np.ndarray  # (H, W) float
    gray: np.ndarray  # (H, W) uint8: the input as the model saw it, in gray

    def values(self) -> list[list[float]]:
        return self.heat.tolist()

    def png(self) -> bytes:
        return images.encode(enlarge(images.heat_overlay(self.gray, self.heat)))


@dataclass
class Example:
    """A test-set image with its label and the model's answer."""

    index: int
    label: str
    prediction: str
    confidence: float
    png: str


@dataclass
class ScoredExample(Example):
    score: float  # the unit's mean activation for this image


@dataclass
class TopExamples:
    layer: int
    channel: int
    label: str
    examples: list[ScoredExample]


@dataclass
class ExampleList:
    total: int
    accuracy: float
    examples: list[Example]


@dataclass
class Closest:
    key: str
    name: str
    similarity: float


@dataclass
class LearnedFilter:
    index: int
    png: str
    closest: Closest


@dataclass
class ClassicKernel:
    key: str
    name: str
    png: str


@dataclass
class FilterComparison:
    layer: int
    label: str
    filters: list[LearnedFilter]
    classic: list[ClassicKernel]


def enlarge(pixels: np.ndarray, side: int = ENLARGED) -> np.ndarray:
    """A small picture repeated pixel by pixel to about `side` px (no blur between cells)."""
    k = max(1, side // max(pixels.shape[:2]))
    return pixels.repeat(k, axis=0).repeat(k, axis=1)


def _input(inspector: Inspector, m: Loaded, source: dict) -> tuple[np.ndarray, torch.Tensor]:
    x = inspector.input_from(m, **source)
    return x, m.tensor(x)


def _answer(m: Loaded, x: np.ndarray, t: torch.Tensor) -> Answer:
    p = inspect.predict(m.model, t)
    best = int(p.argmax())
    return Answer(model=m.stored.name, classes=m.classes, prediction=best,
                  label=m.classes[best], probabilities=p.tolist(),
                  input_png=png_data_url(to_display(x)))


def _field(rf: nets.ReceptiveField | None) -> dict | None:
    return None if rf is None else vars(rf)


def predict(inspector: Inspector, name: str, source: dict) -> Answer:
    """Class probabilities (softmax) for one input (see `Inspector.prepare` for `source`)."""
    m = inspector.load(name)
    return _answer(m, *_input(inspector, m, source))


def activations(inspector: Inspector, name: str, source: dict, *, shared: bool = False,
                values: bool = False) -> Activations:
    """Every layer's output for one input; `shared`: one display range per layer instead of
    one per map; `values`: the raw numbers too."""
    m = inspector.load(name)
    x, t = _input(inspector, m, source)
    layers = [_layer(row, out, rf, shared, values) for row, out, rf in zip(
        m.table.rows, inspect.activations(m.model, t), m.fields, strict=True)]
    return Activations(**vars(_answer(m, x, t)), layers=layers)


def _layer(row: nets.LayerRow, out: np.ndarray, rf: nets.ReceptiveField | None, shared: bool,
           values: bool) -> LayerActivation:
    if out.ndim == 3:
        maps, cols = out, min(16, len(out))
        tile_scale = max(1, 56 // max(out.shape[1], 1))
    else:
        maps = images.vector_rows(out, 32)
        cols, tile_scale = 1, max(6, 192 // maps.shape[2])
    return LayerActivation(
        index=row.index, label=row.label, type=row.type, shape=list(out.shape),
        range=[float(out.min()), float(out.max())], receptive_field=_field(rf), cols=cols,
        tile=[int(maps.shape[1]) * tile_scale, int(maps.shape[2]) * tile_scale], gap=2,
        png=png_data_url(images.mosaic(maps, signed=False, cols=cols, scale=tile_scale, gap=2,
                                       shared=shared)),
        values=out.tolist() if values else None)


def check_unit(m: Loaded, layer: int, channel: int) -> None:
    """Refuses a layer or channel the model does not have."""
    if not 0 <= layer < len(m.table.rows):
        raise Invalid(f"layer must be 0 to {len(m.table.rows) - 1}", "layer")
    channels = m.table.rows[layer].output_shape[0]
    if not 0 <= channel < channels:
        raise Invalid(f"layer {layer} has {channels} channels: channel must be 0 to "
                      f"{channels - 1}", "channel")


def producing_conv(m: Loaded, layer: int) -> int | None:
    """The conv layer whose filter made a channel of `layer`'s output: itself, or the last
    conv before it (batch norm, activations and pooling act channel by channel)."""
    for i in range(layer, -1, -1):
        t = m.table.rows[i].type
        if t == "conv2d":
            return i
        if t in ("flatten", "linear"):
            return None
    return None


def unit(inspector: Inspector, name: str, layer: int, channel: int, source: dict) -> UnitView:
    """One map for one input, enlarged, with the kernels that produced it (the conv filter,
    one slice per input channel) and the receptive field of its units."""
    m = inspector.load(name)
    check_unit(m, layer, channel)
    _, t = _input(inspector, m, source)
    out = inspect.activations(m.model, t)[layer]
    if out.ndim != 3:
        raise Invalid(f"layer {layer} gives a vector, not maps; pick a conv, pooling or "
                      "activation layer before Flatten", "layer")
    conv = producing_conv(m, layer)
    kernels_out = None
    if conv is not None:
        w = m.model[conv].weight[channel].detach().numpy()  # (in_channels, kh, kw)
        kernels_out = UnitKernels(
            layer=conv, label=m.table.rows[conv].label, shape=list(w.shape),
            bias=float(m.model[conv].bias[channel].detach()),
            png=png_data_url(images.mosaic(w, signed=True, cols=min(8, len(w)),
                                           scale=max(4, 48 // w.shape[1]), gap=2, shared=True)))
    return UnitView(layer=layer, channel=channel, label=m.table.rows[layer].label,
                    shape=list(out.shape[1:]),
                    range=[float(out[channel].min()), float(out[channel].max())],
                    png=png_data_url(enlarge(images.mosaic(out[channel][None], signed=False,
                                                           gap=0))),
                    receptive_field=_field(m.fields[layer]), kernels=kernels_out)


def _heat(m: Loaded, x: np.ndarray, heat: np.ndarray, target: int) -> HeatMap:
    gray = x[0] if x.shape[0] == 1 else x.mean(axis=0).astype(np.uint8)
    return HeatMap(target=target, label=m.classes[target], heat=heat, gray=gray)


def saliency(inspector: Inspector, name: str, source: dict, target: int | None = None
             ) -> HeatMap:
    """Where a small change of the input moves the class score most (|gradient|), scaled to
    its largest value; `target` defaults to the predicted class."""
    m = inspector.load(name)
    x, t = _input(inspector, m, source)
    target = int(inspect.predict(m.model, t).argmax()) if target is None else target
    heat = inspect.saliency(m.model, t, target)
    heat = heat / heat.max() if heat.max() > 0 else heat
    return _heat(m, x, heat, target)


def gradcam(inspector: Inspector, name: str, source: dict, target: int | None = None,
            layer: int | None = None) -> HeatMap:
    """Grad-CAM from `layer`'s maps (default: the last layer with maps), 0 to 1."""
    m = inspector.load(name)
    x, t = _input(inspector, m, source)
    target = int(inspect.predict(m.model, t).argmax()) if target is None else target
    return _heat(m, x, inspect.grad_cam(m.model, t, target, layer), target)


def _example(m: Loaded, test: TestSet, i: int) -> Example:
    return Example(index=i, label=m.classes[int(test.y[i])],
                   prediction=m.classes[int(test.predictions[i])],
                   confidence=float(test.confidence[i]), png=png_data_url(to_display(test.x[i])))


def top_examples(inspector: Inspector, name: str, layer: int, channel: int, k: int = 9
                 ) -> TopExamples:
    """The k test images that excite a unit most (its mean activation over the map), best
    first; ties keep the test set's order."""
    m = inspector.load(name)
    check_unit(m, layer, channel)
    test = inspector.test_set(m)
    scores = test.unit_means[layer][:, channel]
    order = np.argsort(-scores, kind="stable")[:k]
    return TopExamples(layer=layer, channel=channel, label=m.table.rows[layer].label,
                       examples=[ScoredExample(**vars(_example(m, test, int(i))),
                                               score=float(scores[i])) for i in order])


def optimized(inspector: Inspector, name: str, layer: int, channel: int) -> bytes:
    """A PNG of an input made to excite a unit: gradient ascent from faint noise, kept smooth."""
    m = inspector.load(name)
    check_unit(m, layer, channel)
    # early units see a small patch: push the one in the middle to show its pattern; deeper
    # ones see most of the input: push the whole map (their texture, their digit parts)
    rf = m.fields[layer]
    small = rf is not None and rf.size < m.input_shape[1] // 2
    pic = inspect.maximize_unit(m.model, m.input_shape, layer, channel,
                                objective="neuron" if small else "channel")
    pixels = (pic * 255).round().astype(np.uint8)
    return images.encode(enlarge(to_display(pixels), 168))


def examples(inspector: Inspector, name: str, *, wrong: bool = False, limit: int = 24,
             offset: int = 0) -> ExampleList:
    """Test-set images, `limit` from `offset`; `wrong`: only its mistakes, most confident
    first. `total` counts all of them (all, or all the mistakes)."""
    m = inspector.load(name)
    test = inspector.test_set(m)
    if wrong:
        idx = np.nonzero(test.predictions != test.y)[0]
        idx = idx[np.argsort(-test.confidence[idx], kind="stable")]
    else:
        idx = np.arange(len(test.y))
    chosen = idx[offset:offset + limit]
    return ExampleList(total=int(len(idx)), accuracy=float((test.predictions == test.y).mean()),
                       examples=[_example(m, test, int(i)) for i in chosen])


def filters(inspector: Inspector, name: str) -> FilterComparison:
    """The first conv layer's filters beside the kernel lab's classic kernels: for each learned
    filter, the classic kernel it resembles most (cosine similarity, means removed; negative:
    the same detector with the sign flipped)."""
    m = inspector.load(name)
    conv = next((i for i, r in enumerate(m.table.rows) if r.type == "conv2d"), None)
    if conv is None:
        raise Invalid("this model has no convolution layer", "name")
    w = m.model[conv].weight.detach().numpy()
    learned = w.mean(axis=1) if w.shape[1] > 1 else w[:, 0]
    classic = [kernels.PRESETS_BY_KEY[k] for k in CLASSIC]
    sims = np.stack([inspect.kernel_similarity(learned, np.array(p.matrix, dtype=np.float64))
                     for p in classic], axis=1)  # (filters, classic)
    out = []
    for i, f in enumerate(learned):
        j = int(np.abs(sims[i]).argmax())
        out.append(LearnedFilter(index=i, png=_kernel_png(f), closest=Closest(
            key=classic[j].key, name=classic[j].name, similarity=float(sims[i, j]))))
    return FilterComparison(layer=conv, label=m.table.rows[conv].label, filters=out, classic=[
        ClassicKernel(key=p.key, name=p.name,
                      png=_kernel_png(np.array(p.matrix, dtype=np.float32))) for p in classic])


def _kernel_png(k: np.ndarray) -> str:
    return png_data_url(enlarge(images.mosaic(k[None], signed=True, gap=0), 72))


def _pixels(pixels: list) -> np.ndarray:
    """A drawing sent as rows of 0-255 numbers → (H, W) uint8, checked."""
    try:
        arr = np.asarray(pixels, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise Invalid("pixels must be rows of numbers from 0 to 255, all rows the same "
                         "length", "pixels") from exc
    if arr.ndim != 2 or min(arr.shape) < 1:
        raise Invalid("pixels must be a 2-D grid (rows of numbers)", "pixels")
    if max(arr.shape) > LIMITS.pixels_side:
        raise Invalid(f"pixels is {arr.shape[0]}×{arr.shape[1]}; at most "
                         f"{LIMITS.pixels_side} a side", "pixels")
    if not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 255:
        raise Invalid("pixels must be numbers from 0 to 255", "pixels")
    return arr.round().astype(np.uint8)
