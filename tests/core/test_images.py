"""Safe decoding of uploads, display mapping and encoding."""

from __future__ import annotations

import io
import struct
import time
import zlib

import numpy as np
import pytest
import simplejpeg
import torch
from PIL import Image

from app.core import images
from app.core.images import CorruptImage, ImageTooLarge, UnsupportedImageFormat

LIMITS = {"max_pixels": 40_000_000, "max_side": 12_000}


def _save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width×height in its header, with almost no pixel data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0"))
            + chunk(b"IEND", b""))


RGB = np.random.default_rng(0).integers(0, 256, (10, 12, 3), dtype=np.uint8)


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "TIFF", "WEBP"])
def test_lossless_formats_round_trip(fmt: str) -> None:
    kw = {"lossless": True} if fmt == "WEBP" else {}
    out = images.decode_image(_save(Image.fromarray(RGB), fmt, **kw), **LIMITS)
    assert out.format == fmt and (out.width, out.height) == (12, 10)
    assert np.array_equal(out.pixels, RGB)


def test_jpeg_and_gif_first_frame() -> None:
    flat = np.full((16, 16, 3), 120, np.uint8)
    out = images.decode_image(_save(Image.fromarray(flat), "JPEG", quality=95), **LIMITS)
    assert np.abs(out.pixels.astype(int) - 120).max() <= 2
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:])
    first = images.decode_image(gif.getvalue(), **LIMITS).pixels
    assert first[0, 0, 0] > 200 and first[0, 0, 2] < 50


def test_modes_are_normalised() -> None:
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))  # fully transparent red → white
    assert images.decode_image(_save(rgba, "PNG"), **LIMITS).pixels[0, 0].tolist() == [255] * 3
    la = Image.new("LA", (4, 4), (0, 255))  # opaque black
    assert images.decode_image(_save(la, "PNG"), **LIMITS).pixels[0, 0].tolist() == [0] * 3
    cmyk = Image.new("CMYK", (4, 4), (0, 255, 255, 0))  # red
    px = images.decode_image(_save(cmyk, "JPEG"), **LIMITS).pixels[0, 0]
    assert px[0] > 200 and px[1] < 60
    i16 = Image.fromarray(np.full((4, 4), 65535, np.uint16))
    assert images.decode_image(_save(i16, "PNG"), **LIMITS).pixels.max() == 255
    f = Image.fromarray(np.full((4, 4), 0.5, np.float32), mode="F")
    assert images.decode_image(_save(f, "TIFF"), **LIMITS).pixels[0, 0, 0] == 128
    pal = Image.new("P", (4, 4), 0)
    pal.putpalette([0, 255, 0] * 256)
    assert images.decode_image(_save(pal, "PNG"), **LIMITS).pixels[0, 0].tolist() == [0, 255, 0]
    one = Image.new("1", (4, 4), 1)
    assert images.decode_image(_save(one, "PNG"), **LIMITS).pixels[0, 0].tolist() == [255] * 3


def test_exif_orientation_is_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° on display
    data = _save(Image.new("RGB", (30, 20)), "JPEG", exif=exif)
    out = images.decode_image(data, **LIMITS)
    assert (out.width, out.height) == (20, 30)


