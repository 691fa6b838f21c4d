"""The live-training page and its htmx fragments. Same calls as the API (app.training_lab,
the job backend, the catalog and the model store); the live view is a server-sent-event stream of
HTML fragments rendered from the run's events."""

from __future__ import annotations

import functools
import hmac
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, File, Form, Header, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from starlette.datastructures import FormData

from app.core import nets
from app.core.depth import DepthConfig
from app.core.errors import InputError
from app.http.deps import (
    ActorDep,
    CatalogDep,
    ExistingRunDep,
    JobsDep,
    ModelsDep,
    SettingsDep,
    TemplatesDep,
)
from app.http.errors import INPUT_ERRORS
from app.http.forms import parse_form
from app.http.owners import grant_admin, revoke_admin
from app.services import training
from app.services.datasets import Catalog
from app.services.errors import NotFound, as_domain
from app.services.owners import Actor
from app.services.runs.backend import JobBackend, run_kind
from app.services.runs.records import FINISHED
from app.services.schemas import TrainingRunRequest
from app.settings import LIMITS
from app.web.charts import Series, line_chart

router = APIRouter(include_in_schema=False)

DEFAULT_PRESET = "default"
# the run form's settings whose error message is shown beside their control
RUN_FIELDS = ("optimizer", "learning_rate", "momentum", "batch_size", "epochs", "seed")
TRAIN_COLOUR, VAL_COLOUR = "#4f46e5", "#d97706"


# ---------------------------------------------------------------- the architecture editor

def _layers_from_form(form: FormData) -> list[dict]:
    """layer-<i>-type and layer-<i>-<setting> fields → layer dicts, values left as typed where
    they are not numbers, so that validation names the field."""
    layers = []
    # the count comes from the page: anything but a number is no layers, and one past the
    # limit is enough for the "at most N layers" message (a forged huge count cannot spin)
    raw = str(form.get("layer_count", "0")).strip()
    count = min(int(raw), LIMITS.nets.layers + 1) if raw.isdigit() else 0
    for i in range(count):
        kind = nets.LAYER_TYPES.get(str(form.get(f"layer-{i}-type", "")))
        if kind is None:
            continue
        layer: dict = {"type": kind.name}
        for s in kind.settings:
            raw = str(form.get(f"layer-{i}-{s.name}", "")).strip()
            if raw == "":
                layer[s.name] = None if s.nullable else s.default
                continue
            try:
                layer[s.name] = int(raw) if s.kind is int and raw.lstrip("-").isdigit() \
                    else float(raw) if s.kind is float else raw
            except ValueError:
                layer[s.name] = raw
        layers.append(layer)
    return layers


def _apply_action(layers: list[dict], action: str, form: FormData, num_classes: int
                  ) -> list[dict]:
    verb, _, arg = action.partition(":")
    if verb == "preset":  # "preset:<name>" (a famous network's small version), or the select's
        name = arg or str(form.get("preset") or DEFAULT_PRESET)
        return training.resolve_layers(name if name in nets.TRAINABLE else DEFAULT_PRESET,
                                       num_classes)
    if verb == "add":
        kind = nets.LAYER_TYPES.get(str(form.get("new_type", "")))
        return layers + ([{"type": kind.name, **kind.defaults()}] if kind else [])
    i = int(arg) if arg.isdigit() else -1
    if not 0 <= i < len(layers):
        return layers
    layers = list(layers)
    if verb == "remove":
        del layers[i]
    elif verb == "up" and i > 0:
        layers[i - 1], layers[i] = layers[i], layers[i - 1]
    elif verb == "down" and i < len(layers) - 1:
        layers[i + 1], layers[i] = layers[i], layers[i + 1]
    return layers


@dataclass
class EditorRow:
    index: int
    layer: dict
    kind: nets.LayerKind
    row: nets.LayerRow | None = None
    error: str = ""


@dataclass
class Editor:
    rows: list[EditorRow]
    input_shape: tuple[int, ...]
    num_classes: int
    total_params: int | None = None
    error: str = ""  # a problem of the whole network (its output size)
    valid_layers: list[dict] = field(default_factory=list)


