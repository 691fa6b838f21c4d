// Generative lab: sliders, the 2-D latent map, interpolation, encoding and latent arithmetic,
// all drawn from /api/v1/generative/... (the page decodes nothing itself). The arithmetic result
// is a server fragment that htmx fetches (POST /generative/arithmetic).
import { $, $$, axes, coalesce, el, fetchJSON, polyline, showBlob, showError } from "./lib.js";
import { makePad } from "./pad.js";

const COLOURS = ["#e6194b", "#3cb44b", "#d4a017", "#4363d8", "#f58231", "#911eb4", "#0fa3b1",
  "#f032e6", "#6b8e23", "#8b4513"];
const SHOWN = 16; // sliders shown before "show all"
// the latent map and the sliders span −range … range: a VAE's ±3 (its prior's), the plain
// autoencoder's as far as its card says its digits lie
const VAE_RANGE = 3;
const range = () => state.model?.metrics?.plane?.latent_extent ?? VAE_RANGE;
const state = { watch: null, models: [], model: null, z: [], ends: {}, frames: [], timer: null, showAll: false, map: null };

const api = (path) => `/api/v1/generative/${state.model.name}${path}`;
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
    if (waiting) waiting.resolve(fetchJSON(api("/decode"), { body: { z: waiting.z }, as: "blob" }));
  };
  return null;
}
function picture(z) {
  const socket = liveSocket();
  if (!socket) return fetchJSON(api("/decode"), { body: { z }, as: "blob" });
  return new Promise((resolve, reject) => {
    live.pending = { z, resolve, reject };
    socket.send(JSON.stringify({ z }));
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
  drawMap();
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
function setPoint(z) {
  state.z = z.map((v) => Math.max(-range(), Math.min(range(), v)));
  $$("#sliders input").forEach((input, i) => {
    input.value = state.z[i];
    input.nextElementSibling.textContent = round(state.z[i]).toFixed(2);
  });
  decode();
}
function gaussian() { // Box-Muller: a standard normal number
  return Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
}

// ------------------------------------------------------------------ the 2-D map

async function loadMap() {
  const panel = $("#map-panel");
  panel.hidden = !(state.model.has_map);
  if (panel.hidden) { state.map = null; return; }
  $("#manifold").src = api(`/manifold?size=20&range=${range()}`);
  const [data, holes] = await Promise.all([fetchJSON(api("/latent-map?count=2500")),
                                           fetchJSON(api(`/holes?size=20&range=${range()}`))]);
  state.map = data.points;
  state.holes = holes;
  $("#holes-line").textContent = `Holes: ${(100 * holes.share).toFixed(0)}% of this square ` +
    `decodes to no digit (the shipped classifier reads it with under ${100 * holes.threshold}% ` +
    `confidence; hatched).` + (state.model.kind === "ae" ? " A plain autoencoder: no prior " +
    "told it where to put its digits, and it cannot be sampled." : " The VAE's prior " +
    "asked it to fill this disc.");
  $("#map-dots").dataset.points = data.points.length;
  $("#legend").replaceChildren(...COLOURS.map((c, d) => {
    const swatch = el("span");
    swatch.style.background = c;
    const li = el("li");
    li.append(swatch, String(d));
    return li;
  }));
  drawMap();
}
function drawMap() {
  if ($("#map-panel").hidden) return;
  const canvas = $("#map-dots");
  const ctx = canvas.getContext("2d");
  const s = canvas.width;
  const R = range();
  const px = (v) => ((v + R) / (2 * R)) * s; // z₁ right, z₂ up
  ctx.clearRect(0, 0, s, s);
  const holes = state.holes;
  if (holes) { // the cells that decode to no digit, hatched
    const cell = s / holes.size;
    ctx.fillStyle = "rgba(220, 38, 38, 0.35)";
    holes.confidence.forEach((row, i) => row.forEach((c, j) => {
      if (c < holes.threshold) ctx.fillRect(j * cell, i * cell, cell, cell);
    }));
  }
  for (const [z1, z2, d] of state.map || []) {
    ctx.fillStyle = COLOURS[d];
    ctx.globalAlpha = 0.55;
    ctx.fillRect(px(z1) - 2, s - px(z2) - 2, 4, 4);
  }
  ctx.globalAlpha = 1;
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
    const r = await fetchJSON(api("/interpolate"), { body: { start, end, steps: Number($("#steps").value), method: $("#method").value } });
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

async function selectModel(name) {
  state.model = state.models.find((m) => m.name === name);
  $("#arith-model").value = name; // the arithmetic form's model
  $$("[data-model]").forEach((t) => t.setAttribute("aria-selected", String(t.dataset.model === name)));
  // the mean over 10,000 samples where the card has it: one set of 1,000 varies by ±1.5 points
  const wide = state.model.metrics.sample_quality_wide;
  const q = wide ? { confident_share: wide.confident_share_mean } : state.model.metrics.sample_quality;
  const t = state.model.metrics.test;
  const plane = state.model.metrics.plane;
  $("#model-summary").textContent = `${state.model.summary} ${state.model.latent} latent dimensions.` +
    (t ? ` Test −ELBO ${t.neg_elbo.toFixed(1)} nats.` : "") +
    (!t && plane ? ` Test reconstruction error ${plane.reconstruction.toFixed(1)} nats.` : "") +
    (q ? ` ${(100 * q.confident_share).toFixed(0)}% of its samples are read with ≥ 90% confidence by the shipped classifier.` : "");
  $$("[data-needs-encoder]").forEach((e) => { e.hidden = !state.model.has_encoder; });
  state.z = new Array(state.model.latent).fill(0);
  state.ends = {};  // points of another model mean nothing here
  clearInterval(state.timer);
  $$("[data-set]").forEach((b) => { b.textContent = `${b.dataset.set === "start" ? "Start" : "End"}: this point`; });
  ["#strip", "#frame"].forEach((sel) => $(sel).removeAttribute("src"));
  $("#frame").hidden = true;
  $("#interp-note").hidden = true;
  $("#animate").disabled = true;
  state.showAll = false;
  buildSliders();
  decode();
  loadMap().catch((e) => fail(e.message));
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
  $("#map-dots").addEventListener("click", (e) => {
    const r = e.target.getBoundingClientRect();
    const z1 = ((e.clientX - r.left) / r.width) * 2 * range() - range();
    const z2 = range() - ((e.clientY - r.top) / r.height) * 2 * range();
    setPoint([z1, z2]);
  });
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
  // the 2-D VAE first: it is the one with a map
  // the 2-D VAE first (its plane, and a prior for the random point)
  selectModel((state.models.find((m) => m.has_map && m.kind === "vae") || state.models[0]).name);
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
