// Generative lab: sliders, the 2-D latent map, interpolation, encoding and latent arithmetic,
// all drawn from /api/v1/generative/... (the page decodes nothing itself). The arithmetic result
// is a server fragment that htmx fetches (POST /generative/arithmetic).
import { $, $$, axes, coalesce, el, fetchJSON, polyline, showBlob, showError } from "./lib.js";
import { makePad } from "./pad.js";

const COLOURS = ["#e6194b", "#3cb44b", "#d4a017", "#4363d8", "#f58231", "#911eb4", "#0fa3b1",
  "#f032e6", "#6b8e23", "#8b4513"];
const SHOWN = 16; // sliders shown before "show all"
// a 2-D model's plane and sliders span −range … range: as far as its card says its test digits
// lie (a VAE's about ±4, its prior's; the plain autoencoder's its own); the others ±3
const PRIOR_RANGE = 3;
const rangeOf = (m) => m?.metrics?.plane?.latent_extent ?? PRIOR_RANGE;
const range = () => rangeOf(state.model);
const state = { watch: null, models: [], model: null, z: [], digit: 3, ends: {}, frames: [], timer: null, showAll: false, planes: [] };

const api = (path, name = state.model.name) => `/api/v1/generative/${name}${path}`;
// a class-conditional GAN is told the digit to draw: every request for it names one
const withDigit = (body) => (state.model.classes ? { ...body, digit: state.digit } : body);
const fail = (message) => showError("#gen-error", message);
const round = (v) => Math.round(v * 100) / 100;

// ------------------------------------------------------------------ one point

// While a slider is dragged, points go over one WebSocket per model (…/live): a message each
// instead of an HTTP request each, a third of the cost. Until it is open, or if it cannot open,
// they go by POST …/decode, which answers the same picture.
const live = { socket: null, model: null, pending: null, retryAt: 0 };

