"""The ARC DataModule: tasks -> (task, augmentation) puzzle variants -> samples made on the fly.

Split (as HRM and TRM): TRAIN = the demonstration pairs of all tasks (training and evaluation sets) +
the test pairs of the training tasks, each under every augmentation of its task; VAL = the test pairs
of the evaluation tasks (never trained on), under identity + `val_num_aug` of the same augmentations.
With split="holdout" the test pairs of every selected task validate instead, and none is trained on.
Every (task, augmentation) variant is one puzzle id (its puzzle embedding learns from the variant's
demonstrations), so a val sample carries the id its variant had in training.

Nothing is precomputed beyond an index table of numpy arrays: sample i is (variant, pair), and its
tokens are built in __getitem__ from (seed, i). ARC-AGI-1 at num_aug=500 (1.5M samples) costs ~18 MB
of RAM (index + variant tables) and no disk. With `precomputed_dir`, the same samples are read instead
from memory-mapped arrays written by `python -m hrm.data.build_arc` (see arc_precomputed.py).
"""

import logging

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from hrm.data.arc_precomputed import load_precomputed
from hrm.data.arc_tasks import ARCTask, check_task_ids, check_unique_ids, load_arc_tasks, load_task_tree, select_tasks
from hrm.data.augment import Augmentation, Translation, Variants, dihedral, random_offset
from hrm.data.grids import VOCAB_SIZE, encode_grid, labels_from_tokens
from hrm.data.official_ids import official_variants
from hrm.data.sampling import OneVariantPerTask, ResumableSampling
from hrm.errors import UserError
from hrm.modules.losses import IGNORE_LABEL

log = logging.getLogger(__name__)
KEEP_STREAM = 1  # ARCDataset._kept_in_place's random stream, apart from the offsets' (seed, sample)
SPLITS = ("hrm", "holdout")
SAMPLINGS = ("uniform", "per_task")
# What decides the tasks and their variants, and so the puzzle ids (tasks_and_variants).
PUZZLE_TABLE_SETTINGS = ("source", "num_aug", "seed", "canvas", "task_ids", "max_tasks", "extra_task_dirs",
                         "identifiers")


