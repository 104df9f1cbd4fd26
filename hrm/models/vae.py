"""A convolutional VAE: the seed's ~10M-parameter teacher and its ~0.3M-parameter student are two sizes
of this one model.

Encoder: stride-2 4x4 convolutions halve the image down to 4x4, then linear layers give the latent
mean and log-variance. Decoder: the mirror image, transposed convolutions back to the image, a sigmoid
to [0, 1]. The widths set the size: (128, 256, 512) with 64 latents is the teacher, (16, 32, 64) the
student. Weights travel as safetensors, the config in their metadata (written by
`hrm.evaluation.reconstructions.save_safetensors`, read by `VAE.from_safetensors`), so an edge device
needs this file and torch, nothing else of the framework.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class VAEConfig:
    in_channels: int = 3  # from the data
    image_size: int = 32  # from the data: a power of two >= 8
    widths: tuple[int, ...] = (128, 256, 512)  # channels after each stride-2 stage, to a 4x4 map
    latent_dim: int = 64

    def __post_init__(self):
        self.widths = tuple(self.widths)
        stages = math.log2(self.image_size / 4)
        if stages != int(stages) or stages < 1 or int(stages) != len(self.widths):
            raise ValueError(f"image_size {self.image_size} needs {stages:g} stages to reach 4x4, "
                             f"widths has {len(self.widths)}")


@dataclass
class VAEOutput:
    reconstruction: torch.Tensor  # [B, C, H, W] in [0, 1]
    mu: torch.Tensor  # [B, latent]
    logvar: torch.Tensor  # [B, latent]


def _conv_stack(channels: list[int], transposed: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (c_in, c_out) in enumerate(zip(channels, channels[1:])):
        conv = nn.ConvTranspose2d if transposed else nn.Conv2d
        layers.append(conv(c_in, c_out, kernel_size=4, stride=2, padding=1))
        last = i == len(channels) - 2
        if not (transposed and last):  # the decoder's last layer feeds the sigmoid directly
            layers += [nn.BatchNorm2d(c_out), nn.SiLU()]
    return nn.Sequential(*layers)


class VAE(nn.Module):
    def __init__(self, **config):
        super().__init__()
        self.config = cfg = VAEConfig(**config)
        flat = cfg.widths[-1] * 4 * 4
        self.encoder = _conv_stack([cfg.in_channels, *cfg.widths], transposed=False)
        self.to_stats = nn.Linear(flat, 2 * cfg.latent_dim)  # mean and log-variance
        self.from_latent = nn.Linear(cfg.latent_dim, flat)
        self.decoder = _conv_stack([*reversed(cfg.widths), cfg.in_channels], transposed=True)

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.to_stats(self.encoder(images).flatten(1)).float().chunk(2, dim=-1)
        return mu, logvar.clamp(-20.0, 10.0)  # keeps exp(logvar) finite early in training

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        x = self.from_latent(z).view(z.shape[0], self.config.widths[-1], 4, 4)
        return torch.sigmoid(self.decoder(x).float())

    def forward(self, images: torch.Tensor, sample: bool | None = None) -> VAEOutput:
        """sample: draw z from the posterior (default: while training); else decode the mean."""
        mu, logvar = self.encode(images)
        sample = self.training if sample is None else sample
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if sample else mu
        return VAEOutput(self.decode(z), mu, logvar)

    # --- export ------------------------------------------------------------------------------------
    @classmethod
    def from_safetensors(cls, path: str | os.PathLike, device: str = "cpu") -> "VAE":
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(str(path), framework="pt") as handle:
            config = json.loads(handle.metadata()["config"])
        model = cls(**config)
        model.load_state_dict(load_file(str(path), device=device))
        return model.eval()


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) per example, summed over the latent dimensions."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=-1)
