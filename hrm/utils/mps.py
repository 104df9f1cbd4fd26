"""Apple silicon (`trainer=mps`): what the MPS backend lacks, and what a run does instead there.

- No float64 on MPS: the losses and returns that are exact sums in float64 elsewhere (the stablemax loss,
  RL's discounted returns) use float32 there (`widest_float`).
- No bf16 autocast before macOS 14: `${mps_precision:}` picks bf16-mixed where MPS runs it, else fp32.
- No torch.compile: `model.compile` is turned off for an MPS run, with one line saying so (`mps_fallbacks`).

None of this has run on Apple hardware here (these machines have none); the float32 paths are tested on
the CPU, and `trainer=mps` by composing it.
"""

from __future__ import annotations

import torch
from omegaconf import DictConfig, open_dict


def widest_float(device: torch.device) -> torch.dtype:
    """float64 where the device has it, float32 on MPS."""
    return torch.float32 if device.type == "mps" else torch.float64


def mps_precision() -> str:
    """bf16 autocast where MPS runs it (macOS 14 and later), else fp32."""
    backend = torch.backends.mps
    newer = getattr(backend, "is_macos_or_newer", None)
    return "bf16-mixed" if backend.is_available() and newer is not None and newer(14, 0) else "32-true"


def mps_fallbacks(cfg: DictConfig) -> list[str]:
    """Settings an MPS run cannot use, switched off in `cfg`; one line for each."""
    if cfg.trainer.get("accelerator") != "mps":
        return []
    lines = []
    if cfg.model.get("compile"):
        with open_dict(cfg):
            cfg.model.compile = False
        lines.append("trainer=mps: model.compile=false (torch.compile does not support MPS for these models)")
    return lines
