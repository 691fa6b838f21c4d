"""scripts/train_generative.py: a GAN run in two parts (stopped after its first epoch, then
started again with the same command) ends with the same weights as the run in one go."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from app.settings import ROOT
from tests.mnist import needs_mnist

spec = importlib.util.spec_from_file_location("train_generative",
                                              ROOT / "scripts" / "train_generative.py")
script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(script)

pytestmark = needs_mnist


def run(out: Path, checkpoint: Path) -> None:
    script.main(["dcgan", "--epochs", "2", "--limit", "256", "--width", "8", "--refine", "1",
                 "--threads", "1", "--decay-last", "2", "--out", str(out),
                 "--checkpoint", str(checkpoint)])


@pytest.mark.slow
def test_a_run_in_two_parts_ends_where_the_run_in_one_goes(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    run(tmp_path / "whole", tmp_path / "whole.pt")

    real_epoch, calls = script.gen.gan_epoch, []

    def stopped_in_the_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the machine went away during epoch 2
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(script.gen, "gan_epoch", stopped_in_the_second)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "parts", tmp_path / "parts.pt")
    assert torch.load(tmp_path / "parts.pt", weights_only=True)["epoch"] == 1
    resumed: list[int] = []

    def counted(*args, **kwargs):
        resumed.append(1)
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(script.gen, "gan_epoch", counted)
    run(tmp_path / "parts", tmp_path / "parts.pt")
    assert len(resumed) == 1  # it went on from epoch 2, not again from the start

    whole = load_file(tmp_path / "whole" / "dcgan" / "model.safetensors")
    parts = load_file(tmp_path / "parts" / "dcgan" / "model.safetensors")
    assert whole.keys() == parts.keys()
    for key in whole:
        assert torch.equal(whole[key], parts[key]), key
    card = script.read(tmp_path / "parts" / "dcgan" / "model").generative
    assert [h["epoch"] for h in card.history] == [1, 2]
    assert "--limit 256" in card.command
    assert card.kind == "gan" and card.averaged and card.image_shape == (1, 28, 28)


@pytest.mark.slow
def test_a_checkpoint_of_another_run_is_refused(tmp_path: Path) -> None:
    run(tmp_path / "a", tmp_path / "a.pt")
    with pytest.raises(SystemExit):
        script.main(["dcgan", "--epochs", "3", "--limit", "256", "--width", "8",
                     "--threads", "1", "--out", str(tmp_path / "b"),
                     "--checkpoint", str(tmp_path / "a.pt")])


@pytest.mark.slow
def test_a_small_conditional_gan_is_made_and_carded(tmp_path: Path) -> None:
    """cgan from the same script: its card asks for 0-9 in turn and says how many samples
    each classifier reads as the digit asked; the weights build a conditional generator."""
    script.main(["cgan", "--epochs", "1", "--limit", "256", "--width", "8", "--refine", "0",
                 "--threads", "1", "--out", str(tmp_path)])
    stored = script.read(tmp_path / "cgan" / "model")
    card = stored.generative
    assert card.config["classes"] == 10 and card.kind == "gan"
    for figures in (card.metrics, card.metrics["judge"]):
        assert 0 <= figures["sample_quality"]["asked_share"] <= 1
        assert 0 <= figures["sample_quality_wide"]["asked_share_mean"] <= 1
    decoder = script.load_decoder(stored)
    assert decoder.config.classes == 10 and decoder.project[0].in_features == 64 + 10
    text = (tmp_path / "cgan" / "MODEL_CARD.md").read_text()
    assert "the digit asked" in text and "--width 8" in text
