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
from dataclasses import dataclass, fields

import torch
from torch import nn


@dataclass
class VAEConfig:
    in_channels: int = 3  # from the data
    image_size: int = 32  # from the data: a power of two >= 8
    widths: tuple[int, ...] = (128, 256, 512)  # channels after each stride-2 stage, to a 4x4 map
    latent_dim: int = 64

    def __post_init__(self):
        # Checked here, not by the framework's validators: this file travels alone (see the docstring).
        for name, kind in (("in_channels", int), ("image_size", int), ("latent_dim", int), ("widths", tuple)):
            value = getattr(self, name)
            if isinstance(value, list):
                value = self.widths = tuple(value)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise ValueError(f"{name} must be {kind.__name__}, got {value!r}")
        if not all(isinstance(w, int) and not isinstance(w, bool) and 1 <= w <= 1 << 14 for w in self.widths):
            raise ValueError(f"widths must be integers from 1 to 16384, got {list(self.widths)}")
        if not (1 <= self.in_channels <= 64 and 8 <= self.image_size <= 4096 and 1 <= self.latent_dim <= 1 << 16):
            raise ValueError(f"in_channels {self.in_channels}, image_size {self.image_size} or latent_dim"
                             f" {self.latent_dim} out of range (1-64, 8-4096, 1-65536)")
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
    config_class = VAEConfig

    def __init__(self, config: VAEConfig):
        super().__init__()
        self.config = cfg = config
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
        """A VAE written by `save_safetensors`. Anything else (an empty or foreign file, a config that does not
        describe a VAE, weights of other shapes) raises ValueError naming the file and the problem."""
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as handle:
                config = json.loads((handle.metadata() or {})["config"])
                if not isinstance(config, dict) or set(config) - {f.name for f in fields(VAEConfig)}:
                    raise ValueError(f"its config is not a VAE's: {str(config)[:80]}")
                with torch.device("meta"):
                    expected = {k: v.shape for k, v in cls(VAEConfig(**config)).state_dict().items()}  # no memory yet
                stored = {k: handle.get_slice(k).get_shape() for k in handle.keys()}
                if stored != {k: list(v) for k, v in expected.items()}:
                    differ = sorted(set(stored) ^ set(expected)) or \
                        [k for k in expected if stored[k] != list(expected[k])]
                    raise ValueError(f"its tensors do not fit the VAE its config describes (e.g. {differ[0]})")
                state = {k: handle.get_tensor(k).to(device) for k in handle.keys()}
        except KeyError:
            raise ValueError(f"{path}: not a VAE safetensors file (no config in its metadata)") from None
        except ValueError as error:
            raise ValueError(f"{path}: not a VAE safetensors file: {error}") from None
        except Exception as error:  # safetensors' own errors: empty, truncated, not safetensors at all
            raise ValueError(f"{path}: not a readable safetensors file ({str(error).splitlines()[0][:120]})") from None
        model = cls(VAEConfig(**config))
        model.load_state_dict(state)
        return model.eval()


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) per example, summed over the latent dimensions."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=-1)
