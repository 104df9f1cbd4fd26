"""A checkpoint folder in the official HRM's layout (sapientinc/HRM: `step_<N>`, a flat dict of tensors under
its key names and shapes, beside `all_config.yaml`), filled with random values: what hrm.convert reads."""

from pathlib import Path

import torch
import yaml

from hrm.models.layers import swiglu_width

ARCH = {"name": "hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1", "H_cycles": 2, "L_cycles": 2, "H_layers": 2,
        "L_layers": 1, "hidden_size": 64, "num_heads": 4, "expansion": 4, "puzzle_emb_ndim": 64,
        "pos_encodings": "rope", "halt_max_steps": 4, "halt_exploration_prob": 0.1,
        "loss": {"name": "losses@ACTLossHead", "loss_type": "stablemax_cross_entropy"}}
VOCAB, SEQ, PUZZLES, D = 12, 36, 7, 64
# debug=tiny's HRM (configs/debug_model/tiny_hrm.yaml) in the official layout: what the docs walk converts
TINY_ARCH = {**ARCH, "H_layers": 1, "L_layers": 1, "hidden_size": 32, "num_heads": 2, "puzzle_emb_ndim": 32,
             "halt_max_steps": 2}


def official_state(prefix: str = "_orig_mod.", arch: dict = ARCH, vocab: int = VOCAB,
                   puzzles: int = PUZZLES) -> dict[str, torch.Tensor]:
    """Random values under the official keys and shapes of `arch` (the vocabulary and the puzzle table's
    rows come from the data the model was trained on)."""
    g = torch.Generator().manual_seed(0)
    d = arch["hidden_size"]
    width = swiglu_width(d, arch["expansion"])
    shapes = {"H_init": (d,), "L_init": (d,), "embed_tokens.embedding_weight": (vocab, d),
              "lm_head.weight": (vocab, d), "q_head.weight": (2, d), "q_head.bias": (2,),
              "puzzle_emb.weights": (puzzles, d)}
    for level, layers in (("H", arch["H_layers"]), ("L", arch["L_layers"])):
        for i in range(layers):
            shapes.update({f"{level}_level.layers.{i}.self_attn.qkv_proj.weight": (3 * d, d),
                           f"{level}_level.layers.{i}.self_attn.o_proj.weight": (d, d),
                           f"{level}_level.layers.{i}.mlp.gate_up_proj.weight": (2 * width, d),
                           f"{level}_level.layers.{i}.mlp.down_proj.weight": (d, width)})
    state = {f"{prefix}model.inner.{k}": torch.randn(s, generator=g) * 0.1 for k, s in shapes.items()}
    for name in ("H_init", "L_init"):  # the official forward dtype
        state[f"{prefix}model.inner.{name}"] = state[f"{prefix}model.inner.{name}"].bfloat16()
    return state


def official_folder(parent: Path, state: dict, step: int = 1000, name: str = "official", arch: dict = ARCH) -> Path:
    folder = parent / name
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / f"step_{step}")
    (folder / "all_config.yaml").write_text(yaml.safe_dump({"arch": arch, "lr": "1e-4", "beta1": 0.9,
                                                            "beta2": 0.95, "weight_decay": 0.1}))
    return folder
