"""A plain transformer over the token grid: the baseline the recursive models are measured against.

Post-norm blocks of the same kind and width as HRM's (RoPE, SwiGLU, RMSNorm), one pass, no recurrence:
`layers` defaults to HRM's H_layers + L_layers, which gives it the HRM's parameter count. It runs one
segment (configs/model/transformer.yaml sets ACT's halt_max_steps to 1), so its carry holds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hrm.models.grid_input import GridInput, GridNetConfig, reasoning_level
from hrm.models.layers import Linear, halting_head
from hrm.utils.validation import at_least, at_most


@dataclass
class TransformerConfig(GridNetConfig):
    layers: int = 8

    def __post_init__(self):
        super().__post_init__()
        at_least(self, 1, "layers")
        at_most(self, 1024, "layers")


@dataclass
class TransformerCarry:
    """Nothing carries over between segments; a per-row placeholder keeps the ACT interface."""

    rows: torch.Tensor  # [batch]


class Transformer(nn.Module):
    config_class = TransformerConfig
    halting_outputs = ("halt", "continue")  # as the HRM's, so the two compare segment for segment

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = cfg = config
        self.input = GridInput(cfg)
        self.blocks = reasoning_level(cfg, cfg.layers)
        self.lm_head = Linear(cfg.hidden_size, cfg.vocab_size)
        self.q_head = halting_head(cfg.hidden_size, len(self.halting_outputs))

    def initial_carry(self, batch_size: int, device: torch.device | str = "cpu") -> TransformerCarry:
        return TransformerCarry(rows=torch.zeros(batch_size, device=device))

    def reset_carry(self, reset: torch.Tensor, carry: TransformerCarry) -> TransformerCarry:
        return carry

    def forward(self, carry: TransformerCarry, batch: dict[str, torch.Tensor]):
        x, rope = self.input(batch)
        h = self.blocks(x, None, rope)
        return carry, self.lm_head(h[:, self.config.prefix_len:]), self.q_head(h[:, 0]).float()
