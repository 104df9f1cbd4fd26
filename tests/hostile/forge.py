"""What the hostile tests share: files forged to run code if anything executed them, and the checks every
refusal must pass (one line naming the thing, exit code 2, no traceback, every earlier file unchanged)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import torch


def exec_spec(marker: Path) -> dict:
    """A `_target_` mapping that creates `marker` if anything instantiates it (as Hydra would)."""
    return {"_target_": "builtins.exec", "_args_": [f"open({str(marker)!r}, 'w').write('code ran')"]}


def system_spec(marker: Path) -> dict:
    return {"_target_": "os.system", "_args_": [f"touch {marker}"]}


class PickleBomb:
    """Unpickling this creates `marker`: what a checkpoint loaded without weights_only would do."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def forged_checkpoint(path: Path, hyper_parameters=None, state_dict=None, **extra) -> Path:
    """A file shaped like a Lightning checkpoint, holding whatever it is given (saved by plain pickling)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": state_dict if state_dict is not None else {"w": torch.zeros(2)},
                "hyper_parameters": hyper_parameters or {}, "global_step": 1, "epoch": 0, **extra}, path)
    return path


def snapshot(root: Path) -> dict[str, str]:
    """Every file under `root` with its SHA-256 (links as their target's name)."""
    files = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            if path.is_symlink():
                files[str(path)] = "link:" + os.readlink(path)
            elif path.is_file():
                files[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def unchanged(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Files of `before` that are gone or changed in `after` (new files are allowed)."""
    return [path for path, digest in before.items() if after.get(path) != digest]


def refusal(result: subprocess.CompletedProcess, *needles: str, code: int = 2) -> str:
    """The one line a refused command printed; asserts the exit code, no traceback and that the line
    names each of `needles`."""
    output = result.stdout + result.stderr
    assert result.returncode == code, (result.returncode, output[-3000:])
    assert "Traceback" not in output, output[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr[-3000:]
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]
