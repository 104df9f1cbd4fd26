"""The model card (`README.md`) of a saved model: what it is, how it was trained (the command and its
metrics, from the run that wrote the checkpoint, where that run's record is beside it) and how to use it."""

from __future__ import annotations

from pathlib import Path

from hrm.runs import read_info
from hrm.utils.files import read_metrics

# What a reader looks for first (validation's only where there was no test stage).
SHOWN_METRICS = ("test/exact_accuracy", "test/accuracy", "arc/pass@", "arc/official_pass@", "arc/all_correct@",
                 "scenarios/", "rl/mean_reward", "rl/over_", "test/mse", "test/psnr")
FALLBACK_METRICS = ("val/exact_accuracy", "val/accuracy", "val/mse")


def training_record(source: Path) -> tuple[str | None, dict[str, float]]:
    """(the train.py command, its final metrics) of the run that wrote checkpoint `source`, where its record
    (run_info.json) is beside it."""
    info = read_info(source.parent)
    command = info.get("command") if isinstance(info.get("command"), str) else None
    finished = info.get("finished")
    results = finished.get("results") if isinstance(finished, dict) else None
    metrics = read_metrics(results) if isinstance(results, str) and Path(results).is_file() else {}
    return command, metrics


def model_card(module, config: dict, source: Path) -> str:
    from huggingface_hub import ModelCardData

    net = module.net if hasattr(module, "net") else module
    params = sum(p.numel() for p in net.parameters())
    command, metrics = training_record(Path(source))
    shown = {k: v for k, v in sorted(metrics.items()) if k.startswith(SHOWN_METRICS)} or \
        {k: v for k, v in sorted(metrics.items()) if k.startswith(FALLBACK_METRICS)}
    data = config.get("data") or {}
    header = ModelCardData(library_name="hrm", tags=["hrm", "recursive-reasoning", type(net).__name__.lower()])
    lines = [
        "---", header.to_yaml(), "---", "",
        f"# {type(net).__name__} ({params:,} parameters), trained with hrm", "",
        f"A `{config['module']}` saved with `hrm.hub.save_pretrained` from `{Path(source).name}`.",
        *([f"It trained on ARC tasks of `{data.get('source')}` ({data.get('num_aug')} augmentations per task, "
           f"seed {data.get('seed')}): their variants are its puzzle ids."] if data else []),
        "", "## Training", "",
        f"```bash\n{command}\n```" if command else "The training command was not recorded beside the checkpoint.",
        "", "| metric | value |", "|---|---|", *(f"| {k} | {v:.4g} |" for k, v in shown.items()),
        "", "## Use", "",
        "```python", "from hrm.hub import from_pretrained", 'model = from_pretrained("<this folder or repo>")', "```",
        "", "```bash", "python -m hrm.predict ckpt=<this folder> input=<a puzzle, a CSV, or ARC task files>", "```", "",
    ]
    if not shown:
        lines = [line for line in lines if not line.startswith("| metric") and line != "|---|---|"]
    return "\n".join(lines)
