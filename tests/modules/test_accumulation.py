"""Gradient accumulation keeps deep supervision's meaning: k micro-batches of B rows, each with its own ACT
carry, train like one batch of k x B rows (one segment each), with halting and replacement going on."""

import hydra
import lightning as L
import torch

from hrm.training import bind_model_to_data

# Sudoku without augmentation (a batch's augmentation is drawn for the batch as a whole) and without
# halting exploration (its random draws depend on how the rows are split); halting after at most 2
# segments (debug=tiny) replaces rows every other step.
COMMON = ["experiment=sudoku6", "debug=tiny", "logger=none", "data.variants=1", "model.act.halt_exploration_prob=0",
          "model.ema=null"]
STEPS = 5


class GradientRecorder(L.Callback):
    def __init__(self):
        self.steps: list[dict[str, torch.Tensor]] = []
        self.halted_rows = 0

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.steps.append({name: p.grad.detach().clone() for name, p in pl_module.named_parameters()
                           if p.grad is not None})

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.halted_rows += sum(int(c.halted.sum()) for c in pl_module._carries if c is not None)


def gradients(make_config, batch_size: int, accumulate: int) -> GradientRecorder:
    cfg = make_config(*COMMON, f"data.batch_size={batch_size}")
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    bind_model_to_data(cfg.model, datamodule)
    L.seed_everything(0)
    model = hydra.utils.instantiate(cfg.model)
    recorder = GradientRecorder()
    trainer = L.Trainer(accelerator="cpu", devices=1, precision="32-true", max_steps=STEPS, logger=False,
                        accumulate_grad_batches=accumulate, limit_val_batches=0, num_sanity_val_steps=0,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[recorder])
    trainer.fit(model, datamodule=datamodule)
    return recorder


def test_two_accumulated_micro_batches_give_the_gradients_of_one_batch_twice_their_size(make_config):
    one_batch = gradients(make_config, batch_size=8, accumulate=1)
    accumulated = gradients(make_config, batch_size=4, accumulate=2)
    assert len(one_batch.steps) == len(accumulated.steps) == STEPS
    assert accumulated.halted_rows > 0  # rows halted and were replaced along the way
    for step, (big, small) in enumerate(zip(one_batch.steps, accumulated.steps)):
        assert big.keys() == small.keys()
        for name in big:
            scale = big[name].abs().max().clamp_min(1e-12)
            difference = (big[name] - small[name]).abs().max() / scale
            assert difference < 1e-4, (step, name, float(difference))
