// The sequence lab. Every number it shows comes from /api/v1/sequences/...: one trace per change
// of section 1 (played here, so stepping never waits), two gradient-flow curves per slider move
// (only the newest pair is drawn), runs followed by their server-sent events, and a trained
// model's generations and classifications.
import { $, $$, axes, clearError, dot, el, fetchJSON, fmt, latest, polyline, showError } from "./lib.js";

const DATA = JSON.parse($("#sequences-data").textContent);
const CELL_NAME = { rnn: "RNN", lstm: "LSTM", gru: "GRU" };
const CELL_COLOUR = { rnn: "#d97706", lstm: "#4f46e5", gru: "#0d9488" };
const FINAL = new Set(["completed", "stopped", "failed", "interrupted"]);

// ------------------------------------------------------------------ small helpers

/** A value as typed: a number when it is one, else the text itself (so the API says what is wrong). */
function numOrText(v) {
  const t = String(v).trim().replace(/[−–]/g, "-");
  return t !== "" && Number.isFinite(Number(t)) ? Number(t) : v;
}
const intOrText = (v) => (/^\s*\d+\s*$/.test(v) ? Number(v) : v);
/** A character as a label: blanks and line ends made visible. */
const shown = (c) => ({ " ": "␣", "\n": "↵", "\t": "⇥" }[c] ?? c);
const SUB = { "-": "₋", 0: "₀", 1: "₁", 2: "₂", 3: "₃", 4: "₄", 5: "₅", 6: "₆", 7: "₇", 8: "₈", 9: "₉" };
const sub = (n) => String(n).split("").map((d) => SUB[d] ?? d).join("");
const SUP = { "-": "⁻", 0: "⁰", 1: "¹", 2: "²", 3: "³", 4: "⁴", 5: "⁵", 6: "⁶", 7: "⁷", 8: "⁸", 9: "⁹" };
const pow10 = (k) => `10${String(k).split("").map((d) => SUP[d] ?? d).join("")}`;
const pct = (p) => `${(100 * p).toFixed(p >= 0.995 || p < 0.1 ? 1 : 0)}%`;
/** Red for positive, blue for negative (as in every lab); strength by |v| / bound. */
function tint(v, bound = 1, alpha = 0.75) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "";
  const a = Math.min(1, Math.abs(v) / (bound || 1)) * alpha;
  return v >= 0 ? `rgba(178, 24, 43, ${a.toFixed(3)})` : `rgba(33, 102, 172, ${a.toFixed(3)})`;
}
/** The same diverging scale as RGB, blended over white (for canvases). */
function divergingRGB(v, bound = 1) {
  const a = Math.min(1, Math.abs(v) / (bound || 1));
  const [r, g, b] = v >= 0 ? [178, 24, 43] : [33, 102, 172];
  return [255 + (r - 255) * a, 255 + (g - 255) * a, 255 + (b - 255) * a].map(Math.round);
}
/** Text that reads well on a tinted cell. */
const inkOn = (v, bound = 1) => (Math.abs(v) / (bound || 1) > 0.8 ? "white" : "");
/** Three decimals, always (so a column of numbers lines up), a true minus sign. */
const num3 = (v) => v.toFixed(3).replace("-", "−");
const sci = (x) => x.toExponential(0).replace("e+", "e").replace("-", "−");

/** The API's refusal beside the control it names (in `form`), else in `banner`. */
function showFieldError(form, banner, error, aliases = {}) {
  const field = aliases[error.field] ?? error.field;
  const slot = field && $(`[data-error-for="${field}"]`, form);
  if (slot) slot.textContent = error.message;
  showError(banner, slot ? "" : error.message);
}
function clearFieldErrors(form, banner) {
  $$(".field-error", form).forEach((e) => { e.textContent = ""; });
  if (banner) clearError(banner);
}
const offline = (e) => (e.status ? e : { message: "The app did not answer; is it still running?" });
/** Whether some of `node` is on screen (keys step the cell only while its section is seen). */
function onScreen(node) {
  const r = node.getBoundingClientRect();
  return r.bottom > 60 && r.top < window.innerHeight - 60;
}

/** Follows a run's events: `on[type](data)` for each; closed once the run has ended. */
function follow(run, on) {
  const source = new EventSource(run.events_url);
  for (const type of ["start", "progress", "snapshot", "epoch", "done", "memory", "memory_result"]) {
    if (on[type]) source.addEventListener(type, (e) => on[type](JSON.parse(e.data)));
  }
  source.addEventListener("status", (e) => {
    const d = JSON.parse(e.data);
    on.status?.(d);
    if (FINAL.has(d.status)) source.close();
  });
  return source;
}
const stopRun = (id) => fetchJSON(`/api/v1/training-runs/${id}/cancel`, { body: {} });

// ================================================================== 1. a cell by hand

const cellForm = $("#cell-form");
const cell = { trace: null, inputs: null, step: 0, timer: null };

/** The inputs as the form says: one-hot characters over the text's own characters, or numbers. */
function cellInputs() {
  const f = cellForm.elements;
  if (f.mode.value === "text") {
    const chars = [...f.text.value];
    const vocab = [...new Set(chars)];
    return { mode: "text", vocab, labels: chars.map(shown),
      rows: chars.map((ch) => vocab.map((v) => (v === ch ? 1 : 0))) };
  }
  const values = f.numbers.value.split(/[\s,;]+/).filter((t) => t).map(numOrText);
  return { mode: "numbers", vocab: null, labels: values.map((v) => (typeof v === "number" ? fmt(v) : String(v))),
    rows: values.map((v) => [v]) };
}

const fetchTrace = latest((signal, body) => fetchJSON("/api/v1/sequences/trace", { body, signal }));

async function refreshCell({ keepStep = false } = {}) {
  const f = cellForm.elements;
  const inputs = cellInputs();
  const body = { cell: f.cell.value, input_size: Math.max(1, inputs.rows[0]?.length ?? 1),
    hidden_size: intOrText(f.hidden_size.value), inputs: inputs.rows, seed: intOrText(f.seed.value) };
  saveCellUrl();
  let trace;
  try {
    trace = await fetchTrace(body);
    if (trace === undefined) return; // a newer request took over
  } catch (e) {
    clearFieldErrors(cellForm, "#cell-error");
    showFieldError(cellForm, "#cell-error", offline(e), { input_size: "inputs" });
    $("#cell-body").classList.add("stale");
    return;
  }
  clearFieldErrors(cellForm, "#cell-error");
  $("#cell-body").classList.remove("stale");
  pauseCell();
  cell.trace = trace;
  cell.inputs = inputs;
  buildUnrolled(trace, inputs);
  buildOneHot(inputs);
  $("#cell-equations").replaceChildren(...trace.equations.map((e) => el("li", "", e)));
  setCellStep(keepStep ? cell.step : 0);
}

function setCellStep(i) {
  if (!cell.trace) return;
  const last = cell.trace.steps.length - 1;
  cell.step = Math.max(0, Math.min(i, last));
  const scrub = $("#cell-scrub");
  scrub.max = last;
  scrub.value = cell.step;
  const s = cell.trace.steps[cell.step];
  const what = cell.inputs.mode === "text" ? `reads “${cell.inputs.labels[cell.step]}”` : `reads ${cell.inputs.labels[cell.step]}`;
  $("#cell-label").textContent = `Step ${cell.step + 1} of ${cell.trace.steps.length}: x${sub(s.t)} ${what}`;
  $("#cell-expression").textContent = s.expression;
  renderUnrolled(cell.step);
  renderOneHot(cell.step);
  renderCellState(cell.trace, cell.step);
  saveCellUrl();
}
function playCell() {
  if (!cell.trace) return;
  if (cell.step >= cell.trace.steps.length - 1) setCellStep(0);
  cell.timer = setInterval(() => {
    if (cell.step >= cell.trace.steps.length - 1) { pauseCell(); return; }
    setCellStep(cell.step + 1);
  }, 1000 / Number($("#cell-speed").value));
  $("#cell-play").textContent = "‖ Pause";
}
function pauseCell() {
  clearInterval(cell.timer);
  cell.timer = null;
  $("#cell-play").textContent = "▶ Play";
}

