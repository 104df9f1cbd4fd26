"""Sudoku and maze DataModules (`data=sudoku`, `data=maze`): fixed-size token grids, one answer grid each.

Puzzles are generated here (seeded, cached under `data_dir` so a second run starts at once) or read from
the published CSVs (Sudoku-Extreme, Maze-Hard) for users who have them. Train, val and test sets are
generated from different seeds, and val/test drop any puzzle the training set holds. Each task says
what "solved" means (`solved`): for Sudoku any valid grid that keeps the givens, for a maze any
shortest path; the module's `exact_accuracy` counts those.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from hrm.data import maze, sudoku
from hrm.data.sudoku_hard import generate_many_hard, rating_distribution
from hrm.data.sampling import ResumableSampling
from hrm.errors import UserError
from hrm.modules.losses import IGNORE_LABEL
from hrm.utils.io import atomic_path

log = logging.getLogger(__name__)


class GridPuzzles(Dataset):
    """Puzzles and answers as token rows; sample i is puzzle i % N, and with `augment` every copy after the
    first is augmented. The DataLoader fetches whole batches (`__getitems__`): one vectorised augmentation
    per batch, seeded by (seed, the batch's sample indices), so a batch is the same on every run and resume."""

    def __init__(self, inputs: np.ndarray, labels: np.ndarray, variants: int = 1,
                 augment: Callable | None = None, seed: int = 0):
        self.inputs, self.labels = inputs, labels
        self.variants, self.augment, self.seed = variants, augment, seed

    def __len__(self) -> int:
        return len(self.inputs) * self.variants

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        index = np.asarray(indices, dtype=np.int64)
        base = index % len(self.inputs)
        inputs, labels = self.inputs[base], self.labels[base]
        augmented = index >= len(self.inputs)  # the first copy of each is as generated
        if self.augment is not None and augmented.any():
            rng = np.random.default_rng([self.seed, *index.tolist()])
            new_inputs, new_labels = self.augment(inputs, labels, rng)
            inputs = np.where(augmented[:, None], new_inputs, inputs)
            labels = np.where(augmented[:, None], new_labels, labels)
        return {
            "inputs": torch.as_tensor(inputs, dtype=torch.int64),
            "labels": torch.as_tensor(labels, dtype=torch.int64),
            "puzzle_identifiers": torch.zeros(len(index), dtype=torch.int64),
            "sample_index": torch.as_tensor(index),
        }

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {key: value[0] for key, value in self.__getitems__([i]).items()}


def already_batched(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The DataLoader's collate_fn for datasets with `__getitems__`, which build the batch themselves."""
    return batch


def every_row(csv: str | None, **counts: int | None) -> None:
    """null counts mean "every row of the test CSV", which generated puzzles do not have."""
    for name, count in counts.items():
        if count is None and csv is None:
            raise UserError(f"data.{name}=null reads every row of data.test_csv; generated puzzles need a count")


class GridPuzzleDataModule(ResumableSampling, L.LightningDataModule):
    """What Sudoku and mazes share: sets, loaders, sizes. Subclasses build (inputs, labels) token arrays."""

    vocab_size: int
    seq_len: int

    def __init__(self, num_train: int, num_val: int | None, num_test: int | None, seed: int, batch_size: int,
                 eval_batch_size: int | None, num_workers: int, data_dir: str | None, variants: int = 1,
                 shared_puzzle_id: bool = False):
        super().__init__()
        # One rule for every puzzle, so no embedding per puzzle. With shared_puzzle_id every sample carries
        # id 0 of a one-row table: the model learns one prefix vector, as the official Sudoku and maze
        # models do (their checkpoints hold that row).
        self.num_puzzle_identifiers = 1 if shared_puzzle_id else 0
        self.num_train, self.num_val, self.num_test = num_train, num_val, num_test
        self.seed, self.variants = seed, variants
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size or batch_size
        self.num_workers = num_workers
        self.data_dir = Path(data_dir) if data_dir else None
        self.train_dataset = self.val_dataset = self.test_dataset = None

    # subclasses
    def build(self, split: str, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def cache_name(self, split: str, count: int, seed: int) -> str | None:
        return None

    def augment(self, inputs: np.ndarray, labels: np.ndarray, rng: np.random.Generator):
        """Augment a batch of token rows [batch, seq_len], each row its own draw from `rng`."""
        return inputs, labels

    def solved(self, predictions: torch.Tensor, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return (predictions == labels).all(dim=-1)

    # shared
    def setup(self, stage: str | None = None) -> None:
        if self.train_dataset is not None:
            return
        train = self._split("train", self.num_train, self.seed)
        seen = {row.tobytes() for row in train[0]}
        held_out = {}
        for offset, (split, count) in enumerate((("val", self.num_val), ("test", self.num_test)), start=1):
            inputs, labels = self._split(split, count, self.seed + 7919 * offset)
            fresh = np.array([row.tobytes() not in seen for row in inputs], dtype=bool)
            held_out[split] = (inputs[fresh], labels[fresh])
        augment = self.augment if self.variants > 1 else None
        self.train_dataset = GridPuzzles(*train, variants=self.variants, augment=augment, seed=self.seed)
        self.val_dataset = GridPuzzles(*held_out["val"])
        self.test_dataset = GridPuzzles(*held_out["test"])
        log.info("%s: %d train puzzles (x%d variants), %d val, %d test", type(self).__name__,
                 len(train[0]), self.variants, len(self.val_dataset), len(self.test_dataset))

    def _split(self, split: str, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        name = self.cache_name(split, count, seed)
        path = self.data_dir / name if (self.data_dir and name) else None
        if path is not None and path.is_file():
            cached = self._read_cache(path, count)
            if cached is not None:
                return cached
        inputs, labels = self.build(split, count, seed)
        if path is not None:
            with atomic_path(path) as tmp:
                with open(tmp, "wb") as handle:
                    np.savez(handle, inputs=inputs, labels=labels)
        return inputs, labels

    def _read_cache(self, path: Path, count: int) -> tuple[np.ndarray, np.ndarray] | None:
        """A split cached by an earlier run, checked as data (no pickle; integer tokens of this task's
        vocabulary, `count` rows of seq_len); None, so that it is built again, if it is anything else."""
        try:
            with np.load(path, allow_pickle=False) as saved:
                inputs, labels = np.asarray(saved["inputs"]), np.asarray(saved["labels"])
        except Exception as error:  # zip, npy or key errors: a damaged or foreign file
            log.warning("%s: unreadable cache (%s); building the split again", path, type(error).__name__)
            return None
        fits = (inputs.shape == labels.shape and inputs.ndim == 2 and inputs.shape[0] <= count
                and inputs.shape[1] == self.seq_len and inputs.dtype.kind in "iu" and labels.dtype.kind in "iu"
                and bool(((inputs >= 0) & (inputs < self.vocab_size)).all())
                and bool((((labels >= 0) & (labels < self.vocab_size)) | (labels == IGNORE_LABEL)).all()))
        if not fits:
            log.warning("%s: cache does not hold this task's puzzles; building the split again", path)
            return None
        return inputs, labels

    def train_dataloader(self) -> DataLoader:
        if len(self.train_dataset) < self.batch_size:
            raise UserError(f"data: {len(self.train_dataset)} training samples, fewer than one batch of"
                            f" {self.batch_size} (lower data.batch_size or raise data.num_train)")
        sampler = self.resumable_sampler(len(self.train_dataset), self.seed)
        # drop_last: the recurrent carry holds one row per batch slot, so every batch has the same size.
        return DataLoader(self.train_dataset, batch_size=self.batch_size, sampler=sampler, drop_last=True,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
                          collate_fn=already_batched)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_dataset, batch_size=self.eval_batch_size, num_workers=self.num_workers,
                          collate_fn=already_batched)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.test_dataset, batch_size=self.eval_batch_size, num_workers=self.num_workers,
                          collate_fn=already_batched)


class SudokuDataModule(GridPuzzleDataModule):
    """n x n Sudoku (4, 6 or 9) with `blanks` blanks and a unique solution; or, with `min_rating`, hard 9x9
    ones (minimal puzzles the search needs at least that many guesses for: hrm/data/sudoku_hard.py); or
    Sudoku-Extreme's CSVs."""

    def __init__(self, size: int = 9, blanks: int | None = 41, num_train: int = 10000, num_val: int | None = 1000,
                 num_test: int | None = 1000, variants: int = 100, train_csv: str | None = None,
                 test_csv: str | None = None, seed: int = 0, batch_size: int = 128,
                 eval_batch_size: int | None = None, num_workers: int = 0, data_dir: str | None = None,
                 shared_puzzle_id: bool = False, min_rating: int | None = None):
        if size not in sudoku.BOXES:
            raise UserError(f"data.size={size}: a generated Sudoku is {', '.join(map(str, sorted(sudoku.BOXES)))} wide")
        if min_rating is not None and (size != 9 or blanks is not None or min_rating < 0):
            raise UserError(f"data.min_rating={min_rating}: hard Sudoku are 9x9 minimal puzzles rated at least 0;"
                            " set data.size=9 and data.blanks=null (a minimal puzzle has as many as it has)")
        if min_rating is None and blanks is None:
            raise UserError("data.blanks=null: give the blanks, or data.min_rating for hard minimal puzzles")
        if (train_csv is None) != (test_csv is None):
            raise UserError("data: give both data.train_csv and data.test_csv (Sudoku-Extreme), or neither")
        every_row(train_csv, num_val=num_val, num_test=num_test)
        if train_csv is not None and size != 9:
            raise UserError(f"data.size={size}: Sudoku-Extreme's CSVs hold 9x9 puzzles")
        super().__init__(num_train, num_val, num_test, seed, batch_size, eval_batch_size, num_workers,
                         data_dir, variants, shared_puzzle_id)
        self.size, self.blanks, self.min_rating = size, blanks, min_rating
        self.train_csv, self.test_csv = train_csv, test_csv
        self.vocab_size, self.seq_len = sudoku.vocab_size(size), size * size

    def build(self, split: str, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        if self.train_csv is not None:
            puzzles, answers = sudoku.read_sudoku_csv(self.train_csv if split == "train" else self.test_csv, count)
        elif self.min_rating is not None:
            puzzles, answers, ratings = generate_many_hard(count, self.min_rating, seed)
            log.info("hard Sudoku, %s: %d puzzles, ratings (guesses) %s, givens median %d", split, count,
                     rating_distribution(ratings), int(np.median((puzzles > 0).sum((1, 2)))))
        else:
            puzzles, answers = sudoku.generate_many(self.size, self.blanks, count, seed)
        return (np.stack([sudoku.to_tokens(p) for p in puzzles]), np.stack([sudoku.to_tokens(a) for a in answers]))

    def cache_name(self, split: str, count: int, seed: int) -> str | None:
        if self.train_csv is not None:
            return None  # the CSV is the cache
        if self.min_rating is not None:
            return f"sudoku/{self.size}x{self.size}-minimal-rated{self.min_rating}-{count}-seed{seed}.npz"
        return f"sudoku/{self.size}x{self.size}-{self.blanks}blanks-{count}-seed{seed}.npz"

    def augment(self, inputs, labels, rng):
        n = self.size
        puzzles, answers = sudoku.augment([sudoku.from_tokens(inputs, n), sudoku.from_tokens(labels, n)], rng)
        return sudoku.to_tokens(puzzles), sudoku.to_tokens(answers)

    def solved(self, predictions, inputs, labels):
        return sudoku.solved_rows(predictions, inputs, self.size)


class MazeDataModule(GridPuzzleDataModule):
    """n x n mazes with a start, a goal and a shortest path to find, or Maze-Hard's CSVs."""

    def __init__(self, size: int = 15, loops: float = 0.1, num_train: int = 10000, num_val: int | None = 1000,
                 num_test: int | None = 1000, train_csv: str | None = None, test_csv: str | None = None,
                 seed: int = 0, batch_size: int = 64, eval_batch_size: int | None = None, num_workers: int = 0,
                 data_dir: str | None = None, shared_puzzle_id: bool = False):
        if (train_csv is None) != (test_csv is None):
            raise UserError("data: give both data.train_csv and data.test_csv (Maze-Hard), or neither")
        every_row(train_csv, num_val=num_val, num_test=num_test)
        super().__init__(num_train, num_val, num_test, seed, batch_size, eval_batch_size, num_workers, data_dir,
                         shared_puzzle_id=shared_puzzle_id)
        self.size, self.loops = size, loops
        self.train_csv, self.test_csv = train_csv, test_csv
        self.vocab_size, self.seq_len = maze.VOCAB_SIZE, size * size

    def build(self, split: str, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        if self.train_csv is not None:
            mazes, labels = maze.read_maze_csv(self.train_csv if split == "train" else self.test_csv, count)
            if mazes.shape[1] != self.size:
                raise UserError(f"data.size={self.size}, but the mazes of {self.train_csv} are {mazes.shape[1]} wide")
        else:
            mazes, labels = maze.generate_many(self.size, count, seed, self.loops)
        return mazes.reshape(len(mazes), -1), labels.reshape(len(labels), -1)

    def cache_name(self, split: str, count: int, seed: int) -> str | None:
        if self.train_csv is not None:
            return None
        return f"maze/{self.size}x{self.size}-loops{self.loops:g}-{count}-seed{seed}.npz"

    def solved(self, predictions, inputs, labels):
        return maze.solved_rows(predictions, inputs, labels)
