// Stepper: fetches one whole trace from the REST API per change, then plays it here, so stepping,
// playing and scrubbing never wait for the server. The page computes no number it shows: every
// value, sum and expression comes from /api/v1/stepper/... (tested against PyTorch), the output
// size and its formula too.
import { $, $$, axes, clearError, dot, el, fetchJSON, fmt, latest, polyline, showError } from "./lib.js";

const DATA = JSON.parse(document.getElementById("stepper-data").textContent);
const MODES = ["convolution", "pooling", "descent"];
const ENDPOINTS = {
  convolution: "/api/v1/stepper/convolution",
  pooling: "/api/v1/stepper/pooling",
  descent: "/api/v1/stepper/gradient-descent",
};
// Fields that are page helpers, not part of the shareable state.
const NOT_SHARED = new Set(["file", "random_size", "image_size", "image_id", "preset"]);

const state = { mode: "convolution", trace: null, body: null, step: 0, timer: null, view: null };
const form = (mode = state.mode) => document.getElementById(`form-${mode}`);

// ------------------------------------------------------------------ numbers and text

/** A value as typed: a number when it is one; otherwise the text itself, so the API says what is wrong. */
function numOrText(v) {
  const t = String(v).trim().replace(/[−–]/g, "-");
  return t !== "" && Number.isFinite(Number(t)) ? Number(t) : v;
}
const intOrText = (v) => (/^\s*-?\d+\s*$/.test(v) ? Number(v) : v);
/** Lines of numbers (a block of a grid, or the points) → rows. */
const rowsOf = (block) => block.split("\n").map((l) => l.trim()).filter((l) => l)
  .map((l) => l.split(/[\s,;]+/).filter((t) => t).map(numOrText));

/** Text → rows of numbers, or channels of rows when blank lines separate blocks. */
function parseGrid(text) {
  const blocks = text.trim().split(/\n\s*\n/).map(rowsOf).filter((b) => b.length);
  return blocks.length > 1 ? blocks : (blocks[0] || []);
}
function gridText(grid) {
  const is3d = Array.isArray(grid[0]) && Array.isArray(grid[0][0]);
  const block = (rows) => {
    const width = Math.max(...rows.flat().map((v) => String(v).length));
    return rows.map((r) => r.map((v) => String(v).padStart(width)).join(" ")).join("\n");
  };
  return is3d ? grid.map(block).join("\n\n") : block(grid);
}
const pointsText = (pts) => pts.map(([x, y]) => `${x}, ${y}`).join("\n");
// The address bar keeps grids compactly: "1,2;3,4" (rows by ;, channels by |).
const compact = (text) => text.trim().split(/\n\s*\n/).map((b) => b.trim().split("\n")
  .map((l) => l.trim().split(/[\s,;]+/).join(",")).join(";")).join("|");
const expand = (s) => s.split("|").map((b) => b.split(";").map((r) => r.split(",").join(" ")).join("\n")).join("\n\n");

// ------------------------------------------------------------------ requests

function requestBody(mode) {
  const f = form(mode).elements;
  if (mode === "convolution") {
    return { input: parseGrid(f.input.value), kernel: parseGrid(f.kernel.value),
      stride: intOrText(f.stride.value), padding: intOrText(f.padding.value),
      dilation: intOrText(f.dilation.value), bias: numOrText(f.bias.value) };
  }
  if (mode === "pooling") {
    return { input: parseGrid(f.input.value), op: f.op.value, size: intOrText(f.size.value),
      stride: intOrText(f.stride.value), padding: intOrText(f.padding.value),
      ceil_mode: f.ceil_mode.checked, count_include_pad: f.count_include_pad.checked };
  }
  const body = { points: rowsOf(f.points.value), learning_rate: numOrText(f.learning_rate.value),
    epochs: intOrText(f.epochs.value), w0: numOrText(f.w0.value), update: f.update.value };
  if (f.model.value === "wb") body.b0 = numOrText(f.b0.value);
  return body;
}

/** The API's refusal beside the field it names (and a banner), the stage greyed out. */
function showStageError(mode, error) {
  const slot = error.field && $(`[data-error-for="${error.field}"]`, form(mode));
  if (slot) slot.textContent = error.message;
  showError("#stage-error", slot ? "Fix the setting marked in red to go on." : error.message);
  $("#stage").classList.add("stale");
}
function clearErrors() {
  $$(".field-error").forEach((e) => { e.textContent = ""; });
  clearError("#stage-error");
  $("#stage").classList.remove("stale");
}

