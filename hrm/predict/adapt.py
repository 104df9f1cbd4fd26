"""Test-time adaptation: before predicting ARC tasks a model never trained on, give each of their augmented
variants a puzzle id of its own (new rows after the trained ones in the puzzle table, which stay as they
are) and fine-tune on their demonstration pairs only, within a step and time budget. The test outputs are
never read: the tasks are stripped of them before anything is built from them.

This is what the HRM and TRM papers do by training on the evaluation tasks' demonstrations, done after
training and only for the tasks at hand, so that one trained model can answer new tasks.
"""

from __future__ import annotations

import copy
import dataclasses
from datetime import timedelta

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler

from hrm.data.arc import ARCDataset
from hrm.data.arc_tasks import ARCTask
from hrm.data.augment import Translation, Variants


@dataclasses.dataclass
class AdaptSettings:
    steps: int = 300  # optimizer steps at most
    seconds: float | None = None  # wall time at most (None: steps alone)
    num_aug: int = 8  # augmented variants (beside identity) of each task, each a puzzle id to learn
    batch_size: int = 16
    seed: int = 0


def without_test_outputs(task: ARCTask) -> ARCTask:
    return dataclasses.replace(task, test=[(inp, None) for inp, _ in task.test])


def add_puzzle_rows(module, rows: int) -> int:
    """Grow the puzzle table by `rows` zero rows after the trained ones; returns the first new id. A net
    without a puzzle table (nothing to add) returns 0, the id every sample then carries."""
    table = module.net.input.puzzle_emb
    if table is None:
        return 0
    first = table.num_embeddings
    grown = nn.Embedding(first + rows, table.embedding_dim, sparse=True)
    with torch.no_grad():
        grown.weight.zero_()
        grown.weight[:first] = table.weight
    module.net.input.puzzle_emb = grown
    module.net.config.num_puzzle_identifiers = first + rows
    # so that a saved copy rebuilds the same (a new dict: the old one may be the checkpoint's own)
    module.hparams["net"] = {**module.hparams["net"], "num_puzzle_identifiers": first + rows}
    return first


def with_new_ids(variants: Variants, first_id: int, has_table: bool) -> Variants:
    """`variants` with puzzle ids `first_id`, `first_id + 1`, ... (all 0 without a puzzle table)."""
    count = len(variants.task)
    ids = first_id + np.arange(count, dtype=np.int64) if has_table else np.zeros(count, np.int64)
    return dataclasses.replace(variants, puzzle_id=ids, table_rows=first_id + count if has_table else None)


class Demonstrations(L.LightningDataModule):
    """The demonstration pairs of the tasks under all their variants, translated on the canvas, drawn with
    replacement as many times as the steps need."""

    def __init__(self, tasks: list[ARCTask], variants: Variants, canvas: int, settings: AdaptSettings):
        super().__init__()
        pairs = [[(j, inp, out) for j, (inp, out) in enumerate(task.train)] for task in tasks]
        self.dataset = ARCDataset(tasks, variants, pairs, variants.count, canvas, Translation(enabled=True),
                                  settings.seed)
        self.settings = settings

    def train_dataloader(self) -> DataLoader:
        s = self.settings
        generator = torch.Generator().manual_seed(s.seed)
        sampler = RandomSampler(self.dataset, replacement=True, num_samples=s.steps * s.batch_size,
                                generator=generator)
        return DataLoader(self.dataset, batch_size=s.batch_size, sampler=sampler, drop_last=True)


def adapt(module, tasks: list[ARCTask], canvas: int, settings: AdaptSettings, precision: str,
          progress: bool) -> tuple[Variants, int]:
    """Fine-tune `module` in place on the tasks' demonstrations; returns their variants (new puzzle ids)
    and the steps taken."""
    tasks = [without_test_outputs(task) for task in tasks]
    has_table = module.net.input.puzzle_emb is not None
    variants = Variants.build(tasks, settings.num_aug, settings.seed)  # each task's augmentations, once
    variants = with_new_ids(variants, add_puzzle_rows(module, len(variants.task)), has_table)
    # A short run of its own: warm up over a tenth of it and decay to a tenth of the rate; no EMA (an
    # average over 0.999 would keep the weights where they started).
    optimizer = dict(module.optimizer_config)
    optimizer.update(warmup_steps=min(int(optimizer.get("warmup_steps", 0)), settings.steps // 10),
                     lr_decay="cosine", min_lr_ratio=0.1)
    module.optimizer_config, ema, module.ema = optimizer, module.ema, None
    L.seed_everything(settings.seed, verbose=False)
    module.reseed_exploration(settings.seed)
    trainer = L.Trainer(accelerator="cpu", devices=1, precision=precision, max_steps=settings.steps,
                        max_time=None if settings.seconds is None else timedelta(seconds=settings.seconds),
                        logger=False, enable_checkpointing=False, enable_progress_bar=progress,
                        enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0)
    module.train()
    trainer.fit(module, datamodule=Demonstrations(tasks, variants, canvas, settings))
    module.ema = ema
    module.eval()
    return variants, trainer.global_step


class TrainedAndAdapted(L.LightningModule):
    """Answers each row with the model that knows its puzzle: rows of the tasks the model trained on with the
    trained model as it was, rows of the adapted tasks (puzzle ids from `first_new_id` on) with the adapted
    one, so adapting to new tasks never changes the answers to known ones. Its test step returns what the
    ReasoningModule's does (what ARCEvaluation reads)."""

    def __init__(self, trained, adapted, first_new_id: int):
        super().__init__()
        self.trained, self.adapted, self.first_new_id = trained, adapted, first_new_id

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        new = batch["puzzle_identifiers"] >= self.first_new_id
        merged: dict[str, torch.Tensor] = {}
        for module, rows in ((self.trained, ~new), (self.adapted, new)):
            if not rows.any():
                continue
            module.check_token_range(batch)
            run = module.run_to_halt({key: value[rows] for key, value in batch.items()})
            for key, value in (("predictions", run.rows.predictions), ("q_halt", run.rows.q_halt),
                               ("steps", run.rows.steps), ("exact_by_segment", run.exact_by_segment)):
                if key not in merged:
                    merged[key] = value.new_zeros((len(new), *value.shape[1:]))
                merged[key][rows] = value
        return merged

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        return self.test_step(batch, batch_idx)


def adapted_alongside(module, tasks: list[ARCTask], canvas: int, settings: AdaptSettings, precision: str,
                      progress: bool):
    """`adapt` on a copy of `module`: (a module answering trained tasks as before and the new ones adapted,
    the new tasks' variants, the steps taken)."""
    adapted = copy.deepcopy(module)
    variants, steps = adapt(adapted, tasks, canvas, settings, precision, progress)
    if module.net.input.puzzle_emb is None:  # no ids to tell the tasks apart: the adapted model answers all
        return adapted, variants, steps
    return TrainedAndAdapted(module, adapted, int(variants.puzzle_id.min())).eval(), variants, steps
