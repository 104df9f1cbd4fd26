"""GPT-2 as a policy: the teacher of `collect --teacher gpt2`, a trained adapter merged into plain GPT-2, and
the comparison of the HRM and GPT-2+LoRA policies on the same data."""

import json
from argparse import Namespace

import pytest
import torch
from transformers import GPT2LMHeadModel

from hrm.agent import collect, merge_lora
from hrm.agent.lm_policy import LMPolicy
from hrm.agent.schema import ACTIONS, load_examples
from hrm.bench import compare
from hrm.bench.results import load_record
from hrm.training import run
from hrm.utils.compose import compose_train_config
from tests.conftest import TINY

STATE = {"recent_actions": ["web_search"], "curiosity_count": 2, "knowledge_count": 5, "questions_asked": 1,
         "searches_performed": 3, "iteration": 7}


def test_collect_with_the_gpt2_teacher_logs_its_decisions(tiny_gpt2_dir, tmp_path, capsys):
    args = ["--teacher", "gpt2", "--lm", str(tiny_gpt2_dir), "--episodes", "2", "--steps", "4"]
    assert collect.main([*args, "--out", str(tmp_path / "a.json")]) == 0
    assert "(" + str(tiny_gpt2_dir) + ")" in capsys.readouterr().out
    examples = load_examples(tmp_path / "a.json")
    assert len(examples) == 8 and all(ex["action"]["action"] in ACTIONS for ex in examples)
    metadata = json.loads((tmp_path / "a.json").read_text())["metadata"]
    assert (metadata["teacher"], metadata["lm"]) == ("gpt2", str(tiny_gpt2_dir))
    # GPT-2 decides as its scores say: the logged action is the policy's own choice, with its confidence
    policy = LMPolicy.load(str(tiny_gpt2_dir))
    for example in examples[:3]:
        decision = policy.decide(example["state"])
        assert (example["action"]["action"], example["action"]["confidence"]) == (decision["action"], decision["confidence"])
    assert collect.main([*args, "--out", str(tmp_path / "b.json")]) == 0  # deterministic
    assert load_examples(tmp_path / "b.json") == examples


def test_collect_with_gpt2_but_no_weights_says_so(tmp_path, capsys):
    assert collect.main(["--teacher", "gpt2", "--lm", str(tmp_path), "--out", str(tmp_path / "a.json")]) == 2
    assert "not a Hugging Face model dir" in capsys.readouterr().err
    assert not (tmp_path / "a.json").exists()


def test_a_trained_adapter_merges_into_plain_gpt2_that_decides_the_same(trained_lora, tmp_path, capsys):
    _, ckpt_dir = trained_lora
    out = tmp_path / "merged"
    assert merge_lora.main(["--checkpoint", str(ckpt_dir / "last.ckpt"), "--out", str(out)]) == 0
    difference = float(capsys.readouterr().out.rsplit(": ", 1)[1])
    assert difference <= 1e-5
    assert type(GPT2LMHeadModel.from_pretrained(out)) is GPT2LMHeadModel
    merged, adapter = LMPolicy.load(str(out), bf16=False), LMPolicy.load(ckpt_dir / "last.ckpt", bf16=False)
    assert merged.parameter_counts()[0] < adapter.parameter_counts()[0]  # no adapter tensors left
    texts = ["recent: ask_human. curiosity 3, knowledge 6, asked 2, searched 4, iteration 11."]
    assert torch.allclose(merged.probabilities(texts), adapter.probabilities(texts), atol=1e-5)
    # an existing folder is not replaced without --force; a strict tolerance refuses and writes nothing
    assert merge_lora.main(["--checkpoint", str(ckpt_dir / "last.ckpt"), "--out", str(out)]) == 2
    assert merge_lora.main(["--checkpoint", str(ckpt_dir / "last.ckpt"), "--out", str(tmp_path / "strict"),
                            "--tolerance", "-1"]) == 2
    assert not (tmp_path / "strict").exists()


def test_the_comparison_scores_both_policies_on_the_same_data(trained_lora, tmp_path, capsys):
    _, lora_dir = trained_lora
    cfg = compose_train_config(["experiment=agent_imitation", *TINY, "test=false"], tmp_path)
    run(cfg)
    args = Namespace(hrm=f"{cfg.paths.ckpt_dir}/last.ckpt", lora=str(lora_dir / "last.ckpt"), seed=cfg.seed,
                     log=cfg.data.path, decisions=3, out=str(tmp_path / "compare"))
    assert compare.run(args) == 0
    record = load_record(tmp_path / "compare" / "compare.json")
    hrm, lora, teacher = record["rows"]
    assert (hrm["policy"], lora["policy"], teacher["policy"]) == ("hrm", "gpt2_lora", "teacher")
    for row in (hrm, lora):
        assert 0 <= row["scenario accuracy"] <= 1 and 0 <= row["held-out agreement"] <= 1
        assert row["decision latency, batch 1 (ms)"] > 0
    assert hrm["trainable"] == hrm["parameters"]
    assert lora["trainable"] < lora["parameters"]
    assert teacher["scenario accuracy"] == pytest.approx(0.75) and "100 scenarios" in record["note"]
    assert "| gpt2_lora |" in capsys.readouterr().out
    args.lora = str(tmp_path / "missing.ckpt")
    assert compare.run(args) == 2
