"""PolicyRLModule: the imitation policy fine-tuned by REINFORCE in the simulator (the original agent's Phase 3).

The original agent's update was `policy_loss = -log_prob * reward`. Here each training step plays a batch of
seeded episodes with the current policy (sampling its actions), and the log-probability of each action
is weighted by its advantage: the discounted reward-to-go from that decision minus a baseline, normalised.
The baseline is the batch's mean return at the same step of the episode, or (`baseline: value`) a small
value head learning each state's expected return from the state the action head reads (detached, so it
does not pull on the policy). An entropy bonus keeps the policy from
collapsing onto one action too early. Playing happens without gradients; the decisions are then scored
again in one batched forward pass with gradients, the segment each decision halted at supplying its
logits, so ACT halting is the one used to act.

The module starts from an imitation checkpoint (`init_from`, a file or a glob whose newest match wins)
and takes its network and tokenizer from there. Validation plays fixed held-out episodes greedily
(`val/mean_reward`); the test stage plays other held-out episodes with the RL policy, the teacher, the
oracle and the planner's optimum (`rl/*`), compares with the imitation policy measured before the first
update, and scores the validation scenarios as the imitation experiment does.

Guard rails: a non-finite reward, loss or gradient stops the run before the weights change, so every
checkpoint on disk holds finite weights; a policy that takes one action in nearly every decision is
reported (`rl/collapsed`).
"""

from __future__ import annotations

import glob
import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric

from hrm.agent.rollout import Choice, Episodes, evaluate, fixed_policy, play
from hrm.agent.schema import ACTIONS
from hrm.agent.text import state_to_text
from hrm.callbacks import diverged
from hrm.errors import CheckpointError, TrainingDiverged
from hrm.modules.policy import PolicyModule
from hrm.registry import check_module_arguments
from hrm.utils.checkpoints import check_compatible, read_checkpoint
from hrm.utils.mps import widest_float
from hrm.utils.validation import at_least, between, build_config, one_of, positive

log = logging.getLogger(__name__)

# What an RL checkpoint takes over from the imitation checkpoint it starts from.
INHERITED = ("net", "tokenizer", "max_tokens", "vocab_limit", "act")
BASELINES = ("value", "batch", "none")
ALGORITHMS = ("reinforce", "ppo")
VALUE_HEAD = "value_head."
ROLLOUT_KEYS = ("mean_reward", *(f"frac_{action}" for action in ACTIONS))
FIXED = ("teacher", "oracle", "optimal")  # the RL module's own tensors: not in an imitation checkpoint, not needed to decide


@dataclass
class RLConfig:
    # reinforce: one update per rollout. ppo: `ppo_epochs` updates per rollout, each on the probability ratio
    # to the policy that played, clipped to 1 +- `ppo_clip` (PPO's clipped surrogate): more learning per
    # rollout, which is the slow part, without stepping far from the policy that gathered it.
    algorithm: str = "reinforce"
    ppo_epochs: int = 4
    ppo_clip: float = 0.2
    gamma: float = 0.9  # discount of the reward-to-go (0: each decision's own reward, as in the original agent)
    entropy_coef: float = 0.01  # entropy bonus
    baseline: str = "batch"  # batch: the batch's mean return at each step; value: a learned value of the state
    value_coef: float = 0.5  # weight of the value head's squared error
    normalize: bool = True  # scale advantages to unit variance
    temperature: float = 1.0  # of the sampling during play
    collapse_share: float = 0.95  # a greedy policy taking one action this often is reported as collapsed

    def __post_init__(self):
        between(self, 0, 1, "gamma", "collapse_share")
        at_least(self, 0, "entropy_coef", "value_coef")
        positive(self, "temperature")
        one_of(self, "baseline", BASELINES)
        one_of(self, "algorithm", ALGORITHMS)
        at_least(self, 1, "ppo_epochs")
        between(self, 0, 1, "ppo_clip")


def clipped_surrogate_loss(log_probs: torch.Tensor, played: torch.Tensor, advantages: torch.Tensor, clip: float,
                           ) -> torch.Tensor:
    """PPO's policy loss: the probability ratio to the policy that played times the advantage, the ratio
    clipped to 1 +- clip where that lowers the objective, so no decision pulls the policy further once it moved
    that far its way."""
    ratio = (log_probs - played).exp()
    return -torch.minimum(ratio * advantages, ratio.clamp(1 - clip, 1 + clip) * advantages).mean()


