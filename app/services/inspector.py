"""The model inspector's service: loaded models, inputs made the way a model expects, and the
model's test set evaluated once per model (for "test images that excite this unit" and "digits it
gets wrong"). Plain Python: the API router calls it; the page calls the API.
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

from app.core import inspect, nets
from app.core.datasets import Split
from app.core.training import to_inputs
from app.services import models as model_store
from app.services.datasets import Catalog
from app.services.errors import Invalid
from app.services.images import ImageStore
from app.services.models import ModelStore, StoredModel, UnknownModel
from app.services.runs.records import RunStore, UnknownRun

MAX_PIXELS_SIDE = 1024
RUN_ID = re.compile(r"^[A-Za-z0-9_-]{8,32}$")


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
        return list(self.stored.meta["classes"])

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.stored.meta["input_shape"])  # type: ignore[return-value]

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
        meta = stored.meta
        shape = tuple(meta["input_shape"])
        loaded = Loaded(stored=stored, model=stored.load(),
                        table=nets.table(meta["layers"], shape, len(meta["classes"])),
                        fields=nets.receptive_fields(meta["layers"]),
                        norm=tuple(meta.get("normalization") or ([0.0] * shape[0],
                                                                  [1.0] * shape[0])))
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
        ds = self.catalog.load(m.stored.meta.get("dataset", "mnist"))
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


def _pixels(pixels: list) -> np.ndarray:
    """A drawing sent as rows of 0-255 numbers → (H, W) uint8, checked."""
    try:
        arr = np.asarray(pixels, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise Invalid("pixels must be rows of numbers from 0 to 255, all rows the same "
                         "length", "pixels") from exc
    if arr.ndim != 2 or min(arr.shape) < 1:
        raise Invalid("pixels must be a 2-D grid (rows of numbers)", "pixels")
    if max(arr.shape) > MAX_PIXELS_SIDE:
        raise Invalid(f"pixels is {arr.shape[0]}×{arr.shape[1]}; at most "
                         f"{MAX_PIXELS_SIDE} a side", "pixels")
    if not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 255:
        raise Invalid("pixels must be numbers from 0 to 255", "pixels")
    return arr.round().astype(np.uint8)
