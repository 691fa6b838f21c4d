"""The model inspector against independent references (forward hooks, torch.autograd.grad,
np.corrcoef) and against hand-built models whose answer is known in advance."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from app.core import inspect, nets
from app.core.errors import InputError
from app.settings import LIMITS

MNIST = (1, 28, 28)
MNIST_NORM = ([0.1307], [0.3081])
SMALL = [{"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1},
         {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 2},
         {"type": "conv2d", "out_channels": 6, "kernel_size": 3},
         {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 2},
         {"type": "flatten"}, {"type": "linear", "out_features": 5}]
SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])  # vertical edges


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Single-image work is fastest on one thread, and leaves the other cores alone."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def small_model(seed: int = 0, input_shape: tuple[int, int, int] = (1, 12, 12),
                layers: list[dict] = SMALL) -> nn.Sequential:
    torch.manual_seed(seed)
    return nets.build(layers, input_shape, 5, limits=LIMITS.nets)


def bar_picture() -> np.ndarray:
    """A dark "1" on light paper, 200 high × 150 wide, drawn near the top-left corner."""
    img = np.full((200, 150), 235, dtype=np.uint8)
    img[30:110, 20:34] = 15
    return img


def ink_box(out: np.ndarray) -> tuple[int, int]:
    rows, cols = np.nonzero(out > 0.1 * out.max())
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


def centre_of_mass(out: np.ndarray) -> tuple[float, float]:
    m = out.astype(np.float64)
    ys, xs = np.mgrid[:m.shape[0], :m.shape[1]]
    return float((m * ys).sum() / m.sum()), float((m * xs).sum() / m.sum())


# ---------------------------------------------------------------- mnist_style


def test_mnist_style_frames_a_dark_on_light_digit_as_mnist_did() -> None:
    out = inspect.mnist_style(bar_picture())
    assert out.shape == (28, 28) and out.dtype == np.uint8
    # white on black: the frame is black, the ink at full brightness
    assert out.max() == 255
    assert out[0].max() == out[-1].max() == out[:, 0].max() == out[:, -1].max() == 0
    assert (out == 0).mean() > 0.7
    h, w = ink_box(out)
    assert abs(max(h, w) - 20) <= 1 and h > w  # the tall bar: height is the long side
    assert abs(w - 20 * 14 / 80) <= 1.5  # aspect ratio kept
    cy, cx = centre_of_mass(out)  # where MNIST's own digits have it: pixel (14, 14) from 0
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5


def test_mnist_style_detects_polarity_and_invert_false_keeps_it() -> None:
    dark_on_light = bar_picture()
    light_on_dark = 255 - dark_on_light
    auto = inspect.mnist_style(dark_on_light)
    np.testing.assert_array_equal(inspect.mnist_style(light_on_dark), auto)
    np.testing.assert_array_equal(inspect.mnist_style(light_on_dark, invert=False), auto)
    np.testing.assert_array_equal(inspect.mnist_style(dark_on_light, invert=True), auto)
    # told not to invert, light paper stays light and the bar stays dark
    kept = inspect.mnist_style(dark_on_light, invert=False)
    h, w = ink_box(kept)  # the whole (light) page is the "ink" now
    assert max(h, w) == 20
    rows, cols = np.nonzero(kept)
    page = kept[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    assert np.median(page) > 200 and page.min() < 40


def test_mnist_style_takes_grey_paper_down_to_black_and_scales_by_size() -> None:
    photo = np.full((90, 120), 180, dtype=np.uint8)
    photo[20:70, 50:60] = 40  # a dark stroke on grey paper
    out = inspect.mnist_style(photo)
    assert out.max() == 255 and np.median(out) == 0
    big = inspect.mnist_style(photo, size=56)
    assert big.shape == (56, 56) and abs(max(ink_box(big)) - 40) <= 1
    cy, cx = centre_of_mass(big)
    assert abs(cy - 28) <= 0.5 and abs(cx - 28) <= 0.5
    with pytest.raises(InputError) as err:
        inspect.mnist_style(np.zeros((5, 5, 3), dtype=np.uint8))
    assert err.value.field == "image"


@pytest.mark.parametrize("picture", [
    np.zeros((40, 30), dtype=np.uint8),
    np.full((40, 30), 255, dtype=np.uint8),
    np.random.default_rng(0).integers(120, 124, size=(40, 30)).astype(np.uint8),
])
def test_mnist_style_refuses_an_empty_picture(picture: np.ndarray) -> None:
    with pytest.raises(InputError) as err:
        inspect.mnist_style(picture)
    assert err.value.field == "image" and "empty" in err.value.message


# ---------------------------------------------------------------- fit_to_model


def test_fit_to_model_gray_digit_and_rgb() -> None:
    rgb = np.repeat(bar_picture()[:, :, None], 3, axis=2)
    rgb[..., 0] = 255 - rgb[..., 0] // 2  # some colour, so the luma weights matter
    luma = np.rint(rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)
    one = inspect.fit_to_model(rgb, MNIST)
    assert one.shape == MNIST and one.dtype == np.uint8
    np.testing.assert_array_equal(one[0], inspect.mnist_style(luma))
    plain = inspect.fit_to_model(luma, (1, 20, 30), digits=True)  # not square: plain resize
    assert plain.shape == (1, 20, 30) and plain.mean() > 150  # light paper, not inverted
    three = inspect.fit_to_model(np.full((50, 70, 3), (10, 128, 250), dtype=np.uint8),
                                 (3, 32, 32))
    assert three.shape == (3, 32, 32)
    assert [int(v) for v in three[:, 16, 16]] == [10, 128, 250]
    gray_to_rgb = inspect.fit_to_model(np.full((8, 8), 77, dtype=np.uint8), (3, 8, 8))
    assert (gray_to_rgb == 77).all()
    with pytest.raises(InputError) as err:
        inspect.fit_to_model(rgb, (2, 28, 28))
    assert err.value.field == "image"


# ---------------------------------------------------------------- predict, activations


def test_predict_is_the_softmax_of_the_logits_in_eval_mode() -> None:
    model = small_model(layers=[*SMALL[:6], {"type": "dropout", "p": 0.5}, *SMALL[6:]])
    x = torch.randn(1, 1, 12, 12)
    model.train()
    probs = inspect.predict(model, x)
    assert model.training  # the caller's mode is back
    assert probs.shape == (5,) and probs.dtype == np.float64
    assert abs(probs.sum() - 1.0) < 1e-12
    reference = copy.deepcopy(model).eval()
    with torch.no_grad():
        expected = torch.softmax(reference(x), dim=1)[0].numpy()  # dropout off
    np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-7)


def test_activations_equal_forward_hooks() -> None:
    model = small_model(1).eval()
    x = torch.randn(1, 1, 12, 12)
    seen: list[torch.Tensor] = []
    handles = [m.register_forward_hook(lambda _m, _i, out: seen.append(out.detach().clone()))
               for m in model]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    acts = inspect.activations(model, x)
    assert len(acts) == len(model) == len(seen)
    for act, ref in zip(acts, seen, strict=True):
        assert act.dtype == np.float32 and act.shape == tuple(ref.shape[1:])
        np.testing.assert_allclose(act, ref[0].numpy(), rtol=1e-6, atol=1e-6)
    assert [a.shape for a in acts][:3] == [(4, 12, 12), (4, 12, 12), (4, 6, 6)]


def test_map_grid_places_each_map_at_its_own_size_scaled_to_0_255() -> None:
    maps = np.array([[[0.0, 1.0, 2.0], [3.0, 4.0, 4.0]],  # 0…4: 0, 64, 128, 191, 255, 255
                     [[-1.0, -1.0, -1.0], [-1.0, -1.0, -1.0]],  # flat: black
                     [[10.0, 20.0, 10.0], [20.0, 10.0, 20.0]]], dtype=np.float32)
    grid, cols = inspect.map_grid(maps, cols=2, gap=1, fill=235)
    g = 235
    assert cols == 2
    np.testing.assert_array_equal(grid, np.array([
        [0, 64, 128, g, 0, 0, 0],
        [191, 255, 255, g, 0, 0, 0],
        [g, g, g, g, g, g, g],
        [0, 255, 0, g, g, g, g],  # the last row's unused cell is the gap colour
        [255, 0, 255, g, g, g, g]], dtype=np.uint8))
    shared, _ = inspect.map_grid(maps, cols=3, gap=0, shared=True)  # one range: -1…20
    np.testing.assert_array_equal(shared[:, 3:6], np.zeros((2, 3)))  # the layer's minimum
    np.testing.assert_array_equal(shared[:, 6:], np.rint((maps[2] + 1) / 21 * 255))
    np.testing.assert_array_equal(shared[:, :3], np.rint((maps[0] + 1) / 21 * 255))


def test_map_grid_wraps_a_vector_into_rows() -> None:
    v = np.arange(70, dtype=np.float32)  # 0…69 in rows of 32: 3 rows, the last 6 values
    grid, cols = inspect.map_grid(v, width=32)
    assert cols == 1 and grid.shape == (3, 32) and grid.dtype == np.uint8
    np.testing.assert_array_equal(grid.reshape(-1)[:70], np.rint(v / 69 * 255))
    assert (grid.reshape(-1)[70:] == 0).all()  # past the end: the minimum, black
    short, _ = inspect.map_grid(np.array([1.0, 3.0], dtype=np.float32), width=32)
    np.testing.assert_array_equal(short, [[0, 255]])
    with pytest.raises(InputError):
        inspect.map_grid(np.zeros((2, 2)))


# every layer that the pass applies in place, after a map and first of all (on the input itself),
# batch norm with running statistics of its own, dropout passing a map through unchanged
IN_PLACE_KINDS = [{"type": "relu"}, {"type": "conv2d", "out_channels": 4, "kernel_size": 3},
                  {"type": "batchnorm2d"}, {"type": "leakyrelu", "negative_slope": 0.2},
                  {"type": "dropout", "p": 0.5}, {"type": "tanh"},
                  {"type": "conv2d", "out_channels": 3, "kernel_size": 3},
                  {"type": "sigmoid"}, {"type": "batchnorm2d"}, {"type": "relu"},
                  {"type": "flatten"}, {"type": "linear", "out_features": 5}, {"type": "relu"},
                  {"type": "linear", "out_features": 5}]


@pytest.mark.parametrize(("layers", "channels"), [(SMALL, 1), (IN_PLACE_KINDS, 1),
                                                  (IN_PLACE_KINDS, 3)])
def test_dataset_answers_match_the_model_image_by_image(layers: list[dict], channels: int
                                                        ) -> None:
    model = small_model(2, (channels, 12, 12), layers).train()
    for bn in (m for m in model if isinstance(m, nn.BatchNorm2d)):  # statistics not 0 and 1
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        nn.init.uniform_(bn.weight, 0.5, 1.5)
        nn.init.uniform_(bn.bias, -0.3, 0.3)
    before = copy.deepcopy(model.state_dict())
    x = torch.randn(23, channels, 12, 12)
    given = x.clone()
    calls: list[tuple[int, int]] = []
    probs, means = inspect.dataset_answers(model, x, batch=10,
                                           progress=lambda d, t: calls.append((d, t)))
    assert calls == [(10, 23), (20, 23), (23, 23)]
    assert probs.shape == (23, 5) and len(means) == len(model)
    # the input, the model's weights and its mode as they were (the pass works on copies)
    assert torch.equal(x, given) and model.training
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    model.eval()
    seen: list[torch.Tensor] = []
    handles = [m.register_forward_hook(lambda _m, _i, out: seen.append(out.detach()))
               for m in model]
    for i in (0, 14, 22):  # one image at a time, with hooks: the same answers
        seen.clear()
        with torch.no_grad():
            logits = model(x[i:i + 1])
        np.testing.assert_allclose(probs[i], torch.softmax(logits, 1)[0].numpy(), rtol=1e-5,
                                   atol=1e-7)
        for mean, out in zip(means, seen, strict=True):
            want = out[0].mean(dim=(1, 2)) if out.dim() == 4 else out[0]
            np.testing.assert_allclose(mean[i], want.numpy(), rtol=1e-4, atol=1e-6)
    for h in handles:
        h.remove()
    assert [m.shape for m in means] == [(23, out.shape[1]) for out in seen]  # C, or F


def test_dataset_answers_stop_when_progress_raises() -> None:
    class Stop(Exception):
        pass

    def stop(done: int, total: int) -> None:
        calls.append(done)
        raise Stop

    calls: list[int] = []
    with pytest.raises(Stop):
        inspect.dataset_answers(small_model(), torch.randn(30, 1, 12, 12), batch=10,
                                progress=stop)
    assert calls == [10]  # after the first batch, none after it


# ---------------------------------------------------------------- saliency


def test_saliency_is_the_abs_input_gradient_max_over_channels() -> None:
    model = small_model(2, (3, 12, 12))
    x = torch.randn(1, 3, 12, 12)
    for target in (0, 3):
        got = inspect.saliency(model, x, target)
        xr = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(copy.deepcopy(model).eval()(xr)[0, target], xr)
        expected = grad[0].abs().max(dim=0).values.numpy()
        assert got.shape == (12, 12) and got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-8)
        assert got.max() > 0
    assert all(p.grad is None for p in model.parameters())  # the weights' grads untouched
    with pytest.raises(InputError) as err:
        inspect.saliency(model, x, 5)
    assert err.value.field == "target"


# ---------------------------------------------------------------- Grad-CAM


def detector_model(side: int = 16) -> nn.Sequential:
    """Channel 0 copies the (positive) input, channel 1 is 1 − input: "bright" and "dark"
    detectors. Class 0 sums channel 0 over the whole map, class 1 sums channel 1, class 2 sums
    channel 0 over the top-left quadrant only."""
    conv = nn.Conv2d(1, 2, 1)
    linear = nn.Linear(2 * side * side, 3, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
        conv.bias.copy_(torch.tensor([0.0, 1.0]))
        w = torch.zeros(3, 2, side, side)
        w[0, 0] = 1.0
        w[1, 1] = 1.0
        w[2, 0, :side // 2, :side // 2] = 1.0
        linear.weight.copy_(w.view(3, -1))
    return nn.Sequential(conv, nn.ReLU(), nn.Flatten(), linear)


def square_at(row: int, col: int, side: int = 16) -> torch.Tensor:
    x = torch.zeros(1, 1, side, side)
    x[0, 0, row:row + 4, col:col + 4] = 1.0
    return x


def test_grad_cam_points_at_the_evidence_in_a_hand_built_model() -> None:
    model = detector_model()
    top_left, bottom_right = square_at(2, 3), square_at(10, 11)
    # class 0 (bright): weights (1, 0), so the CAM is the bright map itself
    for x in (top_left, bottom_right):
        cam = inspect.grad_cam(model, x, 0)
        np.testing.assert_allclose(cam, x[0, 0].numpy(), atol=1e-6)
    cam = inspect.grad_cam(model, top_left, 0)
    r, c = np.unravel_index(cam.argmax(), cam.shape)
    assert r < 8 and c < 8
    r, c = np.unravel_index(inspect.grad_cam(model, bottom_right, 0).argmax(), cam.shape)
    assert r >= 8 and c >= 8
    # class 1 (dark): everywhere but the square, and nothing on it
    dark = inspect.grad_cam(model, top_left, 1)
    assert dark[2:6, 3:7].max() == 0 and dark.min() == 0 and dark.max() == 1
    assert (dark[top_left[0, 0].numpy() == 0] == 1).all()
    # class 2 only reads the top-left quadrant, but Grad-CAM pools its gradient: the weight is
    # 1/4 for channel 0, so it still lights up the square wherever it is
    np.testing.assert_allclose(inspect.grad_cam(model, bottom_right, 2),
                               bottom_right[0, 0].numpy(), atol=1e-6)
    # negative evidence only: the map stays all zeros (no division by zero)
    negative = copy.deepcopy(model)
    with torch.no_grad():
        negative[3].weight.neg_()
    assert not inspect.grad_cam(negative, top_left, 0).any()


def grad_cam_by_hooks(model: nn.Sequential, x: torch.Tensor, target: int,
                      layer: int) -> np.ndarray:
    """The textbook recipe, written independently: a forward hook keeps A, a tensor hook its
    gradient, backward() from the target logit."""
    model = copy.deepcopy(model).eval()
    kept: dict[str, torch.Tensor] = {}

    def hook(_m: nn.Module, _i: object, out: torch.Tensor) -> None:
        kept["a"] = out
        out.register_hook(lambda g: kept.__setitem__("g", g))

    handle = model[layer].register_forward_hook(hook)
    try:
        model(x)[0, target].backward()
    finally:
        handle.remove()
    weights = kept["g"][0].mean(dim=(1, 2))  # (C,)
    cam = F.relu((weights[:, None, None] * kept["a"][0].detach()).sum(dim=0))
    cam = F.interpolate(cam[None, None], size=x.shape[2:], mode="bilinear",
                        align_corners=False)[0, 0]
    return (cam / cam.max() if cam.max() > 0 else cam).numpy()


def test_grad_cam_equals_the_hook_recipe_on_a_random_model() -> None:
    model = small_model(3, (1, 20, 20))
    x = torch.randn(1, 1, 20, 20)
    with torch.no_grad():
        target = int(model.eval()(x).argmax())
    default = inspect.grad_cam(model, x, target)
    assert default.shape == (20, 20) and default.dtype == np.float32
    assert default.min() >= 0 and default.max() == pytest.approx(1.0)
    np.testing.assert_allclose(default, grad_cam_by_hooks(model, x, target, 5), atol=1e-5)
    for layer in (0, 2, 4):
        for t in (target, (target + 1) % 5):
            np.testing.assert_allclose(inspect.grad_cam(model, x, t, layer),
                                       grad_cam_by_hooks(model, x, t, layer), atol=1e-5)
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("layer", [6, 7, 8, -1])
def test_grad_cam_refuses_a_flat_or_missing_layer(layer: int) -> None:
    with pytest.raises(InputError) as err:
        inspect.grad_cam(small_model(), torch.randn(1, 1, 12, 12), 0, layer)
    assert err.value.field == "layer"


# ---------------------------------------------------------------- maximize_unit


def unit_score(model: nn.Sequential, x: torch.Tensor, layer: int, channel: int) -> float:
    """The unit's mean activation (the feature for a flat layer) for a normalised input."""
    with torch.no_grad():
        out = model.eval()[:layer + 1](x)
    return float(out[0, channel].mean() if out.dim() == 4 else out[0, channel])


