"""A run's events: made JSON-ready where they are made, numbered and buffered where they are
read. Both backends use the same buffer, so a page that arrives late sees the same history."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from app.core import generative, images

LIGHT_EVENTS_KEPT = 20_000  # per run: progress, epoch and status events (small)


def serialize_event(event: dict) -> dict:
    """A training event with numpy arrays → JSON-ready: maps become PNG data URLs."""
    if event["type"] == "start" and "probe" in event:
        probe = event["probe"]  # (C, H, W) uint8: the validation image the snapshots follow
        pixels = probe[0] if probe.shape[0] == 1 else probe.transpose(1, 2, 0)
        return {k: v for k, v in event.items() if k != "probe"} | {
            "probe_png": images.png_data_url(np.ascontiguousarray(pixels))}
    if event["type"] == "samples":
        return {k: v for k, v in event.items() if k != "images"} | {
            "png": images.png_data_url(generative.tile(event["images"], 8))}
    if event["type"] == "snapshot" and "activations" in event:  # a CNN's maps
        out = {k: v for k, v in event.items() if k not in ("filters", "activations")}
        filters = event["filters"]
        if filters is not None:
            # one tile per filter: its first input channel (the colour channels averaged for RGB)
            tiles = filters.mean(axis=1) if filters.shape[1] == 3 else filters[:, 0]
            out["filters"] = {"count": int(filters.shape[0]), "size": list(filters.shape[2:]),
                              "png": images.png_data_url(images.mosaic(tiles, signed=True, scale=8,
                                                        cols=min(8, len(tiles))))}
        layers = []
        for a in event["activations"]:
            v = a["values"]
            if v.ndim == 3:  # channels of maps: a grid, small maps enlarged
                maps, scale, cols = v, max(1, 56 // max(v.shape[1], 1)), min(8, len(v))
            else:  # a vector: wrapped into rows of at most 56 values
                maps = images.vector_rows(v, 56)
                scale, cols = max(4, 224 // maps.shape[2]), 1
            layers.append({"index": a["index"], "label": a["label"], "shape": a["shape"],
                           "png": images.png_data_url(images.mosaic(maps, signed=False, scale=scale,
                                                     cols=cols, gap=2))})
        out["layers"] = layers
        return out
    return _plain(event)


def _plain(value: object) -> object:
    """numpy arrays and numbers inside dicts and lists → JSON's lists and numbers."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    return value


def metrics_of(event: dict) -> dict:
    """The figures of a progress, epoch or done event, for the run's record."""
    return {k: v for k, v in event.items() if k not in ("type", "confusion", "at")}


@dataclass
class EventBuffer:
    """Numbered events of one run. Light events are all kept (up to a cap); of the bulky
    snapshots only the latest, which is all a page that arrives late needs."""

    light: deque = field(default_factory=lambda: deque(maxlen=LIGHT_EVENTS_KEPT))
    snapshot: tuple[int, dict] | None = None
    next_seq: int = 1
    closed: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, event: dict) -> None:
        item = (self.next_seq, event)
        self.next_seq += 1
        if event["type"] == "snapshot":
            self.snapshot = item
        else:
            self.light.append(item)
        self.changed.set()

    def after(self, seq: int) -> list[tuple[int, dict]]:
        items = [it for it in self.light if it[0] > seq]
        if self.snapshot and self.snapshot[0] > seq:
            items.append(self.snapshot)
            items.sort(key=lambda it: it[0])
        return items
