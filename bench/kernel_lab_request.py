"""End to end: a new kernel on an uploaded 1024 px image, through the real server.

Run: .venv/bin/python bench/kernel_lab_request.py [--n 200]
Starts uvicorn on a free port, uploads a 1024×1024 photo-like PNG, then times sequential
POST /api/v1/convolve requests (a new random kernel each time) and, as the reference in the same
run, GET /api/v1/health. Target: p50 ≤ 30 ms.
"""

from __future__ import annotations

import argparse
import io
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parents[1]


def photo_like(side: int = 1024) -> bytes:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:side, 0:side] / side
    base = np.stack([200 * x + 30, 160 * y + 40, 120 * (1 - x) + 60], axis=-1)
    im = Image.fromarray(base.astype(np.uint8))
    d = ImageDraw.Draw(im)
    for _ in range(40):
        cx, cy, r = rng.integers(0, side, 2).tolist() + [int(rng.integers(10, 120))]
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=tuple(rng.integers(0, 256, 3).tolist()))
    im = im.filter(ImageFilter.GaussianBlur(1))
    px = np.asarray(im, dtype=np.float64) + rng.normal(0, 6, (side, side, 3))
    buf = io.BytesIO()
    Image.fromarray(np.clip(px, 0, 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def percentiles(times: list[float]) -> str:
    q = statistics.quantiles([t * 1e3 for t in times], n=100)
    return f"p50 {statistics.median(times) * 1e3:6.1f} ms  p90 {q[89]:6.1f} ms  p99 {q[98]:6.1f} ms"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    args = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory",
                               "--port", str(port), "--log-level", "warning"], cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            for _ in range(150):
                try:
                    client.get("/api/v1/health")
                    break
                except httpx.TransportError:
                    time.sleep(0.2)
            image_id = client.post("/api/v1/images",
                                   files={"file": ("photo.png", photo_like())}).json()["id"]
            rng = np.random.default_rng(1)

            def timed(fn) -> list[float]:
                fn()  # warm-up (the preview planes are prepared on first use)
                out = []
                for _ in range(args.n):
                    t = time.perf_counter()
                    r = fn()
                    r.read()
                    assert r.status_code == 200, r.text
                    out.append(time.perf_counter() - t)
                return out

            print(f"uploaded 1024×1024 PNG, {args.n} sequential requests each")
            print(f"{'GET /api/v1/health (reference)':<44} "
                  f"{percentiles(timed(lambda: client.get('/api/v1/health')))}")
            for k, fmt, channels in ((3, "jpeg", "rgb"), (3, "png", "rgb"), (3, "webp", "rgb"),
                                     (7, "jpeg", "rgb"), (3, "jpeg", "gray")):
                def call(k=k, fmt=fmt, channels=channels):
                    return client.post("/api/v1/convolve", json={
                        "image_id": image_id, "kernel": rng.normal(size=(k, k)).tolist(),
                        "padding": "same", "format": fmt, "channels": channels})
                label = f"POST /convolve {k}×{k} {channels} {fmt}"
                print(f"{label:<44} {percentiles(timed(call))}")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