function liveSocket() {
  if (live.model === state.model.name && live.socket) {
    return live.socket.readyState === WebSocket.OPEN ? live.socket : null;
  }
  if (live.socket) live.socket.close();
  if (Date.now() < live.retryAt) return null; // it could not open lately: HTTP for a while
  const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${api("/live")}`);
  Object.assign(live, { socket, model: state.model.name });
  socket.binaryType = "blob";
  socket.onmessage = (event) => {
    const waiting = live.pending;
    live.pending = null;
    if (!waiting) return;
    if (typeof event.data !== "string") { waiting.resolve(event.data); return; }
    const data = JSON.parse(event.data);
    waiting.reject(new Error((data.error && data.error.message) || "the point was refused"));
  };
  socket.onopen = () => { socket.opened = true; };
  socket.onclose = () => {
    if (live.socket === socket) live.socket = null; // the next point opens a new one
    if (!socket.opened) live.retryAt = Date.now() + 10000;
    const waiting = live.pending;
    live.pending = null;
    if (waiting) waiting.resolve(fetchJSON(api("/decode"), { body: waiting.body, as: "blob" }));
  };
  return null;
}
function picture(z) {
  const socket = liveSocket();
  const body = withDigit({ z });
  if (!socket) return fetchJSON(api("/decode"), { body, as: "blob" });
  return new Promise((resolve, reject) => {
    live.pending = { body, resolve, reject };
    socket.send(JSON.stringify(body));
  });
}

/** Decodes the sliders' point; while a request is out, only the newest point waits. */
const decode = coalesce(async () => {
  const z = [...state.z];
  try {
    const img = $("#decoded");
    showBlob(img, await picture(z));
    img.dataset.z = JSON.stringify(z.map(round)); // the point this picture shows
    fail("");
  } catch (e) { fail(e.message); }
  drawMaps(true); // the crosshair moved: the chosen plane only
});

function buildSliders() {
  const n = state.model.latent;
  const list = state.z.map((v, i) => {
    const li = el("li", "", undefined, { hidden: i >= SHOWN && !state.showAll });
    const label = el("label", "inline", `z${i + 1}`);
    const input = el("input", "", undefined, { type: "range", min: -range(), max: range(), step: 0.01, value: v });
    input.setAttribute("aria-label", `latent dimension ${i + 1}`);
    input.dataset.i = i;
    label.append(input, el("output", "", round(v).toFixed(2)));
    li.append(label);
    return li;
  });
  $("#sliders").replaceChildren(...list);
  $("#more").hidden = n <= SHOWN;
  $("#more").textContent = state.showAll ? `Show the first ${SHOWN}` : `Show all ${n} dimensions`;
}
const clamp = (z) => z.map((v) => Math.max(-range(), Math.min(range(), v)));
function setPoint(z) {
  state.z = clamp(z);
  $$("#sliders input").forEach((input, i) => {
    input.value = state.z[i];
    input.nextElementSibling.textContent = round(state.z[i]).toFixed(2);
  });
  decode();
}
function gaussian() { // Box-Muller: a standard normal number
  return Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
}

// ------------------------------------------------------------------ the 2-D maps

const ELLIPSES_PER_DIGIT = 3; // of a VAE's Gaussians drawn: a few, or they hide the plane

/** Both 2-D models' planes side by side, each at its own range: the manifold behind, the
 *  test digits as dots (a VAE's few as 2σ ellipses), its holes hatched. Loaded once. */
async function loadMaps() {
  const template = $("#map-figure");
  state.planes = state.models.filter((m) => m.has_map).map((m) => {
    const figure = template.content.firstElementChild.cloneNode(true);
    figure.dataset.plane = m.name;
    figure.querySelector(".map-name").textContent = m.name;
    figure.querySelector(".map-range").textContent = `(z₁, z₂ from −${rangeOf(m)} to ${rangeOf(m)})`;
    figure.querySelector(".manifold").src = api(`/manifold?size=20&range=${rangeOf(m)}`, m.name);
    const canvas = figure.querySelector(".map-dots");
    canvas.setAttribute("aria-label", `${m.name}'s latent plane: click to decode a point`);
    const plane = { model: m, figure, canvas, map: null, std: null, holes: null };
    canvas.addEventListener("click", (e) => {
      const r = canvas.getBoundingClientRect(), R = rangeOf(m);
      const z = [((e.clientX - r.left) / r.width) * 2 * R - R, R - ((e.clientY - r.top) / r.height) * 2 * R];
      if (state.model.name !== m.name) selectModel(m.name, z);
      else setPoint(z);
    });
    return plane;
  });
  $("#map-pair").replaceChildren(...state.planes.map((p) => p.figure));
  $("#legend").replaceChildren(...COLOURS.map((c, d) => {
    const swatch = el("span");
    swatch.style.background = c;
    const li = el("li");
    li.append(swatch, String(d));
    return li;
  }));
  await Promise.all(state.planes.map(async (plane) => {
    const name = plane.model.name, R = rangeOf(plane.model);
    const [data, holes] = await Promise.all([fetchJSON(api("/latent-map?count=2500", name)),
                                             fetchJSON(api(`/holes?size=20&range=${R}`, name))]);
    Object.assign(plane, { map: data.points, std: data.std, holes });
    plane.canvas.dataset.points = data.points.length;
    plane.figure.querySelector(".holes-line").textContent = `Holes: ${(100 * holes.share).toFixed(0)}% ` +
      `of this square decodes to no digit (the shipped classifier reads it with under ` +
      `${100 * holes.threshold}% confidence; hatched).` + (plane.model.kind === "ae" ? " A plain " +
      "autoencoder: no prior told it where to put its digits, so it spread them as it liked, and " +
      "it cannot be sampled." : " The VAE's prior asked it to fill a disc about 0.") +
      unusedLine(plane.model);
    drawMaps();
  }));
}
/** The card's other two readings of the holes, where it has them. */
function unusedLine(m) {
  const p = m.metrics.plane;
  if (!p?.empty || !p?.sampled) return "";
  const source = m.kind === "ae" ? "a Gaussian fitted to its digits" : "its prior";
  return ` On its card: ${(100 * p.empty.share).toFixed(0)}% of the square's cells hold no test ` +
    `digit; ${(100 * p.sampled.share).toFixed(1)}% of ${p.sampled.draws.toLocaleString("en")} draws ` +
    `from ${source} decode to no digit.`;
}
/** Redraws the planes (`chosenOnly`: the chosen model's alone, as while a slider moves). */
function drawMaps(chosenOnly = false) {
  const panel = $("#map-panel");
  panel.hidden = !state.model.has_map;
  if (panel.hidden) return;
  state.planes.filter((p) => !chosenOnly || p.model.name === state.model.name).forEach(drawPlane);
}
function drawPlane(plane) {
  const { canvas, map, std, holes, model } = plane;
  const ctx = canvas.getContext("2d");
  const s = canvas.width;
  const R = rangeOf(model);
  const px = (v) => ((v + R) / (2 * R)) * s; // z₁ right, z₂ up
  const chosen = model.name === state.model.name;
  plane.figure.classList.toggle("chosen", chosen);
  ctx.clearRect(0, 0, s, s);
  if (holes) { // the cells that decode to no digit, hatched
    const cell = s / holes.size;
    ctx.fillStyle = "rgba(220, 38, 38, 0.35)";
    holes.confidence.forEach((row, i) => row.forEach((c, j) => {
      if (c < holes.threshold) ctx.fillRect(j * cell, i * cell, cell, cell);
    }));
  }
  ctx.globalAlpha = 0.55;
  for (const [z1, z2, d] of map || []) {
    ctx.fillStyle = COLOURS[d];
    ctx.fillRect(px(z1) - 2, s - px(z2) - 2, 4, 4);
  }
  ctx.globalAlpha = 1;
  const shown = new Array(10).fill(0);
  (map || []).forEach(([z1, z2, d], i) => { // over the dots: a few Gaussians, 2σ each way
    if (!std || shown[d] >= ELLIPSES_PER_DIGIT) return;
    shown[d] += 1;
    const [rx, ry] = std[i].map((sd) => (2 * sd / (2 * R)) * s);
    for (const [colour, width] of [["rgba(255, 255, 255, 0.9)", 4], [COLOURS[d], 2]]) {
      ctx.strokeStyle = colour;
      ctx.lineWidth = width;
      ctx.beginPath();
      ctx.ellipse(px(z1), s - px(z2), rx, ry, 0, 0, 2 * Math.PI);
      ctx.stroke();
    }
  });
  if (!chosen) return;
  const [x, y] = [px(state.z[0]), s - px(state.z[1])];
  ctx.strokeStyle = "#facc15";
  ctx.lineWidth = 2;
  ctx.beginPath();
  ctx.moveTo(x, 0); ctx.lineTo(x, s); ctx.moveTo(0, y); ctx.lineTo(s, y);
  ctx.stroke();
  ctx.beginPath();
  ctx.arc(x, y, 7, 0, 2 * Math.PI);
  ctx.stroke();
}

