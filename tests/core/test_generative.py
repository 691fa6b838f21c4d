"""The generative core: shapes, the ELBO against its formula, interpolation, checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from app.core import generative as gen
from app.core.errors import InputError
from app.settings import LIMITS


def test_vae_and_gan_shapes() -> None:
    vae = gen.VAE(gen.VAEConfig(latent=3, hidden=64))
    x = torch.rand(5, 1, 28, 28)
    logits, mean, log_var = vae(x)
    assert logits.shape == (5, 1, 28, 28) and mean.shape == log_var.shape == (5, 3)
    g = gen.Generator(gen.GANConfig(latent=8, width=16))
    d = gen.Discriminator(gen.GANConfig(latent=8, width=16))
    with torch.no_grad():
        out = g.eval().decode(torch.randn(4, 8))
    assert out.shape == (4, 1, 28, 28) and 0 <= float(out.min()) and float(out.max()) <= 1
    assert d(out).shape == (4,)
    assert isinstance(gen.build(gen.config_dict(gen.VAEConfig(latent=2))), gen.VAE)


def test_the_loss_is_the_negative_elbo() -> None:
    """Reconstruction (Bernoulli) + KL(N(μ, σ²) ‖ N(0, 1)), written out independently."""
    torch.manual_seed(0)
    vae = gen.VAE(gen.VAEConfig(latent=2, hidden=32))
    x = (torch.rand(6, 1, 28, 28) > 0.7).float()
    torch.manual_seed(1)
    loss, recon, kl = gen.vae_loss(vae, x)
    torch.manual_seed(1)
    logits, mean, log_var = vae(x)
    p = torch.sigmoid(logits)
    expected_recon = -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum() / 6
    var = log_var.exp()
    expected_kl = 0.5 * (var + mean ** 2 - 1 - log_var).sum() / 6
    assert float(recon) == pytest.approx(float(expected_recon), rel=1e-4)
    assert float(kl) == pytest.approx(float(expected_kl), rel=1e-5)
    assert float(loss) == pytest.approx(float(expected_recon + expected_kl), rel=1e-4)


def test_a_few_epochs_lower_the_loss() -> None:
    torch.manual_seed(0)
    x = torch.zeros(256, 1, 28, 28)
    x[:128, :, 8:20, 12:16] = 1  # bars
    x[128:, :, 12:16, 6:22] = 1  # dashes
    vae = gen.VAE(gen.VAEConfig(latent=2, hidden=64))
    opt = torch.optim.Adam(vae.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(0)
    losses = [gen.vae_epoch(vae, x, opt, 32, g) for _ in range(6)]
    assert losses[-1] < 0.5 * losses[0]
    gan_g, gan_d = gen.Generator(gen.GANConfig(8, 8)), gen.Discriminator(gen.GANConfig(8, 8))
    opts = [torch.optim.Adam(m.parameters(), lr=2e-4, betas=(0.5, 0.999)) for m in (gan_g, gan_d)]
    g_loss, d_loss = gen.gan_epoch(gan_g, gan_d, x, *opts, 32, g)
    assert math.isfinite(g_loss) and math.isfinite(d_loss)


def test_interpolation_ends_and_slerp_norm() -> None:
    a, b = torch.tensor([3.0, 0, 0, 0]), torch.tensor([0, 3.0, 0, 0])
    lin = gen.interpolate(a, b, 5, "linear", limits=LIMITS.generative)
    slerp = gen.interpolate(a, b, 5, "slerp", limits=LIMITS.generative)
    for path in (lin, slerp):
        assert torch.allclose(path[0], a) and torch.allclose(path[-1], b, atol=1e-6)
    assert torch.allclose(slerp.norm(dim=1), torch.full((5,), 3.0), atol=1e-5)  # on the circle
    assert lin[2].norm() == pytest.approx(3 / math.sqrt(2), rel=1e-5)  # cuts through the middle
    with pytest.raises(InputError, match="steps"):
        gen.interpolate(a, b, 1, limits=LIMITS.generative)


@pytest.mark.parametrize(("z", "words"), [
    ([0.0, 1.0, 2.0], "2 numbers per point"),
    ([[0.0, float("nan")]], "finite"),
    ([0.0, float("inf")], "finite"),
    ([0.0, 2e6], "−1,000,000 to 1,000,000"),
    ("hello", "list of 2 numbers"),
    (["0.5", 0.0], "list of 2 numbers"),  # a string that looks like a number is not one
    ([True, 0.0], "list of 2 numbers"),
    ([[0.0, 0.0], 1.0], "list of 2 numbers"),
    ([10**400, 0], "list of 2 numbers"),  # an integer no float holds
    ([[0.0, 0.0]] * 257, "1 to 256"),
])
def test_latents_are_checked(z: object, words: str) -> None:
    with pytest.raises(InputError, match=words):
        gen.check_latents(z, 2, limits=LIMITS.generative)


def test_a_point_outside_the_prior_is_taken_and_measured() -> None:
    """Any finite value within the sanity bound is a latent point: 4.5 (one 64-D prior draw in
    ~250 has a coordinate beyond 4) and 1e6 alike; `farthest` says how far out."""
    limits = LIMITS.generative
    z = gen.check_latents([0.0] * 63 + [4.5], 64, limits=limits)
    assert z.shape == (1, 64) and gen.farthest(z) == 4.5 > limits.prior_bound
    assert gen.farthest(gen.check_latents([[0.5, -1.0], [-1e6, 3]], 2, limits=limits)) == 1e6
    clipped, moved = gen.clip_to_prior(torch.tensor([[4.5, -5.0, 3.9]]), limits=limits)
    assert clipped.tolist() == [[4.0, -4.0, pytest.approx(3.9)]] and moved == 2


def test_the_sanity_bound_decodes_to_finite_pixels() -> None:
    """|z| = latent_value (1e6) keeps every layer finite in float32 (the bound's reason): the
    numpy decoder draws the same pixels as torch there too, without an overflow warning."""
    import warnings
    torch.manual_seed(0)
    vae = gen.VAE(gen.VAEConfig(latent=4, hidden=64))
    bound = LIMITS.generative.latent_value
    z = torch.tensor([[bound, -bound, bound, -bound], [-bound] * 4, [bound, 0, 0, 0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fast = gen.NumpyDecoder(vae)(z.numpy())
    with torch.no_grad():
        assert torch.isfinite(vae.decoder(z)).all()
    np.testing.assert_array_equal(fast, gen.decode(vae, z))
    g = gen.Generator(gen.GANConfig(latent=4, width=8)).eval()
    with torch.no_grad():
        assert torch.isfinite(g.up[:-1](g.project(z).view(3, 16, 7, 7))).all()


def test_manifold_runs_z1_right_and_z2_up() -> None:
    z = gen.manifold_latents(3, 2.0, limits=LIMITS.generative)
    assert z[0].tolist() == [-2.0, 2.0] and z[2].tolist() == [2.0, 2.0]
    assert z[6].tolist() == [-2.0, -2.0] and z[4].tolist() == [0.0, 0.0]


def test_tile_places_images_row_by_row() -> None:
    ims = np.stack([np.full((28, 28), 100 + i, np.uint8) for i in range(5)])
    out = gen.tile(ims, 3, gap=2)
    assert out.shape == (2 * 30 - 2, 3 * 30 - 2)
    assert (out[:28, :28] == 100).all() and (out[:28, 30:58] == 101).all()
    assert (out[30:, 30:58] == 104).all()  # the fifth, second in the second row
    assert (out[28:30, :] == 40).all() and (out[30:, 60:] == 40).all()  # gaps, the empty cell


def test_encode_is_the_encoder_mean() -> None:
    vae = gen.VAE(gen.VAEConfig(latent=2, hidden=32))
    x = torch.rand(3, 1, 28, 28)
    mean, log_var = gen.encode(vae, x)
    e = vae.encoder(x)
    np.testing.assert_allclose(mean, vae.mean(e).detach().numpy(), rtol=1e-6)
    assert F.mse_loss(torch.from_numpy(log_var), vae.log_var(e).detach()) < 1e-12


def test_the_numpy_decoder_draws_the_same_pixels() -> None:
    torch.manual_seed(3)
    vae = gen.VAE(gen.VAEConfig(latent=4, hidden=64))
    z = torch.randn(20, 4)
    fast = gen.NumpyDecoder(vae)(z.numpy())
    slow = gen.decode(vae, z)
    assert fast.shape == slow.shape and np.abs(fast.astype(int) - slow.astype(int)).max() <= 1
    assert (fast == slow).mean() > 0.99  # rounding of float32 sums may differ in a rare pixel


def test_the_weight_average_follows_by_its_formula() -> None:
    """average ← d·average + (1 − d)·model for weights; batch-norm statistics are copied."""
    torch.manual_seed(0)
    config = gen.GANConfig(latent=4, width=4, refine=1)
    model, average = gen.Generator(config), gen.Generator(config)
    before = [p.detach().clone() for p in average.parameters()]
    gen.follow(average, model, decay=0.9)
    for a, b, m in zip(average.parameters(), before, model.parameters(), strict=True):
        assert torch.allclose(a, 0.9 * b + 0.1 * m)
    for a, m in zip(average.buffers(), model.buffers(), strict=True):
        assert torch.equal(a, m)


def frozen_gan() -> tuple[torch.Tensor, gen.Generator, gen.Discriminator, list]:
    """8 real images, a small GAN and optimisers with rates of zero: one gan_epoch step
    changes nothing, so its losses can be recomputed apart on the same batch and noise."""
    x = torch.rand(8, 1, 28, 28)
    torch.manual_seed(0)
    config = gen.GANConfig(latent=4, width=4, disc_norm="none")
    g, d = gen.Generator(config), gen.Discriminator(config)
    return x, g, d, [torch.optim.SGD(m.parameters(), lr=0.0) for m in (g, d)]


def test_the_r1_penalty_is_half_the_squared_gradient_norm_at_real_images() -> None:
    """gan_epoch's discriminator loss with r1 = 5 equals the plain loss (hard real labels) plus
    5/2 · mean ‖∇ₓD(x)‖² over the real batch, both computed here apart on the same batch and
    noise (rates of zero: one step changes nothing)."""
    x, g, d, opts = frozen_gan()
    _, d_loss = gen.gan_epoch(g, d, x, *opts, 8, torch.Generator().manual_seed(1), r1=5.0)

    rng = torch.Generator().manual_seed(1)  # the order and noise gan_epoch drew
    order = torch.randperm(8, generator=rng)
    z = torch.randn(8, 4, generator=rng)
    real = (x[order] * 2 - 1).requires_grad_(True)
    d_real = d(real)
    (grad,) = torch.autograd.grad(d_real.sum(), real)
    penalty = 2.5 * float(grad.pow(2).flatten(1).sum(1).mean())
    with torch.no_grad():
        d_fake = d(g(z))
        plain = float(F.binary_cross_entropy_with_logits(d_real.detach(), torch.ones(8))
                      + F.binary_cross_entropy_with_logits(d_fake, torch.zeros(8)))
    assert penalty > 0
    assert d_loss == pytest.approx(plain + penalty, rel=1e-4)


@pytest.mark.parametrize(("loss", "norm", "layers"), [
    ("bce", "batch", 2), ("bce", "batch", 3), ("hinge", "spectral", 3), ("bce", "none", 2)])
def test_each_gan_recipe_trains_a_step(loss: str, norm: str, layers: int) -> None:
    config = gen.GANConfig(latent=8, width=8, refine=1, minibatch_std=True, disc_norm=norm,
                           disc_layers=layers)
    g, d = gen.Generator(config), gen.Discriminator(config)
    opts = [torch.optim.Adam(m.parameters(), lr=2e-4, betas=(0.5, 0.999)) for m in (g, d)]
    before = [p.detach().clone() for p in g.parameters()]
    g_loss, d_loss = gen.gan_epoch(g, d, torch.rand(64, 1, 28, 28), *opts, 32,
                                   torch.Generator().manual_seed(0), loss=loss,
                                   r1=1.0 if norm == "none" else 0.0)
    assert math.isfinite(g_loss) and math.isfinite(d_loss)
    assert any(not torch.equal(a, b) for a, b in zip(g.parameters(), before, strict=True))
    if norm == "batch":
        assert any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())
    else:
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())


def test_a_config_without_the_newer_fields_builds_the_original_generator() -> None:
    """Cards written before `refine` and friends existed still load (their defaults)."""
    g = gen.build({"latent": 8, "width": 4, "kind": "gan"})
    assert [type(m).__name__ for m in g.up] == ["ConvTranspose2d", "BatchNorm2d", "ReLU",
                                                "ConvTranspose2d", "Tanh"]


def test_top_k_teaches_the_generator_from_its_k_best_rated_fakes() -> None:
    """With top_k = 3, the generator's loss is the non-saturating loss over the 3 fakes with
    the highest discriminator logits, computed here apart on the same noise (rates of zero)."""
    x, g, d, opts = frozen_gan()
    g_loss, _ = gen.gan_epoch(g, d, x, *opts, 8, torch.Generator().manual_seed(1), top_k=3)

    rng = torch.Generator().manual_seed(1)
    torch.randperm(8, generator=rng)  # the batch order gan_epoch drew first
    z = torch.randn(8, 4, generator=rng)
    with torch.no_grad():
        d_fake = d(g(z))
    best = d_fake.sort(descending=True).values[:3]
    expected = float(F.binary_cross_entropy_with_logits(best, torch.ones(3)))
    everyone = float(F.binary_cross_entropy_with_logits(d_fake, torch.ones(8)))
    assert g_loss == pytest.approx(expected, rel=1e-5)
    assert expected < everyone  # the best-rated fakes are the ones it finds most real


def test_the_rates_fall_in_equal_steps_over_the_last_epochs() -> None:
    shares = [gen.rate_share(e, 10, 4) for e in range(1, 11)]
    assert shares == pytest.approx([1, 1, 1, 1, 1, 1, 1, 0.75, 0.5, 0.25])
    assert [gen.rate_share(e, 10, 0) for e in range(1, 11)] == [1.0] * 10


# ---------------------------------------------------------------- the plain autoencoder, holes


def test_the_autoencoder_has_the_vaes_shapes_and_one_point_per_digit() -> None:
    ae, vae = gen.Autoencoder(gen.AEConfig()), gen.VAE(gen.VAEConfig())
    assert [p.shape for p in ae.decoder.parameters()] == [p.shape for p in vae.decoder.parameters()]
    x = torch.rand(5, 1, 28, 28)
    points, spread = gen.encode(ae, x)
    assert points.shape == (5, 2) and spread is None
    # its loss is the reconstruction term alone: the pixels' Bernoulli log-likelihood, by hand
    logits = ae(x).view(5, -1)
    p, target = torch.sigmoid(logits), x.view(5, -1)
    by_hand = -(target * torch.log(p) + (1 - target) * torch.log(1 - p)).sum() / 5
    torch.testing.assert_close(gen.ae_loss(ae, x), by_hand, rtol=1e-4, atol=1e-3)
    ae.eval()
    assert gen.test_reconstruction(ae, x, batch=2) == pytest.approx(float(by_hand), rel=1e-4)
    # a model from a card's config is the same kind again
    assert isinstance(gen.build(gen.config_dict(gen.AEConfig())), gen.Autoencoder)


def test_holes_on_a_tiny_model() -> None:
    """Hand-worked: a decoder that draws a digit right of z₁ = 0 and nothing left of it, and a
    reader sure of a lit image and unsure of a dark one: the left half is holes."""
    def decode(z: torch.Tensor) -> np.ndarray:
        lit = (z[:, 0] > 0).numpy()
        return np.where(lit[:, None, None], 200, 0).astype(np.uint8) * np.ones((1, 28, 28),
                                                                                 np.uint8)

    def classify(pictures: np.ndarray) -> np.ndarray:
        sure = np.full(10, 0.01)
        sure[3] = 0.91
        return np.stack([sure if p.mean() > 100 else np.full(10, 0.1) for p in pictures])

    found = gen.holes(decode, classify, 4, 1.0, limits=LIMITS.generative)
    assert found.share == 0.5
    # columns run left to right with z₁: the two left ones are the holes, in every row
    assert (found.confidence[:, :2] == pytest.approx(0.1)) and (found.confidence[:, 2:] ==
                                                                pytest.approx(0.91))
    assert (found.digits[:, 2:] == 3).all()
    assert gen.HOLE_CONFIDENCE == 0.5


def test_a_maps_extent_holds_its_digits() -> None:
    points = np.random.default_rng(0).normal(0, 1, (10_000, 2))
    # the 99th percentile of |z| for a standard normal is 2.58; +10%: 2.83, rounded up to 3
    assert gen.latent_extent(points) == 3.0
    assert gen.latent_extent(points * 7) == 20.0  # 2.58·7·1.1 = 19.9


# ---------------------------------------------------------------- the class-conditional GAN

def small_conditional() -> gen.GANConfig:
    return gen.GANConfig(latent=8, width=8, minibatch_std=True, classes=10)


def test_a_conditional_generator_draws_the_digit_it_is_told() -> None:
    """The digit travels one-hot beside z: the first layer's extra columns are the only
    difference between two digits drawn from the same point."""
    torch.manual_seed(0)
    g = gen.Generator(small_conditional()).eval()
    z = torch.randn(3, 8).repeat(2, 1)
    digits = torch.tensor([1, 1, 1, 7, 7, 7])
    with torch.no_grad():
        out = g.decode(z, digits)
        w = g.project[0].weight  # (out, latent + classes)
        by_hand = z @ w[:, :8].T + F.one_hot(digits, 10).float() @ w[:, 8:].T
        np.testing.assert_allclose(g.project[0](torch.cat([z, F.one_hot(digits, 10).float()],
                                                          1)).numpy(), by_hand.numpy(),
                                   atol=1e-5)
    assert out.shape == (6, 1, 28, 28)
    assert not torch.allclose(out[:3], out[3:])  # same points, other digit, other picture
    with pytest.raises(InputError, match="one digit"):
        g.decode(z)  # a conditional generator must be told


def test_a_conditional_discriminator_sees_the_digit_as_input_planes() -> None:
    """Judged as another digit, the same image gets another logit; the planes are 1 on the
    judged digit's channel only."""
    torch.manual_seed(0)
    d = gen.Discriminator(small_conditional()).eval()
    assert d.features[0].in_channels == 11  # the image and one plane per digit
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        as_three, as_eight = d(x, torch.full((4,), 3)), d(x, torch.full((4,), 8))
    assert as_three.shape == (4,) and not torch.allclose(as_three, as_eight)


def test_a_conditional_pair_trains_on_labelled_digits() -> None:
    torch.manual_seed(0)
    config = small_conditional()
    g, d = gen.Generator(config), gen.Discriminator(config)
    before = [p.detach().clone() for p in g.parameters()]
    opts = [torch.optim.Adam(m.parameters(), lr=2e-4, betas=(0.5, 0.999)) for m in (g, d)]
    x, y = torch.rand(32, 1, 28, 28), torch.randint(10, (32,))
    losses = gen.gan_epoch(g, d, x, *opts, 16, torch.Generator().manual_seed(0), labels=y)
    assert all(math.isfinite(v) for v in losses)
    assert any(not torch.equal(a, b) for a, b in zip(before, g.parameters(), strict=True))
    with pytest.raises(ValueError, match="labelled"):
        gen.gan_epoch(g, d, x, *opts, 16, torch.Generator(), labels=None)


@pytest.mark.parametrize(("digit", "count", "classes", "words"), [
    (None, 2, 10, "give digit"),  # a conditional model must be told
    (3, 1, 0, "not class-conditional"),  # the others cannot take one
    ([1, 2], 3, 10, "one per point"),
    (10, 1, 10, "0 to 9"),
    (-1, 1, 10, "0 to 9"),
    ([True], 1, 10, "0 to 9"),
])
def test_the_digits_asked_are_checked(digit: object, count: int, classes: int,
                                      words: str) -> None:
    with pytest.raises(InputError, match=words) as refused:
        gen.check_digits(digit, count, classes, "m")  # type: ignore[arg-type]
    assert refused.value.field == "digit"


def test_one_digit_stands_for_every_point() -> None:
    np.testing.assert_array_equal(gen.check_digits(4, 3, 10, "m"), [4, 4, 4])
    np.testing.assert_array_equal(gen.check_digits([0, 9], 2, 10, "m"), [0, 9])
    assert gen.check_digits(None, 5, 0, "m") is None


# ---------------------------------------------------------------- the holes, read two more ways

def test_the_unused_share_counts_the_empty_cells() -> None:
    """A 2 × 2 grid over [−1, 1]²: points in the top-right and bottom-left cells only leave
    the other two empty; a point outside the square counts nowhere."""
    points = np.array([[0.5, 0.5], [0.6, 0.9], [-0.5, -0.5], [5.0, 5.0]])
    assert gen.empty_share(points, 2, 1.0) == 0.5
    assert gen.empty_share(points[:1], 2, 1.0) == 0.75


def test_the_fitted_gaussian_has_the_points_mean_and_spread() -> None:
    rng = np.random.default_rng(0)
    points = rng.normal([3.0, -2.0], [4.0, 0.5], size=(5000, 2))
    draws = gen.fitted_gaussian_draws(points, 20_000, seed=1)
    assert draws.dtype == np.float32 and draws.shape == (20_000, 2)
    np.testing.assert_allclose(draws.mean(axis=0), [3.0, -2.0], atol=0.1)
    np.testing.assert_allclose(draws.std(axis=0), [4.0, 0.5], rtol=0.05)