def build_editor(layers: list[dict], input_shape: tuple[int, int, int], num_classes: int
                 ) -> Editor:
    """Each layer with its output shape and parameters, as far as the network runs; the first
    layer that cannot run carries the message."""
    walked, problem = nets.walk(layers, input_shape, limits=LIMITS.nets)
    editor = Editor(rows=[], input_shape=input_shape, num_classes=num_classes)
    for i, layer in enumerate(layers):
        kind = nets.LAYER_TYPES[layer["type"]]
        row = EditorRow(index=i, layer={**kind.defaults(), **layer}, kind=kind,
                        row=walked[i] if i < len(walked) else None)
        if problem is not None and problem.field.split(".")[:2] == ["layers", str(i)]:
            row.error = problem.message
        editor.rows.append(row)
    if problem is not None and not any(r.error for r in editor.rows):
        editor.error = problem.message
    if problem is None:
        try:
            t = nets.table(layers, input_shape, num_classes, limits=LIMITS.nets)
            editor.total_params = t.total_params
            editor.valid_layers = nets.normalize(layers, limits=LIMITS.nets)
        except InputError as exc:
            editor.error = exc.message
    return editor


def _dataset_shape(catalog: Catalog, name: str) -> tuple[tuple[int, int, int], int]:
    try:
        return training.input_of(catalog, name)
    except INPUT_ERRORS:
        return (1, 28, 28), 10  # the editor still works while MNIST is not set up


# the editor's "Start from" list: the presets that train here (the famous ones are read below)
EDITOR_PRESETS = {name: nets.PRESETS[name] for name in nets.TRAINABLE}


@dataclass
class FamousView:
    """One famous network as the page shows it: its table at its own input and, when that is
    not the 224×224 usually quoted, the table at 224 (AlexNet's slip)."""

    name: str
    preset: dict
    table: nets.ArchitectureTable
    small_title: str
    flat: int | None = None  # the first dense layer's inputs (the Flatten's output), if any
    flat_from: str = ""  # the block it flattens, "256×6×6"
    slip: FamousView | None = None


@functools.cache  # a constant of the page, made on its first view (templates only read it)
def famous_view(name: str, input_shape: tuple[int, int, int] | None = None) -> FamousView:
    preset = nets.PRESETS[name]
    shape = input_shape or tuple(preset["input_shape"])
    tab = nets.table(preset["layers"], shape, preset["num_classes"], limits=LIMITS.reading_nets)
    view = FamousView(name, preset, tab, nets.PRESETS[preset["small"]]["title"])
    flat = next((i for i, r in enumerate(tab.rows) if r.type == "flatten"), None)
    if flat is not None:
        view.flat = tab.rows[flat].output_shape[0]
        view.flat_from = nets.shape_text(tab.rows[flat - 1].output_shape)
    if input_shape is None and shape[1:] != (224, 224):
        view.slip = famous_view(name, (shape[0], 224, 224))
    return view


# ---------------------------------------------------------------- the live view

@dataclass
class LiveView:
    """What the run panel shows, rebuilt from the run's events as they arrive."""

    status: str = "queued"
    message: str = ""
    has_weights: bool = False
    train_size: int = 1
    total_steps: int = 0
    classes: list[str] = field(default_factory=list)
    probe_png: str = ""
    probe_label: int | None = None
    progress: dict = field(default_factory=dict)
    train_points: list[tuple[float, float, float]] = field(default_factory=list)  # x, loss, acc
    epochs: list[dict] = field(default_factory=list)
    snapshot: dict | None = None
    done: dict | None = None

    def add(self, event: dict) -> None:
        t = event["type"]
        if t == "status":
            self.status = event["status"]
            self.message = event.get("message", self.message)
            self.has_weights = event.get("has_weights", self.has_weights)
        elif t == "start":
            self.train_size, self.total_steps = event["train_size"], event["total_steps"]
            self.classes = event.get("classes", [])
            self.probe_png, self.probe_label = event["probe_png"], event["probe_label"]
        elif t == "progress" and "train_loss" in event:  # (a generative run has other ones)
            self.progress = event
            self.train_points.append((event["images"] / self.train_size, event["train_loss"],
                                      event["train_acc"]))
        elif t == "epoch":
            self.epochs.append(event)
        elif t == "snapshot":
            self.snapshot = event
        elif t == "done":
            self.done = event

    def charts(self, epochs: int) -> list[dict]:
        x_end = max(epochs, 1)
        val = [(e["epoch"], e["val_loss"], e["val_acc"]) for e in self.epochs]
        loss = line_chart([Series("train", TRAIN_COLOUR,
                                  [(x, loss) for x, loss, _ in self.train_points]),
                           Series("validation", VAL_COLOUR, [(x, loss) for x, loss, _ in val],
                                  dashed=True, dots=True)],
                          x_label="epoch", y_label="loss", x_range=(0, x_end))
        acc = line_chart([Series("train", TRAIN_COLOUR, [(x, a) for x, _, a in self.train_points]),
                          Series("validation", VAL_COLOUR, [(x, a) for x, _, a in val],
                                 dashed=True, dots=True)],
                         x_label="epoch", y_label="accuracy", x_range=(0, x_end),
                         y_range=(0, 1))
        return [{"title": "Loss", **loss}, {"title": "Accuracy", **acc}]

    def confusion(self) -> dict | None:
        if not self.epochs or "confusion" not in self.epochs[-1]:
            return None
        m = self.epochs[-1]["confusion"]
        top = max((max(row) for row in m), default=1) or 1
        return {"matrix": m, "top": top, "classes": self.classes, "epoch": self.epochs[-1]["epoch"]}


