"""Every command the README and docs show, one after another in one fresh copy of the project, as a reader
following them top to bottom would run them (in their short forms: tests/docs_walk/steps.py), each checked
against what its text says: its exit status, its output, no traceback, and for a run its metrics.json."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.docs_walk.markdown import Documented, documented_commands
from tests.docs_walk.steps import PLACEHOLDERS, PRELUDES, SNIPPET_FILES, STEPS, Step
from tests.zygote import Zygote

RUN_DIR = re.compile(r"run dir:\s+(\S+)")
TIMEOUT = 300  # seconds for one command


def docs_files() -> list[Path]:
    """The README, then the pages it links to in the order it lists them (a reader's order), then any other."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "*.md"], cwd=ROOT, capture_output=True,
                            text=True, check=True)
    files = [name for name in listed.stdout.split() if not name.startswith("hrm/assets/")]
    contents = (ROOT / "README.md").read_text().partition("\n## Documentation\n")[2]
    linked = re.findall(r"\]\((docs/[\w./-]+\.md)\)", contents)
    order = ["README.md", *dict.fromkeys(name for name in linked if name in files)]
    return [ROOT / name for name in order + sorted(set(files) - set(order))]


def fresh_copy(target: Path) -> Path:
    """The project as a clone would hold it (tracked and new files, nothing git ignores), sharing .venv."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)  # mtimes kept: make sees .venv as up to date
    stamp = ROOT / ".venv" / ".installed"
    if stamp.is_file():
        (target / ".venv").symlink_to(ROOT / ".venv")
        # make must not rebuild the shared .venv from the clone (when it is older than pyproject.toml): its
        # editable install would then point into the clone, which is deleted after the walk
        for name in ("pyproject.toml", "requirements.lock", "requirements-extras.lock"):
            before = stamp.stat().st_mtime - 1
            if (target / name).stat().st_mtime > before:
                os.utime(target / name, (before, before))
    return target


def tiny_gpt2(folder: Path) -> Path:
    """A local GPT-2 dir of debug=tiny's shape, standing in for the hub's weights (no network here)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=160)).save_pretrained(folder)
    return folder


def sudoku_extreme_csvs(clone: Path) -> None:
    """Sudoku-Extreme's layout (source,q,a,rating; 81 characters, '.' a blank), puzzles generated here."""
    from hrm.data.sudoku import generate_many

    folder = clone / "sudoku-extreme"
    if folder.is_dir():  # an earlier command's set-up
        return
    folder.mkdir()
    for name, count, seed in (("train.csv", 48, 0), ("test.csv", 32, 1)):
        puzzles, answers = generate_many(9, 41, count, seed)
        rows = [f"walk,{''.join(map(str, p.ravel())).replace('0', '.')},{''.join(map(str, a.ravel()))},0"
                for p, a in zip(puzzles, answers)]
        (folder / name).write_text("source,q,a,rating\n" + "\n".join(rows) + "\n")


def cifar10_release(clone: Path) -> None:
    """CIFAR-10's python release where data=cifar10 looks for it (no download here)."""
    from tests.data.test_images import write_cifar

    write_cifar(clone / "data", per_batch=16)


def official_checkpoint(clone: Path) -> None:
    """A downloaded official Sudoku-Extreme HRM checkpoint folder (random values in its layout: no hub here)
    of debug=tiny's shape: vocabulary 11, one shared puzzle id."""
    from tests.official_layout import TINY_ARCH, official_folder, official_state

    state = official_state(arch=TINY_ARCH, vocab=11, puzzles=1)
    official_folder(clone / "path" / "to", state, name="HRM-checkpoint-sudoku-extreme", arch=TINY_ARCH)


def official_arc2_checkpoint(clone: Path) -> None:
    """A downloaded official ARC-AGI-2 HRM checkpoint and its build's identifiers.json, naming two variants of
    each task debug=tiny selects (its first two training and evaluation tasks that fit a 10x10 canvas)."""
    from hrm.data.arc_tasks import load_arc_tasks, select_tasks
    from tests.official_layout import TINY_ARCH, official_folder, official_state

    training, evaluation = load_arc_tasks("arc-agi-2")
    tasks = select_tasks(training, 10, max_tasks=2) + select_tasks(evaluation, 10, max_tasks=2)
    names = ["<blank>"] + [name for task in tasks for name in (task.id, f"{task.id}_t1_0123456789")]
    build = clone / "path" / "to" / "arc-2-aug-1000"
    build.mkdir(parents=True)
    (build / "identifiers.json").write_text(json.dumps(names))
    state = official_state(arch=TINY_ARCH, vocab=12, puzzles=len(names))
    official_folder(clone / "path" / "to", state, name="HRM-checkpoint-ARC-2", arch=TINY_ARCH)


SETUPS = {"sudoku-extreme": sudoku_extreme_csvs, "cifar10": cifar10_release, "official": official_checkpoint,
          "official_arc2": official_arc2_checkpoint}


