"""VAEModule: trains a VAE on images by its ELBO; measures reconstructions by MSE, PSNR and SSIM.

ELBO loss = reconstruction (squared error summed over pixels) + beta * KL(q(z|x) || N(0, I)), both
means over the batch; beta rises linearly from 0 to `kl_weight` over `kl_anneal_steps` optimizer steps
(KL annealing keeps the posterior from collapsing early). Evaluation decodes the posterior mean.
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from safetensors.torch import save as safetensors_bytes
from torchmetrics import MeanMetric
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from hrm.models.vae import VAE, VAEOutput, kl_divergence
from hrm.optim import OptimizerSettings, required_settings
from hrm.registry import build_net
from hrm.utils.compose import plain_container
from hrm.utils.validation import build_config


class ReconstructionMetrics(torch.nn.Module):
    """Per-pixel MSE, PSNR and SSIM of reconstructions in [0, 1], over an epoch."""

    def __init__(self):
        super().__init__()
        self.mse = MeanMetric()
        self.psnr = PeakSignalNoiseRatio(data_range=1.0)
        self.ssim = StructuralSimilarityIndexMeasure(data_range=1.0)

    def update(self, reconstruction: torch.Tensor, images: torch.Tensor) -> None:
        reconstruction, images = reconstruction.float(), images.float()
        self.mse.update(F.mse_loss(reconstruction, images, reduction="none").flatten(1).mean(1))
        self.psnr.update(reconstruction, images)
        self.ssim.update(reconstruction, images)

    def compute_and_reset(self, prefix: str) -> dict[str, torch.Tensor]:
        values = {f"{prefix}/mse": self.mse.compute(), f"{prefix}/psnr": self.psnr.compute(),
                  f"{prefix}/ssim": self.ssim.compute()}
        for metric in (self.mse, self.psnr, self.ssim):
            metric.reset()
        return values


def model_size(model: torch.nn.Module) -> dict[str, float]:
    """Parameters and the bytes of its safetensors file (what an edge device would store)."""
    return {"params": float(sum(p.numel() for p in model.parameters())),
            "megabytes": len(safetensors_bytes({k: v.contiguous() for k, v in model.state_dict().items()})) / 1e6}


class VAEModule(L.LightningModule):
    SETTINGS = {"optimizer": OptimizerSettings}  # each group's dataclass (hrm.registry)

    def __init__(self, net: dict, kl_weight: float = 1.0, kl_anneal_steps: int = 0, optimizer: dict | None = None):
        """net: the VAE's config with its `_target_` (in_channels and image_size come from the data).
        kl_weight: beta of the ELBO; kl_anneal_steps: steps over which beta rises from 0 to it."""
        super().__init__()
        net, optimizer = plain_container(net), plain_container(optimizer) or {}
        self.save_hyperparameters({"net": net, "kl_weight": kl_weight, "kl_anneal_steps": kl_anneal_steps,
                                   "optimizer": optimizer})
        self.net: VAE = build_net(net, "model.net")
        build_config(OptimizerSettings, optimizer, "model.optimizer")
        self.kl_weight, self.kl_anneal_steps, self.optimizer_config = kl_weight, kl_anneal_steps, optimizer
        self.eval_metrics = torch.nn.ModuleDict({"val": ReconstructionMetrics(), "test": ReconstructionMetrics()})

    # --- loss --------------------------------------------------------------------------------------
    def beta(self) -> float:
        if self.kl_anneal_steps <= 0:
            return self.kl_weight
        return self.kl_weight * min(1.0, self.global_step / self.kl_anneal_steps)

    def elbo_terms(self, out: VAEOutput, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(reconstruction error summed over pixels, KL), each a mean over the batch."""
        reconstruction = F.mse_loss(out.reconstruction, images.float(), reduction="none").flatten(1).sum(1).mean()
        return reconstruction, kl_divergence(out.mu, out.logvar).mean()

    def training_loss(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.net(images)
        reconstruction, kl = self.elbo_terms(out, images)
        return {"loss": reconstruction + self.beta() * kl, "reconstruction": reconstruction, "kl": kl}

    def training_step(self, images: torch.Tensor, batch_idx: int) -> torch.Tensor:
        terms = self.training_loss(images)
        self.log("train/loss", terms["loss"].detach(), prog_bar=True)
        self.log_dict({f"train/{key}": value.detach() for key, value in terms.items() if key != "loss"})
        self.log("train/beta", self.beta())
        return terms["loss"]

    # --- evaluation --------------------------------------------------------------------------------
    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images, sample=False).reconstruction

    def validation_step(self, images: torch.Tensor, batch_idx: int) -> None:
        self.eval_metrics["val"].update(self.reconstruct(images), images)

    def on_validation_epoch_end(self) -> None:
        self.log_dict(self.eval_metrics["val"].compute_and_reset("val"), prog_bar=True)

    def test_step(self, images: torch.Tensor, batch_idx: int) -> dict[str, torch.Tensor]:
        """Also returns the batch's reconstructions, for the reconstruction-grid callback."""
        reconstruction = self.reconstruct(images)
        self.eval_metrics["test"].update(reconstruction, images)
        return {"images": images, "reconstructions": {"model": reconstruction}}

    def on_test_epoch_end(self) -> None:
        size = model_size(self.net)
        self.log_dict({**self.eval_metrics["test"].compute_and_reset("test"),
                       "size/params": size["params"], "size/megabytes": size["megabytes"]})

    def configure_optimizers(self):
        cfg = required_settings(self.optimizer_config, ("lr", "weight_decay"))
        trainable = [p for p in self.net.parameters() if p.requires_grad]
        return torch.optim.AdamW(trainable, lr=cfg["lr"], weight_decay=cfg["weight_decay"])