ASCENT = {"steps": 60, "lr": 0.1, "l2": 1e-3, "blur_every": 4}


# (layer, channel, the least rise of its score over the start, about half of what it does)
@pytest.mark.parametrize(("layer", "channel", "rise"),
                         [(0, 3, 1.0), (1, 0, 0.3), (2, 9, 0.25), (3, 0, 0.02), (4, 17, 0.25),
                          (5, 30, 0.08), (7, 2, 0.15)])
def test_maximize_unit_excites_the_unit(layer: int, channel: int, rise: float) -> None:
    torch.manual_seed(5)
    model = nets.build(nets.PRESETS["default"]["layers"], MNIST, 10, limits=LIMITS.nets)
    raw = inspect._ascend(model, MNIST, layer, channel, seed=1, **ASCENT)
    start = inspect._ascend(model, MNIST, layer, channel, seed=1, **{**ASCENT, "steps": 0})
    assert start.abs().max() < 0.6  # small noise
    assert (unit_score(model, raw, layer, channel)
            > unit_score(model, start, layer, channel) + rise)
    # what is shown is that input, min–max scaled to [0, 1]
    shown = inspect.maximize_unit(model, MNIST, layer, channel, seed=1)
    assert shown.shape == MNIST and shown.dtype == np.float32
    assert shown.min() == 0.0 and shown.max() == pytest.approx(1.0)
    expected = (raw[0] - raw.min()) / (raw.max() - raw.min())
    np.testing.assert_allclose(shown, expected.numpy(), atol=1e-6)
    noise = inspect.maximize_unit(model, MNIST, layer, channel, seed=1, steps=0)
    np.testing.assert_allclose(noise, ((start[0] - start.min()) / (start.max() - start.min()))
                               .numpy(), atol=1e-6)