const fetchTrace = latest((signal, mode, body) => fetchJSON(ENDPOINTS[mode], { body, signal }));

async function refresh({ keepStep = false } = {}) {
  const mode = state.mode;
  const body = requestBody(mode);
  let data, error = null;
  try {
    data = await fetchTrace(mode, body);
    if (data === undefined) return; // a newer request took over
  } catch (e) {
    error = e.status ? e : { message: "The app did not answer; is it still running?" };
  }
  if (mode !== state.mode) return;
  clearErrors();
  saveUrl();
  if (error) { showStageError(mode, error); return; }
  pause();
  state.trace = data;
  state.body = body;
  state.view = BUILD[mode](data, body);
  const last = data.steps.length - 1;
  setStep(keepStep ? Math.min(state.step, last) : 0);
}

// ------------------------------------------------------------------ player

function setStep(i) {
  if (!state.trace) return;
  const last = state.trace.steps.length - 1;
  state.step = Math.max(0, Math.min(i, last));
  const scrub = $("#scrub");
  scrub.max = last;
  scrub.value = state.step;
  RENDER[state.mode](state.view, state.trace, state.step);
  $("#step-label").textContent = LABEL[state.mode](state.trace, state.step);
  saveUrl();
}
function play() {
  if (!state.trace) return;
  if (state.step >= state.trace.steps.length - 1) setStep(0);
  const rate = Number($("#speed").value);
  state.timer = setInterval(() => {
    if (state.step >= state.trace.steps.length - 1) { pause(); return; }
    setStep(state.step + 1);
  }, 1000 / rate);
  $("#play").textContent = "‖ Pause";
}
function pause() {
  clearInterval(state.timer);
  state.timer = null;
  $("#play").textContent = "▶ Play";
}
const toggle = () => (state.timer ? pause() : play());

// ------------------------------------------------------------------ drawing grids

function cellSize(cols) {
  return cols <= 8 ? 44 : cols <= 12 ? 36 : cols <= 18 ? 28 : cols <= 26 ? 22 : cols <= 40 ? 14 : 10;
}
/** Red for positive, blue for negative, as in the kernel lab; strength by |v| / bound. */
function tint(v, bound) {
  if (v === null || v === undefined || !bound) return "";
  const a = Math.min(1, Math.abs(v) / bound) * 0.6;
  return v >= 0 ? `rgba(178, 24, 43, ${a})` : `rgba(33, 102, 172, ${a})`;
}
const boundOf = (values) => Math.max(1e-12, ...values.flat(Infinity).filter((v) => v !== null).map(Math.abs));

/** A rows × cols grid of cells; returns {el, cells[r][c]}. */
function makeGrid(rows, cols, { size, label, cls = "" } = {}) {
  const grid = el("div", `grid ${cls}`);
  grid.style.setProperty("--cols", cols);
  grid.style.setProperty("--cell", `${size}px`);
  if (size < 20) grid.classList.add("tiny");
  if (label) grid.setAttribute("aria-label", label);
  const cells = [];
  for (let r = 0; r < rows; r++) {
    cells.push([]);
    for (let c = 0; c < cols; c++) {
      const d = el("div", "cell");
      grid.appendChild(d);
      cells[r].push(d);
    }
  }
  return { el: grid, cells };
}
function fillGrid(grid, values, bound) {
  values.forEach((row, r) => row.forEach((v, c) => {
    const d = grid.cells[r][c];
    d.textContent = fmt(v);
    d.title = fmt(v);
    d.style.background = tint(v, bound);
  }));
}
/** A figure around `inner`: the caption, then `dim` (a size, a channel) in grey after it. */
function figure(caption, inner, { cls = "", dim } = {}) {
  const cap = el("figcaption", "", caption);
  if (dim) cap.append(" ", el("span", "dim", dim));
  const f = el("figure", `grid-figure ${cls}`);
  f.append(cap, inner);
  return f;
}
const CHANNEL_NAMES = ["red", "green", "blue", "alpha"];