// ------------------------------------------------------------------ the unrolled picture

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
function arrow(parent, x1, y1, x2, y2, cls = "") {
  parent.append(svg("line", { x1, y1, x2, y2, class: `arrow ${cls}`, "marker-end": "url(#seq-arrowhead)" }));
}

/** x_t boxes under h_t boxes, outputs above; h_{t−1} → h_t arrows, each with the same W_hh. */
function buildUnrolled(trace, inputs) {
  const T = trace.steps.length, H = trace.hidden_size;
  const lstm = trace.cell === "lstm";
  // columns as wide as the frame allows (a short sequence gets room for its labels)
  const left = 92, fit = Math.floor(($("#unrolled").clientWidth - left - 10) / T);
  const cw = Math.max(64, Math.min(128, fit)), boxW = Math.min(cw - 34, 72), stripW = boxW - 12;
  const yOut = 10, yH = 74, boxH = 58, yX = 186, width = left + T * cw + 8, height = 236;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "unrolled", role: "img",
    "aria-label": `${CELL_NAME[trace.cell]} unrolled over ${T} steps` });
  const defs = svg("defs");
  const marker = svg("marker", { id: "seq-arrowhead", viewBox: "0 0 10 10", refX: 9, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
  marker.append(svg("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" }));
  defs.append(marker);
  root.append(defs);
  // the state before the first step
  const t0 = trace.steps[0].t;
  const init = svg("g", { class: "init" });
  init.append(svg("rect", { x: 6, y: yH + 4, width: 62, height: boxH - 8, rx: 8, class: "init-box" }),
    svg("text", { x: 37, y: yH + 24, class: "box-label" }, `h${sub(t0 - 1)} = 0`),
    svg("text", { x: 37, y: yH + 42, class: "small-label" }, lstm ? `c${sub(t0 - 1)} = 0` : "start"));
  root.append(init);
  const view = { root, cols: [], strips: [], cw, left };
  trace.steps.forEach((s, k) => {
    const cx = left + k * cw + cw / 2;
    const g = svg("g", { class: "col", "data-step": k });
    g.append(svg("rect", { x: cx - cw / 2 + 2, y: 2, width: cw - 4, height: height - 4, rx: 8, class: "col-band" }));
    // the recurrent arrows from the step before
    const fromX = k === 0 ? 68 : cx - cw + boxW / 2;
    if (lstm) {
      arrow(g, fromX, yH + 14, cx - boxW / 2, yH + 14, "c-arrow");
      g.append(svg("text", { x: (fromX + cx - boxW / 2) / 2, y: yH + 9, class: "w-label c-label" }, "c"));
    }
    arrow(g, fromX, yH + boxH - 14, cx - boxW / 2, yH + boxH - 14);
    g.append(svg("text", { x: (fromX + cx - boxW / 2) / 2, y: yH + boxH - 19, class: "w-label" }, cw >= 90 ? "W_hh" : "W"));
    // the cell box with its state as a strip of coloured units
    g.append(svg("rect", { x: cx - boxW / 2, y: yH, width: boxW, height: boxH, rx: 8, class: "h-box" }));
    g.append(svg("text", { x: cx, y: yH + 17, class: "box-label" }, `h${sub(s.t)}`));
    const strip = [];
    const uw = stripW / H;
    for (let u = 0; u < H; u++) {
      const r = svg("rect", { x: cx - stripW / 2 + u * uw, y: yH + 26, width: Math.max(1, uw - 1), height: 16, class: "unit" });
      r.append(svg("title"));
      g.append(r);
      strip.push(r);
    }
    view.strips.push(strip);
    g.append(svg("text", { x: cx, y: yH + boxH - 5, class: "small-label" }, CELL_NAME[trace.cell]));
    // input below, output above
    arrow(g, cx, yX, cx, yH + boxH + 2);
    g.append(svg("text", { x: cx + 5, y: (yX + yH + boxH) / 2 + 4, class: "w-label side" }, "W_ih"));
    g.append(svg("rect", { x: cx - 22, y: yX, width: 44, height: 34, rx: 6, class: "x-box" }));
    g.append(svg("text", { x: cx, y: yX + 22, class: "x-label" }, inputs.labels[k]));
    g.append(svg("text", { x: cx, y: yX + 48, class: "small-label" }, `x${sub(s.t)}`));
    arrow(g, cx, yH - 2, cx, yOut + 30);
    g.append(svg("rect", { x: cx - 20, y: yOut, width: 40, height: 26, rx: 13, class: "y-box" }));
    g.append(svg("text", { x: cx, y: yOut + 17, class: "small-label" }, `y${sub(s.t)}`));
    root.append(g);
    view.cols.push(g);
  });
  const frame = $("#unrolled");
  frame.replaceChildren(root);
  cell.view = view;
}

function renderUnrolled(i) {
  const { cols, strips } = cell.view;
  const bound = Math.max(1e-9, ...cell.trace.steps.flatMap((s) => s.h.map(Math.abs)));
  cols.forEach((g, k) => {
    g.classList.toggle("current", k === i);
    g.classList.toggle("future", k > i);
    strips[k].forEach((r, u) => {
      const v = cell.trace.steps[k].h[u];
      r.setAttribute("fill", k <= i ? tint(v, bound, 0.95) || "white" : "white");
      r.firstChild.textContent = `h${sub(cell.trace.steps[k].t)}[${u}] = ${fmt(v)}`;
    });
  });
  const frame = $("#unrolled");
  const x = cell.view.left + i * cell.view.cw;
  if (x < frame.scrollLeft + 40 || x + cell.view.cw > frame.scrollLeft + frame.clientWidth - 20) {
    frame.scrollLeft = Math.max(0, x - frame.clientWidth / 2);
  }
}

// ------------------------------------------------------------------ the one-hot table

function buildOneHot(inputs) {
  const box = $("#onehot");
  const table = el("table", "onehot-table");
  const head = el("tr");
  head.append(el("th", "", inputs.mode === "text" ? "x_t" : "t"));
  inputs.labels.forEach((label, k) => head.append(el("th", "", inputs.mode === "text" ? label : String(k))));
  table.append(head);
  const rows = inputs.mode === "text" ? inputs.vocab.map((c, j) => [shown(c), inputs.rows.map((r) => r[j])])
    : [["x_t", inputs.rows.map((r) => r[0])]];
  rows.forEach(([name, values]) => {
    const tr = el("tr");
    tr.append(el("th", "", name));
    values.forEach((v) => {
      const td = el("td", inputs.mode === "text" && v === 1 ? "hot" : "", typeof v === "number" ? fmt(v) : String(v));
      tr.append(td);
    });
    table.append(tr);
  });
  const caption = inputs.mode === "text"
    ? `One-hot: ${inputs.vocab.length} distinct character${inputs.vocab.length === 1 ? "" : "s"}, so input_size = ${inputs.vocab.length}`
    : "One number per step: input_size = 1";
  box.replaceChildren(el("p", "onehot-caption", caption), el("div", "onehot-scroll"));
  box.lastChild.append(table);
}
function renderOneHot(i) {
  $$("#onehot tr").forEach((tr) => [...tr.children].forEach((c, k) => c.classList.toggle("now", k === i + 1)));
}

// ------------------------------------------------------------------ inside the cell

