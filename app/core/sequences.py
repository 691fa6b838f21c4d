"""Character models for the sequence lab: a vocabulary, bigram baselines to beat, recurrent nets
(RNN, LSTM, GRU) over characters or numbers, the live training loop, and what the lab does with a
trained net (generate text with the top choices of every step, classify a name after each prefix,
forecast a series, show the hidden units over a text).

Three tasks share one net shape (inputs → recurrent layers → a linear head at every position):
- "generate": a character language model; logits over the vocabulary for the next character;
- "classify": a name → its language; logits over the classes after each prefix, trained on the
  class read at the name's last character;
- "forecast": the next value of a series, on the series standardised by the training part.

Training reports through `emit(event)` (plain dicts, see `train_sequence`); `should_stop()` is
called between batches. The config travels with the weights: `CharModelConfig` is all `build`
needs.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from app.core.corpora import Corpus, LabeledCorpus, SeriesCorpus, TextCorpus
from app.core.errors import InputError
from app.core.training import RunClock, TrainingDiverged, check_optimizer

Emit = Callable[[dict], None]
ShouldStop = Callable[[], bool]
State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]

TASKS = ("generate", "classify", "forecast")  # a char LM; a name → its language; a series' next
CELLS = ("rnn", "lstm", "gru")
_CORPUS_KIND = {"generate": TextCorpus, "classify": LabeledCorpus, "forecast": SeriesCorpus}
_TASK_OF_KIND = {TextCorpus: "generate", LabeledCorpus: "classify", SeriesCorpus: "forecast"}

# Costs, not user-facing limits: they keep the live extras small beside the training itself.
_EPOCH_BATCHES = 1000  # a default epoch of a large text stops here
_EVAL_UNITS = 20_000  # characters / values / names in an epoch's validation figures
_SNAPSHOT_UNITS = 2_048  # characters / values in a snapshot's validation loss (~5 ms, default)
_SNAPSHOT_NAMES = 256  # ~15 ms for a GRU of 128
_EVAL_ROWS = 256  # windows in one validation forward pass
_SAMPLES = 3
_EXAMPLES = 6
_FORECAST_POINTS = 100  # values a snapshot forecasts
_HEATMAP_UNITS = 64
_MAX_SEED = 2**31 - 1


@dataclass(frozen=True)
class SequenceLimits:
    """Bounds on the sequence lab's settings (the values live in app.settings)."""

    hidden_size: int
    layers: int
    embedding: int
    seq_len: int  # training window
    batch: int
    epochs: int
    learning_rate: float
    clip: float
    vocab: int  # distinct characters (and classes) a model may have
    generate_length: int  # characters generated (and values forecast) in one request
    prompt_chars: int
    temperature: float  # temperatures in (0, temperature]
    text_chars: int  # a text to classify


# ---------------------------------------------------------------------------------- vocabulary


