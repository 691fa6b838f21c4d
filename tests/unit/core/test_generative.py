"""The generative core: shapes, the ELBO against its formula, interpolation, checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from app.core import generative as gen
from app.core.errors import InputError


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
    lin = gen.interpolate(a, b, 5, "linear")
    slerp = gen.interpolate(a, b, 5, "slerp")
    for path in (lin, slerp):
        assert torch.allclose(path[0], a) and torch.allclose(path[-1], b, atol=1e-6)
    assert torch.allclose(slerp.norm(dim=1), torch.full((5,), 3.0), atol=1e-5)  # on the circle
    assert lin[2].norm() == pytest.approx(3 / math.sqrt(2), rel=1e-5)  # cuts through the middle
    with pytest.raises(InputError, match="steps"):
        gen.interpolate(a, b, 1)


@pytest.mark.parametrize(("z", "words"), [
    ([0.0, 1.0, 2.0], "2 numbers per point"),
    ([[0.0, float("nan")]], "finite"),
    ([0.0, 9.0], "−4 to 4"),
    ("hello", "list of 2 numbers"),
    ([[0.0, 0.0]] * 257, "1 to 256"),
])
def test_latents_are_checked(z: object, words: str) -> None:
    with pytest.raises(InputError, match=words):
        gen.check_latents(z, 2)


def test_manifold_runs_z1_right_and_z2_up() -> None:
    z = gen.manifold_latents(3, 2.0)
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
