"""Kernels against torch.nn.functional.conv2d and against examples worked by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from app.core import kernels, shapes
from app.core.kernels import ConvSpec, KernelError
from app.settings import LIMITS

KERNELS = LIMITS.kernels
GRID_SIDE = KERNELS.grid_side  # what /convolve allows


def convolve_grid(values: object, kernel: object, spec: ConvSpec) -> np.ndarray:
    return kernels.convolve_grid(values, kernel, spec, limits=KERNELS)


def reference(x: torch.Tensor, k: np.ndarray, spec: ConvSpec) -> torch.Tensor:
    """Independent: explicit padding amounts, F.pad, then a grouped conv2d in float64."""
    kh, kw = k.shape
    if spec.padding == "valid":
        pads = (0, 0, 0, 0)
    elif spec.padding == "same":
        th, tw = spec.dilation * (kh - 1), spec.dilation * (kw - 1)
        pads = (tw // 2, tw - tw // 2, th // 2, th - th // 2)
    else:
        pads = (spec.padding,) * 4
    mode = "constant" if spec.padding_mode == "zeros" else spec.padding_mode
    xp = F.pad(x.double(), pads, mode=mode)
    w = torch.tensor(np.flip(k, (0, 1)).copy() if spec.flip else k, dtype=torch.float64)
    c = x.shape[1]
    y = F.conv2d(xp, w.expand(c, 1, kh, kw), stride=spec.stride, dilation=spec.dilation, groups=c)
    return y / spec.scale + spec.bias


@pytest.mark.parametrize("seed", range(40))
def test_random_settings_match_conv2d(seed: int) -> None:
    rng = np.random.default_rng(seed)
    kh, kw = int(rng.integers(1, 8)), int(rng.integers(1, 8))
    spec = ConvSpec(stride=int(rng.integers(1, 4)), dilation=int(rng.integers(1, 4)),
                    padding=["valid", "same", int(rng.integers(0, 4))][seed % 3],
                    padding_mode=kernels.PADDING_MODES[seed % 4],
                    scale=float(rng.choice([1, 3, -2.5])), bias=float(rng.normal() * 10),
                    flip=bool(seed % 2))
    h, w = int(rng.integers(20, 40)), int(rng.integers(20, 40))  # ≥ the widest span, 19
    x = torch.from_numpy(rng.random((1, 3, h, w), dtype=np.float32) * 255)
    k = rng.normal(size=(kh, kw))
    got = kernels.convolve(x.clone(memory_format=torch.channels_last), k, spec, limits=KERNELS)
    want = reference(x, k, spec)
    assert got.shape == want.shape
    # the size the kernel lab's formula states is the size convolve gives, on both axes
    pad = kernels.padding_for(h, w, kh, kw, spec)
    assert want.shape[2:] == (
        shapes.output_size(h, kh, stride=spec.stride, padding=(pad.top, pad.bottom),
                           dilation=spec.dilation).size,
        shapes.output_size(w, kw, stride=spec.stride, padding=(pad.left, pad.right),
                           dilation=spec.dilation).size)
    torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=2e-3)


@pytest.mark.parametrize("k", [
    np.outer([1, 6, 15, 20, 15, 6, 1], [1, 6, 15, 20, 15, 6, 1]) / 4096.0,  # rank 1, 7×7
    np.outer(np.arange(9), np.ones(9)) + np.outer(np.ones(9), np.arange(9) ** 2),  # rank 2, 9×9
])
@pytest.mark.parametrize("mode", ["zeros", "reflect"])
@pytest.mark.parametrize("stride", [1, 2])
def test_low_rank_path_is_exact(k: np.ndarray, mode: str, stride: int) -> None:
    assert kernels._low_rank_factors(k) is not None
    x = torch.rand(1, 3, 33, 29) * 255
    spec = ConvSpec(padding="same", padding_mode=mode, stride=stride, dilation=2 - (stride == 2))
    got = kernels.convolve(x, k, spec, limits=KERNELS)
    torch.testing.assert_close(got.double(), reference(x, k, spec), rtol=1e-4, atol=5e-3)


def test_full_rank_kernel_skips_the_low_rank_path() -> None:
    assert kernels._low_rank_factors(np.random.default_rng(0).normal(size=(7, 7))) is None
    assert kernels._low_rank_factors(np.ones((3, 3))) is None  # 3×3: one 2-D pass is cheaper


def test_hand_worked_example() -> None:
    # input            kernel (vertical edge)
    # 1 2 3 0          1 0 -1
    # 4 5 6 1          1 0 -1
    # 7 8 9 2          1 0 -1
    # 0 1 2 3
    # top-left window: (1+4+7) - (3+6+9) = 12 - 18 = -6
    # top-right:       (2+5+8) - (0+1+2) = 15 - 3 = 12
    # bottom-left:     (4+7+0) - (6+9+2) = 11 - 17 = -6
    # bottom-right:    (5+8+1) - (1+2+3) = 14 - 6 = 8
    grid = [[1, 2, 3, 0], [4, 5, 6, 1], [7, 8, 9, 2], [0, 1, 2, 3]]
    edge = [[1, 0, -1], [1, 0, -1], [1, 0, -1]]
    out = convolve_grid(grid, edge, ConvSpec())
    assert out.tolist() == [[-6, 12], [-6, 8]]
    # true convolution flips the kernel: every sign turns
    assert convolve_grid(grid, edge, ConvSpec(flip=True)).tolist() == [[6, -12], [6, -8]]
    # divisor and bias: (−6) / 2 + 1 = −2
    assert convolve_grid(grid, edge, ConvSpec(scale=2, bias=1))[0, 0] == -2


def test_box_filter_on_the_slides_grid() -> None:
    # the 0/1 letter grid of the slides, 3×3 box of ones, no padding: each output counts the ones
    grid = np.array([[0, 0, 0, 0, 0], [0, 1, 1, 1, 0], [0, 1, 0, 1, 0], [0, 1, 1, 1, 0],
                     [0, 0, 0, 0, 0]])
    out = convolve_grid(grid.tolist(), np.ones((3, 3)).tolist(), ConvSpec())
    expected = [[sum(grid[r:r + 3, c:c + 3].flatten()) for c in range(3)] for r in range(3)]
    assert out.tolist() == expected
    assert out[1, 1] == 8  # the centre window holds all eight ones of the ring


def test_same_padding_keeps_size_and_stride_gives_ceil() -> None:
    for n, k, s, d in itertools.product([7, 8, 31], [1, 2, 3, 4, 5], [1, 2, 3], [1, 2]):
        spec = ConvSpec(padding="same", stride=s, dilation=d)
        pad = kernels.padding_for(n, n, k, k, spec)
        out = shapes.output_size(n, k, stride=s, padding=(pad.top, pad.bottom), dilation=d)
        assert out.size == -(-n // s)


def test_blur_presets_keep_a_flat_image_flat() -> None:
    x = torch.full((1, 1, 20, 20), 100.0)
    for p in kernels.PRESETS:
        k = np.array(p.matrix)
        assert np.isfinite(k).all() and 1 <= k.shape[0] <= 15 and 1 <= k.shape[1] <= 15
        y = kernels.convolve(x, k, ConvSpec(padding="same", padding_mode="replicate",
                                            scale=p.scale), limits=KERNELS)
        # blurs and sharpens sum to their divisor (flat stays 100); edge detectors sum to 0
        expected = 100.0 * k.sum() / p.scale
        torch.testing.assert_close(y, torch.full_like(y, expected), rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize(("kernel", "spec", "field", "words"), [
    ([[1, 2], [3]], ConvSpec(), "kernel", "same length; got lengths [1, 2]"),
    ([], ConvSpec(), "kernel", "empty"),
    ([[]], ConvSpec(), "kernel", "empty"),
    ([["a"]], ConvSpec(), "kernel", "numbers"),
    ([[float("nan")]], ConvSpec(), "kernel", "finite"),
    ([[float("inf")]], ConvSpec(), "kernel", "finite"),
    (np.ones((16, 16)).tolist(), ConvSpec(), "kernel", "16×16; it must be 1×1 to 15×15"),
    ([[1]], ConvSpec(stride=0), "stride", "1 to 8"),
    ([[1]], ConvSpec(stride=9), "stride", "1 to 8"),
    ([[1]], ConvSpec(dilation=0), "dilation", "1 to 8"),
    ([[1]], ConvSpec(scale=0), "scale", "must not be 0"),
    ([[2e6]], ConvSpec(), "kernel", "-1e+06 to 1e+06"),
    ([[1]], ConvSpec(padding=-1), "padding", "integer"),
    (np.ones((9, 9)).tolist(), ConvSpec(), "kernel", "padded input is only 5×5"),
    (np.ones((3, 3)).tolist(), ConvSpec(dilation=3), "kernel", "7×7"),
    (np.ones((13, 13)).tolist(), ConvSpec(padding="same", padding_mode="reflect"), "padding",
     "reflect"),
])
def test_bad_input_names_the_field(kernel, spec: ConvSpec, field: str, words: str) -> None:
    with pytest.raises(KernelError) as info:
        convolve_grid(np.ones((5, 5)).tolist(), kernel, spec)
    assert info.value.field == field
    assert words in info.value.message


@pytest.mark.parametrize(("grid", "words"), [
    ([[1, 2], [3]], "same length"),
    ([], "empty"),
    ([[float("nan")]], "finite"),
    (np.ones((600, 2)).tolist(), "600×2; it must be 1×1 to 512×512"),
    ([[[1, 2]], [[3, 4]]], "2-D list"),  # a 3-D grid is not one plane
    ([[2e9]], "-1e+09 to 1e+09"),
])
def test_bad_grids(grid: list, words: str) -> None:
    with pytest.raises(KernelError) as info:
        convolve_grid(grid, [[1]], ConvSpec())
    assert info.value.field == "input"
    assert words in info.value.message


def test_a_kernel_may_be_an_array_or_tuples() -> None:
    k = kernels.validate_kernel(((1, 0), (0, 1)), KERNELS)
    assert k.dtype == np.float64 and k.tolist() == [[1, 0], [0, 1]]
    np.testing.assert_array_equal(kernels.validate_kernel(np.eye(3), KERNELS), np.eye(3))
    with pytest.raises(KernelError, match="2-D list"):
        kernels.validate_kernel(np.ones((2, 2, 2)), KERNELS)


def _image(rng: np.random.Generator, c: int, h: int, w: int) -> torch.Tensor:
    """A float32 image as the app holds it: owned channels_last memory, values 0-255."""
    x = torch.from_numpy(rng.random((1, c, h, w), dtype=np.float32) * 255)
    return x.clone(memory_format=torch.channels_last)


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize(("h", "w"), [(64, 300), (37, 517)])  # widths 16 strips do not divide
@pytest.mark.parametrize("halo", [2, 3, 7])
def test_strips_hold_the_image_and_its_neighbours(c: int, h: int, w: int, halo: int) -> None:
    x = _image(np.random.default_rng(halo), c, h, w)
    st = kernels.to_strips(x, halo)
    assert st is not None and st.data.is_contiguous(memory_format=torch.channels_last)
    ws = st.strip_width
    assert kernels.STRIPS * ws >= w
    assert st.data.shape == (1, kernels.STRIPS * c, h + 2 * halo, ws + 2 * halo)
    padded = F.pad(x, (halo, kernels.STRIPS * ws - w + halo, halo, halo))  # zeros past the edges
    for s in range(kernels.STRIPS):
        strip = st.data[0, s * c:(s + 1) * c]
        assert torch.equal(strip, padded[0, :, :, s * ws:s * ws + ws + 2 * halo])


def test_strips_refuse_what_they_cannot_hold() -> None:
    rng = np.random.default_rng(0)
    assert kernels.to_strips(_image(rng, 3, 20, 100), 3) is None  # strips of 7 < 2·halo columns
    assert kernels.to_strips(_image(rng, 3, 20, 300).double(), 3) is None
    assert kernels.to_strips(torch.rand(2, 3, 20, 300), 3) is None  # one image at a time


@pytest.mark.parametrize("seed", range(24))
def test_strip_path_matches_conv2d(seed: int) -> None:
    """Kernels larger than 3×3 run on strips: random sizes, ranks (the separable ones take the
    1-D passes), paddings, channel counts and widths, against the float64 reference."""
    rng = np.random.default_rng(100 + seed)
    kh, kw = int(rng.integers(2, 16)), int(rng.integers(4, 16))
    rank = [1, 2, min(kh, kw)][seed % 3]
    k = rng.normal(size=(kh, rank)) @ rng.normal(size=(rank, kw))
    padding = ["same", "valid", int(rng.integers(0, (kw - 1) // 2 + 1))][seed % 3]
    spec = ConvSpec(padding=padding, scale=float(rng.choice([1, 3])), bias=float(rng.normal()),
                    flip=bool(seed % 2))
    x = _image(rng, [1, 3][seed % 2], int(rng.integers(16, 60)), int(rng.integers(500, 900)))
    asymmetric = padding == "same" and (kh % 2 == 0 or kw % 2 == 0)  # stays on the planes
    assert (kernels.strip_halo(x, k, spec) is None) == asymmetric
    got = kernels.convolve(x, k, spec, limits=KERNELS)
    torch.testing.assert_close(got.double(), reference(x, k, spec), rtol=1e-4, atol=5e-3)


@pytest.mark.parametrize("k", [
    np.random.default_rng(1).normal(size=(7, 7)),  # full rank: one 2-D pass on the strips
    np.outer([1, 6, 15, 20, 15, 6, 1], [1, 6, 15, 20, 15, 6, 1]) / 4096.0,  # rank 1: 1-D pair
    np.random.default_rng(2).normal(size=(5, 5)),
])
def test_cached_strips_give_the_same_result(k: np.ndarray) -> None:
    """Strips made beforehand with a wider halo (as the app caches them) give the result that
    strips made for the call give, and the reference; strips of another image size are not
    used."""
    rng = np.random.default_rng(3)
    x = _image(rng, 3, 50, 520)
    spec = ConvSpec(padding="same")
    halo = kernels.strip_halo(x, k, spec)
    assert halo == k.shape[1] // 2
    fresh = kernels.convolve(x, k, spec, limits=KERNELS)
    wide = kernels.to_strips(x, 7)
    assert kernels.convolve(x, k, spec, limits=KERNELS, strips=wide).shape == fresh.shape
    torch.testing.assert_close(kernels.convolve(x, k, spec, limits=KERNELS, strips=wide), fresh,
                               rtol=1e-5, atol=1e-3)
    other = kernels.to_strips(_image(rng, 3, 50, 600), 7)
    torch.testing.assert_close(kernels.convolve(x, k, spec, limits=KERNELS, strips=other), fresh)
    torch.testing.assert_close(fresh.double(), reference(x, k, spec), rtol=1e-4, atol=5e-3)
    assert fresh.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize(("k", "spec", "shape"), [
    (np.ones((3, 3)), ConvSpec(padding="same"), (3, 64, 1024)),  # 3×3: the planes are faster
    (np.ones((7, 7)), ConvSpec(padding="same", stride=2), (3, 64, 1024)),
    (np.ones((7, 7)), ConvSpec(padding="same", dilation=2), (3, 64, 1024)),
    (np.ones((7, 7)), ConvSpec(padding="same", padding_mode="reflect"), (3, 64, 1024)),
    (np.ones((6, 6)), ConvSpec(padding="same"), (3, 64, 1024)),  # 'same' pads 2 left, 3 right
    (np.ones((7, 7)), ConvSpec(padding="same"), (3, 64, 60)),  # too narrow for 16 strips
    (np.ones((7, 7)), ConvSpec(padding=6), (3, 64, 1024)),  # wider than the image
])
def test_what_stays_on_the_planes(k: np.ndarray, spec: ConvSpec, shape: tuple[int, ...]
                                  ) -> None:
    x = _image(np.random.default_rng(4), *shape)
    assert kernels.strip_halo(x, k, spec) is None
    got = kernels.convolve(x, k, spec, limits=KERNELS)
    torch.testing.assert_close(got.double(), reference(x, k, spec), rtol=1e-4, atol=5e-3)
    assert kernels.strip_halo(x.double(), np.ones((7, 7)), ConvSpec(padding="same")) is None


@pytest.mark.parametrize("band_bytes", [1, 40_000, 10 ** 9])  # one row a band, a few rows, all
@pytest.mark.parametrize(("k", "shape", "padding"), [
    (np.random.default_rng(5).normal(size=(7, 7)), (3, 37, 517), "same"),  # one 2-D pass
    (np.outer(np.arange(1, 12), np.ones(11)), (3, 29, 700), "same"),  # rank 1: a 1-D pair
    (np.random.default_rng(6).normal(size=(5, 9)), (1, 23, 640), "same"),  # not square
    (np.random.default_rng(7).normal(size=(4, 7)), (3, 31, 520), "valid"),  # even height
    (np.random.default_rng(8).normal(size=(7, 5)), (3, 33, 530), 1),  # less than the halo
])
def test_strips_in_bands_of_rows(monkeypatch: pytest.MonkeyPatch, band_bytes: int,
                                 k: np.ndarray, shape: tuple[int, int, int],
                                 padding: str | int) -> None:
    """The strip output is computed and put back a band of rows at a time: any band height,
    including a last band shorter than the others, gives the reference."""
    monkeypatch.setattr(kernels, "STRIP_BAND_BYTES", band_bytes)
    x = _image(np.random.default_rng(9), *shape)
    spec = ConvSpec(padding=padding)  # type: ignore[arg-type]
    assert kernels.strip_halo(x, k, spec) is not None
    assert (kernels._strip_factors(k) is None) == (np.linalg.matrix_rank(k) > 1)
    got = kernels.convolve(x, k, spec, limits=KERNELS, strips=kernels.to_strips(x, 7))
    torch.testing.assert_close(got.double(), reference(x, k, spec), rtol=1e-4, atol=5e-3)
    assert got.is_contiguous(memory_format=torch.channels_last)
