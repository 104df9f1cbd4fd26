"""The Hierarchical Reasoning Model (Wang et al., arXiv 2506.21734), one readable file.

Two recurrent transformer stacks share a token grid: L (fast, "execution") runs L_cycles times for
every update of H (slow, "planning"), and this repeats H_cycles times per *segment*. Only the last L
update and the last H update of a segment carry gradient (the one-step gradient approximation); the
rest run under no_grad, so memory does not grow with the number of cycles.

This module is one segment. Deep supervision (one segment per optimizer step, carry kept across
steps) and ACT halting live in `hrm.modules.act` / `hrm.modules.reasoning`, which serve every model
that exposes `initial_carry`, `reset_carry` and `forward(carry, batch) -> (carry, logits, q_logits)`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hrm.models.grid_input import GridInput, GridNetConfig, reasoning_level
from hrm.models.layers import Linear, halting_head, trunc_normal_
from hrm.utils.validation import at_least, at_most


@dataclass
class HRMConfig(GridNetConfig):
    H_layers: int = 4
    L_layers: int = 4
    H_cycles: int = 2
    L_cycles: int = 2
    heads: bool = True  # the token and Q heads; off for a backbone whose states another head reads (a policy)

    def __post_init__(self):
        super().__post_init__()
        at_least(self, 1, "H_layers", "L_layers", "H_cycles", "L_cycles")
        at_most(self, 1024, "H_layers", "L_layers", "H_cycles", "L_cycles")


@dataclass
class HRMCarry:
    """Recurrent state kept across segments (and saved in checkpoints for exact resume)."""

    z_H: torch.Tensor  # [batch, prefix + seq_len, hidden]
    z_L: torch.Tensor

    def detach(self) -> "HRMCarry":
        """The next segment starts from these states without backpropagating into this one."""
        return HRMCarry(z_H=self.z_H.detach(), z_L=self.z_L.detach())


class HRM(nn.Module):
    config_class = HRMConfig
    halting_outputs = ("halt", "continue")  # the Q head's logits, in order (hrm.modules.act reads them)

    def __init__(self, config: HRMConfig):
        super().__init__()
        self.config = cfg = config
        d = cfg.hidden_size
        self.input = GridInput(cfg)
        self.H_level = reasoning_level(cfg, cfg.H_layers)
        self.L_level = reasoning_level(cfg, cfg.L_layers)

        if cfg.heads:
            self.lm_head = Linear(d, cfg.vocab_size)
            self.q_head = halting_head(d, len(self.halting_outputs))

        # Fixed (not learned) initial states; persistent so a checkpoint reproduces them exactly.
        self.register_buffer("H_init", trunc_normal_(torch.empty(d), std=1.0), persistent=True)
        self.register_buffer("L_init", trunc_normal_(torch.empty(d), std=1.0), persistent=True)

    # --- carry -------------------------------------------------------------------------------------
    def initial_carry(self, batch_size: int, device: torch.device | str = "cpu") -> HRMCarry:
        shape = (batch_size, self.config.positions, self.config.hidden_size)
        return HRMCarry(
            z_H=self.H_init.to(device).expand(shape).clone(),
            z_L=self.L_init.to(device).expand(shape).clone(),
        )

    def reset_carry(self, reset: torch.Tensor, carry: HRMCarry) -> HRMCarry:
        """Rows where `reset` is True go back to the initial states (a new puzzle took their place)."""
        mask = reset.view(-1, 1, 1)
        return HRMCarry(
            z_H=torch.where(mask, self.H_init.to(carry.z_H.dtype), carry.z_H),
            z_L=torch.where(mask, self.L_init.to(carry.z_L.dtype), carry.z_L),
        )

    # --- one segment -------------------------------------------------------------------------------
    def encode(self, carry: HRMCarry, batch: dict[str, torch.Tensor]) -> HRMCarry:
        """One segment of H/L cycles; the new carry (z_H is the states the heads read) with gradient."""
        cfg = self.config
        x, rope = self.input(batch)
        z_H, z_L = carry.z_H.to(x.dtype), carry.z_L.to(x.dtype)

        with torch.no_grad():
            for h in range(cfg.H_cycles):
                for l_step in range(cfg.L_cycles):
                    if h == cfg.H_cycles - 1 and l_step == cfg.L_cycles - 1:
                        break  # the final L update is taken below, with gradient
                    z_L = self.L_level(z_L, z_H + x, rope)
                if h < cfg.H_cycles - 1:
                    z_H = self.H_level(z_H, z_L, rope)

        # One-step gradient: only these two updates are differentiated; x still gets gradient here.
        z_L = self.L_level(z_L, z_H + x, rope)
        z_H = self.H_level(z_H, z_L, rope)
        return HRMCarry(z_H=z_H, z_L=z_L)

    def forward(self, carry: HRMCarry, batch: dict[str, torch.Tensor]):
        """Returns (new carry, detached; token logits [B, seq, vocab]; Q logits [B, 2] = (halt, continue))."""
        cfg = self.config
        state = self.encode(carry, batch)
        logits = self.lm_head(state.z_H[:, cfg.prefix_len:])
        q_logits = self.q_head(state.z_H[:, 0]).float()
        return state.detach(), logits, q_logits
