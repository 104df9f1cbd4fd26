"""Adapters saved on their own beside every checkpoint: `last.ckpt` -> `last.adapter/` (peft's
`save_pretrained`: adapter_config.json + adapter_model.safetensors), loadable with
`PeftModel.from_pretrained(base, dir)` by anyone, with or without this framework.

It is a CheckpointIO, the one place Lightning passes every checkpoint's path through (ModelCheckpoint's
saves and its removals of replaced top-k files alike), wrapping the trainer's own, so each adapter dir
lives and dies with its checkpoint. The dir is written to a temporary name and swapped in, so a kill never
leaves half an adapter under the final name.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from lightning.fabric.plugins import CheckpointIO


def adapter_dir(checkpoint_path: str | Path) -> Path:
    path = Path(checkpoint_path)
    return path.with_name(path.stem + ".adapter")


def replace_dir(target: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp_dir)`, then put tmp_dir at `target` (an older `target` is removed only after)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        write(fresh)
        fresh.chmod(0o755)  # mkdtemp makes it private; the result is a dir like any other
        for file in fresh.iterdir():
            file.chmod(0o644)
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    fresh.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


class AdapterCheckpointIO(CheckpointIO):
    """Wraps a CheckpointIO; `save_adapter(dir)` writes the adapter beside each checkpoint saved."""

    def __init__(self, inner: CheckpointIO, save_adapter: Callable[[Path], None]):
        self.inner, self.save_adapter = inner, save_adapter

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        replace_dir(adapter_dir(path), self.save_adapter)
        self.inner.save_checkpoint(checkpoint, path, storage_options)

    def load_checkpoint(self, path, map_location: Any | None = None, weights_only: bool | None = None) -> dict:
        return self.inner.load_checkpoint(path, map_location=map_location, weights_only=weights_only)

    def remove_checkpoint(self, path) -> None:
        self.inner.remove_checkpoint(path)
        shutil.rmtree(adapter_dir(path), ignore_errors=True)

    def teardown(self) -> None:
        self.inner.teardown()
