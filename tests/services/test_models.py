"""The typed model cards (app/services/models.py): every card shipped in models/ loads into the
dataclass of its kind and writes back as the same JSON; a training run's card has typed fields;
keys a card class does not know are kept."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path

import pytest
import torch

from app.core import datasets, nets
from app.core.training import TrainConfig
from app.services.models import (
    ClassifierCard,
    GenerativeCard,
    ModelStore,
    SequenceCard,
    card_from_json,
    read,
    write_meta,
    write_weights,
)
from app.services.runs.worker import execute
from app.settings import LIMITS, ROOT

SHIPPED = sorted((ROOT / "models").rglob("*.json"))
TINY = [{"type": "flatten"}, {"type": "linear", "out_features": 6}]


def script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_shipped_cards_are_all_found() -> None:
    assert {p.relative_to(ROOT / "models").as_posix() for p in SHIPPED} == {
        "mnist-cnn.json", "generative/dcgan/model.json", "generative/cgan/model.json",
        "generative/vae-2d/model.json", "generative/vae-16d/model.json",
        "generative/ae-2d/model.json",
        "judge/mnist-judge.json", "sequences/names-lstm.json",
        "sequences/python-lstm.json", "sequences/names-language-gru.json"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.relative_to(ROOT / "models").as_posix())
def test_a_shipped_card_loads_into_its_dataclass_and_round_trips(path: Path,
                                                                  tmp_path: Path) -> None:
    data = json.loads(path.read_text())
    stored = read(path.with_suffix(""), shipped=True)
    card = stored.card
    kinds = {None: ClassifierCard, "vae": GenerativeCard, "ae": GenerativeCard,
             "gan": GenerativeCard,
             "sequence": SequenceCard}
    assert type(card) is kinds[data.get("kind")]
    assert card == card_from_json(data)
    assert card.to_json() == data
    assert card.extra == {}  # every key of the shipped cards is a field
    write_meta(tmp_path / "again", card)  # written and read again: still the same figures
    assert json.loads((tmp_path / "again.json").read_text()) == data


def test_the_shipped_cards_fields_are_typed() -> None:
    clf = read(ROOT / "models" / "mnist-cnn").classifier
    assert clf.name == "mnist-cnn" and clf.dataset == "mnist" and clf.run_id is None
    assert clf.input_shape == (1, 28, 28) and clf.classes == tuple("0123456789")
    assert len(clf.normalization) == 2 and clf.params == 218_682
    assert clf.config["epochs"] == len(clf.history) and clf.metrics["test_acc"] > 0.99
    assert clf.command.startswith("python scripts/train_classifier.py")
    vae = read(ROOT / "models" / "generative" / "vae-2d" / "model").generative
    assert (vae.kind, vae.latent, vae.image_shape) == ("vae", 2, (1, 28, 28))
    assert vae.averaged is None and vae.recipe is None and vae.batch == 128
    gan = read(ROOT / "models" / "generative" / "dcgan" / "model").generative
    assert gan.kind == "gan" and gan.averaged is True and gan.recipe
    assert gan.config["kind"] == "gan" and gan.epochs == len(gan.history)


def test_the_markdown_cards_are_made_from_the_typed_cards(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """The scripts' MODEL_CARD.md, written from the typed card, are the shipped ones."""
    classifier, generative = script("train_classifier"), script("train_generative")
    monkeypatch.setattr("platform.machine", lambda: "x86_64")  # where the shipped ones ran
    for name, (architecture, _, _, folder, purpose) in classifier.MODELS.items():
        clf = read(folder / name).classifier
        table = nets.table(clf.layers, clf.input_shape, len(clf.classes), limits=LIMITS.nets)
        assert classifier.card(clf, table, architecture, purpose) == \
            (folder / "MODEL_CARD.md").read_text(), name
    for name in ("vae-2d", "vae-16d", "dcgan", "ae-2d"):
        where = ROOT / "models" / "generative" / name
        card = read(where / "model").generative
        write = generative.ae_card if card.kind == "ae" else generative.card
        assert write(card) == (where / "MODEL_CARD.md").read_text(), name


def test_a_saved_run_has_a_typed_card(tmp_path: Path) -> None:
    data = datasets.shapes(n_train=256, n_val=64, n_test=64)
    config = dataclasses.asdict(TrainConfig(layers=TINY, epochs=1, batch_size=64, seed=3))
    outcome = execute("run-1", "shapes", lambda: data, config, lambda _e: None, lambda: False)
    assert outcome.status == "completed", outcome.message
    write_weights(tmp_path / "runs" / "run-1", outcome.weights, outcome.card)

    stored = read(tmp_path / "runs" / "run-1")
    card = stored.classifier
    assert card == outcome.card
    assert card.input_shape == (1, 28, 28) and card.classes == tuple(data.classes)
    assert card.layers == nets.normalize(TINY, limits=LIMITS.nets)
    assert card.params == 28 * 28 * 6 + 6
    assert card.dataset == "shapes" and card.run_id == "run-1" and card.name is None
    mean, std = card.normalization
    assert len(mean) == len(std) == 1 and std[0] > 0
    assert isinstance(card.trained, str) and card.trained.endswith("Z")
    assert card.config["seed"] == 3 and "layers" not in card.config
    assert {"train_loss", "val_acc"} <= set(card.metrics)
    assert card.history is None and card.command is None and card.extra == {}
    written = json.loads((tmp_path / "runs" / "run-1.json").read_text())
    assert set(written) == {"layers", "input_shape", "classes", "normalization", "dataset",
                            "run_id", "metrics", "params", "trained", "config"}
    assert card.to_json() == written
    torch.testing.assert_close(stored.load()[1].weight, outcome.weights["1.weight"])

    kept = ModelStore(tmp_path / "models").save_copy("mine", stored, {})
    assert kept.classifier == dataclasses.replace(card, name="mine")


def test_unknown_keys_and_nulls_are_kept() -> None:
    data = {"layers": TINY, "input_shape": [1, 28, 28], "classes": list("abcdef"),
            "dataset": None, "notes": {"free": ["form", 1]}}
    card = card_from_json(data)
    assert isinstance(card, ClassifierCard) and card.dataset is None
    assert card.extra == {"dataset": None, "notes": {"free": ["form", 1]}}
    assert card.to_json() == data
    gen = card_from_json({"kind": "vae", "config": {"kind": "vae", "latent": 2}, "fid": 3.5})
    assert isinstance(gen, GenerativeCard) and gen.latent == 2 and gen.extra == {"fid": 3.5}
    with pytest.raises(ValueError, match="a field of the card"):
        ClassifierCard(layers=TINY, input_shape=(1, 28, 28), classes=("a",), dataset="mnist",
                       extra={"dataset": "other"})


@pytest.mark.parametrize("data", [
    {"input_shape": [1, 28, 28], "classes": ["a"]},  # no layers
    {"layers": TINY, "input_shape": 28, "classes": ["a"]},
    {"kind": "diffusion", "config": {}},
    {"kind": "gan"},  # no config
    [1, 2],
])
def test_a_card_that_cannot_be_one_is_refused(data: object, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        card_from_json(data)
    (tmp_path / "bad.json").write_text(json.dumps(data))
    (tmp_path / "bad.safetensors").write_bytes(b"")
    assert ModelStore(tmp_path).list() == []  # not listed, the listing still works
