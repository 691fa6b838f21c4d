"""The model inspector's service: loaded models, inputs made the way a model expects, the
model's test set evaluated once per model (for "test images that excite this unit" and "digits it
gets wrong"), and one function per question the inspector answers (what the model says, what each
layer makes of an input, where it looks, what a unit responds to). Plain Python: the API router
calls it and turns the results into its responses; the page calls the API.

The test-set pass takes seconds, so it never runs in a request: `Inspector.start` begins it for
the shipped models when the app starts, and a request for another model's test-set answers
queues it; both run on the inspector's one worker thread, and until they are done a question
that needs them is answered with a `Pending` (how far it got), not kept waiting.

Pictures inside an answer are PNG data URLs (`data:image/png;base64,…`); a picture that is the
whole answer is PNG bytes. A layer's maps come at their own size, one pixel per value (small and
quick to encode): whoever shows them enlarges them without smoothing.
"""

from __future__ import annotations

import base64
import logging
import math
import queue
import re
import threading
import time
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
from app.services.errors import CORE_ERRORS, Conflict, DomainError, Invalid, NotFound
from app.services.images import ImageStore
from app.services.models import ModelStore, StoredModel, UnknownModel
from app.services.runs.records import RunStore, UnknownRun
from app.settings import LIMITS

log = logging.getLogger(__name__)

RUN_ID = re.compile(r"^[A-Za-z0-9_-]{8,32}$")
ENLARGED = 224  # px: the side a single map or heat map is drawn at
MAP_COLS = 16  # maps in a row of a layer's grid
VECTOR_WIDTH = 32  # values in a row of a flat layer's picture
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
    evaluation: Evaluation | None = None  # the test-set pass, while it is queued or running
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


@dataclass
class Evaluation:
    """A test-set pass, queued or running: how far it got, or what stopped it."""

    done: int = 0
    total: int = 0
    started: float | None = None
    error: Exception | None = None

    def pending(self) -> Pending:
        progress = self.done / self.total if self.total else 0.0
        elapsed = time.monotonic() - self.started if self.started is not None else 0.0
        # the rest at the pace so far; before a first batch, a second
        left = elapsed * (1 - progress) / progress if progress > 0 else 1.0
        return Pending(progress=round(progress, 3), retry_after=max(1, min(10, math.ceil(left))),
                       message=f"running the test set through the model: {self.done:,} of "
                               f"{self.total:,} images" if self.total else
                               "the test-set pass is about to start")


@dataclass
class Pending:
    """The model's test-set answers are being computed in the background: `progress` 0 to 1
    (images done), `retry_after` a fair wait in seconds before asking again."""

    progress: float
    retry_after: int
    message: str


class Stopped(Exception):
    """The inspector is closing: a test-set pass stops between two batches."""


def to_display(x: np.ndarray) -> np.ndarray:
    """(C, H, W) uint8 → (H, W) or (H, W, 3) for a picture."""
    return x[0] if x.shape[0] == 1 else np.ascontiguousarray(x.transpose(1, 2, 0))


