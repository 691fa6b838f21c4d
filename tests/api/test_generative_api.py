"""The generative lab's API on the shipped models, and the sample quality the issue asks for."""

from __future__ import annotations

import base64
import functools
import io

import numpy as np
import pytest
import torch
from fastapi import WebSocketDisconnect
from fastapi.testclient import TestClient
from PIL import Image
from safetensors.torch import load_file

from app.core import generative as gen
from app.core.training import to_inputs
from app.services.datasets import Catalog, CatalogConfig
from app.services.models import read
from app.settings import LIMITS, ROOT
from tests.mnist import needs_mnist

GENERATIVE = ROOT / "models" / "generative"


@pytest.fixture(scope="module")
def client(mnist_client: TestClient) -> TestClient:
    return mnist_client


@functools.cache
def decoder(name: str) -> torch.nn.Module:
    stored = read(GENERATIVE / name / "model")
    model = gen.build(stored.generative.config)
    model.load_state_dict(load_file(stored.weights))
    return model.eval()


def test_the_five_models_are_listed(client: TestClient) -> None:
    models = {m["name"]: m for m in client.get("/api/v1/generative/models").json()}
    assert set(models) == {"vae-2d", "vae-16d", "ae-2d", "dcgan", "cgan"}
    assert {n: m["classes"] for n, m in models.items()} == {
        "vae-2d": 0, "vae-16d": 0, "ae-2d": 0, "dcgan": 0, "cgan": 10}
    assert models["cgan"]["kind"] == "gan" and not models["cgan"]["has_encoder"]
    assert (models["ae-2d"]["kind"], models["ae-2d"]["latent"]) == ("ae", 2)
    assert models["ae-2d"]["has_encoder"] and models["ae-2d"]["has_map"]
    assert (models["vae-2d"]["kind"], models["vae-2d"]["latent"]) == ("vae", 2)
    assert models["vae-16d"]["latent"] == 16 and models["dcgan"]["kind"] == "gan"
    assert models["dcgan"]["latent"] in (32, 64) and models["vae-2d"]["has_map"]
    for name in models:
        assert (GENERATIVE / name / "MODEL_CARD.md").exists()


def test_decode_is_the_decoder_applied_to_z(client: TestClient) -> None:
    z = [0.5, -1.25]
    png = client.post("/api/v1/generative/vae-2d/decode", json={"z": z})
    assert png.headers["content-type"] == "image/png"
    shown = np.asarray(Image.open(io.BytesIO(png.content)))
    with torch.no_grad():
        expected = decoder("vae-2d").decode(torch.tensor([z]))[0, 0]
    # the slider path decodes in numpy: the same pixels, give or take float32 rounding
    reference = (expected * 255).round().to(torch.uint8).numpy().astype(int)
    assert np.abs(shown.astype(int) - reference).max() <= 1
    batch = client.post("/api/v1/generative/vae-2d/decode",
                        json={"z": [z, [0, 0]], "format": "json"}).json()["images"]
    assert np.array(batch).shape == (2, 28, 28) and batch[0] == shown.tolist()


