"""Task files, the ARC DataModule's split and batches, and exact resume under a real Lightning Trainer."""

import json
import logging
import warnings

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from hrm.data.arc import ARCDataModule
from hrm.data.arc_tasks import load_arc_tasks
from hrm.data.augment import task_augmentations
from hrm.data.grids import IGNORE_LABEL, encode_grid, labels_from_tokens
from hrm.data.sampling import ResumableRandomSampler
from hrm.errors import DataFormatError, UserError

# ARC-AGI-1 tasks with small grids. Pair counts (train, test), read off the task files:
# training 0d3d703e (4, 1) and 25ff71a9 (4, 2); evaluation 00576224 (2, 1) and 31d5ba1a (5, 2).
TRAINING_IDS, EVALUATION_IDS = ["0d3d703e", "25ff71a9"], ["00576224", "31d5ba1a"]


def _pair(i=1, o=2):
    return {"input": [[i, i], [i, 0]], "output": [[o]]}


def _write(folder, split, name, content):
    (folder / split).mkdir(parents=True, exist_ok=True)
    path = folder / split / f"{name}.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


RAGGED = {"input": [[1, 2], [3]], "output": [[1]]}
COLOUR_10 = {"input": [[1]], "output": [[0, 10]]}
TOO_BIG = {"input": [[0] * 31] * 31, "output": [[1]]}


@pytest.mark.parametrize(
    "content, problem",
    [
        ('{"train": [{"input": [[1]],\n "output": [[1]]}', "not valid JSON: Expecting ',' delimiter at line 2 "),
        ({"train": [RAGGED], "test": [_pair()]}, "train pair 0 input: row 1 has 1 cells"),
        ({"train": [_pair()], "test": [COLOUR_10]}, "test pair 0 output: colour 10 at (0, 1)"),
        ({"train": [_pair(), TOO_BIG], "test": [_pair()]}, "train pair 1 input: grid is 31x31"),
        ({"train": [_pair()], "test": []}, "task has no test pair"),
        ({"test": [_pair()]}, "missing key 'train'"),
        ({"train": [{"input": [[1]]}], "test": [_pair()]}, "train pair 0: missing 'output'"),
    ],
)
def test_bad_task_files_raise_one_line_errors_naming_the_file(tmp_path, content, problem):
    path = _write(tmp_path, "training", "bad", content)
    (tmp_path / "evaluation").mkdir()
    with pytest.raises(DataFormatError) as error:
        load_arc_tasks(str(tmp_path))
    message = str(error.value)
    assert message.startswith(f"{path}: ") and problem in message and "\n" not in message


def test_missing_folders_are_named(tmp_path):
    with pytest.raises(DataFormatError, match="no such folder"):
        load_arc_tasks(str(tmp_path / "nowhere"))
    _write(tmp_path, "training", "a", {"train": [_pair()], "test": [_pair()]})
    with pytest.raises(DataFormatError, match=f"{tmp_path / 'evaluation'}: missing folder"):
        load_arc_tasks(str(tmp_path))


def test_folder_source_split_skips_test_pairs_without_output(tmp_path):
    no_output = {"input": [[5]]}
    _write(tmp_path, "training", "a", {"train": [_pair()], "test": [_pair(3, 4), no_output]})
    _write(tmp_path, "evaluation", "b", {"train": [_pair(), _pair(6, 7)], "test": [no_output, _pair(8, 9)]})
    dm = ARCDataModule(source=str(tmp_path), num_aug=0, batch_size=2)
    dm.setup()
    assert dm.num_puzzle_identifiers == 3  # "no puzzle" + one identity variant per task
    assert len(dm.train_dataset) == 2 + 2  # a: demonstration + test pair; b: demonstrations only
    assert len(dm.val_dataset) == 1
    task_id, pair_index, aug, offset = dm.describe("val", 0)
    assert (task_id, pair_index, aug.is_identity, offset) == ("b", 1, True, (0, 0))  # indexes task.test
    with pytest.raises(UserError, match="4 samples, fewer than one batch of 10"):
        small = ARCDataModule(source=str(tmp_path), num_aug=0, batch_size=10)
        small.setup()
        small.train_dataloader()


def test_unknown_task_id_is_a_user_error():
    with pytest.raises(UserError, match="unknown ARC task.*nope"):
        ARCDataModule(task_ids=["0d3d703e", "nope"]).setup()


