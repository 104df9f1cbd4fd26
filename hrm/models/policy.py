"""A policy: a recurrent backbone reads the state's tokens, an action head reads the backbone.

The backbone is any net with `initial_carry(batch_size, device)` and `encode(carry, batch) -> carry`
whose `z_H` holds one state per token and which has `detach()` (the HRM now). Both heads read the first position, the start
token, which attends to the whole text. Like HRM on puzzles, the policy thinks in segments: each one
refines the carry, proposes an action, and its Q head says whether that action is ready to be taken.
"""

from __future__ import annotations

import torch
from torch import nn

from hrm.models.layers import halting_head


class PolicyNet(nn.Module):
    def __init__(self, backbone: nn.Module, num_actions: int):
        super().__init__()
        self.backbone = backbone
        hidden_size = backbone.config.hidden_size
        self.action_head = nn.Linear(hidden_size, num_actions)
        self.q_head = halting_head(hidden_size, 1)  # one logit: halt now (> 0) or think another segment

    def initial_carry(self, batch_size: int, device: torch.device | str = "cpu"):
        return self.backbone.initial_carry(batch_size, device)

    def forward(self, carry, inputs: torch.Tensor):
        """inputs: [B, tokens] ids. Returns (new carry, detached; action logits [B, A]; halt logits [B])."""
        carry = self.backbone.encode(carry, {"inputs": inputs})
        first = carry.z_H[:, 0]
        action_logits = self.action_head(first).float()
        halt_logits = self.q_head(first).float().squeeze(-1)
        return carry.detach(), action_logits, halt_logits