class Walk:
    def __init__(self, clone: Path, gpt2: Path):
        self.clone, self.gpt2 = clone, gpt2
        self.env = {k: v for k, v in os.environ.items() if k not in ("HRM_ROOT", "PYTEST_CURRENT_TEST")}
        self.env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{self.env['PATH']}"
        self.zygote = Zygote(clone, self.env)
        assert self.zygote.package == clone / "hrm", self.zygote.package  # the copy's code, not the checkout's
        self.logs = clone.parent / "walk-logs"
        self.logs.mkdir()
        self.report: list[str] = []
        self.failures: list[str] = []

    def fill(self, text: str) -> str:
        for placeholder, value in PLACEHOLDERS.items():
            text = text.replace(placeholder, value)
        text = text.replace("{gpt2}", str(self.gpt2))
        for pattern in re.findall(r"\{newest:([^}]+)\}", text):
            found = sorted(self.clone.glob(pattern), key=lambda p: p.stat().st_mtime)
            text = text.replace(f"{{newest:{pattern}}}", str(found[-1].relative_to(self.clone)) if found else pattern)
        return text

    def argv(self, command: Documented, step: Step) -> list[str]:
        if command.language == "python":
            code = command.text
            for bare, there in SNIPPET_FILES.items():
                code = code.replace(bare, self.fill(there))
            prelude = "".join(text for marker, text in PRELUDES.items() if marker in code)
            return ["python", "-c", prelude + code]
        words = shlex.split(self.fill(step.short or command.text))
        if step.short is None and words[:2] == ["python", "train.py"] and not any(
                word in ("--help", "--cfg") or word.startswith("debug=") for word in words):
            words.append("debug=tiny")
        return words

    def run(self, command: Documented, step: Step, number: int) -> None:
        if step.skip:
            self.report.append(f"{command.where}: not run: {step.skip}")
            return
        if step.before:
            SETUPS[step.before](self.clone)
        argv = self.argv(command, step)
        log = self.logs / f"{number:02d}.log"
        start = time.monotonic()
        if argv[0] == "python" and "trainer=ddp" not in argv:
            rc = self.zygote.run(argv[1:], self.clone, self.env, log, timeout=TIMEOUT)
        else:  # make, and DDP, which starts processes of the same command: as a user runs them
            with log.open("w") as out:
                rc = subprocess.run([sys.executable if w == "python" else w for w in argv], cwd=self.clone,
                                    env=self.env, stdout=out, stderr=subprocess.STDOUT, timeout=TIMEOUT).returncode
        output = log.read_text(errors="replace")
        shown = shlex.join(argv) if command.language == "bash" else "python snippet"
        self.report.append(f"{command.where}: {shown}: exit {rc} in {time.monotonic() - start:.1f} s")
        problems = self.check(step, rc, output)
        if problems:
            self.failures.append(f"{command.where}: {shown}: {'; '.join(problems)}\n    "
                                 + "\n    ".join(output.splitlines()[-25:]))

    def check(self, step: Step, rc: int, output: str) -> list[str]:
        problems = []
        if rc != step.rc:
            problems.append(f"exit {rc}, its text says {step.rc}")
        if "Traceback (most recent call last)" in output:
            problems.append("a traceback")
        if step.says and not re.search(step.says, output):
            problems.append(f"output lacks {step.says!r}")
        if step.rc == 2 and len(re.findall(r"(?m)^error: ", output)) != 1:
            problems.append("not one error line")
        for run_dir in RUN_DIR.findall(output):  # a run's results: its metrics.json as the block says
            metrics = self.clone / run_dir / "metrics.json"
            if not metrics.is_relative_to(self.clone):  # a benchmark's runs, in a temporary dir gone by now
                continue
            if not metrics.is_file() or not isinstance(json.loads(metrics.read_text()), dict):
                problems.append(f"{metrics} missing or not a JSON object")
        return problems


@pytest.fixture(scope="module")
def walk(tmp_path_factory):
    base = tmp_path_factory.mktemp("walk")
    clone = fresh_copy(base / "clone")
    walk = Walk(clone, tiny_gpt2(base / "gpt2"))
    yield walk
    walk.zygote.close()


def test_every_documented_command_does_what_its_text_says_in_order(walk):
    commands = documented_commands(ROOT, docs_files())
    stale = set(STEPS) - {command.text for command in commands}
    assert not stale, f"tests/docs_walk/steps.py names commands the docs no longer show: {sorted(stale)}"
    benchmarks_run = set()
    for number, command in enumerate(commands):
        if command.text.startswith("python -m hrm.bench") and command.text in benchmarks_run:
            walk.report.append(f"{command.where}: {command.text}: ran above")  # minutes each, at full size
            continue
        benchmarks_run.add(command.text)
        walk.run(command, STEPS.get(command.text, Step()), number)
    print("\n".join(walk.report))
    assert not walk.failures, "\n".join(walk.failures)
