"""The Tiny Recursive Model (Jolicoeur-Martineau, arXiv 2510.04871), one readable file.

One small network (2 layers) updates two states: a latent `z` and the current answer `y`. A cycle is
n latent updates `z = net(z + x + y)` followed by one answer update `y = net(y + z)`; a segment runs T
cycles, the first T-1 without gradient and the last with full backpropagation through all its n + 1
steps (no one-step approximation, unlike HRM). Halting uses only the halt logit (ACT's `no_continue`:
no continue target, no extra forward), and training keeps an EMA of the weights (the module's `ema`).

Same interface as HRM (`initial_carry`, `reset_carry`, `forward(carry, batch)`), so the same
LightningModule (`hrm.modules.reasoning`) trains it on any token-grid task.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hrm.models.grid_input import GridInput, GridNetConfig, reasoning_level
from hrm.models.layers import Linear, halting_head, trunc_normal_
from hrm.utils.validation import at_least, at_most


@dataclass
class TRMConfig(GridNetConfig):
    layers: int = 2
    T: int = 3  # cycles per segment (the last one with gradient)
    n: int = 6  # latent updates per cycle

    def __post_init__(self):
        super().__post_init__()
        at_least(self, 1, "layers", "T", "n")
        at_most(self, 1024, "layers", "T", "n")


@dataclass
class TRMCarry:
    y: torch.Tensor  # [batch, prefix + seq_len, hidden]: the answer, read by the heads
    z: torch.Tensor  # the latent reasoning state

    def detach(self) -> "TRMCarry":
        return TRMCarry(y=self.y.detach(), z=self.z.detach())


class TRM(nn.Module):
    config_class = TRMConfig
    halting_outputs = ("halt",)  # TRM's ACT: the halt logit alone, so no continue target and no extra forward

    def __init__(self, config: TRMConfig):
        super().__init__()
        self.config = cfg = config
        d = cfg.hidden_size
        self.input = GridInput(cfg)
        self.net = reasoning_level(cfg, cfg.layers)
        self.lm_head = Linear(d, cfg.vocab_size)
        self.q_head = halting_head(d, len(self.halting_outputs))
        self.register_buffer("y_init", trunc_normal_(torch.empty(d), std=1.0), persistent=True)
        self.register_buffer("z_init", trunc_normal_(torch.empty(d), std=1.0), persistent=True)

    def initial_carry(self, batch_size: int, device: torch.device | str = "cpu") -> TRMCarry:
        shape = (batch_size, self.config.positions, self.config.hidden_size)
        return TRMCarry(y=self.y_init.to(device).expand(shape).clone(), z=self.z_init.to(device).expand(shape).clone())

    def reset_carry(self, reset: torch.Tensor, carry: TRMCarry) -> TRMCarry:
        mask = reset.view(-1, 1, 1)
        return TRMCarry(y=torch.where(mask, self.y_init.to(carry.y.dtype), carry.y),
                        z=torch.where(mask, self.z_init.to(carry.z.dtype), carry.z))

    def cycle(self, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor, rope) -> tuple[torch.Tensor, torch.Tensor]:
        for _ in range(self.config.n):
            z = self.net(z, x + y, rope)
        return self.net(y, z, rope), z

    def forward(self, carry: TRMCarry, batch: dict[str, torch.Tensor]):
        """Returns (new carry, detached; token logits [B, seq, vocab]; the halt logit [B, 1])."""
        x, rope = self.input(batch)
        y, z = carry.y.to(x.dtype), carry.z.to(x.dtype)
        with torch.no_grad():
            for _ in range(self.config.T - 1):
                y, z = self.cycle(x, y, z, rope)
        y, z = self.cycle(x, y, z, rope)
        logits = self.lm_head(y[:, self.config.prefix_len:])
        return TRMCarry(y=y, z=z).detach(), logits, self.q_head(y[:, 0]).float()