class ARCDataset(Dataset):
    """One split. Sample i = (variant, pair); the pair's grids are augmented, translated (if asked) and
    encoded when the sample is read, deterministically in (seed, i)."""

    def __init__(self, tasks, variants: Variants, pairs, num_variants, canvas: int, translation: Translation,
                 seed: int):
        """`pairs[t]` lists the (pair_index, input, output) of task t that this split uses; each is shown
        under the first `num_variants[t]` variants of task t (identity first)."""
        self.tasks, self.variants = tasks, variants
        self.canvas, self.translation, self.seed = canvas, translation, seed
        # Flat pair table: every used (input, output) once, with its index in its task.
        self.grids = [(inp, out) for task_pairs in pairs for _, inp, out in task_pairs]
        self.pair_index = np.array([j for task_pairs in pairs for j, _, _ in task_pairs], dtype=np.int32)
        self.pair_rank = np.array([k for task_pairs in pairs for k in range(len(task_pairs))], dtype=np.int32)
        self.pairs_per_task = np.array([len(task_pairs) for task_pairs in pairs], dtype=np.int64)
        sample_variant, sample_pair, next_pair = [np.zeros(0, np.int32)], [np.zeros(0, np.int32)], 0
        for t, task_pairs in enumerate(pairs):
            vs = np.arange(variants.first[t], variants.first[t] + num_variants[t], dtype=np.int32)
            ps = np.arange(next_pair, next_pair + len(task_pairs), dtype=np.int32)
            sample_variant.append(np.repeat(vs, len(ps)))  # variant-major: v0p0 v0p1 .. v1p0 v1p1 ..
            sample_pair.append(np.tile(ps, len(vs)))
            next_pair += len(task_pairs)
        self.sample_variant = np.concatenate(sample_variant)
        self.sample_pair = np.concatenate(sample_pair)

    def __len__(self) -> int:
        return len(self.sample_variant)

    def index_bytes(self) -> int:
        return self.sample_variant.nbytes + self.sample_pair.nbytes + self.pair_index.nbytes

    def _sample(self, i: int):
        """(variant, pair, augmented input, augmented output or None where it is unknown, offset) of sample i."""
        v, p = int(self.sample_variant[i]), int(self.sample_pair[i])
        k, lut = int(self.variants.dihedral[v]), self.variants.colour_perm[v]
        inp, out = (None if g is None else dihedral(lut[g], k) for g in self.grids[p])
        offset = (0, 0)
        if self.translation.enabled and not self._kept_in_place(v, p):
            shapes = (inp.shape,) if out is None else (inp.shape, out.shape)
            offset = random_offset(np.random.default_rng([self.seed, i]), shapes, self.canvas,
                                   eos_room=not self.translation.to_edge)
        return v, p, inp, out, offset

    def _kept_in_place(self, v: int, p: int) -> bool:
        """Is pair p the one of variant v that stays untranslated (Translation.keep_one)?"""
        if not self.translation.keep_one:
            return False
        pairs = int(self.pairs_per_task[self.variants.task[v]])
        return int(self.pair_rank[p]) == int(np.random.default_rng([self.seed, v, KEEP_STREAM]).integers(pairs))

    def sample_variants(self) -> np.ndarray:
        """The variant of every sample (for OneVariantPerTask)."""
        return self.sample_variant

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        v, _, inp, out, offset = self._sample(i)
        # A test input whose output the file does not give is still predicted (for submission.json); with
        # every label ignored, it is never scored.
        labels = np.full(self.canvas * self.canvas, IGNORE_LABEL, np.int64) if out is None else \
            labels_from_tokens(encode_grid(out, self.canvas, offset))
        return {
            "inputs": torch.from_numpy(encode_grid(inp, self.canvas, offset).astype(np.int64)),
            "labels": torch.from_numpy(labels),
            "puzzle_identifiers": torch.tensor(int(self.variants.puzzle_id[v]), dtype=torch.int64),
            "sample_index": torch.tensor(i, dtype=torch.int64),
        }

    def describe(self, i: int) -> tuple[str, int, Augmentation, tuple[int, int]]:
        i = int(i)
        v, p = int(self.sample_variant[i]), int(self.sample_pair[i])
        # Only a translated sample needs its grids built to know its offset; evaluation calls this for
        # every row it scores, on untranslated samples.
        offset = self._sample(i)[4] if self.translation.enabled else (0, 0)
        task = self.tasks[int(self.variants.task[v])]
        return task.id, int(self.pair_index[p]), self.variants.augmentation(v), offset