const GATES = {
  lstm: [["input", "i", "input gate: how much of the candidate to write", "unit"],
    ["forget", "f", "forget gate: how much of c_{t−1} to keep", "unit"],
    ["cell", "g", "candidate cell: what could be written", "signed"],
    ["output", "o", "output gate: how much of tanh(c_t) to show", "unit"]],
  gru: [["reset", "r", "reset gate: how much of h_{t−1} the candidate sees", "unit"],
    ["update", "z", "update gate: how much of h_{t−1} to keep", "unit"],
    ["new", "n", "new (candidate) state", "signed"]],
};

/** A gate's values as bars: sigmoid ones fill from 0 to 1, signed ones from the middle. */
function gateRow(symbol, t, note, values, kind) {
  const row = el("div", `gate-row ${kind}`);
  const name = el("div", "gate-name");
  name.append(el("span", "sym", `${symbol}${sub(t)}`), el("span", "note", note));
  row.append(name);
  const bars = el("div", "gate-bars");
  values.forEach((v, u) => {
    const b = el("div", "gbar", undefined, { title: `${symbol}${sub(t)}[${u}] = ${fmt(v)}` });
    const fill = el("span", "gfill");
    if (kind === "unit") fill.style.height = `${Math.max(0, Math.min(1, v)) * 100}%`;
    else {
      const half = Math.min(1, Math.abs(v)) * 50;
      fill.style.height = `${half}%`;
      fill.style[v >= 0 ? "bottom" : "top"] = "50%";
      fill.classList.add(v >= 0 ? "pos" : "neg");
    }
    b.append(fill);
    const cellBox = el("div", "gcell");
    cellBox.append(b, el("span", "gnum", num3(v)));
    bars.append(cellBox);
  });
  row.append(bars);
  return row;
}
/** A state vector as numbers in coloured cells. */
function stateRow(symbol, note, values, bound) {
  const row = el("div", "gate-row state");
  const name = el("div", "gate-name");
  name.append(el("span", "sym", symbol), el("span", "note", note));
  const cells = el("div", "gate-bars");
  values.forEach((v, u) => {
    const c = el("div", "vcell", num3(v), { title: `${symbol}[${u}] = ${fmt(v)}` });
    c.style.background = tint(v, bound);
    c.style.color = inkOn(v, bound);
    cells.append(c);
  });
  row.append(name, cells);
  return row;
}

function renderCellState(trace, i) {
  const s = trace.steps[i], prev = trace.steps[i - 1];
  const H = trace.hidden_size, t = s.t;
  const zeros = Array(H).fill(0);
  const box = $("#cell-state");
  const rows = [];
  const hBound = 1, cBound = Math.max(1, ...trace.steps.flatMap((x) => (x.c || []).map(Math.abs)));
  const units = el("div", "gate-row units-head");
  units.append(el("div", "gate-name"), el("div", "gate-bars"));
  for (let u = 0; u < H; u++) units.lastChild.append(el("div", "unit-no", `unit ${u}`));
  rows.push(units);
  rows.push(stateRow(`h${sub(t - 1)}`, "the state it starts from", prev ? prev.h : zeros, hBound));
  if (trace.cell === "lstm") rows.push(stateRow(`c${sub(t - 1)}`, "the cell state it starts from", prev ? prev.c : zeros, cBound));
  for (const [key, symbol, note, kind] of GATES[trace.cell] || []) {
    if (s.gates && s.gates[key]) rows.push(gateRow(symbol, t, note, s.gates[key], kind));
  }
  if (trace.cell === "lstm") rows.push(stateRow(`c${sub(t)}`, "= f ⊙ c_{t−1} + i ⊙ g", s.c, cBound));
  rows.push(stateRow(`h${sub(t)}`, { rnn: "= tanh(W_ih x + W_hh h + b)", lstm: "= o ⊙ tanh(c_t)",
    gru: "= (1 − z) ⊙ n + z ⊙ h_{t−1}" }[trace.cell], s.h, hBound));
  rows[rows.length - 1].classList.add("final");
  $("#cell-state-title").textContent = { rnn: "Inside the RNN cell", lstm: "Inside the LSTM cell: four gates",
    gru: "Inside the GRU cell: two gates and a candidate" }[trace.cell];
  box.replaceChildren(...rows);
}

// ------------------------------------------------------------------ the address bar

function saveCellUrl() {
  const f = cellForm.elements;
  const params = new URLSearchParams({ cell: f.cell.value, hidden: f.hidden_size.value, seed: f.seed.value });
  if (f.mode.value === "text") params.set("text", f.text.value);
  else params.set("numbers", f.numbers.value);
  params.set("step", String(cell.step + 1));
  const url = `${location.pathname}?${params}${location.hash}`;
  history.replaceState(null, "", url);
  $("#cell-share").href = `${location.pathname}?${params}#cell`;
}
function loadCellUrl() {
  const params = new URLSearchParams(location.search);
  const f = cellForm.elements;
  if (["rnn", "lstm", "gru"].includes(params.get("cell"))) f.cell.value = params.get("cell");
  if (params.has("hidden")) f.hidden_size.value = params.get("hidden");
  if (params.has("seed")) f.seed.value = params.get("seed");
  if (params.has("numbers")) { f.mode.value = "numbers"; f.numbers.value = params.get("numbers"); }
  else if (params.has("text")) { f.mode.value = "text"; f.text.value = params.get("text"); }
  cell.step = Math.max(0, (Number(params.get("step")) || 1) - 1);
  syncCellMode();
}
function syncCellMode() {
  const mode = cellForm.elements.mode.value;
  $$("[data-mode]", cellForm).forEach((e) => { e.hidden = e.dataset.mode !== mode; });
}

function wireCell() {
  let debounce = null;
  cellForm.addEventListener("input", (e) => {
    if (e.target.type === "radio") return;
    clearTimeout(debounce);
    debounce = setTimeout(() => refreshCell({ keepStep: true }), 200);
  });
  cellForm.addEventListener("change", (e) => {
    if (e.target.type !== "radio") return;
    if (e.target.name === "mode") syncCellMode();
    refreshCell({ keepStep: e.target.name === "cell" });
  });
  $("#cell").addEventListener("click", (e) => {
    const go = e.target.closest("[data-go]");
    if (go && cell.trace) {
      const where = { first: 0, prev: cell.step - 1, next: cell.step + 1, last: cell.trace.steps.length - 1 }[go.dataset.go];
      if (go.dataset.go === "play") (cell.timer ? pauseCell() : playCell());
      else { pauseCell(); setCellStep(where); }
      return;
    }
    const col = e.target.closest(".col");
    if (col) { pauseCell(); setCellStep(Number(col.dataset.step)); }
  });
  $("#cell-scrub").addEventListener("input", (e) => { pauseCell(); setCellStep(Number(e.target.value)); });
  $("#cell-speed").addEventListener("change", () => { if (cell.timer) { pauseCell(); playCell(); } });
  document.addEventListener("keydown", (e) => {
    if (!cell.trace || e.target.closest("input, textarea, select, button") || !onScreen($("#cell"))) return;
    const moves = { ArrowRight: cell.step + 1, ArrowLeft: cell.step - 1, Home: 0, End: cell.trace.steps.length - 1 };
    if (e.key in moves) { e.preventDefault(); pauseCell(); setCellStep(moves[e.key]); }
    else if (e.key === " ") { e.preventDefault(); (cell.timer ? pauseCell() : playCell()); }
  });
  loadCellUrl();
  refreshCell({ keepStep: true });
}

// ================================================================== 2. the gradient flow

const flowForm = $("#flow-form");
const flow = { curves: null };
const fetchFlows = latest((signal, body) => Promise.all(["rnn", "lstm"].map((c) =>
  fetchJSON("/api/v1/sequences/gradient-flow", { body: { ...body, cell: c }, signal }))));