// ------------------------------------------------------------------ interpolation

async function runInterpolation() {
  const { start, end } = state.ends;
  if (!start || !end) { fail("choose a start and an end first"); return; }
  try {
    const r = await fetchJSON(api("/interpolate"), { body: withDigit({ start, end, steps: Number($("#steps").value), method: $("#method").value }) });
    $("#strip").src = r.png;
    // a random draw may land beyond ±4 (one 64-D draw in ~250): decoded, and said
    const note = $("#interp-note");
    note.hidden = !r.outside_prior;
    note.textContent = r.outside_prior ? `Some frames lie ${r.max_abs_z.toFixed(1)} standard deviations out in a coordinate, far outside the prior (beyond ±4): the model never saw such points, so their digits may be noise.` : "";
    state.frames = r.frames;
    $("#animate").disabled = false;
    fail("");
  } catch (e) { fail(e.message); }
}
function animate() {
  clearInterval(state.timer);
  const img = $("#frame");
  img.hidden = false;
  let i = 0, dir = 1;
  state.timer = setInterval(() => {
    img.src = state.frames[i];
    if (i + dir < 0 || i + dir >= state.frames.length) dir = -dir;
    i += dir;
  }, 120);
}

// ------------------------------------------------------------------ encoding

/** A digit → its latent Gaussian: `body` is {example: n} or a FormData with the drawing. */
const encode = (body) => fetchJSON(api("/encode"), { body });
function showCode(r) {
  $("#encoded-input").src = r.input_png;
  $("#reconstruction").src = r.reconstruction_png;
  const shown = r.mean.slice(0, 4).map((m, i) => `z${i + 1} = ${m.toFixed(2)} ± ${r.std[i].toFixed(2)}`).join(", ");
  $("#code").textContent = `Its latent Gaussian: ${shown}${r.mean.length > 4 ? ", …" : ""}. The sliders moved there.`;
  setPoint(r.mean);
}