/** The input drawn with or without its padding; window cells are marked per step. */
function inputGrid(values, pad, drawPad, padText, size) {
  const rows = values.length, cols = values[0].length;
  const off = drawPad ? pad : 0;
  const g = makeGrid(rows + 2 * off, cols + 2 * off, { size, label: "input" });
  const bound = boundOf(values);
  g.cells.forEach((line, r) => line.forEach((d, c) => {
    const v = values[r - off] && values[r - off][c - off];
    if (v === undefined) { d.classList.add("pad"); d.textContent = padText; d.title = "padding"; }
    else { d.textContent = fmt(v); d.title = fmt(v); d.style.background = tint(v, bound); }
  }));
  g.off = off;
  g.marked = [];
  return g;
}
/** Marks the cells of a window (input coordinates, inclusive) and the tapped ones. */
function markWindow(g, [[r0, c0], [r1, c1]], step = 1, special = null) {
  g.marked.forEach((d) => d.classList.remove("win", "tap", "winner", "top", "bottom", "left", "right"));
  g.marked = [];
  for (let r = r0; r <= r1; r++) {
    for (let c = c0; c <= c1; c++) {
      const d = g.cells[r + g.off] && g.cells[r + g.off][c + g.off];
      if (!d) continue;
      d.classList.add("win");
      if ((r - r0) % step === 0 && (c - c0) % step === 0) d.classList.add("tap");
      if (r === r0) d.classList.add("top");
      if (r === r1) d.classList.add("bottom");
      if (c === c0) d.classList.add("left");
      if (c === c1) d.classList.add("right");
      if (special && special[0] === r && special[1] === c) d.classList.add("winner");
      g.marked.push(d);
    }
  }
}
/** Output cells up to the current step are filled; the current one is ringed. */
function fillOutput(g, trace, i, cellOf) {
  g.bound = g.bound || boundOf(trace.steps.map((s) => s.result ?? s.sum)); // once per trace
  trace.steps.forEach((s, k) => {
    const d = cellOf(s);
    if (k <= i) {
      const v = s.result ?? s.sum;
      d.textContent = fmt(v);
      d.title = fmt(v);
      d.style.background = tint(v, g.bound);
      d.classList.add("filled");
    } else if (d.classList.contains("filled")) {
      d.textContent = "";
      d.style.background = "";
      d.classList.remove("filled");
    }
    d.classList.toggle("current", k === i);
  });
}
function hoverToStep(grid, trace, cellOf) {
  trace.steps.forEach((s, k) => {
    const d = cellOf(s);
    d.dataset.step = k;
    d.classList.add("pickable");
  });
  grid.el.addEventListener("click", (e) => {
    const k = e.target.dataset && e.target.dataset.step;
    if (k !== undefined) { pause(); setStep(Number(k)); }
  });
}
function formulaBox(formula, what) {
  const box = el("div", "formula-box");
  box.append(el("p", "", `${what}: `), el("code", "", formula.general));
  const list = el("ul", "formula-lines");
  list.append(el("li", "", `height ${formula.height}`), el("li", "", `width ${formula.width}`));
  box.append(list);
  return box;
}

// ------------------------------------------------------------------ convolution

function buildConvolution(trace, body) {
  const stage = $("#stage");
  stage.replaceChildren();
  const f = form("convolution").elements;
  const is3d = trace.input_shape.length === 3;
  const channels = is3d ? body.input : [body.input];
  const kernels = is3d ? body.kernel : [body.kernel];
  const [oh, ow] = trace.output_shape;
  const drawPad = f.show_padding.checked;
  const cols = channels[0][0].length + (drawPad ? 2 * trace.padding : 0);
  const size = cellSize(Math.max(cols, ow));
  const kSize = Math.max(cellSize(kernels[0][0].length), 28);
  const view = { inputs: [], products: [], kernels: [] };
  const layout = el("div", "conv-layout");
  channels.forEach((values, c) => {
    const row = el("div", "channel-row");
    const g = inputGrid(values, trace.padding, drawPad, "0", size);
    view.inputs.push(g);
    const k = makeGrid(kernels[c].length, kernels[c][0].length, { size: kSize, label: "kernel", cls: "kernel" });
    fillGrid(k, kernels[c], boundOf(kernels[c]));
    const p = makeGrid(kernels[c].length, kernels[c][0].length, { size: kSize, label: "products", cls: "products" });
    view.products.push(p);
    row.append(figure("Input", g.el, { dim: is3d && `channel ${c} (${CHANNEL_NAMES[c]})` }),
      el("span", "op", "×"), figure("Kernel", k.el), el("span", "op", "="), figure("Products", p.el));
    layout.append(row);
  });
  const out = makeGrid(oh, ow, { size: cellSize(Math.max(ow, 6)), label: "output", cls: "output-grid" });
  view.output = out;
  hoverToStep(out, trace, (s) => out.cells[s.out[0]][s.out[1]]);
  const outFig = figure("Output", out.el, { cls: "output-figure", dim: `${oh}×${ow}` });
  const main = el("div", "conv-main");
  main.append(layout, outFig);
  view.lines = el("div", "expression");
  stage.append(main, view.lines, formulaBox(trace.formula, "Output size"));
  view.dilation = body.dilation;
  return view;
}