async function refreshFlow() {
  // by id: a form's own `length` is its count of controls
  const scale = $("#flow-scale").value, length = $("#flow-length").value, hidden = $("#flow-hidden").value;
  $("#flow-scale-out").textContent = Number(scale).toFixed(2);
  $("#flow-length-out").textContent = length;
  $("#flow-hidden-out").textContent = hidden;
  const forget = $("#flow-forget").value;
  $("#flow-forget-out").textContent = Number(forget).toFixed(2);
  const body = { hidden_size: Number(hidden), length: Number(length), weight_scale: Number(scale),
    forget_bias: Number(forget), seed: intOrText($("#flow-seed").value) };
  let curves;
  try {
    curves = await fetchFlows(body);
    if (curves === undefined) return;
  } catch (e) {
    $("[data-error-for=flow]", flowForm).textContent = offline(e).message;
    return;
  }
  $("[data-error-for=flow]", flowForm).textContent = "";
  flow.curves = curves;
  drawFlow(curves);
  $("#flow-reading").textContent = readFlow(curves);
}

/** Log-scale axes: the labs' axes over log10(y), relabelled as powers of ten. */
function logAxes(canvas, xRange, [lo, hi], xLabel, yLabel) {
  const a = axes(canvas, xRange, [lo, hi], xLabel, "");
  const { ctx, Y, m, w, h } = a;
  ctx.restore(); // unclipped, to relabel the left margin
  ctx.clearRect(0, 0, m.l - 1, h - m.b + 6);
  ctx.fillStyle = "#5d6678"; ctx.textAlign = "right"; ctx.font = "11px system-ui, sans-serif";
  const every = Math.max(1, Math.ceil((hi - lo) / 6));
  for (let k = Math.ceil(lo); k <= hi; k += every) ctx.fillText(pow10(k), m.l - 4, Y(k) + 4);
  if (yLabel) {
    ctx.save(); ctx.translate(11, m.t + (h - m.t - m.b) / 2); ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "center"; ctx.fillStyle = "#1d2330"; ctx.fillText(yLabel, 0, 0); ctx.restore();
  }
  ctx.save(); ctx.beginPath(); ctx.rect(m.l, m.t, w - m.l - m.r, h - m.t - m.b); ctx.clip();
  return a;
}

function drawFlow(curves) {
  const canvas = $("#flow-chart");
  const logs = curves.flatMap((c) => c.norms.filter((v) => v !== null && v > 0).map(Math.log10));
  let lo = Math.floor(Math.min(...logs, 0)), hi = Math.ceil(Math.max(...logs, 0));
  lo = Math.max(lo, hi - 60);
  if (hi - lo < 2) { lo -= 1; hi += 1; }
  const maxLag = Math.max(...curves.map((c) => Math.max(...c.lags)), 1);
  const { ctx, X, Y } = logAxes(canvas, [0, maxLag], [lo, hi], "lag: steps between the input x_t and the last state (T−1−t)", "");
  curves.forEach((c) => {
    const colour = CELL_COLOUR[c.cell];
    // a line through the finite values; an overflow (null) breaks it and is marked at the top
    let run = [];
    const flush = () => { if (run.length) polyline(ctx, run, colour, 2.5); run = []; };
    c.lags.forEach((lag, k) => {
      const v = c.norms[k];
      if (v === null) { flush(); dot(ctx, X(lag), Y(hi) + 4, 3, colour); return; }
      if (v <= 0) { flush(); return; }
      run.push([X(lag), Y(Math.max(lo, Math.log10(v)))]);
    });
    flush();
  });
  ctx.restore();
}

/** One sentence that reads the chart, from its numbers. */
function readFlow(curves) {
  const [rnn, lstm] = curves;
  const at = (c, lag) => c.norms[c.lags.indexOf(lag)];
  const overflow = rnn.lags.filter((lag, k) => rnn.norms[k] === null);
  if (overflow.length) {
    return `The RNN's gradient overflowed from lag ${Math.min(...overflow)} on: with recurrent weights this large it explodes` +
      (lstm.norms.every((v) => v !== null) ? ", while the LSTM's stays finite." : ", and so does the LSTM's.");
  }
  let lag = Math.min(50, Math.max(...rnn.lags));
  while (lag > 0 && !(at(rnn, lag) > 0 && at(lstm, lag) > 0)) lag -= 1;
  if (lag <= 0) return "";
  const r = at(rnn, lag), l = at(lstm, lag), ratio = r / l;
  // two significant figures throughout, so the three numbers read alike
  const size = (x) => (x > 100 || x < 0.01 ? sci(x) : String(Number(x.toPrecision(2))));
  const compare = ratio < 1 ? `${size(ratio)} of` : `${size(ratio)} times`;
  let text = `At lag ${lag} the RNN's gradient is ${compare} the LSTM's (${size(r)} against ${size(l)})`;
  const tiny = 1e-6;
  if (r > 10 * at(rnn, 0)) text += ": the RNN's grows with the lag, it explodes.";
  else if (r < tiny && l < tiny) text += `: both have all but vanished, so neither could learn from an input ${lag} steps back.`;
  else if (r < tiny) text += ": the RNN's has all but vanished, the LSTM's still carries the input back.";
  else if (l < tiny) text += ": the LSTM's has all but vanished, with these weights its forget gates close.";
  else text += ".";
  return text;
}

// ------------------------------------------------------------------ the memory task

const memory = { run: null, source: null, config: null, chance: null, bars: {} };

async function startMemory() {
  let run;
  try { run = await fetchJSON("/api/v1/sequences/memory-runs", { body: {} }); } catch (e) {
    $("#memory-status").textContent = offline(e).message;
    return;
  }
  memory.source?.close();
  Object.assign(memory, { run, config: null, bars: {} });
  $("#memory-start").disabled = true;
  $("#memory-stop").disabled = false;
  $("#memory-verdict").hidden = true;
  $("#memory-grid").replaceChildren();
  $("#memory-status").textContent = run.status === "queued" ? "waiting for a free worker…" : "starting…";
  memory.source = follow(run, {
    start: (d) => {
      memory.config = d.config;
      memory.chance = d.chance;
      buildMemoryGrid(d.config.cells, d.config.delays, d.chance);
      $("#memory-status").textContent = `chance is ${pct(d.chance)}: a cell that learned nothing guesses`;
    },
    memory: (d) => {
      const bar = memory.bars[`${d.cell}:${d.delay}`];
      if (!bar) return;
      $$(".memory-grid .training").forEach((c) => c.classList.remove("training"));
      bar.cell.classList.add("training");
      bar.fill.style.width = `${100 * d.accuracy}%`;
      bar.text.textContent = `${pct(d.accuracy)} · step ${d.step}`;
      bar.cell.title = `${CELL_NAME[d.cell]}, delay ${d.delay}: loss ${fmt(d.loss)}, accuracy ${pct(d.accuracy)} at step ${d.step}`;
    },
    memory_result: (d) => {
      const bar = memory.bars[`${d.cell}:${d.delay}`];
      if (!bar) return;
      bar.cell.classList.remove("training");
      bar.cell.classList.add(d.learned ? "learned" : "failed");
      bar.fill.style.width = `${100 * d.accuracy}%`;
      bar.text.textContent = `${pct(d.accuracy)} ${d.learned ? "✓ remembered" : "✗ forgot"}`;
    },
    done: (d) => showMemoryVerdict(d.metrics),
    status: (d) => {
      if (d.status === "running" && !memory.config) $("#memory-status").textContent = "training the first cell…";
      if (FINAL.has(d.status)) {
        $("#memory-start").disabled = false;
        $("#memory-stop").disabled = true;
        $$(".memory-grid .training").forEach((c) => c.classList.remove("training"));
        if (d.status !== "completed") $("#memory-status").textContent = `${d.status}${d.message ? `: ${d.message}` : ""}`;
        else $("#memory-status").textContent = "done";
      }
    },
  });
}

