"""Finding the checkpoint to resume from, and checking it before Lightning touches it.

Checkpoints are loaded with `weights_only=True` (no arbitrary unpickling). A truncated file, or one
written by another model, gets one line naming the file and the difference instead of a traceback.
"""

from __future__ import annotations

import os
import re
import time
import zipfile
from pathlib import Path

import torch

from hrm.errors import CheckpointError, UserError
from hrm.utils.files import check_regular_file

LAST = "last.ckpt"
# Checkpoints written before the token-grid nets composed their input (`self.input = GridInput(...)`) name
# its tensors one level up: `net.embed_tokens.weight` for today's `net.input.embed_tokens.weight`.
GRID_INPUT_TENSORS = ("embed_tokens", "puzzle_emb", "embed_pos", "embed_row", "embed_col")
_GRID_INPUT_BEFORE = re.compile(rf"^((?:.*\.)?(?:net|backbone)\.)({'|'.join(GRID_INPUT_TENSORS)})\.")
# The parts of a Lightning checkpoint that map the module's tensor names (Lightning's EMA keeps the
# weights being trained apart from the averaged ones).
MODULE_STATES = ("state_dict", "current_model_state")


def upgrade_tensor_names(state: dict) -> dict:
    """`state` with the names of older versions of this framework renamed to today's."""
    return {_GRID_INPUT_BEFORE.sub(r"\1input.\2.", key): value for key, value in state.items()}
# What Lightning writes at the top of a checkpoint: (its type, the type of each element where it is a list).
LIGHTNING_FIELDS = {"loops": (dict, dict), "callbacks": (dict, dict), "optimizer_states": (list, dict),
                    "lr_schedulers": (list, dict), "hyper_parameters": (dict, dict)}


def read_checkpoint(path: str | Path) -> dict:
    """A Lightning checkpoint, loaded without running anything (`weights_only=True`) and checked as data:
    a dict whose `state_dict` maps names to tensors."""
    path = Path(path)
    try:
        check_regular_file(path, "checkpoint file")
    except UserError as error:
        raise CheckpointError(str(error)) from None
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: an empty file, not a checkpoint (a write that never finished?)")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path}: not a readable checkpoint (not a torch.save archive: truncated, or another kind of file)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:  # torch raises many types here (zip, pickle, EOF): all mean "unreadable"
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        if "weights_only" in reason or "Unsupported global" in reason:
            reason = "it holds Python objects, not just tensors and plain data; refused without running them"
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated or not a torch file): {reason}")
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise CheckpointError(f"{path}: not a Lightning checkpoint (no state_dict)")
    bad = next((key for key, value in checkpoint["state_dict"].items()
                if not isinstance(key, str) or not isinstance(value, torch.Tensor)), None)
    if bad is not None:
        raise CheckpointError(f"{path}: state_dict entry {str(bad)[:60]!r} is not a named tensor")
    for key in MODULE_STATES:
        if isinstance(checkpoint.get(key), dict):
            checkpoint[key] = upgrade_tensor_names(checkpoint[key])
    for key, kind in LIGHTNING_FIELDS.items():
        value = checkpoint.get(key)
        if value is not None and not (isinstance(value, kind[0]) and all(isinstance(v, kind[1]) for v in
                                                                          (value if isinstance(value, list) else [value]))):
            raise CheckpointError(f"{path}: {key} is a {type(value).__name__}, not what Lightning writes there")
    for key in ("epoch", "global_step"):
        value = checkpoint.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise CheckpointError(f"{path}: {key}={value!r} is not a count")
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
    hparams = checkpoint.get("hyper_parameters")
    net = hparams.get("net") if isinstance(hparams, dict) else None
    written_by = net.get("_target_") if isinstance(net, dict) else None
    written_by = written_by if isinstance(written_by, str) else "an unknown model"
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
        # last.ckpt, last-v<n>.ckpt (written by earlier versions when a save interval changed), hpc_ckpt_<n>.ckpt
        candidates = [*ckpt_dir.glob("last*.ckpt"), *ckpt_dir.glob("hpc_ckpt_*.ckpt")]
        found = [path for path in candidates if path.is_file()]
        return max(found, key=lambda path: path.stat().st_mtime_ns) if found else None
    if not move_aside:
        return None
    # a checkpoint's adapter dir (`last.adapter/`, see adapter_checkpoints.py) moves with it
    old = [*ckpt_dir.glob("*.ckpt"), *ckpt_dir.glob("*.adapter")] if ckpt_dir.is_dir() else []
    if old:
        archive = new_archive_dir(ckpt_dir)
        for file in old:
            os.rename(file, archive / file.name)  # a fresh dir: nothing there to replace
    return None


def new_archive_dir(ckpt_dir: Path) -> Path:
    """A `previous-<time>` dir that did not exist before (a second start in the same second gets `-2`)."""
    stamp = f"previous-{time.strftime('%Y%m%d-%H%M%S')}"
    for attempt in range(1, 1000):
        archive = ckpt_dir / (stamp if attempt == 1 else f"{stamp}-{attempt}")
        try:
            archive.mkdir(parents=True)
            return archive
        except FileExistsError:
            continue
    raise CheckpointError(f"{ckpt_dir}: too many previous-* dirs from this second")