function renderConvolution(view, trace, i) {
  const s = trace.steps[i];
  const is3d = trace.input_shape.length === 3;
  const products = is3d ? s.products : [s.products];
  const bound = boundOf(products);
  view.inputs.forEach((g, c) => {
    markWindow(g, s.window, view.dilation);
    fillGrid(view.products[c], products[c], bound);
  });
  fillOutput(view.output, trace, i, (t) => view.output.cells[t.out[0]][t.out[1]]);
  const lines = is3d
    ? s.channel_expressions.map((e, c) => el("p", `channel-line ch${c}`, `${CHANNEL_NAMES[c]}: ${e}`))
    : [];
  const total = el("p", "total-line", s.expression);
  view.lines.replaceChildren(...lines, total);
}

// ------------------------------------------------------------------ pooling

function buildPooling(trace, body) {
  const stage = $("#stage");
  stage.replaceChildren();
  const values = body.input;
  const [oh, ow] = trace.output_shape;
  const size = cellSize(values[0].length + 2 * body.padding);
  const view = {};
  view.input = inputGrid(values, body.padding, true, body.op === "max" ? "−∞" : "0", size);
  view.output = makeGrid(oh, ow, { size: cellSize(Math.max(ow, 6)), label: "pooled", cls: "output-grid" });
  hoverToStep(view.output, trace, (s) => view.output.cells[s.out[0]][s.out[1]]);
  const main = el("div", "conv-main");
  const opName = { max: "Max", avg: "Average", sum: "Sum" }[body.op];
  main.append(figure("Feature map", view.input.el, { dim: `${values.length}×${values[0].length}` }),
    el("span", "op", "→"), figure(`${opName} pooled`, view.output.el, { cls: "output-figure", dim: `${oh}×${ow}` }));
  view.line = el("div", "expression");
  // Flattening: the pooled map read row by row into the vector a dense layer receives.
  const flat = el("section", "flatten");
  flat.append(el("h3", "", `Flattened: a vector of ${trace.flattened.length} numbers for the dense layer`));
  view.vector = el("ol", "vector");
  view.vectorCells = trace.flattened.map((_, k) => {
    const li = el("li", "cell");
    li.title = `position ${k}`;
    view.vector.append(li);
    return li;
  });
  flat.append(view.vector);
  stage.append(main, view.line, formulaBox(trace.formula, "Output size"), flat);
  return view;
}

function renderPooling(view, trace, i) {
  const s = trace.steps[i];
  markWindow(view.input, s.window, 1, s.argmax);
  fillOutput(view.output, trace, i, (t) => view.output.cells[t.out[0]][t.out[1]]);
  const bound = boundOf(trace.flattened);
  view.vectorCells.forEach((li, k) => {
    const on = k <= i;
    li.textContent = on ? fmt(trace.flattened[k]) : "";
    li.style.background = on ? tint(trace.flattened[k], bound) : "";
    li.classList.toggle("current", k === i);
  });
  const why = s.argmax ? `the largest value is at row ${s.argmax[0]}, column ${s.argmax[1]}` : "";
  view.line.replaceChildren(el("p", "total-line", s.expression), el("p", "dim", why));
}

// ------------------------------------------------------------------ gradient descent

const PALETTE = ["#fffbe6", "#fdeeb8", "#f9d98a", "#f3b76b", "#e78f5c", "#cf6a5c", "#a8516a", "#6e4477"];

