// Kernel lab: drag-and-drop upload, kernel-cell colours, and the hover window. htmx does the rest:
// every number the page shows (the output size and its formula too) comes in the server's fragments.
import { $, cellAt } from "./lib.js";

const dropzone = (e) => e.target.closest && e.target.closest("#dropzone");
document.addEventListener("dragover", (e) => {
  const zone = dropzone(e);
  if (zone) { e.preventDefault(); zone.classList.add("dragging"); }
});
document.addEventListener("dragleave", (e) => {
  const zone = dropzone(e);
  if (zone) zone.classList.remove("dragging");
});
document.addEventListener("drop", (e) => {
  const zone = dropzone(e);
  if (!zone || !e.dataTransfer.files.length) return;
  e.preventDefault();
  zone.classList.remove("dragging");
  const input = zone.querySelector("input[type=file]");
  input.files = e.dataTransfer.files;
  input.dispatchEvent(new Event("change", { bubbles: true }));
});

// Tint each weight as it is typed: red for positive, blue for negative.
document.addEventListener("input", (e) => {
  const cell = e.target;
  if (!cell.matches || !cell.matches(".kernel-grid input")) return;
  const v = parseFloat(cell.value.replace("−", "-"));
  cell.classList.toggle("pos", v > 0);
  cell.classList.toggle("neg", v < 0);
});

// Hovering the output shows the input window that produced the pixel under the pointer; the
// fragment's data attributes carry the output size, the stride, dilation and padding.
document.addEventListener("mousemove", (e) => {
  const out = $("#filtered");
  const box = $("#window-box");
  const info = $("#hover-info");
  if (!out || !box || !info) return;
  if (e.target !== out) { box.hidden = true; return; }
  const d = Object.fromEntries(Object.entries(out.dataset).map(([k, v]) => [k, Number(v)]));
  const [row, col] = cellAt(e, out, d.outH, d.outW);
  const top = row * d.stride - d.padTop, left = col * d.stride - d.padLeft;
  const spanH = d.dilation * (d.kh - 1) + 1, spanW = d.dilation * (d.kw - 1) + 1;
  box.hidden = false;
  box.style.left = (left / d.inW * 100) + "%";
  box.style.top = (top / d.inH * 100) + "%";
  box.style.width = (spanW / d.inW * 100) + "%";
  box.style.height = (spanH / d.inH * 100) + "%";
  info.textContent = `Output pixel (row ${row}, column ${col}) comes from input rows ${top} to ${top + spanH - 1}, ` +
    `columns ${left} to ${left + spanW - 1}` + (top < 0 || left < 0 || top + spanH > d.inH || left + spanW > d.inW
      ? " (partly in the padding)." : ".");
});