def test_the_live_lane_answers_each_point_with_its_picture(client: TestClient) -> None:
    """The sliders' WebSocket: each point's PNG is the decoder applied to it (the same bytes as
    POST …/decode); a refused point gets the reason and the connection stays open."""
    rng = np.random.default_rng(3)
    points = [rng.normal(size=16).round(2).tolist() for _ in range(3)]
    with client.websocket_connect("/api/v1/generative/vae-16d/live") as ws:
        for z in points:
            ws.send_json({"z": z})
            shown = np.asarray(Image.open(io.BytesIO(ws.receive_bytes()))).astype(int)
            with torch.no_grad():
                expected = decoder("vae-16d").decode(torch.tensor([z]))[0, 0]
            assert np.abs(shown - (expected * 255).round().numpy()).max() <= 1
        for bad, reason in (({"z": [0.0] * 15}, "16 numbers"), ({"z": [2e6] * 16}, "1,000,000"),
                            ({"z": ["0.5"] * 16}, "list of 16 numbers"),
                            ({"z": [[0.0] * 16] * 2}, "one point"), ({"x": 1}, "nothing else")):
            ws.send_json(bad)
            err = ws.receive_json()["error"]
            assert err["code"] == "invalid_value" and reason in err["message"], err
        for literal in ("NaN", "Infinity", "-Infinity"):  # Python's json reads these
            ws.send_text(f'{{"z": [{literal}{", 0" * 15}]}}')
            assert "finite" in ws.receive_json()["error"]["message"]
        ws.send_text(" " * 20_000)
        assert "16,384" in ws.receive_json()["error"]["message"]
        ws.send_text("{not json")
        assert "JSON" in ws.receive_json()["error"]["message"]
        ws.send_bytes(b"\x00\x01")
        assert "text message" in ws.receive_json()["error"]["message"]
        ws.send_json({"z": points[0]})  # still open, still answering
        first = ws.receive_bytes()
    assert first == client.post("/api/v1/generative/vae-16d/decode",
                                   json={"z": points[0]}).content
    with client.websocket_connect("/api/v1/generative/dcgan/live") as ws:
        z = rng.normal(size=64).round(2).tolist()
        ws.send_json({"z": z})
        assert ws.receive_bytes() == client.post("/api/v1/generative/dcgan/decode",
                                                 json={"z": z}).content


def test_the_live_lane_of_an_unknown_model_says_so_and_closes(client: TestClient) -> None:
    with client.websocket_connect("/api/v1/generative/nope/live") as ws:
        err = ws.receive_json()["error"]
        assert err["code"] == "not_found" and "/api/v1/generative/models" in err["message"]
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert closed.value.code == 1008


@pytest.mark.parametrize(("path", "body", "field"), [
    ("vae-2d/decode", {"z": [0, 0, 0]}, "z"),
    ("dcgan/decode", {"z": [0, 0]}, "z"),
    ("vae-2d/decode", {"z": [0, 2e6]}, "z"),  # past the sanity bound (the prior's is 4)
    ("vae-2d/decode", {"z": ["0.5", 0]}, "z"),  # a string is not a number
    ("vae-2d/decode", {"z": [True, 0]}, "z"),
    ("vae-2d/interpolate", {"start": [0, "1"], "end": [1, 1]}, "start"),
    ("vae-2d/interpolate", {"start": [0, 0], "end": [1, -2e6]}, "end"),
    ("vae-2d/interpolate", {"start": [0, 0], "end": [1, 1], "steps": 1}, "steps"),
    ("vae-2d/interpolate", {"start": [0, 0], "end": [1, 1], "steps": 65}, "steps"),
    ("vae-16d/arithmetic", {"plus": []}, "plus"),
    ("cgan/decode", {"z": [0] * 64}, "digit"),  # a conditional GAN must be told the digit
    ("cgan/decode", {"z": [[0] * 64] * 2, "digit": [1, 2, 3]}, "digit"),  # one per point
    ("cgan/decode", {"z": [0] * 64, "digit": 10}, "digit"),
    ("cgan/decode", {"z": [0] * 64, "digit": True}, "digit"),
    ("cgan/interpolate", {"start": [0] * 64, "end": [1] * 64}, "digit"),
    ("dcgan/decode", {"z": [0] * 64, "digit": 3}, "digit"),  # the others cannot take one
    ("vae-2d/interpolate", {"start": [0, 0], "end": [1, 1], "digit": 3}, "digit"),
])
def test_bad_requests_are_refused_with_a_reason(client: TestClient, path: str, body: dict,
                                                field: str) -> None:
    r = client.post(f"/api/v1/generative/{path}", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field


def test_nan_and_unknown_models(client: TestClient) -> None:
    for body in (b'{"z": [NaN, 0]}', b'{"z": [0, Infinity]}', b'{"z": [[0, 0], [-Infinity, 0]]}',
                 b'{"z": [0, 1e400]}'):
        r = client.post("/api/v1/generative/vae-2d/decode", content=body,
                        headers={"content-type": "application/json"})
        assert r.status_code == 422 and "finite" in r.json()["error"]["message"], body
        assert r.json()["error"]["field"] == "z"
    assert client.post("/api/v1/generative/nope/decode", json={"z": [0]}).status_code == 404



@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "dcgan/encode", {"example": 0}),  # a GAN has no encoder
    ("POST", "cgan/arithmetic", {"plus": ["1"]}),  # its points hold the style, not the digit
    ("GET", "vae-16d/manifold", None),  # the map of a 2-D latent space
    ("GET", "dcgan/latent-map", None),
])
def test_what_a_model_cannot_do_is_a_conflict(client: TestClient, method: str, path: str,
                                               body: dict | None) -> None:
    r = client.request(method, f"/api/v1/generative/{path}", json=body)
    assert r.status_code == 409, r.text
    assert r.json()["error"]["field"] == "model" and r.json()["error"]["code"] == "conflict"