function buildDescent(trace, body) {
  const stage = $("#stage");
  stage.replaceChildren();
  const view = { twoParams: body.b0 !== undefined };
  if (trace.diverged) stage.append(el("p", "hint warn", `Diverged: ${trace.message}.`));
  view.line = el("div", "expression");
  const plots = el("div", "plots");
  view.loss = el("canvas", "plot");
  view.data = el("canvas", "plot");
  plots.append(figure(view.twoParams ? "Loss over (w, b): contour lines, lowest in the pale middle" :
    "Loss (mean squared error) as w changes", view.loss),
  figure("The data; the line before the step (dashed) and after it", view.data));
  const opt = trace.optimum;
  const best = view.twoParams ? `w = ${fmt(opt.w)}, b = ${fmt(opt.b)}` : `w = ${fmt(opt.w)}`;
  const facts = el("p", "dim", `Best fit (least squares): ${best}, loss ${fmt(opt.loss)}.` +
    (trace.stable_below ? ` Learning rates below ${fmt(trace.stable_below)} make every step shrink the error.` : ""));
  view.table = el("table", "steps-table");
  stage.append(view.line, plots, facts, view.table);
  return view;
}

function renderDescent(view, trace, i) {
  const steps = trace.steps, s = steps[i];
  view.line.replaceChildren(...s.expression.split(";  ").map((e) => el("p", "total-line", e)),
    el("p", "dim", s.x === null ? `mean squared error before the step ${fmt(s.error)}, slope dE/dw ${fmt(s.gradient)}`
      : `prediction ${fmt(s.x)}·${fmt(s.w_before)}${view.twoParams ? ` + ${fmt(s.b_before)}` : ""} = ${fmt(s.prediction)}, ` +
        `error (${fmt(s.prediction)} − ${fmt(s.y)})² = ${fmt(s.error)}, slope dE/dw = ${fmt(s.gradient)}`));
  drawLoss(view, trace, i);
  drawData(view, trace, i);
  drawTable(view, trace, i);
}

function drawLoss(view, trace, i) {
  const c = trace.curve, steps = trace.steps;
  const path = [[steps[0].w_before, steps[0].b_before]].concat(steps.slice(0, i + 1).map((s) => [s.w, s.b]));
  if (!view.twoParams) {
    const lossAt = (w) => { // position on the drawn curve
      const k = Math.max(0, Math.min(c.w.length - 2, Math.floor((w - c.w[0]) / (c.w[1] - c.w[0]))));
      const t = (w - c.w[k]) / (c.w[k + 1] - c.w[k]);
      return c.loss[k] * (1 - t) + c.loss[k + 1] * t;
    };
    const top = Math.max(...c.loss) * 1.05;
    const { ctx, X, Y } = axes(view.loss, [c.w[0], c.w[c.w.length - 1]], [0, top], "w", "loss");
    polyline(ctx, c.w.map((w, k) => [X(w), Y(c.loss[k])]), "#4f46e5", 2.5);
    polyline(ctx, path.map(([w]) => [X(w), Y(lossAt(w))]), "#1d2330", 1.5);
    path.forEach(([w], k) => dot(ctx, X(w), Y(lossAt(w)), k === path.length - 1 ? 7 : 4,
      k === path.length - 1 ? "#facc15" : "#1d2330"));
    dot(ctx, X(trace.optimum.w), Y(trace.optimum.loss), 4, "#16a34a");
    ctx.restore();
    return;
  }
  const nb = c.b.length, nw = c.w.length;
  const { ctx, X, Y, m, w, h } = axes(view.loss, [c.w[0], c.w[nw - 1]], [c.b[0], c.b[nb - 1]], "w", "b");
  // Filled contours: log loss cut into bands, with a line where the band changes.
  const logs = c.loss.flat().map((v) => Math.log(v + 1e-9));
  const lo = Math.min(...logs), hi = Math.max(...logs);
  const dpr = window.devicePixelRatio || 1;
  const pw = Math.round((w - m.l - m.r) * dpr), ph = Math.round((h - m.t - m.b) * dpr);
  const img = ctx.createImageData(pw, ph);
  const band = new Int16Array(pw * ph);
  const levels = 14;
  for (let py = 0; py < ph; py++) {
    const fb = (1 - py / (ph - 1)) * (nb - 1), kb = Math.min(nb - 2, Math.floor(fb)), tb = fb - kb;
    for (let px = 0; px < pw; px++) {
      const fw = (px / (pw - 1)) * (nw - 1), kw = Math.min(nw - 2, Math.floor(fw)), tw = fw - kw;
      const v = (1 - tb) * ((1 - tw) * c.loss[kb][kw] + tw * c.loss[kb][kw + 1]) +
        tb * ((1 - tw) * c.loss[kb + 1][kw] + tw * c.loss[kb + 1][kw + 1]);
      band[py * pw + px] = Math.min(levels - 1, Math.floor(((Math.log(v + 1e-9) - lo) / (hi - lo || 1)) * levels));
    }
  }
  for (let k = 0; k < pw * ph; k++) {
    const edge = (k % pw < pw - 1 && band[k] !== band[k + 1]) || (k + pw < pw * ph && band[k] !== band[k + pw]);
    const hex = PALETTE[Math.floor((band[k] / levels) * PALETTE.length)];
    const shade = edge ? 0.55 : 1;
    img.data[4 * k] = parseInt(hex.slice(1, 3), 16) * shade;
    img.data[4 * k + 1] = parseInt(hex.slice(3, 5), 16) * shade;
    img.data[4 * k + 2] = parseInt(hex.slice(5, 7), 16) * shade;
    img.data[4 * k + 3] = 255;
  }
  ctx.putImageData(img, m.l * dpr, m.t * dpr);
  polyline(ctx, path.map(([pw_, pb]) => [X(pw_), Y(pb)]), "#1d2330");
  path.forEach(([pw_, pb], k) => dot(ctx, X(pw_), Y(pb), k === path.length - 1 ? 7 : 3,
    k === path.length - 1 ? "#facc15" : "#1d2330"));
  dot(ctx, X(trace.optimum.w), Y(trace.optimum.b), 5, "#16a34a");
  ctx.restore();
}