def test_small_canvas_keeps_only_tasks_that_fit():
    dm = ARCDataModule(canvas=10, max_tasks=5, num_aug=1, batch_size=4)
    dm.setup()
    tasks = dm.train_dataset.tasks
    assert dm.seq_len == 100 and len(tasks) == 10  # the first 5 of each set, by id
    assert all(t.max_side() <= 10 for t in tasks)
    training, _ = load_arc_tasks("arc-agi-1")
    assert [t.id for t in tasks[:5]] == sorted(t.id for t in training if t.max_side() <= 10)[:5]
    assert next(iter(dm.train_dataloader()))["inputs"].shape == (4, 100)


@pytest.fixture(scope="module")
def dm():
    dm = ARCDataModule(task_ids=TRAINING_IDS + EVALUATION_IDS, num_aug=4, val_num_aug=2, batch_size=8, seed=3)
    dm.setup()
    dm.setup()  # idempotent
    return dm


def test_split_sizes_match_a_count_by_hand(dm):
    training, evaluation = load_arc_tasks("arc-agi-1")
    by_id = {t.id: t for t in training + evaluation}
    assert all(len(task_augmentations(by_id[i], 4, 3)) == 5 for i in TRAINING_IDS + EVALUATION_IDS)
    # Test pairs count for the training tasks only.
    assert len(dm.train_dataset) == 5 * (4 + 1) + 5 * (4 + 2) + 5 * 2 + 5 * 5
    assert len(dm.val_dataset) == 3 * 1 + 3 * 2  # evaluation test pairs x (identity + 2 augmentations)
    assert dm.num_puzzle_identifiers == 1 + 4 * 5
    assert (dm.vocab_size, dm.seq_len) == (12, 900)


def test_batches_have_the_documented_keys_shapes_and_dtypes(dm):
    train = list(dm.train_dataloader())
    val = list(dm.val_dataloader())
    assert [len(b["sample_index"]) for b in train] == [8] * 11  # 90 samples, drop_last
    assert [len(b["sample_index"]) for b in val] == [8, 1]
    for batch in train + val:
        assert set(batch) == {"inputs", "labels", "puzzle_identifiers", "sample_index"}
        assert all(v.dtype == torch.int64 for v in batch.values())
        assert batch["inputs"].shape == batch["labels"].shape == (len(batch["sample_index"]), 900)
        assert batch["puzzle_identifiers"].min() >= 1


def _expected(dm, split, index):
    """Rebuild a sample from the original task through describe(): checks the sample and describe."""
    task_id, pair_index, aug, offset = dm.describe(split, index)
    task = next(t for t in dm.train_dataset.tasks if t.id == task_id)
    pairs = task.train + task.test if split == "train" else task.test
    inp, out = (aug.apply(g) for g in pairs[pair_index])
    tokens = encode_grid(inp, dm.canvas, offset), labels_from_tokens(encode_grid(out, dm.canvas, offset))
    return tokens, (task_id, aug), offset


def test_samples_rebuild_from_describe_and_val_reuses_training_puzzle_ids(dm):
    variant_of, offsets = {}, {"train": set(), "val": set()}
    for split, dataset in (("train", dm.train_dataset), ("val", dm.val_dataset)):
        for i in range(len(dataset)):
            sample = dataset[i]
            (inputs, labels), variant, offset = _expected(dm, split, i)
            np.testing.assert_array_equal(sample["inputs"].numpy(), inputs)
            np.testing.assert_array_equal(sample["labels"].numpy(), labels)  # PAD ignored, EOS kept
            assert (sample["labels"] == IGNORE_LABEL).any() and (sample["labels"] == 1).any()
            # Training defines each puzzle id's (task, augmentation); val must use the same ids.
            puzzle = int(sample["puzzle_identifiers"])
            assert variant_of.setdefault(puzzle, variant) == variant, split
            assert split == "train" or puzzle in variant_of
            offsets[split].add(offset)
    assert len(variant_of) == dm.num_puzzle_identifiers - 1
    assert len(offsets["train"]) > 10 and offsets["val"] == {(0, 0)}  # translation is for training only


def test_samples_are_identical_when_built_twice(dm):
    again = ARCDataModule(
        task_ids=TRAINING_IDS + EVALUATION_IDS, num_aug=4, val_num_aug=2, batch_size=8, seed=3
    )
    again.setup()
    other_seed = ARCDataModule(task_ids=TRAINING_IDS + EVALUATION_IDS, num_aug=4, batch_size=8, seed=4)
    other_seed.setup()
    differs = 0
    for i in range(len(dm.train_dataset)):
        a, b, c = dm.train_dataset[i], again.train_dataset[i], other_seed.train_dataset[i]
        assert all(torch.equal(a[k], b[k]) for k in a)
        differs += not torch.equal(a["inputs"], c["inputs"])
    assert differs > len(dm.train_dataset) // 2


