"""The sequence lab's page: its four sections' controls on the first paint, the datasets and the
models already in their selects, and every min/max the checks' own limits."""

from __future__ import annotations

import re
from dataclasses import asdict

import pytest
from fastapi.testclient import TestClient

from app.core import sequences as seq
from app.services.models import SequenceCard, write_weights
from app.settings import LIMITS

REC, SEQ = LIMITS.recurrent, LIMITS.sequences


@pytest.fixture(scope="module")
def page(client: TestClient) -> str:
    """The page, with two small saved models (one to generate, one to classify) in the store."""
    saved = client.app.state.settings.data_dir / "models"
    for name, task, extra in (("tiny-gen", "generate", {}),
                              ("tiny-cls", "classify", {"classes": 2})):
        config = seq.CharModelConfig(task, "gru", 4, vocab_size=3, **extra)
        write_weights(saved / name, seq.build(config).state_dict(), SequenceCard(
            name=name, task=task, config=asdict(config), vocab="abc",
            classes=("A", "B") if task == "classify" else None, dataset="names",
            metrics={"val_loss": 2.0, "bigram_val_loss": 2.5}))
    response = client.get("/sequences")
    assert response.status_code == 200
    return response.text


def _tag(html: str, element_id: str) -> str:
    found = re.search(rf'<[a-z]+[^>]*\bid="{re.escape(element_id)}"[^>]*>', html)
    assert found, f"no element #{element_id} on the page"
    return found.group(0)


def _attr(tag: str, name: str) -> str:
    found = re.search(rf'\b{name}="([^"]*)"', tag)
    assert found, f"{tag} has no {name}"
    return found.group(1)


def _select(html: str, element_id: str) -> str:
    found = re.search(rf'<select[^>]*id="{element_id}"[^>]*>(.*?)</select>', html, re.S)
    assert found, f"no select #{element_id}"
    return found.group(1)


def test_the_four_sections_and_their_controls(page: str) -> None:
    for section in ("cell", "flow", "train", "use"):
        assert f'id="{section}"' in page
    for control in ("cell-form", "cell-text", "cell-numbers", "cell-hidden", "cell-seed",
                    "cell-play", "cell-prev", "cell-next", "cell-scrub", "unrolled",
                    "cell-expression", "cell-state", "onehot",
                    "flow-scale", "flow-length", "flow-hidden", "flow-chart", "memory-start",
                    "memory-stop", "memory-grid",
                    "train-form", "train-dataset", "train-start", "train-pause", "train-stop",
                    "train-save", "loss-chart", "samples", "heatmap", "forecast-chart",
                    "gen-model", "gen-prompt", "gen-temperature", "gen-start", "gen-text",
                    "gen-top", "cls-model", "cls-text", "cls-bars", "cls-prefixes"):
        _tag(page, control)
    # the three cells, as radio buttons, LSTM first chosen
    for cell in ("rnn", "lstm", "gru"):
        assert re.search(rf'name="cell" value="{cell}"', page)
    assert 'value="lstm" checked' in page
    assert '<script type="module" src="/static/js/sequences.js">' in page


def test_the_nav_link_and_the_home_card(client: TestClient, page: str) -> None:
    assert re.search(r'<a href="/sequences"\s+aria-current="page">Sequences</a>', page)
    home = client.get("/").text
    assert 'href="/sequences"' in home and "Sequence lab" in home


def test_datasets_fill_the_select_and_missing_ones_are_disabled(client: TestClient,
                                                                page: str) -> None:
    options = _select(page, "train-dataset")
    listed = client.get("/api/v1/sequences/datasets").json()
    assert listed
    for d in listed:
        option = re.search(rf'<option value="{re.escape(d["name"])}"[^>]*>', options)
        assert option, f"{d['name']} is not in the dataset select"
        assert ("disabled" in option.group(0)) == (not d["available"])
    # the generated sines are always there
    assert re.search(r'<option value="sine"(?![^>]*disabled)', options)


def test_models_fill_their_selects_by_task(page: str) -> None:
    generate, classify = _select(page, "gen-model"), _select(page, "cls-model")
    assert 'value="tiny-gen"' in generate and 'value="tiny-gen"' not in classify
    assert 'value="tiny-cls"' in classify and 'value="tiny-cls"' not in generate
    assert "(saved)" in generate
    # the cards travel with the page, so the figures show before any request
    assert '"bigram_val_loss": 2.5' in page


@pytest.mark.parametrize(("element_id", "low", "high"), [
    ("cell-hidden", 1, min(8, REC.hidden_size)),
    ("flow-length", 10, min(200, REC.flow_length)),
    ("flow-hidden", 1, REC.flow_hidden),
    ("train-layers", 1, SEQ.layers),
    ("train-hidden", 1, SEQ.hidden_size),
    ("train-embedding", 0, SEQ.embedding),
    ("train-seq-len", 2, SEQ.seq_len),
    ("train-batch", 1, SEQ.batch),
    ("train-epochs", 1, SEQ.epochs),
    ("train-clip", 0, SEQ.clip),
    ("gen-length", 1, SEQ.generate_length),
    ("gen-top-k", 0, SEQ.vocab),
])
def test_min_and_max_are_the_limits(page: str, element_id: str, low: int, high: float) -> None:
    tag = _tag(page, element_id)
    assert float(_attr(tag, "min")) == low
    assert float(_attr(tag, "max")) == high


def test_sliders_and_text_lengths_follow_the_limits(page: str) -> None:
    assert float(_attr(_tag(page, "flow-scale"), "max")) == min(3, REC.weight_scale)
    assert float(_attr(_tag(page, "gen-temperature"), "max")) == min(3, SEQ.temperature)
    assert int(_attr(_tag(page, "cell-text"), "maxlength")) == REC.steps
    assert int(_attr(_tag(page, "gen-prompt"), "maxlength")) == SEQ.prompt_chars
    assert int(_attr(_tag(page, "cls-text"), "maxlength")) == SEQ.text_chars
