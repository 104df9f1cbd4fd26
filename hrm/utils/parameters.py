"""Counting a model's parameters: all of them, and those that train (a LoRA model trains its adapter only)."""

from __future__ import annotations

import torch


def parameter_counts(module: torch.nn.Module) -> tuple[int, int]:
    """(all parameters, trainable ones)."""
    params = list(module.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)
