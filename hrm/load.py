"""One call to get a trained model back, e.g. in a notebook:

    from hrm import load_model
    model = load_model("checkpoints/arc_tiny/last.ckpt")   # the LightningModule, in eval mode, on the CPU
    model.net                                              # the network (HRM, TRM, ...)

It works for every checkpoint `train.py` writes. The checkpoint is read as data (`weights_only`), its
module is one of the framework's (recognised by the settings it saved, never by a class name in the
file), every saved setting is checked before anything is built, and the tensors must fit the model.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L

from hrm.errors import CheckpointError
from hrm.registry import LIGHTNING_MODULES, allowed_class, check_module_arguments
from hrm.utils.checkpoints import check_compatible, read_checkpoint
from hrm.utils.validation import converted

# A saved setting only one kind of module has -> that module (checked in this order).
MODULE_BY_SETTING = (
    ("teacher_ckpt", "hrm.modules.vae_distill.VAEDistillModule"),
    ("kl_weight", "hrm.modules.vae.VAEModule"),
    ("lora", "hrm.modules.gpt2_lora.GPT2LoRAModule"),
    ("rl", "hrm.modules.policy_rl.PolicyRLModule"),
    ("max_tokens", "hrm.modules.policy.PolicyModule"),
    ("loss", "hrm.modules.reasoning.ReasoningModule"),
)


def module_class_of(hparams: dict, path: str) -> type:
    for setting, name in MODULE_BY_SETTING:
        if setting in hparams:
            return allowed_class(name, LIGHTNING_MODULES, "module")
    raise CheckpointError(f"{path}: not a checkpoint of this framework (its settings name no known model)")


def load_model(path: str | Path) -> L.LightningModule:
    """The LightningModule a checkpoint was saved from, with its weights, in eval mode on the CPU."""
    return model_from_checkpoint(read_checkpoint(str(path)), str(path))


def model_from_checkpoint(checkpoint: dict, path: str, weights: bool = True) -> L.LightningModule:
    """`load_model` for a checkpoint already read (read_checkpoint), whose other entries the caller wants.
    weights=False: the same model freshly initialised (e.g. to compare with training from scratch)."""
    hparams = checkpoint.get("hyper_parameters")
    if not isinstance(hparams, dict):
        raise CheckpointError(f"{path}: holds no settings to rebuild its model from")
    module_class = module_class_of(hparams, path)
    if hasattr(module_class, "from_checkpoint"):  # GPT-2 + LoRA: the base is rebuilt, the adapter loaded
        return module_class.from_checkpoint(checkpoint, path).eval()
    settings = check_module_arguments(module_class, hparams, f"{path}: hyper_parameters", CheckpointError,
                                      saved_state=checkpoint["state_dict"])
    if "compile" in settings:
        settings["compile"] = False  # compiling pays off over a training run, not for a loaded model
    module = converted(lambda: module_class(**settings), path, CheckpointError)
    check_compatible(path, checkpoint, module)
    if weights:
        module.load_state_dict(checkpoint["state_dict"])
    return module.eval()
