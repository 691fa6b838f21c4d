// A drawing pad for digits: white ink on black, like MNIST. Pointer events cover mouse, pen and
// touch. Shared by the model inspector and the generative lab (an ES module).

/** Makes `canvas` drawable; `onChange(final)` is called while drawing (final = false, at most
 *  every 120 ms) and when a stroke ends (final = true). Returns {clear, blob}. */
export function makePad(canvas, penInput, onChange) {
  const ctx = canvas.getContext("2d");
  const clear = () => { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, canvas.width, canvas.height); };
  clear();
  let drawing = false, last = null, lastSent = 0;
  const point = (e) => {
    const r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * (canvas.width / r.width), (e.clientY - r.top) * (canvas.height / r.height)];
  };
  const stroke = (p) => {
    ctx.strokeStyle = "#fff";
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.lineWidth = Number(penInput ? penInput.value : 22);
    ctx.beginPath();
    ctx.moveTo(...(last || p));
    ctx.lineTo(...p);
    ctx.stroke();
    last = p;
  };
  canvas.addEventListener("pointerdown", (e) => {
    drawing = true;
    last = null;
    canvas.setPointerCapture(e.pointerId);
    stroke(point(e));
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!drawing) return;
    stroke(point(e));
    if (performance.now() - lastSent > 120) { lastSent = performance.now(); onChange(false); }
  });
  const end = () => {
    if (!drawing) return;
    drawing = false;
    onChange(true);
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  return { clear, blob: () => new Promise((ok) => canvas.toBlob(ok, "image/png")) };
}