// ------------------------------------------------------------------ switching models

/** Shows model `name`; its sliders start at `z` (default: all zero). */
function selectModel(name, z = null) {
  state.model = state.models.find((m) => m.name === name);
  $("#arith-model").value = name; // the arithmetic form's model
  $$("[data-model]").forEach((t) => t.setAttribute("aria-selected", String(t.dataset.model === name)));
  // the mean over 10,000 samples where the card has it: one set of 1,000 varies by ±1.5 points
  const m = state.model.metrics;
  const share = (figures) => figures && (figures.sample_quality_wide?.confident_share_mean ?? figures.sample_quality?.confident_share);
  const [ours, judges] = [share(m), share(m.judge)];
  $("#model-summary").textContent = `${state.model.summary} ${state.model.latent} latent dimensions.` +
    (m.test ? ` Test −ELBO ${m.test.neg_elbo.toFixed(1)} nats.` : "") +
    (!m.test && m.plane ? ` Test reconstruction error ${m.plane.reconstruction.toFixed(1)} nats.` : "") +
    (ours ? ` ${(100 * ours).toFixed(0)}% of its samples are read with ≥ 90% confidence by the shipped classifier` +
      (judges ? `, ${(100 * judges).toFixed(0)}% by ${m.judge.name}, a judge that took no part in choosing its recipe.` : ".") : "");
  $$("[data-needs-encoder]").forEach((e) => { e.hidden = !state.model.has_encoder; });
  $$("[data-needs-unconditional]").forEach((e) => { e.hidden = Boolean(state.model.classes); });
  $("#digit-row").hidden = !state.model.classes;
  state.z = z ? clamp(z) : new Array(state.model.latent).fill(0);
  state.ends = {};  // points of another model mean nothing here
  clearInterval(state.timer);
  $$("[data-set]").forEach((b) => { b.textContent = `${b.dataset.set === "start" ? "Start" : "End"}: this point`; });
  ["#strip", "#frame"].forEach((sel) => $(sel).removeAttribute("src"));
  $("#frame").hidden = true;
  $("#interp-note").hidden = true;
  $("#animate").disabled = true;
  state.showAll = false;
  buildSliders();
  drawMaps(); // the other plane loses its crosshair
  decode();
}

async function start() {
  state.models = await fetchJSON("/api/v1/generative/models");
  if (!state.models.length) return;
  $("#sliders").addEventListener("input", (e) => {
    const i = Number(e.target.dataset.i);
    state.z[i] = Number(e.target.value);
    e.target.nextElementSibling.textContent = round(state.z[i]).toFixed(2);
    decode();
  });
  $("#randomize").addEventListener("click", () => setPoint(state.z.map(gaussian)));
  $("#reset").addEventListener("click", () => setPoint(state.z.map(() => 0)));
  $("#more").addEventListener("click", () => { state.showAll = !state.showAll; buildSliders(); });
  $$("[data-model]").forEach((t) => t.addEventListener("click", () => selectModel(t.dataset.model)));
  $("#digit-chips").addEventListener("change", (e) => { state.digit = Number(e.target.value); decode(); });
  $$("[data-set]").forEach((b) => b.addEventListener("click", () => {
    state.ends[b.dataset.set] = [...state.z];
    b.textContent = `${b.dataset.set === "start" ? "Start" : "End"}: set ✓`;
  }));
  $("#random-ends").addEventListener("click", () => {
    state.ends = { start: state.z.map(gaussian), end: state.z.map(gaussian) };
    runInterpolation();
  });
  $("#encode-ends").addEventListener("click", async () => {
    try {
      const [a, b] = await Promise.all([$("#start-example"), $("#end-example")].map((input) =>
        encode({ example: Number(input.value) })));
      state.ends = { start: a.mean, end: b.mean };
      runInterpolation();
    } catch (e) { fail(e.message); }
  });
  $("#interpolate").addEventListener("click", runInterpolation);
  $("#animate").addEventListener("click", animate);
  const drawing = makePad($("#pad"), $("#pen"), async (final) => {
    if (!final) return;
    const form = new FormData();
    form.append("file", await drawing.blob(), "drawing.png");
    try { showCode(await encode(form)); fail(""); } catch (e) { fail(e.message); }
  });
  $("#clear").addEventListener("click", () => drawing.clear());
  $("#watch-start").addEventListener("click", watchOneTrain);
  $("#watch-stop").addEventListener("click", () => {
    if (state.watch) fetch(`/api/v1/training-runs/${state.watch.id}/cancel`, { method: "POST" });
  });
  // the 2-D VAE first (its plane, and a prior for the random point)
  selectModel((state.models.find((m) => m.has_map && m.kind === "vae") || state.models[0]).name);
  loadMaps().catch((e) => fail(e.message));
}