def test_maximize_unit_neuron_objective_draws_the_first_filter() -> None:
    """For one position of a linear first layer the gradient is the filter itself at every
    step, so Adam moves each pixel of its 5×5 field by lr·sign(w) a step: after 60 steps of 0.1
    the window is the start plus 6·sign(w); elsewhere only the L2 decay acts, pulling the noise
    towards 0."""
    torch.manual_seed(6)
    model = nets.build([{"type": "conv2d", "out_channels": 3, "kernel_size": 5},
                        {"type": "flatten"}, {"type": "linear", "out_features": 2}],
                       (1, 15, 15), 2, limits=LIMITS.nets)
    for channel in range(3):
        raw = inspect._ascend(model, (1, 15, 15), 0, channel, seed=0,
                              **{**ASCENT, "blur_every": 0}, objective="neuron")
        start = inspect._ascend(model, (1, 15, 15), 0, channel, seed=0,
                                **{**ASCENT, "steps": 0})
        moved = (raw - start)[0, 0]
        signs = torch.sign(model[0].weight[channel, 0].detach())
        # the field of the centre output (5, 5) of the 11×11 map
        torch.testing.assert_close(moved[5:10, 5:10], 6.0 * signs, atol=0.15, rtol=0)
        outside = torch.ones(15, 15, dtype=torch.bool)
        outside[5:10, 5:10] = False
        before, after = start[0, 0][outside].abs(), raw[0, 0][outside].abs()
        assert after.max() <= before.max() and after.mean() < 0.5 * before.mean()
    with pytest.raises(InputError) as err:
        inspect.maximize_unit(model, (1, 15, 15), 0, 0, objective="mean")
    assert err.value.field == "objective"


