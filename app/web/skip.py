"""The training page's skip-connection experiment: a plain and a residual net trained side by
side (core.depth, one run on the job backend), drawn live from the run's events: both loss
curves, and every weight layer's gradient norm on a log scale."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent

from app.core import depth
from app.http.deps import ActorDep, CatalogDep, ExistingRunDep, JobsDep, TemplatesDep
from app.http.errors import INPUT_ERRORS
from app.http.forms import parse_form
from app.services import training
from app.services.errors import as_domain
from app.services.schemas import DepthRunRequest
from app.web.charts import Series, line_chart

router = APIRouter(include_in_schema=False)

COLOURS = {"plain": "#b42318", "residual": "#4f46e5"}
TITLES = {"plain": "plain", "residual": "residual"}


@dataclass
class SkipView:
    """What the panel shows, rebuilt from the run's events."""

    status: str = "queued"
    depth: int = 0
    total_steps: int = 0
    step: int = 0
    losses: dict[str, list[tuple[float, float]]] = field(
        default_factory=lambda: {k: [] for k in depth.NETS})
    gradients: dict[str, list[float]] = field(default_factory=dict)
    gradient_step: int = 0
    first: dict[str, list[float]] = field(default_factory=dict)  # the first batch's norms
    val: dict[str, dict] = field(default_factory=dict)
    chance: float = 0.0  # the loss of a net that guesses: ln(classes)
    done: bool = False

    def add(self, event: dict) -> None:
        t = event["type"]
        if t == "status":
            self.status = event["status"]
        elif t == "start":
            self.depth, self.total_steps = event["depth"], event["total_steps"]
            self.chance = math.log(len(event["classes"]))
        elif t == "progress":
            self.step = event["step"]
            for kind in depth.NETS:
                if event[kind]["train_loss"] is not None:
                    self.losses[kind].append((event["step"], event[kind]["train_loss"]))
        elif t == "gradients":
            self.gradients = {kind: event[kind] for kind in depth.NETS}
            self.gradient_step = event["step"]
            self.first = self.first or self.gradients
        elif t == "epoch":
            self.val = {kind: event[kind] for kind in depth.NETS}
        elif t == "done":
            self.done = True

    def charts(self) -> list[dict]:
        loss = line_chart([Series(TITLES[k], COLOURS[k], self.losses[k]) for k in depth.NETS],
                          x_label="batch", y_label="loss",
                          x_range=(0, max(self.total_steps, 1)))
        return [{"title": "Training loss", **loss},
                {"title": "‖∂L/∂W‖ per layer on the first batch, log scale",
                 **self._gradient_chart(self.first)},
                {"title": f"… and on batch {self.gradient_step}",
                 **self._gradient_chart(self.gradients)}]

    def _gradient_chart(self, norms: dict[str, list[float]]) -> dict:
        """Each weight layer's gradient norm, both nets, on a log₁₀ axis."""
        logs = {k: [(i + 1, math.log10(max(g, 1e-12))) for i, g in enumerate(values)]
                for k, values in norms.items()}
        ys = [y for points in logs.values() for _, y in points] or [0.0]
        low, high = math.floor(min(ys)), math.ceil(max(ys))
        return line_chart(
            [Series(TITLES[k], COLOURS[k], logs.get(k, []), dots=True) for k in depth.NETS],
            x_label="weight layer (1: next to the input)", y_label="‖∂L/∂W‖",
            x_range=(1, max(self.depth, 2)), y_range=(low, max(high, low + 1)),
            y_tick_label=lambda t: f"1e{t:g}")

    def latest_loss(self) -> dict[str, float]:
        return {k: points[-1][1] for k, points in self.losses.items() if points}

    def ratios(self) -> dict[str, float]:
        """Per net, how much smaller the first layer's gradient was than the last's, on the
        first batch (before training changed anything)."""
        return {k: g[-1] / g[0] for k, g in self.first.items() if g and g[0] > 0}


@router.post("/training/skip", response_class=HTMLResponse)
async def start(request: Request, templates: TemplatesDep, catalog: CatalogDep, jobs: JobsDep,
                actor: ActorDep, dataset: Annotated[str, Form()] = "mnist",
                batches: Annotated[str, Form()] = "") -> HTMLResponse:
    """Starts the experiment on the page's dataset; the panel then follows its stream."""
    try:
        req = parse_form(DepthRunRequest, {"dataset": dataset,
                                           "batches_per_epoch": batches or None})
        record = await training.start_depth_run(req, jobs, catalog, actor)
    except INPUT_ERRORS as exc:
        return templates.TemplateResponse(request, "partials/skip_panel.html",
                                          {"run": None, "error": as_domain(exc)})
    return templates.TemplateResponse(request, "partials/skip_panel.html",
                                      {"run": record, "error": None})


@router.get("/training/skip/{run_id}/stream", response_class=EventSourceResponse)
async def stream(record: ExistingRunDep, templates: TemplatesDep, jobs: JobsDep
                 ) -> AsyncIterator[ServerSentEvent]:
    """The panel's figures as one HTML fragment, redrawn at most five times a second."""
    view = SkipView(status=record.status)
    template = templates.env.get_template("partials/skip_view.html")
    last = 0.0
    async for _, event in jobs.events(record.id, 0):
        view.add(event)
        if event["type"] in ("epoch", "done", "status") or time.monotonic() - last >= 0.2:
            last = time.monotonic()
            yield ServerSentEvent(raw_data=template.render(view=view, charts=view.charts()),
                                  event="skip")
    yield ServerSentEvent(raw_data=template.render(view=view, charts=view.charts()),
                          event="skip")
    yield ServerSentEvent(raw_data="", event="end")