function drawData(view, trace, i) {
  const pts = state.body.points, s = trace.steps[i];
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  const pad = (a, b) => [a - Math.max((b - a) * 0.15, 0.5), b + Math.max((b - a) * 0.15, 0.5)];
  const [x0, x1] = pad(Math.min(0, ...xs), Math.max(0, ...xs));
  const [y0, y1] = pad(Math.min(0, ...ys), Math.max(0, ...ys));
  const { ctx, X, Y } = axes(view.data, [x0, x1], [y0, y1], "x", "y");
  // the line before the step (dashed), which made this step's prediction, and after it
  const line = (w, b, dash, colour) => polyline(ctx, [[X(x0), Y(w * x0 + b)], [X(x1), Y(w * x1 + b)]], colour, 2.5, dash);
  line(s.w_before, s.b_before ?? 0, [6, 4], "#a5b4fc");
  line(s.w, s.b ?? 0, [], "#4f46e5");
  if (s.x !== null) { // this step's point and its error, measured against the line before the step
    polyline(ctx, [[X(s.x), Y(s.y)], [X(s.x), Y(s.prediction)]], "#b42318", 2, [4, 3]);
    dot(ctx, X(s.x), Y(s.prediction), 4, "#b42318");
  }
  pts.forEach(([x, y], k) => dot(ctx, X(x), Y(y), k === s.point ? 7 : 5, k === s.point ? "#facc15" : "#1d2330"));
  ctx.restore();
}

function drawTable(view, trace, i) {
  const two = view.twoParams;
  const head = ["step", "epoch", "point (x, y)", "prediction", "error", "dE/dw", "w"].concat(two ? ["dE/db", "b"] : []);
  const rows = [];
  for (let k = Math.max(0, i - 6); k <= i; k++) {
    const s = trace.steps[k];
    rows.push([k + 1, s.epoch, s.x === null ? "all" : `(${fmt(s.x)}, ${fmt(s.y)})`, fmt(s.prediction), fmt(s.error),
      fmt(s.gradient), `${fmt(s.w_before)} → ${fmt(s.w)}`].concat(two ? [fmt(s.gradient_b), `${fmt(s.b_before)} → ${fmt(s.b)}`] : []));
  }
  const thead = el("thead"), tr = el("tr");
  head.forEach((h) => tr.append(el("th", "", h)));
  thead.append(tr);
  const tbody = el("tbody");
  rows.forEach((r, k) => {
    const row = el("tr", k === rows.length - 1 ? "current" : "");
    r.forEach((v) => row.append(el("td", "", String(v))));
    tbody.append(row);
  });
  view.table.replaceChildren(thead, tbody);
}

