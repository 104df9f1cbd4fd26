"""Checkpoints of the official HRM code (sapientinc/HRM) as checkpoints of this framework.

    python -m hrm.convert official <folder with step_N and all_config.yaml> --out checkpoints/<name>

writes `checkpoints/<name>/last.ckpt`, which `python train.py experiment=... model=hrm experiment_name=<name>
train=false` (or `ckpt_path=`) evaluates with this framework's data, voting and pictures, and which
`hrm.load_model` loads. The official file is read as tensors only (`weights_only=True`), its config with
`yaml.safe_load`; both are checked as data. It takes what users trip on with the official loader: the
`_orig_mod.` prefix of a compiled model (or its absence), bfloat16 initial states, and a puzzle table of
whatever size the official dataset build gave (kept as it is: ARC data built with that build's
identifiers.json, `data.identifiers=`, gives the same ids; Sudoku and mazes share one id,
`data.shared_puzzle_id=true`).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import lightning
import torch

from hrm.data.official_ids import check_table_rows
from hrm.errors import CheckpointError, UserError
from hrm.registry import build_net
from hrm.utils.cli import ArgumentParser, check_replaceable, int_at_least, one_line_errors
from hrm.utils.files import check_regular_file, read_json, read_yaml
from hrm.utils.io import atomic_path

OFFICIAL_PREFIX = "model.inner."
COMPILED_PREFIX = "_orig_mod."
# official name (after the prefixes) -> this framework's HRM's; {level} H or L, {i} the layer
RENAMES = [
    (r"H_init", "H_init"), (r"L_init", "L_init"),
    (r"embed_tokens\.embedding_weight", "input.embed_tokens.weight"),
    (r"puzzle_emb\.weights", "input.puzzle_emb.weight"),
    (r"lm_head\.weight", "lm_head.weight"), (r"q_head\.(weight|bias)", r"q_head.\1"),
    (r"([HL])_level\.layers\.(\d+)\.self_attn\.(qkv_proj|o_proj)\.weight", r"\1_level.layers.\2.attn.\3.weight"),
    (r"([HL])_level\.layers\.(\d+)\.mlp\.(gate_up_proj|down_proj)\.weight", r"\1_level.layers.\2.mlp.\3.weight"),
]
ARCH_FIELDS = ("H_cycles", "L_cycles", "H_layers", "L_layers", "hidden_size", "num_heads", "expansion",
               "halt_max_steps")


def newest_step_file(folder: Path) -> Path:
    steps = [(int(m.group(1)), p) for p in folder.iterdir() if (m := re.fullmatch(r"step_(\d+)", p.name))]
    if not steps:
        raise CheckpointError(f"{folder}: no official checkpoint in it (a file named step_<N>)")
    return max(steps)[1]


def read_official_weights(path: Path) -> dict[str, torch.Tensor]:
    """The official state dict, renamed to this framework's HRM's keys, in float32."""
    check_regular_file(path, "official checkpoint")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # not a torch file, truncated, or holding more than tensors
        raise CheckpointError(f"{path}: not a checkpoint of tensors ({type(error).__name__}: "
                              f"{str(error).splitlines()[0][:160] if str(error) else ''})") from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                             for k, v in state.items()):
        raise CheckpointError(f"{path}: expected the official layout, a flat dict of named tensors")
    renamed = {}
    for key, tensor in state.items():
        name = key.removeprefix(COMPILED_PREFIX)
        if not name.startswith(OFFICIAL_PREFIX):
            raise CheckpointError(f"{path}: {key}: not an official HRM weight (expected {OFFICIAL_PREFIX}...)")
        name = name.removeprefix(OFFICIAL_PREFIX)
        if name.startswith("embed_pos."):
            raise CheckpointError(f"{path}: {key}: a model with learned positions (pos_encodings: learned) is not"
                                  " converted: this framework scales a learned-position input differently")
        ours = next((re.sub(f"^{p}$", r, name) for p, r in RENAMES if re.fullmatch(p, name)), None)
        if ours is None:
            raise CheckpointError(f"{path}: {key}: not a weight of the official HRM")
        if not tensor.is_floating_point():
            raise CheckpointError(f"{path}: {key}: {tensor.dtype} values, expected floating point")
        renamed[ours] = tensor.float()
    return renamed


def net_settings(weights: dict[str, torch.Tensor], arch: dict, seq_len: int, config_path: Path) -> dict:
    """This framework's HRM settings: the shapes from the weights, the cycles and heads from the config."""
    missing = [field for field in ARCH_FIELDS if not isinstance(arch.get(field), (int, float))]
    if missing:
        raise UserError(f"{config_path}: arch: no number for {', '.join(missing)}")
    if arch.get("pos_encodings", "rope") != "rope":
        raise UserError(f"{config_path}: arch.pos_encodings={arch['pos_encodings']!r}: only rope models convert")
    if "input.embed_tokens.weight" not in weights:
        raise UserError(f"{config_path}: its checkpoint has no token embedding (model.inner.embed_tokens)")
    vocab, hidden = weights["input.embed_tokens.weight"].shape
    table = weights.get("input.puzzle_emb.weight")
    puzzle_rows = table.shape[0] if table is not None else 0
    return {"_target_": "hrm.models.hrm.HRM", "vocab_size": int(vocab), "seq_len": seq_len,
            "num_puzzle_identifiers": int(puzzle_rows), "puzzle_emb": puzzle_rows > 0, "pos_encoding": "rope",
            "hidden_size": int(hidden), "num_heads": int(arch["num_heads"]), "expansion": float(arch["expansion"]),
            **{field: int(arch[field]) for field in ("H_layers", "L_layers", "H_cycles", "L_cycles")}}


