"""Character models: the vocabulary, bigram baselines worked by hand, the nets against torch's own
modules, the training loop on tiny corpora, and generation / classification / forecasting."""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from app.core import sequences as S
from app.core.corpora import LabeledCorpus, SeriesCorpus, TextCorpus
from app.core.errors import InputError

LIMITS = S.SequenceLimits(hidden_size=512, layers=3, embedding=128, seq_len=512, batch=512,
                          epochs=100, learning_rate=1.0, clip=100.0, vocab=512,
                          generate_length=2000, prompt_chars=1000, temperature=5.0,
                          text_chars=200)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny nets: threads cost more than they give
    yield
    torch.set_num_threads(threads)


def text_corpus(n: int = 400) -> TextCorpus:
    return TextCorpus("abcd", "abcd repeated", "abcd" * n, "abcd" * 50)


def labeled_corpus() -> LabeledCorpus:
    """Names whose class is their last letter ("a" or "o"), the rest random letters."""
    rng = np.random.default_rng(0)
    letters = list("bcdfgklmnprst")

    def names(ending: str, k: int) -> list[str]:
        return ["".join(rng.choice(letters, rng.integers(2, 6))) + ending for _ in range(k)]

    train = [(n, 0) for n in names("a", 40)] + [(n, 1) for n in names("o", 40)]
    val = [(n, 0) for n in names("a", 10)] + [(n, 1) for n in names("o", 10)]
    return LabeledCorpus("endings", "names by their ending", ("A", "O"), train, val)


def series_corpus() -> SeriesCorpus:
    t = np.arange(1200, dtype=np.float64)
    return SeriesCorpus("sine", "a sine wave", (3 * np.sin(t / 8) + 5).astype(np.float32), 1000)


def run(corpus, emit=None, should_stop=lambda: False, **settings) -> S.SequenceResult:
    config = S.SequenceTrainConfig(**settings)
    return S.train_sequence(corpus, config, emit or (lambda event: None), should_stop,
                            limits=LIMITS)


# ---------------------------------------------------------------------------------- vocabulary


def test_vocab_round_trip_and_unknown_characters():
    text = "hello wörld\nzebra"
    vocab = S.Vocab.of(text)
    assert vocab.chars == tuple(sorted(set(text)))
    assert vocab.index["h"] == vocab.chars.index("h")
    ids = vocab.encode(text)
    assert ids.dtype == np.int64 and ids.tolist() == [vocab.index[c] for c in text]
    assert vocab.decode(ids) == text
    assert vocab.decode(torch.from_numpy(ids)) == text
    assert vocab.unknown("héllo, wörld! é") == ["é", ",", "!"]
    assert vocab.unknown("hello") == []


def test_vocab_built_in_any_order_encodes_by_position():
    vocab = S.Vocab(("z", "a", "\u00e9"))
    assert vocab.encode("aéz").tolist() == [1, 2, 0]


def test_check_known_names_the_unknown_characters():
    vocab = S.Vocab.of("abc")
    S.check_known(vocab, "cab", "prompt")  # all known: no error
    with pytest.raises(InputError) as err:
        S.check_known(vocab, "abé!é", "prompt")
    assert err.value.field == "prompt"
    assert repr("\u00e9") in err.value.message and "'!'" in err.value.message
    with pytest.raises(InputError) as err:
        vocab.encode("abx")
    assert "'x'" in err.value.message


# ---------------------------------------------------------------------------- bigram baselines


