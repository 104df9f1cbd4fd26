"""`python -m hrm.convert official`: a checkpoint in the official HRM's layout (sapientinc/HRM: the key
names and shapes of its state dict, a compiled model's `_orig_mod.` prefix, bfloat16 initial states)
becomes a checkpoint of this framework that computes what the same values loaded by hand compute."""

import re

import pytest
import torch
import yaml

from hrm import load_model
from hrm.convert import main
from hrm.models.hrm import HRM, HRMConfig
from tests.official_layout import (
    ARCH,
    PUZZLES,
    SEQ,
    VOCAB,
    D,
    official_folder,
    official_state,
)


def by_hand(state: dict[str, torch.Tensor]) -> HRM:
    """The same values put into this framework's HRM by hand: the renames written out one by one."""
    net = HRM(HRMConfig(vocab_size=VOCAB, seq_len=SEQ, num_puzzle_identifiers=PUZZLES, hidden_size=D, num_heads=4,
                        H_layers=2, L_layers=1, H_cycles=2, L_cycles=2, expansion=4.0))
    mine = {}
    for key, value in state.items():
        key = key.removeprefix("_orig_mod.model.inner.")
        key = key.replace("embed_tokens.embedding_weight", "input.embed_tokens.weight")
        key = key.replace("puzzle_emb.weights", "input.puzzle_emb.weight").replace("self_attn", "attn")
        mine[key] = value.float()
    net.load_state_dict(mine, strict=True)
    return net


@pytest.mark.parametrize("prefix", ["_orig_mod.", ""])
def test_a_converted_official_checkpoint_gives_the_logits_of_the_values_loaded_by_hand(tmp_path, prefix, capsys):
    state = official_state(prefix)
    folder = official_folder(tmp_path, state)
    assert main(["official", str(folder), "--out", str(tmp_path / "converted"), "--seq-len", str(SEQ)]) == 0
    assert "wrote" in capsys.readouterr().out
    model = load_model(tmp_path / "converted" / "last.ckpt")
    reference = by_hand(official_state("_orig_mod."))
    g = torch.Generator().manual_seed(1)
    batch = {"inputs": torch.randint(0, VOCAB, (3, SEQ), generator=g),
             "puzzle_identifiers": torch.tensor([0, 3, 6])}
    with torch.no_grad():
        _, ours, q_ours = model.net(model.net.initial_carry(3), batch)
        _, theirs, q_theirs = reference(reference.initial_carry(3), batch)
    assert torch.equal(ours, theirs) and torch.equal(q_ours, q_theirs)
    assert model.hparams.act["halt_max_steps"] == 4 and model.hparams.optimizer["name"] == "adam_atan2"


@pytest.mark.parametrize("damage, says", [
    (lambda s: s.update({"_orig_mod.model.inner.lm_head.weight": torch.zeros(VOCAB, D + 1)}), "does not fit"),
    (lambda s: s.update({"_orig_mod.model.inner.extra.weight": torch.zeros(2)}), "not a weight of the official"),
    (lambda s: s.pop("_orig_mod.model.inner.q_head.bias"), "does not fit"),
    (lambda s: s.update({"optimizer.step": torch.zeros(1)}), "expected model.inner"),
])
def test_a_wrong_shaped_or_wrong_key_file_is_one_line(tmp_path, capsys, damage, says):
    state = official_state()
    damage(state)
    folder = official_folder(tmp_path, state)
    assert main(["official", str(folder), "--out", str(tmp_path / "converted"), "--seq-len", str(SEQ)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says in err and "Traceback" not in err
    assert not (tmp_path / "converted" / "last.ckpt").exists()


def test_a_pickled_or_missing_official_file_is_refused_without_running_it(tmp_path, capsys):
    folder = tmp_path / "official"
    folder.mkdir()
    assert main(["official", str(folder), "--out", str(tmp_path / "out")]) == 2
    assert "no official checkpoint" in capsys.readouterr().err
    torch.save({"model.inner.H_init": torch.zeros(4), "code": re.compile("x")}, folder / "step_5")  # a pickle
    (folder / "all_config.yaml").write_text(yaml.safe_dump({"arch": ARCH}))
    assert main(["official", str(folder), "--out", str(tmp_path / "out"), "--seq-len", "4"]) == 2
    assert "not a checkpoint of tensors" in capsys.readouterr().err