def test_maximize_unit_wakes_a_unit_that_is_silent_on_the_noise() -> None:
    conv = nn.Conv2d(1, 1, 3)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.bias.fill_(-3.0)  # needs a bright 3×3 patch: small noise leaves it at 0
    model = nn.Sequential(conv, nn.ReLU(), nn.Flatten(), nn.Linear(36, 2))
    start = inspect._ascend(model, (1, 8, 8), 1, 0, seed=0, **{**ASCENT, "steps": 0})
    assert unit_score(model, start, 1, 0) == 0.0
    raw = inspect._ascend(model, (1, 8, 8), 1, 0, seed=0, **ASCENT)
    assert unit_score(model, raw, 1, 0) > 0.5


def test_maximize_unit_is_fast_and_reproducible() -> None:
    model = nets.build(nets.PRESETS["default"]["layers"], MNIST, 10, limits=LIMITS.nets)
    first = inspect.maximize_unit(model, MNIST, 3, 5)
    began = time.perf_counter()
    again = inspect.maximize_unit(model, MNIST, 3, 5)
    assert time.perf_counter() - began < 0.5
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, inspect.maximize_unit(model, MNIST, 3, 5, seed=1))
    with pytest.raises(InputError) as err:
        inspect.maximize_unit(model, MNIST, 3, 32)
    assert err.value.field == "channel"


