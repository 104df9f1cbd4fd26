"""Sweeps (`python train.py -m`): every job gets its own run dir and checkpoint dir, a rerun resumes each
job from its own checkpoints, and the sweep ends with one table of every job's metrics."""

import json
import os
import subprocess
import sys

import yaml

from hrm.dashboard.__main__ import main as dashboard
from tests.conftest import ROOT, TINY, run_train
from tests.test_dashboard import read_page


def test_a_two_job_sweep_keeps_its_jobs_apart_and_ends_with_a_summary(tmp_path):
    args = ["-m", "experiment=arc_tiny", "debug=tiny", "trainer.max_steps=2", "seed=1,2"]  # wandb (offline) too
    done = run_train(args, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    ckpt_dirs = sorted(p.name for p in (tmp_path / "checkpoints" / "arc_tiny").iterdir())
    assert ckpt_dirs == ["debug=tiny,seed=1,trainer.max_steps=2", "debug=tiny,seed=2,trainer.max_steps=2"]
    (sweep_dir,) = (tmp_path / "experiments" / "multiruns").iterdir()
    # one wandb run per job, each with the id its checkpoint dir remembers (for resuming)
    ids = [json.loads((tmp_path / "checkpoints" / "arc_tiny" / name / "run_info.json").read_text())["wandb_id"]
           for name in ckpt_dirs]
    for job, run_id in enumerate(ids):
        (wandb_run,) = (sweep_dir / str(job) / "wandb").glob("offline-run-*")
        assert wandb_run.name.endswith(run_id)
    assert len(set(ids)) == 2
    summary = json.loads((sweep_dir / "summary.json").read_text())
    assert [job["overrides"]["seed"] for job in summary["jobs"]] == ["1", "2"]
    assert all(job["metrics"]["trainer/global_step"] == 2 for job in summary["jobs"])
    assert summary["table"].splitlines()[0].startswith("| job | seed |") and summary["table"] in done.stdout
    # its dashboard: each job's curves, and the sweep's metric against the swept seed
    assert dashboard([str(sweep_dir)]) == 0
    page = read_page(sweep_dir / "dashboard.html")
    (against_seed,) = [chart for title, chart in page.charts.items() if title.endswith(" against seed")]
    assert set(against_seed) == {"1", "2"} and page.titles.count("loss") == 2

    again = run_train(args, tmp_path)  # the same sweep again: each job finds its own run finished
    assert again.returncode == 0, again.stderr[-2000:]
    for name in ckpt_dirs:
        assert f"checkpoints:  {tmp_path / 'checkpoints' / 'arc_tiny' / name}  (" in again.stdout
    assert again.stdout.count("finished earlier: this run trained 2 steps; nothing to train") == 2
    (_, second) = sorted((tmp_path / "experiments" / "multiruns").iterdir())
    assert json.loads((second / "summary.json").read_text())["table"] == summary["table"]  # the same results


def test_a_two_trial_optuna_search_is_seeded_and_reports_its_best(tmp_path):
    args = ["-m", "experiment=agent_imitation", "hparams_search=agent_imitation_optuna", *TINY,
            "hydra.sweeper.n_trials=2", "trainer.max_steps=-1", "trainer.max_epochs=1"]
    searches = []
    for root in (tmp_path / "a", tmp_path / "b"):
        done = run_train(args, root)
        assert done.returncode == 0, done.stderr[-2000:]
        (sweep_dir,) = (root / "experiments" / "multiruns").iterdir()
        searches.append((json.loads((sweep_dir / "summary.json").read_text()),
                         yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())))
    (summary, results), (again, _) = searches
    assert len(summary["jobs"]) == 2 and summary["table"].splitlines()[0].count("val/accuracy") == 1
    tried = [job["overrides"] for job in summary["jobs"]]
    assert tried[0]["model.optimizer.lr"] != tried[1]["model.optimizer.lr"]  # two different trials ...
    assert [job["overrides"] for job in again["jobs"]] == tried  # ... the same two for the same seed
    assert results["best_value"] == max(job["metrics"]["val/accuracy"] for job in summary["jobs"])
    assert set(results["best_params"]) == {"model.optimizer.lr", "model.optimizer.weight_decay",
                                           "model.net.hidden_size", "model.act.halt_max_steps"}


# Installed without the 'sweep' extra: the Optuna sweeper and optuna cannot be imported.
WITHOUT_OPTUNA = """
import sys
class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "optuna" or name.startswith("hydra_plugins.hydra_optuna_sweeper"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Missing())
"""


def test_a_search_without_the_optional_sweep_packages_says_how_to_install_them(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(WITHOUT_OPTUNA)
    env = dict(os.environ, HRM_ROOT=str(tmp_path), PYTHONPATH=str(tmp_path), WANDB_MODE="disabled")
    done = subprocess.run([sys.executable, "train.py", "-m", "experiment=agent_imitation",
                           "hparams_search=agent_imitation_optuna", *TINY], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "error: hyperparameter search (hparams_search=...) needs the optional 'sweep' packages, not installed"
        " here: pip install -e '.[sweep]' (make test installs them)")
