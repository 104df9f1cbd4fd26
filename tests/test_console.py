"""What a run prints: a short start, progress towards the run's total steps (a line every few seconds
without a terminal), one results block; `verbose=true` shows what Lightning and wandb have to say."""

import re

from tests.conftest import run_train


def test_a_default_run_prints_a_screenful_with_progress_and_one_results_block(tmp_path):
    result = run_train(["experiment=arc_tiny", "debug=tiny", "trainer.max_steps=12",
                        "callbacks.progress_bar.every_seconds=0"], tmp_path, fresh=True)  # imports' warnings too
    assert result.returncode == 0, result.stderr[-2000:]
    lines = (result.stdout + result.stderr).splitlines()
    assert len(lines) <= 30 + 12, "\n".join(lines)  # the start, results and ARC lines, and a line per step here
    assert lines[1].startswith("model: HRM with") and lines[2].startswith("precision: ")
    assert re.search(r"^step 12/12 \(100%\)  epoch \d+  loss [\d.]+ .* steps/s  done$", result.stdout, re.M)
    assert re.search(r"^step 6/12 \(50%\)  epoch \d+  loss .* ETA \d:\d\d:\d\d$", result.stdout, re.M)
    assert result.stdout.count("results (all of them in metrics.json):") == 1
    assert "Test metric" not in result.stdout and "wandb: " not in result.stdout + result.stderr
    for noise in ("GPU available", "Tip:", "Seed set", "Total FLOPs", "Warning", "Epoch 0/"):
        assert noise not in result.stdout + result.stderr, noise
    assert re.search(r"checkpoints: .*\(.*last\.ckpt [\d.]+ MB.*MB in all\)", result.stdout)


def test_verbose_shows_everything(tmp_path):
    result = run_train(["experiment=arc_tiny", "debug=tiny", "logger=csv", "trainer.max_steps=2", "verbose=true"],
                       tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    output = result.stdout + result.stderr
    assert "GPU available" in output and "Test metric" in output and "Trainable params" in output


def test_periodic_checkpoints_keep_the_three_most_recent(tmp_path):
    result = run_train(["experiment=arc_tiny", "debug=tiny", "logger=csv", "trainer.max_steps=-1",
                        "trainer.max_epochs=20", "callbacks.every_5_epochs.every_n_epochs=2", "test=false"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    names = sorted(p.name for p in (tmp_path / "checkpoints" / "arc_tiny").glob("*.ckpt"))
    assert names == ["best.ckpt", "epoch-015.ckpt", "epoch-017.ckpt", "epoch-019.ckpt", "last.ckpt"]


def test_a_run_killed_after_a_periodic_checkpoint_keeps_no_extra_one(tmp_path):
    # last.ckpt at step 10, epoch-001.ckpt at step 12, the kill at 13: resuming from step 10 saves
    # epoch-001 again, in place, so the three most recent are all that stay
    args = ["experiment=arc_tiny", "debug=tiny", "logger=none", "trainer.max_steps=-1", "trainer.max_epochs=8",
            "callbacks.every_5_epochs.every_n_epochs=2", "test=false", "trainer.val_check_interval=1.0",
            "trainer.check_val_every_n_epoch=100", "callbacks.last.every_n_train_steps=10"]
    ckpt_dir = tmp_path / "checkpoints" / "arc_tiny"
    assert run_train([*args, "crash_at_step=13"], tmp_path).returncode == -9
    assert (ckpt_dir / "epoch-001.ckpt").is_file()
    resumed = run_train(args, tmp_path)
    assert resumed.returncode == 0 and "resuming from" in resumed.stdout, resumed.stderr[-2000:]
    names = sorted(p.name for p in ckpt_dir.glob("*.ckpt"))
    assert names == ["epoch-003.ckpt", "epoch-005.ckpt", "epoch-007.ckpt", "last.ckpt"]
