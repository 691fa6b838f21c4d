"""A small Python client for the playground's REST API, for notebooks.

    from app.client import Playground
    pg = Playground("http://127.0.0.1:8000")
    edges = pg.convolve("sample-shapes", [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], display="abs")

What comes back: grids of numbers as numpy arrays, pictures as PIL images (a PNG answer, and
every `data:image/png;base64,…` string inside a JSON answer), everything else as the API's
JSON (dicts and lists). Every 4xx/5xx answer raises `PlaygroundError`.

An image argument may be a PIL image, the bytes of an image file, a path to one (a
`pathlib.Path`, or a `str` naming an existing file; these are uploaded first) or the id of an
image already on the server (a `str`, such as "sample-digit").

It needs httpx, which the app itself does not: `pip install 'dl-playground[client]'`. It imports
nothing else of the app (tests/unit/test_layers.py checks), so it works against any playground.
"""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    import httpx

__all__ = ["Playground", "PlaygroundError", "Run"]

API = "/api/v1"


def _httpx():
    try:
        import httpx
    except ImportError:
        raise ImportError("the playground client needs httpx: "
                          "pip install 'dl-playground[client]'") from None
    return httpx


class PlaygroundError(Exception):
    """A 4xx or 5xx answer: its status, and the API's error `code`, `message` and `field` (the
    request field at fault, or None)."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(f"{status} {code}: {message}" + (f" (field: {field})" if field else ""))
        self.status, self.code, self.message, self.field = status, code, message, field


def _plain(value: Any) -> Any:
    """numpy arrays and numbers inside a request body as plain JSON values."""
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _with_digit(body: dict, digit: Any) -> dict:
    """A generative request's body, with the digit a class-conditional GAN is asked for."""
    return body if digit is None else body | {"digit": digit}


