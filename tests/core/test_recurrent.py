"""app.core.recurrent against torch: hand-stepped cells vs torch.nn.*Cell, the gradient flow vs an
independent autograd computation, the checks' messages, and the memory task."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from app.core import recurrent as rec
from app.core.errors import InputError

LIMITS = rec.RecurrentLimits(
    input_size=64, hidden_size=64, steps=256, value=1e6, flow_length=200, flow_hidden=64,
    weight_scale=10.0, memory_delay=64, memory_steps=5000, memory_hidden=64,
)
TORCH_CELLS = {"rnn": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}
TORCH_LAYERS = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}


def torch_cell(cell: str, weights: dict[str, np.ndarray], dtype=torch.float32) -> torch.nn.Module:
    rows, input_size = weights["weight_ih"].shape
    module = TORCH_CELLS[cell](input_size, rows // rec.GATE_COUNT[cell]).to(dtype)
    with torch.no_grad():
        for name, value in weights.items():
            getattr(module, name).copy_(torch.from_numpy(value))
    return module


def fmt3(v: float) -> str:
    text = f"{v:.3f}"
    return ("0.000" if text == "-0.000" else text).replace("-", "−")


# ---------------------------------------------------------------- trace vs torch

@pytest.mark.parametrize("cell", rec.CELLS)
@pytest.mark.parametrize(("input_size", "hidden_size", "steps"),
                         [(1, 1, 1), (3, 5, 7), (6, 9, 4), (2, 16, 12)])
def test_trace_matches_torch_cells(cell, input_size, hidden_size, steps):
    rng = np.random.default_rng(input_size * 100 + hidden_size + steps)
    x = rng.standard_normal((steps, input_size)).astype(np.float32)
    h0 = rng.standard_normal(hidden_size).astype(np.float32)
    c0 = rng.standard_normal(hidden_size).astype(np.float32) if cell == "lstm" else None
    weights = {k: (v * 2).astype(np.float32)  # beyond the init range, to exercise the gates
               for k, v in rec.random_weights(cell, input_size, hidden_size, 7).items()}
    tr = rec.trace(cell, x.tolist(), hidden_size=hidden_size, weights=weights, h0=h0.tolist(),
                   c0=None if c0 is None else c0.tolist(), limits=LIMITS)
    assert (tr.cell, tr.input_size, tr.hidden_size, len(tr.steps)) == (
        cell, input_size, hidden_size, steps)

    module = torch_cell(cell, weights)
    h = torch.from_numpy(h0)[None]  # (1, H)
    c = torch.from_numpy(c0)[None] if c0 is not None else None
    w_hh, b_hh = torch.from_numpy(weights["weight_hh"]), torch.from_numpy(weights["bias_hh"])
    w_ih, b_ih = torch.from_numpy(weights["weight_ih"]), torch.from_numpy(weights["bias_ih"])
    with torch.no_grad():
        for t, step in enumerate(tr.steps):
            assert step.t == t + 1
            xt = torch.from_numpy(x[t])[None]  # (1, I)
            np.testing.assert_array_equal(step.x, x[t])
            # the gates, recomputed from torch's chunks of the stacked pre-activations
            gi = (xt @ w_ih.T + b_ih)[0]
            gh = (h @ w_hh.T + b_hh)[0]
            if cell == "lstm":
                i, f, g, o = (gi + gh).chunk(4)
                expected = {"input": torch.sigmoid(i), "forget": torch.sigmoid(f),
                            "cell": torch.tanh(g), "output": torch.sigmoid(o)}
                h, c = module(xt, (h, c))
                np.testing.assert_allclose(step.c, c[0].numpy(), atol=2e-6)
            elif cell == "gru":
                ir, iz, i_n = gi.chunk(3)
                hr, hz, hn = gh.chunk(3)
                r = torch.sigmoid(ir + hr)
                expected = {"reset": r, "update": torch.sigmoid(iz + hz),
                            "new": torch.tanh(i_n + r * hn)}
                h = module(xt, h)
                assert step.c is None
            else:
                expected = None
                h = module(xt, h)
                assert step.c is None and step.gates is None
            np.testing.assert_allclose(step.h, h[0].numpy(), atol=2e-6)
            assert step.h.dtype == np.float32
            if expected is not None:
                assert set(step.gates) == set(rec.GATES[cell])
                for name, value in expected.items():
                    np.testing.assert_allclose(step.gates[name], value.numpy(), atol=2e-6)


@pytest.mark.parametrize("cell", rec.CELLS)
@pytest.mark.parametrize("hidden_size", [3, 8, 9, 20])
def test_expression_shows_the_steps_numbers(cell, hidden_size):
    x = np.random.default_rng(hidden_size).standard_normal((3, 2)).tolist()
    tr = rec.trace(cell, x, hidden_size=hidden_size, seed=4, limits=LIMITS)
    lines = {"rnn": 1, "lstm": 6, "gru": 4}[cell]
    for step in tr.steps:
        text = step.expression
        assert len(text.split("\n")) == lines
        last = text.split("\n")[-1]
        assert last.startswith(f"h_{step.t} = ")
        shown = hidden_size if hidden_size <= 8 else 4
        numbers = ", ".join(fmt3(v) for v in step.h[:shown])
        assert last.endswith("[" + numbers + (", …]" if hidden_size > 8 else "]"))
        assert ("…" in text) == (hidden_size > 8)
        assert "-" not in text  # negatives with the true minus sign
        assert f"h_{step.t - 1}" in text
        if cell == "lstm":
            assert f"c_{step.t} = f_{step.t}⊙c_{step.t - 1}" in text
            gate = ", ".join(fmt3(v) for v in step.gates["forget"][:shown])
            assert f"f_{step.t} = σ(" in text and gate in text


def test_rnn_expression_terms_add_up():
    """Each bracket of the RNN line is the term it names: recompute them from the weights."""
    x = [[0.5, -1.0], [2.0, 0.25]]
    tr = rec.trace("rnn", x, hidden_size=3, h0=[0.1, -0.2, 0.3], seed=1, limits=LIMITS)
    w = tr.weights
    step = tr.steps[1]
    h_prev = tr.steps[0].h
    terms = [w["weight_ih"] @ np.float32(x[1]), w["bias_ih"], w["weight_hh"] @ h_prev,
             w["bias_hh"]]
    total = sum(terms)
    expected = ("h_2 = tanh(W_ih·x_2 + b_ih + W_hh·h_1 + b_hh) = tanh("
                + " + ".join("[" + ", ".join(fmt3(v) for v in term) + "]" for term in terms)
                + ") = tanh([" + ", ".join(fmt3(v) for v in total) + "]) = ["
                + ", ".join(fmt3(v) for v in np.tanh(total)) + "]")
    assert step.expression == expected


def test_trace_defaults_zero_state_and_seeded_weights():
    x = [[1.0, 2.0]]
    a = rec.trace("lstm", x, hidden_size=4, seed=3, limits=LIMITS)
    b = rec.trace("lstm", x, hidden_size=4, weights=rec.random_weights("lstm", 2, 4, 3),
                  h0=[0, 0, 0, 0], c0=[0, 0, 0, 0], limits=LIMITS)
    np.testing.assert_array_equal(a.steps[0].h, b.steps[0].h)
    assert a.steps[0].expression == b.steps[0].expression
    c = rec.trace("lstm", x, hidden_size=4, seed=4, limits=LIMITS)
    assert not np.array_equal(a.steps[0].h, c.steps[0].h)


# ---------------------------------------------------------------- random weights

@pytest.mark.parametrize("cell", rec.CELLS)
def test_random_weights_match_torchs_init(cell):
    i, h = 5, 9
    w = rec.random_weights(cell, i, h, seed=11)
    module = TORCH_CELLS[cell](i, h)
    assert list(w) == list(rec.WEIGHT_NAMES)
    bound = 1 / math.sqrt(h)
    for name, value in w.items():
        assert value.shape == tuple(getattr(module, name).shape)
        assert value.dtype == np.float32
        assert np.abs(value).max() <= bound
        # torch's own draw has the same range: both fill most of it
        assert np.abs(value).max() > 0.8 * bound
        assert np.abs(getattr(module, name).detach().numpy()).max() <= bound
    again = rec.random_weights(cell, i, h, seed=11)
    other = rec.random_weights(cell, i, h, seed=12)
    for name in w:
        np.testing.assert_array_equal(w[name], again[name])
        assert not np.array_equal(w[name], other[name])


# ---------------------------------------------------------------- checks

def _error(fn, *args, **kwargs) -> InputError:
    with pytest.raises(InputError) as info:
        fn(*args, **kwargs)
    return info.value


def _good(cell="lstm", i=3, h=32) -> dict:
    return {k: v.tolist() for k, v in rec.random_weights(cell, i, h, 0).items()}


def test_check_weights_accepts_lists_and_arrays():
    lists = rec.check_weights("gru", 3, 4, _good("gru", 3, 4), limits=LIMITS)
    arrays = rec.check_weights("gru", 3, 4, rec.random_weights("gru", 3, 4, 0), limits=LIMITS)
    for name in rec.WEIGHT_NAMES:
        assert lists[name].dtype == np.float32
        np.testing.assert_array_equal(lists[name], arrays[name])


def test_check_weights_missing_and_unknown_keys():
    w = _good()
    del w["bias_hh"]
    e = _error(rec.check_weights, "lstm", 3, 32, w, limits=LIMITS)
    assert e.field == "weights.bias_hh"
    assert "missing" in e.message and "weight_ih, weight_hh, bias_ih, bias_hh" in e.message
    w = _good() | {"bias": [0.0]}
    e = _error(rec.check_weights, "lstm", 3, 32, w, limits=LIMITS)
    assert e.field == "weights.bias"
    assert "weight_ih, weight_hh, bias_ih, bias_hh" in e.message
    e = _error(rec.check_weights, "lstm", 3, 32, [1, 2], limits=LIMITS)
    assert e.field == "weights"


def test_check_weights_wrong_shape_says_why():
    w = _good() | {"weight_ih": np.zeros((3, 3)).tolist()}
    e = _error(rec.check_weights, "lstm", 3, 32, w, limits=LIMITS)
    assert e.field == "weights.weight_ih"
    assert e.message == ("weights.weight_ih must be 128×3 (4·hidden_size × input_size: an "
                         "LSTM's gates i, f, g, o stacked), got 3×3")
    w = _good("gru", 3, 5) | {"weight_hh": np.zeros((15, 4))}
    e = _error(rec.check_weights, "gru", 3, 5, w, limits=LIMITS)
    assert e.field == "weights.weight_hh"
    assert "15×5" in e.message and "3·hidden_size × hidden_size" in e.message
    assert "r, z, n" in e.message and "got 15×4" in e.message
    w = _good("rnn", 3, 5) | {"bias_ih": [0.0, 1.0]}
    e = _error(rec.check_weights, "rnn", 3, 5, w, limits=LIMITS)
    assert e.field == "weights.bias_ih"
    assert "must be 5 numbers (hidden_size" in e.message and "got 2 numbers" in e.message


def test_check_weights_ragged_nonfinite_too_big():
    w = _good("rnn", 2, 3) | {"weight_hh": [[0, 0, 0], [0, 0], [0, 0, 0]]}
    e = _error(rec.check_weights, "rnn", 2, 3, w, limits=LIMITS)
    assert e.field == "weights.weight_hh"
    assert "row 2 has 2 numbers" in e.message and "row 1 has 3" in e.message
    w = _good("rnn", 2, 3) | {"bias_hh": [0.0, math.nan, 0.0]}
    e = _error(rec.check_weights, "rnn", 2, 3, w, limits=LIMITS)
    assert e.field == "weights.bias_hh" and "finite" in e.message and "number 2" in e.message
    w = _good("rnn", 2, 3) | {"weight_ih": [[0, 0], [0, 2e6], [0, 0]]}
    e = _error(rec.check_weights, "rnn", 2, 3, w, limits=LIMITS)
    assert e.field == "weights.weight_ih"
    assert "−1e+06 to 1e+06" in e.message and "2e+06" in e.message
    assert "row 2, column 2" in e.message
    w = _good("rnn", 2, 3) | {"bias_ih": ["a", "b", "c"]}
    e = _error(rec.check_weights, "rnn", 2, 3, w, limits=LIMITS)
    assert e.field == "weights.bias_ih" and "numbers" in e.message


def test_check_sizes():
    e = _error(rec.check_sizes, "transformer", 3, 4, limits=LIMITS)
    assert e.field == "cell" and "rnn, lstm, gru" in e.message
    e = _error(rec.check_sizes, "rnn", 65, 4, limits=LIMITS)
    assert e.field == "input_size" and "1 to 64" in e.message and "65" in e.message
    e = _error(rec.check_sizes, "rnn", 3, 0, limits=LIMITS)
    assert e.field == "hidden_size" and "1 to 64" in e.message
    e = _error(rec.check_sizes, "rnn", 3, 2.5, limits=LIMITS)
    assert e.field == "hidden_size"
    rec.check_sizes("gru", 64, 64, limits=LIMITS)


def test_check_inputs_errors():
    e = _error(rec.trace, "rnn", [], hidden_size=2, limits=LIMITS)
    assert e.field == "inputs" and "1 to 256" in e.message
    e = _error(rec.trace, "rnn", [[0.0]] * 257, hidden_size=2, limits=LIMITS)
    assert e.field == "inputs" and "got 257" in e.message
    e = _error(rec.trace, "rnn", [[1, 2], [1, 2], [1]], hidden_size=2, limits=LIMITS)
    assert e.field == "inputs" and "row 3 has 1 numbers" in e.message and "row 1 has 2" in e.message
    e = _error(rec.trace, "rnn", [[1, 2], [math.inf, 2]], hidden_size=2, limits=LIMITS)
    assert e.field == "inputs" and "finite" in e.message and "row 2, column 1" in e.message
    e = _error(rec.trace, "rnn", [[1, 2e7]], hidden_size=2, limits=LIMITS)
    assert e.field == "inputs" and "1e+06" in e.message
    e = _error(rec.trace, "rnn", [[0.0] * 65], hidden_size=2, limits=LIMITS)
    assert e.field == "inputs" and "1 to 64 numbers" in e.message
    e = _error(rec.trace, "rnn", [1.0, 2.0], hidden_size=2, limits=LIMITS)
    assert e.field == "inputs"
    e = _error(rec.trace, "rnn", "abc", hidden_size=2, limits=LIMITS)
    assert e.field == "inputs"
    x = rec.check_inputs(np.ones((4, 3)), limits=LIMITS)
    assert x.shape == (4, 3) and x.dtype == np.float32


def test_trace_state_errors():
    x = [[1.0, 2.0]]
    e = _error(rec.trace, "gru", x, hidden_size=3, c0=[0, 0, 0], limits=LIMITS)
    assert e.field == "c0" and "LSTM only" in e.message
    e = _error(rec.trace, "lstm", x, hidden_size=3, h0=[0, 0], limits=LIMITS)
    assert e.field == "h0" and "3 numbers" in e.message and "got 2 numbers" in e.message
    e = _error(rec.trace, "lstm", x, hidden_size=3, c0=[0, math.nan, 0], limits=LIMITS)
    assert e.field == "c0" and "finite" in e.message
    e = _error(rec.trace, "lstm", x, hidden_size=3, h0=[0, 0, -3e6], limits=LIMITS)
    assert e.field == "h0"
    e = _error(rec.trace, "lstm", x, hidden_size=3, weights=_good("lstm", 2, 4), limits=LIMITS)
    assert e.field == "weights.weight_ih" and "12×2" in e.message
    e = _error(rec.trace, "lstm", x, hidden_size=65, limits=LIMITS)
    assert e.field == "hidden_size"


def test_trace_with_large_values_stays_finite():
    """Saturated gates: σ of a huge negative pre-activation is 0, not a warning or a NaN."""
    w = {k: np.full_like(v, 1e6 if k == "weight_ih" else 0.0)
         for k, v in rec.random_weights("lstm", 2, 3, 0).items()}
    tr = rec.trace("lstm", [[-1e6, -1e6], [1e6, 1e6]], hidden_size=3, weights=w, limits=LIMITS)
    module = torch_cell("lstm", w)
    with torch.no_grad():
        h, c = module(torch.tensor([[-1e6, -1e6]]))
        h, c = module(torch.tensor([[1e6, 1e6]]), (h, c))
    np.testing.assert_allclose(tr.steps[1].h, h[0].numpy(), atol=1e-6)
    assert all(np.isfinite(s.h).all() and np.isfinite(s.c).all() for s in tr.steps)


# ---------------------------------------------------------------- gradient flow

def _reference_norms(cell: str, flow: rec.Flow) -> list[float]:
    """∂(Σ h_T)/∂x_t from torch.nn.RNNCell/LSTMCell/GRUCell stepped one x_t at a time in float64,
    one autograd.grad per t (the module under test uses the fused nn.RNN/LSTM/GRU layer)."""
    weights = {k: v.astype(np.float64) for k, v in flow.weights.items()}
    module = torch_cell(cell, weights, torch.float64)
    hidden = weights["weight_hh"].shape[1]
    xs = [torch.tensor(row, requires_grad=True) for row in flow.inputs]  # T × (I,)
    h = torch.zeros(1, hidden, dtype=torch.float64)
    c = torch.zeros(1, hidden, dtype=torch.float64)
    for x in xs:
        if cell == "lstm":
            h, c = module(x[None], (h, c))
        else:
            h = module(x[None], h)
    y = h.sum()
    norms = []
    for lag in range(len(xs)):
        (g,) = torch.autograd.grad(y, xs[len(xs) - 1 - lag], retain_graph=True)
        norms.append(float(g.norm()))
    return norms


@pytest.mark.parametrize("cell", rec.CELLS)
@pytest.mark.parametrize(("hidden", "length", "scale"), [(5, 1, 1.0), (7, 12, 2.5), (3, 9, 0.5)])
def test_gradient_flow_matches_autograd(cell, hidden, length, scale):
    flow = rec.gradient_flow(cell, hidden_size=hidden, length=length, seed=5, weight_scale=scale,
                             input_size=3, limits=LIMITS)
    assert flow.lags == list(range(length))
    assert flow.inputs.shape == (length, 3)
    base = rec.random_weights(cell, 3, hidden, 5)
    np.testing.assert_allclose(flow.weights["weight_hh"], base["weight_hh"] * scale, rtol=1e-6)
    np.testing.assert_array_equal(flow.weights["weight_ih"], base["weight_ih"])
    np.testing.assert_allclose(flow.norms, _reference_norms(cell, flow), rtol=1e-9, atol=1e-300)


def test_gradient_flow_jacobian_for_a_short_rnn():
    """A second reference: the full Jacobian of h_T, the RNN written out in torch ops."""
    flow = rec.gradient_flow("rnn", hidden_size=4, length=5, seed=2, input_size=2, limits=LIMITS)
    w = {k: torch.from_numpy(v.astype(np.float64)) for k, v in flow.weights.items()}

    def last_h(x):
        h = torch.zeros(4, dtype=torch.float64)
        for t in range(len(x)):
            h = torch.tanh(w["weight_ih"] @ x[t] + w["bias_ih"] + w["weight_hh"] @ h + w["bias_hh"])
        return h

    jac = torch.autograd.functional.jacobian(last_h, torch.from_numpy(flow.inputs))  # (H, T, I)
    expected = jac.sum(0).norm(dim=1).flip(0).tolist()
    np.testing.assert_allclose(flow.norms, expected, rtol=1e-9)


def test_rnn_gradient_vanishes_faster_than_lstm():
    rnn = rec.gradient_flow("rnn", hidden_size=32, length=60, weight_scale=0.5, seed=0,
                            limits=LIMITS)
    lstm = rec.gradient_flow("lstm", hidden_size=32, length=60, weight_scale=0.5, seed=0,
                             limits=LIMITS)
    r, s = np.array(rnn.norms), np.array(lstm.norms)
    assert r[40] < r[20] < r[0] * 1e-3  # falls with the lag, geometrically
    assert np.all(np.diff(np.log(r[:50])) < 0.1)  # and (almost) every step
    # the LSTM's fall off more slowly: more of the lag-0 gradient survives 20 steps back
    assert s[20] / s[0] > 100 * (r[20] / r[0])


def test_gradient_flow_grows_with_weight_scale():
    small = rec.gradient_flow("rnn", hidden_size=16, length=30, weight_scale=0.5, limits=LIMITS)
    large = rec.gradient_flow("rnn", hidden_size=16, length=30, weight_scale=4.0, limits=LIMITS)
    assert large.norms[20] > 1e3 * small.norms[20]


def test_gradient_flow_takes_one_backward_pass(monkeypatch):
    """Every lag's norm comes from one backward pass through the T steps, not one pass per
    lag (T of them): what keeps a 200-step flow interactive (bench.sequence_trace times the
    lab; a timed test here only measured how busy the test machine was)."""
    real, calls = torch.autograd.grad, []

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", counted)
    flow = rec.gradient_flow("lstm", hidden_size=64, length=200, limits=LIMITS)
    assert len(calls) == 1
    assert len(flow.norms) == 200 and all(v is not None and v >= 0 for v in flow.norms)


def test_gradient_flow_non_finite_norm_is_none(monkeypatch):
    """Norms that overflow float64 come back as None (tanh saturation keeps the real cells
    finite, so the gradient is patched to overflow)."""
    real = torch.autograd.grad

    def overflowing(*args, **kwargs):
        (g,) = real(*args, **kwargs)
        g = g.clone()
        g[0] = math.inf
        return (g,)

    monkeypatch.setattr(torch.autograd, "grad", overflowing)
    flow = rec.gradient_flow("gru", hidden_size=3, length=4, limits=LIMITS)
    assert flow.norms[-1] is None  # t = 0, the longest lag
    assert all(isinstance(v, float) for v in flow.norms[:-1])


def test_gradient_flow_checks():
    kw = {"hidden_size": 4, "length": 5, "limits": LIMITS}
    assert _error(rec.gradient_flow, "rnn", **(kw | {"length": 201})).field == "length"
    assert _error(rec.gradient_flow, "rnn", **(kw | {"length": 0})).field == "length"
    assert _error(rec.gradient_flow, "rnn", **(kw | {"hidden_size": 65})).field == "hidden_size"
    for bad in (0, -1.0, 10.5, math.nan, math.inf):
        e = _error(rec.gradient_flow, "rnn", weight_scale=bad, **kw)
        assert e.field == "weight_scale" and "at most 10" in e.message
    assert _error(rec.gradient_flow, "cnn", **kw).field == "cell"
    rec.gradient_flow("rnn", weight_scale=10.0, **kw)


# ---------------------------------------------------------------- the memory task

@pytest.fixture
def one_thread():
    """Batches of 64 short sequences: one intra-op thread is fastest, and on a busy 2-core
    machine two threads spin against each other (the default sweep: ~40 s vs minutes)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_memory_batch_layout():
    x, y = rec.memory_batch(6, 3, 4, torch.Generator().manual_seed(0))
    assert x.shape == (6, 5, 6) and y.shape == (6,)
    assert torch.equal(x[torch.arange(6), 0, y], torch.ones(6))
    assert torch.equal(x.sum(dim=2), torch.ones(6, 5))  # one-hot at every step
    assert torch.all(x[:, 1:4, 4] == 1) and torch.all(x[:, 4, 5] == 1)


