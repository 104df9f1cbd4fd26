"""ARC tasks through a trained token-grid model: every test input in augmented variants, the answers voted
on, two attempts per input in the ARC Prize's submission format, scored where the task file gives the
outputs (the same test stage and files as `train.py`'s evaluation, through Lightning's test loop).

A puzzle id stands for one augmented variant of one task the model trained on. A checkpoint says which
tasks those were (the data settings Lightning saves with it, or the run record beside it), so a task the
model trained on is shown under its own ids. A task it never saw has no row in the puzzle table: its
variants carry id 0, the row no training sample uses, and the model answers from the grids alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
from torch.utils.data import DataLoader

from hrm.data.arc import PUZZLE_TABLE_SETTINGS, ARCDataModule, ARCDataset
from hrm.data.arc_tasks import ARCTask
from hrm.data.augment import Translation, Variants, augmentation_table
from hrm.data.grids import VOCAB_SIZE
from hrm.errors import CheckpointError, UserError
from hrm.evaluation.callback import ARCEvaluation
from hrm.predict.adapt import AdaptSettings, adapted_alongside
from hrm.runs import read_info
from hrm.utils.validation import check_arguments

UNSEEN_NUM_AUG, UNSEEN_SEED = 8, 0  # variants of a task without a record of how the model was trained


@dataclass
class PuzzleTable:
    """What the model's puzzle ids stand for: the tasks it trained on and their variants (id per variant)."""

    tasks: list[ARCTask]
    variants: Variants
    num_aug: int
    seed: int

    def variants_of(self, task: ARCTask) -> slice | None:
        """The trained variants of `task` (its id and demonstrations both as trained), or None."""
        for t, trained in enumerate(self.tasks):
            if trained.id == task.id and same_pairs(trained.train, task.train):
                first = int(self.variants.first[t])
                return slice(first, first + int(self.variants.count[t]))
        return None


def same_pairs(a: list, b: list) -> bool:
    return len(a) == len(b) and all(x.shape == y.shape and (x == y).all() for pa, pb in zip(a, b)
                                    for x, y in zip(pa, pb))


def data_settings(checkpoint: dict, ckpt: str) -> dict | None:
    """The settings of the ARC data a checkpoint trained on: saved in it, or in the run record beside it."""
    saved = checkpoint.get("datamodule_hyper_parameters")
    if isinstance(saved, dict) and "source" in saved:
        return {key: saved[key] for key in PUZZLE_TABLE_SETTINGS if key in saved}
    recorded = read_info(Path(ckpt).parent).get("settings")
    if isinstance(recorded, dict) and recorded.get("data._target_") == "hrm.data.arc.ARCDataModule":
        return {key: recorded[f"data.{key}"] for key in PUZZLE_TABLE_SETTINGS if f"data.{key}" in recorded}
    return None


def trained_table(checkpoint: dict, ckpt: str) -> tuple[PuzzleTable | None, str]:
    """The checkpoint's puzzle table, and a line saying where it came from or why there is none."""
    settings = data_settings(checkpoint, ckpt)
    if settings is None:
        return None, "the checkpoint does not say which ARC tasks it trained on: every task is new to it"
    values = check_arguments(ARCDataModule, settings, f"{ckpt}: its data settings", CheckpointError)
    try:
        tasks, _, _, variants = ARCDataModule(**values).tasks_and_variants()
    except UserError as error:
        return None, f"the ARC tasks it trained on cannot be read here ({error}): every task is new to it"
    return PuzzleTable(tasks, variants, values.get("num_aug", 500), values.get("seed", 42)), \
        f"trained on {len(tasks)} tasks of {values.get('source')}"


VariantArrays = tuple[np.ndarray, np.ndarray, np.ndarray]  # dihedral [n], colour_perm [n, 10], puzzle_id [n]


def arrays(variants: Variants, rows: slice) -> VariantArrays:
    return variants.dihedral[rows], variants.colour_perm[rows], variants.puzzle_id[rows]


def by_task(tasks: list[ARCTask], variants: Variants) -> dict[str, VariantArrays]:
    """Each task's variants in `variants` (whose task t is tasks[t]), by task id."""
    return {task.id: arrays(variants, slice(int(variants.first[t]), int(variants.first[t] + variants.count[t])))
            for t, task in enumerate(tasks)}


def trained_variants(tasks: list[ARCTask], table: PuzzleTable | None) -> dict[str, VariantArrays]:
    """The variants and puzzle ids of the given tasks the model trained on (same id, same demonstrations)."""
    found = {}
    for task in tasks:
        rows = table.variants_of(task) if table else None
        if rows is not None:
            found[task.id] = arrays(table.variants, rows)
    return found