function buildMemoryGrid(cells, delays, chance) {
  const table = el("table", "memory-table");
  const head = el("tr");
  head.append(el("th", "", "delay"));
  cells.forEach((c) => { const th = el("th", "", CELL_NAME[c] || c); th.style.color = CELL_COLOUR[c]; head.append(th); });
  table.append(head);
  delays.forEach((delay) => {
    const tr = el("tr");
    tr.append(el("th", "", `${delay} blank${delay === 1 ? "" : "s"}`));
    cells.forEach((c) => {
      const td = el("td", "mem-cell");
      const bar = el("div", "mem-bar");
      const fill = el("span", "mem-fill");
      fill.style.background = CELL_COLOUR[c];
      const line = el("span", "mem-chance", undefined, { title: `chance: ${pct(chance)}` });
      line.style.left = `${100 * chance}%`;
      bar.append(fill, line);
      const text = el("span", "mem-text dim", "waiting");
      td.append(bar, text);
      tr.append(td);
      memory.bars[`${c}:${delay}`] = { cell: td, fill, text };
    });
    table.append(tr);
  });
  $("#memory-grid").replaceChildren(table);
}

/** The sweep in one sentence, from each cell's results: where it stopped remembering. */
function showMemoryVerdict(metrics) {
  const results = metrics.results || [];
  const cells = Object.keys(metrics.longest || {});
  const parts = cells.map((c, n) => {
    const name = `${n === 0 ? "The" : "the"} ${CELL_NAME[c] || c}`;
    const mine = results.filter((r) => r.cell === c);
    const learned = mine.filter((r) => r.learned).map((r) => r.delay);
    const failed = mine.filter((r) => !r.learned).map((r) => r.delay);
    if (!mine.length) return "";
    if (!failed.length) return `${name} remembered every delay, up to ${Math.max(...learned)}`;
    if (!learned.length) return `${name} learned none of them, not even a delay of ${Math.min(...failed)}`;
    const first = Math.min(...failed), best = Math.max(...learned);
    if (best < first) return c === "lstm" ? `${name} remembered up to ${best}` : `${name} stopped learning past a delay of ${best}`;
    const lucky = learned.filter((d) => d > first);
    return `${name} first failed at a delay of ${first} (though it managed ${lucky.join(" and ")} with this seed)`;
  }).filter(Boolean);
  const box = $("#memory-verdict");
  box.textContent = `${parts.join("; ")}.`;
  box.hidden = !parts.length;
}

function wireFlow() {
  flowForm.addEventListener("input", refreshFlow);
  window.addEventListener("resize", () => { if (flow.curves) drawFlow(flow.curves); });
  $("#memory-start").addEventListener("click", startMemory);
  $("#memory-stop").addEventListener("click", () => { if (memory.run) stopRun(memory.run.id).catch(() => {}); });
  refreshFlow();
}

// ================================================================== 3. train live

const trainForm = $("#train-form");
const train = { run: null, source: null, task: null, trainLoss: [], valLoss: [], baseline: null,
  totalSteps: 1, snapshots: 0, heatmap: null, unit: 0, paused: false };

function datasetInfo() {
  const name = trainForm.elements.dataset.value;
  const d = DATA.datasets.find((x) => x.name === name);
  const box = $("#train-dataset-info");
  if (!d) { box.textContent = ""; return; }
  // {train_chars, val_chars} (or names, values) → "82,458 characters to train on, 9,139 held out"
  const unit = { chars: "characters", names: "names", values: "values" };
  const train = Object.entries(d.size).find(([k]) => k.startsWith("train_"));
  const val = Object.entries(d.size).find(([k]) => k.startsWith("val_"));
  const size = train && val ? `${train[1].toLocaleString("en")} ${unit[train[0].slice(6)] ?? train[0].slice(6)} to train on, ` +
    `${val[1].toLocaleString("en")} held out to validate` : "";
  const kind = { text: "a text: the model learns to write like it", labeled: `names labelled by language (${d.classes.length}): the model learns to tell them apart`,
    series: "a series: the model learns to forecast it" }[d.kind];
  box.replaceChildren(el("span", "", `${kind}. ${size}`), el("br"), el("code", "preview", d.preview.slice(0, 120).replace(/\n/g, " · ")));
}

function trainBody() {
  const f = trainForm.elements;
  const body = { dataset: f.dataset.value, cell: f.cell.value, layers: intOrText(f.layers.value),
    hidden_size: intOrText(f.hidden_size.value), embedding: intOrText(f.embedding.value),
    seq_len: intOrText(f.seq_len.value), batch_size: intOrText(f.batch_size.value),
    optimizer: f.optimizer.value, learning_rate: numOrText(f.learning_rate.value),
    clip: numOrText(f.clip.value), epochs: intOrText(f.epochs.value), seed: intOrText(f.seed.value) };
  return body;
}

async function startTraining() {
  clearFieldErrors(trainForm, "#train-error");
  let run;
  try { run = await fetchJSON("/api/v1/sequences/training-runs", { body: trainBody() }); } catch (e) {
    showFieldError(trainForm, "#train-error", offline(e));
    return;
  }
  train.source?.close();
  Object.assign(train, { run, task: null, trainLoss: [], valLoss: [], baseline: null, totalSteps: 1,
    snapshots: 0, heatmap: null, unit: 0, paused: false });
  $("#train-run-id").textContent = run.id;
  setTrainStatus(run.status);
  $("#samples").replaceChildren();
  $("#examples").replaceChildren();
  $("#unit-text").replaceChildren();
  $("#train-save-status").textContent = "";
  $("#train-message").hidden = true;
  $("#train-progress").value = 0;
  ["epoch", "step", "loss", "speed", "left"].forEach((k) => { $(`#fact-${k}`).textContent = "–"; });
  const dataset = trainForm.elements.dataset.value;
  $("#train-save-name").value = `my-${dataset}-${trainForm.elements.cell.value}`.slice(0, 64);
  train.source = follow(run, { start: onTrainStart, progress: onProgress, snapshot: onSnapshot,
    epoch: onEpoch, done: onDone, status: onTrainStatus });
}

function setTrainStatus(status) {
  const badge = $("#train-status");
  badge.textContent = status;
  badge.className = `status status-${status}`;
  const live = ["queued", "running", "paused"].includes(status);
  $("#train-pause").disabled = !["running", "paused"].includes(status);
  $("#train-pause").textContent = status === "paused" ? "▶ Resume" : "‖ Pause";
  $("#train-pause").classList.toggle("primary", status === "paused");
  $("#train-stop").disabled = !live;
  $("#train-start").disabled = live;
}

function onTrainStart(d) {
  train.task = d.task;
  train.baseline = d.baseline;
  train.totalSteps = d.total_steps || 1;
  const isSeries = d.task === "forecast";
  $("#forecast-panel").hidden = !isSeries;
  $("#samples-panel").hidden = d.task !== "generate";
  $("#heatmap-panel").hidden = d.task !== "generate";
  $("#examples-panel").hidden = d.task !== "classify";
  const base = d.baseline.bigram_val_loss !== undefined
    ? `the bigram baseline (dashed): ${fmt(d.baseline.bigram_val_loss)} nats${d.task === "generate" ? " per character" : " per name"}` +
      (d.baseline.bigram_accuracy !== undefined ? `, ${pct(d.baseline.bigram_accuracy)} right` : "")
    : `repeating the last value (dashed): MSE ${fmt(d.baseline.persistence_mse)}`;
  $("#loss-caption").textContent = `${CELL_NAME[d.cell] || d.cell}, ${d.params?.toLocaleString("en") ?? "?"} weights, ` +
    `${d.train_size.toLocaleString("en")} training ${isSeries ? "values" : d.task === "classify" ? "names" : "characters"}. ` +
    `Beat ${base}.`;
  drawLoss();
}

