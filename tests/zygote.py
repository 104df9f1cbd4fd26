"""Runs `python ...` commands as fresh processes without paying for the imports each time.

A zygote process imports the heavy libraries once (Lightning alone takes ~4 s), then forks a child per
command: the child is a new process with its own argv, working dir, environment, output files and exit
status, as `python train.py ...` would be, minus the import time. Only imports happen before the fork (no
tensor work, so no thread pool is inherited). A command whose whole output matters (warnings printed while
importing) runs as a plain subprocess instead (`run_train(..., fresh=True)`).

Protocol: one JSON request per stdin line, `{"argv", "cwd", "env", "stdout", "stderr", "timeout"}`, answered
by one JSON line `{"rc": exit status}` (negative: killed by that signal).
"""

from __future__ import annotations

import atexit
import json
import os
import runpy
import signal
import subprocess
import sys
import traceback
from pathlib import Path

HEAVY = ("torch", "lightning", "hydra", "omegaconf", "transformers", "peft", "torchmetrics", "hrm.training")


class Zygote:
    """The client: starts the zygote in `cwd` (whose `hrm` package it imports) and runs commands through it."""

    def __init__(self, cwd: Path, env: dict[str, str] | None = None):
        self.process = subprocess.Popen([sys.executable, __file__], cwd=cwd, env=env, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        ready = json.loads(self.process.stdout.readline())
        self.package = Path(ready["hrm"])

    def run(self, argv: list[str], cwd: Path, env: dict[str, str], stdout: Path, stderr: Path | None = None,
            timeout: int = 300) -> int:
        """`python *argv`'s exit status; its output goes to `stdout` (and `stderr`, or the same file)."""
        request = {"argv": argv, "cwd": str(cwd), "env": env, "stdout": str(stdout),
                   "stderr": str(stderr or stdout), "timeout": timeout}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())["rc"]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def _run(argv: list[str]) -> int:
    """What `python *argv` does, in this process; its exit status."""
    try:
        if argv[0] == "-m":
            sys.argv = [argv[1], *argv[2:]]
            runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        elif argv[0] == "-c":
            sys.argv = ["-c", *argv[2:]]
            exec(compile(argv[1], "<string>", "exec"), {"__name__": "__main__"})
        else:
            sys.argv = list(argv)
            sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))
            runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as stop:
        if stop.code is None or isinstance(stop.code, int):
            return stop.code or 0
        print(stop.code, file=sys.stderr)
        return 1
    except BaseException:  # noqa: BLE001 - as the interpreter does: the traceback, then status 1
        traceback.print_exc()
        return 1
    return 0


def _child(request: dict) -> None:
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644), fd)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    sys.stdout.reconfigure(write_through=True)  # as PYTHONUNBUFFERED: a killed run's lines are kept
    signal.alarm(request["timeout"])  # past it the child dies of SIGALRM, as a timed-out subprocess would
    code = _run(request["argv"])
    atexit._run_exitfuncs()  # what the interpreter runs at exit (logging, wandb), which os._exit skips
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main() -> None:
    sys.path.insert(0, os.getcwd())  # the package of the dir it runs in, as `python train.py` there finds it
    for name in HEAVY:
        __import__(name)
    replies = sys.stdout
    print(json.dumps({"hrm": os.path.dirname(sys.modules["hrm"].__file__)}), file=replies, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"rc": os.waitstatus_to_exitcode(status)}), file=replies, flush=True)


if __name__ == "__main__":
    main()