def test_bigram_loss_worked_by_hand():
    # train "abab": pairs ab, ba, ab → n(a,b) = 2, n(a) = 2, n(b,a) = 1, n(b) = 1; V = 2, α = 1
    p_b_after_a = (2 + 1) / (2 + 1 * 2)  # 3/4
    p_a_after_b = (1 + 1) / (1 + 1 * 2)  # 2/3
    expected = -(math.log(p_b_after_a) + math.log(p_a_after_b)) / 2  # val "aba": ab, ba
    assert S.bigram_loss("abab", "aba", S.Vocab.of("ab")) == pytest.approx(expected, rel=1e-12)
    # a third character in the vocabulary widens the smoothing: V = 3
    expected = -(math.log(3 / 5) + math.log(2 / 4)) / 2
    assert S.bigram_loss("abab", "aba", S.Vocab.of("abc")) == pytest.approx(expected, rel=1e-12)
    # α = 0.5, V = 2
    expected = -(math.log(2.5 / 3) + math.log(1.5 / 2)) / 2
    assert S.bigram_loss("abab", "aba", S.Vocab.of("ab"), alpha=0.5) == pytest.approx(expected)


def test_bigram_classifier_worked_by_hand():
    # class 0: "ab", "a"  → "\nab\n", "\na\n": \n→a ×2, a→b, b→\n, a→\n; n(\n)=2, n(a)=2, n(b)=1
    # class 1: "b", "bb"  → "\nb\n", "\nbb\n": \n→b ×2, b→\n ×2, b→b; n(\n)=2, n(b)=3, n(a)=0
    # vocabulary {\n, a, b}: V = 3, α = 1; priors (2+1)/(4+2) = 1/2 each
    train = [("ab", 0), ("a", 0), ("b", 1), ("bb", 1)]
    val = [("ab", 0), ("b", 1), ("a", 1)]
    f = Fraction
    # "ab": class 0: P(a|\n) P(b|a) P(\n|b) = 3/5 · 2/5 · 2/4; class 1: 1/5 · 1/3 · 3/6
    ab0, ab1 = f(3, 5) * f(2, 5) * f(2, 4), f(1, 5) * f(1, 3) * f(3, 6)
    # "b": class 0: P(b|\n) P(\n|b) = 1/5 · 2/4; class 1: 3/5 · 3/6
    b0, b1 = f(1, 5) * f(2, 4), f(3, 5) * f(3, 6)
    # "a": class 0: P(a|\n) P(\n|a) = 3/5 · 2/5; class 1: 1/5 · 1/3 (predicted 0, true 1)
    a0, a1 = f(3, 5) * f(2, 5), f(1, 5) * f(1, 3)
    posteriors = [ab0 / (ab0 + ab1), b1 / (b0 + b1), a1 / (a0 + a1)]
    assert posteriors == [f(18, 23), f(3, 4), f(5, 23)]
    loss, accuracy = S.bigram_classifier_loss(train, val, ("zero", "one"))
    assert loss == pytest.approx(-sum(math.log(p) for p in posteriors) / 3, rel=1e-12)
    assert accuracy == pytest.approx(2 / 3)


def test_bigram_classifier_prior_counts():
    # the same names, one more of class 0: the prior tips an otherwise even name
    train = [("ab", 0), ("ab", 0), ("ab", 0), ("ab", 1)]
    loss, accuracy = S.bigram_classifier_loss(train, [("ab", 1)], ("x", "y"))
    # likelihoods differ too (counts 3 vs 1); check against numpy on the definition
    v = 3  # \n a b
    like0 = (3 + 1) / (3 + v) * (3 + 1) / (3 + v) * (3 + 1) / (3 + v)
    like1 = (1 + 1) / (1 + v) * (1 + 1) / (1 + v) * (1 + 1) / (1 + v)
    prior0, prior1 = (3 + 1) / (4 + 2), (1 + 1) / (4 + 2)
    post1 = like1 * prior1 / (like0 * prior0 + like1 * prior1)
    assert loss == pytest.approx(-math.log(post1))
    assert accuracy == 0.0


# -------------------------------------------------------------------------------------- nets


