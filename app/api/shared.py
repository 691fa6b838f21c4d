"""What several JSON routers share (none of them imports another): the documented error
responses, the run resource's shape with its URLs, and a sequence model's (a run's save route
answers with one)."""

from __future__ import annotations

from dataclasses import asdict

from app.services.models import StoredModel
from app.services.owners import LOCAL, Actor
from app.services.runs.records import RunRecord
from app.services.schemas import ErrorResponse, RunOut, SequenceModelOut

DESCRIPTIONS = {
    403: "someone else's: only its owner may do this",
    404: "unknown id or name",
    409: "not possible in its current state",
    413: "body or image too large",
    415: "not a format we take",
    422: "invalid values, or a corrupt file",
    429: "the training queue is full (see Retry-After)",
}


# shared mode's words (README, "Hosting a class")
NOT_YOURS = "shared mode: someone else's; only its owner (or the admin token) may change it"
YOUR_SHARE = "shared mode: you keep the most one visitor may (see Retry-After)"
QUEUE_FULL = ("the training queue is full, or (shared mode) you have the most runs one visitor "
              "may have at once; see Retry-After")


def errors(*codes: int, **descriptions: str) -> dict[int | str, dict]:
    """OpenAPI `responses` for these statuses, each in the error shape; `_404="…"` words one."""
    said = {int(k.lstrip("_")): v for k, v in descriptions.items()}
    return {c: {"model": ErrorResponse, "description": said.get(c, DESCRIPTIONS[c])}
            for c in codes}


def run_out(record: RunRecord, actor: Actor = LOCAL) -> RunOut:
    return RunOut(**asdict(record), events_url=f"/api/v1/training-runs/{record.id}/events",
                  yours=actor.may_change(record.owner))


def sequence_model_out(model: StoredModel) -> SequenceModelOut:
    card = model.sequence
    return SequenceModelOut(
        name=model.name, task=card.task, cell=str(card.config.get("cell", "")),
        config=card.config, vocab=card.vocab,
        classes=None if card.classes is None else list(card.classes), dataset=card.dataset,
        metrics=card.metrics or {}, params=card.params, trained=card.trained,
        command=card.command, summary=card.summary, shipped=model.shipped,
        weights_url=f"/api/v1/sequences/models/{model.name}/weights")