function onProgress(d) {
  train.trainLoss.push([d.step, d.loss]);
  $("#train-progress").value = d.step / (d.batches || train.totalSteps);
  $("#fact-epoch").textContent = d.epoch;
  $("#fact-step").textContent = `${d.step} of ${d.batches}`;
  $("#fact-loss").textContent = fmt(d.loss);
  const unit = train.task === "classify" ? "names" : train.task === "forecast" ? "values" : "chars";
  $("#fact-speed").textContent = `${Math.round(d.chars_per_s).toLocaleString("en")} ${unit}/s`;
  $("#fact-left").textContent = d.seconds_left < 60 ? `${Math.ceil(d.seconds_left)} s` : `${Math.round(d.seconds_left / 60)} min`;
  drawLoss();
}

function onSnapshot(d) {
  train.snapshots += 1;
  if (d.val_loss !== undefined && Number.isFinite(d.val_loss)) {
    const last = train.valLoss[train.valLoss.length - 1];
    if (!last || last[0] !== d.step) train.valLoss.push([d.step, d.val_loss]);
    drawLoss();
  }
  if (d.samples) addSamples(d);
  if (d.heatmap) {
    train.heatmap = d.heatmap;
    $("#heatmap-hint").hidden = true;
    $("#heatmap").hidden = false;
    drawHeatmap();
    showUnit(train.unit);
  }
  if (d.forecast) drawForecast(d.forecast);
  if (d.examples) showExamples(d);
}

function onEpoch(d) {
  const last = train.valLoss[train.valLoss.length - 1];
  if (Number.isFinite(d.val_loss) && (!last || last[0] !== d.step)) train.valLoss.push([d.step, d.val_loss]);
  drawLoss();
}
function onDone(d) {
  const m = d.metrics || {};
  const parts = [`${d.reason || "done"}: validation loss ${fmt(m.val_loss)}`];
  if (m.bigram_val_loss !== undefined) parts.push(`bigram ${fmt(m.bigram_val_loss)}`);
  if (m.persistence_mse !== undefined) parts.push(`repeating the last value ${fmt(m.persistence_mse)}`);
  if (m.val_accuracy !== undefined) parts.push(`accuracy ${pct(m.val_accuracy)}`);
  const msg = $("#train-message");
  msg.textContent = `${parts.join(", ")}. ${m.steps ?? ""} steps in ${fmt(Math.round(m.seconds ?? 0))} s.`;
  msg.hidden = false;
}
function onTrainStatus(d) {
  setTrainStatus(d.status);
  if (FINAL.has(d.status)) {
    $("#train-save").disabled = !d.has_weights;
    if (d.message) { $("#train-message").textContent = d.message; $("#train-message").hidden = false; }
  }
}

// ------------------------------------------------------------------ the loss chart

function drawLoss() {
  const canvas = $("#loss-chart");
  const tr = train.trainLoss, va = train.valLoss;
  const base = train.baseline ? (train.baseline.bigram_val_loss ?? train.baseline.persistence_mse) : undefined;
  const ys = [...tr.map((p) => p[1]), ...va.map((p) => p[1]), ...(base !== undefined ? [base] : [])].filter(Number.isFinite);
  if (!ys.length) { axes(canvas, [0, train.totalSteps], [0, 1], "step", lossLabel()).ctx.restore(); return; }
  const lo = Math.min(0, ...ys), hi = Math.max(...ys) * 1.08;
  // the steps so far and a little room: the whole run's length would squash an early curve
  const seen = Math.max(0, ...tr.map((p) => p[0]), ...va.map((p) => p[0]));
  const xMax = Math.min(train.totalSteps, Math.max(20, Math.ceil(seen * 1.2)));
  const { ctx, X, Y, m, w } = axes(canvas, [0, xMax], [lo, hi], "step", lossLabel());
  if (base !== undefined) polyline(ctx, [[X(0), Y(base)], [X(xMax), Y(base)]], "#5d6678", 1.5, [6, 4]);
  if (tr.length) polyline(ctx, tr.map(([x, y]) => [X(x), Y(y)]), "#4f46e5", 2);
  if (va.length) {
    polyline(ctx, va.map(([x, y]) => [X(x), Y(y)]), "#d97706", 2);
    va.forEach(([x, y]) => dot(ctx, X(x), Y(y), 3.5, "#d97706"));
  }
  ctx.restore();
  const keys = [["training", "#4f46e5", []], ["validation", "#d97706", []],
    [train.task === "forecast" ? "repeat last value" : "bigram baseline", "#5d6678", [6, 4]]];
  ctx.font = "12px system-ui, sans-serif"; ctx.textAlign = "left";
  keys.forEach(([name, colour, dash], n) => {
    const x = w - m.r - 140, y = m.t + 14 + n * 16;
    ctx.fillStyle = "rgba(255,255,255,0.9)"; ctx.fillRect(x - 4, y - 11, 140, 15);
    ctx.strokeStyle = colour; ctx.lineWidth = 2; ctx.setLineDash(dash);
    ctx.beginPath(); ctx.moveTo(x, y - 4); ctx.lineTo(x + 20, y - 4); ctx.stroke(); ctx.setLineDash([]);
    ctx.fillStyle = "#1d2330"; ctx.fillText(name, x + 26, y);
  });
}
const lossLabel = () => (train.task === "forecast" ? "MSE (standardised)" : train.task === "classify" ? "nats per name" : "nats per character");

// ------------------------------------------------------------------ samples, heatmap, forecast

function addSamples(d) {
  const list = $("#samples");
  const li = el("li", "sample-group");
  const head = el("p", "sample-head");
  head.append(el("strong", "", d.step === 0 ? "before training" : `step ${d.step}`),
    el("span", "dim", ` · epoch ${d.epoch} · validation loss ${fmt(d.val_loss)}`));
  li.append(head);
  const samples = el("ol", "samples-of");
  d.samples.forEach((s) => {
    const item = el("li", "sample");
    // line ends shown as a faint ↵, so a names sample reads as one name after another
    s.split("\n").forEach((part, k) => {
      if (k) item.append(el("span", "nl", "↵"));
      item.append(document.createTextNode(part));
    });
    samples.append(item);
  });
  li.append(samples);
  list.prepend(li);
  while (list.children.length > 12) list.lastChild.remove();
}

function drawHeatmap() {
  const { text, values } = train.heatmap;
  const canvas = $("#heatmap");
  const units = values.length, T = text.length || (values[0] || []).length;
  if (!units || !T) return;
  const dpr = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const left = 34, top = 6, bottom = 18;
  const cw = Math.max(4, (width - left) / T), rh = Math.max(3, Math.min(10, Math.floor(320 / units)));
  const height = top + units * rh + bottom;
  canvas.style.height = `${height}px`;
  canvas.width = width * dpr; canvas.height = height * dpr;
  const ctx = canvas.getContext("2d");
  ctx.scale(dpr, dpr);
  const bound = Math.max(1e-6, ...values.flat().map(Math.abs));
  for (let u = 0; u < units; u++) {
    for (let t = 0; t < T; t++) {
      const [r, g, b] = divergingRGB(values[u][t], bound);
      ctx.fillStyle = `rgb(${r},${g},${b})`;
      ctx.fillRect(left + t * cw, top + u * rh, Math.ceil(cw), rh);
    }
  }
  ctx.strokeStyle = "#1d2330"; ctx.lineWidth = 1.5;
  ctx.strokeRect(left + 0.5, top + train.unit * rh + 0.5, T * cw - 1, rh - 1);
  ctx.fillStyle = "#5d6678"; ctx.font = "10px system-ui, sans-serif"; ctx.textAlign = "right";
  const every = Math.ceil(12 / rh);
  for (let u = 0; u < units; u += every) ctx.fillText(String(u), left - 4, top + u * rh + rh / 2 + 3.5);
  ctx.font = "11px ui-monospace, monospace"; ctx.textAlign = "center"; ctx.fillStyle = "#1d2330";
  // the probe's characters under their columns, where they fit (the unit's strip below shows them all)
  if (cw >= 8) [...text].forEach((c, t) => ctx.fillText(shown(c), left + t * cw + cw / 2, top + units * rh + 13));
  train.heatmapGeometry = { left, top, cw, rh, units, T };
}

