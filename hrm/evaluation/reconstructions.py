"""VAE outputs a person can look at, and the weights an edge device needs.

`ReconstructionGrid` saves a PNG of held-out images (top row) over each model's reconstructions (a row
per model: the VAE's, or the teacher's and the student's) after the test stage, and logs it to wandb.
`ExportSafetensors` writes the trained VAE as a safetensors file with its config after fitting.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import lightning as L
import numpy as np
import torch
from PIL import Image, ImageDraw

from hrm.evaluation.pictures import label_font, save_png
from hrm.models.vae import VAE
from hrm.utils.io import atomic_path

LABEL_W, GAP, SCALE = 70, 2, 2


def save_safetensors(model: VAE, path: str | Path) -> Path:
    """The weights (and BatchNorm statistics) with the config as metadata, written atomically."""
    from safetensors.torch import save_file

    state = {key: value.detach().contiguous() for key, value in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"config": json.dumps(asdict(model.config))})
    return Path(path)


def image_rows(rows: dict[str, torch.Tensor]) -> Image.Image:
    """rows: label -> [N, C, H, W] in [0, 1]; one row of N images per label."""
    first = next(iter(rows.values()))
    n, _, h, w = first.shape
    cell_h, cell_w = h * SCALE + GAP, w * SCALE + GAP
    canvas = Image.new("RGB", (LABEL_W + n * cell_w, len(rows) * cell_h), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for r, (label, images) in enumerate(rows.items()):
        draw.text((4, r * cell_h + cell_h // 2), label, fill=(40, 40, 40), font=label_font(), anchor="lm")
        pixels = (images.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
        pixels = pixels.expand(-1, 3, -1, -1) if pixels.shape[1] == 1 else pixels
        for i, image in enumerate(pixels):
            tile = Image.fromarray(np.ascontiguousarray(image.permute(1, 2, 0).numpy()))
            canvas.paste(tile.resize((w * SCALE, h * SCALE), Image.Resampling.NEAREST),
                         (LABEL_W + i * cell_w, r * cell_h))
    return canvas


class ReconstructionGrid(L.Callback):
    def __init__(self, output_dir: str, count: int = 16):
        self.output_dir, self.count = Path(output_dir), count
        self.rows: dict[str, list[torch.Tensor]] = {}

    def on_test_start(self, trainer, pl_module) -> None:
        self.rows = {}

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if not outputs or sum(len(x) for x in self.rows.get("held-out", [])) >= self.count:
            return
        self.rows.setdefault("held-out", []).append(outputs["images"].cpu())
        for name, images in outputs["reconstructions"].items():
            self.rows.setdefault(name, []).append(images.cpu())

    def on_test_end(self, trainer, pl_module) -> None:
        if not self.rows or not trainer.is_global_zero:
            return
        rows = {name: torch.cat(parts)[: self.count] for name, parts in self.rows.items()}
        path = save_png(image_rows(rows), self.output_dir / "reconstructions.png")
        print(f"reconstructions: {path}")
        for logger in trainer.loggers:
            if hasattr(logger, "log_image"):  # wandb
                logger.log_image(key="reconstructions", images=[str(path)], caption=[" / ".join(rows)])


class ExportSafetensors(L.Callback):
    def __init__(self, path: str):
        self.path = Path(path)

    def on_fit_end(self, trainer, pl_module) -> None:
        if trainer.is_global_zero:
            path = save_safetensors(pl_module.net, self.path)
            print(f"exported {type(pl_module.net).__name__} weights: {path} ({path.stat().st_size / 1e6:.2f} MB)")