def test_resumed_sampler_yields_exactly_the_rest_of_its_epoch():
    sampler = ResumableRandomSampler(50, seed=0)
    epoch0 = list(sampler)
    assert sorted(epoch0) == list(range(50)) and epoch0 == list(ResumableRandomSampler(50, seed=0))
    sampler.set_epoch(1)
    epoch1 = list(sampler)
    assert epoch1 != epoch0 and sorted(epoch1) == list(range(50))

    resumed = ResumableRandomSampler(50, seed=0)
    resumed.resume(epoch=1, samples_done=20)
    assert list(resumed) == epoch0  # epoch 0 is untouched
    resumed.set_epoch(1)
    assert list(resumed) == epoch1[20:] and len(resumed) == 50  # len stays the full epoch (see sampling.py)
    resumed.set_epoch(2)
    assert len(list(resumed)) == 50
    assert list(ResumableRandomSampler(5, seed=0, shuffle=False)) == [0, 1, 2, 3, 4]


class _Recorder(L.LightningModule):
    """Trains nothing useful: records which samples each training step saw."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen = []

    def training_step(self, batch, batch_idx):
        self.seen.append(tuple(batch["sample_index"].tolist()))
        return (self.weight * batch["inputs"].float().mean()).sum()

    def validation_step(self, batch, batch_idx):
        pass

    def configure_optimizers(self):
        # Like a real schedule: this builds the train loader early, before the loops are restored.
        total = self.trainer.estimated_stepping_batches
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / (total + 1))
        return [optimizer], [schedule]


def _fit(root, num_workers, ckpt_path=None, max_epochs=2):
    """Epochs of 9 batches; validation every 4 batches. One checkpoint per step (saved at
    on_train_batch_end) and one per validation (saved at on_validation_end)."""
    model = _Recorder()
    datamodule = ARCDataModule(
        task_ids=["0d3d703e", "00576224", "66e6c45b"], num_aug=3, batch_size=4, num_workers=num_workers
    )
    trainer = L.Trainer(
        max_epochs=max_epochs, accelerator="cpu", logger=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, val_check_interval=4, limit_val_batches=1,
        default_root_dir=root,
        callbacks=[
            ModelCheckpoint(dirpath=root / "steps", filename="{step}", every_n_train_steps=1, save_top_k=-1),
            ModelCheckpoint(dirpath=root / "val", filename="{step}", save_top_k=-1),
        ],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few workers, tiny batches
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
    return model.seen, trainer


def _epoch_batches(num_samples: int, epoch: int, batch_size: int = 4) -> list[tuple]:
    sampler = ResumableRandomSampler(num_samples, seed=42)
    sampler.set_epoch(epoch)
    order = list(sampler)
    return [tuple(order[i : i + batch_size]) for i in range(0, num_samples - batch_size + 1, batch_size)]


@pytest.mark.parametrize("num_workers", [0, 2])
def test_lightning_resume_continues_exactly_where_the_checkpoint_was_saved(tmp_path, num_workers):
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    seen, trainer = _fit(tmp_path / "full", num_workers)
    n = len(trainer.datamodule.train_dataset)
    assert trainer.num_training_batches == 9 and n == 36
    assert seen == _epoch_batches(n, 0) + _epoch_batches(n, 1)
    three_epochs = seen + _epoch_batches(n, 2)
    trainer.save_checkpoint(tmp_path / "full" / "after_fit.ckpt")
    cases = {
        "steps/step=3.ckpt": {"epoch": 0, "samples_done": 12},  # mid-epoch, at on_train_batch_end
        "val/step=4.ckpt": {"epoch": 0, "samples_done": 16},  # mid-epoch, at on_validation_end
        "steps/step=9.ckpt": {"epoch": 1, "samples_done": 0},  # last batch of epoch 0: start epoch 1
        "val/step=13.ckpt": {"epoch": 1, "samples_done": 16},
        "steps/step=15.ckpt": {"epoch": 1, "samples_done": 24},
        "after_fit.ckpt": {"epoch": 2, "samples_done": 0},  # trainer.save_checkpoint after fit()
    }
    if num_workers:  # the same paths, fewer of them: worker start-up is slow on 2 cores
        cases = {k: v for k, v in cases.items() if k in ("steps/step=9.ckpt", "val/step=13.ckpt")}
    for name, state in cases.items():
        path = tmp_path / "full" / name
        checkpoint = torch.load(path, weights_only=False)
        assert checkpoint["ARCDataModule"] == state, name
        resumed, _ = _fit(tmp_path / name.replace("/", "_"), num_workers, ckpt_path=path, max_epochs=3)
        assert resumed == three_epochs[checkpoint["global_step"] :], name
