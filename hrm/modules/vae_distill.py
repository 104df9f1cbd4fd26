"""VAEDistillModule: a small VAE (the student) trained from a larger one's checkpoint (the teacher).

loss = reconstruction_weight * reconstruction + beta * KL          (the student's own ELBO)
     + output_weight * |student reconstruction - teacher reconstruction|^2
     + latent_weight * |student latent mean - teacher latent mean|^2
The teacher is frozen and decodes its posterior mean. The test stage scores both on the same held-out
images and reports the student-to-teacher ratios and both models' sizes.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from hrm.errors import CheckpointError, UserError
from hrm.models.vae import VAE
from hrm.modules.vae import ReconstructionMetrics, VAEModule, model_size
from hrm.registry import build_net
from hrm.utils.checkpoints import check_compatible, read_checkpoint

VAE_NET = "hrm.models.vae.VAE"


def load_teacher(path: str | Path) -> VAE:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no teacher checkpoint; train one first: python train.py experiment=vae_teacher")
    checkpoint = read_checkpoint(path)
    net = (checkpoint.get("hyper_parameters") or {}).get("net")
    if not isinstance(net, dict) or net.get("_target_") != VAE_NET:
        raise CheckpointError(f"{path}: not a VAE checkpoint (train one with experiment=vae_teacher)")
    where = f"{path}: hyper_parameters.net"
    state = {k.removeprefix("net."): v for k, v in checkpoint["state_dict"].items() if k.startswith("net.")}
    meta = build_net(net, where, CheckpointError, device="meta")  # shapes first, memory after
    check_compatible(path, {"state_dict": state}, meta.state_dict())
    teacher = build_net(net, where, CheckpointError)
    teacher.load_state_dict(state)
    return teacher.eval().requires_grad_(False)


class VAEDistillModule(VAEModule):
    def __init__(
        self,
        net: dict,
        teacher_ckpt: str,
        reconstruction_weight: float = 1.0,
        output_weight: float = 1.0,
        latent_weight: float = 1.0,
        kl_weight: float = 1.0,
        kl_anneal_steps: int = 0,
        optimizer: dict | None = None,
    ):
        """net: the student's config. teacher_ckpt: a checkpoint of experiment=vae_teacher."""
        super().__init__(net, kl_weight, kl_anneal_steps, optimizer)
        self.save_hyperparameters({**self.hparams, "teacher_ckpt": str(teacher_ckpt),
                                   "reconstruction_weight": reconstruction_weight, "output_weight": output_weight,
                                   "latent_weight": latent_weight})
        self.teacher = load_teacher(teacher_ckpt)
        student, teacher = self.net.config, self.teacher.config
        if (student.latent_dim, student.in_channels, student.image_size) != (
                teacher.latent_dim, teacher.in_channels, teacher.image_size):
            raise UserError(f"{teacher_ckpt}: the teacher's latents and images ({teacher.latent_dim} latents, "
                            f"{teacher.in_channels}x{teacher.image_size}^2) differ from the student's "
                            f"({student.latent_dim}, {student.in_channels}x{student.image_size}^2)")
        self.weights = {"reconstruction": reconstruction_weight, "output": output_weight, "latent": latent_weight}
        self.teacher_metrics = ReconstructionMetrics()

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher.eval()  # frozen: its BatchNorm keeps its own statistics
        return self

    def training_loss(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.net(images)
        reconstruction, kl = self.elbo_terms(out, images)
        with torch.no_grad():
            target = self.teacher(images, sample=False)
        output = F.mse_loss(out.reconstruction, target.reconstruction, reduction="none").flatten(1).sum(1).mean()
        latent = F.mse_loss(out.mu, target.mu, reduction="none").sum(1).mean()
        w = self.weights
        loss = (w["reconstruction"] * reconstruction + self.beta() * kl
                + w["output"] * output + w["latent"] * latent)
        return {"loss": loss, "reconstruction": reconstruction, "kl": kl, "output_match": output,
                "latent_match": latent}

    def test_step(self, images: torch.Tensor, batch_idx: int) -> dict[str, torch.Tensor]:
        result = super().test_step(images, batch_idx)
        teacher = self.teacher(images, sample=False).reconstruction
        self.teacher_metrics.update(teacher, images)
        result["reconstructions"] = {"teacher": teacher, "student": result["reconstructions"]["model"]}
        return result

    def on_test_epoch_end(self) -> None:
        student = self.eval_metrics["test"].compute_and_reset("test")
        teacher = self.teacher_metrics.compute_and_reset("teacher")
        student_size, teacher_size = model_size(self.net), model_size(self.teacher)
        self.log_dict({
            **student, **teacher,
            "size/params": student_size["params"], "size/megabytes": student_size["megabytes"],
            "teacher/params": teacher_size["params"], "teacher/megabytes": teacher_size["megabytes"],
            "distill/mse_ratio": student["test/mse"] / teacher["teacher/mse"],  # <= 1.15 is the target
            "distill/psnr_ratio": student["test/psnr"] / teacher["teacher/psnr"],
            "distill/ssim_ratio": student["test/ssim"] / teacher["teacher/ssim"],
            "distill/param_ratio": teacher_size["params"] / student_size["params"],
            "distill/size_ratio": teacher_size["megabytes"] / student_size["megabytes"],
        })