@pytest.mark.parametrize("cell", S.CELLS)
@pytest.mark.parametrize("task", S.TASKS)
def test_char_model_shapes(task, cell):
    config = S.CharModelConfig(task, cell, hidden_size=12, layers=2, vocab_size=7,
                               embedding=5 if task == "generate" else 0,
                               classes=3 if task == "classify" else 0, dropout=0.1)
    S.check_model_config(config, limits=LIMITS)
    model = S.build(config).eval()
    x = torch.randn(4, 9, 1) if task == "forecast" else torch.randint(0, 7, (4, 9))
    out, state = model(x)
    assert out.shape == (4, 9, {"generate": 7, "classify": 3, "forecast": 1}[task])
    h = state[0] if cell == "lstm" else state
    assert h.shape == (2, 4, 12)
    hidden = model.hidden_states(x)
    assert hidden.shape == (4, 9, 12)
    # the top layer's h over time is what the torch module gives, and the head reads it
    inputs = x if task == "forecast" else (model.embed(x) if model.embed is not None
                                           else F.one_hot(x, 7).float())
    reference, _ = model.rnn(inputs)
    torch.testing.assert_close(hidden, reference)
    torch.testing.assert_close(out, model.head(reference))
    assert torch.equal(hidden[:, -1], h[-1])


