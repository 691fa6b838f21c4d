// Model inspector: a drawing pad and the calls to /api/v1/models/{name}/... that draw the page.
// The page computes nothing it shows: the server prepares the input, runs the model and draws
// every map; this script sends the input and places the pictures. A layer's maps come at their
// own size (one pixel per value) and are enlarged here by CSS, pixelated.
import { $, $$, cellAt, coalesce, el, fetchJSON, latest, showBlob, showError } from "./lib.js";
import { makePad } from "./pad.js";

const api = (path) => `/api/v1/models/${encodeURIComponent($("#model").value)}${path}`;
const state = { source: null, result: null, unit: null };
const fail = (message) => showError("#inspector-error", message);
let drawing = null; // the pad

// ------------------------------------------------------------------ sending the input

/** The request body for the current input: JSON for an example, a file for a drawing or upload. */
async function body() {
  const s = state.source;
  if (s.kind === "example") return { example: s.index };
  const form = new FormData();
  if (s.kind === "draw") form.append("file", await drawing.blob(), "drawing.png");
  else form.append("file", s.file, s.file.name);
  return form;
}
const post = async (path, { as = "json" } = {}) => fetchJSON(api(path), { body: await body(), as });

/** Runs the model on the current input; while a request is out, the newest input waits. */
const inspect = coalesce(async () => {
  if (!state.source) return;
  try {
    const result = await post(`/activations?scale=${$("#scale").value}`);
    state.result = result;
    fail("");
    drawAnswer(result);
    drawLayers(result);
    heatMaps();
    if (state.unit) openUnit(state.unit.layer, state.unit.channel);
  } catch (e) {
    fail(e.message);
  }
});

function heatMaps() {
  for (const kind of ["saliency", "gradcam"]) {
    post(`/${kind}`, { as: "blob" }).then((blob) => showBlob($(`#${kind}`), blob)).catch(() => {});
  }
}

// ------------------------------------------------------------------ drawing the answers

function drawAnswer(r) {
  $("#seen").src = r.input_png;
  $("#answer").textContent = `${r.label} (${Math.round(100 * r.probabilities[r.prediction])}%)`;
  const bars = r.probabilities.map((p, k) => {
    const li = el("li", k === r.prediction ? "truth" : "");
    const bar = el("span", "bar");
    const fill = el("span");
    fill.style.width = `${(100 * p).toFixed(1)}%`;
    bar.append(fill);
    li.append(el("span", "", r.classes[k]), bar, el("span", "pct", `${(100 * p).toFixed(1)}%`));
    return li;
  });
  $("#bars").replaceChildren(...bars);
}

const LAYER_MAX_HEIGHT = 220; // px on the page

/** The size a layer's grid is drawn at: its own size times a whole zoom (crisp pixels), the
 *  layer's suggested one or less, so the grid stays under LAYER_MAX_HEIGHT. */
function layerSize(layer) {
  const maps = layer.shape.length === 3 ? layer.shape[0] : 1;
  const rows = Math.ceil(maps / layer.cols);
  const width = layer.cols * (layer.tile[1] + layer.gap) - layer.gap;
  const height = rows * (layer.tile[0] + layer.gap) - layer.gap;
  const zoom = Math.max(1, Math.min(layer.zoom, Math.floor(LAYER_MAX_HEIGHT / height)));
  return { width: width * zoom, height: height * zoom };
}

function drawLayers(r) {
  const items = r.layers.map((layer) => {
    const li = el("li");
    const fig = el("figure");
    const cap = el("figcaption", "", `${layer.index + 1}. ${layer.label} `);
    cap.append(el("span", "dim", layer.shape.join("×")));
    const img = el("img", "pixels", undefined, { src: layer.png, alt: `layer ${layer.index + 1}: ${layer.label}`,
      ...layerSize(layer) });
    img.dataset.layer = layer.index;
    if (layer.shape.length === 3) img.classList.add("clickable");
    fig.append(cap, img);
    li.append(fig);
    return li;
  });
  $("#layers").replaceChildren(...items);
}

/** Which map of a layer's grid a click landed on. */
function tileAt(img, layer, event) {
  const rect = img.getBoundingClientRect();
  const x = (event.clientX - rect.left) * (img.naturalWidth / rect.width);
  const y = (event.clientY - rect.top) * (img.naturalHeight / rect.height);
  const col = Math.floor(x / (layer.tile[1] + layer.gap));
  const row = Math.floor(y / (layer.tile[0] + layer.gap));
  const channel = row * layer.cols + col;
  return channel < layer.shape[0] ? channel : null;
}