def lightning_checkpoint(step_file: Path, seq_len: int | None) -> dict:
    """A checkpoint of this framework (a ReasoningModule's) holding the official model's weights."""
    config_path = step_file.with_name("all_config.yaml")
    check_regular_file(config_path, "official config")
    config = read_yaml(config_path, dict, "official config")
    arch = config.get("arch")
    if not isinstance(arch, dict):
        raise UserError(f"{config_path}: no arch: block (the model's shape)")
    weights = read_official_weights(step_file)
    if seq_len is None:
        dataset = step_file.parent / "dataset.json"  # the official data folder's test/dataset.json, copied
        info = read_json(dataset, "official dataset description") if dataset.is_file() else {}
        seq_len = info.get("seq_len") if isinstance(info, dict) else None
        if not isinstance(seq_len, int) or seq_len < 1:
            raise UserError(f"{step_file.parent}: give --seq-len (ARC and Maze-Hard: 900, Sudoku-Extreme: 81), or"
                            " put the official data's test/dataset.json beside the checkpoint")
    net = net_settings(weights, arch, seq_len, config_path)
    try:
        model = build_net(net, f"{config_path}: arch")
        model.load_state_dict(weights, strict=True)
    except (RuntimeError, ValueError, UserError) as error:
        raise CheckpointError(f"{step_file}: does not fit the model its config describes "
                              f"({str(error).splitlines()[0][:200]})") from None
    def number(key: str, default: float) -> float:  # the training recipe, kept for training further
        value = config.get(key, default)
        try:
            return float(value)  # YAML reads 1e-4 (no dot) as text
        except (TypeError, ValueError):
            raise UserError(f"{config_path}: {key}={value!r}: expected a number") from None

    loss = "softmax" if (arch.get("loss") or {}).get("loss_type") == "softmax_cross_entropy" else "stablemax"
    hyper_parameters = {
        "net": net, "loss": loss, "tokenizer": None, "compile": False, "ema": None,
        "act": {"halt_max_steps": int(arch["halt_max_steps"]), "no_continue": False, "eval_halting": False,
                "halt_exploration_prob": float(arch.get("halt_exploration_prob", 0.1))},
        "optimizer": {"name": "adam_atan2", "lr": number("lr", 1e-4),
                      "betas": [number("beta1", 0.9), number("beta2", 0.95)],
                      "weight_decay": number("weight_decay", 0.1),
                      "warmup_steps": int(number("lr_warmup_steps", 0)),
                      "puzzle_emb_lr": number("puzzle_emb_lr", 1e-2),
                      "puzzle_emb_weight_decay": number("puzzle_emb_weight_decay", 0.1), "lr_decay": None},
    }
    return {"state_dict": {f"net.{k}": v for k, v in model.state_dict().items()},
            "hyper_parameters": hyper_parameters, "epoch": 0, "global_step": 0,
            "pytorch-lightning_version": lightning.__version__, "converted_from": str(step_file)}


def convert_official(source: Path, out: Path, seq_len: int | None = None, force: bool = False,
                     identifiers: Path | None = None) -> Path:
    """Write `out`/last.ckpt from the official checkpoint `source` (a step_N file or its folder). With the
    build's `identifiers`, check that they name as many puzzle ids as the table has rows."""
    step_file = newest_step_file(source) if source.is_dir() else source
    target = out / "last.ckpt"
    check_replaceable(target, force, lambda path: "converted_from" in _keys(path), "converted checkpoint")
    checkpoint = lightning_checkpoint(step_file, seq_len)
    if identifiers is not None:
        check_table_rows(identifiers, checkpoint["hyper_parameters"]["net"]["num_puzzle_identifiers"])
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        torch.save(checkpoint, tmp)
    return target


def _keys(path: Path) -> set:
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - not ours to replace, whatever it is
        return set()
    return set(checkpoint) if isinstance(checkpoint, dict) else set()


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        p = ArgumentParser(prog="python -m hrm.convert", description=__doc__.split("\n\n")[0])
        sub = p.add_subparsers(dest="kind", required=True)
        official = sub.add_parser("official", help="a sapientinc/HRM checkpoint (step_N beside all_config.yaml)")
        official.add_argument("source", type=Path, help="the folder holding step_N and all_config.yaml, or step_N")
        official.add_argument("--out", required=True, type=Path, help="the checkpoint dir to write last.ckpt into")
        official.add_argument("--seq-len", type=int_at_least(1), default=None,
                              help="tokens per puzzle (default: from a dataset.json beside the checkpoint)")
        official.add_argument("--identifiers", type=Path, default=None,
                              help="the identifiers.json of the data build the model was trained on (ARC): checked"
                                   " against the puzzle table; evaluate with data.identifiers=<it>")
        official.add_argument("--force", action="store_true", help="replace a last.ckpt this tool wrote")
        args = p.parse_args(argv)
        target = convert_official(args.source, args.out, args.seq_len, args.force, args.identifiers)
        print(f"wrote {target}: the official HRM's weights; evaluate with train=false ckpt_path={target}")
        return 0

    return one_line_errors(body)


if __name__ == "__main__":
    sys.exit(main())
