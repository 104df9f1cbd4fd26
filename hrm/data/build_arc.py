"""Precompute the ARC samples of one data configuration into memory-mapped arrays.

    python -m hrm.data.build_arc --num-aug 500 --seed 42 --output-dir data/arc-aug-500
    python train.py data.num_aug=500 seed=42 data.precomputed_dir=data/arc-aug-500

The samples are those of a real ARCDataModule with the same settings, read through its datasets (there
is no second implementation to drift from), so training on the folder sees exactly the samples it
would build on the fly; the DataModule checks the folder's metadata.json against its settings. The
layout is described in arc_precomputed.py.

A build writes into `<output-dir>.partial-<pid>` beside the target, writes metadata.json last and only
then renames the folder into place: a killed build leaves a partial folder that no loader accepts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from numpy.lib.format import open_memmap
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn
from rich.progress import TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text
from torch.utils.data import DataLoader

from hrm.data.arc import ARCDataModule, ARCDataset
from hrm.data.arc_precomputed import VARIANT_ARRAYS, metadata_for
from hrm.data.grids import COLOR_OFFSET, IGNORE_LABEL, PAD, VOCAB_SIZE
from hrm.errors import UserError
from hrm.utils.io import atomic_write_json
from hrm.utils.cli import ArgumentParser, int_at_least, one_line_errors

CHUNK = 4096  # samples per batch written: a progress update every fraction of a second
DATASET_NAMES = {"metadata.json", "task_ids.npy", "train", "val", *(f"{name}.npy" for name in VARIANT_ARRAYS)}
assert VOCAB_SIZE <= 256, "tokens are stored as uint8"


def compact(dataset: ARCDataset, start: int, batch: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """A batch of the dataset's samples start.., as its DataLoader yields them, in the on-disk form."""
    inputs, labels = batch["inputs"].numpy(), batch["labels"].numpy()
    # Labels are stored as tokens (IGNORE_LABEL back to PAD); labels_from_tokens undoes that on read,
    # which is exact only while no supervised label is PAD itself.
    if (labels == PAD).any():
        raise RuntimeError("a supervised label equals PAD: the uint8 label encoding would lose it")
    # describe()'s translation: encode_grid puts the grid's top-left cell, the first colour token of
    # the board, at the offset (everything before it is PAD).
    first_colour = (inputs >= COLOR_OFFSET).argmax(axis=1)
    stop = start + len(inputs)
    return {
        "inputs": inputs.astype(np.uint8),
        "labels": np.where(labels == IGNORE_LABEL, PAD, labels).astype(np.uint8),
        "puzzle_identifiers": batch["puzzle_identifiers"].numpy().astype(np.int32),
        "pair_index": dataset.pair_index[dataset.sample_pair[start:stop]].astype(np.int32),
        "offsets": np.stack(np.divmod(first_colour, dataset.canvas), axis=1).astype(np.uint8),
    }


class _SamplesPerSecond(ProgressColumn):
    def render(self, task) -> Text:
        # rich's own speed needs two updates; a split written in one batch gets one, so say the average.
        elapsed = task.finished_time or task.elapsed
        speed = task.speed or (task.completed / elapsed if task.completed and elapsed else None)
        return Text(f"{speed:,.0f} samples/s" if speed else "", style="progress.data.speed")


def split_layout(dataset: ARCDataset) -> dict[str, tuple[tuple[int, ...], type]]:
    """(shape, dtype) of each array of a split, as arc_precomputed.py documents them."""
    n, seq_len = len(dataset), dataset.canvas ** 2
    return {"inputs": ((n, seq_len), np.uint8), "labels": ((n, seq_len), np.uint8),
            "puzzle_identifiers": ((n,), np.int32), "pair_index": ((n,), np.int32), "offsets": ((n, 2), np.uint8)}


def split_bytes(dataset: ARCDataset) -> int:
    return sum(int(np.prod(shape)) * np.dtype(dtype).itemsize for shape, dtype in split_layout(dataset).values())


def write_split(dataset: ARCDataset, folder: Path, workers: int, progress: Progress, name: str) -> None:
    folder.mkdir()
    arrays = {key: open_memmap(folder / f"{key}.npy", mode="w+", dtype=dtype, shape=shape)
              for key, (shape, dtype) in split_layout(dataset).items()}
    task = progress.add_task(name, total=len(dataset))
    # The dataset's own batches, in order; with workers, the main process writes while they encode.
    loader = DataLoader(dataset, batch_size=CHUNK, shuffle=False, num_workers=workers)
    start = 0
    for batch in loader:
        stop = start + len(batch["sample_index"])
        for key, values in compact(dataset, start, batch).items():
            arrays[key][start:stop] = values
        progress.advance(task, stop - start)
        start = stop
    for array in arrays.values():
        array.flush()  # on disk before metadata.json declares the dataset complete


