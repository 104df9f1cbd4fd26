"""GPT-2 with a LoRA adapter, as an agent policy that reads a state and scores each action's string.

The original design's recommendation: keep GPT-2, train only low-rank adapters (r=8, alpha=16 on `c_attn` and
`c_proj`, about 0.8M parameters, 0.65% of GPT-2 small) on the collected decisions. A decision is text:

    "<state text>\nNext action:" + " web_search"

The model is trained as a causal LM with the loss on the action's tokens only, and decides by scoring
the four action strings after the prompt: an action's score is the mean log-probability of its tokens.
(The mean, not the sum: `idle` is one GPT-2 token and `propose_improvement` four, and a sum would favour
the short one in any model that is not yet sure.) The same scoring makes any causal LM a policy: that is
the GPT-2 teacher (`hrm.agent.lm_policy`).

Base weights come from `from_pretrained` (the hub, the local Hugging Face cache or a local dir), or, with
`pretrained=None`, from a random init of a GPT2Config seeded by its own `init_seed`: a checkpoint that
holds only the adapter can always rebuild the same base.
"""

from __future__ import annotations

import os
import socket
import warnings
from dataclasses import dataclass, field

import torch
from huggingface_hub import try_to_load_from_cache
from peft import LoraConfig, PeftModel, TaskType, get_peft_model
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedModel

from hrm.agent.schema import ACTIONS
from hrm.data.tokenizers import GPT2_END, load_tokenizer
from hrm.errors import UserError, VocabularyMismatchError
from hrm.utils.validation import InvalidSetting, at_least, between, one_of, positive

# peft asks transformers whether gradient checkpointing is on the deprecated way, warning on every wrap.
warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning)

PROMPT_END = "\nNext action:"
HUB = ("huggingface.co", 443)


