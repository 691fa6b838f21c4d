"""Images in and out: safe decoding of uploads, display mapping, colour maps, encoding."""

from __future__ import annotations

import base64
import io
import math
import struct
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np
import simplejpeg
import torch
from isal import isal_zlib
from PIL import Image, ImageOps

# Formats detected from the bytes; anything else is refused before decoding.
ALLOWED_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")

DisplayMode = Literal["clip", "abs", "normalize", "relu", "diverging"]
DISPLAY_MODES: tuple[str, ...] = ("clip", "abs", "normalize", "relu", "diverging")
EncodeFormat = Literal["png", "jpeg", "webp"]
T = TypeVar("T")

MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}

# ITU-R BT.601 luma weights, the ones Pillow's convert("L") uses.
LUMA = (0.299, 0.587, 0.114)


class ImageError(ValueError):
    """Base for upload problems; `message` says what is wrong and what is allowed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsupportedImageFormat(ImageError):
    pass


class ImageTooLarge(ImageError):
    pass


class CorruptImage(ImageError):
    pass


@dataclass(frozen=True)
class DecodedImage:
    pixels: np.ndarray  # (H, W, 3) uint8 RGB
    format: str  # e.g. "PNG", as detected from the bytes

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])


def decode_image(data: bytes, *, max_pixels: int, max_side: int) -> DecodedImage:
    """Decodes untrusted bytes into RGB uint8, refusing what is not an image we take.

    The size is checked from the header, before any pixel is decoded, so a decompression bomb
    costs nothing. Pillow's own bomb warning is treated as an error.
    """
    allowed = ", ".join(ALLOWED_FORMATS)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageTooLarge(f"the image is too large to decode safely ({exc})") from exc
        except Image.UnidentifiedImageError as exc:
            raise UnsupportedImageFormat(
                f"the file is not an image in a format we take; allowed: {allowed}"
            ) from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise CorruptImage(f"the image header cannot be read: {exc}") from exc
        width, height = im.size
        if width < 1 or height < 1:
            raise CorruptImage("the image has no pixels")
        if max(width, height) > max_side or width * height > max_pixels:
            raise ImageTooLarge(
                f"the image is {width}×{height} ({width * height / 1e6:.1f} megapixels); "
                f"at most {max_side} px a side and {max_pixels / 1e6:.0f} megapixels are allowed"
            )
        fmt = im.format or "unknown"
        try:
            im.seek(0)  # GIF and animated WebP: the first frame
            im.load()
            im = ImageOps.exif_transpose(im)
            pixels = _to_rgb(im)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageTooLarge(f"the image is too large to decode safely ({exc})") from exc
        except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
            raise CorruptImage(
                f"the {fmt} file is truncated or corrupt and cannot be decoded ({exc})"
            ) from exc
    return DecodedImage(pixels=pixels, format=fmt)


def _to_rgb(im: Image.Image) -> np.ndarray:
    """Every mode Pillow can hand us, made explicit: transparency over white, 16-bit and float
    scaled to 8 bits, palettes and CMYK converted."""
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        a = np.asarray(im, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or a.max(initial=0) > 255 else 255.0
        gray = np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "F":
        a = np.nan_to_num(np.asarray(im, dtype=np.float64))
        if a.max(initial=0) <= 1.0:  # float images usually hold 0-1
            a = a * 255.0
        gray = np.clip(a + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "P" or mode == "PA":
        im = im.convert("RGBA")
    elif mode == "LA" or (mode in ("L", "RGB") and "transparency" in im.info):
        im = im.convert("RGBA")
    if im.mode == "RGBA":
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, im)
    return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def fit_within(pixels: np.ndarray, max_side: int) -> np.ndarray:
    """Scales an (H, W, 3) uint8 image down so its long side is at most `max_side`."""
    h, w = pixels.shape[:2]
    if max(h, w) <= max_side:
        return pixels
    im = Image.fromarray(pixels)
    im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.asarray(im, dtype=np.uint8).copy()


def to_planes(pixels: np.ndarray, channels: Literal["gray", "rgb"]) -> torch.Tensor:
    """(H, W, 3) uint8 → (1, C, H, W) float32 on the 0-255 scale, owned channels_last memory,
    the layout oneDNN's depthwise convolution is fastest on (10-40× over a strided view)."""
    x = torch.from_numpy(pixels).permute(2, 0, 1).unsqueeze(0)  # (1, 3, H, W) view
    if channels == "gray":
        weights = torch.tensor(LUMA, dtype=torch.float32).view(1, 3, 1, 1)
        return (x.float() * weights).sum(dim=1, keepdim=True).contiguous()  # (1, 1, H, W)
    return x.float().clone(memory_format=torch.channels_last)