def newest_match(pattern: str) -> str:
    """`pattern` itself when it is a file, else the most recently written file matching it."""
    if os.path.isfile(pattern):
        return pattern
    matches = sorted(glob.glob(pattern), key=os.path.getmtime)
    if not matches:
        raise CheckpointError(f"{pattern}: no imitation checkpoint; train one first (python train.py"
                              " experiment=agent_imitation) or give model.init_from=<file>")
    return matches[-1]


def policy_hyperparameters(checkpoint: dict, path: str, keys: tuple[str, ...]) -> dict:
    """`keys` of a policy checkpoint's hyper-parameters, checked as data (the network's class is one of this
    framework's, every setting has its type and range, the network is no larger than the checkpoint)."""
    saved = checkpoint.get("hyper_parameters")
    if not isinstance(saved, dict) or not {"max_tokens", "tokenizer", "net"} <= set(saved):
        raise CheckpointError(f"{path}: not a policy checkpoint (train one with experiment=agent_imitation)")
    wanted = {key: saved[key] for key in keys if key in saved}
    return check_module_arguments(PolicyModule, wanted, f"{path}: hyper_parameters", CheckpointError,
                                  saved_state=checkpoint["state_dict"])


class PolicyRLModule(PolicyModule):
    SETTINGS = {**PolicyModule.SETTINGS, "rl": RLConfig}

    def __init__(self, init_from: str | None = None, rl: dict | None = None, **policy: Any):
        """init_from: the imitation checkpoint to start from (train.py fills in the network from it).
        rl: fields of RLConfig. policy: PolicyModule's arguments."""
        super().__init__(**policy)
        self.rl = build_config(RLConfig, rl, "model.rl")
        # The learned baseline: the expected return from a state, read from the (detached) state the heads read.
        hidden = self.net.backbone.config.hidden_size
        self.value_head = torch.nn.Sequential(torch.nn.Linear(hidden, hidden), torch.nn.GELU(),
                                              torch.nn.Linear(hidden, 1)) if self.rl.baseline == "value" else None
        self.save_hyperparameters({**self.hparams, "init_from": init_from, "rl": dict(rl or {})})
        self.init_from = init_from
        self.automatic_optimization = self.rl.algorithm == "reinforce"  # PPO steps several times a rollout
        self.imitation: dict[str, float] = {}  # the starting policy's figures, saved in the checkpoints
        # Mean episode reward and action shares of the greedy policy (val, test) and, on the test episodes, of
        # the policies that need no training: the teacher, the oracle (best next decision) and the planner's
        # optimum (best rest of the episode: the ceiling).
        self.rollout_metrics = torch.nn.ModuleDict({
            name: torch.nn.ModuleDict({key: MeanMetric() for key in ROLLOUT_KEYS}) for name in ("val", "test", *FIXED)
        })

    def on_fit_start(self) -> None:
        if self.trainer.ckpt_path is not None:
            return  # resumed: weights and the imitation figures come from the checkpoint
        checkpoint = read_checkpoint(self.init_from)
        check_compatible(self.init_from, checkpoint, self.policy_state())
        self.load_state_dict(checkpoint["state_dict"], strict=False)  # all but the new value head
        data = self.trainer.datamodule
        # Under the trainer's precision, as the test stage will play the RL policy (hooks run outside it).
        with self.trainer.precision_plugin.forward_context():
            figures = evaluate(data.test_seeds, data.steps, self.choose())
            accuracy = self.scenario_accuracy(data.scenario_rows())
        self.imitation = {**{f"rl/imitation_{key}": value for key, value in figures.items()},
                          "scenarios/imitation_accuracy": accuracy}
        log.info("imitation policy: %s", self.imitation)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["rl_imitation"] = dict(self.imitation)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.imitation = dict(checkpoint.get("rl_imitation") or {})

    # --- acting ------------------------------------------------------------------------------------
    def choose(self, generator: torch.Generator | None = None):
        """A Chooser for `play`: greedy, or sampling with `generator`. Each choice also gives the ids read
        ([worlds, tokens]) and the segments used ([worlds]), so that training need not encode them again."""

        def decide(states: list[dict]) -> Choice:
            ids = self.encode([state_to_text(s) for s in states])
            logits, segments = self.decide_ids(ids)
            self._finite("policy's output", logits)
            if generator is None:
                picks = logits.argmax(-1)
            else:
                probabilities = (logits.float() / self.rl.temperature).softmax(-1)
                picks = torch.multinomial(probabilities.cpu(), 1, generator=generator).squeeze(-1)
            return Choice([ACTIONS[int(i)] for i in picks], {"ids": ids, "segments": segments})

        return decide

    def scenario_accuracy(self, rows: list[dict]) -> float:
        logits, _ = self.decide_ids(self.encode([row["text"] for row in rows]))
        labels = torch.tensor([row["label"] for row in rows], device=logits.device)
        return float((logits.argmax(-1) == labels).float().mean())

    # --- learning ----------------------------------------------------------------------------------
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        seeds, steps = batch["seed"].tolist(), int(batch["steps"])
        # The sampling is seeded by the episodes' seeds: a resumed run plays exactly what it would have.
        generator = torch.Generator().manual_seed(int(np.random.SeedSequence(seeds).generate_state(1)[0]))
        with torch.no_grad():
            episodes = play(seeds, steps, self.choose(generator))
        returns = self._finite("reward", episodes.returns(self.rl.gamma)).to(self.device, widest_float(self.device))

        # Every decision flattened [episodes, steps] -> [episodes * steps], as the returns.
        ids, segments = episodes.tensors["ids"].flatten(0, 1), episodes.tensors["segments"].flatten()
        taken = episodes.action_ids().flatten().to(self.device)
        returns = returns.flatten()
        if self.value_head is not None:  # it predicts returns standardised over the batch: their scale never matters
            returns = (returns - returns.mean()) / (returns.std() + 1e-6)
        if self.automatic_optimization:  # REINFORCE: one update, its advantages from the same forward pass
            loss, parts = self.rl_loss(ids, segments, taken, returns, len(seeds))
        else:
            with torch.no_grad():  # the policy that played, fixed for the rollout's updates
                logits, states = self.logits_at(ids, segments)
                played = self.action_log_probs(logits, taken)
                advantages = self.rollout_advantages(returns, self.values(states), len(seeds))
            optimizer, scheduler = self.optimizers(), self.lr_schedulers()
            for _ in range(self.rl.ppo_epochs):
                loss, parts = self.rl_loss(ids, segments, taken, returns, len(seeds), played, advantages)
                optimizer.zero_grad()
                self.manual_backward(loss)
                optimizer.step()
            scheduler.step()

        self.log_dict({"train/loss": loss.detach(), **parts, "train/mean_reward": episodes.mean_reward()},
                      on_step=True, prog_bar=True, batch_size=len(seeds))
        return loss

    def action_log_probs(self, logits: torch.Tensor, taken: torch.Tensor) -> torch.Tensor:
        """[N] log-probability of each action taken, under the sampling the play used."""
        return (logits / self.rl.temperature).log_softmax(-1).gather(1, taken[:, None]).squeeze(1)

    def values(self, states: torch.Tensor) -> torch.Tensor | None:
        """[N] the value head's expected (standardised) return of each state; None without a value head."""
        return None if self.value_head is None else self.value_head(states.float()).squeeze(-1).float()

    def rollout_advantages(self, returns: torch.Tensor, values: torch.Tensor | None, episodes: int) -> torch.Tensor:
        """The advantages of a rollout's decisions: returns less the value head's values where it has one."""
        return self.advantages(returns if values is None else returns - values.detach(), episodes)

    def rl_loss(self, ids: torch.Tensor, segments: torch.Tensor, taken: torch.Tensor, returns: torch.Tensor,
                episodes: int, played: torch.Tensor | None = None, advantages: torch.Tensor | None = None,
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss of one update and its parts (detached). With `played` (the log-probabilities of the policy
        that played) PPO's clipped surrogate on `advantages`, else REINFORCE's, advantages computed here."""
        logits, states = self.logits_at(ids, segments)
        log_probs = (logits / self.rl.temperature).log_softmax(-1)  # the policy being updated
        values = self.values(states)
        value_loss = torch.zeros((), device=self.device) if values is None else F.mse_loss(values, returns)
        if advantages is None:
            advantages = self.rollout_advantages(returns, values, episodes)
        chosen = log_probs.gather(1, taken[:, None]).squeeze(1)
        if played is None:
            policy_loss = -(chosen * advantages).mean()
        else:
            policy_loss = clipped_surrogate_loss(chosen, played, advantages, self.rl.ppo_clip)
        entropy = -(log_probs.exp() * log_probs).sum(-1).mean()
        loss = self._finite("loss", policy_loss - self.rl.entropy_coef * entropy + self.rl.value_coef * value_loss)
        return loss, {"train/entropy": entropy.detach(), "train/value_loss": value_loss.detach()}

    def logits_at(self, ids: torch.Tensor, segments: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """([N, A] action logits with gradients, [N, hidden] detached states) of each row at the segment it
        halted at while playing. Rows are thought through only as many segments as they used (most halt
        after the first)."""
        logits = torch.empty(ids.shape[0], len(ACTIONS), device=ids.device)
        states = torch.empty(ids.shape[0], self.net.backbone.config.hidden_size, device=ids.device)
        for count in segments.unique().tolist():
            rows = (segments == count).nonzero().squeeze(1)
            for step, (row_logits, _, row_states) in enumerate(self.segments(ids[rows]), start=1):
                if step == count:
                    logits = logits.index_put((rows,), row_logits.float())
                    states = states.index_put((rows,), row_states.float())
                    break
        return logits, states

    def advantages(self, returns: torch.Tensor, episodes: int) -> torch.Tensor:
        """Flat [episodes * steps] returns (episode-major; less the value head's values already) -> advantages:
        minus the batch baseline, normalised."""
        if self.rl.baseline == "batch":
            by_step = returns.view(episodes, -1)
            advantages = (by_step - by_step.mean(0, keepdim=True)).flatten()
        else:  # none, or value: subtracted by the caller
            advantages = returns
        if self.rl.normalize and advantages.numel() > 1:
            advantages = advantages / (advantages.std() + 1e-6)
        return advantages

    def policy_state(self) -> dict[str, torch.Tensor]:
        """This module's tensors without the value head: what an imitation checkpoint holds."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith(VALUE_HEAD)}

    def _finite(self, what: str, value: torch.Tensor) -> torch.Tensor:
        if not torch.isfinite(value).all():
            raise self._diverged(f"the {what} is {value.flatten()[~torch.isfinite(value.flatten())][0].item()}")
        return value

    def _diverged(self, what: str) -> TrainingDiverged:
        return diverged(self._trainer, what)

    # --- evaluation --------------------------------------------------------------------------------
    def _record(self, name: str, episodes: Episodes) -> None:
        metrics = self.rollout_metrics[name]
        for total in episodes.total_rewards():
            metrics["mean_reward"].update(total)
        for action, share in episodes.action_fractions().items():
            metrics[f"frac_{action}"].update(share, weight=len(episodes.seeds))

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._record("val", play(batch["seed"].tolist(), int(batch["steps"]), self.choose()))

    def test_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> None:
        if "seed" not in batch:  # the validation scenarios
            super().test_step(batch, batch_idx)
            return
        seeds, steps = batch["seed"].tolist(), int(batch["steps"])
        self._record("test", play(seeds, steps, self.choose()))
        for name in FIXED:
            self._record(name, play(seeds, steps, fixed_policy(name, seeds, steps)))

    def _figures(self, name: str, prefix: str) -> dict[str, float]:
        """{prefix + key: value} of a policy's rollouts so far (then reset)."""
        values = {f"{prefix}{key}": float(metric.compute()) for key, metric in self.rollout_metrics[name].items()}
        for metric in self.rollout_metrics[name].values():
            metric.reset()
        return values

    def _collapsed(self, values: dict[str, float], prefix: str) -> float:
        """1.0 (and a warning) when one action takes `collapse_share` of the decisions or more."""
        shares = {action: values[f"{prefix}frac_{action}"] for action in ACTIONS}
        favourite = max(shares, key=shares.get)
        collapsed = shares[favourite] >= self.rl.collapse_share
        if collapsed:
            log.warning("the policy has collapsed: it takes %s in %.0f%% of its decisions", favourite,
                        100 * shares[favourite])
        return float(collapsed)

    def on_validation_epoch_end(self) -> None:
        values = self._figures("val", "val/")
        values["val/collapsed"] = self._collapsed(values, "val/")
        self.log("val/mean_reward", values.pop("val/mean_reward"), prog_bar=True)
        self.log_dict(values)

    def on_test_epoch_end(self) -> None:
        super().on_test_epoch_end()  # the scenarios, as for imitation
        values = self._figures("test", "rl/")
        values["rl/collapsed"] = self._collapsed(values, "rl/")
        for name in FIXED:
            values.update(self._figures(name, f"rl/{name}_"))
        values.update(self.imitation)
        for name in ("teacher", "oracle", "optimal"):
            values[f"rl/over_{name}"] = values["rl/mean_reward"] / values[f"rl/{name}_mean_reward"]
        self.log_dict(values)