# ---------------------------------------------------------------- kernel_similarity


def test_kernel_similarity_on_known_filters() -> None:
    filters = np.stack([2.5 * SOBEL_X, -SOBEL_X, SOBEL_X.T, SOBEL_X + 7.0, np.full((3, 3), 4.0)])
    sim = inspect.kernel_similarity(filters, SOBEL_X)
    np.testing.assert_allclose(sim, [1.0, -1.0, 0.0, 1.0, 0.0], atol=1e-12)
    # a Conv2d's (N, 1, kh, kw) weights give the same
    np.testing.assert_allclose(inspect.kernel_similarity(filters[:, None], SOBEL_X), sim)


def test_kernel_similarity_is_the_correlation_on_the_centred_overlap() -> None:
    rng = np.random.default_rng(4)
    filters = rng.normal(size=(6, 5, 5))
    reference = rng.normal(size=(3, 3))
    sim = inspect.kernel_similarity(filters, reference)
    expected = [np.corrcoef(f[1:4, 1:4].ravel(), reference.ravel())[0, 1] for f in filters]
    np.testing.assert_allclose(sim, expected, atol=1e-12)
    # the other way round: a 3×3 filter against a 5×5 kernel
    small = filters[:, 1:4, 1:4]
    np.testing.assert_allclose(inspect.kernel_similarity(small, filters[0]),
                               [np.corrcoef(f.ravel(), filters[0, 1:4, 1:4].ravel())[0, 1]
                                for f in small], atol=1e-12)
    assert (np.abs(sim) <= 1).all()
