// Generative lab: sliders, the 2-D latent map, interpolation, encoding and latent arithmetic,
// all drawn from /api/v1/generative/... (the page decodes nothing itself).
"use strict";

const $ = (sel) => document.querySelector(sel);
const $$ = (sel) => [...document.querySelectorAll(sel)];
const COLOURS = ["#e6194b", "#3cb44b", "#d4a017", "#4363d8", "#f58231", "#911eb4", "#0fa3b1",
  "#f032e6", "#6b8e23", "#8b4513"];
const SHOWN = 16; // sliders shown before "show all"
const RANGE = 3; // the latent map and the sliders span −3 … 3
const state = { watch: null, models: [], model: null, z: [], busy: false, again: false, ends: {}, frames: [], timer: null, showAll: false, map: null };

const api = (path) => `/api/v1/generative/${state.model.name}${path}`;
function showError(message) {
  $("#gen-error").hidden = !message;
  $("#gen-error").textContent = message || "";
}
async function call(path, body, as = "json") {
  const res = await fetch(api(path), body === undefined ? {} : { method: "POST", body: JSON.stringify(body),
    headers: { "Content-Type": "application/json" } });
  if (!res.ok) {
    const data = await res.json().catch(() => ({}));
    throw new Error((data.error && data.error.message) || `request failed (${res.status})`);
  }
  return as === "blob" ? res.blob() : res.json();
}
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
    if (waiting) waiting.resolve(call("/decode", { z: waiting.z }, "blob"));
  };
  return null;
}
function picture(z) {
  const socket = liveSocket();
  if (!socket) return call("/decode", { z }, "blob");
  return new Promise((resolve, reject) => {
    live.pending = { z, resolve, reject };
    socket.send(JSON.stringify({ z }));
  });
}

/** Decodes the sliders' point; while a request is out, only the newest point waits. */
async function decode() {
  if (state.busy) { state.again = true; return; }
  state.busy = true;
  const z = [...state.z];
  try {
    const blob = await picture(z);
    const img = $("#decoded");
    if (img.dataset.url) URL.revokeObjectURL(img.dataset.url);
    img.dataset.url = URL.createObjectURL(blob);
    img.src = img.dataset.url;
    img.dataset.z = JSON.stringify(z.map(round)); // the point this picture shows
    showError("");
  } catch (e) { showError(e.message); }
  finally {
    state.busy = false;
    if (state.again) { state.again = false; decode(); }
  }
  drawMap();
}

function buildSliders() {
  const n = state.model.latent;
  const list = state.z.map((v, i) => {
    const li = document.createElement("li");
    li.hidden = i >= SHOWN && !state.showAll;
    const label = document.createElement("label");
    label.className = "inline";
    label.textContent = `z${i + 1}`;
    const input = document.createElement("input");
    Object.assign(input, { type: "range", min: -RANGE, max: RANGE, step: 0.01, value: v });
    input.setAttribute("aria-label", `latent dimension ${i + 1}`);
    input.dataset.i = i;
    const out = document.createElement("output");
    out.textContent = round(v).toFixed(2);
    label.append(input, out);
    li.append(label);
    return li;
  });
  $("#sliders").replaceChildren(...list);
  $("#more").hidden = n <= SHOWN;
  $("#more").textContent = state.showAll ? `Show the first ${SHOWN}` : `Show all ${n} dimensions`;
}
function setPoint(z) {
  state.z = z.map((v) => Math.max(-RANGE, Math.min(RANGE, v)));
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
  $("#manifold").src = api(`/manifold?size=20&range=${RANGE}`);
  const data = await call("/latent-map?count=2500");
  state.map = data.points;
  $("#map-dots").dataset.points = data.points.length;
  $("#legend").replaceChildren(...COLOURS.map((c, d) => {
    const li = document.createElement("li");
    li.innerHTML = `<span style="background:${c}"></span>${d}`;
    return li;
  }));
  drawMap();
}
function drawMap() {
  if ($("#map-panel").hidden) return;
  const canvas = $("#map-dots");
  const ctx = canvas.getContext("2d");
  const s = canvas.width;
  const px = (v) => ((v + RANGE) / (2 * RANGE)) * s; // z₁ right, z₂ up
  ctx.clearRect(0, 0, s, s);
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
  if (!start || !end) { showError("choose a start and an end first"); return; }
  try {
    const r = await call("/interpolate", { start, end, steps: Number($("#steps").value), method: $("#method").value });
    $("#strip").src = r.png;
    state.frames = r.frames;
    $("#animate").disabled = false;
    showError("");
  } catch (e) { showError(e.message); }
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

async function encodeBody(body, isForm) {
  const res = await fetch(api("/encode"), { method: "POST", body, headers: isForm ? {} : { "Content-Type": "application/json" } });
  const data = await res.json();
  if (!res.ok) throw new Error(data.error ? data.error.message : "encoding failed");
  return data;
}
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
  $$("[data-model]").forEach((t) => t.setAttribute("aria-selected", String(t.dataset.model === name)));
  // the mean over 10,000 samples where the card has it: one set of 1,000 varies by ±1.5 points
  const wide = state.model.metrics.sample_quality_wide;
  const q = wide ? { confident_share: wide.confident_share_mean } : state.model.metrics.sample_quality;
  const t = state.model.metrics.test;
  $("#model-summary").textContent = `${state.model.summary} ${state.model.latent} latent dimensions.` +
    (t ? ` Test −ELBO ${t.neg_elbo.toFixed(1)} nats.` : "") +
    (q ? ` ${(100 * q.confident_share).toFixed(0)}% of its samples are read with ≥ 90% confidence by the shipped classifier.` : "");
  $$("[data-needs-encoder]").forEach((e) => { e.hidden = !state.model.has_encoder; });
  state.z = new Array(state.model.latent).fill(0);
  state.ends = {};  // points of another model mean nothing here
  clearInterval(state.timer);
  $$("[data-set]").forEach((b) => { b.textContent = `${b.dataset.set === "start" ? "Start" : "End"}: this point`; });
  ["#strip", "#frame"].forEach((sel) => $(sel).removeAttribute("src"));
  $("#frame").hidden = true;
  $("#animate").disabled = true;
  state.showAll = false;
  buildSliders();
  decode();
  loadMap().catch((e) => showError(e.message));
}