@dataclass(frozen=True)
class Vocab:
    """The characters a model knows; a character's id is its position in `chars`."""

    chars: tuple[str, ...]

    def __post_init__(self) -> None:
        chars = tuple(self.chars)
        if any(len(c) != 1 for c in chars) or len(set(chars)) != len(chars):
            raise ValueError("a vocabulary is distinct single characters")
        object.__setattr__(self, "chars", chars)

    @cached_property
    def index(self) -> dict[str, int]:
        """character → id"""
        return {c: i for i, c in enumerate(self.chars)}

    @cached_property
    def _lookup(self) -> tuple[np.ndarray, np.ndarray]:
        """The code points in sorted order and their ids (encode searches them)."""
        codes = np.array([ord(c) for c in self.chars], dtype=np.int64)
        order = np.argsort(codes)
        return codes[order], order.astype(np.int64)

    @classmethod
    def of(cls, text: str) -> Vocab:
        return cls(tuple(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """text → (len(text),) int64 ids, vectorised (a text of megabytes takes milliseconds)."""
        if not text:
            return np.zeros(0, dtype=np.int64)
        points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
        points = points.astype(np.int64)
        codes, ids = self._lookup
        pos = np.minimum(np.searchsorted(codes, points), max(len(codes) - 1, 0))
        if len(codes) == 0 or not np.array_equal(codes[pos], points):
            check_known(self, text, "text")
        return ids[pos]

    def decode(self, ids: Sequence[int] | np.ndarray | torch.Tensor) -> str:
        if isinstance(ids, torch.Tensor | np.ndarray):
            ids = ids.tolist()
        return "".join([self.chars[i] for i in ids])

    def unknown(self, text: str) -> list[str]:
        """The characters of `text` outside the vocabulary, each once, in order of appearance."""
        return [c for c in dict.fromkeys(text) if c not in self.index]


def check_known(vocab: Vocab, text: str, field: str) -> None:
    """InputError naming the characters of `text` the vocabulary lacks (under `field`)."""
    unknown = vocab.unknown(text)
    if not unknown:
        return
    shown = ", ".join(repr(c) for c in unknown[:10])
    if len(unknown) > 10:
        shown += f" and {len(unknown) - 10} more"
    known = "".join(vocab.chars)
    known = repr(known if len(known) <= 120 else known[:120] + "…")
    raise InputError(f"{field} has characters this model does not know: {shown}; it knows "
                     f"these {len(vocab)}: {known}", field)


# ---------------------------------------------------------------------------- bigram baselines


def _bigram_log_probs(ids: np.ndarray, v: int, alpha: float) -> np.ndarray:
    """(V, V) log P(b | a) = log (n(a, b) + α) / (n(a) + α·V) from the consecutive pairs of ids."""
    counts = np.bincount(ids[:-1] * v + ids[1:], minlength=v * v).reshape(v, v).astype(np.float64)
    return np.log(counts + alpha) - np.log(counts.sum(axis=1, keepdims=True) + alpha * v)


def bigram_loss(train: str, val: str, vocab: Vocab, alpha: float = 1.0) -> float:
    """Mean nats of predicting val[i + 1] from val[i] with add-α bigram counts from `train`."""
    if len(val) < 2:
        return math.nan
    v = len(vocab)
    log_p = _bigram_log_probs(vocab.encode(train), v, alpha)
    ids = vocab.encode(val)
    return float(-log_p[ids[:-1], ids[1:]].mean())


def bigram_classifier_loss(train: list[tuple[str, int]], val: list[tuple[str, int]],
                           classes: Sequence[str], alpha: float = 1.0) -> tuple[float, float]:
    """(mean −log posterior of the true class, accuracy) on `val` of naive Bayes over names: per
    class an add-α bigram model of "\\n" + name + "\\n" and the class prior (add-α too, so a class
    without training names keeps a chance). The vocabulary: every name's characters and "\\n"."""
    if not val:
        return math.nan, math.nan
    k = len(classes)
    vocab = Vocab.of("\n" + "".join(t for t, _ in train) + "".join(t for t, _ in val))
    v = len(vocab)

    def pairs(names: list[tuple[str, int]]) -> tuple[np.ndarray, np.ndarray]:
        """Every name's pairs of "\n" + name + "\n" at once: "\n" + "\n".join(names) + "\n"
        holds exactly those; a name of n characters owns n + 1 of them, in order."""
        ids = vocab.encode("\n" + "\n".join(t for t, _ in names) + "\n")
        owner = np.repeat(np.arange(len(names)), [len(t) + 1 for t, _ in names])
        return ids[:-1] * v + ids[1:], owner

    pair, owner = pairs(train)
    train_y = np.array([y for _, y in train], dtype=np.int64)
    counts = np.bincount(train_y[owner] * v * v + pair, minlength=k * v * v)
    counts = counts.reshape(k, v, v).astype(np.float64)
    log_p = np.log(counts + alpha) - np.log(counts.sum(axis=2, keepdims=True) + alpha * v)
    log_p = log_p.reshape(k, v * v)
    n_class = np.bincount(train_y, minlength=k).astype(np.float64)
    log_prior = np.log(n_class + alpha) - np.log(n_class.sum() + alpha * k)
    pair, owner = pairs(val)
    scores = np.stack([np.bincount(owner, weights=log_p[c, pair], minlength=len(val))
                       for c in range(k)], axis=1) + log_prior  # (N, K)
    log_post = scores - np.logaddexp.reduce(scores, axis=1, keepdims=True)
    truth = np.array([y for _, y in val])
    loss = float(-log_post[np.arange(len(val)), truth].mean())
    accuracy = float((scores.argmax(axis=1) == truth).mean())
    return loss, accuracy


# -------------------------------------------------------------------------------------- nets


@dataclass(frozen=True)
class CharModelConfig:
    task: str  # "generate" | "classify" | "forecast"
    cell: str  # "rnn" | "lstm" | "gru"
    hidden_size: int
    layers: int = 1
    vocab_size: int = 0  # generate, classify
    embedding: int = 0  # 0: one-hot inputs
    classes: int = 0  # classify
    dropout: float = 0.0  # between layers

    @property
    def input_size(self) -> int:
        if self.task == "forecast":
            return 1
        return self.embedding or self.vocab_size

    @property
    def output_size(self) -> int:
        return {"generate": self.vocab_size, "classify": self.classes, "forecast": 1}[self.task]


def check_model_config(config: CharModelConfig, *, limits: SequenceLimits) -> None:
    """InputError for the first setting outside its range."""
    if config.task not in TASKS:
        raise InputError(f"task must be one of {', '.join(TASKS)}, got {config.task!r}", "task")
    if config.cell not in CELLS:
        raise InputError(f"cell must be one of {', '.join(CELLS)}, got {config.cell!r}", "cell")
    if not 1 <= config.hidden_size <= limits.hidden_size:
        raise InputError(f"hidden_size must be 1 to {limits.hidden_size}, got "
                         f"{config.hidden_size}", "hidden_size")
    if not 1 <= config.layers <= limits.layers:
        raise InputError(f"layers must be 1 to {limits.layers}, got {config.layers}", "layers")
    if config.task != "forecast" and not 1 <= config.vocab_size <= limits.vocab:
        raise InputError(f"vocab_size must be 1 to {limits.vocab} characters, got "
                         f"{config.vocab_size}", "vocab_size")
    if not 0 <= config.embedding <= limits.embedding:
        raise InputError(f"embedding must be 0 (one-hot inputs) to {limits.embedding}, got "
                         f"{config.embedding}", "embedding")
    if config.task == "classify" and not 2 <= config.classes <= limits.vocab:
        raise InputError(f"classes must be 2 to {limits.vocab}, got {config.classes}", "classes")
    if not (math.isfinite(config.dropout) and 0 <= config.dropout < 1):
        raise InputError(f"dropout must be from 0 to below 1, got {config.dropout}", "dropout")


class CharModel(nn.Module):
    """Embedding (or one-hot) → nn.RNN / nn.LSTM / nn.GRU (batch first) → Linear at every step."""

    def __init__(self, config: CharModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = (nn.Embedding(config.vocab_size, config.embedding)
                      if config.task != "forecast" and config.embedding else None)
        cell = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[config.cell]
        self.rnn = cell(config.input_size, config.hidden_size, num_layers=config.layers,
                        batch_first=True, dropout=config.dropout if config.layers > 1 else 0.0)
        self.head = nn.Linear(config.hidden_size, config.output_size)

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.task == "forecast":
            return x  # (B, T, 1) floats
        if self.embed is not None:
            return self.embed(x)  # (B, T, E)
        return F.one_hot(x, self.config.vocab_size).to(self.head.weight.dtype)  # (B, T, V)

    def forward(self, x: torch.Tensor, state: State | None = None
                ) -> tuple[torch.Tensor, State]:
        """generate: ids (B, T) → logits (B, T, V); classify: ids (B, T) → logits (B, T, C), the
        class read after each prefix; forecast: values (B, T, 1) → next values (B, T, 1)."""
        h, state = self.rnn(self.inputs(x), state)  # (B, T, H)
        return self.head(h), state

    def hidden_states(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, H): the top layer's h at every step."""
        h, _ = self.rnn(self.inputs(x))  # (B, T, H)
        return h


class Stepper:
    """The net one step at a time through torch's fused cell functions (torch.lstm_cell and
    kin) on the model's own weights: at T = 1 an nn.LSTM call costs several times as much
    (measured ~7× for 2 layers of 256 on CPU). For eval mode (no dropout), under no_grad or
    inference_mode. State: one entry per layer, h (N, H) or (h, c) for an LSTM."""

    def __init__(self, model: CharModel) -> None:
        self.model = model
        config = model.config
        self.lstm = config.cell == "lstm"
        self.cell = {"rnn": torch.rnn_tanh_cell, "lstm": torch.lstm_cell,
                     "gru": torch.gru_cell}[config.cell]
        rnn = model.rnn
        self.weights = [tuple(getattr(rnn, f"{name}_l{k}") for name in
                              ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
                        for k in range(config.layers)]
        self.one_hot = (torch.eye(config.vocab_size, dtype=model.head.weight.dtype)
                        if config.task != "forecast" and model.embed is None else None)

    def inputs(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (N,) → the first layer's inputs (N, I)."""
        if self.one_hot is not None:
            return self.one_hot[ids]  # (N, V)
        return self.model.embed(ids)  # (N, E)

    def split(self, state: State | None, n: int) -> list:
        """nn.RNN-style state (layers, N, H) (a pair for an LSTM) → one entry per layer."""
        if state is None:
            h = self.model.head.weight.new_zeros(n, self.model.config.hidden_size)
            return [(h, h) if self.lstm else h for _ in self.weights]
        if self.lstm:
            return list(zip(state[0].unbind(0), state[1].unbind(0), strict=True))
        return list(state.unbind(0))

    def __call__(self, x: torch.Tensor, state: list) -> tuple[torch.Tensor, list]:
        """x (N, I) inputs → (N, O) outputs, state for the next step."""
        new = []
        for w, s in zip(self.weights, state, strict=True):
            s = self.cell(x, s, *w)  # (N, H), or (h, c) each (N, H)
            new.append(s)
            x = s[0] if self.lstm else s
        return self.model.head(x), new  # (N, O)


def build(config: CharModelConfig) -> CharModel:
    return CharModel(config)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@contextmanager
def _evaluating(model: nn.Module) -> Iterator[None]:
    """eval() and inference_mode() for a while, then the model's mode as it was."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        model.train(was_training)


# ------------------------------------------------------------------------------ data as tensors


def encode_corpus(corpus: TextCorpus) -> tuple[Vocab, torch.Tensor, torch.Tensor]:
    """(vocabulary of train + val, train ids (N,) int64, val ids (M,) int64), encoded once."""
    if not isinstance(corpus, TextCorpus):
        raise InputError("encode_corpus takes a text dataset", "dataset")
    vocab = Vocab.of(corpus.train + corpus.val)
    return (vocab, torch.from_numpy(vocab.encode(corpus.train)),
            torch.from_numpy(vocab.encode(corpus.val)))


def windows(encoded: torch.Tensor, starts: torch.Tensor, seq_len: int
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Training windows by tensor indexing: x = encoded[s : s + T], y = encoded[s + 1 : s + T + 1]
    for each start s. Ids give (B, T) each; a float series gives (B, T, 1) each."""
    idx = starts[:, None] + torch.arange(seq_len + 1)  # (B, T + 1)
    chunk = encoded[idx]  # (B, T + 1)
    x, y = chunk[:, :-1], chunk[:, 1:]  # (B, T)
    if encoded.is_floating_point():
        return x.unsqueeze(-1), y.unsqueeze(-1)  # (B, T, 1)
    return x, y


def _rows(seq: torch.Tensor, seq_len: int, limit: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-overlapping windows over seq[:limit + 1] (the validation figures): x, y (R, T)."""
    seq = seq[:limit + 1]
    n = len(seq) - 1
    t = min(seq_len, n)
    r = n // t
    return seq[:r * t].view(r, t), seq[1:r * t + 1].view(r, t)


# --------------------------------------------------------------------------------- training


@dataclass(frozen=True)
class SequenceTrainConfig:
    task: str = "generate"
    cell: str = "lstm"
    layers: int = 1
    hidden_size: int = 128
    embedding: int = 0  # 0: one-hot inputs
    seq_len: int = 64  # characters (values) in a training window; classify reads whole names
    batch_size: int = 32
    optimizer: str = "adam"
    learning_rate: float = 3e-3
    clip: float = 1.0  # gradient norm clipping; 0: none
    epochs: int = 1
    seed: int = 0
    max_seconds: float = 1800.0  # wall-clock limit of one run, pauses excluded
    progress_every: float = 0.25  # seconds between "progress" events
    snapshot_every: float = 1.0  # seconds between "snapshot" events
    max_batches: int | None = None  # per epoch; tests, dry runs
    batches_per_epoch: int | None = None  # default: one pass over the training part (≤ 1,000)
    sample_length: int = 60  # characters of each snapshot sample
    sample_temperature: float = 0.8
    probe_chars: int = 80  # validation characters the heatmap shows

    def validate(self, limits: SequenceLimits) -> None:
        if self.task not in TASKS:
            raise InputError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}", "task")
        if self.cell not in CELLS:
            raise InputError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}", "cell")
        _int_range(self.layers, 1, limits.layers, "layers")
        _int_range(self.hidden_size, 1, limits.hidden_size, "hidden_size")
        if not 0 <= self.embedding <= limits.embedding:
            raise InputError(f"embedding must be 0 (one-hot inputs) to {limits.embedding}, got "
                             f"{self.embedding}", "embedding")
        _int_range(self.seq_len, 1, limits.seq_len, "seq_len")
        _int_range(self.batch_size, 1, limits.batch, "batch_size")
        check_optimizer(self.optimizer, self.learning_rate, limits.learning_rate,
                        "0.003 for Adam, 0.1-1 for SGD")
        if not (math.isfinite(self.clip) and 0 <= self.clip <= limits.clip):
            raise InputError(f"clip must be 0 (no clipping) to {limits.clip:g}, got {self.clip}",
                             "clip")
        _int_range(self.epochs, 1, limits.epochs, "epochs")
        _int_range(self.seed, 0, _MAX_SEED, "seed")
        for name in ("max_seconds", "progress_every", "snapshot_every"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InputError(f"{name} must be a number of seconds above 0, got {value}", name)
        for name in ("max_batches", "batches_per_epoch"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InputError(f"{name} must be 1 or more (or unset), got {value}", name)
        _int_range(self.sample_length, 1, limits.generate_length, "sample_length")
        _check_temperature(self.sample_temperature, limits, "sample_temperature")
        _int_range(self.probe_chars, 1, limits.prompt_chars, "probe_chars")


def _int_range(value: int, low: int, high: int, name: str) -> None:
    if not low <= value <= high:
        raise InputError(f"{name} must be {low} to {high}, got {value}", name)


def _check_temperature(value: float, limits: SequenceLimits, name: str) -> None:
    if not (math.isfinite(value) and 0 < value <= limits.temperature):
        raise InputError(f"{name} must be above 0 and at most {limits.temperature:g}, got {value}",
                         name)


@dataclass
class SequenceResult:
    model: CharModel
    model_config: CharModelConfig
    vocab: Vocab | None  # generate, classify
    classes: tuple[str, ...]  # classify
    normalization: tuple[float, float] | None  # forecast: the training part's mean and std
    reason: str  # "completed" | "stopped" | "time limit"
    metrics: dict = field(default_factory=dict)


class _Task(ABC):
    """What differs between the tasks: data, one batch's loss, validation, snapshot extras."""

    model_config: CharModelConfig
    vocab: Vocab | None = None
    classes: tuple[str, ...] = ()
    normalization: tuple[float, float] | None = None
    baseline: dict
    batches: int  # per epoch, by default
    units: int  # characters / names / values in one batch

    @abstractmethod
    def start_info(self) -> dict:
        """The task's part of the "start" event: its vocabulary or classes, its sizes."""

    @abstractmethod
    def loss(self, model: CharModel, generator: torch.Generator) -> torch.Tensor:
        """One random training batch's loss, as a tensor to backpropagate."""

    @abstractmethod
    def evaluate(self, model: CharModel, limit: int) -> dict:
        """Validation figures over at most `limit` characters, names or values."""

    @abstractmethod
    def snapshot(self, model: CharModel) -> dict:
        """What a page shows of the model now: validation loss, samples, heatmap, forecast."""


class _Generate(_Task):
    def __init__(self, corpus: TextCorpus, config: SequenceTrainConfig,
                 limits: SequenceLimits) -> None:
        self.config = config
        vocab = Vocab.of(corpus.train + corpus.val)
        if len(vocab) > limits.vocab:
            raise InputError(f"this text has {len(vocab)} distinct characters; a model takes at "
                             f"most {limits.vocab}", "dataset")
        self.vocab = vocab
        self.train_ids = torch.from_numpy(vocab.encode(corpus.train))
        self.val_ids = torch.from_numpy(vocab.encode(corpus.val))
        n = len(self.train_ids)
        if n < config.seq_len + 1:
            raise InputError(f"seq_len must be below the {n:,} characters of this dataset's "
                             f"training part, got {config.seq_len}", "seq_len")
        if len(self.val_ids) < 2:
            raise InputError("this dataset's validation part needs 2 characters or more",
                             "dataset")
        self.model_config = CharModelConfig("generate", config.cell, config.hidden_size,
                                            config.layers, vocab_size=len(vocab),
                                            embedding=config.embedding)
        self.baseline = {"bigram_val_loss": bigram_loss(corpus.train, corpus.val, vocab)}
        self.units = config.batch_size * config.seq_len
        self.batches = min(max(math.ceil(n / self.units), 1), _EPOCH_BATCHES)
        self.top_start = n - config.seq_len  # window starts in [0, top_start)
        self.probe_text = corpus.val[:config.probe_chars]
        self.probe = self.val_ids[:config.probe_chars].view(1, -1)
        self.sample_start = vocab.index.get("\n", int(self.val_ids[0]))
        self.snapshot_rows = _rows(self.val_ids, config.seq_len, _SNAPSHOT_UNITS)

    def start_info(self) -> dict:
        return {"vocab": list(self.vocab.chars), "train_size": len(self.train_ids),
                "val_size": len(self.val_ids)}

    def loss(self, model: CharModel, generator: torch.Generator) -> torch.Tensor:
        starts = torch.randint(0, self.top_start, (self.config.batch_size,), generator=generator)
        x, y = windows(self.train_ids, starts, self.config.seq_len)  # (B, T) each
        logits, _ = model(x)  # (B, T, V)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))

    def _val_loss(self, model: CharModel, x: torch.Tensor, y: torch.Tensor) -> float:
        total = 0.0
        for i in range(0, len(x), _EVAL_ROWS):
            logits, _ = model(x[i:i + _EVAL_ROWS])  # (R, T, V)
            total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                           y[i:i + _EVAL_ROWS].reshape(-1), reduction="sum"))
        return total / y.numel()

    def evaluate(self, model: CharModel, limit: int) -> dict:
        with _evaluating(model):
            return {"val_loss": self._val_loss(model, *_rows(self.val_ids, self.config.seq_len,
                                                             limit))}

    def snapshot(self, model: CharModel) -> dict:
        with _evaluating(model):
            val_loss = self._val_loss(model, *self.snapshot_rows)
            generator = torch.Generator().manual_seed(self.config.seed)
            starts = torch.full((_SAMPLES,), self.sample_start, dtype=torch.int64)
            ids = _sample(model, starts, self.config.sample_length,
                          self.config.sample_temperature, generator)
            heat = model.hidden_states(self.probe)[0, :, :_HEATMAP_UNITS].T  # (units, T)
        return {"val_loss": val_loss, "samples": [self.vocab.decode(row) for row in ids],
                "heatmap": {"text": self.probe_text,
                            "values": np.round(heat.numpy(), 3).tolist()}}


class _Classify(_Task):
    def __init__(self, corpus: LabeledCorpus, config: SequenceTrainConfig,
                 limits: SequenceLimits) -> None:
        self.config = config
        k = len(corpus.classes)
        if not 2 <= k <= limits.vocab:
            raise InputError(f"a dataset to classify needs 2 to {limits.vocab} classes, this one "
                             f"has {k}", "dataset")
        # names longer than a text the lab classifies are cut there; empty ones say nothing
        train = [(t[:limits.text_chars], y) for t, y in corpus.train if t]
        val = [(t[:limits.text_chars], y) for t, y in corpus.val if t]
        if not train or not val:
            raise InputError("this dataset needs names in both its training and validation "
                             "parts", "dataset")
        if any(not 0 <= y < k for _, y in train + val):
            raise InputError(f"every class index must be 0 to {k - 1}", "dataset")
        vocab = Vocab.of("".join(t for t, _ in train) + "".join(t for t, _ in val))
        if len(vocab) > limits.vocab:
            raise InputError(f"these names have {len(vocab)} distinct characters; a model takes "
                             f"at most {limits.vocab}", "dataset")
        self.vocab, self.classes, self.val = vocab, tuple(corpus.classes), val
        self.train_x, self.train_len, self.train_y = self._pad(train)
        self.val_x, self.val_len, self.val_y = self._pad(val)
        self.model_config = CharModelConfig("classify", config.cell, config.hidden_size,
                                            config.layers, vocab_size=len(vocab),
                                            embedding=config.embedding, classes=k)
        loss, accuracy = bigram_classifier_loss(train, val, self.classes)
        self.baseline = {"bigram_val_loss": loss, "bigram_accuracy": accuracy}
        self.units = config.batch_size
        self.batches = min(max(math.ceil(len(train) / config.batch_size), 1), _EPOCH_BATCHES)
        self.order = torch.zeros(0, dtype=torch.int64)
        # a fixed spread of validation names for the snapshots, and a few to show by name
        n = len(val)
        self.snap_idx = torch.linspace(0, n - 1, min(n, _SNAPSHOT_NAMES)).round().long().unique()
        self.example_idx = torch.linspace(0, n - 1, min(n, _EXAMPLES)).round().long().unique()

    def _pad(self, pairs: list[tuple[str, int]]
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Names as one padded id tensor (N, L) (padding 0: a causal net never reads it at a real
        position), their lengths (N,) and classes (N,)."""
        lengths = np.array([len(t) for t, _ in pairs], dtype=np.int64)
        ids = self.vocab.encode("".join(t for t, _ in pairs))
        padded = np.zeros((len(pairs), int(lengths.max())), dtype=np.int64)
        padded[np.arange(padded.shape[1]) < lengths[:, None]] = ids
        return (torch.from_numpy(padded), torch.from_numpy(lengths),
                torch.tensor([y for _, y in pairs], dtype=torch.int64))

    def start_info(self) -> dict:
        return {"classes": list(self.classes), "vocab": list(self.vocab.chars),
                "train_size": len(self.train_x), "val_size": len(self.val_x)}

    @staticmethod
    def _last(model: CharModel, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits (B, C) of the class read at each name's last real character."""
        logits, _ = model(x[:, :int(lengths.max())])  # (B, T, C)
        return logits[torch.arange(len(x)), lengths - 1]  # (B, C)

    def loss(self, model: CharModel, generator: torch.Generator) -> torch.Tensor:
        b = self.config.batch_size
        if len(self.order) < b:  # a fresh shuffle of the names each pass
            self.order = torch.cat([self.order, torch.randperm(len(self.train_x),
                                                               generator=generator)])
        idx, self.order = self.order[:b], self.order[b:]
        last = self._last(model, self.train_x[idx], self.train_len[idx])  # (B, C)
        return F.cross_entropy(last, self.train_y[idx])

    def _scores(self, model: CharModel, idx: torch.Tensor) -> tuple[float, float]:
        """Mean loss and accuracy over the val names `idx` (batched by length: little padding)."""
        idx = idx[torch.argsort(self.val_len[idx])]
        total, pred = 0.0, torch.empty(len(idx), dtype=torch.int64)
        for i in range(0, len(idx), _EVAL_ROWS * 2):
            part = idx[i:i + _EVAL_ROWS * 2]
            last = self._last(model, self.val_x[part], self.val_len[part])  # (R, C)
            total += float(F.cross_entropy(last, self.val_y[part], reduction="sum"))
            pred[i:i + len(part)] = last.argmax(dim=1)
        return total / len(idx), float((pred == self.val_y[idx]).float().mean())

    def evaluate(self, model: CharModel, limit: int) -> dict:
        idx = torch.arange(min(len(self.val_x), limit))
        with _evaluating(model):
            loss, accuracy = self._scores(model, idx)
        return {"val_loss": loss, "val_accuracy": accuracy}

    def snapshot(self, model: CharModel) -> dict:
        with _evaluating(model):
            loss, accuracy = self._scores(model, self.snap_idx)
            last = self._last(model, self.val_x[self.example_idx],
                              self.val_len[self.example_idx])  # (E, C)
            probs = torch.softmax(last, dim=1)
        examples = []
        for row, i in zip(probs, self.example_idx.tolist(), strict=True):
            text, y = self.val[i]
            c = int(row.argmax())
            examples.append({"text": text, "predicted": self.classes[c], "p": float(row[c]),
                             "true": self.classes[y]})
        return {"val_loss": loss, "val_accuracy": accuracy, "examples": examples}


class _Forecast(_Task):
    def __init__(self, corpus: SeriesCorpus, config: SequenceTrainConfig,
                 limits: SequenceLimits) -> None:
        self.config, self.limits = config, limits
        values = np.asarray(corpus.values, dtype=np.float64).reshape(-1)
        if not np.isfinite(values).all():
            raise InputError("this series has values that are not finite numbers", "dataset")
        v = corpus.val_from
        if not config.seq_len + 1 <= v <= len(values) - 1:
            raise InputError(f"seq_len must be below the {v:,} values of this series' training "
                             f"part (and the series needs values to validate on), got "
                             f"{config.seq_len}", "seq_len")
        mean, std = float(values[:v].mean()), float(values[:v].std())
        self.normalization = (mean, std if std > 1e-12 else 1.0)
        self.values, self.val_from = values, v
        z = torch.from_numpy((values - mean) / self.normalization[1]).float()
        self.train_z = z[:v]
        self.val_z = z[v - 1:]  # from the last training value, so every val value is a target
        self.model_config = CharModelConfig("forecast", config.cell, config.hidden_size,
                                            config.layers)
        x, y = _rows(self.val_z, config.seq_len, _EVAL_UNITS)
        self.baseline = {"persistence_mse": float(F.mse_loss(x, y))}
        self.units = config.batch_size * config.seq_len
        self.batches = min(max(math.ceil(v / self.units), 1), _EPOCH_BATCHES)
        self.top_start = v - config.seq_len
        x, y = _rows(self.val_z, config.seq_len, _SNAPSHOT_UNITS)
        self.snapshot_rows = (x.unsqueeze(-1), y.unsqueeze(-1))
        self.horizon = min(len(values) - v, _FORECAST_POINTS)

    def start_info(self) -> dict:
        return {"train_size": self.val_from, "val_size": len(self.values) - self.val_from}

    def loss(self, model: CharModel, generator: torch.Generator) -> torch.Tensor:
        starts = torch.randint(0, self.top_start, (self.config.batch_size,), generator=generator)
        x, y = windows(self.train_z, starts, self.config.seq_len)  # (B, T, 1) each
        pred, _ = model(x)  # (B, T, 1)
        return F.mse_loss(pred, y)

    @staticmethod
    def _val_loss(model: CharModel, x: torch.Tensor, y: torch.Tensor) -> float:
        total = 0.0
        for i in range(0, len(x), _EVAL_ROWS):
            pred, _ = model(x[i:i + _EVAL_ROWS])  # (R, T, 1)
            total += float(F.mse_loss(pred, y[i:i + _EVAL_ROWS], reduction="sum"))
        return total / y.numel()

    def evaluate(self, model: CharModel, limit: int) -> dict:
        x, y = _rows(self.val_z, self.config.seq_len, limit)
        with _evaluating(model):
            return {"val_loss": self._val_loss(model, x.unsqueeze(-1), y.unsqueeze(-1))}

    def snapshot(self, model: CharModel) -> dict:
        with _evaluating(model):
            val_loss = self._val_loss(model, *self.snapshot_rows)
        result = forecast(model, self.values, self.normalization, start=self.val_from,
                          horizon=self.horizon, limits=self.limits, context=self.config.seq_len)
        return {"val_loss": val_loss,
                "forecast": {"start": result.start, "truth": result.truth,
                             "teacher_forced": result.teacher_forced,
                             "free_running": result.free_running}}


def _make_task(corpus: Corpus, config: SequenceTrainConfig, limits: SequenceLimits) -> _Task:
    if not isinstance(corpus, _CORPUS_KIND[config.task]):
        takes = _TASK_OF_KIND.get(type(corpus))
        title = getattr(corpus, "title", "") or "this dataset"
        raise InputError(f"{title} takes the task {takes!r}, not {config.task!r} (generate: a "
                         f"text, classify: labelled names, forecast: a series)", "task")
    if isinstance(corpus, TextCorpus):
        return _Generate(corpus, config, limits)
    if isinstance(corpus, LabeledCorpus):
        return _Classify(corpus, config, limits)
    return _Forecast(corpus, config, limits)


def _optimizer(model: nn.Module, config: SequenceTrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    return torch.optim.SGD(model.parameters(), lr=config.learning_rate)


def train_sequence(corpus: Corpus, config: SequenceTrainConfig, emit: Emit,
                   should_stop: ShouldStop, *, limits: SequenceLimits) -> SequenceResult:
    """Trains a character (or value) model for `config.task` on `corpus` and returns it as it
    ends. Events, in order:
    - "start": task, cell, params, vocab (list of chars) and/or classes, train_size, val_size,
      batches_per_epoch, total_steps, baseline ({"bigram_val_loss"} for generate;
      {"bigram_val_loss", "bigram_accuracy"} for classify; {"persistence_mse"} for forecast);
    - "snapshot" before any training, about every `snapshot_every` seconds, after each epoch:
      step, epoch, val_loss and per task samples + heatmap / val_accuracy + examples / forecast;
    - "progress" at most every `progress_every` seconds: epoch, step, batches (steps planned in
      all), loss (mean since the last one), chars_per_s (characters, names or values a second),
      seconds_left;
    - "epoch": epoch, step, train_loss, val_loss (nats per char / nats per name / normalised
      MSE), val_accuracy (classify);
    - "done": reason and metrics (train_loss, val_loss, the baseline figures, val_accuracy for
      classify, epochs, steps, seconds, chars_per_s).
    Time spent inside should_stop() (a pause) and in the epochs' validation is not counted as
    training time (chars_per_s, max_seconds)."""
    config.validate(limits)
    task = _make_task(corpus, config, limits)
    check_model_config(task.model_config, limits=limits)
    torch.manual_seed(config.seed)
    model = build(task.model_config)
    optimizer = _optimizer(model, config)
    params = list(model.parameters())
    per_epoch = config.batches_per_epoch or task.batches
    if config.max_batches is not None:
        per_epoch = min(per_epoch, config.max_batches)
    total_steps = per_epoch * config.epochs
    emit({"type": "start", "task": config.task, "cell": config.cell,
          "params": parameter_count(model), **task.start_info(),
          "baseline": dict(task.baseline), "batches_per_epoch": per_epoch,
          "total_steps": total_steps, "seq_len": config.seq_len})
    emit({"type": "snapshot", "step": 0, "epoch": 0, **task.snapshot(model)})

    generator = torch.Generator().manual_seed(config.seed)
    clock = RunClock(config.max_seconds)  # pauses and the epochs' validation left out
    busy = clock.busy
    last_progress = last_snapshot = clock.start
    step, reason, epochs_done = 0, "completed", 0
    window_sum, window_n = torch.zeros(()), 0  # losses since the last progress event
    metrics: dict = {}

    def checked(value: float, epoch: int) -> float:
        if not math.isfinite(value):
            raise TrainingDiverged(
                f"the loss became {value} in epoch {epoch} (step {step}): the weights blew up; "
                f"try a smaller learning rate than {config.learning_rate:g}"
                + ("" if config.clip else " or clip the gradients"))
        return value

    def progress(epoch: int) -> None:
        nonlocal window_sum, window_n, last_progress
        seconds = busy()
        rate = step * task.units / seconds if seconds > 0 else 0.0
        steps_per_s = step / seconds if seconds > 0 else 0.0
        left = (total_steps - step) / steps_per_s if steps_per_s else config.max_seconds
        emit({"type": "progress", "epoch": epoch, "step": step, "batches": total_steps,
              "loss": checked(float(window_sum) / window_n, epoch), "chars_per_s": rate,
              "seconds_left": max(0.0, min(left, config.max_seconds - seconds))})
        window_sum, window_n, last_progress = torch.zeros(()), 0, time.perf_counter()

    model.train()
    for epoch in range(1, config.epochs + 1):
        epoch_sum, epoch_n = torch.zeros(()), 0
        for _ in range(per_epoch):
            loss = task.loss(model, generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.clip:
                torch.nn.utils.clip_grad_norm_(params, config.clip, foreach=True)
            optimizer.step()
            step += 1
            detached = loss.detach()
            window_sum += detached  # a tensor sum: no .item() (a sync) on most steps
            epoch_sum += detached
            window_n += 1
            epoch_n += 1

            now = time.perf_counter()
            if now - last_progress >= config.progress_every:
                progress(epoch)
            if now - last_snapshot >= config.snapshot_every:
                emit({"type": "snapshot", "step": step, "epoch": epoch, **task.snapshot(model)})
                last_snapshot = time.perf_counter()

            ended = clock.stop_reason(should_stop)
            if ended:
                reason = ended
                break
        if window_n:  # every epoch ends with a progress point, however fast it went
            progress(epoch)
        if epoch_n == 0:
            break
        epochs_done = epoch
        t = time.perf_counter()
        figures = task.evaluate(model, _EVAL_UNITS)
        metrics = {"train_loss": checked(float(epoch_sum) / epoch_n, epoch), **figures}
        emit({"type": "epoch", "epoch": epoch, "step": step, **metrics})
        clock.exclude_since(t)
        if reason != "completed":
            break

    emit({"type": "snapshot", "step": step, "epoch": epochs_done, **task.snapshot(model)})
    last_snapshot = time.perf_counter()
    seconds = busy()
    if not metrics:  # stopped before the first batch
        metrics = {"train_loss": math.nan, **task.evaluate(model, _EVAL_UNITS)}
    metrics |= {**task.baseline, "epochs": epochs_done, "steps": step, "seconds": seconds,
                "chars_per_s": step * task.units / seconds if seconds > 0 else 0.0}
    emit({"type": "done", "reason": reason, "metrics": metrics})
    model.eval()
    return SequenceResult(model=model, model_config=task.model_config, vocab=task.vocab,
                          classes=task.classes, normalization=task.normalization, reason=reason,
                          metrics=metrics)


# ------------------------------------------------------------------------- using a trained net


def _sample(model: CharModel, starts: torch.Tensor, length: int, temperature: float,
            generator: torch.Generator) -> torch.Tensor:
    """(N, length) ids sampled one step at a time from N start ids (the snapshots' samples)."""
    step = Stepper(model)
    state = step.split(None, len(starts))
    ids = starts
    out = torch.empty(len(starts), length, dtype=torch.int64)
    for t in range(length):
        logits, state = step(step.inputs(ids), state)  # (N, V)
        p = torch.softmax(logits / temperature, dim=-1)  # (N, V)
        ids = torch.multinomial(p, 1, generator=generator)[:, 0]  # (N,)
        out[:, t] = ids
    return out


@dataclass
class GenStep:
    char: str
    top: list[tuple[str, float, float]]  # (char, p, p_raw), by p descending
    p: float = 0.0  # the chosen character's p (in the distribution sampled from)
    p_raw: float = 0.0  # and at temperature 1 without top-k


@dataclass
class Generation:
    text: str  # the continuation only
    steps: list[GenStep]


def generate(model: CharModel, vocab: Vocab, prompt: str, *, length: int,
             temperature: float = 1.0, top_k: int = 0, seed: int = 0, top: int = 5,
             limits: SequenceLimits) -> Generation:
    """Feeds the prompt, then samples `length` characters one at a time, keeping the net's state.
    Each step lists its `top` characters with p (the distribution sampled from: temperature, then
    the top_k most likely, renormalised) and p_raw (temperature 1, all characters). The same seed
    gives the same text."""
    v = len(vocab)
    _int_range(length, 1, limits.generate_length, "length")
    _check_temperature(temperature, limits, "temperature")
    # top_k at or above the vocabulary's size keeps every character, as 0 does: a value that
    # means the same for every model is never refused
    if not 0 <= top_k <= limits.vocab:
        raise InputError(f"top_k must be 0 (all characters) to {limits.vocab}, got {top_k}",
                         "top_k")
    _int_range(seed, 0, _MAX_SEED, "seed")
    _int_range(top, 1, limits.vocab, "top")
    if len(prompt) > limits.prompt_chars:
        raise InputError(f"prompt must be at most {limits.prompt_chars} characters, got "
                         f"{len(prompt)}", "prompt")
    if not prompt:
        if "\n" not in vocab.index:
            raise InputError("this model needs a prompt (it knows no line break to start "
                             "from)", "prompt")
        prompt = "\n"
    check_known(vocab, prompt, "prompt")
    top = min(top, v)
    generator = torch.Generator().manual_seed(seed)
    with _evaluating(model):
        logits, state = model(torch.from_numpy(vocab.encode(prompt)).view(1, -1))  # (1, P, V)
        last = logits[0, -1]  # (V,)
        step = Stepper(model)
        state = step.split(state, 1)
        seen = torch.empty(length, v)  # the logits of every step, read out after the loop
        chosen = torch.empty(length, dtype=torch.int64)
        # Gumbel-max: argmax(logits / T + G) with G = −log(−log U) draws from softmax(logits / T)
        # exactly, and costs a third of softmax + multinomial a step
        uniform = torch.rand(length, v, generator=generator).clamp_(min=1e-30)
        gumbel = uniform.log_().neg_().log_().neg_()  # (L, V)
        for t in range(length):
            seen[t] = last
            scaled = last / temperature
            if 0 < top_k < v:
                kept = torch.topk(scaled, top_k)
                scaled = torch.full_like(scaled, -math.inf).scatter_(0, kept.indices, kept.values)
            c = torch.argmax(scaled + gumbel[t]).view(1)  # (1,)
            chosen[t] = c[0]
            if t + 1 < length:
                logits, state = step(step.inputs(c), state)  # (1, V)
                last = logits[0]
        # the listing, all steps at once
        p_raw = torch.softmax(seen, dim=-1)  # (L, V)
        scaled = seen / temperature
        if 0 < top_k < v:
            kept = torch.topk(scaled, top_k, dim=-1)
            scaled = torch.full_like(scaled, -math.inf).scatter_(1, kept.indices, kept.values)
        p = torch.softmax(scaled, dim=-1)  # (L, V)
        # temperature keeps the order of the logits and top-k keeps their top: one order for both
        order = torch.topk(seen, top, dim=-1).indices  # (L, top)
        top_p = torch.gather(p, 1, order).tolist()
        top_raw = torch.gather(p_raw, 1, order).tolist()
        pick = chosen.view(-1, 1)
        pick_p = torch.gather(p, 1, pick)[:, 0].tolist()
        pick_raw = torch.gather(p_raw, 1, pick)[:, 0].tolist()
    chars = vocab.chars
    ids = chosen.tolist()
    steps = [GenStep(chars[c], [(chars[i], a, b) for i, a, b in zip(o, tp, tr, strict=True)],
                     pp, pr)
             for c, o, tp, tr, pp, pr in zip(ids, order.tolist(), top_p, top_raw, pick_p,
                                            pick_raw, strict=True)]
    return Generation("".join([chars[c] for c in ids]), steps)


@dataclass
class Classification:
    probs: list[float]  # after the whole text
    prefixes: list[tuple[str, list[float]]]  # (text[:i], probabilities) for i = 1..len(text)


def classify(model: CharModel, vocab: Vocab, classes: Sequence[str], text: str, *,
             limits: SequenceLimits) -> Classification:
    """The class probabilities after each prefix of `text` (one pass of the net)."""
    if not text:
        raise InputError(f"text must be 1 to {limits.text_chars} characters, got none", "text")
    if len(text) > limits.text_chars:
        raise InputError(f"text must be 1 to {limits.text_chars} characters, got {len(text)}",
                         "text")
    check_known(vocab, text, "text")
    if model.config.classes != len(classes):
        raise ValueError(f"the model reads {model.config.classes} classes, {len(classes)} given")
    with _evaluating(model):
        logits, _ = model(torch.from_numpy(vocab.encode(text)).view(1, -1))  # (1, T, C)
        probs = torch.softmax(logits[0].double(), dim=-1).tolist()  # T × C
    return Classification(probs[-1], [(text[:i + 1], row) for i, row in enumerate(probs)])


@dataclass
class Forecast:
    start: int  # index in the series of the first value predicted
    truth: list[float]  # values[start : start + horizon] (shorter past the series' end)
    teacher_forced: list[float]  # each value predicted from the true values before it
    free_running: list[float]  # horizon values, each predicted from the net's own predictions


def forecast(model: CharModel, values: np.ndarray, normalization: tuple[float, float], *,
             start: int, horizon: int, limits: SequenceLimits, context: int | None = None
             ) -> Forecast:
    """Predictions from `start` on, in the series' units: teacher-forced (one step ahead from the
    truth) where the series has values, and free-running (the net fed its own predictions) for
    `horizon` steps. The net first reads up to `context` values before `start` (default:
    limits.seq_len)."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if not 1 <= start <= len(values):
        raise InputError(f"start must be 1 to {len(values)} (a value to start from), got {start}",
                         "start")
    _int_range(horizon, 1, limits.generate_length, "horizon")
    if not np.isfinite(values).all():
        raise InputError("values must be finite numbers", "values")
    mean, std = normalization
    context = limits.seq_len if context is None else context
    lo = max(0, start - max(context, 1))
    truth = values[start:start + horizon]
    n = len(truth)
    z = torch.from_numpy((values[lo:start + n] - mean) / std).float()  # context and truth
    with _evaluating(model):
        out, state = model(z[:start - lo].view(1, -1, 1))  # (1, T, 1): the context read
        x = out[:, -1:]  # (1, 1, 1) the prediction of values[start]
        teacher = x[0, :, 0]  # (1,)
        if n > 1:  # the truth fed on from the same state: one step ahead each
            more, _ = model(z[start - lo:start - lo + n - 1].view(1, -1, 1), state)  # (1, n-1, 1)
            teacher = torch.cat([teacher, more[0, :, 0]])  # (n,)
        teacher = teacher[:n]
        step = Stepper(model)
        state = step.split(state, 1)
        x = x[0]  # (1, 1)
        free = torch.empty(horizon)
        for t in range(horizon):
            free[t] = x[0, 0]
            if t + 1 < horizon:
                x, state = step(x, state)  # (1, 1)
    return Forecast(start, truth.tolist(), (teacher.double() * std + mean).tolist(),
                    (free.double() * std + mean).tolist())


def hidden_heatmap(model: CharModel, vocab: Vocab, text: str, max_units: int = _HEATMAP_UNITS
                   ) -> np.ndarray:
    """(units, T) the top layer's h over `text`, the first `max_units` units."""
    check_known(vocab, text, "text")
    if not text:
        return np.zeros((min(max_units, model.config.hidden_size), 0), dtype=np.float32)
    with _evaluating(model):
        h = model.hidden_states(torch.from_numpy(vocab.encode(text)).view(1, -1))  # (1, T, H)
    return h[0, :, :max_units].T.numpy().copy()  # (units, T)