@dataclass(frozen=True)
class ValueStats:
    min: float
    max: float
    mean: float


def value_stats(y: torch.Tensor) -> ValueStats:
    """Min, max and mean of (1, C, H, W), read in memory order (a view for channels_last
    outputs): 8× faster than a float64 reduction over the strided tensor."""
    flat = y[0].permute(1, 2, 0).reshape(-1)
    lo, hi = torch.aminmax(flat)
    return ValueStats(min=float(lo), max=float(hi), mean=float(flat.mean()))


@torch.inference_mode()  # convolve's results are inference tensors: written in place only here
def to_display(y: torch.Tensor, mode: DisplayMode, stats: ValueStats | None = None, *,
               overwrite: bool = False) -> np.ndarray:
    """Maps raw outputs (1, C, H, W) to an 8-bit picture: (H, W) for one channel, (H, W, 3) else.

    clip: values outside 0-255 are cut; abs: |v|, cut at 255; normalize: min → 0, max → 255;
    relu: negatives → 0, the largest value → 255 (how activation maps are usually drawn);
    diverging: blue for negative, white for 0, red for positive, symmetric around 0, scaled to
    robust_bound (the strongest 0.5% saturate). `stats` (normalize and relu read them) are
    computed here when not given. `overwrite`: y is the caller's own and not read again, so
    the mapping may work in it (a 1024 px RGB result: ~0.7 ms less than a 12 MB copy).
    """
    if stats is None and mode in ("normalize", "relu"):
        stats = value_stats(y)
    y = y[0]
    work = y if overwrite else None  # a tensor the mapping may write into
    if mode == "clip":
        out = y.clamp(0, 255) if work is None else work.clamp_(0, 255)
    elif mode == "abs":
        out = (y.abs() if work is None else work.abs_()).clamp_(0, 255)
    elif mode == "normalize":
        span = stats.max - stats.min
        out = ((y - stats.min) if work is None else work.sub_(stats.min)).mul_(
            255.0 / span) if span > 0 else torch.zeros_like(y)
    elif mode == "relu":
        out = ((y.clamp(min=0) if work is None else work.clamp_(min=0)).mul_(255.0 / stats.max)
               if stats.max > 0 else torch.zeros_like(y))
    elif mode == "diverging":
        gray = y.mean(dim=0) if y.shape[0] > 1 else y[0]
        bound = robust_bound(gray)
        return diverging_colormap(gray / bound if bound > 0 else torch.zeros_like(gray))
    else:
        raise ValueError(f"unknown display mode {mode!r}; allowed: {', '.join(DISPLAY_MODES)}")
    return _to_pixels(out[0] if out.shape[0] == 1 else out.permute(1, 2, 0))


def _to_pixels(t: torch.Tensor) -> np.ndarray:
    """Float values within 0-255 (a tensor of the caller's own: rounded in place) → the nearest
    uint8s, C-contiguous. Cast by numpy: its SIMD cast takes ~0.3 ms for a 1024 px RGB
    picture where torch's float → uint8 takes ~1 ms on 2 threads (2 ms on one)."""
    return t.round_().numpy().astype(np.uint8, order="C")


def robust_bound(y: torch.Tensor, share: float = 0.995) -> float:
    """The |value| below which `share` of the values lie (from a 512-bin histogram, so ~ms on a
    megapixel). Edge maps are sparse: scaled to their single largest value they look blank, so
    the strongest 0.5% saturate instead."""
    a = y.abs().flatten().float()
    top = float(a.max()) if a.numel() else 0.0
    if top == 0:
        return 0.0
    counts = torch.histc(a, bins=512, min=0, max=top)
    index = int(torch.searchsorted(counts.cumsum(0), share * a.numel()))
    return max(top * (index + 1) / 512, 1e-12)


