"""Architecture tables against what torch itself reports, plus hand-worked formulas and errors."""

from __future__ import annotations

import copy
import json
import math
import random

import pytest
import torch
from torch import nn

from app.core import nets
from app.core.errors import InputError
from app.core.nets import (
    LAYER_TYPES,
    PRESETS,
    ArchitectureTable,
    build,
    first_conv_weights,
    layer_outputs,
    normalize,
    table,
    walk,
)
from app.settings import LIMITS

NETS = LIMITS.nets
MNIST = (1, 28, 28)


def assert_matches_torch(layers: list[dict], input_shape: tuple[int, int, int],
                         num_classes: int, limits: nets.NetLimits = NETS, batch: int = 2
                         ) -> ArchitectureTable:
    """The oracle: every row's shape and parameter count equal what the built module gives."""
    tab = table(layers, input_shape, num_classes, limits=limits)
    model = build(layers, input_shape, num_classes, limits=limits).eval()
    assert [name for name, _ in model.named_children()] == [str(i) for i in range(len(layers))]
    outs = layer_outputs(model, torch.zeros(batch, *input_shape))
    assert len(outs) == len(tab.rows) == len(layers)
    for row, layer, out in zip(tab.rows, model, outs, strict=True):
        assert tuple(out.shape) == (batch, *row.output_shape), row
        assert sum(p.numel() for p in layer.parameters()) == row.params, row
        assert row.formula == "0" if row.params == 0 else row.formula.endswith(f"{row.params:,}")
    assert tab.total_params == sum(p.numel() for p in model.parameters())
    assert tab.total_params == sum(r.params for r in tab.rows)
    assert tuple(outs[-1].shape) == (batch, num_classes)
    return tab


# ---------------------------------------------------------------- presets


# the famous networks' published parameter counts (AlexNet as the slides draw it: the two GPUs'
# halves as one network, 96 filters first); the small ones as hand-counted when they were made
PRESET_TOTALS = {"default": 20_490, "tiny": 5_874, "lenet5": 61_706, "typical": 218_682,
                 "alexnet": 62_378_344, "vgg16": 138_357_544, "vgg19": 143_667_240,
                 "resnet18": 11_689_512, "resnet34": 21_797_672}


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_match_torch(name: str) -> None:
    preset = PRESETS[name]
    assert preset["title"] and preset["description"]
    limits = LIMITS.reading_nets if preset["for_reading"] else NETS
    tab = assert_matches_torch(preset["layers"], tuple(preset["input_shape"]),
                               preset["num_classes"], limits, batch=2 - preset["for_reading"])
    if name in PRESET_TOTALS:
        assert tab.total_params == PRESET_TOTALS[name]
    # Presets are written out in full and are plain JSON, so the editor can show them as they are.
    assert normalize(preset["layers"], limits=limits) == preset["layers"]
    assert json.loads(json.dumps(preset)) == preset
    if preset["for_reading"]:  # too big to train here; a small version that trains on digits
        too_big = f"parameters|values per image|at most {NETS.layers} layers"
        with pytest.raises(InputError, match=too_big):
            table(preset["layers"], tuple(preset["input_shape"]), 1000, limits=NETS)
        small = PRESETS[preset["small"]]
        assert not small["for_reading"] and small["input_shape"] == [1, 28, 28]
        assert table(small["layers"], MNIST, 10, limits=NETS).total_params < NETS.params


def test_preset_layers_are_not_shared() -> None:
    seen = [id(layer) for p in PRESETS.values() for layer in p["layers"]]
    assert len(seen) == len(set(seen))


# ---------------------------------------------------------------- random architectures


