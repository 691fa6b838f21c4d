"""Line charts as plain data for an inline SVG template: scaled points, ticks and labels."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

WIDTH, HEIGHT = 420, 200
MARGIN = {"l": 44, "r": 10, "t": 10, "b": 30}


@dataclass(frozen=True)
class Series:
    label: str
    colour: str
    points: list[tuple[float, float]]
    dashed: bool = False
    dots: bool = False


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    span = hi - lo or 1.0
    raw = span / count
    step = 10 ** math.floor(math.log10(raw))
    step = next((m * step for m in (1, 2, 2.5, 5, 10) if span / (m * step) <= count), 10 * step)
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 10) for i in range(int((hi - first) / step + 1e-9) + 1)]


def _label(v: float) -> str:
    return f"{v:g}" if abs(v) >= 0.01 or v == 0 else f"{v:.0e}"


def thin(points: list[tuple[float, float]], most: int = 300) -> list[tuple[float, float]]:
    """At most `most` points, evenly picked, always keeping the last."""
    if len(points) <= most:
        return points
    step = len(points) / most
    return [points[int(i * step)] for i in range(most - 1)] + [points[-1]]


def line_chart(series: list[Series], *, x_label: str, y_label: str,
               x_range: tuple[float, float], y_range: tuple[float, float] | None = None,
               y_tick_label: Callable[[float], str] = _label) -> dict:
    """Everything templates/partials/chart.html draws (`y_tick_label` writes a tick's value:
    "1e-8" for a chart of log₁₀ values, say)."""
    ys = [y for s in series for _, y in s.points if math.isfinite(y)]
    if y_range is None:
        y_range = (0.0, max(ys) * 1.08 if ys and max(ys) > 0 else 1.0)
    (x0, x1), (y0, y1) = x_range, y_range
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)
    plot_w = WIDTH - MARGIN["l"] - MARGIN["r"]
    plot_h = HEIGHT - MARGIN["t"] - MARGIN["b"]

    def px(x: float) -> float:
        return round(MARGIN["l"] + (x - x0) / (x1 - x0) * plot_w, 1)

    def py(y: float) -> float:
        y = min(max(y, y0), y1)
        return round(MARGIN["t"] + (1 - (y - y0) / (y1 - y0)) * plot_h, 1)

    return {
        "width": WIDTH, "height": HEIGHT, "margin": MARGIN, "x_label": x_label,
        "y_label": y_label, "plot_w": plot_w, "plot_h": plot_h,
        "x_ticks": [(px(t), _label(t)) for t in _nice_ticks(x0, x1)],
        "y_ticks": [(py(t), y_tick_label(t)) for t in _nice_ticks(y0, y1)],
        "series": [{"label": s.label, "colour": s.colour, "dashed": s.dashed, "dots": s.dots,
                    "points": [(px(x), py(y)) for x, y in thin(s.points) if math.isfinite(y)]}
                   for s in series],
    }
