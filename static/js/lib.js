// What the lab scripts share: finding and building elements, the error banner, calls to the
// REST API and its error shape, the two ways a page keeps only its newest request, and canvas
// charts with axes. An ES module: each lab imports what it uses from "./lib.js".

// ------------------------------------------------------------------ elements

/** The first element matching `sel` (in `root`), or null. */
export const $ = (sel, root = document) => root.querySelector(sel);
/** Every element matching `sel` (in `root`), as an array. */
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

/** A new element: el("span", "dim", "text", { title: "…" }); `props` are set as properties. */
export function el(tag, cls, text, props) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  if (props) Object.assign(e, props);
  return e;
}

/** Shows `message` in an error banner (the element or a selector); no message hides it. */
export function showError(banner, message) {
  const box = typeof banner === "string" ? $(banner) : banner;
  box.hidden = !message;
  box.textContent = message || "";
}
export const clearError = (banner) => showError(banner, "");

/** The [row, column] under the pointer of a rows × cols grid that fills `target`. */
export function cellAt(event, target, rows, cols) {
  const r = target.getBoundingClientRect();
  return [Math.min(rows - 1, Math.floor((event.clientY - r.top) / r.height * rows)),
    Math.min(cols - 1, Math.floor((event.clientX - r.left) / r.width * cols))];
}

/** Shows a fetched picture in `img`, freeing the one it showed before. */
export function showBlob(img, blob) {
  if (img.dataset.url) URL.revokeObjectURL(img.dataset.url);
  img.dataset.url = URL.createObjectURL(blob);
  img.src = img.dataset.url;
}

// ------------------------------------------------------------------ the API

/** fetch() for the REST API. A `body` goes by POST (unless `method` says otherwise), as JSON, or
 *  as it is when it is FormData; the answer is read as JSON, or as a Blob with as: "blob". A
 *  refusal, the API's {"error": {"code", "message", "field"}}, throws an Error with that message
 *  and its `code`, `field` and `status`; an Error without `status` means no answer came. */
export async function fetchJSON(url, { body, method, as = "json", signal } = {}) {
  const init = { method: method || (body === undefined ? "GET" : "POST"), signal };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { "Content-Type": "application/json" };
  }
  const res = await fetch(url, init);
  if (!res.ok) {
    const data = await res.json().catch(() => ({}));
    const error = data.error || {};
    throw Object.assign(new Error(error.message || `request failed (${res.status})`),
      { code: error.code, field: error.field, status: res.status });
  }
  return as === "blob" ? res.blob() : res.json();
}

/** Latest request wins: each call of the returned function aborts the call before it (`task`
 *  gets an AbortSignal first, then the call's arguments) and resolves to its answer, or to
 *  undefined once a newer call has superseded it; so only the newest answer is ever applied. */
export function latest(task) {
  let newest = null;
  return async (...args) => {
    if (newest) newest.abort();
    const mine = (newest = new AbortController());
    try {
      const answer = await task(mine.signal, ...args);
      return mine.signal.aborted ? undefined : answer;
    } catch (e) {
      if (mine.signal.aborted) return undefined;
      throw e;
    }
  };
}

/** For a stream of changes (a slider dragged, a digit drawn) whose every answer is shown: one
 *  `task` out at a time; calls while it is out come down to one more run when it ends, which
 *  reads the newest state. So the newest state is always shown last, and nothing piles up. */
export function coalesce(task) {
  let busy = false, again = false;
  const run = async () => {
    if (busy) { again = true; return; }
    busy = true;
    try { await task(); }
    finally {
      busy = false;
      if (again) { again = false; run(); }
    }
  };
  return run;
}

// ------------------------------------------------------------------ numbers and charts

/** A number as the labs write it: at most 4 significant digits, a true minus sign. */
export function fmt(v) {
  if (v === null || v === undefined) return "";
  if (Number.isInteger(v)) return String(v).replace("-", "−");
  const a = Math.abs(v);
  const s = a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(2) : String(Number(v.toPrecision(4)));
  return s.replace("-", "−");
}

function niceTicks(lo, hi, count = 5) {
  const span = hi - lo || 1;
  const step0 = Math.pow(10, Math.floor(Math.log10(span / count)));
  const step = [1, 2, 5, 10].map((m) => m * step0).find((s) => span / s <= count) || step0 * 10;
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9; t += step) ticks.push(Number(t.toPrecision(6)));
  return ticks;
}

/** Sizes `canvas` to its CSS box (sharp on any screen) and draws the grid, ticks and labels.
 *  Returns {ctx, X, Y, m, w, h}: X and Y map data to CSS pixels, m is the margins, w × h the
 *  size. The plot area is clipped (ctx.save()): call ctx.restore() when done. */
export function axes(canvas, [x0, x1], [y0, y1], xLabel, yLabel) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  canvas.width = w * dpr; canvas.height = h * dpr;
  const ctx = canvas.getContext("2d");
  ctx.scale(dpr, dpr);
  const m = { l: 46, r: 12, t: 10, b: 34 };
  const X = (x) => m.l + ((x - x0) / (x1 - x0)) * (w - m.l - m.r);
  const Y = (y) => h - m.b - ((y - y0) / (y1 - y0)) * (h - m.t - m.b);
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#5d6678"; ctx.strokeStyle = "#dde1ea";
  niceTicks(x0, x1).forEach((t) => {
    ctx.beginPath(); ctx.moveTo(X(t), m.t); ctx.lineTo(X(t), h - m.b); ctx.stroke();
    ctx.textAlign = "center"; ctx.fillText(fmt(t), X(t), h - m.b + 14);
  });
  niceTicks(y0, y1).forEach((t) => {
    ctx.beginPath(); ctx.moveTo(m.l, Y(t)); ctx.lineTo(w - m.r, Y(t)); ctx.stroke();
    ctx.textAlign = "right"; ctx.fillText(fmt(t), m.l - 4, Y(t) + 4);
  });
  ctx.textAlign = "center"; ctx.fillStyle = "#1d2330";
  ctx.fillText(xLabel, m.l + (w - m.l - m.r) / 2, h - 4);
  ctx.save(); ctx.translate(11, m.t + (h - m.t - m.b) / 2); ctx.rotate(-Math.PI / 2);
  ctx.fillText(yLabel, 0, 0); ctx.restore();
  ctx.save(); ctx.beginPath(); ctx.rect(m.l, m.t, w - m.l - m.r, h - m.t - m.b); ctx.clip();
  return { ctx, X, Y, m, w, h };
}

/** A line through `points`, [x, y] in pixels; `dash` as for setLineDash. */
export function polyline(ctx, points, colour, width = 2, dash = []) {
  ctx.beginPath(); ctx.setLineDash(dash); ctx.lineWidth = width; ctx.strokeStyle = colour;
  points.forEach(([x, y], k) => (k ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
  ctx.stroke(); ctx.setLineDash([]);
}

/** A round marker of radius `r` at (x, y), ringed in `stroke`. */
export function dot(ctx, x, y, r, fill, stroke = "white") {
  ctx.beginPath(); ctx.arc(x, y, r, 0, 2 * Math.PI);
  ctx.fillStyle = fill; ctx.fill(); ctx.lineWidth = 2; ctx.strokeStyle = stroke; ctx.stroke();
}
