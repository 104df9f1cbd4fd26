"""The VAE: shapes, the ELBO's KL term, and the safetensors export an edge device loads."""

import pytest
import torch

from hrm.evaluation.reconstructions import save_safetensors
from hrm.models.vae import VAE, VAEConfig, kl_divergence
from hrm.modules.vae import VAEModule


@pytest.mark.parametrize("channels, size, widths", [(3, 32, (16, 32, 64)), (1, 8, (8,)), (1, 16, (4, 8))])
def test_shapes_from_images_to_latents_and_back(channels, size, widths):
    vae = VAE(VAEConfig(in_channels=channels, image_size=size, widths=widths, latent_dim=6)).eval()
    images = torch.rand(5, channels, size, size)
    out = vae(images)
    assert out.reconstruction.shape == images.shape and out.mu.shape == out.logvar.shape == (5, 6)
    assert 0 <= float(out.reconstruction.min()) and float(out.reconstruction.max()) <= 1
    assert torch.equal(vae(images).reconstruction, out.reconstruction)  # evaluation decodes the mean
    assert not torch.equal(vae(images, sample=True).reconstruction, out.reconstruction)


def test_widths_must_reach_a_4x4_map():
    with pytest.raises(ValueError, match="image_size 32 needs 3 stages"):
        VAE(VAEConfig(in_channels=3, image_size=32, widths=(16, 32), latent_dim=8))


def test_kl_is_the_closed_form_of_torch_distributions():
    mu, logvar = torch.randn(4, 3), torch.randn(4, 3)
    posterior = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    prior = torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    expected = torch.distributions.kl_divergence(posterior, prior).sum(-1)
    assert torch.allclose(kl_divergence(mu, logvar), expected, atol=1e-5)
    assert torch.equal(kl_divergence(torch.zeros(2, 3), torch.zeros(2, 3)), torch.zeros(2))


def test_elbo_on_a_batch_is_reconstruction_plus_beta_times_kl():
    module = VAEModule({"_target_": "hrm.models.vae.VAE", "in_channels": 1, "image_size": 8, "widths": [4],
                        "latent_dim": 3}, kl_weight=0.5)
    images = torch.rand(6, 1, 8, 8)
    torch.manual_seed(0)
    terms = module.training_loss(images)
    assert terms["kl"] >= 0 and terms["reconstruction"] > 0
    assert torch.allclose(terms["loss"], terms["reconstruction"] + 0.5 * terms["kl"])
    terms["loss"].backward()
    assert all(p.grad is not None for p in module.net.parameters())


def test_safetensors_export_round_trips_config_and_outputs(tmp_path):
    vae = VAE(VAEConfig(in_channels=3, image_size=16, widths=(4, 8), latent_dim=5))
    vae.train()(torch.rand(8, 3, 16, 16))  # moves the BatchNorm statistics off their defaults
    vae.eval()
    path = save_safetensors(vae, tmp_path / "tiny_vae.safetensors")
    loaded = VAE.from_safetensors(path)
    assert loaded.config == vae.config
    images = torch.rand(2, 3, 16, 16)
    assert torch.equal(loaded(images).reconstruction, vae(images).reconstruction)
    assert [p.name for p in tmp_path.iterdir()] == ["tiny_vae.safetensors"]  # no temp file left