function showUnit(u) {
  if (!train.heatmap) return;
  const { text, values } = train.heatmap;
  train.unit = Math.max(0, Math.min(values.length - 1, u));
  const row = values[train.unit];
  const bound = Math.max(1e-6, ...row.map(Math.abs));
  const box = $("#unit-text");
  const label = el("span", "unit-label", `unit ${train.unit}`);
  const chars = [...text].map((c, t) => {
    const span = el("span", "uchar", c === "\n" ? "↵" : c, { title: `${shown(c)}: ${fmt(row[t])}` });
    span.style.background = tint(row[t], bound, 0.85);
    span.style.color = inkOn(row[t], bound);
    return span;
  });
  box.replaceChildren(label, ...chars);
}

function drawForecast(f) {
  const canvas = $("#forecast-chart");
  const xs = (arr) => arr.map((v, k) => [f.start + k, v]);
  const series = [[f.truth, "#1d2330", [], "truth"], [f.teacher_forced, "#4f46e5", [], "teacher-forced (from the truth)"],
    [f.free_running, "#d97706", [6, 4], "free-running (from its own guesses)"]];
  const all = series.flatMap(([a]) => a).filter(Number.isFinite);
  if (!all.length) return;
  const lo = Math.min(...all), hi = Math.max(...all), pad = 0.06 * (hi - lo || 1);
  const len = Math.max(...series.map(([a]) => a.length));
  const { ctx, X, Y, m, w } = axes(canvas, [f.start, f.start + Math.max(len - 1, 1)], [lo - pad, hi + pad], "position in the series", "value");
  series.forEach(([a, colour, dash]) => polyline(ctx, xs(a).map(([x, y]) => [X(x), Y(y)]), colour, 2, dash));
  ctx.restore();
  ctx.font = "12px system-ui, sans-serif"; ctx.textAlign = "left";
  series.forEach(([, colour, dash, name], n) => {
    const x = m.l + 10, y = m.t + 14 + n * 16;
    ctx.fillStyle = "rgba(255,255,255,0.9)"; ctx.fillRect(x - 4, y - 11, 250, 15);
    ctx.strokeStyle = colour; ctx.lineWidth = 2; ctx.setLineDash(dash);
    ctx.beginPath(); ctx.moveTo(x, y - 4); ctx.lineTo(x + 20, y - 4); ctx.stroke(); ctx.setLineDash([]);
    ctx.fillStyle = "#1d2330"; ctx.fillText(name, x + 26, y);
  });
  void w;
}

function showExamples(d) {
  $("#val-accuracy").textContent = `· step ${d.step}: ${pct(d.val_accuracy)} right`;
  $("#examples").replaceChildren(...d.examples.map((ex) => {
    const right = ex.predicted === ex.true;
    const li = el("li", right ? "right" : "wrong");
    li.append(el("strong", "", ex.text), el("span", "", ` → ${ex.predicted} (${pct(ex.p)})`),
      el("span", "dim", right ? " ✓" : ` ✗ ${ex.true}`));
    return li;
  }));
}

function wireTrain() {
  trainForm.elements.dataset.addEventListener("change", datasetInfo);
  $("#train-start").addEventListener("click", startTraining);
  $("#train-pause").addEventListener("click", async () => {
    if (!train.run) return;
    const paused = $("#train-status").textContent === "paused";
    try {
      const r = await fetchJSON(`/api/v1/training-runs/${train.run.id}/${paused ? "resume" : "pause"}`, { body: {} });
      setTrainStatus(r.status);
    } catch (e) { showError("#train-error", offline(e).message); }
  });
  $("#train-stop").addEventListener("click", () => {
    if (train.run) stopRun(train.run.id).then((r) => setTrainStatus(r.status)).catch((e) => showError("#train-error", offline(e).message));
  });
  $("#train-save").addEventListener("click", saveTrained);
  $("#heatmap").addEventListener("click", (e) => {
    const g = train.heatmapGeometry;
    if (!g) return;
    const r = e.target.getBoundingClientRect();
    showUnit(Math.floor((e.clientY - r.top - g.top) / g.rh));
    drawHeatmap();
  });
  $("#heatmap").addEventListener("mousemove", (e) => {
    const g = train.heatmapGeometry;
    if (!g) return;
    const r = e.target.getBoundingClientRect();
    const u = Math.floor((e.clientY - r.top - g.top) / g.rh), t = Math.floor((e.clientX - r.left - g.left) / g.cw);
    const v = train.heatmap.values[u]?.[t];
    e.target.title = v === undefined ? "" : `unit ${u}, “${shown(train.heatmap.text[t])}”: ${fmt(v)}`;
  });
  window.addEventListener("resize", () => { drawLoss(); if (train.heatmap) drawHeatmap(); });
  datasetInfo();
  drawLoss();
}

async function saveTrained() {
  const name = $("#train-save-name").value.trim();
  const status = $("#train-save-status");
  try {
    const model = await fetchJSON(`/api/v1/training-runs/${train.run.id}/model`, { body: { name } });
    status.textContent = `saved as ${model.name}: pick it below.`;
    await refreshModels(model.name);
  } catch (e) { status.textContent = offline(e).message; }
}

// ================================================================== 4. generate and classify

let models = DATA.models;

async function refreshModels(select) {
  models = await fetchJSON("/api/v1/sequences/models");
  const fill = (sel, task) => {
    const keep = select && models.find((m) => m.name === select && m.task === task) ? select : sel.value;
    sel.replaceChildren(...models.filter((m) => m.task === task).map((m) =>
      el("option", "", `${m.name}${m.shipped ? "" : " (saved)"}`, { value: m.name })));
    if (keep) sel.value = keep;
  };
  fill($("#gen-model"), "generate");
  fill($("#cls-model"), "classify");
  syncUsable();
  showCard("#gen-model", "#gen-card");
  showCard("#cls-model", "#cls-card");
}

function showCard(selectId, cardId) {
  const m = models.find((x) => x.name === $(selectId).value);
  const box = $(cardId);
  if (!m) { box.textContent = ""; return; }
  const c = m.config || {}, mt = m.metrics || {};
  const parts = [`${CELL_NAME[m.cell] || m.cell}`, c.layers ? `${c.layers} × ${c.hidden_size}` : "",
    m.params ? `${m.params.toLocaleString("en")} weights` : "", m.dataset ? `trained on ${m.dataset}` : ""].filter(Boolean);
  box.replaceChildren(el("span", "", parts.join(" · ")));
  if (mt.val_loss !== undefined) {
    const fig = el("span", "card-figures");
    fig.append(" · validation loss ", el("strong", "", fmt(mt.val_loss)));
    if (mt.bigram_val_loss !== undefined) fig.append(` vs bigram ${fmt(mt.bigram_val_loss)}`);
    if (mt.val_accuracy !== undefined) fig.append(" · accuracy ", el("strong", "", pct(mt.val_accuracy)));
    if (mt.bigram_accuracy !== undefined) fig.append(` vs bigram ${pct(mt.bigram_accuracy)}`);
    box.append(fig);
  }
}

/** Without a model of its kind, a panel's controls are off (its hint says how to get one). */
function syncUsable() {
  for (const [form, select] of [["#gen-form", "#gen-model"], ["#cls-form", "#cls-model"]]) {
    const none = !$(select).options.length;
    $$("input, select, button", $(form)).forEach((c) => { c.disabled = none; });
    const hint = $(`${form} ~ .no-model`);
    if (hint) hint.hidden = !none;
  }
}

