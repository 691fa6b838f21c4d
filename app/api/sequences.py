"""The sequence lab: recurrent cells stepped by hand, the gradient flow, the memory task, char
models trained live on names, code and series, and generating or classifying with them."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, File, Form, Response, UploadFile
from fastapi.responses import FileResponse

from app.api.shared import (
    NOT_YOURS,
    QUEUE_FULL,
    YOUR_SHARE,
    errors,
    run_out,
    sequence_model_out,
)
from app.http.deps import ActorDep, CorporaDep, JobsDep, SequenceModelsDep, SettingsDep
from app.http.responses import ArrayJSON
from app.services import sequences
from app.services.corpora import CorpusInfo
from app.services.owners import upload_caps
from app.services.schemas import (
    ClassificationOut,
    ClassifyRequest,
    CorpusOut,
    GenerateRequest,
    GenerationOut,
    GradientFlowOut,
    GradientFlowRequest,
    MemoryRunRequest,
    RunOut,
    SequenceModelOut,
    SequenceRunRequest,
    TraceOut,
    TraceRequest,
)

router = APIRouter(prefix="/api/v1/sequences", tags=["sequences"])


def corpus_out(info: CorpusInfo) -> CorpusOut:
    return CorpusOut(**asdict(info) | {"tasks": list(info.tasks), "classes": list(info.classes)})


# ---------------------------------------------------------------- cells by hand

# These answer with the service's dict as it is (ArrayJSON: numpy arrays written by orjson):
# validating a 64-step trace against its model again, then writing it with the standard json
# module, would cost several times what computing it does. The response model still documents
# the shape.
@router.post("/trace", response_model=TraceOut, responses=errors(422))
def trace(req: TraceRequest) -> ArrayJSON:
    """A recurrent cell stepped through the inputs: each step's state, the LSTM's four gates
    and cell state or the GRU's reset, update and new state, and the step's equations with its
    numbers. The numbers equal `torch.nn.RNNCell` / `LSTMCell` / `GRUCell` with these weights."""
    return ArrayJSON(sequences.trace(req))


@router.post("/gradient-flow", response_model=GradientFlowOut, responses=errors(422))
def gradient_flow(req: GradientFlowRequest) -> ArrayJSON:
    """Why LSTMs exist: how strongly the last state still depends on each earlier input
    (`norms[k]` = ‖∂(Σ_j h_T[j]) / ∂x_t‖₂ at `t = T−1−lags[k]`), from autograd."""
    return ArrayJSON(sequences.gradient_flow(req))


@router.post("/memory-runs", status_code=201, response_model=RunOut,
             responses=errors(422, 429, _429=QUEUE_FULL))
async def memory_run(req: MemoryRunRequest, jobs: JobsDep, actor: ActorDep) -> RunOut:
    """Trains each cell to remember the first symbol after a delay of d blank steps, for each
    delay; follow it at `events_url` (events `memory` and `memory_result`, then `done` with the
    longest delay each cell learned)."""
    return run_out(await sequences.start_memory_run(req, jobs, actor), actor)


# ---------------------------------------------------------------- datasets

@router.get("/datasets", response_model=list[CorpusOut])
def list_datasets(corpora: CorporaDep) -> list[CorpusOut]:
    """Texts to generate (names by language, Python code, your own), names labelled by
    language, and series to forecast (sunspots, CO₂, sine mixtures, your CSV columns)."""
    return [corpus_out(info) for info in corpora.list()]


@router.get("/datasets/{name}", response_model=CorpusOut, responses=errors(404, 422))
def get_dataset(name: str, corpora: CorporaDep) -> CorpusOut:
    return corpus_out(corpora.info(name))


@router.post("/datasets", status_code=201, response_model=CorpusOut,
             responses=errors(409, 413, 422, 429, _429=YOUR_SHARE))
def upload_dataset(
        file: Annotated[UploadFile, File(description="a UTF-8 .txt, or a .csv with a column "
                                         "of numbers")],
        name: Annotated[str, Form(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9_-]*$",
                                  description="lowercase letters, digits, - and _")],
        corpora: CorporaDep, settings: SettingsDep, actor: ActorDep,
        column: Annotated[str | None, Form(max_length=80, description="the CSV column to "
                                           "use (default: the first all-numeric one)")] = None,
) -> CorpusOut:
    """Your own text (a character model learns to write like it) or series (a model learns to
    forecast it); the last tenth of its lines (a fifth of its values) is held out."""
    info = corpora.add_upload(name, file.filename or "", file.file.read(), column=column,
                              actor=actor, caps=upload_caps(settings))
    return corpus_out(info)


@router.delete("/datasets/{name}", status_code=204,
               responses=errors(403, 404, 409, _403=NOT_YOURS))
def delete_dataset(name: str, corpora: CorporaDep, actor: ActorDep) -> Response:
    """Deletes an uploaded sequence dataset (built-in ones stay)."""
    corpora.delete(name, actor)
    return Response(status_code=204)


# ---------------------------------------------------------------- training

@router.post("/training-runs", status_code=201, response_model=RunOut,
             responses=errors(404, 422, 429, _429=QUEUE_FULL))
async def create_run(req: SequenceRunRequest, jobs: JobsDep, corpora: CorporaDep,
                     actor: ActorDep) -> RunOut:
    """Trains a character model (or a series model) in the background; the run lives at
    `/api/v1/training-runs/{id}` like every other (events, pause, resume, cancel, save).
    Events: start (with the bigram baseline), progress, snapshot (samples, the hidden-state
    heatmap, or the forecast over the truth), epoch (train and validation loss), done."""
    return run_out(await sequences.start_training(req, jobs, corpora, actor), actor)


# ---------------------------------------------------------------- models

@router.get("/models", response_model=list[SequenceModelOut])
def list_models(models: SequenceModelsDep) -> list[SequenceModelOut]:
    """The shipped character models and the ones you saved, each with its validation loss
    beside the bigram baseline on the same split."""
    return [sequence_model_out(m) for m in models.list()]


@router.get("/models/{name}", response_model=SequenceModelOut, responses=errors(404))
def get_model(name: str, models: SequenceModelsDep) -> SequenceModelOut:
    return sequence_model_out(models.get(name))


@router.get("/models/{name}/weights", response_class=FileResponse,
            responses={200: {"content": {"application/octet-stream": {}}}, **errors(404)})
def get_model_weights(name: str, models: SequenceModelsDep) -> FileResponse:
    """The weights as a safetensors file; the card's `config` builds the net."""
    return FileResponse(models.get(name).weights, media_type="application/octet-stream",
                        filename=f"{name}.safetensors")


@router.post("/models/{name}/generate", response_model=GenerationOut,
             responses=errors(404, 422, _404="no such model, or a model that does not write "
                              "(a classifier)"))
def generate(name: str, req: GenerateRequest, models: SequenceModelsDep) -> ArrayJSON:
    """Characters after a prompt, sampled at a temperature (and among the top k), with the five
    likeliest next characters of every step (`p` as sampled, `p_raw` at temperature 1). The
    same seed gives the same text."""
    return ArrayJSON(sequences.generate(models, name, req))


@router.post("/models/{name}/classify", response_model=ClassificationOut,
             responses=errors(404, 422, _404="no such model, or a model that does not classify "
                              "(a writer)"))
def classify(name: str, req: ClassifyRequest, models: SequenceModelsDep) -> ClassificationOut:
    """A name's language: the probability of each, after the whole name and after each
    prefix (how the answer changes character by character)."""
    return ClassificationOut(**sequences.classify(models, name, req))
