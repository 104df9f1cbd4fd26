"""What each kind of model takes from its data (or from a checkpoint) before it is built, written into its
config: `train.py` reads it visibly through `hrm.training.DATA_BINDINGS`, one function per kind of model."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, open_dict

from hrm.data.tokenizers import build_word_tokenizer, tokenizer_vocab_size
from hrm.errors import CheckpointError, VocabularyMismatchError
from hrm.utils.checkpoints import read_checkpoint


def token_grid_sizes(model_cfg: DictConfig, datamodule: Any, checkpoint: dict | None = None) -> None:
    """HRM, TRM, transformer: vocabulary size (the data's, or the model's tokenizer's), sequence length and
    number of puzzle ids from the data module. The vocabulary size is never typed twice, so token ids cannot
    overflow the embedding table."""
    tokenizer = model_cfg.get("tokenizer")
    vocab_size = tokenizer_vocab_size(tokenizer) if tokenizer else datamodule.vocab_size
    source = f"tokenizer {tokenizer!r}" if tokenizer else f"the data ({type(datamodule).__name__})"
    if vocab_size < datamodule.vocab_size:
        raise VocabularyMismatchError(
            f"the data uses {datamodule.vocab_size} token ids but {source} gives the model only {vocab_size}"
        )
    typed = model_cfg.net.get("vocab_size")
    if typed is not None and typed != vocab_size:
        raise VocabularyMismatchError(
            f"model.net.vocab_size={typed} does not match the {vocab_size} tokens of {source}; "
            "the vocabulary size is derived from the data, drop the override"
        )
    with open_dict(model_cfg):
        model_cfg.net.vocab_size = vocab_size
        model_cfg.net.seq_len = datamodule.seq_len
        model_cfg.net.num_puzzle_identifiers = getattr(datamodule, "num_puzzle_identifiers", 0)


def word_vocabulary(model_cfg: DictConfig, datamodule: Any, checkpoint: dict | None = None) -> None:
    """An agent policy reading `words`: its vocabulary built from the training logs (or taken from the
    checkpoint being resumed or evaluated), so the model and its checkpoints carry their own tokenizer."""
    if model_cfg.get("tokenizer") != "words":
        return
    saved = ((checkpoint or {}).get("hyper_parameters") or {}).get("tokenizer")
    if saved is not None and not isinstance(saved, str):
        raise CheckpointError(f"hyper_parameters.tokenizer: expected a serialised tokenizer, got {type(saved).__name__}")
    if saved is None:
        saved = build_word_tokenizer(datamodule.train_texts(), model_cfg.get("vocab_limit", 1000)).to_str()
    with open_dict(model_cfg):
        model_cfg.tokenizer = saved


def imitation_policy(model_cfg: DictConfig, datamodule: Any, checkpoint: dict | None = None) -> None:
    """The RL policy: network, tokenizer and ACT settings from the checkpoint being resumed or evaluated, or
    else from the imitation checkpoint `init_from` names (not from the data)."""
    from hrm.modules.policy_rl import INHERITED, newest_match, policy_hyperparameters  # the agent's code, on demand

    if checkpoint is None:
        path = newest_match(str(model_cfg.init_from))
        checkpoint = read_checkpoint(path)
        with open_dict(model_cfg):
            model_cfg.init_from = path
        print(f"starting from the imitation checkpoint {path}")
    inherited = policy_hyperparameters(checkpoint, str(model_cfg.init_from), INHERITED)
    with open_dict(model_cfg):
        for key in INHERITED:
            model_cfg[key] = inherited[key]


def image_shape(model_cfg: DictConfig, datamodule: Any, checkpoint: dict | None = None) -> None:
    """A VAE: channels and image size from the images."""
    with open_dict(model_cfg):
        model_cfg.net.in_channels = datamodule.channels
        model_cfg.net.image_size = datamodule.image_size


def nothing(model_cfg: DictConfig, datamodule: Any, checkpoint: dict | None = None) -> None:
    """GPT-2 + LoRA: GPT-2's tokenizer and vocabulary are fixed."""
