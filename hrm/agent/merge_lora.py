"""Fold a trained LoRA adapter into GPT-2's weights: a plain transformers model, no peft needed to run it.

    python -m hrm.agent.merge_lora --checkpoint checkpoints/agent_lora/best.ckpt --out experiments/gpt2_lora_merged

The merged model's logits (every position, the whole vocabulary, fp32) are checked against the adapter
model's on the first 16 validation scenarios' prompts before anything is written: a difference above
--tolerance (1e-5 of the logits' scale) is an error and writes nothing. The folder holds the model and GPT-2's tokenizer (`from_pretrained` loads both), and serves as
`python -m hrm.agent.collect --teacher gpt2 --lm <folder>`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from hrm.agent.scenarios import load_scenarios
from hrm.agent.text import state_to_text
from hrm.data.scenarios import SHIPPED_SCENARIOS
from hrm.data.tokenizers import gpt2_tokenizer_dir
from hrm.errors import UserError
from hrm.models.gpt2_lora import pack
from hrm.utils.io import atomic_write_json, replace_dir
from hrm.utils.checkpoints import read_checkpoint
from hrm.utils.cli import ArgumentParser, one_line_errors

MARKER = "merged_by_hrm.json"  # marks a folder this tool wrote: the only kind --force replaces
CHECKED_PROMPTS = 16  # x ~95 positions x 50,257 logits: ~300 MB of fp32 per model


@torch.no_grad()
def all_logits(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Every position's logits where the batch has a token [tokens, vocab]."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return logits[batch["attention_mask"].bool()].float()


def merge_checkpoint(checkpoint: str | Path, out: str | Path, tolerance: float = 1e-5, force: bool = False,
                     scenarios: str | Path = SHIPPED_SCENARIOS) -> float:
    """Write the merged model to `out`; returns the largest |logit difference| found, over the largest |logit|
    (or over 1 where the logits are all smaller)."""
    from transformers import GPT2TokenizerFast
    from transformers.utils import logging as transformers_logging

    from hrm.modules.gpt2_lora import GPT2LoRAModule

    transformers_logging.disable_progress_bar()
    out = Path(out)
    check_replaceable(out, force)
    module = GPT2LoRAModule.from_checkpoint(read_checkpoint(checkpoint), str(checkpoint)).eval()
    prompts = module.prompts
    texts = [state_to_text(s["state"]) for s in load_scenarios(scenarios)[:CHECKED_PROMPTS]]
    batch = pack(prompts.prompts(texts), [[] for _ in texts], prompts.pad_id)
    with_adapter = all_logits(module.net, batch)
    merged = module.net.merge_and_unload()
    # Relative to the logits' scale: fp32 rounds x@(W + BA) and x@W + x@A@B differently, by ~1e-7 of their size.
    difference = float((all_logits(merged, batch) - with_adapter).abs().max() / with_adapter.abs().max().clamp(min=1))
    if difference > tolerance:
        raise UserError(f"{checkpoint}: the merged model's logits differ from the adapter's by {difference:.2e}"
                        f" of their scale (> {tolerance:.0e}); nothing written")
    folder = gpt2_tokenizer_dir()
    tokenizer = GPT2TokenizerFast(vocab_file=f"{folder}/vocab.json", merges_file=f"{folder}/merges.txt")

    def write(folder: Path) -> None:
        merged.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        atomic_write_json(folder / MARKER, {"written_by": "hrm.agent.merge_lora", "checkpoint": str(checkpoint)})

    replace_dir(out, write)
    return difference


def check_replaceable(out: Path, force: bool) -> None:
    """`out` may be new, or (with --force) a folder this tool wrote before; anything else is the user's."""
    if not out.exists() and not out.is_symlink():
        return
    if out.is_symlink() or not out.is_dir():
        raise UserError(f"{out}: exists and is not a merged-model folder; not replacing it (give another --out)")
    if not force:
        raise UserError(f"{out}: exists; pass --force to replace it (or write to another folder)")
    if not (out / MARKER).is_file():
        raise UserError(f"{out}: was not written by hrm.agent.merge_lora (no {MARKER}); --force replaces only"
                        " such folders, so it stays as it is (give another --out)")


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        p = ArgumentParser(prog="python -m hrm.agent.merge_lora", description=__doc__.split("\n\n")[0])
        p.add_argument("--checkpoint", required=True, type=Path, help="a GPT-2+LoRA .ckpt (experiment=agent_lora)")
        p.add_argument("--out", required=True, type=Path, help="the folder to write the merged model to")
        p.add_argument("--tolerance", type=float, default=1e-5,
                       help="largest |logit difference| allowed, relative to the largest |logit| (default: 1e-5)")
        p.add_argument("--force", action="store_true", help="replace an existing --out folder")
        args = p.parse_args(argv)
        difference = merge_checkpoint(args.checkpoint, args.out, args.tolerance, args.force)
        print(f"wrote {args.out}: GPT-2 with the adapter merged in; largest |logit difference| from the adapter"
              f" model on {CHECKED_PROMPTS} scenario prompts, relative to the largest |logit|: {difference:.1e}")
        return 0

    return one_line_errors(body)


if __name__ == "__main__":
    sys.exit(main())