async function openUnit(layerIndex, channel) {
  state.unit = { layer: layerIndex, channel };
  const panel = $("#unit");
  if (panel.hidden) { panel.hidden = false; panel.scrollIntoView({ behavior: "smooth", block: "nearest" }); }
  const layer = state.result.layers[layerIndex];
  $("#unit-title").textContent = `Layer ${layerIndex + 1} (${layer.label}), map ${channel + 1} of ${layer.shape[0]}`;
  try {
    const u = await post(`/units/${layerIndex}/${channel}`);
    $("#unit-map").src = u.png;
    $("#unit-map").dataset.rf = JSON.stringify({ rf: u.receptive_field, shape: u.shape });
    const k = $("#unit-kernels");
    if (u.kernels) {
      k.hidden = false;
      k.src = u.kernels.png;
      $("#unit-kernels-caption").textContent = `The filter that made it: ${u.kernels.label}, filter ${channel + 1}, ` +
        `${u.kernels.shape.join("×")} (one slice per input channel; red positive, blue negative), bias ${u.kernels.bias.toFixed(3)}`;
    } else {
      k.hidden = true;
      $("#unit-kernels-caption").textContent = "No convolution made this map.";
    }
  } catch (e) { fail(e.message); }
  const top = api(`/units/${layerIndex}/${channel}/top-examples?k=9`);
  if ($("#unit-top").dataset.url !== top) { // they do not depend on the input: once per unit
    $("#unit-top").dataset.url = top;
    $("#unit-top").replaceChildren();
    fetchTop(top).then((data) => {
      if (!data) return; // a newer unit was opened
      progress("#unit-top-progress", null);
      $("#unit-top").replaceChildren(...data.examples.map(exampleThumb));
    }).catch((e) => { // no test set for this model, say: said where the digits would be
      delete $("#unit-top").dataset.url;
      note("#unit-top-progress", e.message);
    });
  }
  $("#unit-optimized").src = api(`/units/${layerIndex}/${channel}/optimized`);
}

// ------------------------------------------------------------------ answers from the test set

const POLL_MS = 500;
const pause = (ms, signal) => new Promise((resolve, reject) => {
  const timer = setTimeout(resolve, ms);
  signal?.addEventListener("abort", () => { clearTimeout(timer); reject(new DOMException("aborted", "AbortError")); }, { once: true });
});

/** GETs an answer drawn from the test set. While the model's pass over it runs, the server
 *  answers 202 with its progress: shown in `where`, and asked again every POLL_MS. */
async function whenReady(url, where, signal) {
  for (;;) {
    const res = await fetch(url, { signal });
    if (res.status === 202) {
      progress(where, await res.json());
      await pause(POLL_MS, signal);
      continue;
    }
    if (!res.ok) {
      const error = (await res.json().catch(() => ({}))).error || {};
      throw Object.assign(new Error(error.message || `request failed (${res.status})`), { status: res.status });
    }
    return res.json();
  }
}

/** A line of text above a list (none: hidden). */
function note(where, text) {
  const p = $(where);
  p.hidden = !text;
  p.textContent = text || "";
}
/** Shows a test-set pass's progress (a 202's body) above a list, or hides it (null). */
const progress = (where, pending) =>
  note(where, pending && `Running the test set through the model… ${Math.round(100 * pending.progress)}%`);

// only the newest unit's examples are shown (and polled for)
const fetchTop = latest((signal, url) => whenReady(url, "#unit-top-progress", signal));

function exampleThumb(ex) {
  const li = el("li");
  const b = el("button", "example", undefined, { type: "button",
    title: `test digit #${ex.index}: a ${ex.label}; the model says ${ex.prediction} (${Math.round(100 * ex.confidence)}%)` });
  const img = el("img", "pixels", undefined, { src: ex.png, alt: b.title, width: 56, height: 56 });
  const cap = el("span", ex.label === ex.prediction ? "" : "wrong", ex.label === ex.prediction ? ex.label : `${ex.label}→${ex.prediction}`);
  b.append(img, cap);
  b.addEventListener("click", () => useExample(ex.index));
  li.append(b);
  return li;
}

// ------------------------------------------------------------------ inputs

function useExample(index, showTab = true) {
  state.source = { kind: "example", index };
  if (showTab) selectTab("examples");
  inspect();
}
// only the newest list is shown, whichever answer comes back last
const fetchExamples = latest((signal, wrong) =>
  whenReady(api(`/examples?wrong=${wrong}&limit=24&offset=${wrong ? 0 : Math.floor(Math.random() * 9000)}`),
    "#examples-progress", signal));
