"""train.py answers --help, --cfg job and mistakes the way Hydra users expect."""

from tests.conftest import run_train


def test_help_lists_the_config_groups(tmp_path):
    result = run_train(["--help"], tmp_path)
    assert result.returncode == 0
    for group in ("model", "data", "trainer", "logger", "experiment", "debug"):
        assert f"{group}:" in result.stdout
    assert "arc_full" in result.stdout and "agent_imitation" in result.stdout and "hrm_gpt2vocab" in result.stdout


def test_cfg_job_prints_the_composed_config_without_running(tmp_path):
    result = run_train(["experiment=agent_imitation", "model=hrm_gpt2vocab", "--cfg", "job", "--resolve"], tmp_path)
    assert result.returncode == 0
    assert "experiment_name: agent_imitation_hrm_gpt2vocab" in result.stdout and "tokenizer: gpt2" in result.stdout
    assert not (tmp_path / "checkpoints").exists()


def test_a_mistyped_key_is_refused_by_hydra(tmp_path):
    result = run_train(["trainer.max_stepz=3"], tmp_path)
    assert result.returncode != 0
    assert "max_stepz" in result.stderr and "Traceback" not in result.stderr