@pytest.mark.parametrize("cell", S.CELLS)
@pytest.mark.parametrize("embedding", [0, 6])
def test_stepper_matches_the_whole_sequence(cell, embedding):
    torch.manual_seed(1)
    config = S.CharModelConfig("generate", cell, hidden_size=10, layers=3, vocab_size=8,
                               embedding=embedding)
    model = S.build(config).eval()
    x = torch.randint(0, 8, (2, 7))
    with torch.no_grad():
        reference, _ = model(x[:, :3])  # the first 3 through the module, the rest stepped
        whole, _ = model(x)
        _, state = model(x[:, :3])
        step = S.Stepper(model)
        state = step.split(state, 2)
        outs = []
        for t in range(3, 7):
            out, state = step(step.inputs(x[:, t]), state)
            outs.append(out)
    torch.testing.assert_close(torch.stack(outs, dim=1), whole[:, 3:], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(reference, whole[:, :3])


def test_check_model_config_fields():
    good = S.CharModelConfig("classify", "gru", hidden_size=8, vocab_size=5, classes=2)
    S.check_model_config(good, limits=LIMITS)
    for changes, field in [({"task": "translate"}, "task"), ({"cell": "transformer"}, "cell"),
                           ({"hidden_size": 0}, "hidden_size"), ({"hidden_size": 513},
                                                                 "hidden_size"),
                           ({"layers": 4}, "layers"), ({"vocab_size": 0}, "vocab_size"),
                           ({"embedding": 129}, "embedding"), ({"classes": 1}, "classes"),
                           ({"dropout": 1.0}, "dropout"), ({"dropout": math.nan}, "dropout")]:
        with pytest.raises(InputError) as err:
            S.check_model_config(dataclasses.replace(good, **changes), limits=LIMITS)
        assert err.value.field == field
    # a forecaster needs no vocabulary
    S.check_model_config(S.CharModelConfig("forecast", "lstm", 4), limits=LIMITS)


def test_encode_corpus_and_windows():
    corpus = TextCorpus("t", "t", "hello world", "low")
    vocab, train, val = S.encode_corpus(corpus)
    assert vocab.chars == tuple(sorted(set("hello worldlow")))
    assert vocab.decode(train) == "hello world" and vocab.decode(val) == "low"
    x, y = S.windows(train, torch.tensor([0, 6]), 4)
    assert [vocab.decode(r) for r in x] == ["hell", "worl"]
    assert [vocab.decode(r) for r in y] == ["ello", "orld"]
    series = torch.arange(10, dtype=torch.float32)
    x, y = S.windows(series, torch.tensor([2]), 3)
    assert x.shape == y.shape == (1, 3, 1)
    assert x[0, :, 0].tolist() == [2, 3, 4] and y[0, :, 0].tolist() == [3, 4, 5]


# --------------------------------------------------------------------------------- training

COMMON = {"step", "epoch"}
EVENT_KEYS = {
    "start": {"task", "cell", "params", "train_size", "val_size", "baseline"},
    "progress": {"epoch", "step", "batches", "loss", "chars_per_s", "seconds_left"},
    "epoch": {"epoch", "train_loss", "val_loss"},
}
SNAPSHOT_KEYS = {"generate": {"samples", "heatmap"}, "classify": {"val_accuracy", "examples"},
                 "forecast": {"forecast"}}
BASELINES = {"generate": {"bigram_val_loss"}, "classify": {"bigram_val_loss", "bigram_accuracy"},
             "forecast": {"persistence_mse"}}


def check_events(events: list[dict], task: str) -> None:
    types = [e["type"] for e in events]
    assert types[:2] == ["start", "snapshot"] and types[-2:] == ["snapshot", "done"]
    assert "epoch" in types and "progress" in types
    assert set(types) <= {"start", "snapshot", "progress", "epoch", "done"}
    # an epoch ends with a progress point, then its epoch event
    for i, kind in enumerate(types):
        if kind == "epoch":
            assert types[i - 1] == "progress"
    for e in events:
        if e["type"] in EVENT_KEYS:
            assert EVENT_KEYS[e["type"]] <= e.keys(), e["type"]
        if e["type"] == "snapshot":
            assert {"step", "val_loss"} | SNAPSHOT_KEYS[task] <= e.keys()
    start = events[0]
    assert set(start["baseline"]) == BASELINES[task]
    assert ("classes" in start) == (task == "classify")
    assert ("vocab" in start) == (task != "forecast")
    steps = [e["step"] for e in events if e["type"] == "progress"]
    assert steps == sorted(steps) and steps[-1] == events[-1]["metrics"]["steps"]
    metrics = events[-1]["metrics"]
    assert {"train_loss", "val_loss", "epochs", "steps", "seconds"} | BASELINES[task] <= set(
        metrics)
    assert ("val_accuracy" in metrics) == (task == "classify")
    if task == "classify":
        assert "val_accuracy" in [e for e in events if e["type"] == "epoch"][-1]


def test_train_generate_learns_a_repeating_text():
    events: list[dict] = []
    result = run(text_corpus(), events.append, hidden_size=32, seq_len=16, batch_size=16,
                 learning_rate=1e-2, epochs=2, batches_per_epoch=40, snapshot_every=0.05,
                 sample_length=12, probe_chars=10)
    check_events(events, "generate")
    assert result.reason == "completed" and result.vocab == S.Vocab.of("abcd")
    start = events[0]
    assert start["vocab"] == ["a", "b", "c", "d"]
    assert start["params"] == sum(p.numel() for p in result.model.parameters())
    assert start["baseline"]["bigram_val_loss"] == pytest.approx(
        S.bigram_loss("abcd" * 400, "abcd" * 50, result.vocab))
    first, last = events[1], [e for e in events if e["type"] == "snapshot"][-1]
    assert first["val_loss"] == pytest.approx(math.log(4), abs=0.15)  # untrained: about uniform
    assert last["val_loss"] < math.log(4) / 2
    assert result.metrics["val_loss"] < math.log(4) / 2
    assert len(last["samples"]) == 3 and all(len(s) == 12 for s in last["samples"])
    assert "abcdabcd" in "".join(last["samples"])  # it learnt the cycle
    heat = last["heatmap"]
    assert heat["text"] == "abcdabcdab"
    assert np.array(heat["values"]).shape == (32, 10)
    assert result.metrics["steps"] == 80 and result.metrics["epochs"] == 2
    assert result.model_config.vocab_size == 4 and not result.model.training


def test_train_classify_reads_the_last_letter():
    events: list[dict] = []
    result = run(labeled_corpus(), events.append, task="classify", cell="gru", hidden_size=24,
                 batch_size=16, learning_rate=2e-2, epochs=12, snapshot_every=0.05)
    check_events(events, "classify")
    assert events[0]["classes"] == ["A", "O"] and result.classes == ("A", "O")
    assert result.metrics["val_accuracy"] >= 0.9
    assert result.metrics["val_loss"] < 0.5
    example = [e for e in events if e["type"] == "snapshot"][-1]["examples"][0]
    assert set(example) == {"text", "predicted", "true", "p"}
    assert example["true"] in ("A", "O") and 0 <= example["p"] <= 1


def test_train_forecast_a_sine():
    events: list[dict] = []
    corpus = series_corpus()
    result = run(corpus, events.append, task="forecast", cell="lstm", hidden_size=24,
                 seq_len=24, batch_size=16, learning_rate=1e-2, epochs=3, batches_per_epoch=40,
                 snapshot_every=0.05)
    check_events(events, "forecast")
    train = corpus.values[:1000].astype(np.float64)
    assert result.normalization == pytest.approx((train.mean(), train.std()))
    z = (corpus.values.astype(np.float64) - train.mean()) / train.std()
    # persistence over the validation targets (from the last training value on); the
    # non-overlapping windows of 24 leave out the 200 % 24 = 8 last ones
    targets = z[999:999 + 192 + 1]
    assert events[0]["baseline"]["persistence_mse"] == pytest.approx(
        np.mean(np.diff(targets) ** 2), rel=1e-4)
    first = events[1]["val_loss"]
    assert result.metrics["val_loss"] < first / 10
    shown = [e for e in events if e["type"] == "snapshot"][-1]["forecast"]
    assert shown["start"] == 1000
    assert shown["truth"] == pytest.approx(corpus.values[1000:1100].tolist())
    assert len(shown["teacher_forced"]) == len(shown["free_running"]) == 100
    err = np.abs(np.array(shown["teacher_forced"]) - np.array(shown["truth"])).mean()
    assert err < 0.3  # in the series' units (amplitude 3)


def test_should_stop_stops_promptly():
    calls = []

    def should_stop() -> bool:
        calls.append(1)
        return len(calls) >= 3

    events: list[dict] = []
    result = run(text_corpus(), events.append, should_stop, hidden_size=8, seq_len=8,
                 batch_size=4, epochs=5, max_batches=100)
    assert result.reason == "stopped" and result.metrics["steps"] == 3
    assert events[-1] == {"type": "done", "reason": "stopped", "metrics": result.metrics}
    assert sum(e["type"] == "epoch" for e in events) == 1  # the partial epoch is reported


def test_time_limit_is_honoured():
    result = run(text_corpus(), hidden_size=8, seq_len=8, batch_size=4, epochs=100,
                 batches_per_epoch=10_000, max_seconds=0.2)
    assert result.reason == "time limit"
    assert 0.2 <= result.metrics["seconds"] < 1.0


@pytest.mark.parametrize("task, corpus", [("classify", text_corpus), ("forecast", text_corpus),
                                          ("generate", labeled_corpus),
                                          ("generate", series_corpus)])
def test_task_must_match_the_dataset(task, corpus):
    with pytest.raises(InputError) as err:
        run(corpus(), task=task)
    assert err.value.field == "task"
    assert "takes the task" in err.value.message


def test_dataset_too_short_for_the_window():
    with pytest.raises(InputError) as err:
        run(TextCorpus("t", "t", "abcabc", "abc"), seq_len=6)
    assert err.value.field == "seq_len" and "6" in err.value.message


@pytest.mark.parametrize("changes, field", [
    ({"task": "poetry"}, "task"), ({"cell": "tcn"}, "cell"), ({"layers": 0}, "layers"),
    ({"layers": 4}, "layers"), ({"hidden_size": 0}, "hidden_size"),
    ({"hidden_size": 513}, "hidden_size"), ({"embedding": -1}, "embedding"),
    ({"embedding": 129}, "embedding"), ({"seq_len": 0}, "seq_len"), ({"seq_len": 513}, "seq_len"),
    ({"batch_size": 0}, "batch_size"), ({"batch_size": 513}, "batch_size"),
    ({"optimizer": "lbfgs"}, "optimizer"), ({"learning_rate": 0.0}, "learning_rate"),
    ({"learning_rate": 1.5}, "learning_rate"), ({"learning_rate": math.inf}, "learning_rate"),
    ({"clip": -1.0}, "clip"), ({"clip": 101.0}, "clip"), ({"clip": math.nan}, "clip"),
    ({"epochs": 0}, "epochs"), ({"epochs": 101}, "epochs"), ({"seed": -1}, "seed"),
    ({"seed": 2**31}, "seed"), ({"max_seconds": 0.0}, "max_seconds"),
    ({"progress_every": -1.0}, "progress_every"), ({"snapshot_every": math.inf},
                                                   "snapshot_every"),
    ({"max_batches": 0}, "max_batches"), ({"batches_per_epoch": 0}, "batches_per_epoch"),
    ({"sample_length": 0}, "sample_length"), ({"sample_length": 2001}, "sample_length"),
    ({"sample_temperature": 0.0}, "sample_temperature"),
    ({"sample_temperature": 5.5}, "sample_temperature"), ({"probe_chars": 0}, "probe_chars"),
])
def test_validate_names_the_field(changes, field):
    S.SequenceTrainConfig().validate(LIMITS)  # the defaults are fine
    with pytest.raises(InputError) as err:
        dataclasses.replace(S.SequenceTrainConfig(), **changes).validate(LIMITS)
    assert err.value.field == field
    assert field in err.value.message


# ------------------------------------------------------------------------- using a trained net

VOCAB = S.Vocab.of("\nabcdefgh")


@pytest.fixture(scope="module")
def lm() -> S.CharModel:
    torch.manual_seed(3)
    config = S.CharModelConfig("generate", "lstm", hidden_size=16, layers=2,
                               vocab_size=len(VOCAB), embedding=4)
    return S.build(config).eval()


def greedy(model: S.CharModel, prompt: str, length: int) -> str:
    """The argmax chain, one whole forward pass per character (no stepping, no state)."""
    text = prompt
    with torch.no_grad():
        for _ in range(length):
            logits, _ = model(torch.from_numpy(VOCAB.encode(text)).view(1, -1))
            text += VOCAB.chars[int(logits[0, -1].argmax())]
    return text[len(prompt):]


def test_generate_is_seeded(lm):
    a = S.generate(lm, VOCAB, "ab", length=30, seed=1, limits=LIMITS)
    b = S.generate(lm, VOCAB, "ab", length=30, seed=1, limits=LIMITS)
    assert a == b and len(a.text) == 30 and len(a.steps) == 30
    assert a.text == "".join(s.char for s in a.steps)
    others = {S.generate(lm, VOCAB, "ab", length=30, seed=s, limits=LIMITS).text
              for s in (2, 3, 4)}
    assert len(others | {a.text}) > 1


def test_generate_steps_list_the_top_choices(lm):
    gen = S.generate(lm, VOCAB, "", length=20, temperature=1.5, top_k=4, seed=5, top=6,
                     limits=LIMITS)
    for step in gen.steps:
        ps = [p for _, p, _ in step.top]
        assert len(step.top) == 6 and ps == sorted(ps, reverse=True)
        assert sum(ps) == pytest.approx(1.0, abs=1e-5)  # the 4 kept hold it all
        assert ps[4] == ps[5] == 0.0
        assert step.p > 0 and step.char in [c for c, p, _ in step.top if p > 0]
    full = S.generate(lm, VOCAB, "a", length=5, top=len(VOCAB), limits=LIMITS)
    for step in full.steps:
        assert sum(p for _, p, _ in step.top) == pytest.approx(1.0, abs=1e-5)
        assert {c: p for c, p, _ in step.top}[step.char] == pytest.approx(step.p)


def test_generate_p_raw_is_the_softmax_of_the_models_own_forward(lm):
    prompt = "cab"
    gen = S.generate(lm, VOCAB, prompt, length=15, temperature=0.7, top_k=3, seed=2,
                     limits=LIMITS)
    with torch.no_grad():
        logits, _ = lm(torch.from_numpy(VOCAB.encode(prompt + gen.text)).view(1, -1))
    raw = torch.softmax(logits[0, len(prompt) - 1:-1], dim=-1)  # (15, V): before each new char
    scaled = torch.softmax(logits[0, len(prompt) - 1:-1] / 0.7, dim=-1)
    for t, step in enumerate(gen.steps):
        for c, _, p_raw in step.top:
            assert p_raw == pytest.approx(float(raw[t, VOCAB.index[c]]), abs=1e-5)
        kept = torch.topk(scaled[t], 3).indices.tolist()
        renormalised = scaled[t, kept] / scaled[t, kept].sum()
        assert [p for _, p, _ in step.top[:3]] == pytest.approx(renormalised.tolist(), abs=1e-5)
        assert step.p_raw == pytest.approx(float(raw[t, VOCAB.index[step.char]]), abs=1e-5)


def test_generate_cold_and_top_1_are_greedy(lm):
    expected = greedy(lm, "he", 25)
    assert S.generate(lm, VOCAB, "he", length=25, top_k=1, seed=9, limits=LIMITS).text == expected
    # a net with its logits spread wide: at temperature 0.05 the runner-up has no chance
    sharp = S.build(lm.config).eval()
    sharp.load_state_dict(lm.state_dict())
    with torch.no_grad():
        sharp.head.weight.mul_(20)
        sharp.head.bias.mul_(20)
    expected = greedy(sharp, "he", 25)
    for seed in range(3):
        text = S.generate(sharp, VOCAB, "he", length=25, temperature=0.05, seed=seed,
                          limits=LIMITS).text
        assert text == expected


def test_generate_empty_prompt_starts_from_a_line_break(lm):
    a = S.generate(lm, VOCAB, "", length=10, seed=4, limits=LIMITS)
    assert a == S.generate(lm, VOCAB, "\n", length=10, seed=4, limits=LIMITS)
    no_newline = S.Vocab.of("abc")
    model = S.build(S.CharModelConfig("generate", "rnn", 4, vocab_size=3)).eval()
    with pytest.raises(InputError) as err:
        S.generate(model, no_newline, "", length=5, limits=LIMITS)
    assert err.value.field == "prompt" and "needs a prompt" in err.value.message


@pytest.mark.parametrize("kwargs, field, says", [
    ({"prompt": "abz"}, "prompt", "'z'"), ({"prompt": "a" * 1001}, "prompt", "1000"),
    ({"temperature": 0.0}, "temperature", "5"), ({"temperature": 6.0}, "temperature", "5"),
    ({"temperature": math.nan}, "temperature", "5"), ({"length": 0}, "length", "2000"),
    ({"length": 2001}, "length", "2000"), ({"top_k": LIMITS.vocab + 1}, "top_k", str(LIMITS.vocab)),
    ({"top_k": -1}, "top_k", str(LIMITS.vocab)), ({"seed": -1}, "seed", "0"),
])
def test_generate_refuses_bad_input(lm, kwargs, field, says):
    args = {"prompt": "ab", "length": 5} | kwargs
    with pytest.raises(InputError) as err:
        S.generate(lm, VOCAB, args.pop("prompt"), limits=LIMITS, **args)
    assert err.value.field == field and says in err.value.message


def test_classify_after_each_prefix():
    torch.manual_seed(0)
    vocab = S.Vocab.of("abcdefgh")
    model = S.build(S.CharModelConfig("classify", "gru", 8, 2, vocab_size=len(vocab),
                                      classes=3)).eval()
    result = S.classify(model, vocab, ("x", "y", "z"), "badge", limits=LIMITS)
    assert [p for p, _ in result.prefixes] == ["b", "ba", "bad", "badg", "badge"]
    assert result.prefixes[-1][1] == result.probs
    for _, probs in result.prefixes:
        assert len(probs) == 3 and sum(probs) == pytest.approx(1.0)
    with torch.no_grad():
        logits, _ = model(torch.from_numpy(vocab.encode("bad")).view(1, -1))
    assert result.prefixes[2][1] == pytest.approx(torch.softmax(logits[0, -1], -1).tolist(),
                                                  abs=1e-6)
    for text, field in [("", "text"), ("a" * 201, "text"), ("abz", "text")]:
        with pytest.raises(InputError) as err:
            S.classify(model, vocab, ("x", "y", "z"), text, limits=LIMITS)
        assert err.value.field == field


@pytest.mark.parametrize("cell", S.CELLS)
def test_forecast_teacher_forced_and_free_running(cell):
    torch.manual_seed(0)
    model = S.build(S.CharModelConfig("forecast", cell, 6, 2)).eval()
    values = np.sin(np.arange(50) / 3) * 2 + 1
    mean, std = 1.0, 2.0
    result = S.forecast(model, values, (mean, std), start=40, horizon=15, limits=LIMITS,
                        context=20)
    assert result.start == 40 and result.truth == values[40:].tolist()
    assert len(result.teacher_forced) == 10 and len(result.free_running) == 15
    z = torch.tensor((values[20:49] - mean) / std, dtype=torch.float32).view(1, -1, 1)
    with torch.no_grad():
        pred, _ = model(z)  # the output at t predicts t + 1
    expected = pred[0, 19:, 0].double() * std + mean  # predictions of values[40:50]
    assert result.teacher_forced == pytest.approx(expected.tolist(), abs=1e-5)
    assert result.free_running[0] == pytest.approx(result.teacher_forced[0], abs=1e-6)
    # free running by hand: the whole sequence so far, fed back through the module
    seq = z[:, :20]
    with torch.no_grad():
        for _ in range(4):
            out, _ = model(seq)
            seq = torch.cat([seq, out[:, -1:]], dim=1)
    by_hand = (seq[0, 20:, 0].double() * std + mean).tolist()
    assert result.free_running[:4] == pytest.approx(by_hand, abs=1e-5)
    with pytest.raises(InputError) as err:
        S.forecast(model, values, (mean, std), start=0, horizon=5, limits=LIMITS)
    assert err.value.field == "start"
    with pytest.raises(InputError) as err:
        S.forecast(model, values, (mean, std), start=5, horizon=2001, limits=LIMITS)
    assert err.value.field == "horizon"


def test_hidden_heatmap(lm):
    heat = S.hidden_heatmap(lm, VOCAB, "badcafe", max_units=10)
    assert heat.shape == (10, 7)
    with torch.no_grad():
        h = lm.hidden_states(torch.from_numpy(VOCAB.encode("badcafe")).view(1, -1))
    np.testing.assert_allclose(heat, h[0, :, :10].T.numpy())
    assert S.hidden_heatmap(lm, VOCAB, "ab").shape == (16, 2)  # fewer units than asked


def test_vocab_is_its_characters():
    vocab = S.Vocab.of("cab")
    vocab.encode("abc")  # fills its caches
    assert dataclasses.asdict(vocab) == {"chars": ("a", "b", "c")}
    assert vocab == S.Vocab(("a", "b", "c")) and hash(vocab) == hash(S.Vocab(("a", "b", "c")))
    with pytest.raises(ValueError):
        S.Vocab(("a", "a"))