// ------------------------------------------------------------------ labels

const cellLabel = (t, i) => `Step ${i + 1} of ${t.steps.length}: output row ${t.steps[i].out[0]}, column ${t.steps[i].out[1]}`;
const LABEL = {
  convolution: cellLabel,
  pooling: cellLabel,
  descent: (t, i) => {
    const s = t.steps[i];
    return `Step ${i + 1} of ${t.steps.length}: epoch ${s.epoch}` + (s.x === null ? ", all points" : `, point (${fmt(s.x)}, ${fmt(s.y)})`);
  },
};
const BUILD = { convolution: buildConvolution, pooling: buildPooling, descent: buildDescent };
const RENDER = { convolution: renderConvolution, pooling: renderPooling, descent: renderDescent };

// ------------------------------------------------------------------ loading inputs

function loadExample(mode) {
  const f = form(mode).elements;
  if (mode === "descent") { f.points.value = pointsText(DATA.examples.descent.points); return; }
  if (mode === "pooling") { f.input.value = gridText(DATA.examples.pooling.input); return; }
  const ex = f.channels.value === "3" ? DATA.examples.convolution_rgb : DATA.examples.convolution;
  f.input.value = gridText(ex.input);
  f.kernel.value = gridText(ex.kernel);
  f.preset.value = "";
}
function randomInts(rows, cols) {
  return Array.from({ length: rows }, () => Array.from({ length: cols }, () => Math.floor(Math.random() * 10)));
}
function loadRandom(mode) {
  const f = form(mode).elements;
  if (mode === "descent") {
    const w = Math.round((Math.random() * 3 - 1) * 10) / 10, b = Math.round((Math.random() * 4 - 2) * 10) / 10;
    f.points.value = pointsText(Array.from({ length: 8 }, (_, k) => {
      const x = Math.round((k * 6 / 7 - 3) * 10) / 10;
      return [x, Math.round((w * x + b + (Math.random() - 0.5)) * 10) / 10];
    }));
    return;
  }
  const n = Math.max(2, Math.min(64, Number(f.random_size.value) || 7));
  const channels = mode === "convolution" && f.channels.value === "3" ? 3 : 1;
  const grid = Array.from({ length: channels }, () => randomInts(n, n));
  f.input.value = gridText(channels === 1 ? grid[0] : grid);
}
async function loadImage(imageId) {
  const f = form("convolution").elements;
  const n = Math.max(2, Math.min(64, Number(f.image_size.value) || 14));
  const channels = f.channels.value === "3" ? "rgb" : "gray";
  let data;
  try {
    data = await fetchJSON(`/api/v1/images/${encodeURIComponent(imageId)}/grid?rows=${n}&cols=${n}&channels=${channels}`);
  } catch (e) { showStageError("convolution", e); return; }
  f.input.value = gridText(data.input);
  refresh();
}
async function uploadImage(file) {
  const body = new FormData();
  body.append("file", file);
  let data;
  try { data = await fetchJSON("/api/v1/images", { body }); } catch (e) {
    showStageError("convolution", { message: e.message, field: "input" });
    return;
  }
  loadImage(data.id);
}
function applyPreset(key) {
  const preset = DATA.presets.find((p) => p.key === key);
  if (!preset) return;
  const f = form("convolution").elements;
  const channels = f.channels.value === "3" ? 3 : 1;
  f.kernel.value = gridText(channels === 1 ? preset.matrix : Array.from({ length: channels }, () => preset.matrix));
}

// ------------------------------------------------------------------ the address bar