# ---------------------------------------------------------------- routes

def image_runs(jobs: JobBackend) -> list:
    """The runs this page lists: those that train on images (the sequence lab has its own)."""
    return [r for r in jobs.list() if run_kind(r.config) in ("classifier", "generative")]


def listed_runs(jobs: JobBackend, actor: Actor) -> list:
    """The runs list: the latest ten image runs; the admin's view of a shared server: every
    run of every kind, the sequence lab's too, so that the teacher can stop any of them."""
    return jobs.list() if actor.admin else image_runs(jobs)[:10]


def _page_context(catalog: Catalog, jobs: JobBackend, models, actor: Actor,
                  selected: str | None = None) -> dict:
    infos = catalog.list()
    available = [d.name for d in infos if d.available]
    dataset = selected if selected in available else (
        "mnist" if "mnist" in available else available[0])
    shape, k = _dataset_shape(catalog, dataset)
    layers = training.resolve_layers(DEFAULT_PRESET, k)
    return {"datasets": infos, "dataset": dataset, "info": next(d for d in infos
                                                                 if d.name == dataset),
            "editor": build_editor(layers, shape, k), "presets": EDITOR_PRESETS,
            "layer_types": nets.LAYER_TYPES, "runs": listed_runs(jobs, actor),
            "famous": nets.FAMOUS, "presets_all": nets.PRESETS,
            "famous_net": famous_view(nets.FAMOUS[0]), "skip_depth": DepthConfig().depth,
            "backend": jobs.describe(), "models": models.list()}


@router.get("/training", response_class=HTMLResponse)
def training_page(request: Request, templates: TemplatesDep, catalog: CatalogDep, jobs: JobsDep,
                  models: ModelsDep, actor: ActorDep) -> HTMLResponse:
    ctx = _page_context(catalog, jobs, models, actor)
    # the run to show: one of the visitor's still going, else their latest (its final state
    # replays at once); off shared mode every run is the visitor's
    image = [r for r in image_runs(jobs) if not actor.shared or r.owner == actor.owner]
    ctx["run"] = next((r for r in image if r.status not in FINISHED), image[0] if image else None)
    return templates.TemplateResponse(request, "training.html", ctx)


@router.post("/training/dataset", response_class=HTMLResponse)
async def dataset_changed(request: Request, templates: TemplatesDep, catalog: CatalogDep
                          ) -> HTMLResponse:
    """A new dataset: its samples and counts, and the editor sized for its images and classes
    (the last Linear layer follows the class count)."""
    form = await request.form()
    name = str(form.get("dataset", ""))
    info = await run_in_threadpool(catalog.info, name) if name in catalog.names() else None
    shape, k = await run_in_threadpool(_dataset_shape, catalog, name)
    layers = _layers_from_form(form)
    if layers and layers[-1]["type"] == "linear":
        layers[-1]["out_features"] = k
    editor = build_editor(layers, shape, k)
    panel = templates.get_template("partials/dataset_panel.html").render(info=info)
    oob = templates.get_template("partials/arch_editor.html").render(
        editor=editor, presets=EDITOR_PRESETS, layer_types=nets.LAYER_TYPES, oob=True)
    return HTMLResponse(panel + oob)


@router.post("/training/editor", response_class=HTMLResponse)
async def editor_changed(request: Request, templates: TemplatesDep, catalog: CatalogDep
                         ) -> HTMLResponse:
    form = await request.form()
    shape, k = await run_in_threadpool(_dataset_shape, catalog, str(form.get("dataset", "")))
    layers = _apply_action(_layers_from_form(form), str(form.get("action", "")), form, k)
    return templates.TemplateResponse(request, "partials/arch_editor.html", {
        "editor": build_editor(layers, shape, k), "presets": EDITOR_PRESETS,
        "layer_types": nets.LAYER_TYPES})