def test_memory_events_and_stop(one_thread):
    config = rec.MemoryConfig(cells=("rnn", "lstm"), delays=(1, 3), hidden_size=4, steps=15,
                              batch_size=8, progress_every=0.0)
    events: list[dict] = []
    result = rec.train_memory(config, events.append, lambda: False, limits=LIMITS)
    assert result.reason == "completed"
    assert events[0]["type"] == "start" and events[0]["chance"] == 0.25
    assert events[-1]["type"] == "done" and events[-1]["metrics"] == result.metrics
    progress = [e for e in events if e["type"] == "memory"]
    assert {(e["cell"], e["delay"]) for e in progress} == {
        ("rnn", 1), ("rnn", 3), ("lstm", 1), ("lstm", 3)}
    for e in progress:
        assert set(e) == {"type", "cell", "delay", "step", "loss", "accuracy"}
        assert 0 <= e["accuracy"] <= 1 and e["loss"] > 0 and 1 <= e["step"] <= 15
    results = [e for e in events if e["type"] == "memory_result"]
    assert [(e["cell"], e["delay"]) for e in results] == [
        ("rnn", 1), ("rnn", 3), ("lstm", 1), ("lstm", 3)]
    for e in results:
        assert isinstance(e["learned"], bool) and e["learned"] == (e["accuracy"] >= 0.9)
    assert set(result.metrics["longest"]) == {"rnn", "lstm"}
    assert len(result.metrics["results"]) == 4

    again: list[dict] = []
    rec.train_memory(config, again.append, lambda: False, limits=LIMITS)
    assert [e for e in again if e["type"] == "memory_result"] == results  # seeded

    calls = []

    def stop_after_5() -> bool:
        calls.append(1)
        return len(calls) >= 5

    stopped: list[dict] = []
    result = rec.train_memory(config, stopped.append, stop_after_5, limits=LIMITS)
    assert result.reason == "stopped" and len(calls) == 5
    assert stopped[-1]["type"] == "done" and stopped[-1]["reason"] == "stopped"
    assert not [e for e in stopped if e["type"] == "memory_result"]
    assert max(e["step"] for e in stopped if e["type"] == "memory") == 5