function saveUrl() {
  const params = new URLSearchParams({ mode: state.mode });
  for (const e of form().elements) {
    if (!e.name || NOT_SHARED.has(e.name)) continue;
    if (e.type === "checkbox") params.set(e.name, e.checked ? "1" : "0");
    else if (e.tagName === "TEXTAREA") params.set(e.name, compact(e.value));
    else params.set(e.name, e.value);
  }
  params.set("step", String(state.step + 1));
  const url = `${location.pathname}?${params}`;
  history.replaceState(null, "", url);
  $("#share-link").href = url;
}
function loadUrl() {
  const params = new URLSearchParams(location.search);
  const mode = MODES.includes(params.get("mode")) ? params.get("mode") : "convolution";
  for (const e of form(mode).elements) {
    if (!e.name || !params.has(e.name)) continue;
    const v = params.get(e.name);
    if (e.type === "checkbox") e.checked = v === "1";
    else if (e.tagName === "TEXTAREA") e.value = e.name === "points" ? expand(v).replace(/ /g, ", ") : gridText(parseGrid(expand(v)));
    else e.value = v;
  }
  return { mode, step: Math.max(0, (Number(params.get("step")) || 1) - 1) };
}

function showMode(mode) {
  state.mode = mode;
  $$("[role=tab]").forEach((t) => t.setAttribute("aria-selected", String(t.dataset.mode === mode)));
  $$(".mode-form").forEach((f) => { f.hidden = f.dataset.mode !== mode; });
  $$(".explain [data-mode]").forEach((d) => { d.hidden = d.dataset.mode !== mode; });
  $("#stage").classList.toggle("descent-stage", mode === "descent");
}
function syncModelFields() {
  const two = form("descent").elements.model.value === "wb";
  $$("[data-only=wb]").forEach((e) => { e.hidden = !two; });
}

// ------------------------------------------------------------------ wiring

let debounce = null;
// Typed fields re-fetch a moment after the last keystroke; selects and switches at once.
document.addEventListener("input", (e) => {
  const t = e.target, f = t.form;
  if (!f || !f.classList.contains("mode-form") || NOT_SHARED.has(t.name)) return;
  if (t.tagName === "SELECT" || t.type === "checkbox") return;
  if (t.name === "kernel") f.elements.preset.value = "";
  clearTimeout(debounce);
  debounce = setTimeout(() => refresh({ keepStep: true }), 250);
});
document.addEventListener("change", (e) => {
  const t = e.target, f = t.form;
  if (!f || !f.classList.contains("mode-form")) return;
  if (t.name === "file") { if (t.files.length) uploadImage(t.files[0]); return; }
  if (t.tagName !== "SELECT" && t.type !== "checkbox") return;
  if (t.name === "image_id") return; // loads on its button
  if (t.name === "preset") applyPreset(t.value);
  if (t.name === "channels") loadExample("convolution");
  if (t.name === "model") syncModelFields();
  refresh({ keepStep: true });
});
document.addEventListener("click", (e) => {
  const load = e.target.dataset && e.target.dataset.load;
  if (load) {
    const mode = e.target.closest("form").dataset.mode;
    if (load === "image") { loadImage(form(mode).elements.image_id.value); return; }
    (load === "example" ? loadExample : loadRandom)(mode);
    refresh();
    return;
  }
  const go = e.target.closest && e.target.closest("[data-go]");
  if (go && state.trace) {
    const last = state.trace.steps.length - 1;
    const where = { first: 0, prev: state.step - 1, next: state.step + 1, last }[go.dataset.go];
    if (go.dataset.go === "play") toggle();
    else { pause(); setStep(where); }
    return;
  }
  const tab = e.target.closest && e.target.closest("[role=tab]");
  if (tab) { pause(); showMode(tab.dataset.mode); state.trace = null; refresh(); }
});
$("#scrub").addEventListener("input", (e) => { pause(); setStep(Number(e.target.value)); });
$("#speed").addEventListener("change", () => { if (state.timer) { pause(); play(); } });
document.addEventListener("keydown", (e) => {
  if (e.target.closest && e.target.closest("input, textarea, select, button") || !state.trace) return;
  const moves = { ArrowRight: state.step + 1, ArrowLeft: state.step - 1, Home: 0, End: state.trace.steps.length - 1 };
  if (e.key in moves) { e.preventDefault(); pause(); setStep(moves[e.key]); }
  else if (e.key === " ") { e.preventDefault(); toggle(); }
});
window.addEventListener("resize", () => { if (state.mode === "descent" && state.trace) setStep(state.step); });

// First view: the slides' examples everywhere, then whatever the address asks for.
MODES.forEach(loadExample);
const start = loadUrl();
showMode(start.mode);
syncModelFields();
state.step = start.step;
refresh({ keepStep: true });
