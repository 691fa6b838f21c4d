"""scripts/train_sequences.py: the shipped sequence models' markdown card is made from their
typed cards, and a recipe trains end to end into a card that beats (or fails) the bar."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from app.services.models import read
from app.settings import ROOT

SHIPPED = ROOT / "models" / "sequences"
PREPARED = ROOT / "data" / "sequences"


def script():
    spec = importlib.util.spec_from_file_location("train_sequences",
                                                  ROOT / "scripts" / "train_sequences.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["train_sequences"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_shipped_markdown_card_is_made_from_the_typed_cards():
    s = script()
    models = [read(SHIPPED / name, shipped=True) for name in s.RECIPES]
    assert s.card(models) == (SHIPPED / "MODEL_CARD.md").read_text()


def test_each_shipped_card_says_the_command_that_made_it_and_beats_the_bigram():
    s = script()
    for name, recipe in s.RECIPES.items():
        c = read(SHIPPED / name, shipped=True).sequence
        assert c.command == f"python scripts/train_sequences.py {name}"
        assert c.dataset == recipe.dataset and c.train_config["epochs"] == recipe.config.epochs
        assert c.metrics["val_loss"] <= 0.9 * c.metrics["bigram_val_loss"]
        assert c.history and len(c.history) == c.metrics["epochs"]


def test_a_recipe_trains_end_to_end_into_a_card(tmp_path: Path, capsys: pytest.CaptureFixture):
    if not (PREPARED / "manifest.json").is_file():
        pytest.fail("the sequence data is not prepared: run `make setup`")
    s = script()
    status = s.main(["names-language-gru", "--out", str(tmp_path), "--epochs", "1",
                     "--threads", "1"])
    card = json.loads((tmp_path / "names-language-gru.json").read_text())
    assert card["kind"] == "sequence" and card["task"] == "classify"
    assert card["metrics"]["epochs"] == 1 and len(card["classes"]) >= 10
    # one epoch already beats the bigram reader by 10% (the exit status says whether it did)
    assert status == (0 if card["metrics"]["beats_bigram_by"] >= 0.10 else 1)
    assert "names-language-gru" in (tmp_path / "MODEL_CARD.md").read_text()