// ------------------------------------------------------------------ generate

const genForm = $("#gen-form");
const gen = { result: null, pinned: null };
const fetchGeneration = latest((signal, name, body) =>
  fetchJSON(`/api/v1/sequences/models/${encodeURIComponent(name)}/generate`, { body, signal }));

async function generate() {
  const f = genForm.elements;
  $("#gen-temperature-out").textContent = Number(f.temperature.value).toFixed(2);
  if (!f.model.value) return;
  // the length by id: a form's own `length` is its count of controls
  const body = { prompt: f.prompt.value, length: intOrText($("#gen-length").value),
    temperature: Number(f.temperature.value), top_k: intOrText(f.top_k.value), seed: intOrText(f.seed.value) };
  let result;
  try {
    result = await fetchGeneration(f.model.value, body);
    if (result === undefined) return;
  } catch (e) {
    clearFieldErrors(genForm, "#gen-error");
    showFieldError(genForm, "#gen-error", offline(e));
    return;
  }
  clearFieldErrors(genForm, "#gen-error");
  gen.result = { ...result, temperature: body.temperature };
  gen.pinned = null;
  const box = $("#gen-text");
  const prompt = el("span", "gen-prompt", result.prompt);
  const chars = result.steps.map((s, k) => {
    const span = el("span", "gen-char", s.char);
    span.dataset.k = k;
    return span;
  });
  box.replaceChildren(prompt, ...chars);
  // many short lines (names): set in columns, so a screenful shows them all
  const lines = (result.prompt + result.text).split("\n");
  box.classList.toggle("short-lines", lines.length > 8 && Math.max(...lines.map((l) => l.length)) < 24);
  showTop(null);
}

/** The five likeliest next characters at step k: as sampled (this temperature) beside temperature 1. */
function showTop(k) {
  const panel = $("#gen-top");
  if (k === null || !gen.result) {
    panel.replaceChildren(el("p", "dim", "Point at a generated character (or click it to keep it) to see the five the model liked best at that step."));
    return;
  }
  const s = gen.result.steps[k];
  const before = (gen.result.prompt + gen.result.steps.slice(0, k).map((x) => x.char).join("")).slice(-16);
  const head = el("p", "top-head");
  head.append("After ", el("code", "", `…${before.replace(/\n/g, "↵")}`), " it picked ", el("strong", "", `“${shown(s.char)}”`));
  if (!s.top.some((t) => t.char === s.char)) head.append(el("span", "dim", ", not even among the five likeliest"));
  const list = el("ol", "top-bars");
  const max = Math.max(...s.top.map((t) => Math.max(t.p, t.p_raw)), 1e-9);
  s.top.forEach((t) => {
    const li = el("li", t.char === s.char ? "picked" : "");
    const bars = el("div", "pair-bars");
    const a = el("span", "bar-now"); a.style.width = `${(100 * t.p) / max}%`;
    const b = el("span", "bar-raw"); b.style.width = `${(100 * t.p_raw) / max}%`;
    bars.append(a, b);
    li.append(el("span", "top-char", shown(t.char)), bars,
      el("span", "top-p", `${pct(t.p)}`), el("span", "top-raw dim", `${pct(t.p_raw)}`));
    list.append(li);
  });
  const key = el("p", "top-key dim");
  key.append(el("span", "swatch now"), ` at temperature ${fmt(gen.result.temperature)} (sampled)  `,
    el("span", "swatch raw"), " at temperature 1");
  panel.replaceChildren(head, list, key);
  $$(".gen-char").forEach((c) => c.classList.toggle("on", Number(c.dataset.k) === k));
}

// ------------------------------------------------------------------ classify

const clsForm = $("#cls-form");
const CLASS_COLOURS = ["#4f46e5", "#d97706", "#0d9488", "#db2777", "#65a30d", "#0284c7", "#9333ea", "#dc2626",
  "#ca8a04", "#0891b2", "#7c3aed", "#ea580c", "#16a34a", "#be123c", "#2563eb", "#a16207", "#4d7c0f", "#c026d3"];
const fetchClasses = latest((signal, name, body) =>
  fetchJSON(`/api/v1/sequences/models/${encodeURIComponent(name)}/classify`, { body, signal }));

async function classify() {
  const f = clsForm.elements;
  if (!f.model.value) return;
  if (!f.text.value) { $("#cls-bars").replaceChildren(); $("#cls-prefixes").replaceChildren(); return; }
  let r;
  try {
    r = await fetchClasses(f.model.value, { text: f.text.value });
    if (r === undefined) return;
  } catch (e) {
    clearFieldErrors(clsForm, "#cls-error");
    showFieldError(clsForm, "#cls-error", offline(e));
    return;
  }
  clearFieldErrors(clsForm, "#cls-error");
  const colour = (c) => CLASS_COLOURS[r.classes.indexOf(c) % CLASS_COLOURS.length];
  const order = r.classes.map((c, k) => [c, r.probs[k]]).sort((a, b) => b[1] - a[1]);
  $("#cls-bars").replaceChildren(...order.map(([c, p]) => {
    const li = el("li", c === r.best ? "best" : "");
    const bar = el("span", "cbar");
    const fill = el("span", "cfill");
    fill.style.width = `${100 * p}%`;
    fill.style.background = colour(c);
    bar.append(fill);
    li.append(el("span", "cname", c), bar, el("span", "cp", pct(p)));
    return li;
  }));
  // the answer after each prefix: one column per character, its stacked probabilities
  const strip = r.prefixes.map((pre) => {
    const col = el("div", "prefix-col", undefined, { title: `“${pre.prefix}” → ${pre.best} (${pct(Math.max(...pre.probs))})` });
    const stack = el("div", "prefix-stack");
    r.classes.map((c, k) => [c, pre.probs[k]]).sort((a, b) => b[1] - a[1]).forEach(([c, p]) => {
      if (p < 0.01) return;
      const seg = el("span");
      seg.style.height = `${100 * p}%`;
      seg.style.background = colour(c);
      stack.append(seg);
    });
    const best = el("span", "prefix-best", pre.best.slice(0, 3));
    best.style.color = colour(pre.best);
    col.append(el("span", "prefix-char", shown(pre.prefix.slice(-1))), stack, best);
    return col;
  });
  $("#cls-prefixes").replaceChildren(...strip);
}

function wireUse() {
  $("#gen-model").addEventListener("change", () => { showCard("#gen-model", "#gen-card"); generate(); });
  $("#cls-model").addEventListener("change", () => { showCard("#cls-model", "#cls-card"); classify(); });
  $("#gen-start").addEventListener("click", generate);
  $("#gen-temperature").addEventListener("input", generate); // same seed: only the temperature differs
  genForm.addEventListener("keydown", (e) => { if (e.key === "Enter" && e.target.tagName === "INPUT") { e.preventDefault(); generate(); } });
  const text = $("#gen-text");
  text.addEventListener("mouseover", (e) => {
    const k = e.target.dataset?.k;
    if (k !== undefined && gen.pinned === null) showTop(Number(k));
  });
  text.addEventListener("click", (e) => {
    const k = e.target.dataset?.k;
    if (k === undefined) return;
    gen.pinned = gen.pinned === Number(k) ? null : Number(k);
    showTop(Number(k));
    $$(".gen-char").forEach((c) => c.classList.toggle("pinned", Number(c.dataset.k) === gen.pinned));
  });
  let debounce = null;
  $("#cls-text").addEventListener("input", () => { clearTimeout(debounce); debounce = setTimeout(classify, 80); });
  showCard("#gen-model", "#gen-card");
  showCard("#cls-model", "#cls-card");
  syncUsable();
  generate();
  classify();
}

wireCell();
wireFlow();
wireTrain();
wireUse();
