"""End to end: a new kernel on an uploaded 1024 px image, through the real server.

Run from the repository root:  .venv/bin/python -m bench.kernel_lab_request [--n 200]

Starts the app with uvicorn (app.main:create_app --factory) on a free localhost port, uploads a
generated 1024×1024 photo-like PNG (POST /api/v1/images), then times sequential requests over one
keep-alive httpx client, each from sending to having read the whole body:

- POST /api/v1/convolve {image_id, kernel, padding: 'same', format}: a new random kernel every
  time, 3×3 as JPEG, PNG and WebP, and 7×7 as JPEG;
- what the kernel-lab page does per keystroke: POST /kernels/render (form-encoded, the page's own
  fields, no filter bank) and then GET of the result image whose URL the fragment holds;
- GET /api/v1/health, the trivial reference, in the same run.

Rows far above the target (PNG, WebP) and the informational filter-bank row take fewer requests,
so that the whole run stays near a minute; the n column says how many.

Target (DESIGN): p50 ≤ 30 ms. Afterwards the server is shut down (SIGTERM, graceful), and the
server-side phases of one request (convolve, stats, display mapping, encoding) are timed
in-process on the same image, to show where the time goes.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter

from app.core import images, kernels
from app.settings import LIMITS, Settings
from app.web.kernel_lab import DEFAULT_BANK
from bench.harness import (
    free_port,
    measure,
    median_ms,
    start_server,
    stop_server,
    summary,
    wait_ready,
)

ROOT = Path(__file__).resolve().parents[1]
SIDE = 1024
TARGET_MS = 30.0
RESULT_URL = re.compile(r"/api/v1/results/[A-Za-z0-9_-]+")


def photo_like(side: int = SIDE, seed: int = 0) -> bytes:
    """A PNG that compresses and filters like a photo: smooth gradients, soft-edged shapes of
    many colours and sizes, some hard lines, and sensor-like noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:side, 0:side] / side
    sky = np.stack([90 + 120 * y + 30 * np.sin(6 * x), 140 + 80 * y, 220 - 60 * y + 20 * x], -1)
    im = Image.fromarray(np.clip(sky, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(im)
    for _ in range(60):
        cx, cy = rng.integers(0, side, 2).tolist()
        r = int(rng.integers(8, 160))
        fill = tuple(rng.integers(0, 256, 3).tolist())
        if rng.random() < 0.6:
            d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
        else:
            d.rectangle((cx - r, cy - r // 2, cx + r, cy + r // 2), fill=fill)
    for _ in range(25):
        x0, y0, x1, y1 = rng.integers(0, side, 4).tolist()
        d.line((x0, y0, x1, y1), fill=tuple(rng.integers(0, 256, 3).tolist()),
               width=int(rng.integers(1, 6)))
    im = im.filter(ImageFilter.GaussianBlur(1.5))
    px = np.asarray(im, dtype=np.float64) + rng.normal(0, 5, (side, side, 3))
    buf = io.BytesIO()
    Image.fromarray(np.clip(px, 0, 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def new_kernel(rng: np.random.Generator, k: int) -> list[list[float]]:
    """A kernel nobody asked for before: random weights (σ 0.3) whose sum is 1, so the output
    stays a picture (like an edited blur or sharpen), not a field of clipped noise."""
    kernel = rng.normal(0, 0.3, (k, k))
    kernel[k // 2, k // 2] += 1 - kernel.sum()
    return np.round(kernel, 4).tolist()


def expect(r: httpx.Response, media: str) -> int:
    if r.status_code != 200 or not r.headers.get("content-type", "").startswith(media):
        raise SystemExit(f"{r.request.method} {r.request.url.path}: {r.status_code} "
                         f"{r.headers.get('content-type')}: {r.text[:300]}")
    return len(r.content)


def server_phases(png: bytes, threads: int | None, repeat: int = 20) -> None:
    """The work behind one /convolve request, in-process on the same image, phase by phase."""
    if threads:
        torch.set_num_threads(threads)
    s = Settings()
    decoded = images.decode_image(png, max_pixels=s.max_image_pixels, max_side=s.max_image_side)
    preview = images.fit_within(decoded.pixels, s.preview_side)
    rng = np.random.default_rng(2)
    spec = kernels.ConvSpec(padding="same")

    def med(fn: Callable[[], object]) -> float:
        return median_ms(fn, repeat)

    x = images.to_planes(preview, "rgb")
    print(f"\nserver-side phases of one request, in-process on the same image "
          f"({torch.get_num_threads()} torch threads), median of {repeat}:")
    rows: list[tuple[str, float]] = [
        ("to_planes (once per image, cached by the app)", med(lambda: images.to_planes(preview,
                                                                                     "rgb")))]
    ys = {}
    for k in (3, 7):
        kern = np.array(new_kernel(rng, k))
        ys[k] = kernels.convolve(x, kern, spec, limits=LIMITS.kernels)
        rows.append((f"kernels.convolve {k}×{k}", med(lambda kern=kern: kernels.convolve(
            x, kern, spec, limits=LIMITS.kernels))))
    y = ys[3]
    stats = images.value_stats(y)
    rows.append(("images.value_stats", med(lambda: images.value_stats(y))))
    rows.append(("images.to_display clip", med(lambda: images.to_display(y, "clip", stats))))
    shown = images.to_display(y, "clip", stats)
    for fmt in ("jpeg", "png", "webp"):
        rows.append((f"images.encode {fmt}", med(lambda fmt=fmt: images.encode(shown, fmt))))
    for name, ms in rows:
        print(f"  {name:<50} {ms:7.2f} ms")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200, help="timed requests per row (default 200)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed requests first (default 5)")
    ap.add_argument("--threads", type=int, default=None,
                    help="PLAYGROUND_TORCH_THREADS for the server (default: the app's default)")
    ap.add_argument("--no-phases", action="store_true", help="skip the in-process phase timing")
    args = ap.parse_args()

    png = photo_like()
    port = free_port()
    log = tempfile.TemporaryFile()
    server = start_server(port, args.threads, log)
    rng = np.random.default_rng(1)
    rows: list[tuple[str, list[float], float, bool]] = []
    few = max(20, args.n // 4)  # for rows far above the target: they cost 80-200 ms each
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30,
                          trust_env=False) as client:
            wait_ready(server, client)
            r = client.post("/api/v1/images", files={"file": ("photo.png", png, "image/png")})
            if r.status_code != 201:
                raise SystemExit(f"upload failed: {r.status_code} {r.text[:300]}")
            info = r.json()
            image_id = info["id"]
            print(f"server: uvicorn app.main:create_app --factory on 127.0.0.1:{port}"
                  f"{f', PLAYGROUND_TORCH_THREADS={args.threads}' if args.threads else ''} "
                  f"({os.cpu_count()} CPUs here, client on the same machine)")
            print(f"uploaded a {info['width']}×{info['height']} photo-like PNG "
                  f"({len(png) / 1e6:.1f} MB) as {image_id}; a new random kernel (sum 1) every "
                  f"request; n sequential requests per row after {args.warmup} warm-up, "
                  "one keep-alive connection, time = send to body read\n")

            rows.append(("GET /api/v1/health (reference)", *measure(
                lambda: expect(client.get("/api/v1/health"), "application/json"),
                args.n, args.warmup), False))

            def convolve(k: int, fmt: str) -> int:
                r = client.post("/api/v1/convolve", json={
                    "image_id": image_id, "kernel": new_kernel(rng, k), "padding": "same",
                    "format": fmt})
                return expect(r, f"image/{fmt}")

            for k, fmt, n in ((3, "jpeg", args.n), (3, "png", few), (3, "webp", few),
                              (7, "jpeg", args.n)):
                rows.append((f"POST /api/v1/convolve {k}×{k} {fmt}", *measure(
                    lambda k=k, fmt=fmt: convolve(k, fmt), n, args.warmup), True))

            fragment_t: list[float] = []
            image_t: list[float] = []

            def keystroke(bank: tuple[str, ...] = ()) -> int:
                """The page's form as htmx posts it, then the <img> the fragment points at."""
                form = {"image_id": image_id, "rows": "3", "cols": "3",
                        "k": [f"{v:g}" for row in new_kernel(rng, 3) for v in row],
                        "scale": "1", "bias": "0", "stride": "1", "padding": "same",
                        "padding_mode": "zeros", "dilation": "1", "channels": "rgb",
                        "display": "clip"}
                if bank:
                    form["bank"] = list(bank)
                t0 = time.perf_counter()
                r = client.post("/kernels/render", data=form)
                size = expect(r, "text/html")
                urls = list(dict.fromkeys(RESULT_URL.findall(r.text)))
                if len(urls) != 1 + len(bank):
                    raise SystemExit(f"expected {1 + len(bank)} result URLs in the fragment, "
                                     f"found {len(urls)}: {r.text[:500]}")
                t1 = time.perf_counter()
                for url in urls:  # the browser loads every <img> the fragment brings
                    size += expect(client.get(url), "image/")
                if not bank:
                    fragment_t.append(t1 - t0)
                    image_t.append(time.perf_counter() - t1)
                return size

            pair = measure(keystroke, args.n, args.warmup)
            fragment_t, image_t = fragment_t[-args.n:], image_t[-args.n:]
            rows.append(("page keystroke: POST /kernels/render + GET result", *pair, True))
            rows.append(("  of which POST /kernels/render (fragment)", fragment_t, 0.0, False))
            rows.append(("  of which GET /api/v1/results/{id} (jpeg)", image_t, 0.0, False))

            # The page as it opens has 8 filter-bank presets ticked, and then every keystroke
            # also renders (and the browser loads) 8 gray 256 px maps; information, fewer requests.
            rows.append((f"  info: same with the page's default bank ({len(DEFAULT_BANK)} maps)",
                         *measure(lambda: keystroke(DEFAULT_BANK), max(20, args.n // 10),
                                  args.warmup), False))
    finally:
        stopped = stop_server(server, log)

    width = max(len(r[0]) for r in rows)
    header = (f"{'request':<{width}}  {'n':>4}  {'p50 ms':>7}  {'p90 ms':>7}  {'p99 ms':>7}  "
              f"{'mean KB':>7}  target p50 ≤ {TARGET_MS:g} ms")
    print(header)
    print("-" * len(header))
    for name, times, size, targeted in rows:
        p50, p90, p99 = summary(times)
        verdict = ("PASS" if p50 <= TARGET_MS else "MISS") if targeted else ""
        kb = f"{size / 1e3:7.1f}" if size else f"{'':7}"
        print(f"{name:<{width}}  {len(times):>4}  {p50:7.1f}  {p90:7.1f}  {p99:7.1f}  {kb}  "
              f"{verdict}".rstrip())
    print(f"\n{stopped}")
    if not args.no_phases:
        server_phases(png, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
