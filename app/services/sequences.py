"""The sequence lab's actions, one of each, called by the API and by the page: step a cell, measure
the gradient flow, start a memory-task run or a training run, and use a trained model (generate,
classify). Sequence models live beside the other models: the shipped ones in models/sequences/,
saved ones in the saved-models directory, told apart by their card's kind."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from app.core import recurrent
from app.core import sequences as seq
from app.services import models as model_store
from app.services.corpora import Corpora, kind_of
from app.services.errors import Invalid
from app.services.models import SequenceCard, StoredModel, UnknownModel
from app.services.owners import LOCAL, Actor
from app.services.runs.backend import JobBackend
from app.services.runs.records import RunRecord
from app.services.schemas import (
    ClassifyRequest,
    GenerateRequest,
    GradientFlowRequest,
    MemoryRunRequest,
    SequenceRunRequest,
    TraceRequest,
)
from app.settings import LIMITS

# What a page prints above the trace: each cell's equations in symbols.
EQUATIONS = {
    "rnn": ["h_t = tanh(W_ih·x_t + b_ih + W_hh·h_{t−1} + b_hh)"],
    "lstm": ["i_t = σ(W_ii·x_t + b_ii + W_hi·h_{t−1} + b_hi)   input gate",
             "f_t = σ(W_if·x_t + b_if + W_hf·h_{t−1} + b_hf)   forget gate",
             "g_t = tanh(W_ig·x_t + b_ig + W_hg·h_{t−1} + b_hg)   candidate cell",
             "o_t = σ(W_io·x_t + b_io + W_ho·h_{t−1} + b_ho)   output gate",
             "c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t",
             "h_t = o_t ⊙ tanh(c_t)"],
    "gru": ["r_t = σ(W_ir·x_t + b_ir + W_hr·h_{t−1} + b_hr)   reset gate",
            "z_t = σ(W_iz·x_t + b_iz + W_hz·h_{t−1} + b_hz)   update gate",
            "n_t = tanh(W_in·x_t + b_in + r_t ⊙ (W_hn·h_{t−1} + b_hn))   new state",
            "h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t−1}"],
}

DECIMALS = 6  # probabilities sent back: far finer than a bar on a page can show


# ---------------------------------------------------------------- cells by hand

def trace(req: TraceRequest) -> dict:
    """Every step of a cell over the inputs, its gates and its equations with the numbers. The
    numbers stay float32 arrays, exactly the ones computed: the HTTP layer writes them out."""
    for i, row in enumerate(req.inputs):
        if len(row) != req.input_size:
            raise Invalid(f"inputs[{i}] has {len(row)} numbers; every step takes input_size = "
                          f"{req.input_size}", "inputs")
    weights = None if req.weights is None else req.weights.model_dump()
    t = recurrent.trace(req.cell, req.inputs, hidden_size=req.hidden_size, weights=weights,
                        h0=req.h0, c0=req.c0, seed=req.seed, limits=LIMITS.recurrent)
    steps = []
    for s in t.steps:
        step: dict = {"t": s.t, "x": s.x, "h": s.h, "expression": s.expression}
        if s.c is not None:
            step["c"] = s.c
        if s.gates is not None:
            step["gates"] = s.gates
        steps.append(step)
    return {"cell": t.cell, "input_size": t.input_size, "hidden_size": t.hidden_size,
            "equations": EQUATIONS[t.cell], "steps": steps, "weights": t.weights}


def gradient_flow(req: GradientFlowRequest) -> dict:
    """How much the last state's sum feels each earlier input, by lag (from autograd)."""
    f = recurrent.gradient_flow(req.cell, hidden_size=req.hidden_size, length=req.length,
                                seed=req.seed, weight_scale=req.weight_scale,
                                forget_bias=req.forget_bias, limits=LIMITS.recurrent)
    return {"cell": req.cell, "forget_bias": req.forget_bias if req.cell == "lstm" else None,
            "lags": list(f.lags), "norms": list(f.norms), "inputs": f.inputs,
            "weights": f.weights}


# ---------------------------------------------------------------- runs

async def start_memory_run(req: MemoryRunRequest, jobs: JobBackend, actor: Actor = LOCAL
                           ) -> RunRecord:
    """The memory task for each cell and delay, trained live; one run on the job backend."""
    defaults = recurrent.MemoryConfig()
    config = recurrent.MemoryConfig(
        cells=tuple(dict.fromkeys(req.cells)),
        delays=tuple(sorted(set(req.delays))) if req.delays else defaults.delays,
        hidden_size=req.hidden_size or defaults.hidden_size,
        steps=req.steps or defaults.steps, seed=req.seed)
    return jobs.submit("memory-task", config, owner=actor.owner)