@dataclass
class GPT2BaseSettings:
    """What `model.base_config` (a random GPT-2's GPT2Config) may hold, with bounds that keep a forged
    checkpoint from asking for more memory than a real GPT-2 XL."""

    vocab_size: int | None = None
    n_positions: int | None = None
    n_embd: int | None = None
    n_layer: int | None = None
    n_head: int | None = None
    n_inner: int | None = None
    activation_function: str | None = None
    resid_pdrop: float | None = None
    embd_pdrop: float | None = None
    attn_pdrop: float | None = None
    layer_norm_epsilon: float | None = None
    initializer_range: float | None = None

    def __post_init__(self):
        at_least(self, 1, "vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "n_inner")
        between(self, 0, 1, "resid_pdrop", "embd_pdrop", "attn_pdrop")
        positive(self, "layer_norm_epsilon", "initializer_range")
        for name, largest in (("vocab_size", 1 << 20), ("n_positions", 1 << 16), ("n_embd", 1 << 13),
                              ("n_layer", 128), ("n_inner", 1 << 15)):
            value = getattr(self, name)
            if value is not None and value > largest:
                raise InvalidSetting(name, value, f"must be at most {largest}")
        if self.n_embd is not None and self.n_head is not None and self.n_embd % self.n_head:
            raise InvalidSetting("n_embd", self.n_embd, f"must be divisible by n_head={self.n_head}")


@dataclass
class LoraSettings:
    """peft's LoraConfig for GPT-2, as the original design set it."""
    r: int = 8
    alpha: int = 16
    dropout: float = 0.1
    target_modules: list[str] = field(default_factory=lambda: ["c_attn", "c_proj"])
    bias: str = "none"
    # GPT-2's c_attn/c_proj are Conv1D layers, whose weight is stored transposed (in x out).
    fan_in_fan_out: bool = True

    def __post_init__(self):
        at_least(self, 1, "r")
        positive(self, "alpha")
        between(self, 0, 1, "dropout")
        one_of(self, "bias", ("none", "all", "lora_only"))
        if not self.target_modules:
            raise InvalidSetting("target_modules", self.target_modules, "must name at least one module")

    @classmethod
    def of(cls, model: PeftModel) -> "LoraSettings":
        """The settings of a model's (default) adapter."""
        config = model.peft_config["default"]
        return cls(r=config.r, alpha=config.lora_alpha, dropout=config.lora_dropout,
                   target_modules=sorted(config.target_modules), bias=config.bias,
                   fan_in_fan_out=config.fan_in_fan_out)

    def to_peft(self) -> LoraConfig:
        return LoraConfig(r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout,
                          target_modules=list(self.target_modules), bias=self.bias,
                          fan_in_fan_out=self.fan_in_fan_out, task_type=TaskType.CAUSAL_LM)


def _hub_reachable(timeout: float = 3.0) -> bool:
    """transformers retries an unreachable hub for ~45 s before failing: ask once, quickly, first."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false"):
        return False
    try:
        socket.create_connection(HUB, timeout=timeout).close()
        return True
    except OSError:
        return False


def load_base_model(pretrained: str | None, config: dict | None = None, init_seed: int = 0,
                    setting: str = "model.pretrained") -> PreTrainedModel:
    """A causal LM: `from_pretrained(pretrained)` (local dir, local cache, then the hub), or with `pretrained`
    None a random init of GPT2Config(**config) (GPT-2 small by default), the same for the same `init_seed`.
    `setting`: what the user set `pretrained` with, for the error messages."""
    if pretrained is None:
        with torch.random.fork_rng():  # the base's init does not move the run's random stream
            torch.manual_seed(init_seed)
            return GPT2LMHeadModel(GPT2Config(**(config or {})))
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # a bar per load of a few hundred MB buries the run's output
    source = pretrained
    if not os.path.isdir(pretrained) and not _hub_reachable():
        # Offline: a model in the local cache is loaded from its folder (a hub name would make transformers
        # retry the hub for ~30 s first, even with local_files_only).
        cached = try_to_load_from_cache(pretrained, "config.json")
        if not isinstance(cached, str):
            raise UserError(f"{setting}={pretrained}: the weights are neither in the local Hugging Face cache nor"
                            f" reachable (no network); {_instead(setting)}")
        source = os.path.dirname(cached)
    try:
        # safetensors only, and no code from the model's folder: loading weights never runs anything.
        return AutoModelForCausalLM.from_pretrained(source, use_safetensors=True, trust_remote_code=False)
    except (OSError, ValueError) as error:  # ValueError: a dir whose config names no model type
        where = "not a Hugging Face model dir" if os.path.isdir(pretrained) else "cannot load the weights"
        raise UserError(f"{setting}={pretrained}: {where} ({_first_line(error)}); {_instead(setting)}") from None


def _instead(setting: str) -> str:
    if setting == "model.pretrained":
        return ("run with model.pretrained=null for a random init of the same config, or point model.pretrained"
                " at a local dir")
    return f"point {setting} at a local model dir (save_pretrained) or a GPT-2+LoRA .ckpt"


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def add_lora(base: PreTrainedModel, settings: LoraSettings) -> PeftModel:
    """Wrap the targeted modules with trainable adapters; every base weight is frozen."""
    return get_peft_model(base, settings.to_peft())


def load_adapter(base: PreTrainedModel, adapter_dir: str, trainable: bool) -> PeftModel:
    """An adapter saved by `save_pretrained`, on `base` (loaded adapters are frozen unless `trainable`)."""
    if not os.path.isfile(os.path.join(adapter_dir, "adapter_config.json")):
        raise UserError(f"{adapter_dir}: no adapter here (adapter_config.json missing)")
    try:
        # peft reads the JSON config and the weights (safetensors, or a .bin with torch.load's weights_only)
        return PeftModel.from_pretrained(base, adapter_dir, is_trainable=trainable)
    except Exception as error:  # peft raises many kinds for a foreign or damaged dir: all mean "not loadable"
        raise UserError(f"{adapter_dir}: not an adapter for this model ({_first_line(error)[:200]})") from None


class ActionPrompts:
    """States' texts -> token ids of prompts, and each action's continuation, with GPT-2's BPE (the files
    ship inside the package)."""

    def __init__(self, max_prompt_tokens: int = 128, actions: tuple[str, ...] = ACTIONS):
        self.tokenizer = load_tokenizer("gpt2")
        self.vocab_size = self.tokenizer.get_vocab_size()
        self.pad_id = self.tokenizer.token_to_id(GPT2_END)  # GPT-2 has no pad token; masked out anyway
        self.end_ids = self.tokenizer.encode(PROMPT_END).ids
        if max_prompt_tokens <= len(self.end_ids):
            raise UserError(f"model.max_prompt_tokens={max_prompt_tokens}: must be above {len(self.end_ids)}")
        self.max_prompt_tokens = max_prompt_tokens
        self.actions = actions
        self.action_ids = [self.tokenizer.encode(f" {action}").ids for action in actions]

    def prompts(self, texts: list[str]) -> list[list[int]]:
        """The state's text, cut to fit (its numbers come first, so the cut keeps them), then the question."""
        room = self.max_prompt_tokens - len(self.end_ids)
        return [encoding.ids[:room] + self.end_ids for encoding in self.tokenizer.encode_batch(list(texts))]

    def check_fits(self, model: PreTrainedModel) -> None:
        """GPT-2 ids must fit the model's embedding (the original agent's "index out of range"), and every sequence
        its positions."""
        rows = model.get_input_embeddings().num_embeddings
        if rows < self.vocab_size:
            raise VocabularyMismatchError(f"the model's embedding has {rows} rows, fewer than the {self.vocab_size}"
                                          " ids of the GPT-2 tokenizer; use a GPT-2-vocabulary model")
        longest = self.max_prompt_tokens + max(len(ids) for ids in self.action_ids)
        positions = getattr(model.config, "n_positions", None) or getattr(model.config, "max_position_embeddings", 0)
        if positions and positions < longest:
            raise UserError(f"model.max_prompt_tokens={self.max_prompt_tokens}: prompt and action take up to"
                            f" {longest} tokens, the model has {positions} positions")


