"""Token losses for the reasoning models. `stablemax` is HRM's default; `softmax` is plain cross entropy."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hrm.errors import UserError
from hrm.utils.mps import widest_float

IGNORE_LABEL = -100


def _stablemax_s(x: torch.Tensor) -> torch.Tensor:
    # s(x) = x + 1 for x >= 0, 1 / (1 - x) otherwise: grows linearly, so no logit can blow up the way exp does.
    # The clamp keeps the unused branch finite: at x == 1 it would be 1/0, and torch.where's gradient
    # multiplies the unused branch by 0, which turns inf into NaN (bf16 logits hit 1.0 exactly often).
    return torch.where(x < 0, 1 / (1 - x.clamp(max=0)), x + 1)


def log_stablemax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    s = _stablemax_s(x)
    return torch.log(s / s.sum(dim=dim, keepdim=True))


def stablemax_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, dtype: torch.dtype | None = None,
                            ) -> torch.Tensor:
    """Per-token loss [..., seq]; 0 where the label is ignored. Float64 as in HRM (tiny tensors, exact sums),
    float32 on MPS, which has no float64; `dtype` chooses."""
    logprobs = log_stablemax(logits.to(dtype or widest_float(logits.device)), dim=-1)
    valid = labels != IGNORE_LABEL
    picked = torch.gather(logprobs, -1, torch.where(valid, labels, 0).unsqueeze(-1)).squeeze(-1)
    return -torch.where(valid, picked, 0).to(torch.float32)


def softmax_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    flat = F.cross_entropy(
        logits.float().flatten(0, -2), labels.flatten(), ignore_index=IGNORE_LABEL, reduction="none"
    )
    return flat.view(labels.shape)


TOKEN_LOSSES = {"stablemax": stablemax_cross_entropy, "softmax": softmax_cross_entropy}


def token_loss_fn(name: str):
    try:
        return TOKEN_LOSSES[name]
    except KeyError:
        raise UserError(f"model.loss={name!r}: unknown loss (one of: {', '.join(sorted(TOKEN_LOSSES))})") from None