async def start_training(req: SequenceRunRequest, jobs: JobBackend, corpora: Corpora,
                         actor: Actor = LOCAL) -> RunRecord:
    """Checks the dataset and the task before anything is queued, then submits the run."""
    corpus = await asyncio.to_thread(corpora.load, req.dataset)
    tasks = {"text": "generate", "labeled": "classify", "series": "forecast"}
    own = tasks[kind_of(corpus)]
    if req.task is not None and req.task != own:
        raise Invalid(f"{req.dataset} is a {kind_of(corpus)} dataset: it trains the "
                      f"{own!r} task, not {req.task!r}", "task")
    config = seq.SequenceTrainConfig(
        task=own, cell=req.cell, layers=req.layers, hidden_size=req.hidden_size,
        embedding=req.embedding, seq_len=req.seq_len, batch_size=req.batch_size,
        optimizer=req.optimizer, learning_rate=req.learning_rate, clip=req.clip,
        epochs=req.epochs, seed=req.seed)
    return jobs.submit(req.dataset, config, owner=actor.owner)


# ---------------------------------------------------------------- trained models

@dataclass
class Loaded:
    """A sequence model ready to use."""

    stored: StoredModel
    card: SequenceCard
    net: seq.CharModel
    vocab: seq.Vocab | None


class SequenceModels:
    """Sequence models by name: shipped (models/sequences/, read-only) and saved ones. Loaded
    nets are kept (a few MB each) until their files change."""

    def __init__(self, shipped_dir: Path, saved_dir: Path) -> None:
        self.shipped_dir, self.saved_dir = shipped_dir, saved_dir
        self._loaded: dict[str, tuple[float, Loaded]] = {}
        self._lock = threading.Lock()

    def list(self) -> list[StoredModel]:
        return (model_store.read_all(self.shipped_dir, True, SequenceCard)
                + model_store.read_all(self.saved_dir, False, SequenceCard))

    def get(self, name: str) -> StoredModel:
        for directory, shipped in ((self.shipped_dir, True), (self.saved_dir, False)):
            if model_store.NAME.match(name) and (directory / f"{name}.json").is_file():
                try:
                    stored = model_store.read(directory / name, shipped)
                except (UnknownModel, ValueError):
                    break
                if isinstance(stored.card, SequenceCard):
                    return stored
                break
        raise UnknownModel(name, kind="sequence")

    def load(self, name: str) -> Loaded:
        stored = self.get(name)
        stamp = stored.weights.stat().st_mtime
        with self._lock:
            hit = self._loaded.get(name)
            if hit is not None and hit[0] == stamp:
                return hit[1]
        card = stored.sequence
        net = seq.build(seq.CharModelConfig(**card.config))
        net.load_state_dict(load_file(stored.weights))
        net.eval()
        loaded = Loaded(stored, card, net,
                        None if card.vocab is None else seq.Vocab(tuple(card.vocab)))
        with self._lock:
            self._loaded[name] = (stamp, loaded)
        return loaded


def generate(models: SequenceModels, name: str, req: GenerateRequest) -> dict:
    """Characters from a model, with the five likeliest next characters at every step."""
    m = models.load(name)
    if m.card.task != "generate" or m.vocab is None:  # this model has no such action: a 404
        raise UnknownModel(name, kind="generating", why=f"{name} is a {m.card.task} model")
    with torch.inference_mode():
        g = seq.generate(m.net, m.vocab, req.prompt, length=req.length,
                         temperature=req.temperature, top_k=req.top_k, seed=req.seed,
                         limits=LIMITS.sequences)
    return {"model": name, "prompt": req.prompt, "text": g.text,
            "steps": [{"char": s.char, "top": [{"char": c, "p": round(p, DECIMALS),
                                                "p_raw": round(r, DECIMALS)}
                                               for c, p, r in s.top]} for s in g.steps]}


def classify(models: SequenceModels, name: str, req: ClassifyRequest) -> dict:
    """A name's language, and how the answer changes character by character."""
    m = models.load(name)
    if m.card.task != "classify" or m.vocab is None or not m.card.classes:
        raise UnknownModel(name, kind="classifying", why=f"{name} is a {m.card.task} model")
    classes = tuple(m.card.classes)
    with torch.inference_mode():
        c = seq.classify(m.net, m.vocab, classes, req.text, limits=LIMITS.sequences)

    def best(probs: list[float]) -> str:
        return classes[int(np.argmax(probs))]

    return {"model": name, "text": req.text, "classes": list(classes),
            "probs": [round(p, DECIMALS) for p in c.probs], "best": best(c.probs),
            "prefixes": [{"prefix": prefix, "probs": [round(p, DECIMALS) for p in probs],
                          "best": best(probs)} for prefix, probs in c.prefixes]}