async function listExamples(wrong) {
  let data;
  try { data = await fetchExamples(wrong); } catch (e) { progress("#examples-progress", null); fail(e.message); return null; }
  if (!data) return null; // a newer list was asked for
  progress("#examples-progress", null);
  $("#examples").replaceChildren(...data.examples.map(exampleThumb));
  $("#examples").dataset.list = wrong ? "mistakes" : "any";
  return data;
}
function selectTab(name) {
  $$("[data-source]").forEach((t) => t.setAttribute("aria-selected", String(t.dataset.source === name)));
  $$("[data-panel]").forEach((p) => { p.hidden = p.dataset.panel !== name; });
}

if ($("#pad")) {
  drawing = makePad($("#pad"), $("#pen"), () => { state.source = { kind: "draw" }; inspect(); });
  $("#clear").addEventListener("click", () => { drawing.clear(); state.source = null; });

  $$("[data-source]").forEach((t) => t.addEventListener("click", () => {
    selectTab(t.dataset.source);
    if (t.dataset.source === "examples" && !$("#examples").children.length) listExamples(false);
  }));
  $("#upload").addEventListener("change", (e) => {
    if (!e.target.files.length) return;
    state.source = { kind: "upload", file: e.target.files[0] };
    inspect();
  });
  $("#random-example").addEventListener("click", async () => {
    const data = await listExamples(false);
    if (data && data.examples.length) useExample(data.examples[Math.floor(Math.random() * data.examples.length)].index);
  });
  $("#show-mistakes").addEventListener("click", () => listExamples(true));
  $("#scale").addEventListener("change", inspect);
  $("#model").addEventListener("change", () => {
    history.replaceState(null, "", `?model=${encodeURIComponent($("#model").value)}`);
    state.unit = null;
    $("#unit").hidden = true;
    delete $("#unit-top").dataset.url;
    loadModel();
  });
  $("#layers").addEventListener("click", (e) => {
    const img = e.target.closest("img.clickable");
    if (!img || !state.result) return;
    const layer = state.result.layers[Number(img.dataset.layer)];
    const channel = tileAt(img, layer, e);
    if (channel !== null) openUnit(layer.index, channel);
  });
  // Pointing at the enlarged map boxes the input pixels its unit there sees.
  $("#unit-map").addEventListener("mousemove", (e) => {
    const info = JSON.parse(e.target.dataset.rf || "null");
    const box = $("#rf-box");
    if (!info || !info.rf) { box.hidden = true; return; }
    const [i, j] = cellAt(e, e.target, ...info.shape);
    const top = info.rf.left + i * info.rf.jump, left = info.rf.left + j * info.rf.jump;
    const n = 28;
    box.hidden = false;
    box.style.top = `${Math.max(0, top) / n * 100}%`;
    box.style.left = `${Math.max(0, left) / n * 100}%`;
    box.style.height = `${(Math.min(n, top + info.rf.size) - Math.max(0, top)) / n * 100}%`;
    box.style.width = `${(Math.min(n, left + info.rf.size) - Math.max(0, left)) / n * 100}%`;
  });
  $("#unit-map").addEventListener("mouseleave", () => { $("#rf-box").hidden = true; });
  loadModel();
}

async function loadModel() {
  let card;
  try { card = await fetchJSON(api("")); } catch (e) { fail(e.message); return; }
  const acc = card.metrics.test_acc ?? card.metrics.val_acc;
  $("#model-facts").textContent = `Trained on ${card.dataset}; ${card.params?.toLocaleString() ?? "?"} parameters` +
    (acc !== undefined ? `; ${(100 * acc).toFixed(2)}% ${card.metrics.test_acc !== undefined ? "test" : "validation"} accuracy` : "") + ".";
  const filters = await fetchJSON(api("/filters")).catch(() => ({}));
  $("#filters").replaceChildren(...(filters.filters || []).map((f) => {
    const li = el("li");
    const c = filters.classic.find((k) => k.key === f.closest.key);
    li.append(el("img", "pixels", undefined, { src: f.png, alt: `learned filter ${f.index + 1}` }),
      el("img", "pixels", undefined, { src: c.png, alt: c.name }), el("span", "", `${f.closest.name} ${f.closest.similarity.toFixed(2)}`));
    return li;
  }));
  if (!state.source) useExample(0, false); // something to look at before the first stroke
  else inspect();
}
