"""The kernel-lab page and its htmx fragments. Same core calls as the API (app.kernel_lab)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData

from app.core import kernels, shapes
from app.http.deps import ActorDep, ImagesDep, ResultsDep, SettingsDep, TemplatesDep
from app.http.errors import INPUT_ERRORS
from app.http.forms import parse_form
from app.services import kernel_lab
from app.services.errors import Invalid, as_domain
from app.services.schemas import ConvolveRequest, FilterBankRequest
from app.settings import LIMITS

router = APIRouter(include_in_schema=False)

# The page opens on the first of these that the store holds: a real photo when the setup
# fetched them (app.core.photos), else the drawn landscape (always there).
DEFAULT_IMAGES = ("sample-astronaut", "sample-landscape")
DEFAULT_PRESET = "sharpen"
DEFAULT_BANK = ("edge-vertical", "edge-horizontal", "sobel-x", "sobel-y", "laplacian",
                "gaussian-3", "sharpen-strong", "emboss")
# fields whose error message is shown beside their control: the result fragment answers for
# all but the bank's own slot, which the bank fragment answers for
RESULT_SLOTS = ("image_id", "file", "kernel", "stride", "padding", "padding_mode", "dilation",
                "scale", "bias")
BANK_SLOT = "kernels"
ERROR_SLOTS = (*RESULT_SLOTS, BANK_SLOT)


@dataclass
class Editor:
    """The kernel editor's state: a rows × cols grid of numbers and its divisor."""

    rows: int
    cols: int
    cells: list[list[str]]
    scale: str
    preset: str = ""

    @classmethod
    def from_preset(cls, key: str) -> Editor:
        p = kernels.PRESETS_BY_KEY.get(key) or kernels.PRESETS_BY_KEY[DEFAULT_PRESET]
        cells = [[_fmt(v) for v in row] for row in p.matrix]
        return cls(len(cells), len(cells[0]), cells, _fmt(p.scale), p.key)

    @classmethod
    def from_form(cls, form: FormData) -> Editor:
        rows, cols = _side(form.get("rows")), _side(form.get("cols"))
        values = [str(v) for v in form.getlist("k")]
        old_cols = _side(form.get("shown_cols"), cols)
        cells = [[_cell(values, r * old_cols + c) if c < old_cols else "0"
                  for c in range(cols)] for r in range(rows)]
        return cls(rows, cols, cells, str(form.get("scale", "1")), str(form.get("preset", "")))


def default_image(images: ImagesDep) -> str:
    held = {s.id for s in images.samples}
    return next((i for i in DEFAULT_IMAGES if i in held), DEFAULT_IMAGES[-1])


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _side(raw: object, default: int = 3) -> int:
    try:
        return min(max(int(str(raw)), 1), LIMITS.kernels.kernel_side)
    except ValueError:
        return default


def _cell(values: list[str], i: int) -> str:
    return values[i] if i < len(values) else "0"


def _number(raw: object, field: str) -> float:
    text = str(raw).strip().replace("−", "-")
    try:
        return float(text)
    except ValueError:
        raise Invalid(f"{text!r} is not a number", field) from None


def _kernel_from_form(form: FormData) -> list[list[float]]:
    rows, cols = _side(form.get("rows")), _side(form.get("cols"))
    values = form.getlist("k")
    if len(values) != rows * cols:
        raise Invalid(f"the kernel needs {rows}×{cols} numbers", "kernel")
    numbers = [_number(v, "kernel") if str(v).strip() else 0.0 for v in values]
    return [numbers[r * cols:(r + 1) * cols] for r in range(rows)]


SLIDING = ("stride", "padding", "padding_mode", "dilation", "scale", "bias", "channels",
           "display")


def request_from_form(form: FormData, default_image_id: str = DEFAULT_IMAGES[-1]
                      ) -> ConvolveRequest:
    """The page's form → the same request model the API validates (typed minus signs, "−",
    read as "-"); the kernel's cells are read here, a blank cell as 0."""
    return parse_form(ConvolveRequest, {
        "image_id": str(form.get("image_id") or default_image_id),
        "kernel": _kernel_from_form(form),
        "flip": form.get("flip") == "on",
        **{f: str(form[f]).strip().replace("−", "-") for f in SLIDING if f in form}})