async function start() {
  state.models = await fetch("/api/v1/generative/models").then((r) => r.json());
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
    const z1 = ((e.clientX - r.left) / r.width) * 2 * RANGE - RANGE;
    const z2 = RANGE - ((e.clientY - r.top) / r.height) * 2 * RANGE;
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
        encodeBody(JSON.stringify({ example: Number(input.value) }), false)));
      state.ends = { start: a.mean, end: b.mean };
      runInterpolation();
    } catch (e) { showError(e.message); }
  });
  $("#interpolate").addEventListener("click", runInterpolation);
  $("#animate").addEventListener("click", animate);
  const pad = window.makePad($("#pad"), $("#pen"), async (final) => {
    if (!final) return;
    const form = new FormData();
    form.append("file", await drawing.blob(), "drawing.png");
    try { showCode(await encodeBody(form, true)); showError(""); } catch (e) { showError(e.message); }
  });
  const drawing = pad;
  $("#clear").addEventListener("click", () => drawing.clear());
  $("#compute").addEventListener("click", async () => {
    const picked = (id) => $$(`#${id} input:checked`).map((i) => i.value);
    try {
      const r = await call("/arithmetic", { plus: picked("plus"), minus: picked("minus") });
      const parts = r.terms.map((t) => `<figure><figcaption>${t.sign} ${t.digit}</figcaption><img class="pixels" src="${t.png}" width="56" height="56" alt="average ${t.digit}"></figure>`);
      $("#arith").innerHTML = parts.join("") + `<span class="equals">=</span><figure><figcaption>result</figcaption><img class="pixels" src="${r.png}" width="84" height="84" alt="the result"></figure>`;
      showError("");
    } catch (e) { showError(e.message); }
  });
  $("#watch-start").addEventListener("click", watchOneTrain);
  $("#watch-stop").addEventListener("click", () => {
    if (state.watch) fetch(`/api/v1/training-runs/${state.watch.id}`, { method: "DELETE" });
  });
  // the 2-D VAE first: it is the one with a map
  selectModel((state.models.find((m) => m.has_map) || state.models[0]).name);
}

// ------------------------------------------------------------------ watch one train

async function watchOneTrain() {
  const [task, latent] = $("#watch-task").value.split(":");
  const res = await fetch("/api/v1/generative/training-runs", { method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ task, latent: Number(latent), epochs: Number($("#watch-epochs").value) }) });
  const run = await res.json();
  if (!res.ok) { showError(run.error.message); return; }
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
    losses.push([d.neg_elbo ?? d.generator_loss, d.discriminator_loss]);
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

function drawLosses(losses, task) {
  const canvas = $("#watch-chart");
  canvas.hidden = false;
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  const series = task === "vae" ? [[0, "#4f46e5", "−ELBO"]] : [[0, "#4f46e5", "generator"], [1, "#d97706", "discriminator"]];
  const values = losses.flatMap((l) => series.map(([k]) => l[k]));
  const lo = Math.min(...values), hi = Math.max(...values);
  series.forEach(([k, colour, name], n) => {
    ctx.strokeStyle = colour;
    ctx.lineWidth = 2;
    ctx.beginPath();
    losses.forEach((l, i) => {
      const x = (i / Math.max(1, losses.length - 1)) * (w - 10) + 5;
      const y = h - 18 - ((l[k] - lo) / (hi - lo || 1)) * (h - 30);
      if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
    });
    ctx.stroke();
    ctx.fillStyle = colour;
    ctx.font = "12px system-ui";
    ctx.fillText(`${name} ${losses[losses.length - 1][k].toFixed(2)}`, 8 + n * 160, h - 4);
  });
}

if ($("#decoded")) start();