class ARCDataModule(ResumableSampling, L.LightningDataModule):
    def __init__(
        self,
        source: str = "arc-agi-1",
        num_aug: int = 500,
        seed: int = 42,
        canvas: int = 30,
        task_ids=None,
        max_tasks: int | None = None,
        translate: bool = True,
        val_num_aug: int = 0,
        batch_size: int = 24,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        split: str = "hrm",
        precomputed_dir: str | None = None,
        test_num_aug: int | None = None,
        sampling: str = "uniform",
        translate_to_edge: bool = False,
        untranslated_example: bool = False,
        extra_task_dirs=None,
        identifiers: str | None = None,
    ):
        """split: "hrm" (HRM/TRM's: the training tasks' test pairs are trained on, the evaluation tasks'
        test pairs validate) or "holdout" (the test pairs of every selected task validate and are never
        trained on: tasks learnt from their demonstrations alone, e.g. training-set tasks on a CPU).
        test_num_aug: augmented variants (beside identity) of each evaluation input voted over in the
        test stage; None: every variant the model trained with.
        precomputed_dir: read the samples from a dataset that build_arc wrote with these same settings
        (checked against its metadata.json) instead of building them on the fly.
        sampling: "uniform" (an epoch = every variant of every training pair, shuffled) or "per_task" (the
        official HRM/TRM loader's: an epoch visits each task once, in random order, as one random variant
        with all its training pairs).
        translate_to_edge, untranslated_example: see augment.Translation (the official builder: both on).
        extra_task_dirs: folders of ARC task files (searched below) trained on whole, demonstrations and
        test pairs, never evaluated: ConceptARC in the official ARC recipe.
        identifiers: the identifiers.json of an official HRM/TRM dataset build: each task's variants and
        their puzzle ids are the ones it names (a converted official model's puzzle table then lines up),
        in place of num_aug random ones."""
        super().__init__()
        if split not in SPLITS:
            raise UserError(f"data.split must be one of {', '.join(SPLITS)}, got {split!r}")
        if sampling not in SAMPLINGS:
            raise UserError(f"data.sampling must be one of {', '.join(SAMPLINGS)}, got {sampling!r}")
        if not 1 <= canvas <= 30:
            raise UserError(f"data.canvas must be 1-30 (ARC grids are at most 30x30), got {canvas}")
        for name, value in (("num_aug", num_aug), ("val_num_aug", val_num_aug), ("test_num_aug", test_num_aug)):
            if value is not None and value < 0:
                raise UserError(f"data.{name} must be >= 0, got {value}")
        for name, value in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size), ("max_tasks", max_tasks)):
            if value is not None and value < 1:
                raise UserError(f"data.{name} must be at least 1, got {value}")
        self.source, self.num_aug, self.seed, self.canvas = str(source), num_aug, seed, canvas
        self.task_ids = None if task_ids is None else [str(t) for t in task_ids]  # Hydra passes a ListConfig
        self.max_tasks, self.translate, self.val_num_aug = max_tasks, translate, val_num_aug
        self.sampling, self.translate_to_edge = sampling, translate_to_edge
        self.untranslated_example = untranslated_example
        self.extra_task_dirs = [str(folder) for folder in extra_task_dirs or []]
        self.batch_size, self.num_workers, self.split = batch_size, num_workers, split
        self.test_num_aug = test_num_aug
        self.precomputed_dir = None if precomputed_dir is None else str(precomputed_dir)
        self.identifiers = None if identifiers is None else str(identifiers)
        if self.identifiers is not None and self.precomputed_dir is not None:
            raise UserError("data.identifiers: the variants come from the official build's names, so they are"
                            " built on the fly; leave data.precomputed_dir unset")
        self.eval_batch_size = eval_batch_size or batch_size
        # Saved in every checkpoint (Lightning's datamodule_hyper_parameters): the settings that decide which
        # task and augmentation each puzzle id stands for, so that a checkpoint alone tells `hrm.predict`
        # the tasks its model learned.
        self.save_hyperparameters({name: getattr(self, name) for name in PUZZLE_TABLE_SETTINGS})
        self.vocab_size = VOCAB_SIZE
        self.seq_len = canvas * canvas
        self.train_dataset: ARCDataset | None = None
        self.val_dataset: ARCDataset | None = None
        self._tasks: tuple[list[ARCTask], int, int, Variants] | None = None
        self._test_dataset: ARCDataset | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_dataset is not None:  # idempotent: train.py calls it before building the model
            return
        if self.precomputed_dir is not None:
            self.train_dataset, self.val_dataset, self.num_puzzle_identifiers = load_precomputed(
                self.precomputed_dir, self
            )
            log.info(
                "ARC %s: precomputed in %s, %d puzzle variants, %d train / %d val samples",
                self.source, self.precomputed_dir, self.num_puzzle_identifiers - 1,
                len(self.train_dataset), len(self.val_dataset),
            )
            return
        self.train_dataset = self._build_split("train")
        self.val_dataset = self._build_split("val")
        tasks, n_training, n_evaluation, variants = self.tasks_and_variants()
        self.num_puzzle_identifiers = variants.num_puzzle_identifiers
        extra = len(tasks) - n_training - n_evaluation
        log.info(
            "ARC %s: %d training + %d evaluation tasks%s (canvas %d), %d puzzle variants,"
            " %d train / %d val samples",
            self.source, n_training, n_evaluation, f" + {extra} from data.extra_task_dirs" if extra else "",
            self.canvas, len(variants.task), len(self.train_dataset), len(self.val_dataset),
        )

    def tasks_and_variants(self) -> tuple[list[ARCTask], int, int, Variants]:
        """What the puzzle ids stand for: the selected tasks (training, evaluation, then extra tasks), how
        many are training and how many evaluation tasks, and their variants."""
        if self._tasks is None:
            training, evaluation = load_arc_tasks(self.source)
            extra = [task for folder in self.extra_task_dirs for task in load_task_tree(folder)]
            # Within one split a task id names one task (scores and official names are keyed by it); a source
            # whose evaluation folder repeats a training id is allowed, as its test pairs score separately.
            check_unique_ids(training + extra)
            check_unique_ids(evaluation)
            if self.identifiers is not None:
                check_unique_ids(training + evaluation + extra)
            check_task_ids(self.task_ids, training, evaluation)
            training = select_tasks(training, self.canvas, self.task_ids, self.max_tasks)
            evaluation = select_tasks(evaluation, self.canvas, self.task_ids, self.max_tasks)
            extra = select_tasks(extra, self.canvas)  # task_ids and max_tasks choose among the source's tasks
            if not training:
                raise UserError(
                    f"data: no ARC training task of {self.source} is left after filtering"
                    f" (canvas={self.canvas}, task_ids={self.task_ids}, max_tasks={self.max_tasks})"
                )
            tasks = training + evaluation + extra
            if self.identifiers is not None:
                variants = official_variants(self.identifiers, tasks)
            else:
                variants = Variants.build(tasks, self.num_aug, self.seed)
            self._tasks = (tasks, len(training), len(evaluation), variants)
        return self._tasks

    def _build_split(self, split: str) -> ARCDataset:
        tasks, n_training, n_evaluation, variants = self.tasks_and_variants()

        def held_out(t: int) -> bool:  # do task t's test pairs evaluate (and not train)? Extra tasks never do.
            if t >= n_training + n_evaluation:
                return False
            return self.split == "holdout" or t >= n_training

        if split == "train":  # demonstrations, + test pairs not held out
            pairs = [task.train + ([] if held_out(t) else task.test) for t, task in enumerate(tasks)]
            pairs = [[(j, inp, out) for j, (inp, out) in enumerate(p) if out is not None] for p in pairs]
            translation = Translation(self.translate, self.translate_to_edge, self.untranslated_example)
            return ARCDataset(tasks, variants, pairs, variants.count, self.canvas, translation, self.seed)

        # val/test: held-out test pairs (pair index = index in task.test), shown under a prefix of each task's
        # training variants (identity first), so they carry trained puzzle ids. Validation needs the answer;
        # the test stage also predicts test inputs whose output is unknown, for submission.json.
        pairs = [
            [(j, inp, out) for j, (inp, out) in enumerate(task.test) if out is not None or split == "test"]
            if held_out(t) else []
            for t, task in enumerate(tasks)
        ]
        extra = self.val_num_aug if split == "val" else self.test_num_aug
        counts = variants.count if extra is None else np.minimum(variants.count, 1 + extra)
        return ARCDataset(tasks, variants, pairs, counts, self.canvas, Translation(), self.seed)

    @property
    def test_dataset(self) -> ARCDataset:
        """The evaluation split for voting: the val pairs under `test_num_aug` variants (None: all, as
        trained). Built on the fly on first use, also when train/val are precomputed (it is small)."""
        if self._test_dataset is None:
            self._test_dataset = self._build_split("test")
        return self._test_dataset

    def describe(self, split: str, sample_index: int) -> tuple[str, int, Augmentation, tuple[int, int]]:
        """(task id, pair index, augmentation, offset) of a sample. The pair index counts the task's
        demonstration pairs then its test pairs in "train", and indexes its test pairs in "val"/"test"."""
        datasets = {"train": self.train_dataset, "val": self.val_dataset, "test": self.test_dataset}
        if split not in datasets:
            raise ValueError(f"split must be one of {sorted(datasets)}, got {split!r}")
        return datasets[split].describe(sample_index)

    def train_dataloader(self) -> DataLoader:
        order = None
        if self.sampling == "per_task":
            order = OneVariantPerTask(self.train_dataset.sample_variants(), self.train_dataset.variants.task)
        epoch = len(self.train_dataset) if order is None else len(order)
        if epoch < self.batch_size:
            raise UserError(
                f"an ARC training epoch has {epoch} samples{' (one variant per task)' if order else ''}, fewer"
                f" than one batch of {self.batch_size} (lower data.batch_size or use more tasks/augmentations)"
            )
        sampler = self.resumable_sampler(epoch, self.seed, order=order)
        # drop_last: the recurrent carry holds one row per batch slot, so every batch has the same size.
        return self._loader(self.train_dataset, self.batch_size, sampler=sampler, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_dataset, self.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_dataset, self.eval_batch_size)

    def _loader(self, dataset, batch_size, sampler=None, drop_last=False) -> DataLoader:
        return DataLoader(
            dataset, batch_size=batch_size, sampler=sampler, shuffle=False, drop_last=drop_last,
            num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
        )