def test_a_draw_outside_the_prior_is_decoded_and_said_to_be(client: TestClient) -> None:
    """A 64-D standard-normal draw with a coordinate at 4.5 (one draw in ~250 has one beyond 4)
    decodes like any other, and each answer says it lies outside the prior: the PNG's
    X-Outside-Prior header, the JSON's `outside_prior`, the live lane's picture."""
    z = np.random.default_rng(5).normal(size=64).clip(-3, 3).round(3).tolist()
    far = [*z[:-1], 4.5]
    png = client.post("/api/v1/generative/dcgan/decode", json={"z": far})
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.headers["x-outside-prior"] == "1" and float(png.headers["x-max-abs-z"]) == 4.5
    body = client.post("/api/v1/generative/dcgan/decode",
                       json={"z": [z, far], "format": "json"}).json()
    assert body["outside_prior"] is True and body["max_abs_z"] == 4.5
    assert np.array(body["images"]).shape == (2, 28, 28)
    inside = client.post("/api/v1/generative/dcgan/decode", json={"z": z})
    assert inside.headers["x-outside-prior"] == "0" and float(inside.headers["x-max-abs-z"]) <= 3
    assert client.post("/api/v1/generative/dcgan/decode",
                       json={"z": z, "format": "json"}).json()["outside_prior"] is False
    with client.websocket_connect("/api/v1/generative/dcgan/live") as ws:
        ws.send_json({"z": far})
        assert ws.receive_bytes() == png.content
    huge = client.post("/api/v1/generative/vae-16d/decode",
                       json={"z": [1e6] * 8 + [-1e6] * 8, "format": "json"}).json()
    assert huge["outside_prior"] and huge["max_abs_z"] == 1e6  # the sanity bound itself decodes
    ends = client.post("/api/v1/generative/vae-16d/interpolate", json={
        "start": [0.0] * 15 + [6.0], "end": [0.0] * 16, "steps": 4}).json()
    assert ends["outside_prior"] is True and ends["max_abs_z"] == 6.0
    assert ends["latents"][0][-1] == 6.0 and len(ends["frames"]) == 4
    near = client.post("/api/v1/generative/vae-16d/interpolate", json={
        "start": [1.0] * 16, "end": [-1.0] * 16, "steps": 3}).json()
    assert near["outside_prior"] is False and near["max_abs_z"] == 1.0


