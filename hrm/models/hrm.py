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

import math
from dataclasses import dataclass

import torch
from torch import nn

from hrm.models.layers import Linear, RotaryEmbedding, TransformerBlock, halting_head, trunc_normal_


def forward_dtype(device: torch.device) -> torch.dtype:
    """The autocast dtype when autocast is on for this device, else float32."""
    if torch.is_autocast_enabled(device.type):
        return torch.get_autocast_dtype(device.type)
    return torch.float32


@dataclass
class HRMConfig:
    vocab_size: int  # from the data (never typed twice): train.py fills it in
    seq_len: int  # from the data
    num_puzzle_identifiers: int = 0  # from the data; 0 disables the per-puzzle embedding
    hidden_size: int = 512
    num_heads: int = 8
    H_layers: int = 4
    L_layers: int = 4
    H_cycles: int = 2
    L_cycles: int = 2
    expansion: float = 4.0
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    puzzle_emb: bool = True  # learn a vector per puzzle id, prepended as one prefix token
    heads: bool = True  # the token and Q heads; off for a backbone whose states another head reads (a policy)


@dataclass
class HRMCarry:
    """Recurrent state kept across segments (and saved in checkpoints for exact resume)."""

    z_H: torch.Tensor  # [batch, prefix + seq_len, hidden]
    z_L: torch.Tensor

    def detach(self) -> "HRMCarry":
        """The next segment starts from these states without backpropagating into this one."""
        return HRMCarry(z_H=self.z_H.detach(), z_L=self.z_L.detach())


class ReasoningLevel(nn.Module):
    """A stack of blocks applied to `state + injection`: the additive input injection of HRM."""

    def __init__(self, num_layers: int, config: HRMConfig):
        super().__init__()
        self.layers = nn.ModuleList(
            TransformerBlock(config.hidden_size, config.num_heads, config.expansion, config.norm_eps)
            for _ in range(num_layers)
        )

    def forward(self, state: torch.Tensor, injection: torch.Tensor, rope) -> torch.Tensor:
        state = state + injection
        for layer in self.layers:
            state = layer(state, rope)
        return state


class HRM(nn.Module):
    def __init__(self, **config):
        super().__init__()
        self.config = cfg = HRMConfig(**config)
        d = cfg.hidden_size
        self.embed_scale = math.sqrt(d)  # embeddings start at std 1/sqrt(d) and are scaled back to ~1

        self.embed_tokens = nn.Embedding(cfg.vocab_size, d)
        trunc_normal_(self.embed_tokens.weight, std=1.0 / self.embed_scale)

        # One learned vector per puzzle id (an augmented variant of an ARC task). Sparse gradients: only
        # the rows of this batch get updated (by sign-SGD, see hrm.optim), so a 400k-row table is cheap.
        self.prefix_len = 1 if cfg.puzzle_emb and cfg.num_puzzle_identifiers > 0 else 0
        if self.prefix_len:
            self.puzzle_emb = nn.Embedding(cfg.num_puzzle_identifiers, d, sparse=True)
            nn.init.zeros_(self.puzzle_emb.weight)

        self.rotary = RotaryEmbedding(d // cfg.num_heads, cfg.seq_len + self.prefix_len, cfg.rope_theta)
        self.H_level = ReasoningLevel(cfg.H_layers, cfg)
        self.L_level = ReasoningLevel(cfg.L_layers, cfg)

        if cfg.heads:
            self.lm_head = Linear(d, cfg.vocab_size)
            self.q_head = halting_head(d, 2)

        # Fixed (not learned) initial states; persistent so a checkpoint reproduces them exactly.
        self.register_buffer("H_init", trunc_normal_(torch.empty(d), std=1.0), persistent=True)
        self.register_buffer("L_init", trunc_normal_(torch.empty(d), std=1.0), persistent=True)

    def compile_levels(self) -> None:
        """torch.compile the H and L stacks (fuses RMSNorm/RoPE/SwiGLU elementwise work; ~20% faster on CPU).
        Not the whole net: inductor cannot trace the sparse puzzle-embedding gradient."""
        self.H_level.compile()
        self.L_level.compile()

    # --- carry -------------------------------------------------------------------------------------
    def initial_carry(self, batch_size: int, device: torch.device | str = "cpu") -> HRMCarry:
        shape = (batch_size, self.config.seq_len + self.prefix_len, self.config.hidden_size)
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
    def embed(self, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor | None) -> torch.Tensor:
        x = self.embed_tokens(inputs)
        if self.prefix_len:
            prefix = self.puzzle_emb(puzzle_identifiers).unsqueeze(1).to(x.dtype)
            x = torch.cat((prefix, x), dim=1)
        return self.embed_scale * x

    def encode(self, carry: HRMCarry, batch: dict[str, torch.Tensor]) -> HRMCarry:
        """One segment of H/L cycles; the new carry (z_H is the states the heads read) with gradient."""
        cfg = self.config
        # Under autocast the whole recurrent state runs in its dtype (bf16), as in HRM: no float32
        # copies of the residual stream before every matmul. RMSNorm still computes in float32.
        dtype = forward_dtype(batch["inputs"].device)
        x = self.embed(batch["inputs"], batch.get("puzzle_identifiers")).to(dtype)
        rope = tuple(table.to(dtype) for table in self.rotary(x.shape[1]))
        z_H, z_L = carry.z_H.to(dtype), carry.z_L.to(dtype)

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
        state = self.encode(carry, batch)
        logits = self.lm_head(state.z_H[:, self.prefix_len :])
        q_logits = self.q_head(state.z_H[:, 0]).float()
        return state.detach(), logits, q_logits
