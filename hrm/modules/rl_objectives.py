"""What RL learns from: a rollout's decisions as the loss reads them, and the two objectives that are plain
functions of tensors (PPO's clipped surrogate, GAE's advantages)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from hrm.agent.rollout import discounted_sums


def clipped_surrogate_loss(log_probs: torch.Tensor, played: torch.Tensor, advantages: torch.Tensor, clip: float,
                           ) -> torch.Tensor:
    """PPO's policy loss: the probability ratio to the policy that played times the advantage, the ratio
    clipped to 1 +- clip where that lowers the objective, so no decision pulls the policy further once it moved
    that far its way."""
    ratio = (log_probs - played).exp()
    return -torch.minimum(ratio * advantages, ratio.clamp(1 - clip, 1 + clip) * advantages).mean()


@dataclass
class Rollout:
    """A batch of played episodes as the loss reads it, every decision one row (flattened [episodes * steps],
    episode-major), with what the policy that played made of it."""

    ids: torch.Tensor  # [N, tokens] what the policy read
    segments: torch.Tensor  # [N] the segment it halted at
    taken: torch.Tensor  # [N] the action taken (index into ACTIONS)
    returns: torch.Tensor  # [N] discounted reward-to-go (with a value head: scaled and centred, see `rollout`)
    advantages: torch.Tensor  # [N]
    played: torch.Tensor  # [N] log-probability of the action taken, under the policy that played
    halting: torch.Tensor  # [N, halt_max_steps] the halting head's targets

    def rows(self, index: torch.Tensor) -> "Rollout":
        return Rollout(**{name: getattr(self, name)[index] for name in self.__dataclass_fields__})


class Scored(NamedTuple):
    """A rollout's decisions scored again by the policy being updated, each at the segment it halted at."""

    logits: torch.Tensor  # [N, A] action logits, with gradients
    states: torch.Tensor  # [N, hidden] the state the heads read, detached
    halts: torch.Tensor  # [N, halt_max_steps] halt logits of the segments thought (0 past the halted one)
    thought: torch.Tensor  # [N, halt_max_steps] which segments each row thought through


def generalized_advantages(rewards: torch.Tensor, values: torch.Tensor, gamma: float, lam: float) -> torch.Tensor:
    """GAE over [episodes, steps] rewards and state values (the episode ends after its last step, worth 0):
    each step's sum of (gamma * lam)^k-weighted one-step errors r + gamma * V(next) - V from there on."""
    following = torch.cat([values[:, 1:], torch.zeros_like(values[:, :1])], dim=1)
    return discounted_sums(rewards + gamma * following - values, gamma * lam)