@router.get("/training/famous", response_class=HTMLResponse)
def famous_network(request: Request, templates: TemplatesDep, famous: str = "") -> HTMLResponse:
    """One famous network's table (the page's select); an unknown name shows the first."""
    view = famous_view(famous if famous in nets.FAMOUS else nets.FAMOUS[0])
    return templates.TemplateResponse(request, "partials/famous_net.html", {"view": view})


@router.post("/training/runs", response_class=HTMLResponse)
async def start_run(request: Request, templates: TemplatesDep, catalog: CatalogDep,
                    jobs: JobsDep, actor: ActorDep) -> HTMLResponse:
    form = await request.form()
    try:
        req = parse_form(TrainingRunRequest, {
            "architecture": _layers_from_form(form),
            **{f: form.get(f, "") for f in TrainingRunRequest.model_fields if f != "architecture"}})
        record = await training.start_run(req, jobs, catalog, actor)
    except INPUT_ERRORS as exc:
        return templates.TemplateResponse(request, "partials/run_panel.html", {
            "run": None, "error": as_domain(exc), "slots": RUN_FIELDS})
    response = templates.TemplateResponse(request, "partials/run_panel.html",
                                          {"run": record, "error": None, "view": LiveView()})
    response.headers["HX-Trigger"] = "runs-changed"
    return response


@router.get("/training/runs/{run_id}/panel", response_class=HTMLResponse)
async def run_panel(run_id: str, request: Request, templates: TemplatesDep, jobs: JobsDep
                    ) -> HTMLResponse:
    try:
        record = jobs.get(run_id)
    except INPUT_ERRORS as exc:
        return templates.TemplateResponse(request, "partials/run_panel.html",
                                          {"run": None, "error": as_domain(exc)})
    return templates.TemplateResponse(request, "partials/run_panel.html",
                                      {"run": record, "error": None, "view": LiveView()})


@router.get("/training/runs/{run_id}/stream", response_class=EventSourceResponse)
async def run_stream(record: ExistingRunDep, request: Request, templates: TemplatesDep,
                     jobs: JobsDep, actor: ActorDep,
                     last_event_id: Annotated[str | None, Header()] = None
                     ) -> AsyncIterator[ServerSentEvent]:
    """The run's events as HTML fragments for htmx's SSE extension (sse-swap by event name).
    The view is rebuilt from the first event every time; a browser that reconnects (it sends
    Last-Event-ID) is sent only what it has not seen. Bursts (a late page replays the whole
    history) are drawn once, not once per event."""
    run_id = record.id
    seen = int(last_event_id) if last_event_id and last_event_id.isdigit() else 0
    view = LiveView(status=record.status)
    env = templates.env
    epochs = record.config.get("epochs", 1)
    last_drawn, last_seq, offered_save = 0.0, seen, False

    def fragment(template: str, event: str, **ctx: object) -> ServerSentEvent:
        html = env.get_template(f"partials/{template}.html").render(view=view, request=request,
                                                                    **ctx)
        return ServerSentEvent(raw_data=html, event=event, id=str(last_seq))

    async for seq, event in jobs.events(run_id, 0):
        view.add(event)
        if seq <= seen:
            continue  # already on the page
        last_seq, kind = seq, event["type"]
        if kind == "status":
            record = jobs.get(run_id)
            yield fragment("run_controls", "status", run=record)
            if record.has_weights and not offered_save and actor.may_change(record.owner):
                offered_save = True
                yield fragment("save_model", "saveable", run=record, saved=None, error=None)
        elif kind == "snapshot":
            yield fragment("run_snapshot", "snapshot")
        elif kind == "epoch":
            yield fragment("run_confusion", "confusion")
        if kind in ("progress", "epoch", "done") and (
                kind != "progress" or time.monotonic() - last_drawn >= 0.2):
            last_drawn = time.monotonic()
            yield fragment("run_metrics", "metrics", charts=view.charts(epochs), run=record)
    yield fragment("run_metrics", "metrics", charts=view.charts(epochs), run=record)
    yield ServerSentEvent(raw_data="", event="end", id=str(last_seq))


@router.post("/training/runs/{run_id}/save", response_class=HTMLResponse)
def save_model(run_id: str, name: Annotated[str, Form()], request: Request,
               templates: TemplatesDep, jobs: JobsDep, models: ModelsDep, actor: ActorDep
               ) -> HTMLResponse:
    ctx: dict = {"run": jobs.get(run_id), "saved": None, "error": None}
    try:
        ctx["saved"] = training.save_run(run_id, name, jobs, models, actor)
    except INPUT_ERRORS as exc:
        ctx["error"] = as_domain(exc)
    response = templates.TemplateResponse(request, "partials/save_model.html", ctx)
    if ctx["saved"]:
        response.headers["HX-Trigger"] = "models-changed"
    return response