def random_architecture(rng: random.Random) -> tuple[list[dict], tuple[int, int, int], int]:
    """A valid layer list, its shape tracked here with the textbook formulas (not by nets.py).
    Settings are sometimes left out, and then the documented defaults must apply."""
    c, h, w = rng.choice([1, 3]), rng.randint(6, 30), rng.randint(6, 30)
    if rng.random() < 0.5:
        w = h
    input_shape = (c, h, w)
    layers: list[dict] = []
    for _ in range(rng.randint(0, 7)):
        kind = rng.choice(["conv2d", "conv2d", "maxpool2d", "avgpool2d", "batchnorm2d", "relu",
                           "leakyrelu", "tanh", "sigmoid", "dropout"])
        if kind == "conv2d":
            p = rng.randint(0, 2)
            k = rng.randint(1, min(7, min(h, w) + 2 * p))
            s = rng.randint(1, 3)
            spec = {"type": "conv2d", "out_channels": rng.randint(1, 12), "kernel_size": k,
                    "stride": s, "padding": p}
            if k == 3 and rng.random() < 0.5:
                del spec["kernel_size"]
            if s == 1 and rng.random() < 0.5:
                del spec["stride"]
            if p == 0 and rng.random() < 0.5:
                del spec["padding"]
            c, h, w = spec["out_channels"], (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        elif kind in ("maxpool2d", "avgpool2d"):
            k = rng.randint(1, min(4, h, w))
            s = rng.choice([None, rng.randint(1, 3)])
            spec = {"type": kind, "kernel_size": k}
            if s is not None or rng.random() < 0.5:
                spec["stride"] = s
            s = s or k
            h, w = (h - k) // s + 1, (w - k) // s + 1
        elif kind == "leakyrelu":
            spec = {"type": kind, "negative_slope": rng.choice([0, 0.2, 1])}
        elif kind == "dropout":
            spec = {"type": kind, "p": rng.choice([0.0, 0.25, 0.9])}
        else:
            spec = {"type": kind}
        layers.append(spec)
    layers.append({"type": "flatten"})
    if rng.random() < 0.2:
        layers.append({"type": "flatten"})  # flattening a flat vector changes nothing
    for _ in range(rng.randint(0, 3)):
        kind = rng.choice(["linear", "batchnorm1d", "relu", "tanh", "dropout"])
        layers.append({"type": kind, "out_features": rng.randint(1, 50)} if kind == "linear"
                      else {"type": kind})
    num_classes = rng.randint(2, 12)
    layers.append({"type": "linear", "out_features": num_classes})
    return layers, input_shape, num_classes


@pytest.mark.parametrize("seed", range(80))
def test_random_architectures_match_torch(seed: int) -> None:
    layers, input_shape, num_classes = random_architecture(random.Random(seed))
    assert_matches_torch(layers, input_shape, num_classes)


def _torch_fails_at(specs: list[dict], input_shape: tuple[int, int, int]) -> int | None:
    """Where a conv/pool stack breaks when torch runs it, built here layer by layer."""
    x = torch.zeros(1, *input_shape)
    for i, s in enumerate(specs):
        try:
            if s["type"] == "conv2d":
                layer: nn.Module = nn.Conv2d(x.shape[1], 2, s["kernel_size"],
                                             stride=s["stride"], padding=s["padding"])
            elif s["type"] == "maxpool2d":
                layer = nn.MaxPool2d(s["kernel_size"], stride=s["stride"])
            else:
                layer = nn.AvgPool2d(s["kernel_size"], stride=s["stride"])
            x = layer(x)
        except RuntimeError:
            return i
    return None


@pytest.mark.parametrize("seed", range(60))
def test_window_errors_are_where_torch_fails(seed: int) -> None:
    rng = random.Random(1000 + seed)
    input_shape = (1, rng.randint(1, 20), rng.randint(1, 20))
    specs = []
    for _ in range(rng.randint(1, 5)):
        if rng.random() < 0.5:
            specs.append({"type": "conv2d", "out_channels": 2, "kernel_size": rng.randint(1, 7),
                          "stride": rng.randint(1, 3), "padding": rng.randint(0, 2)})
        else:
            specs.append({"type": rng.choice(["maxpool2d", "avgpool2d"]),
                          "kernel_size": rng.randint(1, 5), "stride": rng.randint(1, 3)})
    layers = [*specs, {"type": "flatten"}, {"type": "linear", "out_features": 3}]
    fails_at = _torch_fails_at(specs, input_shape)
    if fails_at is None:
        assert_matches_torch(layers, input_shape, 3)
    else:
        with pytest.raises(InputError) as e:
            table(layers, input_shape, 3, limits=NETS)
        assert e.value.field == f"layers.{fails_at}.kernel_size"
        assert "window is larger than" in e.value.message


# ---------------------------------------------------------------- worked by hand


def test_lenet_rows_worked_by_hand() -> None:
    rows = table(PRESETS["lenet5"]["layers"], MNIST, 10, limits=NETS).rows
    conv1, act, pool1, conv2, _, pool2, flat, fc1, _, fc2, _, fc3 = rows
    assert (conv1.label, conv1.output_shape) == ("Conv2d 1→6, 5×5, pad 2", (6, 28, 28))
    assert conv1.formula == "(5·5·1 + 1)·6 = 156"
    assert conv1.shape_formula == "⌊(28 + 2·2 − 5) / 1⌋ + 1 = 28"
    assert (act.label, act.params, act.formula, act.shape_formula) == ("Tanh", 0, "0", "")
    assert (pool1.label, pool1.output_shape) == ("AvgPool 2×2, stride 2", (6, 14, 14))
    assert pool1.shape_formula == "⌊(28 − 2) / 2⌋ + 1 = 14"
    assert conv2.formula == "(5·5·6 + 1)·16 = 2,416"
    assert conv2.shape_formula == "⌊(14 + 2·0 − 5) / 1⌋ + 1 = 10"
    assert pool2.output_shape == (16, 5, 5)
    assert (flat.label, flat.output_shape) == ("Flatten 16×5×5 → 400", (400,))
    assert flat.shape_formula == "16·5·5 = 400"
    assert (fc1.label, fc1.formula) == ("Linear 400→120", "(400 + 1)·120 = 48,120")
    assert fc2.formula == "(120 + 1)·84 = 10,164"
    assert fc3.formula == "(84 + 1)·10 = 850"
    assert [r.index for r in rows] == list(range(12))
    assert rows[0].type == "conv2d" and rows[-1].type == "linear"


def test_rgb_conv_batchnorm_and_non_square_input() -> None:
    layers = [{"type": "conv2d", "out_channels": 6, "kernel_size": 5, "stride": 2},
              {"type": "batchnorm2d"}, {"type": "leakyrelu", "negative_slope": 0.1},
              {"type": "maxpool2d", "kernel_size": 3, "stride": 1}, {"type": "dropout"},
              {"type": "flatten"}, {"type": "linear", "out_features": 1500},
              {"type": "batchnorm1d"}, {"type": "linear", "out_features": 4}]
    tab = table(layers, (3, 32, 40), 4, limits=NETS)
    conv, bn, act, pool, drop, _, fc, bn1, _ = tab.rows
    assert conv.label == "Conv2d 3→6, 5×5, stride 2"
    assert conv.formula == "(5·5·3 + 1)·6 = 456"
    assert conv.output_shape == (6, 14, 18)
    assert conv.shape_formula == ("height ⌊(32 + 2·0 − 5) / 2⌋ + 1 = 14; "
                                  "width ⌊(40 + 2·0 − 5) / 2⌋ + 1 = 18")
    assert (bn.label, bn.params, bn.formula) == ("BatchNorm2d (6)", 12, "2·6 = 12")
    assert act.label == "LeakyReLU (slope 0.1)"
    assert pool.label == "MaxPool 3×3, stride 1"
    assert pool.shape_formula == "height ⌊(14 − 3) / 1⌋ + 1 = 12; width ⌊(18 − 3) / 1⌋ + 1 = 16"
    assert drop.label == "Dropout (p = 0.5)"
    assert fc.label == "Linear 1,152→1,500"
    assert fc.formula == "(1,152 + 1)·1,500 = 1,729,500"
    assert (bn1.params, bn1.formula) == (3000, "2·1,500 = 3,000")
    assert tab.total_params == 456 + 12 + 1_729_500 + 3000 + 1501 * 4
    assert tab.input_shape == (3, 32, 40) and tab.num_classes == 4
    assert_matches_torch(layers, (3, 32, 40), 4)


# ---------------------------------------------------------------- errors


def _error(layers: object, input_shape: object = MNIST, num_classes: object = 10) -> InputError:
    with pytest.raises(InputError) as e:
        table(layers, input_shape, num_classes, limits=NETS)  # type: ignore[arg-type]
    return e.value


def test_conv_window_larger_than_padded_input() -> None:
    layers = [{"type": "conv2d", "kernel_size": 5}, {"type": "maxpool2d", "kernel_size": 8},
              {"type": "conv2d", "kernel_size": 6, "padding": 1}, {"type": "flatten"},
              {"type": "linear"}]
    e = _error(layers)
    assert e.field == "layers.2.kernel_size"
    assert e.message.startswith("Conv2d's 6×6 window is larger than its 3×3 input padded by 1 "
                                "on each side (5×5): use kernel_size ≤ 5, more padding")
    e = _error([{"type": "conv2d", "kernel_size": 11}, {"type": "conv2d", "kernel_size": 11},
                {"type": "conv2d", "kernel_size": 11}, {"type": "flatten"}, {"type": "linear"}])
    assert e.field == "layers.2.kernel_size"
    assert "larger than its 8×8 input: use kernel_size ≤ 8" in e.message


def test_pool_window_larger_than_input() -> None:
    e = _error([{"type": "avgpool2d", "kernel_size": 8, "stride": 8},
                {"type": "maxpool2d", "kernel_size": 4}, {"type": "flatten"}, {"type": "linear"}])
    assert e.field == "layers.1.kernel_size"
    assert "MaxPool2d's 4×4 window is larger than its 3×3 input" in e.message
    assert "kernel_size ≤ 3" in e.message


@pytest.mark.parametrize("kind", ["conv2d", "maxpool2d", "avgpool2d", "batchnorm2d"])
def test_spatial_layer_after_flatten(kind: str) -> None:
    e = _error([{"type": "flatten"}, {"type": kind}, {"type": "linear"}])
    assert e.field == "layers.1"
    assert "flattened to 784 numbers: move it before the Flatten layer" in e.message


def test_linear_without_flatten() -> None:
    e = _error([{"type": "conv2d"}, {"type": "relu"}, {"type": "linear"}])
    assert e.field == "layers.2"
    assert "Linear needs a flat input, but it gets a 8×26×26 block" in e.message
    assert "add a Flatten layer before it" in e.message


def test_batchnorm1d_on_images() -> None:
    e = _error([{"type": "batchnorm1d"}, {"type": "flatten"}, {"type": "linear"}])
    assert e.field == "layers.0"
    assert "add a Flatten layer before it, or use BatchNorm2d here" in e.message


def test_output_must_be_one_number_per_class() -> None:
    e = _error([{"type": "flatten"}, {"type": "linear", "out_features": 7}])
    assert e.field == "layers"
    assert e.message == ("the last layer gives 7 numbers per image but the dataset has 10 "
                         "classes: set the last Linear layer's out_features to 10")
    e = _error([{"type": "flatten"}, {"type": "relu"}])
    assert e.message.startswith("the last layer gives 784 numbers per image but the dataset has "
                                "10 classes: end with a Linear layer")
    e = _error([{"type": "conv2d"}])
    assert e.message == ("the last layer gives 5,408 numbers per image (a block of 8×26×26) but "
                         "the dataset has 10 classes: end with Flatten and a Linear layer with "
                         "out_features = 10")


def test_too_many_parameters_and_too_large_layers() -> None:
    e = _error([{"type": "flatten"}, {"type": "linear", "out_features": 4096},
                {"type": "linear", "out_features": 4096}, {"type": "linear"}])
    assert e.field == "layers.2"
    assert f"more than the {NETS.params:,}" in e.message
    e = _error([{"type": "conv2d", "out_channels": 256, "kernel_size": 1}, {"type": "flatten"},
                {"type": "linear"}], (3, 64, 64))
    assert e.field == "layers.0"
    assert "256×64×64" in e.message and "pool earlier" in e.message


@pytest.mark.parametrize(("input_shape", "num_classes", "field"), [
    ((28, 28), 10, "input_shape"), ((1, 0, 28), 10, "input_shape"),
    ((1, 28.0, 28), 10, "input_shape"), ((1, 4096, 28), 10, "input_shape"),
    (MNIST, 1, "num_classes"), (MNIST, 10.0, "num_classes"), (MNIST, True, "num_classes"),
])
def test_bad_input_shape_or_classes(input_shape: object, num_classes: object, field: str) -> None:
    assert _error(PRESETS["tiny"]["layers"], input_shape, num_classes).field == field


def test_walk_gives_the_rows_that_run_and_the_first_problem() -> None:
    layers = [{"type": "conv2d", "kernel_size": 5}, {"type": "maxpool2d", "kernel_size": 8},
              {"type": "conv2d", "kernel_size": 7}, {"type": "relu"},
              {"type": "dropout", "p": 2}]
    rows, problem = walk(layers, MNIST, limits=NETS)
    assert [r.output_shape for r in rows] == [(8, 24, 24), (8, 3, 3)]
    assert rows == table(layers[:2] + [{"type": "flatten"}, {"type": "linear", "out_features": 72}],
                         MNIST, 72, limits=NETS).rows[:2]
    # The first layer that cannot run wins over a bad setting further on, in table() too.
    assert problem is not None and problem.field == "layers.2.kernel_size"
    assert _error(layers).field == "layers.2.kernel_size"
    rows, problem = walk([{"type": "flatten"}, {"type": "linear", "oops": 1}], MNIST, limits=NETS)
    assert [r.output_shape for r in rows] == [(784,)] and problem.field == "layers.1.oops"
    # The output size is table()'s business: walk only runs the layers.
    rows, problem = walk([{"type": "flatten"}], MNIST, limits=NETS)
    assert problem is None and rows[0].output_shape == (784,)
    assert walk([], MNIST, limits=NETS)[1].field == "layers"
    with pytest.raises(InputError):
        walk([{"type": "relu"}], (1, 28), limits=NETS)


# ---------------------------------------------------------------- normalize


def test_normalize_fills_defaults_without_touching_its_input() -> None:
    layers = [{"type": "conv2d"}, {"type": "maxpool2d"}, {"type": "leakyrelu"},
              {"type": "dropout"}, {"type": "linear"}, {"type": "relu"}]
    before = copy.deepcopy(layers)
    assert normalize(layers, limits=NETS) == [
        {"type": "conv2d", "out_channels": 8, "kernel_size": 3, "stride": 1, "padding": 0,
         "bias": 1},
        {"type": "maxpool2d", "kernel_size": 2, "stride": None, "padding": 0},
        {"type": "leakyrelu", "negative_slope": 0.01},
        {"type": "dropout", "p": 0.5},
        {"type": "linear", "out_features": 10},
        {"type": "relu"},
    ]
    assert layers == before
    out = normalize(layers, limits=NETS)
    assert normalize(out, limits=NETS) == out
    # Whole floats (as JSON may carry them) become ints; ints become floats where floats are meant.
    assert normalize([{"type": "conv2d", "kernel_size": 5.0}, {"type": "dropout", "p": 0}],
                     limits=NETS) == [
        {"type": "conv2d", "out_channels": 8, "kernel_size": 5, "stride": 1, "padding": 0,
         "bias": 1},
        {"type": "dropout", "p": 0.0}]
    assert isinstance(normalize([{"type": "dropout", "p": 0}], limits=NETS)[0]["p"], float)
    assert normalize(({"type": "relu"},), limits=NETS) == [{"type": "relu"}]


@pytest.mark.parametrize(("layers", "field", "says"), [
    ("conv2d", "layers", "must be a list"),
    ([], "layers", "add at least one"),
    ([{"type": "relu"}] * (NETS.layers + 1), "layers", f"at most {NETS.layers} layers"),
    ([{"type": "relu"}, "relu"], "layers.1", "each layer must be an object"),
    ([{"type": "Conv2d"}], "layers.0.type", "unknown layer type 'Conv2d'; use one of conv2d,"),
    ([{"kernel_size": 3}], "layers.0.type", "unknown layer type nothing"),
    ([{"type": "relu", "inplace": True}], "layers.0.inplace", "ReLU has no setting 'inplace': "
                                                              "it takes no settings"),
    ([{"type": "relu"}, {"type": "conv2d", "filters": 8}], "layers.1.filters",
     "its settings are out_channels, kernel_size, stride, padding"),
    ([{"type": "conv2d", "kernel_size": 2.5}], "layers.0.kernel_size", "whole number 1 to 11"),
    ([{"type": "conv2d", "kernel_size": "3"}], "layers.0.kernel_size", "whole number"),
    ([{"type": "conv2d", "stride": True}], "layers.0.stride", "whole number 1 to 4"),
    ([{"type": "conv2d", "out_channels": 0}], "layers.0.out_channels", "must be 1 to 512, got 0"),
    ([{"type": "conv2d", "kernel_size": 12}], "layers.0.kernel_size", "must be 1 to 11, got 12"),
    ([{"type": "conv2d", "padding": 6}], "layers.0.padding", "must be 0 to 5"),
    ([{"type": "conv2d", "padding": None}], "layers.0.padding", "needs a value for padding"),
    ([{"type": "maxpool2d", "kernel_size": 9}], "layers.0.kernel_size", "must be 1 to 8"),
    ([{"type": "avgpool2d", "stride": 0}], "layers.0.stride", "must be 1 to 8"),
    ([{"type": "leakyrelu", "negative_slope": 1.5}], "layers.0.negative_slope", "0 to 1"),
    ([{"type": "dropout", "p": 0.95}], "layers.0.p", "must be 0 to 0.9, got 0.95"),
    ([{"type": "dropout", "p": math.nan}], "layers.0.p", "must be a number"),
    ([{"type": "linear", "out_features": 5000}], "layers.0.out_features", "1 to 4096"),
])
def test_normalize_rejects(layers: object, field: str, says: str) -> None:
    with pytest.raises(InputError) as e:
        normalize(layers, limits=NETS)
    assert e.value.field == field
    assert says in e.value.message
    # table() checks the same way before it looks at shapes.
    assert _error(layers).field == field


def test_layer_types_describe_themselves() -> None:
    assert set(LAYER_TYPES) == {"conv2d", "batchnorm2d", "relu", "leakyrelu", "tanh", "sigmoid",
                                "maxpool2d", "avgpool2d", "dropout", "flatten", "linear",
                                "batchnorm1d", "residual", "globalavgpool"}
    for name, kind in LAYER_TYPES.items():
        assert kind.name == name and kind.title and kind.explanation.endswith(".")
        for s in kind.settings:
            assert s.default is None and s.nullable or s.low <= s.default <= s.high
        # What the editor gets is plain JSON, and its defaults are what normalize fills in.
        described = json.loads(json.dumps(kind.as_dict()))
        assert {s["name"]: s["default"] for s in described["settings"]} == kind.defaults()
        assert normalize([{"type": name}], limits=NETS) == [{"type": name, **kind.defaults()}]
    conv = {s.name: (s.low, s.high, s.default) for s in LAYER_TYPES["conv2d"].settings}
    assert conv == {"out_channels": (1, 512, 8), "kernel_size": (1, 11, 3), "stride": (1, 4, 1),
                    "padding": (0, 5, 0), "bias": (0, 1, 1)}


# ---------------------------------------------------------------- build and inspect


def test_build_gives_one_score_per_class_and_trains() -> None:
    torch.manual_seed(0)
    model = build(PRESETS["typical"]["layers"], MNIST, 10, limits=NETS)
    assert isinstance(model, nn.Sequential)
    x, y = torch.rand(8, *MNIST), torch.arange(8)
    assert model(x).shape == (8, 10)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(20):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    assert losses[-1] < losses[0] / 2  # it can learn 8 images by heart
    assert isinstance(model[0], nn.Conv2d) and model[0].in_channels == 1
    assert isinstance(model[6], nn.MaxPool2d) and model[6].stride == 2
    assert isinstance(model[15], nn.Linear) and model[15].in_features == 32 * 7 * 7


def test_build_rejects_what_table_rejects() -> None:
    with pytest.raises(InputError) as e:
        build([{"type": "conv2d"}, {"type": "linear"}], MNIST, 10, limits=NETS)
    assert e.value.field == "layers.1"


def test_first_conv_weights() -> None:
    model = build(PRESETS["lenet5"]["layers"], MNIST, 10, limits=NETS)
    w = first_conv_weights(model)
    assert w is not None and w.shape == (6, 1, 5, 5) and not w.requires_grad
    assert torch.equal(w, model[0].weight)
    with torch.no_grad():
        model[0].weight.add_(1.0)
    assert not torch.equal(w, model[0].weight)  # a copy: later training does not change it
    flat = build([{"type": "flatten"}, {"type": "linear"}], MNIST, 10, limits=NETS)
    assert first_conv_weights(flat) is None
    assert first_conv_weights(nn.Sequential(nn.Sequential(nn.Conv2d(3, 2, 1)))).shape == (
        2, 3, 1, 1)


def test_layer_outputs_are_each_layers_output() -> None:
    torch.manual_seed(0)
    model = build(PRESETS["default"]["layers"], MNIST, 10, limits=NETS).eval()
    x = torch.rand(3, *MNIST)
    outs = layer_outputs(model, x)
    assert [tuple(o.shape) for o in outs] == [
        (3, 16, 28, 28), (3, 16, 28, 28), (3, 16, 14, 14), (3, 32, 14, 14), (3, 32, 14, 14),
        (3, 32, 7, 7), (3, 1568), (3, 10)]
    assert torch.allclose(outs[-1], model(x))
    assert torch.equal(outs[0], model[0](x)) and torch.equal(outs[1], outs[0].clamp(min=0))
    assert not any(o.requires_grad for o in outs)


def test_receptive_fields_match_where_gradients_reach() -> None:
    """The input pixels that can move one unit are exactly its computed field: with positive
    weights and average pooling, every pixel in the field has a nonzero gradient."""
    layers = [{"type": "conv2d", "out_channels": 2, "kernel_size": 3, "padding": 1},
              {"type": "avgpool2d", "kernel_size": 2},
              {"type": "conv2d", "out_channels": 2, "kernel_size": 5, "stride": 2, "padding": 2},
              {"type": "relu"}, {"type": "avgpool2d", "kernel_size": 3, "stride": 1},
              {"type": "flatten"}, {"type": "linear", "out_features": 3}]
    model = nets.build(layers, (1, 32, 32), 3, limits=NETS)
    for m in model:
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.constant_(m.weight, 0.1)
    fields = nets.receptive_fields(layers)
    assert fields[5] is None and fields[6] is None
    x = torch.ones(1, 1, 32, 32, requires_grad=True)
    outs = x
    for i, layer in enumerate(model):
        outs = layer(outs)
        if fields[i] is None:
            break
        f = fields[i]
        h = outs.shape[2]
        for r, c in ((0, 0), (h // 2, h - 1)):
            (grad,) = torch.autograd.grad(outs[0, 0, r, c], x, retain_graph=True)
            rows = torch.nonzero(grad[0, 0].abs().sum(1)).flatten()
            cols = torch.nonzero(grad[0, 0].abs().sum(0)).flatten()
            top, left = f.left + r * f.jump, f.left + c * f.jump
            assert rows.min() == max(top, 0) and rows.max() == min(top + f.size - 1, 31), (i, r)
            assert cols.min() == max(left, 0) and cols.max() == min(left + f.size - 1, 31), (i, c)


# ---------------------------------------------------------------- residual blocks, global pooling


class BasicBlock(nn.Module):
    """ResNet's basic block written out here, independently of nets.py: the reference."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.down = None
        if stride != 1 or c_in != c_out:
            self.down = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                      nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + (x if self.down is None else self.down(x)))


@pytest.mark.parametrize(("c_in", "c_out", "stride"), [(8, 8, 1), (8, 16, 2), (8, 16, 1),
                                                       (8, 8, 2)])
def test_a_residual_block_is_resnets_basic_block(c_in: int, c_out: int, stride: int) -> None:
    layers = [{"type": "residual", "out_channels": c_out, "stride": stride},
              {"type": "flatten"}, {"type": "linear", "out_features": 3}]
    tab = assert_matches_torch(layers, (c_in, 9, 9), 3)
    block = build(layers, (c_in, 9, 9), 3, limits=NETS)[0]
    reference = BasicBlock(c_in, c_out, stride)
    ours = dict(block.named_parameters()) | dict(block.named_buffers())
    theirs = dict(reference.named_parameters()) | dict(reference.named_buffers())
    assert len(ours) == len(theirs)  # the same tensors, in the same order: copy them across
    torch.manual_seed(0)
    with torch.no_grad():
        for a, b in zip(ours.values(), theirs.values(), strict=True):
            assert a.shape == b.shape
            b.copy_(a.float().uniform_(0.5, 1.5) if a.is_floating_point() else a)
            a.copy_(b)
    x = torch.randn(4, c_in, 9, 9)
    for mode in (True, False):
        block.train(mode), reference.train(mode)
        torch.testing.assert_close(block(x), reference(x))
    row = tab.rows[0]
    n = 9 * c_in * c_out + 9 * c_out * c_out + 4 * c_out + (
        c_in * c_out + 2 * c_out if reference.down is not None else 0)
    assert row.params == n == sum(p.numel() for p in reference.parameters())
    assert ("projection" in row.label) == (reference.down is not None)
    assert row.output_shape == (c_out, (9 - 1) // stride + 1, (9 - 1) // stride + 1)
    assert sum(p.params for p in row.parts) == row.params and row.parts[-1].type == "add"


def test_a_residual_block_adds_its_input() -> None:
    """Hand-worked: with the body's last batch norm at γ = β = 0, F(x) = 0 and the block gives
    ReLU(x); without batch norm and with the second convolution zeroed, ReLU(x) too."""
    x = torch.randn(2, 4, 6, 6)
    for bn in (1, 0):
        block = build([{"type": "residual", "out_channels": 4, "batchnorm": bn},
                       {"type": "flatten"}, {"type": "linear", "out_features": 2}],
                      (4, 6, 6), 2, limits=NETS)[0].eval()
        with torch.no_grad():
            for p in block.body[-1].parameters():
                p.zero_()
        torch.testing.assert_close(block(x), torch.relu(x))


def test_global_average_pooling_is_the_mean_of_each_map() -> None:
    layers = [{"type": "conv2d", "out_channels": 5}, {"type": "globalavgpool"},
              {"type": "linear", "out_features": 2}]
    tab = assert_matches_torch(layers, (3, 10, 7), 2)
    assert tab.rows[1].output_shape == (5,) and tab.rows[1].params == 0
    model = build(layers, (3, 10, 7), 2, limits=NETS)
    x = torch.randn(2, 3, 10, 7)
    torch.testing.assert_close(model[1](model[0](x)), model[0](x).mean(dim=(2, 3)))
    assert _error([{"type": "flatten"}, {"type": "globalavgpool"}]).field == "layers.1"
    assert _error([{"type": "flatten"}, {"type": "residual"}]).field == "layers.1"


def test_resnet18_shapes_are_the_papers() -> None:
    p = PRESETS["resnet18"]
    tab = table(p["layers"], tuple(p["input_shape"]), 1000, limits=LIMITS.reading_nets)
    shapes = [r.output_shape for r in tab.rows]
    # the stem halves twice (224 → 112 → 56), then each stage after the first halves once more
    assert shapes[0] == (64, 112, 112) and shapes[3] == (64, 56, 56)
    assert [shapes[i] for i in (5, 7, 9, 11)] == [(64, 56, 56), (128, 28, 28), (256, 14, 14),
                                                 (512, 7, 7)]
    assert shapes[-2:] == [(512,), (1000,)]


def test_alexnet_needs_227_pixels() -> None:
    """The well-known slip: at 224, (224 − 11)/4 + 1 = 54.25 rounds down, and the maps shrink
    to 5×5 where the drawing (and its 9,216-input dense layer) needs 6×6."""
    p = PRESETS["alexnet"]
    at_227 = table(p["layers"], (3, 227, 227), 1000, limits=LIMITS.reading_nets)
    at_224 = table(p["layers"], (3, 224, 224), 1000, limits=LIMITS.reading_nets)
    assert at_227.rows[0].output_shape == (96, 55, 55)
    assert at_224.rows[0].output_shape == (96, 54, 54)
    assert "⌊(224 + 2·0 − 11) / 4⌋ + 1 = 54" in at_224.rows[0].shape_formula
    flat = next(i for i, r in enumerate(at_227.rows) if r.type == "flatten")
    assert at_227.rows[flat].output_shape == (9216,) and at_224.rows[flat].output_shape == (6400,)
    assert at_224.total_params != at_227.total_params == 62_378_344


def test_a_residual_blocks_receptive_field_is_its_bodys() -> None:
    fields = nets.receptive_fields([{"type": "residual", "out_channels": 4},
                                    {"type": "residual", "out_channels": 8, "stride": 2}])
    assert fields[0] == nets.ReceptiveField(size=5, jump=1, left=-2)  # two 3×3
    assert fields[1] == nets.ReceptiveField(size=11, jump=2, left=-5)


def test_a_pools_padding_is_at_most_half_its_window() -> None:
    assert _error([{"type": "maxpool2d", "kernel_size": 3, "padding": 2}]).field == \
        "layers.0.padding"
    tab = assert_matches_torch([{"type": "maxpool2d", "kernel_size": 3, "stride": 2,
                                 "padding": 1}, {"type": "flatten"},
                                {"type": "linear", "out_features": 2}], (2, 112, 112), 2)
    assert tab.rows[0].output_shape == (2, 56, 56)