class Inspector:
    def __init__(self, models: ModelStore, catalog: Catalog, images_store: ImageStore,
                 max_loaded: int = 3, runs: RunStore | None = None,
                 runs_dir: Path | None = None, test_batch: int = 200) -> None:
        self.models, self.catalog, self.images = models, catalog, images_store
        self.runs, self.runs_dir = runs, runs_dir
        self._loaded: OrderedDict[str, Loaded] = OrderedDict()
        self._max = max_loaded
        self._lock = threading.Lock()
        # images a batch of the test-set pass: on the shipped CNN, a first pass over MNIST's
        # 10,000 took 1.3-1.4 s in batches of 200, 1.5-1.8 s in 500s, 2.1 s in 1,000s (the
        # larger the batch, the more of its maps the allocator takes fresh from the system)
        self._batch = test_batch
        # the test-set passes: one worker thread, started with the first pass, takes them in turn
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._stopping = threading.Event()

    # the worker that runs the test-set passes
    def start(self, *, precompute: bool) -> None:
        """At the app's start: with `precompute`, the shipped models' test-set passes begin on
        the worker thread (loading the model and its dataset there too: nothing here waits)."""
        with self._lock:
            if self._stopping.is_set():  # started again after a close: begin afresh
                self._stopping.clear()
                self._queue, self._worker = queue.SimpleQueue(), None
                self._loaded.clear()  # their passes were stopped or dropped
        if precompute:
            self._submit(self._precompute)

    def close(self, timeout: float = 10.0) -> None:
        """At the app's end: a pass under way stops after its current batch (a fraction of a
        second), the rest of the queue is dropped, and the worker is joined."""
        self._stopping.set()
        self._queue.put(None)
        worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout)

    def _submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="inspector-test-sets",
                                                daemon=True)
                self._worker.start()
        self._queue.put(job)

    def _work(self) -> None:
        while not self._stopping.is_set():
            job = self._queue.get()
            if job is None:
                return
            try:
                job()
            except Stopped:
                return
            except Exception:  # a bug: logged, and the worker goes on with the next pass
                log.exception("a test-set pass failed")

    def _precompute(self) -> None:
        for stored in self.models.list():
            if not stored.shipped:
                continue
            try:
                m = self.load(stored.name)
            except Exception as exc:  # an unreadable shipped model is the request's to report
                log.warning("no test-set pass for %s: %s", stored.name, exc)
                continue
            with m.lock:
                if m.test is not None or m.evaluation is not None:
                    continue
                m.evaluation = Evaluation()
            self._evaluate_into(m)

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
            if key in self._loaded:  # loaded meanwhile by another thread: one copy, one pass
                self._loaded.move_to_end(key)
                return self._loaded[key]
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
            # the run exists but cannot be inspected yet
            raise Conflict(f"run {name} is {record.status} and has no saved weights yet: a "
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
                # an index past the test set's end names an example that does not exist
                raise NotFound(f"the test set has {len(split.x):,} examples: example must be "
                               f"0 to {len(split.x) - 1}", "example")
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

    # the test set with the model's answers, once per model, computed on the worker
    def test_set(self, m: Loaded) -> TestSet | Pending:
        """The model's test-set answers when they are ready; until then how far their pass
        got (the first request that asks queues it). A pass that failed raises its error to
        the request after it (and a later one tries again)."""
        with m.lock:
            if m.test is not None:
                return m.test
            ev = m.evaluation
            if ev is not None and ev.error is not None:
                m.evaluation = None
                raise ev.error
            if ev is not None:
                return ev.pending()
        self.test_split(m)  # no dataset (MNIST not set up): said now, not after a wait
        with m.lock:
            if m.test is not None:
                return m.test
            if m.evaluation is None:
                m.evaluation = Evaluation()
                self._submit(lambda: self._evaluate_into(m))
            return m.evaluation.pending()

    def wait_test_set(self, m: Loaded, timeout: float = 120.0) -> TestSet:
        """The test-set answers, waiting for their pass (for scripts and tests; the API answers
        with progress instead)."""
        deadline = time.monotonic() + timeout
        while isinstance(answer := self.test_set(m), Pending):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the test-set pass is not done after {timeout:.0f} s")
            time.sleep(0.05)
        return answer

    def _evaluate_into(self, m: Loaded) -> None:
        """Runs the pass for `m` (whose `evaluation` is set): keeps its answers, or its error
        for the next request (an input error, such as a missing dataset, is that request's
        4xx; anything else is also logged, as a bug)."""
        ev = m.evaluation
        assert ev is not None
        try:
            test = self._evaluate(m, ev)
        except Stopped:
            with m.lock:
                m.evaluation = None
            raise
        except Exception as exc:
            ev.error = exc
            if not isinstance(exc, (DomainError, *CORE_ERRORS)):
                raise
            return
        with m.lock:
            m.test, m.evaluation = test, None

    def _evaluate(self, m: Loaded, ev: Evaluation) -> TestSet:
        split = self.test_split(m)
        ev.total, ev.started = len(split.x), time.monotonic()

        def progress(done: int, total: int) -> None:
            ev.done = done
            if self._stopping.is_set():
                raise Stopped

        x = to_inputs(split.x, m.norm)
        probs, means = inspect.dataset_answers(m.model, x, batch=self._batch, progress=progress)
        return TestSet(x=split.x, y=split.y, predictions=probs.argmax(1),
                       confidence=probs.max(1), unit_means=means)


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
    """One layer's output: its maps as one gray grid picture at their own size (`cols` a row,
    `tile` pixels each, `gap` between; see `core.inspect.map_grid`), a 1-D output wrapped into
    rows; `zoom` the enlargement it is best looked at; `values` (the raw numbers) only when
    asked for."""

    index: int
    label: str
    type: str
    shape: list[int]
    range: list[float]
    receptive_field: dict | None
    cols: int
    tile: list[int]
    gap: int
    zoom: int
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


def _answer(m: Loaded, x: np.ndarray, t: torch.Tensor, logits: np.ndarray | None = None
            ) -> Answer:
    """The answer for input x (t normalised); from `logits` (the last layer's output) when
    they are already at hand, as inspect.predict takes them (softmax in float64)."""
    p = (inspect.predict(m.model, t) if logits is None
         else torch.softmax(torch.from_numpy(logits).double(), dim=0).numpy())
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
    outs = inspect.activations(m.model, t)
    layers = [_layer(row, out, rf, shared, values) for row, out, rf in zip(
        m.table.rows, outs, m.fields, strict=True)]
    return Activations(**vars(_answer(m, x, t, logits=outs[-1])), layers=layers)


def _layer(row: nets.LayerRow, out: np.ndarray, rf: nets.ReceptiveField | None, shared: bool,
           values: bool) -> LayerActivation:
    # one PNG pixel per value, gray, by small_png whatever the grid's size (no filter search:
    # these are small): ~2 ms for all the layers of the shipped CNN, where enlarged RGB grids
    # through Pillow took ~40 ms
    grid, cols = inspect.map_grid(out, cols=MAP_COLS, width=VECTOR_WIDTH, gap=1, shared=shared)
    tile = [int(out.shape[1]), int(out.shape[2])] if out.ndim == 3 else list(grid.shape)
    # the enlargement the page draws it at: maps about 56 px a side, a vector's cells 6 px+
    zoom = max(1, 56 // tile[0]) if out.ndim == 3 else max(6, 192 // tile[1])
    return LayerActivation(
        index=row.index, label=row.label, type=row.type, shape=list(out.shape),
        range=[float(out.min()), float(out.max())], receptive_field=_field(rf), cols=cols,
        tile=tile, gap=1, zoom=zoom,
        png="data:image/png;base64," + base64.b64encode(images.small_png(grid)).decode(),
        values=out.tolist() if values else None)


def check_unit(m: Loaded, layer: int, channel: int) -> None:
    """Refuses a layer or channel the model does not have: a unit that does not exist is not
    found (its range depends on the model, which no schema can state)."""
    if not 0 <= layer < len(m.table.rows):
        raise NotFound(f"the model has {len(m.table.rows)} layers: layer must be 0 to "
                       f"{len(m.table.rows) - 1}", "layer")
    channels = m.table.rows[layer].output_shape[0]
    if not 0 <= channel < channels:
        raise NotFound(f"layer {layer} has {channels} channels: channel must be 0 to "
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
        raise NotFound(f"layer {layer} gives a vector, not maps; pick a conv, pooling or "
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
                 ) -> TopExamples | Pending:
    """The k test images that excite a unit most (its mean activation over the map), best
    first; ties keep the test set's order. `Pending` while the test-set pass runs."""
    m = inspector.load(name)
    check_unit(m, layer, channel)
    test = inspector.test_set(m)
    if isinstance(test, Pending):
        return test
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
             offset: int = 0) -> ExampleList | Pending:
    """Test-set images, `limit` from `offset`; `wrong`: only its mistakes, most confident
    first. `total` counts all of them (all, or all the mistakes). `Pending` while the test-set
    pass runs."""
    m = inspector.load(name)
    test = inspector.test_set(m)
    if isinstance(test, Pending):
        return test
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
        raise Conflict("this model has no convolution layer, so no filters to compare", "name")
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