@router.post("/training/runs/{run_id}/{action}", response_class=HTMLResponse)
async def run_action(run_id: str, action: str, request: Request, templates: TemplatesDep,
                     jobs: JobsDep, actor: ActorDep) -> HTMLResponse:
    """pause, resume or stop (declared after /save, which this path would also match)."""
    error = None
    try:
        if action not in ("pause", "resume", "stop"):
            raise NotFound(f"no action {action!r}; pause, resume or stop", "action")
        training.control(jobs, run_id, "cancel" if action == "stop" else action, actor)
    except INPUT_ERRORS as exc:
        error = as_domain(exc)
    response = templates.TemplateResponse(request, "partials/run_controls.html", {
        "run": jobs.get(run_id), "view": None, "error": error})
    if error is None:
        response.headers["HX-Trigger"] = "runs-changed"  # the list shows the new status
    return response


@router.get("/training/runs-list", response_class=HTMLResponse)
async def runs_list(request: Request, templates: TemplatesDep, jobs: JobsDep, actor: ActorDep
                    ) -> HTMLResponse:
    return templates.TemplateResponse(request, "partials/runs_list.html", {
        "runs": listed_runs(jobs, actor), "backend": jobs.describe()})


@router.get("/training/models-list", response_class=HTMLResponse)
def models_list(request: Request, templates: TemplatesDep, models: ModelsDep) -> HTMLResponse:
    return templates.TemplateResponse(request, "partials/models_list.html",
                                      {"models": models.list()})


@router.delete("/training/models/{name}", response_class=HTMLResponse)
def delete_model(name: str, request: Request, templates: TemplatesDep, models: ModelsDep,
                 actor: ActorDep) -> HTMLResponse:
    error = None
    try:
        training.delete_model(models, name, actor)
    except INPUT_ERRORS as exc:
        error = as_domain(exc)
    return templates.TemplateResponse(request, "partials/models_list.html",
                                      {"models": models.list(), "error": error})


@router.post("/training/datasets", response_class=HTMLResponse)
def upload_dataset(request: Request, templates: TemplatesDep, catalog: CatalogDep,
                   jobs: JobsDep, models: ModelsDep, settings: SettingsDep, actor: ActorDep,
                   file: Annotated[UploadFile, File()], name: Annotated[str, Form()]
                   ) -> HTMLResponse:
    """A zip of class folders: on success the page's dataset section shows it, selected."""
    error = None
    try:
        training.add_dataset(catalog, settings, name.strip(), file.file.read(), actor=actor)
    except INPUT_ERRORS as exc:
        error = as_domain(exc)
    ctx = _page_context(catalog, jobs, models, actor, None if error else name.strip())
    section = templates.get_template("partials/dataset_section.html").render(
        **ctx, upload_error=error)
    if error:
        return HTMLResponse(section)
    # the new dataset is selected: the network follows its image size and classes
    editor = templates.get_template("partials/arch_editor.html").render(**ctx, oob=True)
    return HTMLResponse(section + editor)


# ---------------------------------------------------------------- shared mode: the teacher

@router.post("/training/admin", response_class=HTMLResponse)
def admin_sign_in(request: Request, templates: TemplatesDep, settings: SettingsDep,
                  token: Annotated[str, Form()] = "") -> HTMLResponse:
    """The admin token typed into the page: the admin cookie, and the page reloaded (every
    run listed, every control shown); a wrong token: the form again, saying so."""
    if not settings.shared or not settings.admin_token:
        error = ("this server has no admin token (PLAYGROUND_ADMIN_TOKEN, shared mode), so "
                 "there is no admin view")
    elif not hmac.compare_digest(token.encode(), settings.admin_token.encode()):
        error = "that is not the admin token this server was started with"
    else:
        response = HTMLResponse("", headers={"HX-Refresh": "true"})
        grant_admin(response, request.app.state.owner_key, token)
        return response
    return templates.TemplateResponse(request, "partials/admin_panel.html",
                                      {"admin_error": error})


@router.post("/training/admin/leave", response_class=HTMLResponse)
def admin_sign_out() -> HTMLResponse:
    response = HTMLResponse("", headers={"HX-Refresh": "true"})
    revoke_admin(response)
    return response