def diverging_colormap(t: torch.Tensor) -> np.ndarray:
    """t in [−1, 1] (H, W) → (H, W, 3) uint8: blue (−1) through white (0) to red (+1)."""
    t = t.clamp(-1, 1)
    pos, neg = t.clamp(min=0), (-t).clamp(min=0)
    # white fades to red (178, 24, 43) for positives, to blue (33, 102, 172) for negatives
    r = 255 - pos * (255 - 178) - neg * (255 - 33)
    g = 255 - pos * (255 - 24) - neg * (255 - 102)
    b = 255 - pos * (255 - 43) - neg * (255 - 172)
    return _to_pixels(torch.stack([r, g, b], dim=-1))


SMALL_PNG_VALUES = 64 * 64 * 3
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ZLIB_HEADER = b"\x78\x01"  # deflate, 32 KB window, "fastest" level hint
# ISA-L's level 1: on filtered 1024 px pictures (a photo, edge maps, a diverging map) 3-6× the
# speed of zlib's fastest level or its run-length strategy, for files within ±10% of theirs.
# Level 0 is no faster and ~30% larger; 2 and 3 are slower for no fewer bytes.
PNG_DEFLATE_LEVEL = 1
PNG_BAND_BYTES = 256 * 1024  # a band deflated on a thread of its own is at least this large


def _png_chunk(kind: bytes, data: bytes) -> tuple[bytes, ...]:
    crc = isal_zlib.crc32(data, isal_zlib.crc32(kind))
    return struct.pack(">I", len(data)), kind, data, struct.pack(">I", crc)


def _png(pixels: np.ndarray, idat: bytes) -> bytes:
    h, w = pixels.shape[:2]
    colour = 2 if pixels.ndim == 3 else 0  # RGB or gray, 8 bits each
    return b"".join((PNG_SIGNATURE,
                     *_png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0)),
                     *_png_chunk(b"IDAT", idat), *_png_chunk(b"IEND", b"")))


def _deflate(rows: np.ndarray, last: bool = True) -> bytes:
    """Raw deflate of rows (no zlib header): the last piece ends the stream, any other ends
    with a sync flush (an empty stored block, byte-aligned), so the pieces join into one."""
    deflater = isal_zlib.compressobj(PNG_DEFLATE_LEVEL, isal_zlib.DEFLATED, -15)
    return deflater.compress(rows) + deflater.flush(
        isal_zlib.Z_FINISH if last else isal_zlib.Z_SYNC_FLUSH)


def _zlib_stream(bands: list[np.ndarray], pieces: list[bytes]) -> bytes:
    """Deflated pieces of consecutive bands as one zlib stream: header, pieces, Adler-32."""
    adler = 1
    for rows in bands:
        adler = isal_zlib.adler32(rows, adler)
    return b"".join((ZLIB_HEADER, *pieces, struct.pack(">I", adler)))


def small_png(pixels: np.ndarray) -> bytes:
    """A PNG of a small (H, W) or (H, W, 3) uint8 image, written directly: signature, IHDR,
    one IDAT (each row after a 0 byte: no filter; deflated as png() does), IEND. For a 28×28
    digit it takes ~7 µs where Pillow takes ~60 µs."""
    h = pixels.shape[0]
    rows = np.zeros((h, 1 + pixels[0].size), np.uint8)
    rows[:, 1:] = pixels.reshape(h, -1)
    return _png(pixels, _zlib_stream([rows], [_deflate(rows)]))


# PNG row filters written by png(): None (0), Sub (1: minus the pixel to the left), Up (2: minus
# the pixel above); Average and Paeth cost more in numpy than they save here.
PNG_FILTERS = (0, 1, 2)


def _png_filter_cost(values: np.ndarray) -> int:
    """PNG's usual heuristic for choosing a filter: the sum of the bytes read as signed."""
    return int(np.minimum(values, 0 - values).sum(dtype=np.int64))  # uint8: 0 − v is 256 − v