def test_the_schema_states_the_bounds_the_server_keeps(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    one = spec["components"]["schemas"]["DecodeRequest"]["properties"]["z"]["anyOf"][0]["items"]
    bound = LIMITS.generative.latent_value
    assert (one["minimum"], one["maximum"]) == (-bound, bound)
    headers = spec["paths"]["/api/v1/generative/{model}/decode"]["post"]["responses"]["200"][
        "headers"]
    assert {"X-Outside-Prior", "X-Max-Abs-Z"} <= set(headers)
    for name in ("DecodeOut", "InterpolateOut"):
        assert "outside_prior" in spec["components"]["schemas"][name]["required"]


def test_sampled_and_summed_points_say_what_was_clipped(client: TestClient) -> None:
    """The server's own points (a sample, a sum of averages) are clipped to ±4, never refused,
    and say how many coordinates were."""
    draw = gen.draw_prior(64, 256, seed=0)  # 3 of its 16,384 coordinates lie beyond ±4
    r = client.post("/api/v1/generative/dcgan/sample", json={"count": 256, "seed": 0}).json()
    assert r["clipped"] == int(draw.abs().gt(4).sum()) == 3
    assert np.abs(r["latents"]).max() == 4
    assert client.post("/api/v1/generative/dcgan/sample",
                       json={"count": 256, "seed": 2}).json()["clipped"] == 0
    many = client.post("/api/v1/generative/dcgan/arithmetic", json={"plus": ["1"] * 20})
    assert many.status_code == 200 and many.json()["clipped"] > 0  # 20 × the average 1
    assert np.abs(many.json()["z"]).max() == 4


def test_interpolation_starts_and_ends_at_the_given_points(client: TestClient) -> None:
    r = client.post("/api/v1/generative/vae-16d/interpolate", json={
        "start": [1.0] * 16, "end": [-1.0] * 8 + [1.0] * 8, "steps": 6, "method": "slerp"})
    body = r.json()
    assert len(body["frames"]) == 6 and np.allclose(body["latents"][0], [1.0] * 16)
    assert np.allclose(body["latents"][-1], [-1.0] * 8 + [1.0] * 8, atol=1e-6)


def test_sample_is_seeded(client: TestClient) -> None:
    a = client.post("/api/v1/generative/dcgan/sample", json={"count": 4, "seed": 3}).json()
    b = client.post("/api/v1/generative/dcgan/sample", json={"count": 4, "seed": 3}).json()
    assert a == b and np.array(a["latents"]).shape == (4, 64)


def test_manifold_is_a_grid_of_decoded_points(client: TestClient) -> None:
    png = client.get("/api/v1/generative/vae-2d/manifold", params={"size": 4, "range": 2})
    grid = np.asarray(Image.open(io.BytesIO(png.content)))
    assert grid.shape == (4 * 28, 4 * 28)
    corner = client.post("/api/v1/generative/vae-2d/decode",
                         json={"z": [-2, 2], "format": "json"}).json()["images"][0]
    np.testing.assert_array_equal(grid[:28, :28], corner)  # top left: z₁ = −2, z₂ = +2


@needs_mnist
def test_encode_a_test_digit_and_its_latent_map(client: TestClient) -> None:
    r = client.post("/api/v1/generative/vae-2d/encode", json={"example": 3})
    body = r.json()
    assert len(body["mean"]) == 2 and len(body["log_var"]) == 2
    points = client.get("/api/v1/generative/vae-2d/latent-map", params={"count": 10000}).json()
    assert points["points"][3][:2] == pytest.approx(body["mean"], abs=1e-3)
    arith = client.post("/api/v1/generative/vae-16d/arithmetic",
                        json={"plus": ["7", "1"], "minus": ["1"]}).json()
    assert len(arith["terms"]) == 3 and len(arith["z"]) == 16 and arith["clipped"] >= 0
    assert body["clipped"] == int(np.sum(np.abs(body["mean"]) > 4))


CLASSIFIERS = {"mnist-cnn": ROOT / "models" / "mnist-cnn",
               "mnist-judge": ROOT / "models" / "judge" / "mnist-judge"}


@functools.cache
def classifier(name: str = "mnist-cnn") -> tuple[torch.nn.Module, tuple]:
    clf = read(CLASSIFIERS[name])
    return clf.load().eval(), clf.classifier.normalization


def sample_quality(name: str, seed: int = 12345, judge: str = "mnist-cnn"
                   ) -> tuple[float, np.ndarray]:
    """Of 1,000 prior samples (a conditional GAN's asked for 0-9 in turn), the share a shipped
    classifier reads with ≥ 0.9 confidence, and the share of each digit among them."""
    g = decoder(name)
    z = gen.sample_latents(g.config.latent, 1000, seed=seed, limits=LIMITS.generative)
    classes = getattr(g.config, "classes", 0)
    pictures = gen.decode(g, z, torch.arange(1000) % classes if classes else None)
    model, normalization = classifier(judge)
    with torch.no_grad():
        p = torch.softmax(model(to_inputs(pictures[:, None], normalization)), dim=1)
    confidence, label = p.max(dim=1)
    return float((confidence >= 0.9).float().mean()), np.bincount(label.numpy(),
                                                                  minlength=10) / 1000


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cgan", "dcgan", "vae-2d", "vae-16d"])
@pytest.mark.parametrize("judge", ["mnist-cnn", "mnist-judge"])
def test_sample_quality_is_what_the_card_says(name: str, judge: str) -> None:
    """Re-measured here, independently of the training script, by both classifiers: the
    card's figures are true. The GANs are held to the issue's bar: ≥ 90% read with confidence
    ≥ 0.9 and every digit ≥ 5%, on the card's 1,000 samples and on average over 10,000 more
    (one set of 1,000 moves it by ±1.5 points): dcgan by mnist-cnn, which chose its recipe;
    cgan by both, mnist-judge having taken no part in choosing anything."""
    metrics = read(GENERATIVE / name / "model").generative.metrics
    card = metrics if judge == "mnist-cnn" else metrics["judge"]
    confident, shares = sample_quality(name, judge=judge)
    assert confident == pytest.approx(card["sample_quality"]["confident_share"], abs=1e-6)
    np.testing.assert_allclose(shares, card["sample_quality"]["class_shares"], atol=1e-6)
    assert confident >= 0.7 and shares.min() > 0  # readable digits, of every kind
    shares_by_set = [sample_quality(name, seed, judge) for seed in range(1, 11)]
    wide = card["sample_quality_wide"]
    assert np.mean([c for c, _ in shares_by_set]) == pytest.approx(
        wide["confident_share_mean"], abs=1e-6)
    assert min(s.min() for _, s in shares_by_set) == pytest.approx(
        wide["smallest_class_share_min"], abs=1e-6)
    if name == "cgan" or (name == "dcgan" and judge == "mnist-cnn"):
        assert shares.min() >= 0.05 and confident >= 0.9
        assert wide["confident_share_mean"] >= 0.9 and wide["smallest_class_share_min"] >= 0.05


@needs_mnist
@pytest.mark.parametrize("name", ["vae-2d", "vae-16d"])
def test_vae_test_elbo_is_what_its_card_says(name: str) -> None:
    from app.core.datasets import load_mnist
    test = load_mnist(ROOT / "data" / "mnist.npz").test
    x = torch.from_numpy(test.x).float() / 255
    figures = gen.test_elbo(decoder(name), x)
    card = read(GENERATIVE / name / "model").generative.metrics["test"]
    assert figures["neg_elbo"] == pytest.approx(card["neg_elbo"], rel=1e-3)


@pytest.mark.slow
def test_watch_one_train_streams_samples_and_losses(client: TestClient) -> None:
    r = client.post("/api/v1/generative/training-runs",
                    json={"task": "vae", "latent": 2, "epochs": 1, "dataset": "shapes"})
    assert r.status_code == 201, r.text
    run = r.json()
    kinds, pngs = [], []
    with client.stream("GET", run["events_url"]) as stream:
        kind = ""
        for line in stream.iter_lines():
            if line.startswith("event:"):
                kind = line[6:].strip()
                kinds.append(kind)
            elif line.startswith("data:") and kind == "samples":
                pngs.append(line)
    assert "start" in kinds and kinds.count("epoch") == 1 and len(pngs) >= 2
    assert pngs[0] != pngs[-1]  # the same 16 points, decoded by a model that has learned
    final = client.get(f"/api/v1/training-runs/{run['id']}").json()
    assert final["status"] == "completed" and not final["has_weights"]
    bad = client.post("/api/v1/generative/training-runs", json={"task": "vae", "epochs": 99})
    assert bad.status_code == 422



# ---------------------------------------------------------------- the plain autoencoder


def test_the_autoencoder_encodes_a_point_and_has_no_prior(client: TestClient) -> None:
    ae = decoder("ae-2d")
    r = client.post("/api/v1/generative/ae-2d/encode", json={"example": 0})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["log_var"] is None and out["std"] == [0.0, 0.0] and out["clipped"] == 0
    digit = client.app.state.catalog.load("mnist").test.x[0]
    point, _ = gen.encode(ae, torch.from_numpy(digit).float()[None] / 255)
    np.testing.assert_allclose(out["mean"], point[0], rtol=1e-5, atol=1e-5)
    # the point decodes as the decoder says, however far from the origin it lies
    decoded = client.post("/api/v1/generative/ae-2d/decode",
                          json={"z": out["mean"], "format": "json"}).json()["images"][0]
    assert np.array_equal(decoded, gen.decode(ae, torch.tensor([out["mean"]]))[0])
    refused = client.post("/api/v1/generative/ae-2d/sample", json={"count": 4})
    assert refused.status_code == 409 and "no prior" in refused.json()["error"]["message"]


@needs_mnist
def test_the_autoencoders_card_figures_are_measured_again(client: TestClient) -> None:
    """ae-2d's card: its and vae-2d's test reconstruction error, recomputed here from the
    weights, the square their encoded digits fill, and their holes, measured again through
    the API."""
    card = read(GENERATIVE / "ae-2d" / "model").generative.metrics
    test = Catalog(CatalogConfig(data_dir=ROOT / "data")).load("mnist").test
    x = torch.from_numpy(test.x).float().div_(255)
    for name, figures in (("ae-2d", card["plane"]), ("vae-2d", card["vae_2d"])):
        assert gen.test_reconstruction(decoder(name), x) == pytest.approx(
            figures["reconstruction"], rel=1e-4)
        points, _ = gen.encode(decoder(name), x)
        extent = figures["latent_extent"]
        assert np.quantile(np.abs(points), 0.99) * 1.1 <= extent  # the square holds them
        measured = client.get(f"/api/v1/generative/{name}/holes",
                              params={"size": figures["holes"]["grid"], "range": extent}).json()
        assert measured["share"] == pytest.approx(figures["holes"]["share"], abs=1e-9)
        # unused: the grid's cells no test digit lands in, counted by hand
        n = figures["empty"]["grid"]
        inside = points[(np.abs(points) <= extent).all(axis=1)]
        cells = np.minimum(((inside + extent) / (2 * extent) * n).astype(int), n - 1)
        used = len({(int(a), int(b)) for a, b in cells})
        assert figures["empty"]["share"] == pytest.approx(1 - used / n**2, abs=1e-9)
        # sampled: draws from the prior (the VAE) or the Gaussian fitted to the points (the
        # autoencoder), decoded through the API, read by mnist-cnn
        rng = np.random.default_rng(0)
        draws = (torch.randn(2000, 2, generator=torch.Generator().manual_seed(0)).numpy()
                 if name == "vae-2d" else
                 rng.multivariate_normal(points.mean(axis=0), np.cov(points.T), 2000))
        pictures = np.concatenate([np.array(client.post(
            f"/api/v1/generative/{name}/decode", json={
                "z": part.astype(np.float32).tolist(), "format": "json"}).json()["images"],
            dtype=np.uint8) for part in np.split(draws, 8)])  # 250 a request: the API's cap
        model, normalization = classifier()
        with torch.no_grad():
            p = torch.softmax(model(to_inputs(pictures[:, None], normalization)), dim=1)
        no_digit = float((p.max(dim=1).values < 0.5).float().mean())
        assert no_digit == pytest.approx(figures["sampled"]["share"], abs=2e-3)
    # the autoencoder chose its own range; the VAE's prior kept its digits near the origin
    assert card["plane"]["latent_extent"] > 2 * card["vae_2d"]["latent_extent"]


def test_the_holes_are_where_the_classifier_reads_no_digit(client: TestClient) -> None:
    r = client.get("/api/v1/generative/ae-2d/holes", params={"size": 6, "range": 5})
    assert r.status_code == 200, r.text
    out = r.json()
    conf = np.array(out["confidence"])
    assert conf.shape == (6, 6) and out["share"] == pytest.approx((conf < 0.5).mean())
    # each point again, by hand: the manifold's grid decoded and read by mnist-cnn
    z = gen.manifold_latents(6, 5, limits=LIMITS.generative)
    clf = read(ROOT / "models" / "mnist-cnn")
    with torch.no_grad():
        p = torch.softmax(clf.load()(to_inputs(gen.decode(decoder("ae-2d"), z)[:, None],
                                                clf.classifier.normalization)), dim=1)
    np.testing.assert_allclose(conf.ravel(), p.max(dim=1).values.numpy(), atol=1e-4)
    for name in ("dcgan", "vae-16d"):  # not a plane
        assert client.get(f"/api/v1/generative/{name}/holes").status_code == 409


def test_the_conditional_gan_draws_the_digit_it_is_asked(client: TestClient) -> None:
    """Each answer is the generator applied to (z, digit): decode (one digit for all, or one
    per point), the live lane, an interpolation, a sample (0-9 in turn without a digit)."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(3, 64)).clip(-3, 3).round(3)
    g = decoder("cgan")

    def expected(points: np.ndarray, digits: list[int]) -> np.ndarray:
        return gen.decode(g, torch.tensor(points, dtype=torch.float32), torch.tensor(digits))

    one = client.post("/api/v1/generative/cgan/decode",
                      json={"z": z.tolist(), "digit": 7, "format": "json"}).json()["images"]
    np.testing.assert_array_equal(one, expected(z, [7, 7, 7]))
    each = client.post("/api/v1/generative/cgan/decode",
                       json={"z": z.tolist(), "digit": [0, 4, 9], "format": "json"}).json()
    np.testing.assert_array_equal(each["images"], expected(z, [0, 4, 9]))
    png = client.post("/api/v1/generative/cgan/decode", json={"z": z[0].tolist(), "digit": 2})
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    with client.websocket_connect("/api/v1/generative/cgan/live") as ws:
        ws.send_json({"z": z[0].tolist(), "digit": 2})
        assert ws.receive_bytes() == png.content
        ws.send_json({"z": z[0].tolist()})  # the digit is required here too
        assert ws.receive_json()["error"]["field"] == "digit"
        ws.send_json({"z": z[0].tolist(), "digit": "2"})
        assert "whole number" in ws.receive_json()["error"]["message"]
    frames = client.post("/api/v1/generative/cgan/interpolate", json={
        "start": z[0].tolist(), "end": z[1].tolist(), "steps": 3, "digit": 5}).json()
    assert len(frames["frames"]) == 3
    shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(
        frames["frames"][0].split(",", 1)[1]))))
    np.testing.assert_array_equal(shown, expected(z[:1], [5])[0])
    drawn = client.post("/api/v1/generative/cgan/sample", json={"count": 12, "seed": 1}).json()
    assert drawn["digits"] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    sixes = client.post("/api/v1/generative/cgan/sample",
                        json={"count": 3, "seed": 1, "digit": 6}).json()
    assert sixes["digits"] == [6, 6, 6]
    plain = client.post("/api/v1/generative/dcgan/sample", json={"count": 2}).json()
    assert plain["digits"] is None


def test_a_vaes_map_gives_each_digits_spread(client: TestClient) -> None:
    """vae-2d's latent map: each point's Gaussian, mean and σ = exp(log_var / 2) as …/encode
    gives them; the autoencoder's points have none."""
    vae = client.get("/api/v1/generative/vae-2d/latent-map", params={"count": 10000}).json()
    one = client.post("/api/v1/generative/vae-2d/encode", json={"example": 5}).json()
    assert vae["points"][5][:2] == pytest.approx(one["mean"], abs=1e-3)
    assert vae["std"][5] == pytest.approx(one["std"], abs=1e-3)
    assert len(vae["std"]) == len(vae["points"])
    ae = client.get("/api/v1/generative/ae-2d/latent-map", params={"count": 10}).json()
    assert ae["std"] is None and len(ae["points"]) == 10
