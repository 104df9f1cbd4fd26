"""Data-parallel training (`trainer=ddp`): 2 CPU processes over gloo take the same steps as 1 process
on the same global batch, the sparse puzzle-embedding updates included."""

import torch

from hrm.data.sampling import ResumableRandomSampler
from hrm.training import run
from hrm.utils.compose import compose_train_config
from tests.conftest import TINY, run_train

# fp32 and no halting exploration (its random draws are per process): the two runs must agree to rounding.
EXACT = ["experiment=arc_tiny", *TINY, "trainer.precision=32-true", "model.act.halt_exploration_prob=0",
         "trainer.max_steps=3", "test=false", "callbacks.progress_bar=null"]


def test_two_processes_train_like_one_on_the_same_global_batch(tmp_path):
    run(compose_train_config([*EXACT, "data.batch_size=8"], tmp_path / "one"))  # in this process: the reference
    # As a sweep job: its 2nd process must rerun this job, not the sweep.
    ddp = run_train(["-m", *EXACT, "trainer=ddp", "data.batch_size=4"], tmp_path / "two")
    assert ddp.returncode == 0, ddp.stderr[-2000:]
    assert ddp.stdout.count("results (") == 1  # one process reports

    (one,) = (tmp_path / "one" / "checkpoints" / "arc_tiny").glob("last.ckpt")
    (two,) = (tmp_path / "two" / "checkpoints" / "arc_tiny").glob("*/last.ckpt")
    one, two = (torch.load(path, weights_only=True) for path in (one, two))
    assert one["global_step"] == two["global_step"] == 3
    for key, weights in one["state_dict"].items():
        torch.testing.assert_close(two["state_dict"][key], weights, rtol=1e-5, atol=1e-6, msg=key)
    # The puzzle embeddings start at zero: sign-SGD moved the rows of the puzzles the batches held.
    name = "net.input.puzzle_emb.weight"
    table = one["state_dict"][name]
    assert 0 < int((table.abs().sum(-1) > 0).sum()) and (two["state_dict"][name] == table).all()


def test_each_process_takes_its_share_of_one_seeded_order():
    whole = list(ResumableRandomSampler(10, seed=3))
    shards = [ResumableRandomSampler(10, seed=3, num_replicas=3, rank=r) for r in range(3)]
    assert [list(s) for s in shards] == [whole[0:9:3], whole[1:9:3], whole[2:9:3]]  # 10th left out
    assert all(len(s) == 3 for s in shards)
    # Resuming skips global samples: the same ones for 1 or 2 processes.
    resumed = [ResumableRandomSampler(10, seed=3, num_replicas=2, rank=r) for r in range(2)]
    for sampler in resumed:
        sampler.resume(epoch=0, samples_done=4)
    assert sorted(list(resumed[0]) + list(resumed[1])) == sorted(whole[4:])
