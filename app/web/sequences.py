"""The sequence lab's page. Every number on it comes from /api/v1/sequences/... (a trace, the
gradient flow, runs and their events, generating and classifying): the page renders the selects
filled, so the first paint already lists the datasets and the models."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.http.deps import CorporaDep, SequenceModelsDep, TemplatesDep
from app.services.corpora import CorpusInfo
from app.services.models import StoredModel

router = APIRouter(include_in_schema=False)


def _dataset(info: CorpusInfo) -> dict:
    return asdict(info) | {"tasks": list(info.tasks), "classes": list(info.classes)}


def _model(stored: StoredModel) -> dict:
    """What the page shows of a model's card (the API's /models entry, in short)."""
    card = stored.sequence
    return {"name": stored.name, "task": card.task, "cell": str(card.config.get("cell", "")),
            "config": card.config, "classes": list(card.classes or ()),
            "dataset": card.dataset, "metrics": card.metrics or {}, "params": card.params,
            "shipped": stored.shipped}


# sync on purpose: listing reads the prepared files and the model cards from disk, so it runs on
# the thread pool
@router.get("/sequences", response_class=HTMLResponse)
def sequences_page(request: Request, templates: TemplatesDep, corpora: CorporaDep,
                   models: SequenceModelsDep) -> HTMLResponse:
    datasets = [_dataset(info) for info in corpora.list()]
    cards = [_model(m) for m in models.list()]
    return templates.TemplateResponse(request, "sequences.html", {
        "datasets": datasets, "models": cards,
        "generators": [m for m in cards if m["task"] == "generate"],
        "classifiers": [m for m in cards if m["task"] == "classify"]})
