"""PolicyRLModule: the imitation policy fine-tuned by REINFORCE in the simulator (the original agent's Phase 3).

The original agent's update was `policy_loss = -log_prob * reward`. Here each training step plays a batch of
seeded episodes with the current policy (sampling its actions), and the log-probability of each action
is weighted by its advantage: the discounted reward-to-go from that decision minus a baseline, normalised.
The baseline is the batch's mean return at the same step of the episode, or (`baseline: value`) a small
value head learning each state's expected return from the state the action head reads (detached, so it
does not pull on the policy), with GAE's lambda. An entropy bonus keeps the policy from collapsing onto one
action too early. PPO (`algorithm: ppo`) makes several clipped updates from each rollout. Playing happens
without gradients; one pass without gradients through every segment then gives what the policy that played
made of each decision (its log-probabilities, values and halting targets), and each update scores the
decisions again with gradients, the segment each decision halted at supplying its logits, so ACT halting is
the one used to act. The halting head keeps learning meanwhile: to stop at the first segment whose action
the last segment would also take.

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
from hrm.modules.rl_objectives import Rollout, Scored, clipped_surrogate_loss, generalized_advantages
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
LEARNED = ("val", "test")  # the greedy policy being learned, on the validation and the test episodes
FIXED = ("teacher", "oracle", "optimal")  # the RL module's own tensors: not in an imitation checkpoint, not needed to decide


@dataclass
class RLConfig:
    # reinforce: one update per rollout. ppo: `ppo_epochs` updates per rollout, each on the probability ratio
    # to the policy that played, clipped to 1 +- `ppo_clip` (PPO's clipped surrogate): more learning per
    # rollout, which is the slow part, without stepping far from the policy that gathered it.
    algorithm: str = "reinforce"
    ppo_epochs: int = 4
    ppo_minibatches: int = 1  # each PPO epoch steps once per shuffled part of the rollout
    ppo_clip: float = 0.2
    gamma: float = 0.9  # discount of the reward-to-go (0: each decision's own reward, as in the original agent)
    entropy_coef: float = 0.01  # entropy bonus
    baseline: str = "batch"  # batch: the batch's mean return at each step; value: a learned value of the state
    value_coef: float = 0.5  # weight of the value head's squared error
    # With the value baseline: GAE's lambda. 1: the advantage is the return less the state's value; below 1 it
    # also trusts the value of the states that follow (each decision's reward plus the next state's value, less
    # this one's), which lowers the variance of long episodes' returns at the cost of the value head's bias.
    gae_lambda: float = 1.0
    # Weight of the halting head's loss: it learns to stop at the first segment whose action the last segment
    # would also take (0: untrained, and RL's changes to the shared layers move its decisions unchecked).
    halt_coef: float = 0.5
    normalize: bool = True  # scale advantages to unit variance
    temperature: float = 1.0  # of the sampling during play
    collapse_share: float = 0.95  # a greedy policy taking one action this often is reported as collapsed

    def __post_init__(self):
        between(self, 0, 1, "gamma", "collapse_share", "gae_lambda")
        at_least(self, 0, "entropy_coef", "value_coef", "halt_coef")
        positive(self, "temperature")
        one_of(self, "baseline", BASELINES)
        one_of(self, "algorithm", ALGORITHMS)
        at_least(self, 1, "ppo_epochs", "ppo_minibatches")
        between(self, 0, 1, "ppo_clip")


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
        # The learned ones also report the mean segments a decision used.
        keys = {name: ROLLOUT_KEYS + (("segments",) if name in LEARNED else ()) for name in (*LEARNED, *FIXED)}
        self.rollout_metrics = torch.nn.ModuleDict({
            name: torch.nn.ModuleDict({key: MeanMetric() for key in keys[name]}) for name in keys
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
            rollout = self.rollout(episodes)
        if self.automatic_optimization:  # REINFORCE: one update
            loss, parts = self.rl_loss(rollout)
        else:  # PPO: `ppo_epochs` passes over the rollout, each in `ppo_minibatches` shuffled parts, a step each
            optimizer, scheduler = self.optimizers(), self.lr_schedulers()
            for _ in range(self.rl.ppo_epochs):
                order = torch.randperm(len(rollout.taken), generator=generator).to(self.device)
                for rows in order.tensor_split(self.rl.ppo_minibatches):
                    loss, parts = self.rl_loss(rollout.rows(rows))
                    optimizer.zero_grad()
                    self.manual_backward(loss)
                    optimizer.step()
            scheduler.step()

        self.log_dict({"train/loss": loss.detach(), **parts, "train/mean_reward": episodes.mean_reward()},
                      on_step=True, prog_bar=True, batch_size=len(seeds))
        return loss

    def rollout(self, episodes: Episodes) -> Rollout:
        """The played episodes as the loss reads them, with what the policy that played made of them (one pass
        through every segment): each action's log-probability, the advantages and the halting targets. With a
        value head the returns and rewards are divided by the batch's standard deviation of the returns, and the
        returns also centred: the head learns values on that scale, whatever the rewards' own."""
        floating = dict(device=self.device, dtype=widest_float(self.device))
        returns = self._finite("reward", episodes.returns(self.rl.gamma)).to(**floating).flatten()
        rewards = torch.tensor(episodes.rewards).to(**floating).flatten()
        offset = 0.0
        if self.value_head is not None:
            scale = returns.std() + 1e-6
            offset = float(returns.mean() / scale)
            returns, rewards = returns / scale - offset, rewards / scale
        ids, segments = episodes.tensors["ids"].flatten(0, 1), episodes.tensors["segments"].flatten()
        taken = episodes.action_ids().flatten().to(self.device)
        every = [(logits.float(), states.float()) for logits, _, states in self.segments(ids)]
        row = torch.arange(len(taken), device=self.device)
        logits = torch.stack([logits for logits, _ in every], dim=1)  # [N, segments, A]
        states = torch.stack([states for _, states in every], dim=1)[row, segments - 1]
        actions = logits.argmax(-1)
        # A segment that already takes the action the last one takes: thinking on would not change the decision.
        halting = (actions == actions[:, -1:]).float()
        generalized = None
        if self.value_head is not None:
            by_episode = len(episodes.seeds), -1
            values = (self.values(states) + offset).view(by_episode)
            generalized = generalized_advantages(rewards.view(by_episode), values, self.rl.gamma,
                                                 self.rl.gae_lambda).flatten()
        advantages = self.advantages(returns, generalized, len(episodes.seeds))
        return Rollout(ids=ids, segments=segments, taken=taken, returns=returns, advantages=advantages,
                       played=self.action_log_probs(logits[row, segments - 1], taken), halting=halting)

    def action_log_probs(self, logits: torch.Tensor, taken: torch.Tensor) -> torch.Tensor:
        """[N] log-probability of each action taken, under the sampling the play used."""
        return (logits / self.rl.temperature).log_softmax(-1).gather(1, taken[:, None]).squeeze(1)

    def values(self, states: torch.Tensor) -> torch.Tensor | None:
        """[N] the value head's expected (standardised) return of each state; None without a value head."""
        return None if self.value_head is None else self.value_head(states.float()).squeeze(-1).float()

    def rl_loss(self, rollout: Rollout) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss of one update and its parts (detached): REINFORCE's, or PPO's clipped surrogate on the
        probability ratio to the policy that played; the value head's error; the halting head's."""
        scored = self.logits_at(rollout.ids, rollout.segments)
        log_probs = (scored.logits / self.rl.temperature).log_softmax(-1)  # the policy being updated
        values = self.values(scored.states)
        value_loss = torch.zeros((), device=self.device) if values is None else F.mse_loss(values, rollout.returns)
        chosen = log_probs.gather(1, rollout.taken[:, None]).squeeze(1)
        if self.rl.algorithm == "reinforce":
            policy_loss = -(chosen * rollout.advantages).mean()
        else:
            policy_loss = clipped_surrogate_loss(chosen, rollout.played, rollout.advantages, self.rl.ppo_clip)
        entropy = -(log_probs.exp() * log_probs).sum(-1).mean()
        # As imitation trained the halting head, on the segments each row thought through.
        halt_loss = F.binary_cross_entropy_with_logits(scored.halts[scored.thought], rollout.halting[scored.thought])
        loss = self._finite("loss", policy_loss - self.rl.entropy_coef * entropy + self.rl.value_coef * value_loss
                            + self.rl.halt_coef * halt_loss)
        return loss, {"train/entropy": entropy.detach(), "train/value_loss": value_loss.detach(),
                      "train/halt_loss": halt_loss.detach()}

    def logits_at(self, ids: torch.Tensor, segments: torch.Tensor) -> Scored:
        """Each row at the segment it halted at while playing, and the halt logits of the segments before and
        at it. Rows are thought through only as many segments as they used (most halt after the first)."""
        rows_count, most = ids.shape[0], self.act_config.halt_max_steps
        logits = torch.empty(rows_count, len(ACTIONS), device=ids.device)
        states = torch.empty(rows_count, self.net.backbone.config.hidden_size, device=ids.device)
        halts = torch.zeros(rows_count, most, device=ids.device)
        for count in segments.unique().tolist():
            rows = (segments == count).nonzero().squeeze(1)
            for step, (row_logits, row_halts, row_states) in enumerate(self.segments(ids[rows]), start=1):
                halts = halts.index_put((rows, torch.full_like(rows, step - 1)), row_halts.float())
                if step == count:
                    logits = logits.index_put((rows,), row_logits.float())
                    states = states.index_put((rows,), row_states.float())
                    break
        thought = torch.arange(1, most + 1, device=ids.device)[None, :] <= segments[:, None]
        return Scored(logits, states, halts, thought)

    def advantages(self, returns: torch.Tensor, generalized: torch.Tensor | None, episodes: int) -> torch.Tensor:
        """[episodes * steps] advantage of each decision: the return less the batch's mean return at the same
        step (batch), the value head's GAE (value: `generalized`), or the return itself (none); normalised."""
        if self.rl.baseline == "batch":
            by_step = returns.view(episodes, -1)
            advantages = (by_step - by_step.mean(0, keepdim=True)).flatten()
        else:
            advantages = returns if generalized is None else generalized
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
        if "segments" in metrics:
            metrics["segments"].update(episodes.tensors["segments"].float())

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