# What the bank's maps depend on besides the filters ticked: the image and how the kernels
# slide and are shown (not the divisor, bias or channels: a map is drawn from the gray image,
# unscaled), and the kernel in the grid only when "Your kernel" is ticked. The page asks for
# the bank again only when one of these changes.
BANK_SLIDING = ("stride", "padding", "padding_mode", "dilation", "display")


def bank_request_from_form(form: FormData, default_image_id: str = DEFAULT_IMAGES[-1]
                           ) -> FilterBankRequest | None:
    """The bank's half of the form → the API's FilterBankRequest (None: no filter ticked).
    Each preset brings its own matrix; the current sliding settings apply to all. Activation
    maps are signed, so unless another display is chosen they are drawn with the diverging
    colour map (blue negative, white 0, red positive), each scaled to its own largest |value|."""
    named: list[dict] = [{"name": p.name, "kernel": [list(r) for r in p.matrix]}
                         for p in kernels.PRESETS if p.key in form.getlist("bank")]
    if form.get("bank_current") == "on":
        named.insert(0, {"name": "Your kernel", "kernel": _kernel_from_form(form)})
    if not named:
        return None
    values = {f: str(form[f]).strip().replace("−", "-") for f in BANK_SLIDING if f in form}
    if values.get("display", "clip") == "clip":
        values["display"] = "diverging"
    return parse_form(FilterBankRequest, {
        "image_id": str(form.get("image_id") or default_image_id), "kernels": named,
        "flip": form.get("flip") == "on", "format": "png", **values})


def output_formula(n: int, k: int, padding: tuple[int, int], req: ConvolveRequest) -> str:
    """One axis's output size with its numbers, as the core counts it (the same rule and words
    as the stepper and the architecture table)."""
    return shapes.output_size(n, k, stride=req.stride, padding=padding,
                              dilation=req.dilation).formula


def _result_context(form: FormData, images: ImagesDep, results: ResultsDep) -> dict:
    """Everything the result fragment needs; errors come back as a message and a field."""
    ctx: dict = {"error": None, "slots": RESULT_SLOTS}
    try:
        req = request_from_form(form, default_image(images))
        img = images.get(req.image_id or default_image(images))
        small = max(img.preview.shape[:2]) <= 256
        req = req.model_copy(update={"format": "png" if small else "jpeg"})
        r = kernel_lab.convolve_image(req, images, results)
        kh, kw = len(req.kernel), len(req.kernel[0])
        (h, w), p = r.input_shape, r.padding
        ctx.update(req=req, image=img, r=r, kh=kh, kw=kw,
                   formula_h=output_formula(h, kh, (p.top, p.bottom), req),
                   formula_w=output_formula(w, kw, (p.left, p.right), req))
    except INPUT_ERRORS as exc:
        ctx["error"] = as_domain(exc)
    return ctx


def _bank_context(form: FormData, images: ImagesDep, results: ResultsDep,
                  settings: SettingsDep) -> dict:
    """Everything the bank fragment needs. A setting that does not hold is the result's to
    report, beside its control (`bank_waits`); an error of the bank's own goes to its slot."""
    ctx: dict = {"bank": None, "bank_error": None, "bank_waits": False}
    try:
        bank_req = bank_request_from_form(form, default_image(images))
    except INPUT_ERRORS as exc:
        e = as_domain(exc)
        ctx.update(bank_waits=e.field != BANK_SLOT, bank_error=e)
        return ctx
    if bank_req is None:
        return ctx
    try:
        ctx.update(bank_display=bank_req.display, bank=kernel_lab.filter_bank_image(
            bank_req, images, results, settings.bank_map_side))
    except INPUT_ERRORS as exc:
        e = as_domain(exc)
        ctx["bank_error"] = Invalid(e.message, BANK_SLOT)  # said beside the bank, whatever
    return ctx