// ------------------------------------------------------------------ watch one train

async function watchOneTrain() {
  const [task, latent] = $("#watch-task").value.split(":");
  let run;
  try {
    run = await fetchJSON("/api/v1/generative/training-runs",
      { body: { task, latent: Number(latent), epochs: Number($("#watch-epochs").value) } });
  } catch (e) { fail(e.message); return; }
  if (state.watch) state.watch.source.close();
  const losses = [];
  const source = new EventSource(run.events_url);
  state.watch = { id: run.id, source };
  $("#watch-stop").disabled = false;
  $("#watch-status").textContent = run.status === "queued" ? "waiting for a free worker…" : "starting…";
  source.addEventListener("samples", (e) => {
    const d = JSON.parse(e.data);
    const img = $("#watch-samples");
    img.hidden = false;
    img.src = d.png;
    $("#watch-status").textContent = `epoch ${d.epoch}, batch ${d.step}`;
  });
  source.addEventListener("progress", (e) => {
    const d = JSON.parse(e.data);
    losses.push([d.step, d.neg_elbo ?? d.generator_loss, d.discriminator_loss]);
    drawLosses(losses, task);
  });
  source.addEventListener("status", (e) => {
    const d = JSON.parse(e.data);
    if (["completed", "stopped", "failed"].includes(d.status)) {
      $("#watch-status").textContent = `${d.status}${d.message ? `: ${d.message}` : ""}`;
      $("#watch-stop").disabled = true;
      source.close();
    }
  });
}

/** The losses so far, [batch, loss, discriminator loss] each, on the labs' chart axes. */
function drawLosses(losses, task) {
  const canvas = $("#watch-chart");
  canvas.hidden = false;
  const series = task === "vae" ? [[1, "#4f46e5", "−ELBO"]] : [[1, "#4f46e5", "generator"], [2, "#d97706", "discriminator"]];
  const values = losses.flatMap((l) => series.map(([k]) => l[k]));
  const lo = Math.min(...values), hi = Math.max(...values), margin = 0.05 * (hi - lo) || 1;
  const first = losses[0][0], last = losses[losses.length - 1];
  const { ctx, X, Y, m, w } = axes(canvas, [first, Math.max(last[0], first + 1)], [lo - margin, hi + margin], "batch", "loss");
  series.forEach(([k, colour]) => polyline(ctx, losses.map((l) => [X(l[0]), Y(l[k])]), colour));
  ctx.textAlign = "right";
  series.forEach(([k, colour, name], n) => { // the legend, top right, over the lines
    const text = `${name} ${last[k].toFixed(2)}`, width = ctx.measureText(text).width;
    const x = w - m.r - 6, y = m.t + 14 + n * 14;
    ctx.fillStyle = "rgba(255, 255, 255, 0.85)";
    ctx.fillRect(x - width - 3, y - 11, width + 6, 14);
    ctx.fillStyle = colour;
    ctx.fillText(text, x, y);
  });
  ctx.restore();
}

if ($("#decoded")) start();
