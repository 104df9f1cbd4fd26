"""GPT2LoRAModule: GPT-2 with a LoRA adapter, trained on the agent logs beside the HRM policy.

The original design's Option 1. Batches are the same as the HRM policy's (state texts, action labels), so the two
train and are scored on exactly the same data, with the same metrics (`ActionMetrics`): agreement and
per-action F1 on held-out episodes, accuracy on the validation scenarios beside the teacher's.

Training is the causal-LM loss on the logged action's tokens after the state prompt; deciding scores the
four action strings (`hrm.models.gpt2_lora`). Only the adapter trains, so only the adapter is saved:
each `.ckpt` holds the adapter's tensors (plus optimizer and loop state, to resume), and a
`save_pretrained` dir beside it (`last.adapter/`) is what peft loads. The base is rebuilt from the
hyperparameters (`pretrained`, or `base_config` + `init_seed`).
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F

from hrm.errors import CheckpointError
from hrm.models.gpt2_lora import (ActionPrompts, GPT2BaseSettings, LoraSettings, action_scores, add_lora, imitation_loss,
                                  load_adapter, load_base_model)
from hrm.modules.action_metrics import ActionMetrics
from hrm.optim import OptimizerSettings, adamw_with_warmup
from hrm.registry import check_module_arguments
from hrm.utils.adapter_checkpoints import AdapterCheckpointIO
from hrm.utils.compose import plain_container
from hrm.utils.parameters import parameter_counts
from hrm.utils.validation import build_config, converted


class GPT2LoRAModule(ActionMetrics, L.LightningModule):
    # each group's dataclass (hrm.registry)
    SETTINGS = {"lora": LoraSettings, "optimizer": OptimizerSettings, "base_config": GPT2BaseSettings}
    scenario_accuracy_name = "lora_accuracy"
    takes_switch_decision = False  # the original agent's switch rule is about handing decisions to the HRM

    def __init__(
        self,
        pretrained: str | None = "gpt2",
        base_config: dict | None = None,
        init_seed: int = 0,
        lora: dict | None = None,
        adapter: str | None = None,
        max_prompt_tokens: int = 128,
        optimizer: dict | None = None,
    ):
        """
        pretrained: a hub name, a name in the local Hugging Face cache, or a local model dir; None: a random
            init of GPT2Config(**base_config) seeded by init_seed. lora: fields of LoraSettings. adapter: a
            saved adapter dir to train further (its own LoRA settings win over `lora`). max_prompt_tokens:
            of a state's prompt (GPT-2 tokens; the states here take ~90). optimizer: lr, betas, weight_decay,
            warmup_steps for AdamW over the adapter; clip_norm (None: no clipping).
        """
        super().__init__()
        base_config, lora, optimizer = (plain_container(x) or {} for x in (base_config, lora, optimizer))
        build_config(GPT2BaseSettings, base_config, "model.base_config")
        build_config(OptimizerSettings, optimizer, "model.optimizer")
        lora_settings = build_config(LoraSettings, lora, "model.lora")
        base = load_base_model(pretrained, base_config, init_seed)
        self.prompts = ActionPrompts(max_prompt_tokens)
        self.prompts.check_fits(base)
        self.net = load_adapter(base, adapter, trainable=True) if adapter else add_lora(base, lora_settings)
        # The settings the adapter really has (a loaded adapter brings its own), so a checkpoint rebuilds it.
        self.save_hyperparameters({"pretrained": pretrained, "base_config": base_config, "init_seed": init_seed,
                                   "lora": asdict(LoraSettings.of(self.net)), "adapter": adapter,
                                   "max_prompt_tokens": max_prompt_tokens, "optimizer": optimizer})
        self.optimizer_config = optimizer
        self.run_seed = torch.initial_seed()  # what seed_everything set: the dropout masks' seed
        self.strict_loading = False  # checkpoints hold the adapter only; on_load_checkpoint checks its keys
        self.init_action_metrics(segments=False)

    @classmethod
    def from_checkpoint(cls, checkpoint: dict, path: str) -> "GPT2LoRAModule":
        """The module a checkpoint was saved from: its base rebuilt from the hyperparameters, its adapter
        weights from the checkpoint."""
        hparams = checkpoint.get("hyper_parameters")
        if not isinstance(hparams, dict) or "lora" not in hparams or "max_prompt_tokens" not in hparams:
            raise CheckpointError(f"{path}: not a GPT-2+LoRA checkpoint (train one with experiment=agent_lora)")
        hparams = check_module_arguments(cls, hparams, f"{path}: hyper_parameters", CheckpointError)
        # the adapter's weights are in the checkpoint itself
        module = converted(lambda: cls(**{**hparams, "adapter": None}), str(path), CheckpointError)
        try:
            module.on_load_checkpoint(checkpoint)
        except CheckpointError as error:
            raise CheckpointError(f"{path}: {error}") from None
        module.load_state_dict(checkpoint["state_dict"], strict=False)
        return module

    def parameter_counts(self) -> tuple[int, int]:
        """(all parameters, trainable ones)."""
        return parameter_counts(self.net)

    # --- deciding ----------------------------------------------------------------------------------
    def action_logits(self, texts: list[str]) -> torch.Tensor:
        """[B, A]: each action string's mean log-probability per token after the state's prompt."""
        return action_scores(self.net, self.prompts.prompts(texts), self.prompts.action_ids, self.prompts.pad_id,
                             self.device)

    # --- steps -------------------------------------------------------------------------------------
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        chosen = [self.prompts.action_ids[int(label)] for label in batch["label"]]
        with self._dropout_seeded_by(batch_idx):
            loss = imitation_loss(self.net, self.prompts.prompts(batch["text"]), chosen, self.prompts.pad_id,
                                  self.device)
        self.log("train/loss", loss.detach(), on_step=True, on_epoch=False, prog_bar=True)
        return loss

    @contextlib.contextmanager
    def _dropout_seeded_by(self, batch_idx: int):
        """LoRA's dropout masks drawn from a generator seeded by (run seed, epoch, batch): a resumed run
        draws the masks the uninterrupted one did (the global stream is not in checkpoints, and loaders
        draw from it when they start)."""
        seed = (self.run_seed * 1_000_003 + self.current_epoch) * 1_000_003 + batch_idx
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(seed % 2**63)
            yield

    def _evaluate(self, stage: str, batch: dict[str, Any]) -> None:
        logits = self.action_logits(batch["text"])
        self.update_action_metrics(stage, logits, batch["label"], F.cross_entropy(logits.float(), batch["label"]))

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._evaluate("val", batch)

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._evaluate("test", batch)
        self.update_teacher_accuracy(batch)

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        self._log_size()

    def on_test_epoch_end(self) -> None:
        super().on_test_epoch_end()
        self._log_size()

    def _log_size(self) -> None:
        total, trainable = self.parameter_counts()
        self.log_dict({"size/params": float(total), "size/trainable_params": float(trainable),
                       "size/trainable_percent": 100.0 * trainable / total})

    # --- checkpoints: the adapter only -------------------------------------------------------------
    def trainable_keys(self) -> set[str]:
        return {name for name, param in self.named_parameters() if param.requires_grad}

    def state_dict_to_checkpoint(self) -> dict[str, torch.Tensor]:
        keys = self.trainable_keys()
        return {key: value for key, value in self.state_dict().items() if key in keys}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["state_dict"] = self.state_dict_to_checkpoint()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        saved, expected = set(checkpoint["state_dict"]), self.trainable_keys()
        if saved != expected:
            example = sorted(saved ^ expected)[0]
            raise CheckpointError(f"this checkpoint's adapter does not match the model's ({len(saved ^ expected)}"
                                  f" tensors differ, e.g. {example})")

    def setup(self, stage: str) -> None:
        strategy = self.trainer.strategy
        if not isinstance(strategy.checkpoint_io, AdapterCheckpointIO):
            strategy.checkpoint_io = AdapterCheckpointIO(strategy.checkpoint_io, self.net.save_pretrained)

    # --- optimizer ---------------------------------------------------------------------------------
    def configure_optimizers(self):
        trainable = [p for p in self.parameters() if p.requires_grad]
        return adamw_with_warmup(trainable, self.optimizer_config, self.trainer.precision)

    def on_before_optimizer_step(self, optimizer) -> None:
        clip = self.optimizer_config.get("clip_norm")
        if clip:
            torch.nn.utils.clip_grad_norm_([p for p in self.parameters() if p.requires_grad], clip)
