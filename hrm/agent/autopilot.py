"""The original agent's autonomous loop, end to end: collect with the teacher, imitate, switch, improve by RL.

    python -m hrm.agent.autopilot --out experiments/autopilot [--examples 1100] [overrides ...]

1. collect: the teacher decides in the simulator until `--examples` decisions are logged (the original agent: 1,100).
2. imitate: `experiment=agent_imitation` on that log, scored on the validation scenarios.
3. switch: the original agent's rule (HRM >= 70% on the scenarios and >= 90% of the teacher): the agent now acts
   with the HRM, or keeps the teacher and the loop stops there (`--switch always` goes on regardless).
4. rl: `experiment=agent_rl` from the imitation checkpoint.

Everything lives under --out: the log, each phase's checkpoints and run dir, `autopilot.json` (the
phases done and their figures, written atomically after each) and `report.json`. Running the same command
again after a kill skips the finished phases and resumes the unfinished one: the log where it stopped,
training from its last checkpoint. Trailing `key=value` arguments are Hydra overrides for both training
phases (e.g. `debug=tiny`, `trainer.max_epochs=5`).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from hrm.agent.collect import collect
from hrm.agent.schema import load_examples
from hrm.agent.world import calculate_reward
from hrm.errors import UserError
from hrm.training import run as run_training
from hrm.utils.cli import ArgumentParser, int_at_least, one_line_errors
from hrm.utils.compose import compose_train_config
from hrm.utils.files import read_json
from hrm.utils.io import atomic_write_json

PHASES = ("collect", "imitate", "switch", "rl")
STATE = "autopilot.json"
# What the report shows of each training phase.
IMITATION_FIGURES = ("val/accuracy", "scenarios/hrm_accuracy", "scenarios/teacher_accuracy", "switch/use_hrm")
RL_FIGURES = ("rl/mean_reward", "rl/imitation_mean_reward", "rl/teacher_mean_reward", "rl/oracle_mean_reward",
              "rl/over_teacher", "rl/collapsed", "scenarios/hrm_accuracy", "scenarios/imitation_accuracy")


class Autopilot:
    def __init__(self, out: Path, examples: int, steps: int, seed: int, overrides: list[str], switch: str = "rule"):
        self.out = out.resolve()  # the training runs' paths must not depend on where the next run starts
        self.examples, self.steps, self.seed, self.overrides = examples, steps, seed, overrides
        self.switch = switch
        self.state_path = self.out / STATE
        self.settings = {"examples": examples, "steps": steps, "seed": seed, "overrides": overrides, "switch": switch}
        self.done: dict[str, dict] = {}
        if self.state_path.exists():
            saved = read_json(self.state_path, "autopilot state file")
            if not isinstance(saved, dict) or not isinstance(saved.get("phases"), dict) or \
                    not all(isinstance(v, dict) for v in saved["phases"].values()):
                raise UserError(f"{self.state_path}: not an autopilot's state file; give another --out")
            if saved.get("settings") != self.settings:
                raise UserError(f"{self.state_path}: an autopilot with {saved.get('settings')} ran here; rerun it"
                                " with the same settings to resume, or give another --out")
            self.done = saved["phases"]

    @property
    def log_path(self) -> Path:
        return self.out / "decisions.jsonl"

    def checkpoint(self, phase: str, name: str = "last.ckpt") -> Path:
        return self.out / "checkpoints" / phase / name

    def run(self, stop_after: str | None = None) -> dict[str, dict]:
        for number, phase in enumerate(PHASES, start=1):
            if phase in self.done:
                print(f"phase {number}/{len(PHASES)} {phase}: done earlier")
            else:
                print(f"phase {number}/{len(PHASES)} {phase} ...")
                self.done[phase] = getattr(self, f"_{phase}")()
                atomic_write_json(self.state_path, {"settings": self.settings, "phases": self.done})
            if phase == "switch" and not self.done[phase]["use_hrm"]:
                print("the HRM is not good enough to replace the teacher yet: the agent keeps the teacher"
                      " (collect more with a larger --examples)")
                break
            if phase == stop_after:
                print(f"stopped after {phase}, as asked: run the same command again to go on")
                return self.done
        atomic_write_json(self.out / "report.json", self.done)
        print_report(self.done, self.out)
        return self.done

    def _collect(self) -> dict:
        episodes = math.ceil(self.examples / self.steps)
        collect(self.log_path, episodes, self.steps, self.seed, policy="teacher", progress=False)
        examples = load_examples(self.log_path)
        rewards = [calculate_reward(ex["action"], ex["result"]) for ex in examples]
        return {"decisions": len(examples), "episodes": episodes,
                "teacher_mean_episode_reward": sum(rewards) / episodes}

    def _train(self, name: str, overrides: list[str]) -> dict[str, float]:
        cfg = compose_train_config([*self.overrides, *overrides], self.out, run_dir=f"runs/{name}")
        return run_training(cfg)

    def _imitate(self) -> dict:
        metrics = self._train("imitate", ["experiment=agent_imitation", f"data.path={self.log_path}",
                                          "data.collect=null", "experiment_name=imitation"])
        figures = {key: metrics[key] for key in IMITATION_FIGURES if key in metrics}
        return {**figures, "checkpoint": str(self.checkpoint("imitation"))}

    def _switch(self) -> dict:
        imitation = self.done["imitate"]
        return {"use_hrm": self.switch == "always" or bool(imitation.get("switch/use_hrm")),
                "by": "the original agent's rule" if self.switch == "rule" else "--switch always",
                "hrm_accuracy": imitation.get("scenarios/hrm_accuracy"),
                "teacher_accuracy": imitation.get("scenarios/teacher_accuracy")}

    def _rl(self) -> dict:
        metrics = self._train("rl", ["experiment=agent_rl", f"model.init_from={self.checkpoint('imitation')}",
                                     f"data.steps={self.steps}",
                                     "experiment_name=rl"])
        figures = {key: metrics[key] for key in RL_FIGURES if key in metrics}
        return {**figures, "checkpoint": str(self.checkpoint("rl", "best.ckpt"))}


def print_report(done: dict[str, dict], out: Path) -> None:
    print(f"\nautopilot report ({out / 'report.json'}):")
    for phase, figures in done.items():
        print(f"  {phase}:")
        for key, value in figures.items():
            shown = f"{value:.4f}" if isinstance(value, float) else value
            print(f"    {key:<36} {shown}")


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        p = ArgumentParser(prog="python -m hrm.agent.autopilot", description=__doc__.split("\n\n")[0])
        p.add_argument("--out", required=True, type=Path, help="where every phase writes (resumable)")
        p.add_argument("--examples", type=int_at_least(1), default=1100,
                       help="decisions to collect before training (default: 1100, the original agent's)")
        p.add_argument("--steps", type=int_at_least(1), default=50, help="decisions per episode (default: 50)")
        p.add_argument("--seed", type=int_at_least(0), default=0, help="of the collection (default: 0)")
        p.add_argument("--stop-after", choices=PHASES, help="stop after this phase (run again to go on)")
        p.add_argument("--switch", choices=("rule", "always"), default="rule",
                       help="rule: switch to the HRM (and go on to RL) only as the original agent's rule says"
                            " (default);"
                            " always: go on to RL whatever the imitation scores")
        p.add_argument("overrides", nargs="*", help="Hydra overrides for the training phases, e.g. debug=tiny")
        args = p.parse_args(argv)
        bad = [o for o in args.overrides if "=" not in o and not o.startswith("~")]
        if bad:
            raise UserError(f"{bad[0]!r}: overrides are key=value or ~key, as for train.py (see --help)")
        args.out.mkdir(parents=True, exist_ok=True)
        Autopilot(args.out, args.examples, args.steps, args.seed, args.overrides, args.switch).run(args.stop_after)
        return 0

    return one_line_errors(body)


if __name__ == "__main__":
    sys.exit(main())
