"""A trained model as a folder to share, in the Hugging Face hub's layout: `model.safetensors` (the
weights), `config.json` (everything needed to rebuild the model, and for an ARC model which tasks its
puzzle ids stand for) and `README.md` (its model card).

    from hrm.hub import save_pretrained, from_pretrained
    save_pretrained("checkpoints/sudoku6/last.ckpt", "shared/sudoku6")   # a checkpoint, or a loaded model
    model = from_pretrained("shared/sudoku6")     # the LightningModule, in eval mode, on the CPU
    model = from_pretrained("user/hrm-sudoku6")   # a hub repository, downloaded where a network exists

Loading never runs code from the folder: the weights are safetensors (tensors only), the config is JSON read
as data and checked like a checkpoint's settings, and the model's class follows from those settings (one
of this framework's), never from a name in the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import torch

from hrm.errors import CheckpointError, UserError
from hrm.hub.card import model_card
from hrm.load import model_from_checkpoint
from hrm.utils.checkpoints import read_checkpoint
from hrm.utils.files import check_regular_file, read_json
from hrm.utils.io import atomic_path, atomic_write_text, replace_dir

WEIGHTS, CONFIG, CARD = "model.safetensors", "config.json", "README.md"
FORMAT = 1  # the layout's version, in config.json
MAX_CONFIG_BYTES = 1 << 20


def is_pretrained_dir(path: str | Path) -> bool:
    return Path(path).is_dir() and (Path(path) / CONFIG).is_file()


def save_pretrained(source: str | Path, folder: str | Path, force: bool = False) -> Path:
    """Write `folder` from a checkpoint file (its weights, settings, data settings and run record). The
    folder is written whole or not at all; an existing one is replaced only with `force`."""
    folder, source = Path(folder), Path(source)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())) and not force:
        raise UserError(f"{folder}: exists and is not empty; pass --force to replace it, or another folder")
    checkpoint = read_checkpoint(str(source))
    module = model_from_checkpoint(checkpoint, str(source))  # checks that it rebuilds before anything is written
    if hasattr(module, "from_checkpoint"):  # GPT-2 + LoRA: its base is a Hugging Face model already
        raise UserError(f"{source}: a GPT-2+LoRA checkpoint; share it as a Hugging Face model with "
                        "python -m hrm.agent.merge_lora")
    config = {"format": FORMAT, "framework": "hrm", "module": type(module).__name__,
              "hyper_parameters": json_safe(checkpoint["hyper_parameters"], f"{source}: hyper_parameters"),
              "data": json_safe(checkpoint.get("datamodule_hyper_parameters"), f"{source}: data settings")}
    state = {key: tensor.detach().contiguous() for key, tensor in module.state_dict().items()}

    def write(tmp: Path) -> None:
        from safetensors.torch import save_file

        with atomic_path(tmp / WEIGHTS) as weights:
            save_file(state, str(weights), metadata={"format": "pt"})
        atomic_write_text(tmp / CONFIG, json.dumps(config, indent=2, sort_keys=True) + "\n")
        atomic_write_text(tmp / CARD, model_card(module, config, source))

    replace_dir(folder, write)
    return folder


def json_safe(value, where: str):
    """Settings as JSON keeps them (tuples become lists); anything else is not a setting."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{where}: not plain data ({error})") from None


def read_pretrained(folder: str | Path) -> dict:
    """A saved folder as a checkpoint's dict (hyper_parameters, state_dict, datamodule_hyper_parameters),
    read as data: JSON and safetensors only."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    config = read_json(folder / CONFIG, "model config", MAX_CONFIG_BYTES)
    if not isinstance(config, dict) or config.get("framework") != "hrm" or not isinstance(
            config.get("hyper_parameters"), dict):
        raise CheckpointError(f"{folder / CONFIG}: not the config of a model saved by hrm (save_pretrained)")
    if config.get("format") != FORMAT:
        raise CheckpointError(f"{folder / CONFIG}: format {config.get('format')!r}; this version reads {FORMAT}")
    check_regular_file(folder / WEIGHTS, "safetensors weights")
    try:
        state = load_file(str(folder / WEIGHTS))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{folder / WEIGHTS}: not a safetensors file ({error})") from None
    if not all(isinstance(t, torch.Tensor) for t in state.values()):
        raise CheckpointError(f"{folder / WEIGHTS}: holds something other than tensors")
    checkpoint = {"hyper_parameters": config["hyper_parameters"], "state_dict": state}
    if isinstance(config.get("data"), dict):
        checkpoint["datamodule_hyper_parameters"] = config["data"]
    return checkpoint


def download(repo_id: str) -> Path:
    """A hub repository's config, weights and card (nothing else: no code), cached by huggingface_hub;
    with HF_HUB_OFFLINE=1, only what the cache holds."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError

    try:
        return Path(snapshot_download(repo_id, allow_patterns=[CONFIG, WEIGHTS, CARD]))
    except HFValidationError:
        raise UserError(f"{repo_id}: no such folder, and not a hub repository id (user/name)") from None
    except Exception as error:  # no network, no such repository, no access: one line, whatever the cause
        raise UserError(f"{repo_id}: not a folder here, and the hub cannot give it ({type(error).__name__}: "
                        f"{str(error).splitlines()[0] if str(error) else 'no detail'})") from None


def read_model_source(source: str | Path) -> tuple[dict, str]:
    """(a checkpoint's dict, where it came from) for a checkpoint file, a saved folder or a hub repository."""
    path = Path(source)
    if path.is_file():
        return read_checkpoint(str(path)), str(path)
    folder = path if is_pretrained_dir(path) else None
    if folder is None and path.exists():
        raise CheckpointError(f"{path}: neither a checkpoint file nor a saved model folder (no {CONFIG})")
    folder = folder or download(str(source))
    return read_pretrained(folder), str(folder)


def from_pretrained(source: str | Path) -> L.LightningModule:
    """The model saved by `save_pretrained` (a folder, or a hub repository id), in eval mode on the CPU."""
    checkpoint, where = read_model_source(source)
    return model_from_checkpoint(checkpoint, where)


def push_to_hub(folder: str | Path, repo_id: str, token: str | None = None, private: bool = False) -> str:
    """Upload a saved folder to the hub (needs a network and a token: `hf auth login` or HF_TOKEN);
    returns the repository's URL."""
    from huggingface_hub import HfApi

    folder = Path(folder)
    read_pretrained(folder)  # only a folder that loads is shared
    api = HfApi(token=token)
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(folder_path=str(folder), repo_id=repo_id, allow_patterns=[CONFIG, WEIGHTS, CARD],
                          commit_message="Upload a model trained with hrm")
    except Exception as error:
        raise UserError(f"{repo_id}: the upload failed ({type(error).__name__}: "
                        f"{str(error).splitlines()[0] if str(error) else 'no detail'})") from None
    return str(url)
