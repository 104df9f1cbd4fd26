"""Adapters saved on their own beside every checkpoint: `last.ckpt` -> `last.adapter/` (peft's
`save_pretrained`: adapter_config.json + adapter_model.safetensors), loadable with
`PeftModel.from_pretrained(base, dir)` by anyone, with or without this framework.

It is a CheckpointIO, the one place Lightning passes every checkpoint's path through (ModelCheckpoint's
saves and its removals of replaced top-k files alike), wrapping the trainer's own, so each adapter dir
lives and dies with its checkpoint. The dir is written to a temporary name and swapped in, so a kill never
leaves half an adapter under the final name
(`hrm.utils.io.replace_dir`).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

from lightning.fabric.plugins import CheckpointIO

from hrm.utils.io import replace_dir


def adapter_dir(checkpoint_path: str | Path) -> Path:
    path = Path(checkpoint_path)
    return path.with_name(path.stem + ".adapter")


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