def test_refusals() -> None:
    with pytest.raises(UnsupportedImageFormat):
        images.decode_image(b"hello, not an image", **LIMITS)
    with pytest.raises(UnsupportedImageFormat):  # Pillow reads ICO, we do not take it
        images.decode_image(_save(Image.new("RGB", (16, 16)), "ICO"), **LIMITS)
    png = _save(Image.fromarray(RGB), "PNG")
    with pytest.raises(CorruptImage):
        images.decode_image(png[: len(png) // 2], **LIMITS)
    jpg = _save(Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3),
                                                                 dtype=np.uint8)), "JPEG")
    with pytest.raises(CorruptImage):
        images.decode_image(jpg[: len(jpg) // 3], **LIMITS)


def test_bomb_is_refused_from_the_header_alone() -> None:
    start = time.perf_counter()
    with pytest.raises(ImageTooLarge, match="too large"):  # Pillow's own bomb check
        images.decode_image(_png_header_only(20_000, 20_000), **LIMITS)
    with pytest.raises(ImageTooLarge, match="7000×7000 .49.0 megapixels"):  # ours: 40 MP
        images.decode_image(_png_header_only(7_000, 7_000), **LIMITS)
    with pytest.raises(ImageTooLarge, match="px a side"):
        images.decode_image(_png_header_only(13_000, 10), **LIMITS)
    assert time.perf_counter() - start < 0.5  # nothing was decoded


def test_display_modes_match_numpy() -> None:
    v = np.array([[-300.0, -10.0, 0.0], [10.0, 128.4, 400.0]], np.float32)
    y = torch.from_numpy(v).view(1, 1, 2, 3)
    assert images.to_display(y, "clip").tolist() == np.clip(np.round(v), 0, 255).tolist()
    assert images.to_display(y, "abs").tolist() == np.clip(np.round(np.abs(v)), 0, 255).tolist()
    norm = np.round((v - v.min()) / (v.max() - v.min()) * 255)
    assert images.to_display(y, "normalize").tolist() == norm.tolist()
    relu = np.round(np.maximum(v, 0) / v.max() * 255)
    assert images.to_display(y, "relu").tolist() == relu.tolist()


@pytest.mark.parametrize("mode", images.DISPLAY_MODES)
def test_display_may_work_in_the_callers_tensor(mode: str) -> None:
    """overwrite=True draws the same picture; without it, the values are left as they were.
    Both for a plain tensor and for an inference tensor, which is what convolve returns."""
    v = np.random.default_rng(5).normal(100, 200, (3, 19, 23)).astype(np.float32)
    plain = torch.from_numpy(v.copy())[None].contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        inference = plain.clone()
    for y in (plain, inference):
        kept = images.to_display(y, mode)  # type: ignore[arg-type]
        assert np.array_equal(y[0].numpy(), v)
        assert np.array_equal(images.to_display(y, mode, overwrite=True),  # type: ignore[arg-type]
                              kept)


@pytest.mark.parametrize("layout", ["channels_last", "contiguous"])
def test_display_of_colour_planes_is_a_contiguous_picture(layout: str) -> None:
    """(1, 3, H, W) in either memory layout → (H, W, 3) uint8 in C order, as Pillow and png()
    read it; halves round to even, as numpy rounds."""
    rng = np.random.default_rng(4)
    v = rng.normal(128, 120, (3, 37, 41)).astype(np.float32)
    v[0, 0, :6] = [0.5, 1.5, 2.5, 253.5, 254.5, -0.5]
    y = torch.from_numpy(v)[None]
    if layout == "channels_last":
        y = y.contiguous(memory_format=torch.channels_last)
    got = images.to_display(y, "clip")
    assert got.dtype == np.uint8 and got.flags["C_CONTIGUOUS"] and got.shape == (37, 41, 3)
    assert np.array_equal(got, np.clip(np.round(v), 0, 255).transpose(1, 2, 0))
    assert got[0, :6, 0].tolist() == [0, 2, 2, 254, 254, 0]


def test_diverging_colormap_ends() -> None:
    t = torch.tensor([[-1.0, 0.0, 1.0]])
    blue, white, red = images.diverging_colormap(t)[0].tolist()
    assert white == [255, 255, 255]
    assert blue[2] > blue[0] and red[0] > red[2]


def test_encode_png_is_lossless_and_gray_uses_luma() -> None:
    back = np.asarray(Image.open(io.BytesIO(images.encode(RGB, "png"))))
    assert np.array_equal(back, RGB)
    planes = images.to_planes(RGB, "gray")[0, 0].numpy()
    want = RGB.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    np.testing.assert_allclose(planes, want, rtol=1e-5, atol=1e-3)
    assert images.to_planes(RGB, "rgb").is_contiguous(memory_format=torch.channels_last)


def test_fit_within() -> None:
    big = np.zeros((300, 1200, 3), np.uint8)
    assert images.fit_within(big, 1024).shape == (256, 1024, 3)
    assert images.fit_within(RGB, 1024) is RGB


@pytest.mark.parametrize("shape", [(28, 28), (5, 7, 3), (1, 1), (64, 64, 3)])
def test_small_pngs_decode_to_the_same_pixels(shape: tuple[int, ...]) -> None:
    pixels = np.random.default_rng(len(shape)).integers(0, 256, shape, dtype=np.uint8)
    data = images.encode(pixels)
    assert data == images.small_png(pixels)  # the direct writer serves small images
    back = np.asarray(Image.open(io.BytesIO(data)))
    assert back.shape == shape and np.array_equal(back, pixels)


def _png_filter_bytes(data: bytes, height: int) -> set[int]:
    """The filter byte that starts each row of a single-IDAT PNG (read with zlib, not Pillow)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = len(raw) // height
    return {raw[r * stride] for r in range(height)}


def _pictures() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:300, 0:517]
    smooth = np.stack([(x + y) % 256, (2 * y) % 256, (x // 3) % 256], -1).astype(np.uint8)
    noisy = np.clip(smooth + rng.normal(0, 5, smooth.shape), 0, 255).astype(np.uint8)
    columns = rng.integers(0, 256, (1, 517, 3)) + rng.integers(0, 3, (300, 517, 3))
    rows = rng.integers(0, 256, (300, 1)) + rng.integers(0, 3, (300, 517))
    sparse = np.where(rng.random((300, 517, 3)) < 0.03, rng.integers(1, 128, (300, 517, 3)), 0)
    return {"photo": noisy, "smooth": smooth,
            "columns": (columns % 256).astype(np.uint8),  # alike down each column: Up
            "rows": (rows % 256).astype(np.uint8),  # alike along each row: Sub
            "sparse": sparse.astype(np.uint8),  # an edge map: mostly 0, None
            "noise": rng.integers(0, 256, (65, 1030, 3), dtype=np.uint8),
            "one row": rng.integers(0, 256, (1, 20_000), dtype=np.uint8),
            "one column": rng.integers(0, 256, (4100, 1, 3), dtype=np.uint8)}


@pytest.mark.parametrize("name", list(_pictures()))
def test_large_pngs_decode_to_the_same_pixels(name: str) -> None:
    pixels = _pictures()[name]
    assert pixels.size > images.SMALL_PNG_VALUES
    data = images.encode(pixels, "png")
    assert data == images.png(pixels)
    back = Image.open(io.BytesIO(data))
    assert back.format == "PNG" and back.mode == ("RGB" if pixels.ndim == 3 else "L")
    assert np.array_equal(np.asarray(back), pixels)  # lossless, whichever filter it chose
    assert len(_png_filter_bytes(data, pixels.shape[0])) == 1


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(kind, data) of every chunk, each chunk's CRC checked with zlib."""
    pos, chunks = 8, []
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        chunks.append((kind, body))
        pos += 12 + length
    return chunks


@pytest.mark.parametrize("name", ["columns", "rows", "sparse"])  # Up, Sub, None
def test_png_bands_join_into_one_stream(name: str) -> None:
    """A large picture is filtered and deflated in bands, one per compute thread: whatever the
    count, one valid zlib stream (zlib checks its Adler-32) of the same filtered rows, and
    the same pixels back in Pillow."""
    small = _pictures()[name]
    pixels = np.concatenate([small] * -(-4 * images.PNG_BAND_BYTES // small.nbytes))  # 4 bands
    threads = torch.get_num_threads()
    encoded, raw = {}, {}
    try:
        for n in (1, 2, 3, 4):
            torch.set_num_threads(n)
            encoded[n] = images.png(pixels)
            chunks = _png_chunks(encoded[n])
            assert [k for k, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
            raw[n] = zlib.decompress(chunks[1][1])
            assert np.array_equal(np.asarray(Image.open(io.BytesIO(encoded[n]))), pixels)
    finally:
        torch.set_num_threads(threads)
    assert raw[1] == raw[2] == raw[3] == raw[4]  # the filter runs on across band edges
    assert len(set(encoded.values())) == 4  # and the bands were really deflated apart


def test_png_filter_follows_the_picture() -> None:
    """Up where pixels resemble the one above, Sub where they resemble the one to the left,
    None for sparse maps; and no bigger than Pillow's level-1 PNG, which filters row by row."""
    pictures = _pictures()
    chosen = {n: _png_filter_bytes(images.png(pictures[n]), pictures[n].shape[0])
              for n in ("columns", "rows", "sparse")}
    assert chosen == {"columns": {2}, "rows": {1}, "sparse": {0}}
    for name in ("photo", "columns", "rows", "sparse"):
        pixels = pictures[name]
        pil = _save(Image.fromarray(pixels), "PNG", compress_level=1)
        assert len(images.png(pixels)) <= 1.05 * len(pil), name


def _jpeg_markers(data: bytes) -> list[int]:
    """The second byte of every marker in a baseline JPEG, in order: the header's segments
    walked by their lengths up to SOS, then the markers within the entropy-coded data (where
    FF 00 stands for a 0xFF byte)."""
    assert data[:2] == b"\xff\xd8"
    markers, pos = [0xD8], 2
    while markers[-1] != 0xDA:
        assert data[pos] == 0xFF
        markers.append(data[pos + 1])
        pos += 2 + struct.unpack(">H", data[pos + 2:pos + 4])[0]
    a = np.frombuffer(data, np.uint8, offset=pos)
    at = np.flatnonzero(a[:-1] == 0xFF)
    return markers + [int(m) for m in a[at + 1] if m != 0x00]


@pytest.mark.parametrize("name", ["photo", "noise", "one column"])
def test_jpeg_bands_join_into_one_file(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A large picture is JPEG-encoded in bands of whole MCU rows, one per compute thread (or
    more, where one band would pass the 16-bit restart interval), joined by restart markers:
    whatever the count, the pixels Pillow decodes are those of one libjpeg-turbo call, the
    markers are RST0, RST1, … in turn, and the header gives the whole size."""
    small = _pictures()[name]
    pixels = np.ascontiguousarray(np.concatenate([small] * max(1, 600 // small.shape[0])))
    one_call = simplejpeg.encode_jpeg(pixels, quality=images.JPEG_QUALITY,
                                      colorsubsampling="420", fastdct=False)
    expected = np.asarray(Image.open(io.BytesIO(one_call)))
    threads = torch.get_num_threads()
    try:
        for n, max_restart in ((1, 0xFFFF), (2, 0xFFFF), (3, 0xFFFF), (2, 200)):
            torch.set_num_threads(n)
            monkeypatch.setattr(images, "JPEG_MAX_RESTART", max_restart)
            data = images.encode(pixels, "jpeg")
            im = Image.open(io.BytesIO(data))
            assert im.format == "JPEG" and im.size == (pixels.shape[1], pixels.shape[0])
            assert np.array_equal(np.asarray(im), expected), (n, max_restart)
            restarts = [m for m in _jpeg_markers(data) if 0xD0 <= m <= 0xD7]
            assert restarts == [0xD0 + i % 8 for i in range(len(restarts))]
            markers = _jpeg_markers(data)
            assert markers[-1] == 0xD9 and markers.count(0xDA) == 1  # one scan, then EOI
            assert (0xDD in markers) == bool(restarts)  # a DRI with the bands
            if max_restart == 200 and pixels.shape[1] > 16:
                assert len(restarts) + 1 > n  # more bands than threads
    finally:
        torch.set_num_threads(threads)


def test_jpeg_is_as_good_as_pillows() -> None:
    """The same quality and chroma subsampling as Pillow's own JPEG at JPEG_QUALITY, so within
    a few percent of its size and error (libjpeg-turbo's two front ends convert colours a little
    differently); a gray picture is written with one channel."""
    for name in ("photo", "smooth"):
        pixels = _pictures()[name]
        ours, pil = images.encode(pixels, "jpeg"), _save(Image.fromarray(pixels), "JPEG",
                                                         quality=images.JPEG_QUALITY)
        errors = [np.abs(np.asarray(Image.open(io.BytesIO(d)), dtype=float) - pixels).mean()
                  for d in (ours, pil)]
        assert abs(len(ours) - len(pil)) <= 0.05 * len(pil), name
        assert errors[0] <= 1.06 * errors[1], name
    gray = np.ascontiguousarray(_pictures()["photo"][..., 1])
    im = Image.open(io.BytesIO(images.encode(gray, "jpeg")))
    assert im.mode == "L" and np.abs(np.asarray(im, dtype=float) - gray).mean() < 4


def test_webp_and_jpeg_are_what_is_asked() -> None:
    pixels = _pictures()["smooth"]
    for fmt, pil_format in (("webp", "WEBP"), ("jpeg", "JPEG")):
        data = images.encode(pixels, fmt)
        im = Image.open(io.BytesIO(data))
        assert im.format == pil_format and im.size == (517, 300)
        if fmt == "webp":
            assert data[:4] == b"RIFF" and data[8:16] == b"WEBPVP8 "  # lossy VP8, one frame
        back = np.asarray(im.convert("RGB"), dtype=np.float64)
        assert np.abs(back - pixels).mean() < 4  # lossy, but the same picture
    gray = pixels[..., 0]
    back = np.asarray(Image.open(io.BytesIO(images.encode(gray, "webp"))).convert("L"))
    assert back.shape == gray.shape and np.abs(back.astype(float) - gray).mean() < 4
    with pytest.raises(ValueError, match="unknown format"):
        images.encode(pixels, "gif")  # type: ignore[arg-type]
