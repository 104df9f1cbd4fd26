"""Finding the checkpoint to resume from, and checking it before Lightning touches it.

Checkpoints are loaded with `weights_only=True` (no arbitrary unpickling). A truncated file, or one
written by another model, gets one line naming the file and the difference instead of a traceback.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import torch

from hrm.errors import CheckpointError

LAST = "last.ckpt"


def read_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:  # torch raises many types here (zip, pickle, EOF): all mean "unreadable"
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated or not a torch file): {reason}")
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"{path}: not a Lightning checkpoint (no state_dict)")
    return checkpoint


def check_compatible(path: str | Path, checkpoint: dict, model: torch.nn.Module | dict, hint: str = "") -> None:
    """The checkpoint's tensors must match this model's (or this state dict's) names and shapes exactly;
    `hint` ends the error."""
    saved = checkpoint["state_dict"]
    expected = model if isinstance(model, dict) else model.state_dict()
    missing = sorted(set(expected) - set(saved))
    unexpected = sorted(set(saved) - set(expected))
    reshaped = [k for k in expected if k in saved and tuple(saved[k].shape) != tuple(expected[k].shape)]
    if not (missing or unexpected or reshaped):
        return
    written_by = checkpoint.get("hyper_parameters", {}).get("net", {}).get("_target_", "an unknown model")
    if reshaped:
        key = reshaped[0]
        detail = (f"{key} is {list(saved[key].shape)} there and {list(expected[key].shape)} here"
                  f" ({len(reshaped)} tensors differ in shape)")
    else:
        detail = f"{len(missing)} tensors missing (e.g. {missing[0]})" if missing else \
            f"{len(unexpected)} unexpected tensors (e.g. {unexpected[0]})"
    raise CheckpointError(f"{path}: written by another model ({written_by}): {detail}{hint}")


def resume_checkpoint(ckpt_dir: str | Path, ckpt_path: str | None, resume: bool,
                      move_aside: bool = True) -> Path | None:
    """The checkpoint a run continues from: an explicit `ckpt_path`, else when resuming the newer of
    `<ckpt_dir>/last.ckpt` and the latest `hpc_ckpt_<n>.ckpt` (saved by Lightning when SLURM warned of a
    preemption or time limit), else None. Starting fresh (`resume=false`) moves old checkpoints aside
    (when `move_aside`) instead of deleting them."""
    if ckpt_path:
        return Path(ckpt_path)
    ckpt_dir = Path(ckpt_dir)
    if resume:
        candidates = [ckpt_dir / LAST, *ckpt_dir.glob("hpc_ckpt_*.ckpt")]
        found = [path for path in candidates if path.is_file()]
        return max(found, key=lambda path: path.stat().st_mtime_ns) if found else None
    if not move_aside:
        return None
    # a checkpoint's adapter dir (`last.adapter/`, see adapter_checkpoints.py) moves with it
    old = [*ckpt_dir.glob("*.ckpt"), *ckpt_dir.glob("*.adapter")] if ckpt_dir.is_dir() else []
    if old:
        archive = ckpt_dir / f"previous-{time.strftime('%Y%m%d-%H%M%S')}"
        archive.mkdir(parents=True, exist_ok=True)
        for file in old:
            shutil.move(str(file), archive / file.name)
    return None
