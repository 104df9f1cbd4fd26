"""Agent imitation on this CPU: wall time and accuracy, and the policy's decision latency against GPT-2.

1. Runs `python train.py experiment=agent_imitation` (1,100 logged decisions, 20 epochs) in a temporary
   folder through the real training code, timing the whole run and each validation: when held-out
   agreement with the teacher first reaches 90%, and where it ends.
2. Times single decisions (batch 1) on the 100 validation scenarios: the trained HRM policy
   (`HRMPolicy.decide`) against GPT-2 small (the 124M architecture, random weights: the time is the
   same) reading the same state text, once scoring it in one forward pass (the cheapest way GPT-2 can
   pick an action) and once writing a 16-token decision as the original agent did.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from hrm.agent.policy import HRMPolicy
from hrm.agent.scenarios import load_scenarios
from hrm.agent.text import state_to_text
from hrm.bench.record import add_out_argument, report
from hrm.bench.timing import median_ms
from hrm.data.scenarios import SHIPPED_SCENARIOS
from hrm.data.tokenizers import load_tokenizer
from hrm.training import run as run_training
from hrm.utils.compose import compose_train_config
from hrm.utils.resolvers import cpu_autocast, cpu_has_bf16

TARGET_AGREEMENT = 0.9


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="hrm_agent", help="hrm_agent | hrm_gpt2vocab (default: hrm_agent)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--decisions", type=int, default=100, help="timed single decisions per model")
    add_out_argument(parser, "agent")
    parser.add_argument("overrides", nargs="*", help="config overrides for the imitation run, key=value")


def imitation(args: argparse.Namespace, root: str) -> tuple[dict, list[dict], float, Path]:
    timeline = Path(root) / "timeline.json"
    overrides = ["experiment=agent_imitation", f"model={args.model}", "logger=none",
                 f"trainer.max_epochs={args.epochs}", "trainer.enable_progress_bar=false", "~callbacks.progress_bar",
                 "+callbacks.timeline._target_=hrm.bench.timing.ValidationTimeline",
                 f"+callbacks.timeline.path={timeline}", *args.overrides]
    cfg = compose_train_config(overrides, root)
    start = time.perf_counter()
    metrics = run_training(cfg)
    seconds = time.perf_counter() - start
    return metrics, json.loads(timeline.read_text()), seconds, Path(cfg.paths.ckpt_dir) / "last.ckpt"


def gpt2_latencies(texts: list[str], repeats: int, hrm_tokens: int) -> tuple[float, float, float]:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config()).eval()  # GPT-2 small: 12 layers, 768 wide, 124M parameters
    tokenizer = load_tokenizer("gpt2")
    prompts = [torch.tensor([tokenizer.encode(text).ids]) for text in texts]

    def score(ids):
        with torch.no_grad(), cpu_autocast():
            return model(ids, logits_to_keep=1).logits

    def write(ids):
        with torch.no_grad(), cpu_autocast():
            return model.generate(ids, max_new_tokens=16, min_new_tokens=16, do_sample=False,
                                  pad_token_id=50256, attention_mask=torch.ones_like(ids))

    prompts = prompts[:repeats]
    same_tokens = [ids[:, :hrm_tokens] for ids in prompts]  # exactly as much text as the HRM reads
    return median_ms(score, prompts), median_ms(score, same_tokens), median_ms(write, prompts)


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as root:
        metrics, timeline, seconds, checkpoint = imitation(args, root)
        policy = HRMPolicy.from_checkpoint(checkpoint)
        states = [s["state"] for s in load_scenarios(SHIPPED_SCENARIOS)]
        hrm_ms = median_ms(policy.decide, states[: args.decisions])
        params = sum(p.numel() for p in policy.module.parameters())
        hrm_tokens = policy.module.hparams.max_tokens
    reached = next((row for row in timeline if row["value"] >= TARGET_AGREEMENT), None)
    texts = [state_to_text(s) for s in states]
    gpt2_score_ms, gpt2_short_ms, gpt2_write_ms = gpt2_latencies(texts, args.decisions, hrm_tokens)
    gpt2_tokens = statistics.fmean(len(load_tokenizer("gpt2").encode(t).ids) for t in texts)

    reached_text = (f"held-out agreement first >= {TARGET_AGREEMENT:.0%} after epoch {reached['epoch']}, "
                    f"{reached['seconds']:.0f} s into training ({reached['value']:.3f})" if reached
                    else f"held-out agreement never reached {TARGET_AGREEMENT:.0%}")
    note = (f"Imitation ({args.model}, {args.epochs} epochs, bf16: {cpu_has_bf16()}, {torch.get_num_threads()} "
            f"threads): the whole run (collect, train, validate, test) {seconds:.0f} s; {reached_text}; final held-out "
            f"agreement {metrics.get('val/accuracy', float('nan')):.3f}; scenarios: HRM "
            f"{metrics.get('scenarios/hrm_accuracy', float('nan')):.2f}, teacher "
            f"{metrics.get('scenarios/teacher_accuracy', float('nan')):.2f}, switch/use_hrm "
            f"{metrics.get('switch/use_hrm', float('nan')):.0f}. GPT-2 small has random weights: its time does not "
            "depend on them.")
    gpt2 = [(f"GPT-2 small, scoring the whole state ({gpt2_tokens:.0f} tokens on average) in 1 forward", gpt2_score_ms),
            (f"GPT-2 small, scoring the same first {hrm_tokens} tokens in 1 forward", gpt2_short_ms),
            ("GPT-2 small, reading the whole state and writing 16 tokens", gpt2_write_ms)]
    rows = [{"decision at batch 1": f"HRM policy (`decide`, first {hrm_tokens} tokens, up to 2 segments)",
             "parameters (M)": round(params / 1e6, 1), "median latency (ms)": round(hrm_ms, 1), "HRM faster by": None},
            *({"decision at batch 1": name, "parameters (M)": 124.4, "median latency (ms)": round(ms, 1),
               "HRM faster by": round(ms / hrm_ms, 1)} for name, ms in gpt2)]
    report(args.out, "agent", "Agent imitation and decision latency (HRM policy vs GPT-2)", rows, note)
    return 0