@router.get("/kernels", response_class=HTMLResponse)
def kernel_lab_page(request: Request, templates: TemplatesDep, images: ImagesDep,
                    results: ResultsDep, settings: SettingsDep) -> HTMLResponse:
    editor = Editor.from_preset(DEFAULT_PRESET)
    image_id = default_image(images)
    form = FormData([("image_id", image_id), ("rows", "3"), ("cols", "3"),
                     ("scale", editor.scale), ("stride", "1"), ("padding", "same"),
                     ("padding_mode", "zeros"), ("dilation", "1"), ("bias", "0"),
                     ("channels", "rgb"), ("display", "clip")]
                    + [("k", v) for row in editor.cells for v in row]
                    + [("bank", b) for b in DEFAULT_BANK])
    ctx = {**_result_context(form, images, results),
           **_bank_context(form, images, results, settings)}
    return templates.TemplateResponse(request, "kernel_lab.html", {
        **ctx, "editor": editor, "presets": kernels.PRESETS, "samples": images.samples,
        "uploads": [], "selected_image": image_id, "default_bank": DEFAULT_BANK,
        "max_side": LIMITS.kernels.kernel_side})


@router.post("/kernels/render", response_class=HTMLResponse)
async def render_result(request: Request, templates: TemplatesDep, images: ImagesDep,
                        results: ResultsDep) -> HTMLResponse:
    """The filtered image and its numbers, for a change of the kernel or the settings (the
    filter bank is its own fragment: a keystroke in the grid does not redraw it)."""
    form = await request.form()
    ctx = await run_in_threadpool(_result_context, form, images, results)
    return templates.TemplateResponse(request, "partials/kernel_render.html", ctx)


@router.post("/kernels/bank", response_class=HTMLResponse)
async def render_bank(request: Request, templates: TemplatesDep, images: ImagesDep,
                      results: ResultsDep, settings: SettingsDep) -> HTMLResponse:
    """The filter bank's maps, for a change of the filters ticked, the image, or a setting the
    maps depend on (BANK_SLIDING, flip; the grid's kernel only when it is in the bank)."""
    form = await request.form()
    ctx = await run_in_threadpool(_bank_context, form, images, results, settings)
    return templates.TemplateResponse(request, "partials/kernel_bank.html", ctx)


@router.post("/kernels/editor", response_class=HTMLResponse)
async def kernel_editor(request: Request, templates: TemplatesDep) -> HTMLResponse:
    """Loads a preset into the grid, or resizes it keeping the numbers that still fit."""
    form = await request.form()
    if form.get("action") == "preset" and form.get("preset"):
        editor = Editor.from_preset(str(form.get("preset")))
    else:
        editor = Editor.from_form(form)
        editor.preset = ""
    response = templates.TemplateResponse(request, "partials/kernel_editor.html", {
        "editor": editor, "presets": kernels.PRESETS, "max_side": LIMITS.kernels.kernel_side})
    response.headers["HX-Trigger-After-Settle"] = "kernel-changed"
    return response


@router.post("/kernels/upload", response_class=HTMLResponse)
def upload(request: Request, file: Annotated[UploadFile, File()], templates: TemplatesDep,
           images: ImagesDep, actor: ActorDep) -> HTMLResponse:
    """Stores the upload and re-renders the image picker with it selected."""
    ctx: dict = {"samples": images.samples, "error": None, "slots": ERROR_SLOTS}
    try:
        img = images.upload(file.file.read(), actor.owner)
        ctx.update(uploads=[img], selected_image=img.id)
    except INPUT_ERRORS as exc:
        ctx.update(uploads=[], selected_image=default_image(images), error=as_domain(exc))
    response = templates.TemplateResponse(request, "partials/image_picker.html", ctx)
    if ctx["error"] is None:  # a new image: the result and the bank are drawn again
        response.headers["HX-Trigger-After-Settle"] = "image-changed"
    return response