def test_memory_time_limit(one_thread):
    config = rec.MemoryConfig(delays=(2,), hidden_size=4, steps=5000, batch_size=8,
                              max_seconds=0.05)
    events: list[dict] = []
    result = rec.train_memory(config, events.append, lambda: False, limits=LIMITS)
    assert result.reason == "time limit"
    assert len([e for e in events if e["type"] == "memory_result"]) == 1


@pytest.mark.parametrize(("change", "field"), [
    ({"cells": ("rnn", "cnn")}, "cells"), ({"cells": ()}, "cells"),
    ({"cells": ("rnn", "rnn")}, "cells"), ({"delays": (0,)}, "delays"),
    ({"delays": (65,)}, "delays"), ({"delays": ()}, "delays"),
    ({"hidden_size": 65}, "hidden_size"), ({"symbols": 1}, "symbols"),
    ({"steps": 5001}, "steps"), ({"batch_size": 0}, "batch_size"),
    ({"learning_rate": 0.0}, "learning_rate"), ({"learning_rate": math.nan}, "learning_rate"),
    ({"seed": -1}, "seed"), ({"max_seconds": 0}, "max_seconds"),
    ({"progress_every": -1}, "progress_every"), ({"forget_bias": 20}, "forget_bias"),
])
def test_memory_config_checks(change, field):
    config = rec.MemoryConfig(**change)
    e = _error(config.validate, LIMITS)
    assert e.field == field


def test_memory_defaults_are_valid():
    rec.MemoryConfig().validate(LIMITS)
    assert rec.MemoryConfig().steps <= LIMITS.memory_steps


@pytest.mark.slow
def test_lstm_remembers_where_the_rnn_forgets(one_thread):
    """Same hidden size, steps and optimizer: at a 64-step delay the LSTM learns to recall the
    first symbol and the plain RNN stays near chance."""
    config = rec.MemoryConfig(delays=(64,))
    events: list[dict] = []
    result = rec.train_memory(config, events.append, lambda: False, limits=LIMITS)
    by_cell = {r["cell"]: r for r in result.metrics["results"]}
    assert by_cell["lstm"]["learned"] and by_cell["lstm"]["accuracy"] >= 0.9
    assert not by_cell["rnn"]["learned"] and by_cell["rnn"]["accuracy"] < 0.6
    assert result.metrics["longest"] == {"rnn": 0, "lstm": 64}
