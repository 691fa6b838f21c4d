"""examples/playground.ipynb, executed as a reader would: a real server under uvicorn (with a
scratch data directory), the notebook run top to bottom in an ipykernel on this interpreter by
nbclient, and its printed outputs checked against what the API itself answers."""

from __future__ import annotations

import base64
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from nbclient import NotebookClient
from PIL import Image

from app.client import Playground
from tests.servers import scratch_data_dir, served

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "examples" / "playground.ipynb"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # the notebook needs neither MNIST nor the photos (it falls back to a drawn sample image)
    with served(scratch_data_dir(tmp_path_factory.mktemp("data"))) as url:
        yield url


@pytest.fixture
def kernel_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A "python3" kernelspec that runs this interpreter (so the kernel imports this checkout's
    packages), found first on JUPYTER_PATH; the kernel's runtime files and IPython's profile
    stay in the scratch directory."""
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    return "python3"


def _stdout(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream"
                   and o.get("name") == "stdout")


def _pictures(cell) -> list[Image.Image]:
    return [Image.open(io.BytesIO(base64.b64decode(o["data"]["image/png"])))
            for o in cell.outputs if "image/png" in o.get("data", {})]


def _cell(nb, snippet: str):
    """The one code cell whose source contains `snippet`."""
    found = [c for c in nb.cells if c.cell_type == "code" and snippet in c.source]
    assert len(found) == 1, f"{len(found)} cells contain {snippet!r}"
    return found[0]


def test_the_notebook_is_stored_without_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.slow
def test_the_notebook_runs_every_lab_against_a_real_server(
        server: str, kernel_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAYGROUND_URL", server)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # raises CellExecutionError (with the cell and its traceback) if any cell fails
    NotebookClient(nb, kernel_name=kernel_env, timeout=120,
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()

    # the kernel lab: the photo and its two filtered versions, side by side at 200 px
    [panels] = _pictures(_cell(nb, "diagonal = "))
    assert panels.height == 200 and panels.width > 3 * 200

    # the stepper: the written-out dot product and the output size, as conv2d computes them
    out = torch.nn.functional.conv2d(torch.arange(25.0).reshape(1, 1, 5, 5),
                                     torch.tensor([[1.0, 0, -1]] * 3)[None, None],
                                     stride=2, padding=1)[0, 0]
    printed = _stdout(_cell(nb, "trace_convolution")).splitlines()
    value = f"{out[1, 1].item():g}".replace("-", "−")
    assert printed[0].startswith("output cell [1, 1]: 6×1 + 7×0 + 8×(−1)")
    assert printed[0].endswith(f" = {value}")
    assert printed[2].startswith("height:") and printed[2].endswith(f"= {out.shape[0]}")
    assert printed[3].startswith("width:") and printed[3].endswith(f"= {out.shape[1]}")

    # training: progress lines, the cancelled run's validation pass, its learned filters
    training = _cell(nb, "pg.train(")
    text = _stdout(training)
    assert text.count("loss ") >= 5 and "validation accuracy after" in text
    assert text.rstrip().endswith("the run is stopped")
    assert len(_pictures(training)) == 1

    # the inspector, the generative and the sequence labs print what the API answers
    with Playground(server) as pg:
        label = pg.predict("mnist-cnn", "sample-digit")["label"]
        best = pg.classify("names-language-gru", "Garcia")["best"]
        names = pg.generate("names-lstm", length=60, temperature=0.5, seed=0)["text"]
        latents = pg.interpolate("vae-2d", [-2, -1], [2, 1.5], steps=8)["latents"]
        runs = pg.request("GET", "/training-runs").json()
    inspector = _stdout(_cell(nb, 'pg.predict("mnist-cnn"'))
    assert f"mnist-cnn reads a {label} (" in inspector
    assert "MaxPool 2×2, stride 2" in inspector and "→ [32, 7, 7]" in inspector
    [maps] = _pictures(_cell(nb, 'activations[2]["png"]'))
    assert maps.width > maps.height  # 16 maps in a row
    [frames] = _pictures(_cell(nb, "pg.interpolate("))
    assert frames.height == 84 and frames.width >= 8 * 84
    assert str(np.round(latents, 2).tolist()) in _stdout(_cell(nb, "pg.interpolate("))
    generated = _stdout(_cell(nb, "pg.generate(")).splitlines()
    assert generated[0] == "temperature 0.5: " + ", ".join(names.splitlines()[:-1])
    assert len(generated) == 3
    assert _stdout(_cell(nb, "pg.classify(")).startswith(f"Garcia: {best} ")

    assert runs == []  # the last cell deleted the demo run

    # the refused request shows the API's status, field and message
    refused = _stdout(_cell(nb, "except PlaygroundError"))
    assert refused.startswith("422 ") and "kernel" in refused
