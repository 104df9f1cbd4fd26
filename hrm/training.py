"""What `train.py` does, step by step: data -> model (sized by the data) -> trainer -> fit -> metrics.json.

Kept out of train.py so tests and other entry points can run a composed config directly.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from hydra.errors import InstantiationException
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import LearningRateMonitor, ModelSummary
from omegaconf import DictConfig, OmegaConf, open_dict

from hrm.callbacks import LoopStarted, StopOnNonFinite
from hrm.config_checks import check_config
from hrm.console import quiet_third_parties
from hrm.errors import CheckpointError, UserError
from hrm.modules import data_binding
from hrm.registry import LIGHTNING_MODULES, allowed_class
from hrm.runs import (RunChoice, choose_ckpt_dir, finished_run, identity_settings, launch_command, read_info,
                      record_finished, update_info)
from hrm.utils import resolvers  # noqa: F401  (registers ${cpu_precision:})
from hrm.utils.checkpoints import check_compatible, read_checkpoint, resume_checkpoint
from hrm.utils.cli import one_line_errors, user_error_in
from hrm.utils.checkpoint_io import AtomicCheckpointIO
from hrm.utils.distributed import cluster_plugins, give_ddp_children_this_job, is_rank_zero
from hrm.utils.files import read_metrics
from hrm.utils.experiments import debug_gaps, swapped_model
from hrm.utils.io import atomic_write_json, atomic_write_text, remove_stale_temporaries
from hrm.utils.mps import mps_fallbacks
from hrm.utils.parameters import parameter_counts

def build(section: DictConfig, group: str, **kwargs: Any) -> Any:
    """`hydra.utils.instantiate` of a config group whose classes `check_config` has allowed; a constructor
    that refuses a setting (Lightning's Trainer says ValueError, say) is one line naming the group."""
    try:
        return hydra.utils.instantiate(section, **kwargs)
    except InstantiationException as error:
        cause = error.__cause__
        if user_error_in(error) is None and isinstance(cause, (ValueError, TypeError, MisconfigurationException)):
            raise UserError(f"{group}: {cause}") from None
        raise


# What each LightningModule the framework builds (hrm.registry) takes from its data before it is built.
DATA_BINDINGS = {
    "hrm.modules.reasoning.ReasoningModule": data_binding.token_grid_sizes,  # vocabulary, sequence, puzzle ids
    "hrm.modules.policy.PolicyModule": data_binding.word_vocabulary,  # a word vocabulary from the training logs
    "hrm.modules.policy_rl.PolicyRLModule": data_binding.imitation_policy,  # the imitation checkpoint's network
    "hrm.modules.gpt2_lora.GPT2LoRAModule": data_binding.nothing,  # GPT-2's vocabulary is fixed
    "hrm.modules.vae.VAEModule": data_binding.image_shape,  # channels and image size
    "hrm.modules.vae_distill.VAEDistillModule": data_binding.image_shape,
}


def bind_model_to_data(model_cfg: DictConfig, datamodule: Any, checkpoint: dict | None = None) -> None:
    """Fill in what the model takes from the data (DATA_BINDINGS), or from the checkpoint being resumed."""
    allowed_class(model_cfg._target_, LIGHTNING_MODULES, "model")  # one of the framework's own
    DATA_BINDINGS[model_cfg._target_](model_cfg, datamodule, checkpoint)


@contextlib.contextmanager
def restoring(ckpt_path: Path | None, trainer: L.Trainer):
    """Around `trainer.fit`/`test` with a checkpoint: what fails before the loop starts failed restoring it
    (a forged or damaged optimizer state, loop or callback state), and is one line naming the file."""
    started = next(c for c in trainer.callbacks if isinstance(c, LoopStarted))
    started.started = False
    try:
        yield
    except Exception as error:
        if ckpt_path is None or started.started or user_error_in(error) is not None:
            raise
        raise CheckpointError(f"{ckpt_path}: cannot be restored into this run ({type(error).__name__}:"
                              f" {str(error).splitlines()[0][:200] if str(error) else ''})") from None


def check_writable(folder: str | Path, what: str) -> None:
    """Fail now, in one line, if `folder` cannot take files (a file in its place, a read-only or full disk,
    permissions), instead of after the training it was meant to keep."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check.", suffix=".tmp") as probe:
            probe.write(b"0")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as error:
        raise UserError(f"{folder}: cannot write {what} there ({error.strerror or error})") from None


def count_parameters(module: torch.nn.Module) -> tuple[int, int]:
    """(all parameters, parameters outside sparse embedding tables such as the per-puzzle one)."""
    total = sum(p.numel() for p in module.parameters())
    sparse = sum(m.weight.numel() for m in module.modules() if isinstance(m, torch.nn.Embedding) and m.sparse)
    return total, total - sparse


def build_loggers(cfg: DictConfig, resuming: bool) -> list:
    loggers = []
    ckpt_dir = Path(cfg.paths.ckpt_dir)
    for logger_cfg in (cfg.get("logger") or {}).values():
        if logger_cfg is None or "_target_" not in logger_cfg:
            continue
        if logger_cfg._target_.endswith("WandbLogger"):
            logger_cfg = logger_cfg.copy()
            with open_dict(logger_cfg):
                logger_cfg.id = logger_cfg.id or wandb_run_id(ckpt_dir, resuming)
        logger = build(logger_cfg, "logger")
        # Lightning always hands wandb an `anonymous` setting, which wandb then warns is obsolete.
        getattr(logger, "_wandb_init", {}).pop("anonymous", None)
        loggers.append(logger)
    return loggers


def wandb_run_id(ckpt_dir: Path, resuming: bool) -> str:
    """A resumed run logs into the same wandb run; a fresh one gets a new id, remembered beside its checkpoints."""
    run_id = read_info(ckpt_dir).get("wandb_id") if resuming else None
    if isinstance(run_id, str) and run_id.isalnum():
        return run_id
    run_id = uuid.uuid4().hex[:8]
    if is_rank_zero():  # other DDP processes log nothing to wandb: their id is never used
        update_info(ckpt_dir, wandb_id=run_id)
    return run_id


def build_callbacks(cfg: DictConfig, has_logger: bool) -> list:
    callbacks: list = [StopOnNonFinite(), LoopStarted()]  # every training job, whatever its config
    for callback_cfg in (cfg.get("callbacks") or {}).values():
        if callback_cfg is None or "_target_" not in callback_cfg:
            continue
        callback = build(callback_cfg, "callbacks")
        if isinstance(callback, LearningRateMonitor) and not has_logger:
            continue  # it raises without a logger, and there is nothing to monitor into
        if isinstance(callback, ModelSummary) and not cfg.get("verbose"):
            continue  # the "model:" line says what it trains; verbose=true draws the table too
        callbacks.append(callback)
    return callbacks


def final_metrics(trainer: L.Trainer) -> dict[str, float]:
    metrics = {}
    for key, value in trainer.callback_metrics.items():
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            metrics[key] = float(value)
        elif isinstance(value, (int, float)):
            metrics[key] = float(value)
    metrics["trainer/global_step"] = float(trainer.global_step)
    metrics["trainer/epoch"] = float(trainer.current_epoch)
    return dict(sorted(metrics.items()))


def global_batch_line(cfg: DictConfig, trainer: L.Trainer) -> str | None:
    """"global batch: 768 = 96 per device x 1 device x 8 accumulated" where the run spreads
    a batch over devices or micro-batches, or its recipe names one; None otherwise."""
    per_device, recipe = cfg.data.get("batch_size"), cfg.get("global_batch_size")
    devices, accumulate = trainer.num_devices * trainer.num_nodes, trainer.accumulate_grad_batches
    if not isinstance(per_device, int) or (recipe is None and devices * accumulate == 1):
        return None
    total = per_device * devices * accumulate
    line = (f"global batch: {total} = {per_device} per device x {devices} device{'s' if devices > 1 else ''}"
            f" x {accumulate} accumulated")
    if recipe is not None and recipe != total:
        line += (f"; the recipe's is {recipe} (keep data.batch_size x trainer.devices x"
                 " trainer.accumulate_grad_batches at it to train as published)")
    return line


def run(cfg: DictConfig) -> dict[str, float]:
    """Train (and validate) the composed config; returns the final metrics also written to metrics.json."""
    quiet_third_parties(bool(cfg.get("verbose")))
    check_config(cfg)  # every class it names is ours, every setting has its type and range: before any work
    L.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.paths.output_dir)
    say = print if is_rank_zero() else (lambda *args: None)  # DDP: one process speaks
    swap = swapped_model()
    if swap is not None:
        say("model: model={2} in place of experiment {0}'s {1}; the experiment's model settings apply on"
            " top of its own".format(*swap))
    for gap in debug_gaps():
        say(gap)
    for fallback in mps_fallbacks(cfg):
        say(fallback)
    settings = identity_settings(cfg)
    choice = choose_ckpt_dir(Path(cfg.paths.ckpt_dir), settings)  # the run these settings make
    if not cfg.train and not read_info(choice.ckpt_dir):  # evaluation makes no run: the experiment's checkpoints
        choice = RunChoice(Path(cfg.paths.ckpt_dir), None)
    with open_dict(cfg):
        cfg.paths.ckpt_dir = str(choice.ckpt_dir)
    ckpt_dir = choice.ckpt_dir
    if choice.message and cfg.train:
        say(choice.message)
    finished = finished_run(ckpt_dir, cfg) if cfg.train and cfg.resume and not cfg.get("ckpt_path") else None
    if finished is not None:
        metrics = report_finished(ckpt_dir, finished)
        if metrics and is_rank_zero():  # this command's run dir holds the results too (a sweep's table reads them)
            atomic_write_json(output_dir / "metrics.json", metrics)
        return metrics
    if is_rank_zero():
        check_writable(output_dir, "the run's outputs")
        check_writable(ckpt_dir, "checkpoints")
        remove_stale_temporaries(ckpt_dir)  # what a kill during a checkpoint write left behind

    datamodule = build(cfg.data, "data")
    datamodule.prepare_data()  # e.g. collect the agent logs on first use
    datamodule.setup("fit")
    # Only the first process moves old checkpoints aside (resume=false); DDP children start later.
    ckpt_path = resume_checkpoint(cfg.paths.ckpt_dir, cfg.get("ckpt_path"), bool(cfg.resume), move_aside=is_rank_zero())
    if is_rank_zero() and cfg.train:  # what this dir's run trains; a fresh start is not finished
        # the command that started it is recorded once (a resume may add only trainer bounds to it)
        update_info(ckpt_dir, settings=settings,
                    **({} if ckpt_path is not None else {"finished": None, "command": launch_command()}))
    checkpoint = read_checkpoint(ckpt_path) if ckpt_path is not None else None
    bind_model_to_data(cfg.model, datamodule, checkpoint)
    model = build(cfg.model, "model")
    total, dense = count_parameters(model)
    trainable = parameter_counts(model)[1]
    say(f"model: {type(model.net).__name__} with {dense:,} parameters"
          + (f" (+{total - dense:,} in the puzzle-embedding table)" if total != dense else "")
          + (f", {trainable:,} of them trainable ({100 * trainable / total:.2f}%)" if trainable < total else ""))

    if ckpt_path is not None:
        found = not cfg.get("ckpt_path")  # found by resume=true, not named by the user
        hint = "; resume=false starts afresh (old checkpoints are kept), or set another experiment_name" if found else ""
        # A module that saves only part of itself (an adapter) says which part.
        saved = getattr(model, "state_dict_to_checkpoint", model.state_dict)()
        check_compatible(ckpt_path, checkpoint, saved, hint)
        step, epoch = checkpoint.get("global_step"), checkpoint.get("epoch")
        verb = "evaluating" if not cfg.train else "resuming from" if found else "starting from"
        say(f"{verb} {ckpt_path} (step {step}, epoch {epoch})")

    loggers = build_loggers(cfg, resuming=ckpt_path is not None)
    callbacks = build_callbacks(cfg, has_logger=bool(loggers))
    give_ddp_children_this_job(cfg)
    # Checkpoints written whole or not at all, and never with non-finite weights (hrm.utils.checkpoint_io).
    summary = bool(cfg.get("verbose")) and cfg.trainer.get("enable_model_summary", True)
    trainer: L.Trainer = build(cfg.trainer, "trainer", callbacks=callbacks, logger=loggers or False,
                               enable_model_summary=summary,
                               plugins=[AtomicCheckpointIO(), *cluster_plugins()])

    batch_line = global_batch_line(cfg, trainer) if cfg.train else None
    if batch_line:
        say(batch_line)
    say(f"precision: {trainer.precision} on {trainer.accelerator.__class__.__name__.removesuffix('Accelerator')}"
        f"  writes: {output_dir} (run), {cfg.paths.ckpt_dir} (checkpoints)")
    metrics: dict[str, float] = {}
    if cfg.train:
        with restoring(ckpt_path, trainer):
            trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        metrics.update(final_metrics(trainer))  # the test stage below replaces callback_metrics
    if cfg.test or not cfg.train:
        if not cfg.train and ckpt_path is None:
            raise UserError("train=false evaluates a checkpoint: give ckpt_path=<file>, or train this experiment first")
        # After training: the weights in memory. Without training: the checkpoint's.
        with restoring(None if cfg.train else ckpt_path, trainer):
            trainer.test(model, datamodule=datamodule, ckpt_path=None if cfg.train else ckpt_path, weights_only=True,
                         verbose=bool(cfg.get("verbose")))  # the results block below says it once

    metrics = dict(sorted({**metrics, **final_metrics(trainer)}.items()))
    wanted = cfg.get("optimized_metric")
    if wanted and wanted not in metrics:  # a search must not go on with a trial that reports nothing
        raise UserError(f"optimized_metric={wanted}: this run reported no such metric (it reported:"
                        f" {', '.join(headline_metrics(metrics)) or ', '.join(metrics)})")
    if trainer.is_global_zero:
        atomic_write_json(output_dir / "metrics.json", metrics)
        if cfg.train and not trainer.interrupted:
            record_finished(ckpt_dir, cfg, trainer.global_step, output_dir / "metrics.json")
        atomic_write_text(output_dir / "config_resolved.yaml", OmegaConf.to_yaml(cfg, resolve=True))
        report(cfg, trainer, loggers, metrics)
    finish_loggers(loggers)
    return metrics


# What a run's summary shows (metrics.json keeps everything).
HEADLINE = ("val/", "test/", "arc/pass", "arc/official_pass", "arc/all_correct", "arc/num_", "arc/mean_segments",
            "scenarios/", "switch/", "size/", "teacher/", "distill/", "rl/")


def headline_metrics(metrics: dict[str, float]) -> dict[str, float]:
    return {key: value for key, value in metrics.items() if key.startswith(HEADLINE)}


def report(cfg: DictConfig, trainer: L.Trainer, loggers: list, metrics: dict[str, float]) -> None:
    shown = headline_metrics(metrics) or metrics
    lines = ["", "results (all of them in metrics.json):"]
    lines += metric_lines(shown)
    lines.append(f"  run dir:      {cfg.paths.output_dir}  (metrics.json, train.log)")
    lines.append(f"  checkpoints:  {cfg.paths.ckpt_dir}  ({checkpoint_sizes(Path(cfg.paths.ckpt_dir))})")
    for logger in loggers:
        if type(logger).__name__ == "WandbLogger":
            run_dir = Path(logger.experiment.dir).parent  # .../wandb/offline-run-<time>-<id>
            if logger.experiment.offline:
                lines.append(f"  wandb (offline): {run_dir}  (upload: wandb sync {run_dir})")
            else:
                lines.append(f"  wandb: {logger.experiment.url}")
    print("\n".join(lines))


def checkpoint_sizes(ckpt_dir: Path) -> str:
    """`last.ckpt 0.8 MB, best.ckpt 0.8 MB; 1.6 MB in all` (an adapter dir counts with its checkpoint)."""
    sizes = {}
    for path in sorted(ckpt_dir.glob("*.ckpt")):
        adapter = path.with_name(path.stem + ".adapter")
        extra = sum(f.stat().st_size for f in adapter.rglob("*") if f.is_file()) if adapter.is_dir() else 0
        sizes[path.name] = path.stat().st_size + extra
    shown = ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in sizes.items())
    return f"{shown}; {sum(sizes.values()) / 1e6:.1f} MB in all" if sizes else "none written"


def metric_lines(metrics: dict[str, float], width: int = 100) -> list[str]:
    """One line per group (`val/`, `test/`, `arc/`, ...), wrapped at `width`: `  val/  accuracy 0.5333  loss 1.66`."""
    groups: dict[str, list[str]] = {}
    for key, value in metrics.items():
        group, _, name = key.rpartition("/")
        groups.setdefault(group, []).append(f"{name} {value:.4g}")
    lines = []
    label_width = max([10, *(len(group) + 2 for group in groups)])
    for group, items in groups.items():
        start = f"  {group + '/' if group else '':<{label_width}}"
        line = start
        for item in items:
            if len(line) + len(item) > width and line != start:
                lines.append(line.rstrip())
                line = " " * len(start)
            line += item + "  "
        lines.append(line.rstrip())
    return lines


def report_finished(ckpt_dir: Path, finished: dict) -> dict[str, float]:
    """What the same command says when its run has already trained as far as asked: nothing is trained."""
    results = Path(str(finished.get("results", "")))
    try:
        metrics = read_metrics(results)
    except UserError:
        metrics = {}
    lines = [f"finished earlier: this run trained {finished.get('global_step')} steps; nothing to train"
             " (a larger trainer.max_steps trains further, resume=false starts afresh, train=false evaluates)",
             f"  results:      {results}" + ("" if metrics else " (no longer there)"), *metric_lines(headline_metrics(metrics)),
             f"  checkpoints:  {ckpt_dir}  ({checkpoint_sizes(ckpt_dir)})"]
    print("\n".join(lines))
    return metrics


def finish_loggers(loggers: list) -> None:
    for logger in loggers:
        if type(logger).__name__ == "WandbLogger":
            import wandb

            wandb.finish()  # so the next job of a multirun starts its own run


def main(cfg: DictConfig) -> float | None:
    """train.py's body: a UserError becomes one line on stderr and exit code 2. Returns the value of
    `optimized_metric` (what a hyperparameter search maximises or minimises), or None."""
    result = one_line_errors(lambda: run(cfg))
    if isinstance(result, int):
        sys.exit(result)
    wanted = cfg.get("optimized_metric")
    return result[wanted] if wanted else None