def input_variants(tasks: list[ARCTask], known: dict[str, VariantArrays], extra: int | None, num_aug: int,
                   seed: int) -> Variants:
    """The variants each task's test inputs are shown under: its known ones (trained or adapted) where it has
    them, else new augmentations under id 0 (the row no training sample uses); identity first, then up to
    `extra` more (None: all of them)."""
    parts = []
    for task in tasks:
        if task.id in known:
            parts.append(known[task.id])
        else:
            d, p = augmentation_table(task, num_aug if extra is None else extra, seed)
            parts.append((d, p, np.zeros(len(d), dtype=np.int64)))
    count = np.array([len(d) if extra is None else min(len(d), 1 + extra) for d, _, _ in parts], dtype=np.int64)
    return Variants(task=np.repeat(np.arange(len(tasks), dtype=np.int32), count),
                    dihedral=np.concatenate([d[:n] for (d, _, _), n in zip(parts, count)]),
                    colour_perm=np.concatenate([p[:n] for (_, p, _), n in zip(parts, count)]),
                    first=np.cumsum(count) - count, count=count,
                    puzzle_id=np.concatenate([i[:n] for (_, _, i), n in zip(parts, count)]))


class ARCPredictionData(L.LightningDataModule):
    """The test inputs of the given tasks in their variants: what ARCEvaluation reads in the test stage."""

    def __init__(self, tasks: list[ARCTask], variants: Variants, canvas: int, batch_size: int):
        super().__init__()
        pairs = [[(j, inp, out) for j, (inp, out) in enumerate(task.test)] for task in tasks]
        self.test_dataset = ARCDataset(tasks, variants, pairs, variants.count, canvas, Translation(), seed=0)
        self.canvas, self.batch_size = canvas, batch_size

    def describe(self, split: str, sample_index: int):
        return self.test_dataset.describe(sample_index)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.test_dataset, batch_size=self.batch_size, shuffle=False)


def canvas_of(module, ckpt: str) -> int:
    config = module.net.config
    canvas = int(round(config.seq_len ** 0.5))
    if config.vocab_size != VOCAB_SIZE or canvas * canvas != config.seq_len:
        raise CheckpointError(f"{ckpt}: not an ARC model (it reads {config.seq_len} cells over {config.vocab_size}"
                              f" tokens; ARC's are a square canvas over {VOCAB_SIZE})")
    return canvas


def check_canvas(tasks: list[ARCTask], canvas: int) -> None:
    for task in tasks:
        if task.max_side() > canvas:
            raise UserError(f"{task.source}: a grid of side {task.max_side()}, larger than the model's canvas of "
                            f"{canvas}x{canvas}")


def predict_arc(module, checkpoint: dict, ckpt: str, tasks: list[ARCTask], folder: Path, out: Path,
                extra: int | None, precision: str, batch_size: int, pictures: int, progress: bool,
                adapt_settings: AdaptSettings | None = None) -> str:
    """Runs the test stage over the tasks, writing into `folder` (which becomes `out` once complete), after
    adapting the model to the tasks it never saw when `adapt_settings` is given; returns a line saying
    which tasks the model knew (and what adapting did)."""
    canvas = canvas_of(module, ckpt)
    check_canvas(tasks, canvas)
    table, origin = trained_table(checkpoint, ckpt)
    known = trained_variants(tasks, table)
    new = [task for task in tasks if task.id not in known]
    said = f"{origin}; {len(known)} of {len(tasks)} tasks given are among them"
    answering = module
    if new and adapt_settings is not None:
        answering, adapted, steps = adapted_alongside(module, new, canvas, adapt_settings, precision, progress)
        known.update(by_task(new, adapted))
        said += f"; adapted to the {len(new)} new to it ({steps} steps on their demonstrations)"
    elif new:
        said += f"; new to it (predicted without a puzzle embedding): {len(new)}"
    num_aug, seed = (table.num_aug, table.seed) if table else (UNSEEN_NUM_AUG, UNSEEN_SEED)
    variants = input_variants(tasks, known, extra, num_aug, seed)
    data = ARCPredictionData(tasks, variants, canvas, batch_size)
    trainer = L.Trainer(accelerator="cpu", devices=1, precision=precision, logger=False, enable_checkpointing=False,
                        enable_progress_bar=progress, enable_model_summary=False,
                        callbacks=[ARCEvaluation(str(folder), pictures=pictures, variants_setting="variants",
                                                 shown_dir=str(out))])
    trainer.test(answering, datamodule=data, verbose=False)
    return said
