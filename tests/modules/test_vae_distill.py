"""Distillation: the student moves towards a frozen teacher; the runs report and export what they should."""

import hydra
import lightning as L
import pytest
import torch

from hrm.models.vae import VAE
from hrm.training import bind_model_to_data, run
from hrm.utils.compose import compose_train_config
from tests.conftest import TINY, run_train


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
    """A tiny experiment=vae_teacher run; distillation runs in the same root find its checkpoint."""
    root = tmp_path_factory.mktemp("vae")
    # validated once, at the end: best.ckpt (what distillation starts from) is the teacher after 6 steps
    metrics = run(compose_train_config(["experiment=vae_teacher", *TINY, "trainer.max_steps=6",
                                        "trainer.val_check_interval=6"], root))
    return root, metrics


def distill_module(root, *overrides):
    cfg = compose_train_config(["experiment=vae_distill", *TINY, *overrides], root)
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.setup("fit")
    bind_model_to_data(cfg.model, datamodule)
    return hydra.utils.instantiate(cfg.model), datamodule


def distance_to_teacher(module, images) -> float:
    module.eval()
    with torch.no_grad():
        student = module.net(images, sample=False).reconstruction
        teacher = module.teacher(images, sample=False).reconstruction
    return float(((student - teacher) ** 2).mean())


def test_distillation_lowers_the_students_distance_to_the_teacher(teacher_run):
    module, datamodule = distill_module(teacher_run[0], "model.reconstruction_weight=0", "model.kl_weight=0")
    images = datamodule.val_images
    teacher_before = {k: v.clone() for k, v in module.teacher.state_dict().items()}
    before = distance_to_teacher(module, images)
    trainer = L.Trainer(max_steps=30, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0)
    trainer.fit(module, datamodule=datamodule)
    assert distance_to_teacher(module, images) < 0.5 * before
    after = module.teacher.state_dict()  # frozen: weights and BatchNorm statistics untouched
    assert all(torch.equal(teacher_before[k], after[k]) for k in after)


def test_the_distill_run_reports_both_models_and_exports_the_student(teacher_run):
    root, teacher_metrics = teacher_run
    metrics = run(compose_train_config(["experiment=vae_distill", *TINY, "trainer.max_steps=4"], root))
    for key in ("test/mse", "test/psnr", "test/ssim", "teacher/mse", "teacher/ssim", "size/params",
                "teacher/params", "distill/mse_ratio", "distill/param_ratio", "distill/size_ratio"):
        assert key in metrics, key
    assert metrics["distill/mse_ratio"] == pytest.approx(metrics["test/mse"] / metrics["teacher/mse"], rel=1e-5)
    assert metrics["teacher/mse"] == pytest.approx(teacher_metrics["test/mse"], rel=1e-5)  # the same teacher
    exported = VAE.from_safetensors(root / "checkpoints" / "vae_distill" / "tiny_vae.safetensors")
    assert sum(p.numel() for p in exported.parameters()) == metrics["size/params"]
    assert (root / "run" / "reconstructions.png").is_file()  # held-out images over teacher and student


def test_without_a_teacher_checkpoint_distillation_says_what_to_run(tmp_path):
    result = run_train(["experiment=vae_distill", *TINY], tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {tmp_path}/checkpoints/vae_teacher/best.ckpt: no teacher checkpoint; "
        "train one first: python train.py experiment=vae_teacher")