def build(datamodule: ARCDataModule, out: Path, workers: int, console: Console) -> dict:
    """Write the datamodule's (set up) samples to `out` through a partial folder; return its metadata."""
    train, val = datamodule.train_dataset, datamodule.val_dataset
    # Memory-mapped files are sparse until written: a full disk would kill the build with SIGBUS.
    _check_free_space(out, split_bytes(train) + split_bytes(val))
    partial = out.with_name(f"{out.name}.partial-{os.getpid()}")
    partial.mkdir(parents=True)
    try:
        variants = train.variants
        np.save(partial / "task_ids.npy", np.array([t.id for t in train.tasks], dtype=str))
        np.save(partial / "variant_task.npy", variants.task)
        np.save(partial / "variant_dihedral.npy", variants.dihedral)
        np.save(partial / "variant_colour_perm.npy", variants.colour_perm)
        columns = (TextColumn("{task.description:>5}"), BarColumn(), MofNCompleteColumn(), _SamplesPerSecond(),
                   TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
        with Progress(*columns, console=console) as progress:
            for name, dataset in (("train", train), ("val", val)):
                write_split(dataset, partial / name, workers, progress, name)
        metadata = metadata_for(datamodule, {"train": len(train), "val": len(val)}, num_tasks=len(train.tasks))
        atomic_write_json(partial / "metadata.json", metadata)  # last: it marks the dataset complete
        _move_into_place(partial, out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)  # not on SIGKILL: the loader refuses what is left
        raise
    return metadata


def _check_free_space(out: Path, nbytes: int) -> None:
    where = next(p for p in (out.absolute(), *out.absolute().parents) if p.exists())
    free = shutil.disk_usage(where).free
    if free < nbytes:
        raise UserError(f"{out}: the dataset needs {nbytes / 1e9:.2f} GB, {where} has {free / 1e9:.2f} GB free")


def _move_into_place(partial: Path, out: Path) -> None:
    if out.exists():  # an empty folder, or an old dataset that --force replaces
        old = out.with_name(f"{out.name}.old-{os.getpid()}")
        os.rename(out, old)
        os.rename(partial, out)
        shutil.rmtree(old)
    else:
        os.rename(partial, out)


def check_output_dir(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    entries = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if not entries:
        return
    if not force:
        raise UserError(f"{out}: folder is not empty; pass --force to replace it")
    # --force replaces an old dataset, not a folder given by mistake (the repository, a home folder).
    foreign = [name for name in entries if name not in DATASET_NAMES]
    if foreign:
        raise UserError(f"{out}: holds {foreign[0]!r}, which is not part of a dataset; not replacing it")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = ArgumentParser(prog="python -m hrm.data.build_arc", description=__doc__.split("\n\n")[0],
                epilog="The data options mirror the data.* settings of configs/data/arc.yaml.")
    p.add_argument("--output-dir", required=True, type=Path, help="the dataset folder to write")
    p.add_argument("--source", default="arc-agi-1", help="arc-agi-1 | arc-agi-2 | a folder (default: arc-agi-1)")
    p.add_argument("--num-aug", type=int, default=500, help="augmented variants per task (default: 500)")
    p.add_argument("--seed", type=int, default=42, help="the training run's seed (default: 42)")
    p.add_argument("--canvas", type=int, default=30, help="canvas side: sequence length canvas^2 (default: 30)")
    p.add_argument("--split", default="hrm", help="hrm | holdout (default: hrm)")
    p.add_argument("--val-num-aug", type=int, default=0, help="augmented variants per val pair (default: 0)")
    p.add_argument("--task-ids", type=lambda s: [t for t in s.split(",") if t], help="comma-separated task ids")
    p.add_argument("--max-tasks", type=int_at_least(1), help="keep the first N training and N evaluation tasks")
    p.add_argument("--translate", action=argparse.BooleanOptionalAction, default=True,
                   help="random translation of training samples (default: on)")
    p.add_argument("--translate-to-edge", action="store_true",
                   help="translation offsets over the whole canvas, as the official builder (default: off)")
    p.add_argument("--untranslated-example", action="store_true",
                   help="one training pair of every variant stays untranslated, as the official builder")
    p.add_argument("--extra-task-dir", action="append", default=[], metavar="FOLDER",
                   help="a folder of ARC task files trained on whole (e.g. ConceptARC); repeatable")
    p.add_argument("--force", action="store_true", help="replace an existing dataset folder")
    # Off by default: on 2 shared cores, 1 or 2 workers were slower than none (the copies cost more).
    p.add_argument("--workers", type=int_at_least(0), default=0, help="processes encoding samples (default: 0)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    try:
        return one_line_errors(lambda: build_from_args(parse_args(argv)))
    except KeyboardInterrupt:
        print("error: interrupted; nothing was written", file=sys.stderr)
        return 130


def build_from_args(args: argparse.Namespace) -> int:
    check_output_dir(args.output_dir, args.force)
    leftovers = sorted(args.output_dir.parent.glob(f"{args.output_dir.name}.partial-*"))
    if leftovers:
        names = ", ".join(map(str, leftovers))
        print(f"note: left by an interrupted build (delete when no build is running): {names}", file=sys.stderr)
    started = time.perf_counter()
    datamodule = ARCDataModule(
        source=args.source, num_aug=args.num_aug, seed=args.seed, canvas=args.canvas, task_ids=args.task_ids,
        max_tasks=args.max_tasks, translate=args.translate, val_num_aug=args.val_num_aug, split=args.split,
        translate_to_edge=args.translate_to_edge, untranslated_example=args.untranslated_example,
        extra_task_dirs=args.extra_task_dir,
    )
    datamodule.setup()
    set_up = time.perf_counter()
    metadata = build(datamodule, args.output_dir, args.workers, Console(stderr=True))
    done = time.perf_counter()
    counts = metadata["counts"]
    size = sum(f.stat().st_size for f in args.output_dir.rglob("*") if f.is_file())
    print(
        f"wrote {args.output_dir}: {counts['train']:,} train + {counts['val']:,} val samples,"
        f" {metadata['num_puzzle_identifiers']:,} puzzle ids, {size / 1e6:,.1f} MB in {done - started:.1f} s"
        f" (setup {set_up - started:.1f} s, {sum(counts.values()) / (done - set_up):,.0f} samples/s written)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