def _filtered_rows(a: np.ndarray, kind: int, bpp: int, start: int, stop: int) -> np.ndarray:
    """Rows start … stop − 1 of the image a (H, W·bpp), each after its filter byte `kind`
    (arithmetic wraps modulo 256, as PNG's filters do)."""
    rows = np.empty((stop - start, 1 + a.shape[1]), np.uint8)
    rows[:, 0] = kind
    part = a[start:stop]
    if kind == 0:
        rows[:, 1:] = part
    elif kind == 1:
        rows[:, 1:1 + bpp] = part[:, :bpp]
        np.subtract(part[:, bpp:], part[:, :-bpp], out=rows[:, 1 + bpp:])
    else:
        if start == 0:
            rows[0, 1:] = a[0]  # the row above the first is zeros
        first = max(start, 1)
        np.subtract(a[first:stop], a[first - 1:stop - 1], out=rows[first - start:, 1:])
    return rows


def png(pixels: np.ndarray) -> bytes:
    """A lossless PNG of an (H, W) or (H, W, 3) uint8 image, written directly, fast.

    Decision (measured on a filtered 1024 px photo-like picture): Pillow's PNG costs ~160-200 ms
    even at compress_level=1 (it tries every filter on every row, then deflates with zlib's
    LZ77 search); zlib's run-length strategy on well-filtered rows ~30-40 ms. Here one filter
    for the whole image, chosen by PNG's signed-sum heuristic on every 16th row (Up or Sub for
    photos, None for mostly flat maps such as edges), computed with numpy; then ISA-L's deflate
    (PNG_DEFLATE_LEVEL), the image cut into horizontal bands, one per compute thread
    (torch.get_num_threads(), the app's setting), each filtered and deflated on its own thread
    (numpy and ISA-L release the GIL) and joined into one zlib stream (_deflate): ~4 ms on 2
    cores, for files as large as zlib's (2.25 MB for a 3.1 MB photo). A band starts without the
    previous band's 32 KB window: a few hundred bytes lost per band."""
    h = pixels.shape[0]
    bpp = 3 if pixels.ndim == 3 else 1
    a = pixels.reshape(h, -1)
    sample, above = a[1::16], a[:-1:16]
    costs = (_png_filter_cost(sample), _png_filter_cost(sample[:, bpp:] - sample[:, :-bpp]),
             _png_filter_cost(sample - above))
    kind = PNG_FILTERS[int(np.argmin(costs))]
    n = max(1, min(torch.get_num_threads(), a.nbytes // PNG_BAND_BYTES, h))
    cuts = [h * i // n for i in range(n + 1)]

    def band(i: int) -> tuple[np.ndarray, bytes]:
        rows = _filtered_rows(a, kind, bpp, cuts[i], cuts[i + 1])
        return rows, _deflate(rows, last=i == n - 1)

    done = in_bands(n, band)
    return _png(pixels, _zlib_stream([rows for rows, _ in done], [d for _, d in done]))


def in_bands(n: int, band: Callable[[int], T]) -> list[T]:
    """[band(0), …, band(n − 1)], on up to torch.get_num_threads() threads (the app's share of
    the cores), band 0 on the caller's: for encoders that release the GIL (ISA-L, libjpeg)."""
    workers = min(n, torch.get_num_threads()) - 1
    if workers < 1:
        return [band(i) for i in range(n)]
    with ThreadPoolExecutor(workers) as pool:
        others = pool.map(band, range(1, n))
        return [band(0), *others]


JPEG_QUALITY = 90
JPEG_MAX_RESTART = 0xFFFF  # a restart interval is a 16-bit count of MCUs


def _jpeg_segments(data: bytes) -> tuple[int, int, int]:
    """Offsets in one JPEG (baseline, one scan, as libjpeg-turbo writes it): its SOF segment,
    its SOS segment, and the first byte of the entropy-coded data after the SOS header."""
    i, sof = 2, -1  # after SOI
    while True:
        marker, length = data[i + 1], int.from_bytes(data[i + 2:i + 4])
        if marker == 0xC0:
            sof = i
        if marker == 0xDA:
            return sof, i, i + 2 + length
        i += 2 + length


def jpeg(pixels: np.ndarray) -> bytes:
    """A JPEG (quality JPEG_QUALITY, 4:2:0 chroma like Pillow's default) of an (H, W) or
    (H, W, 3) uint8 image, by libjpeg-turbo (simplejpeg: no copy into a Pillow image).

    Decision (measured on a filtered 1024 px photo-like picture, 2 cores): Pillow ~8 ms,
    simplejpeg ~4 ms in one call, ~2.2 ms cut in bands encoded on their own threads. A band
    is a whole number of MCU rows (16 pixel rows, 8 for gray) and is encoded as a JPEG of its
    own; their entropy-coded data is joined with restart markers (RST0…RST7, in turn) under
    the first band's header, given the whole height and a DRI segment whose interval is one
    band's MCUs. A restart resets the DC predictions, as a fresh encoder starts, and each band
    ends byte-aligned and padded with 1 bits as the standard asks before a marker: the file is
    the one libjpeg would write with that restart interval, and decodes to the same pixels as
    one call does."""
    gray = pixels.ndim == 2
    h, w = pixels.shape[:2]
    mcu = 8 if gray else 16
    mcu_rows, mcus_per_row = -(-h // mcu), -(-w // mcu)
    n = max(1, min(torch.get_num_threads(), pixels.nbytes // PNG_BAND_BYTES, mcu_rows))
    band_rows = -(-mcu_rows // n)
    while band_rows > 1 and band_rows * mcus_per_row > JPEG_MAX_RESTART:
        n += 1
        band_rows = -(-mcu_rows // n)
    n = -(-mcu_rows // band_rows)  # the last band takes what is left
    image = np.ascontiguousarray(pixels[..., None] if gray else pixels)

    def band(i: int) -> bytes:
        rows = image[i * band_rows * mcu:(i + 1) * band_rows * mcu]
        return simplejpeg.encode_jpeg(rows, quality=JPEG_QUALITY,
                                      colorspace="GRAY" if gray else "RGB",
                                      colorsubsampling="Gray" if gray else "420",
                                      fastdct=False)

    parts = in_bands(n, band)
    if n == 1:
        return parts[0]
    first = parts[0]
    sof, sos, _ = _jpeg_segments(first)
    head = bytearray(first[:sos])
    head[sof + 5:sof + 7] = h.to_bytes(2)  # SOF: length (2), precision (1), then the height
    dri = b"\xff\xdd\x00\x04" + (band_rows * mcus_per_row).to_bytes(2)
    out = [bytes(head), dri, first[sos:-2]]  # each part ends with EOI (FF D9)
    for i, part in enumerate(parts[1:]):
        out += [bytes((0xFF, 0xD0 + i % 8)), part[_jpeg_segments(part)[2]:-2]]
    out.append(b"\xff\xd9")
    return b"".join(out)


# WebP for large interactive previews: quality 75 (libwebp's own default), method 0 (its least
# effort). Measured on a filtered 1024 px photo-like picture, one core: quality 90 ~40 ms,
# 80 ~25 ms, 75 ~22 ms (JPEG at quality 90 ~3.3 ms); method 1 and up cost more for a few
# percent fewer bytes. Below 75 saves little time (quality 50 ~17 ms) for visibly coarser blocks.
WEBP_QUALITY = 75
WEBP_METHOD = 0


def encode(pixels: np.ndarray, fmt: EncodeFormat = "png") -> bytes:
    """Encodes (H, W) or (H, W, 3) uint8: PNG (lossless, the default) written by small_png or
    png, JPEG by jpeg, WebP at WEBP_QUALITY with WEBP_METHOD (see png for the timings)."""
    if fmt == "png":
        return small_png(pixels) if pixels.size <= SMALL_PNG_VALUES else png(pixels)
    if fmt == "jpeg":
        return jpeg(pixels)
    if fmt == "webp":
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format="WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD)
        return buf.getvalue()
    raise ValueError(f"unknown format {fmt!r}; allowed: png, jpeg, webp")


def to_grid(pixels: np.ndarray, rows: int, cols: int, channels: Literal["gray", "rgb"]
            ) -> np.ndarray:
    """The image as a small grid of 0-255 integers, for stepping through by hand: the centre
    crop with the grid's aspect ratio, averaged down (box filter) to rows × cols.
    Returns (rows, cols) for gray, (3, rows, cols) for rgb."""
    h, w = pixels.shape[:2]
    crop_w = min(w, round(h * cols / rows))
    crop_h = min(h, round(w * rows / cols))
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    im = Image.fromarray(pixels[top:top + crop_h, left:left + crop_w])
    if channels == "gray":
        im = im.convert("L")
    small = np.asarray(im.resize((cols, rows), Image.Resampling.BOX), dtype=np.int64)
    return small if channels == "gray" else small.transpose(2, 0, 1)


def mosaic(maps: np.ndarray, *, signed: bool, cols: int | None = None, scale: int = 1,
           gap: int = 1, shared: bool = False) -> np.ndarray:
    """A grid of small maps (N, H, W) as one picture, each map scaled to its own range (or,
    `shared`, all to the range of the whole set, so maps can be compared): `signed` maps
    (weights) in the diverging colours around 0, others (activations) in gray from the minimum
    (black) to the maximum (white). `scale` repeats pixels so tiny maps stay crisp when the
    browser enlarges them. Returns (rows·(H+gap)−gap, …, 3) uint8."""
    n, h, w = maps.shape
    cols = cols or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / cols)
    hs, ws = h * scale, w * scale
    out = np.full((rows * (hs + gap) - gap, cols * (ws + gap) - gap, 3), 235, np.uint8)
    t = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float32))
    for i in range(n):
        m = t[i]
        span = t if shared else m
        if signed:
            bound = float(span.abs().max())
            tile = diverging_colormap(m / bound if bound > 0 else torch.zeros_like(m))
        else:
            lo, hi = float(span.min()), float(span.max())
            g = ((m - lo) * (255.0 / (hi - lo)) if hi > lo else torch.zeros_like(m))
            tile = g.round().to(torch.uint8).numpy()[..., None].repeat(3, axis=2)
        tile = tile.repeat(scale, axis=0).repeat(scale, axis=1)
        r, c = divmod(i, cols)
        out[r * (hs + gap):r * (hs + gap) + hs, c * (ws + gap):c * (ws + gap) + ws] = tile
    return out


def heat_colormap(t: np.ndarray) -> np.ndarray:
    """t in [0, 1] (H, W) → (H, W, 3) uint8, black through red and orange to pale yellow."""
    t = np.clip(t, 0.0, 1.0)
    r = np.clip(t * 2.2, 0, 1)
    g = np.clip(t * 2.2 - 0.9, 0, 1)
    b = np.clip(t * 3.0 - 2.2, 0, 1)
    return (np.stack([r, g, b], axis=-1) * 255).round().astype(np.uint8)


def heat_overlay(gray: np.ndarray, heat: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """A heat map (H, W) in [0, 1] laid over a gray picture (H, W) uint8: where the model looks
    glows, the picture stays readable underneath."""
    base = np.repeat(gray[..., None].astype(np.float32) * 0.55, 3, axis=2)
    weight = (alpha * np.clip(heat, 0, 1))[..., None]
    out = base * (1 - weight) + heat_colormap(heat).astype(np.float32) * weight
    return out.round().astype(np.uint8)


def png_data_url(pixels: np.ndarray) -> str:
    """A picture inlined in JSON or HTML: `data:image/png;base64,…`."""
    return "data:image/png;base64," + base64.b64encode(encode(pixels)).decode()


def vector_rows(v: np.ndarray, width: int) -> np.ndarray:
    """A 1-D vector wrapped into rows of `width` values, as one map (1, rows, width) for
    `mosaic`; the unused cells of the last row take the vector's minimum (drawn black)."""
    width = max(1, min(len(v), width))
    rows = np.full(math.ceil(len(v) / width) * width, float(v.min()), np.float32)
    rows[:len(v)] = v
    return rows.reshape(1, -1, width)