def _pictures(value: Any) -> Any:
    """Every PNG data URL inside a JSON answer as a PIL image."""
    if isinstance(value, str) and value.startswith("data:image/"):
        return Image.open(io.BytesIO(base64.b64decode(value.split(",", 1)[1])))
    if isinstance(value, dict):
        return {k: _pictures(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_pictures(v) for v in value]
    return value


def _image_bytes(image: Any) -> bytes:
    if isinstance(image, Image.Image):
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        return buf.getvalue()
    if isinstance(image, bytes | bytearray):
        return bytes(image)
    return Path(image).read_bytes()


def _is_file(image: Any) -> bool:
    return isinstance(image, os.PathLike) or (isinstance(image, str) and os.path.isfile(image))


class Playground:
    """The playground at `base_url`, or through an httpx client you already have (`client=`,
    e.g. FastAPI's TestClient on the app)."""

    def __init__(self, base_url: str = "http://127.0.0.1:8000", timeout: float = 60, *,
                 client: httpx.Client | None = None):
        self.http = client if client is not None else _httpx().Client(base_url=base_url,
                                                                      timeout=timeout)
        self._owned = client is None

    def close(self) -> None:
        if self._owned:
            self.http.close()

    def __enter__(self) -> Playground:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ plumbing

    def request(self, method: str, path: str, *, json: Any = None, **kw: Any) -> httpx.Response:
        """One call to `API + path`; raises PlaygroundError for a 4xx or 5xx answer."""
        r = self.http.request(method, API + path,
                              json=None if json is None else _plain(json), **kw)
        _raise_for(r)
        return r

    def _answer(self, method: str, path: str, **kw: Any) -> Any:
        """The answer: a PIL image for a picture, else the JSON with its pictures decoded."""
        r = self.request(method, path, **kw)
        if r.headers.get("content-type", "").startswith("image/"):
            return Image.open(io.BytesIO(r.content))
        return _pictures(r.json()) if r.content else None

    def _image_id(self, image: Any) -> str:
        return image if isinstance(image, str) and not _is_file(image) else self.upload(image)

    def _source(self, image_or_pixels: Any) -> dict:
        """An inspector input: pixels (a 2-D array of 0-255), a test-set example (an int), an
        image id, or an image file (sent as the multipart upload)."""
        if isinstance(image_or_pixels, int):
            return {"json": {"example": image_or_pixels}}
        if isinstance(image_or_pixels, np.ndarray | list):
            return {"json": {"pixels": image_or_pixels}}
        if isinstance(image_or_pixels, str) and not _is_file(image_or_pixels):
            return {"json": {"image_id": image_or_pixels}}
        return {"files": {"file": ("image", _image_bytes(image_or_pixels))}}

    # ------------------------------------------------------------ images and kernels

    def images(self) -> list[dict]:
        """The built-in sample images: id, width, height, title, credit…"""
        return self.request("GET", "/images").json()

    def upload(self, image: Any) -> str:
        """Uploads an image (PIL image, file bytes or a path); returns its id."""
        r = self.request("POST", "/images", files={"file": ("image", _image_bytes(image))})
        return r.json()["id"]

    def image(self, image_id: str, size: str = "full") -> Image.Image:
        """An image on the server (an upload or a sample), as stored."""
        return self._answer("GET", f"/images/{image_id}", params={"size": size})

    def image_grid(self, image: Any, rows: int = 16, cols: int = 16, channels: str = "gray"
                   ) -> np.ndarray:
        """An image as a small grid of 0-255 numbers (rows × cols, or 3 × rows × cols)."""
        r = self.request("GET", f"/images/{self._image_id(image)}/grid",
                         params={"rows": rows, "cols": cols, "channels": channels})
        return np.array(r.json()["input"], dtype=float)

    def kernel_presets(self) -> dict[str, dict]:
        """The classic kernels by key ('sobel-x', 'gaussian-3'…): name, `matrix` (an array),
        `scale` (the divisor to pass to convolve) and a one-line explanation."""
        return {p["key"]: p | {"matrix": np.array(p["matrix"])}
                for p in self.request("GET", "/kernels/presets").json()}

    def convolve(self, image_or_grid: Any, kernel: Any, **settings: Any
                 ) -> np.ndarray | Image.Image:
        """A kernel over a grid (a 2-D numpy array → the output as an array) or over an image
        (→ the filtered PIL image). `settings`: stride, padding ('valid', 'same' or cells),
        padding_mode, dilation, scale, bias, flip; for images also channels, display, size,
        format."""
        body = {"kernel": kernel, **settings}
        if isinstance(image_or_grid, np.ndarray | list):
            out = self.request("POST", "/convolve", json={"input": image_or_grid, **body})
            return np.array(out.json()["output"])
        return self._answer("POST", "/convolve",
                            json={"image_id": self._image_id(image_or_grid), **body})

    def filter_bank(self, image_or_grid: Any, kernels: Any, **settings: Any) -> dict:
        """Several kernels at once (a {name: kernel} dict, or a list of kernels named "0", "1"…):
        {name: its map}, an array for a grid, a PIL image for an image."""
        named = kernels.items() if isinstance(kernels, dict) else (
            (str(i), k) for i, k in enumerate(kernels))
        body = {"kernels": [{"name": n, "kernel": k} for n, k in named], **settings}
        if isinstance(image_or_grid, np.ndarray | list):
            maps = self.request("POST", "/filter-bank",
                                json={"input": image_or_grid, **body}).json()["maps"]
            return {m["name"]: np.array(m["output"]) for m in maps}
        body["image_id"] = self._image_id(image_or_grid)
        maps = self.request("POST", "/filter-bank", json=body).json()["maps"]
        return {m["name"]: self._answer("GET", m["url"].removeprefix(API)) for m in maps}

    def trace_convolution(self, grid: Any, kernel: Any, **kw: Any) -> dict:
        """The stepper's trace of a convolution (stride, padding, dilation, bias): every
        window's products, sum and arithmetic (`steps`); `output` as an array."""
        t = self.request("POST", "/stepper/convolution",
                         json={"input": grid, "kernel": kernel, **kw}).json()
        return t | {"output": np.array(t["output"])}

    def trace_pooling(self, grid: Any, **kw: Any) -> dict:
        """The stepper's trace of a pooling (op 'max'/'avg'/'sum', size, stride, padding,
        ceil_mode, count_include_pad); `output` and `flattened` as arrays."""
        t = self.request("POST", "/stepper/pooling", json={"input": grid, **kw}).json()
        return t | {"output": np.array(t["output"]), "flattened": np.array(t["flattened"])}

    # ------------------------------------------------------------ models and the inspector

    def models(self, kind: str = "classifier") -> list[dict]:
        """The model cards: 'classifier' (image CNNs), 'generative' or 'sequence'."""
        path = {"classifier": "/models", "generative": "/generative/models",
                "sequence": "/sequences/models"}[kind]
        return self.request("GET", path).json()

    def predict(self, model: str, image_or_pixels: Any) -> dict:
        """Class probabilities for one input (see `_source`): prediction, label,
        probabilities, and `input_png`, the input as the model saw it (a PIL image)."""
        return self._answer("POST", f"/models/{model}/predict", **self._source(image_or_pixels))

    def activations(self, model: str, image_or_pixels: Any, scale: str = "each",
                    values: bool = False) -> dict:
        """Every layer's output for one input: `layers`, each with its maps as one PIL image
        (`png`) and, with values=True, the raw numbers as an array (`values`)."""
        out = self._answer("POST", f"/models/{model}/activations",
                           params={"scale": scale, "values": values},
                           **self._source(image_or_pixels))
        for layer in out["layers"]:
            if "values" in layer:
                layer["values"] = np.array(layer["values"])
        return out

    # ------------------------------------------------------------ the generative lab

    def decode(self, model: str, z: Any, digit: int | None = None) -> Image.Image:
        """One latent point → the 28×28 digit; `.info["outside_prior"]` says whether some
        coordinate lies beyond ±4. `digit`: the one a class-conditional GAN (cgan) draws."""
        r = self.request("POST", f"/generative/{model}/decode",
                         json=_with_digit({"z": z}, digit))
        img = Image.open(io.BytesIO(r.content))
        img.info["outside_prior"] = r.headers.get("x-outside-prior") == "1"
        return img

    def decode_many(self, model: str, zs: Any, digit: Any = None) -> list[Image.Image]:
        """Several latent points (rows) → one 28×28 gray PIL image each (`digit`: a cgan's,
        one for all or one per point)."""
        out = self.request("POST", f"/generative/{model}/decode",
                           json=_with_digit({"z": zs, "format": "json"}, digit)).json()
        return [Image.fromarray(np.array(p, dtype=np.uint8)) for p in out["images"]]

    def encode(self, model: str, image_or_pixels: Any) -> dict:
        """A digit → its latent Gaussian (a VAE): mean, log_var, std, and the input and its
        reconstruction as PIL images."""
        return self._answer("POST", f"/generative/{model}/encode",
                            **self._source(image_or_pixels))

    def sample(self, model: str, count: int = 16, seed: int = 0, digit: int | None = None
               ) -> dict:
        """`count` seeded draws from the prior: `latents` (an array), `png` (the grid of them,
        a PIL image), `clipped`, and a cgan's `digits` (`digit` at each, or 0-9 in turn)."""
        out = self._answer("POST", f"/generative/{model}/sample",
                           json=_with_digit({"count": count, "seed": seed}, digit))
        return out | {"latents": np.array(out["latents"])}

    def interpolate(self, model: str, start: Any, end: Any, steps: int = 8,
                    method: str = "linear", digit: int | None = None) -> dict:
        """The frames between two latent points: `frames` (PIL images), `png` (the strip),
        `latents` (an array), `outside_prior`, `max_abs_z`; a cgan draws `digit` in each."""
        out = self._answer("POST", f"/generative/{model}/interpolate",
                           json=_with_digit({"start": start, "end": end, "steps": steps,
                                             "method": method}, digit))
        return out | {"latents": np.array(out["latents"])}

    # ------------------------------------------------------------ the sequence lab

    def sequence_trace(self, cell: str, inputs: Any, hidden_size: int, **kw: Any) -> dict:
        """A recurrent cell ('rnn', 'lstm', 'gru') stepped through `inputs` (T rows): each
        step's h (and c, gates, the equations with numbers), and `weights` in torch's layout
        as arrays. `kw`: weights, h0, c0, seed."""
        inputs = _plain(inputs)
        body = {"cell": cell, "input_size": len(inputs[0]), "hidden_size": hidden_size,
                "inputs": [[float(v) for v in row] for row in inputs], **kw}
        t = self.request("POST", "/sequences/trace", json=body).json()
        return t | {"weights": {k: np.array(v) for k, v in t["weights"].items()}}

    def gradient_flow(self, cell: str = "rnn", hidden_size: int = 16, length: int = 50,
                      **kw: Any) -> dict:
        """How strongly the last state depends on each earlier input: `lags` and `norms`
        (None where it overflows). `kw`: seed, weight_scale, forget_bias."""
        return self.request("POST", "/sequences/gradient-flow", json={
            "cell": cell, "hidden_size": hidden_size, "length": length, **kw}).json()

    def generate(self, model: str, prompt: str = "", length: int = 200,
                 temperature: float = 1.0, top_k: int = 0, seed: int = 0) -> dict:
        """Characters after `prompt` from a character model: `text`, and per step the five
        likeliest next characters (`steps`). The same seed gives the same text."""
        return self.request("POST", f"/sequences/models/{model}/generate", json={
            "prompt": prompt, "length": length, "temperature": float(temperature),
            "top_k": top_k, "seed": seed}).json()

    def classify(self, model: str, text: str) -> dict:
        """A name's language: classes, probs, best, and the answer after each prefix."""
        return self.request("POST", f"/sequences/models/{model}/classify",
                            json={"text": text}).json()

    # ------------------------------------------------------------ training runs

    def train(self, **body: Any) -> Run:
        """Starts an image-classifier run (dataset, architecture, optimizer, learning_rate,
        batch_size, epochs, seed): see POST /api/v1/training-runs."""
        return Run(self, self.request("POST", "/training-runs", json=body).json())

    def train_sequence(self, **body: Any) -> Run:
        """Starts a character (or series) model run (dataset, cell, hidden_size, epochs…)."""
        return Run(self, self.request("POST", "/sequences/training-runs", json=body).json())

    def train_generative(self, **body: Any) -> Run:
        """Starts a short VAE or GAN run (task, latent, epochs, dataset, seed)."""
        return Run(self, self.request("POST", "/generative/training-runs", json=body).json())

    def run(self, run_id: str) -> Run:
        """A run that already exists, by its id."""
        return Run(self, self.request("GET", f"/training-runs/{run_id}").json())


class Run:
    """A training run on the server. `info` is its record as last seen (status, metrics…)."""

    def __init__(self, playground: Playground, info: dict):
        self.pg, self.info, self.id = playground, info, info["id"]

    def __repr__(self) -> str:
        return f"Run({self.id!r}, status={self.info['status']!r})"

    def _post(self, action: str) -> dict:
        self.info = self.pg.request("POST", f"/training-runs/{self.id}/{action}").json()
        return self.info

    def status(self) -> dict:
        """Its record now: status (queued, running, paused, stopping, completed, stopped,
        failed…), the latest metrics, has_weights."""
        self.info = self.pg.request("GET", f"/training-runs/{self.id}").json()
        return self.info

    def events(self, after: int = 0) -> Iterator[tuple[str, dict]]:
        """The run's events as (kind, data) — status, start, progress, snapshot (pictures as
        PIL images), epoch, done… — from event `after` on, ending when the run ends. Leaving
        the loop early never stops the run."""
        with self.pg.http.stream("GET", f"{API}/training-runs/{self.id}/events",
                                 params={"after": after}) as r:
            if r.status_code >= 400:
                r.read()
                _raise_for(r)
            kind, data = "message", []
            for line in r.iter_lines():
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].removeprefix(" "))
                elif not line and data:
                    yield kind, _pictures(json.loads("\n".join(data)))
                    kind, data = "message", []
            if data:
                yield kind, _pictures(json.loads("\n".join(data)))

    def wait(self) -> dict:
        """Follows the events to the end; returns the final record."""
        for _ in self.events():
            pass
        return self.status()

    def pause(self) -> dict:
        """Pauses after the current batch; returns the record."""
        return self._post("pause")

    def resume(self) -> dict:
        return self._post("resume")

    def cancel(self) -> dict:
        """Stops the run (a running one keeps its model as it is); returns the record."""
        return self._post("cancel")

    def save(self, name: str) -> dict:
        """Keeps its trained weights as the model `name`; returns the model card."""
        return self.pg.request("POST", f"/training-runs/{self.id}/model",
                               json={"name": name}).json()

    def delete(self) -> None:
        """Deletes an ended run (its record and weights; saved models stay)."""
        self.pg.request("DELETE", f"/training-runs/{self.id}")


def _raise_for(r: httpx.Response) -> None:
    if r.status_code < 400:
        return
    try:
        err = r.json()["error"]
        code, message, field = err["code"], err["message"], err.get("field")
    except (ValueError, KeyError, TypeError):  # not the API's error shape (a proxy, a 500)
        code, message, field = "http_error", r.text[:500] or r.reason_phrase, None
    raise PlaygroundError(r.status_code, code, message, field)
