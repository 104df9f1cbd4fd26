"""GPT-2 + LoRA (peft): exactly the targeted modules are wrapped and the base is frozen, adapters round-trip,
the merged model matches, actions are scored from the right positions, and missing weights get one line."""

import os
import subprocess
import sys

import pytest
import torch
from peft.tuners.lora import LoraLayer
from transformers import GPT2Config, GPT2LMHeadModel

from hrm.errors import UserError, VocabularyMismatchError
from hrm.models.gpt2_lora import (ActionPrompts, LoraSettings, action_scores, add_lora, load_adapter,
                                  load_base_model)
from tests.conftest import ROOT

TEXTS = ["recent: web_search. curiosity 2, knowledge 3, asked 0, searched 1, iteration 4.",
         "recent: none. curiosity 0, knowledge 9, asked 2, searched 5, iteration 30. knows: a; b; c."]


def with_random_adapter(model, seed=1):
    """LoRA's B starts at zero (the adapter is a no-op until trained): give it weights, as training would."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.1)
    return model


def test_lora_wraps_exactly_the_targeted_modules_and_freezes_the_base(tiny_gpt2_dir):
    model = add_lora(load_base_model(str(tiny_gpt2_dir)), LoraSettings())
    wrapped = {name.split("transformer.")[1] for name, module in model.named_modules() if isinstance(module, LoraLayer)}
    layers = model.get_base_model().config.n_layer
    assert wrapped == {f"h.{i}.{part}" for i in range(layers) for part in ("attn.c_attn", "attn.c_proj", "mlp.c_proj")}
    trainable = {name: p for name, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_A." in name or ".lora_B." in name for name in trainable)
    # r x (in + out) per wrapped Conv1D (its weight is stored in x out)
    expected = sum(8 * sum(m.base_layer.weight.shape) for m in model.modules() if isinstance(m, LoraLayer))
    assert sum(p.numel() for p in trainable.values()) == expected
    assert all(m.fan_in_fan_out for m in model.modules() if isinstance(m, LoraLayer))


def test_on_gpt2_small_the_adapter_is_the_seeds_0_65_percent():
    with torch.device("meta"):  # GPT-2 small's shapes, without allocating its 124M weights
        model = add_lora(GPT2LMHeadModel(GPT2Config()), LoraSettings())
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == 811_008 and round(100 * trainable / total, 2) == 0.65


def test_an_adapter_round_trips_through_save_pretrained(tiny_gpt2_dir, tmp_path):
    model = with_random_adapter(add_lora(load_base_model(str(tiny_gpt2_dir)), LoraSettings())).eval()
    prompts = ActionPrompts()
    expected = action_scores(model, prompts.prompts(TEXTS), prompts.action_ids, prompts.pad_id)
    model.save_pretrained(tmp_path / "adapter")
    assert sorted(os.listdir(tmp_path / "adapter"))[:2] == ["README.md", "adapter_config.json"]

    frozen = load_adapter(load_base_model(str(tiny_gpt2_dir)), str(tmp_path / "adapter"), trainable=False).eval()
    assert not any(p.requires_grad for p in frozen.parameters())
    assert torch.equal(action_scores(frozen, prompts.prompts(TEXTS), prompts.action_ids, prompts.pad_id), expected)
    trainable = load_adapter(load_base_model(str(tiny_gpt2_dir)), str(tmp_path / "adapter"), trainable=True)
    assert {n for n, p in trainable.named_parameters() if p.requires_grad} == \
        {n for n, p in model.named_parameters() if p.requires_grad}
    with pytest.raises(UserError, match="no adapter here"):
        load_adapter(load_base_model(str(tiny_gpt2_dir)), str(tmp_path), trainable=False)


def test_the_merged_model_is_plain_gpt2_with_the_same_outputs(tiny_gpt2_dir):
    model = with_random_adapter(add_lora(load_base_model(str(tiny_gpt2_dir)), LoraSettings())).eval()
    base_only = load_base_model(str(tiny_gpt2_dir)).eval()
    ids = torch.tensor([ActionPrompts().prompts(TEXTS[:1])[0]])
    with torch.no_grad():
        unmerged = model(input_ids=ids).logits
        assert (unmerged - base_only(input_ids=ids).logits).abs().max() > 1e-2  # the adapter does something
        merged = model.merge_and_unload()
        assert type(merged) is GPT2LMHeadModel and not any(isinstance(m, LoraLayer) for m in merged.modules())
        # fp32 rounds x@(W + BA) and x@W + x@A@B differently: within 1e-5 of the logits' scale
        assert (merged(input_ids=ids).logits - unmerged).abs().max() < 1e-5 * unmerged.abs().max()


def test_an_actions_score_is_its_tokens_mean_log_probability_after_the_prompt(tiny_gpt2_dir):
    model = load_base_model(str(tiny_gpt2_dir)).eval()
    prompts = ActionPrompts()
    ids = prompts.prompts(TEXTS)
    scores = action_scores(model, ids, prompts.action_ids, prompts.pad_id)  # padded, batched
    for row, prompt in enumerate(ids):
        for column, action in enumerate(prompts.action_ids):
            with torch.no_grad():  # one unpadded sequence, scored by hand from the full logits
                log_probs = model(input_ids=torch.tensor([prompt + action])).logits[0].log_softmax(-1)
            expected = sum(log_probs[len(prompt) - 1 + i, token] for i, token in enumerate(action)) / len(action)
            assert scores[row, column].item() == pytest.approx(float(expected), abs=1e-4)


def test_prompts_keep_the_question_when_cut_and_gpt2_ids_must_fit_the_embedding(tiny_gpt2_dir):
    prompts = ActionPrompts(max_prompt_tokens=20)
    cut = prompts.prompts([TEXTS[1] * 5])[0]
    assert len(cut) == 20 and cut[-len(prompts.end_ids):] == prompts.end_ids
    small = GPT2LMHeadModel(GPT2Config(vocab_size=1000, n_embd=16, n_layer=1, n_head=2))  # the original agent's bug
    with pytest.raises(VocabularyMismatchError, match="1000 rows"):
        prompts.check_fits(small)
    with pytest.raises(UserError, match="160 positions"):
        ActionPrompts(max_prompt_tokens=300).check_fits(load_base_model(str(tiny_gpt2_dir)))


def test_without_gpt2s_weights_train_py_says_so_in_one_line(tmp_path):
    env = dict(os.environ, HRM_ROOT=str(tmp_path), HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1",
               WANDB_MODE="disabled")
    done = subprocess.run([sys.executable, str(ROOT / "train.py"), "experiment=agent_lora", "logger=csv"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith("error: model.pretrained=gpt2:") and "model.pretrained=null" in error
    assert "Traceback" not in done.stderr
    with pytest.raises(UserError, match="not a Hugging Face model dir"):
        load_base_model(str(tmp_path))  # a dir without a model in it
