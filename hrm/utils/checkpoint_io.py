"""How every checkpoint reaches the disk: whole or not at all, finite, and loudly when it cannot.

Lightning's own writer stages the file in TMPDIR and moves it into place: across filesystems that move is
a copy, which a kill can cut short (a 0-byte `last.ckpt`), and it ignores a PermissionError (no checkpoint,
exit 0). This one writes beside the target, flushes, renames (`hrm.utils.io.atomic_path`), refuses
weights that are NaN or infinite (the last good checkpoint stays), and turns a write that fails into one
line naming the file.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins import TorchCheckpointIO
from torch.nn.utils import get_total_norm

from hrm.errors import TrainingDiverged, UserError
from hrm.utils.checkpoints import read_checkpoint
from hrm.utils.io import atomic_write_bytes


class CheckpointWriteError(UserError):
    """A checkpoint could not be written (permissions, a read-only or full disk)."""


def first_non_finite(state: dict[str, Any]) -> str | None:
    """The name of the first floating tensor (or float) in `state` holding a NaN or an infinity, or None.
    One fused pass over every tensor first (the largest magnitude is NaN or infinite as soon as one entry
    is): it runs before every optimizer step, and only a failing state is scanned tensor by tensor."""
    values = {name: value._values() if value.is_sparse else value for name, value in state.items()
              if isinstance(value, torch.Tensor) and value.is_floating_point()}
    tensors = {name: value for name, value in values.items() if value.numel()}
    floats_finite = all(math.isfinite(value) for value in state.values() if isinstance(value, float))
    if floats_finite and (not tensors or bool(torch.isfinite(get_total_norm(list(tensors.values()), norm_type=math.inf)))):
        return None
    for name, value in state.items():
        if name in tensors and not bool(torch.isfinite(tensors[name]).all()):
            return name
        if isinstance(value, float) and not math.isfinite(value):
            return name
    return None


class AtomicCheckpointIO(TorchCheckpointIO):
    def load_checkpoint(self, path, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        """What Lightning resumes from: read as data (`weights_only=True`), checked, older names upgraded."""
        return read_checkpoint(path)

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        path = Path(path)
        bad = first_non_finite(checkpoint.get("state_dict") or {})
        if bad is not None:
            step = checkpoint.get("global_step", "?")
            raise TrainingDiverged(f"step {step}: {bad} is NaN or infinite; not writing {path} (the last good"
                                   " checkpoint is kept); lower model.optimizer.lr or check the data")
        buffer = io.BytesIO()  # serialised first: torch.save reports a failed write as a bare RuntimeError
        torch.save(checkpoint, buffer)
        try:
            atomic_write_bytes(path, buffer.getbuffer())
        except OSError as error:
            raise CheckpointWriteError(f"{path}: cannot write the checkpoint ({error.strerror or error})") from None
