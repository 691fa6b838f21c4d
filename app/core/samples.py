"""Built-in sample images, drawn by code at start-up: nothing is downloaded, nothing is licensed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZE = 512


@dataclass(frozen=True)
class Sample:
    key: str
    title: str
    draw: Callable[[], np.ndarray]


def _landscape() -> np.ndarray:
    """Sky, sun, mountains, a lake and trees: soft gradients and hard edges side by side."""
    rng = np.random.default_rng(7)
    y = np.linspace(0, 1, SIZE)[:, None, None]
    sky = (1 - y) * np.array([70, 130, 210]) + y * np.array([250, 200, 160])
    im = Image.fromarray(np.broadcast_to(sky, (SIZE, SIZE, 3)).astype(np.uint8))
    d = ImageDraw.Draw(im)
    d.ellipse((340, 70, 420, 150), fill=(255, 236, 150))
    d.polygon([(0, 330), (120, 170), (230, 300), (330, 150), (512, 340), (512, 400), (0, 400)],
              fill=(92, 96, 120))
    d.polygon([(300, 190), (330, 150), (362, 192), (345, 186), (330, 200), (315, 185)],
              fill=(245, 245, 250))
    d.rectangle((0, 380, 512, 512), fill=(60, 120, 80))
    d.rectangle((0, 400, 512, 450), fill=(80, 140, 190))
    for x in range(20, 512, 46):
        h = 50 + (x * 7) % 40
        d.rectangle((x + 8, 470 - 12, x + 14, 470 + 8), fill=(90, 60, 40))
        d.polygon([(x, 462), (x + 11, 462 - h), (x + 22, 462)], fill=(30, 90, 50))
    px = np.asarray(im, dtype=np.float64) + rng.normal(0, 2, (SIZE, SIZE, 3))
    return np.clip(px, 0, 255).astype(np.uint8)


def _shapes() -> np.ndarray:
    """Flat coloured shapes: every kernel's effect on edges and corners is easy to see."""
    im = Image.new("RGB", (SIZE, SIZE), (235, 235, 228))
    d = ImageDraw.Draw(im)
    d.rectangle((40, 40, 220, 220), fill=(220, 60, 60))
    d.ellipse((280, 50, 470, 240), fill=(40, 110, 200))
    d.polygon([(80, 470), (180, 280), (280, 470)], fill=(250, 190, 40))
    d.regular_polygon((390, 380, 90), 6, rotation=15, fill=(40, 160, 110))
    d.line((30, 260, 490, 260), fill=(30, 30, 30), width=4)
    d.line((250, 20, 250, 500), fill=(30, 30, 30), width=2)
    return np.asarray(im, dtype=np.uint8).copy()


def _checkerboard() -> np.ndarray:
    """Checks of three sizes: shows what stride and dilation skip, and where blur averages."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    cell = np.where(yy < SIZE // 3, 8, np.where(yy < 2 * SIZE // 3, 16, 32))
    on = ((yy // cell) + (xx // cell)) % 2 == 0
    gray = np.where(on, 230, 25).astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)


def _zone_plate() -> np.ndarray:
    """Rings whose frequency rises outward: blur erases the outer rings, stride aliases them."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64) - SIZE / 2
    r2 = (xx**2 + yy**2) / SIZE
    gray = (127.5 + 127.5 * np.cos(np.pi * r2 * 0.9)).astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)


def _digit() -> np.ndarray:
    """A hand-drawn 3 on a 28×28 grid, MNIST style (white ink on black), where every pixel shows."""
    im = Image.new("L", (112, 112), 0)
    d = ImageDraw.Draw(im)
    d.arc((28, 14, 84, 58), start=200, end=95, fill=255, width=10)
    d.arc((24, 50, 86, 100), start=270, end=160, fill=255, width=10)
    im = im.filter(ImageFilter.GaussianBlur(2)).resize((28, 28), Image.Resampling.LANCZOS)
    gray = np.asarray(im, dtype=np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2).copy()


SAMPLES: tuple[Sample, ...] = (
    Sample("landscape", "Landscape", _landscape),
    Sample("shapes", "Shapes", _shapes),
    Sample("checkerboard", "Checkerboard", _checkerboard),
    Sample("zone-plate", "Zone plate", _zone_plate),
    Sample("digit", "Digit (28×28)", _digit),
)