def pack(prompts: list[list[int]], continuations: list[list[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded prompt+continuation rows: input_ids, attention_mask, and `targets`, the next token to
    predict where it belongs to the continuation (-100 elsewhere)."""
    rows = [p + c for p, c in zip(prompts, continuations)]
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    targets = torch.full((len(rows), width), -100, dtype=torch.long)
    for i, (prompt, continuation) in enumerate(zip(prompts, continuations)):
        n = len(prompt) + len(continuation)
        ids[i, :n] = torch.tensor(prompt + continuation)
        mask[i, :n] = 1
        # position t predicts token t+1: the continuation's tokens are predicted from len(prompt)-1 on
        targets[i, len(prompt) - 1: n - 1] = torch.tensor(continuation)
    return {"input_ids": ids, "attention_mask": mask, "targets": targets}


def continuation_log_probs(model: PreTrainedModel | PeftModel, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Log-probability of each row's continuation tokens [B, T] (0 where `targets` is -100). The output
    layer (50,257 x hidden, a third of GPT-2 small's compute per token) runs only where a target is."""
    lm = model.get_base_model() if isinstance(model, PeftModel) else model
    hidden = lm.base_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    where = batch["targets"] != -100
    logits = lm.get_output_embeddings()(hidden[where]).float()
    picked = logits.log_softmax(-1).gather(-1, batch["targets"][where][:, None])[:, 0]
    out = torch.zeros(where.shape, dtype=picked.dtype, device=picked.device)
    out[where] = picked
    return out


def action_scores(model: PreTrainedModel | PeftModel, prompts: list[list[int]], action_ids: list[list[int]],
                  pad_id: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """[B, A]: the mean log-probability of each action's tokens after each prompt (all B x A rows in one pass)."""
    n = len(action_ids)
    batch = pack([p for p in prompts for _ in range(n)], [a for _ in prompts for a in action_ids], pad_id)
    batch = {key: value.to(device) for key, value in batch.items()}
    lengths = torch.tensor([len(a) for _ in prompts for a in action_ids], device=batch["targets"].device)
    return (continuation_log_probs(model, batch).sum(-1) / lengths).view(len(prompts), n)


def imitation_loss(model: PreTrainedModel | PeftModel, prompts: list[list[int]], chosen: list[list[int]],
                   pad_id: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The causal-LM loss on the chosen actions' tokens only (mean over those tokens)."""
    batch = {key: value.to(device) for key, value in pack(prompts, chosen, pad_id).items()}
    log_probs = continuation_log_probs(model, batch)
    return -log_probs.sum() / (batch["targets"] != -100).sum()
