"""What every entry point shares: a problem is one line on stderr and a non-zero exit code, never a
traceback.

- A `UserError` (bad input, bad config), a config Hydra cannot compose, a setting Lightning refuses, or a
  file the system cannot read or write: `error: <what, where>` and exit code 2.
- Anything else is a bug of ours: `error: unexpected <type>: <message>` and exit code 1; `HRM_TRACEBACK=1`
  (or Hydra's `HYDRA_FULL_ERROR=1`) shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable, TypeVar

from hrm.errors import UserError

T = TypeVar("T")
TRACEBACK_ENV = ("HRM_TRACEBACK", "HYDRA_FULL_ERROR")
# Lines of an OmegaConf message that only repeat where the key was looked for.
CONFIG_ERROR_NOISE = ("full_key:", "object_type=", "reference_type=")


def wants_traceback() -> bool:
    return any(os.environ.get(name, "") not in ("", "0") for name in TRACEBACK_ENV)


def one_line_errors(body: Callable[[], T]) -> T | int:
    """Run `body`; an exception becomes `error: <message>` on stderr and its exit code as the result."""
    try:
        return body()
    except Exception as error:
        if wants_traceback():
            raise
        return report(error)


def report(error: BaseException) -> int:
    """Print `error` as one line; returns the exit code."""
    message, code = describe(error)
    print(f"error: {message}", file=sys.stderr, flush=True)
    return code


# Optional features (pyproject's extras) that Hydra reaches through a plugin: (a word their configs and
# errors name, the plugin's module, the extra, what it is for).
OPTIONAL_PLUGINS = (
    ("optuna", "hydra_plugins.hydra_optuna_sweeper", "sweep", "hyperparameter search (hparams_search=...)"),
    ("submitit", "hydra_plugins.hydra_submitit_launcher", "slurm", "SLURM submission (hydra/launcher=slurm)"),
)


def missing_extra(error: BaseException) -> str | None:
    """When `error` comes from an optional feature whose package is not installed, how to install it."""
    import importlib.util

    text = " ".join(str(e) for e in _chain(error))
    for word, module, extra, feature in OPTIONAL_PLUGINS:
        if word not in text:
            continue
        try:
            installed = importlib.util.find_spec(module) is not None and importlib.util.find_spec(word) is not None
        except ImportError:
            installed = False
        if not installed:
            return (f"{feature} needs the optional '{extra}' packages, not installed here: pip install -e"
                    f" '.[{extra}]' (make test installs them)")
    return None


def describe(error: BaseException) -> tuple[str, int]:
    """(one line saying what went wrong, the exit code)."""
    hint = missing_extra(error)
    if hint is not None:
        return hint, 2
    cause = user_error_in(error)
    if cause is not None:
        return one_line(str(cause)), cause.exit_code
    for known in _chain(error):
        if _is_config_error(known):
            return one_line(_config_message(known)), 2
        if isinstance(known, OSError) and (known.filename or known.strerror):
            where = f"{known.filename}: " if known.filename else ""
            return one_line(f"{where}{known.strerror or known}"), 2
        if isinstance(known, MemoryError):
            return "out of memory (a smaller batch or model, or fewer workers, may fit)", 1
        if isinstance(known, RecursionError):
            return "input nested too deeply to read", 2
    return one_line(f"unexpected {type(error).__name__}: {error} (HRM_TRACEBACK=1 shows where)"), 1


def one_line(text: str, limit: int = 600) -> str:
    """A multi-line message as one line: a sentence runs on, a list under a "...:" header becomes
    "header: a, b, c", other lines are joined by "; "; Hydra's search path is left out."""
    parts: list[str] = []
    listing = False
    for line in (line.strip() for line in str(text).splitlines()):
        if not line or line.startswith(CONFIG_ERROR_NOISE):
            continue
        if line.startswith("Config search path"):
            break
        if parts and parts[-1].endswith(":"):
            parts[-1] += " " + line
            listing = " " not in line
        elif parts and listing and " " not in line:
            parts[-1] += ", " + line
        elif parts and parts[-1].endswith("."):
            parts[-1] += " " + line
            listing = False
        else:
            parts.append(line)
            listing = False
    joined = "; ".join(parts) or "failed"
    return joined if len(joined) <= limit else joined[: limit - 3] + "..."


def _chain(error: BaseException | None):
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def user_error_in(error: BaseException | None) -> UserError | None:
    """The UserError itself, or one that another error wraps (e.g. Hydra's InstantiationException when a
    constructor refused its arguments)."""
    return next((e for e in _chain(error) if isinstance(e, UserError)), None)


def _is_config_error(error: BaseException) -> bool:
    from hydra.errors import HydraException, InstantiationException
    from lightning.fabric.utilities.exceptions import MisconfigurationException
    from omegaconf.errors import OmegaConfBaseException

    if isinstance(error, InstantiationException):
        return False  # a constructor failed: what made it fail is further down the chain
    return isinstance(error, (HydraException, OmegaConfBaseException, MisconfigurationException))


def _config_message(error: BaseException) -> str:
    message = str(error)
    cause = error.__cause__
    if cause is not None and str(cause) and str(cause) not in message:
        message = f"{message}\n{cause}"
    return message


def hydra_errors_in_one_line() -> None:
    """Hydra reports a config it cannot compose over several lines, a failing run as a traceback, a bad
    flag with its usage, and exits 1 for the first two; make all three read like every other error of the
    framework (`report`). Hydra has no setting for this: its reporter (`hydra._internal.utils.run_and_report`,
    which wraps both composing and running) and the parser `hydra.main` asks for are replaced.
    HYDRA_FULL_ERROR=1 still shows Hydra's own report."""
    import importlib

    import hydra._internal.utils as hydra_internals

    hydra_main = importlib.import_module("hydra.main")  # the module: `hydra.main` the attribute is the decorator

    hydra_report = hydra_internals.run_and_report
    if getattr(hydra_report, "one_line", False):
        return
    hydra_parser = hydra_main.get_args_parser

    def get_args_parser():  # an unknown flag (`train.py --bogus`) is one line too, not the usage
        parser = hydra_parser()
        parser.error = lambda message: sys.exit(report(UserError(f"{message} (see --help)")))
        return parser

    hydra_main.get_args_parser = get_args_parser

    def run_and_report(func):
        if wants_traceback():
            return hydra_report(func)
        try:
            return func()
        except Exception as error:
            sys.exit(report(error))

    run_and_report.one_line = True
    hydra_internals.run_and_report = run_and_report


def check_replaceable(out: Path, force: bool, ours: Callable[[Path], bool], what: str) -> None:
    """An output file may be new, or (with --force) one that `ours` recognises as `what` (this tool's own
    kind of file); any other file is the user's and stays as it is."""
    if not out.exists() and not out.is_symlink():
        return
    if not force:
        raise UserError(f"{out}: exists; pass --force to replace it (or write to another file)")
    if out.is_symlink() or not out.is_file() or not ours(out):
        raise UserError(f"{out}: is not {what}; --force replaces only those, so it stays as it is (write to"
                        " another file)")


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message):  # one line, like every hrm error, instead of usage + message
        raise UserError(f"{message} (see --help)")


def int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not text.isdigit() or int(text) < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return int(text)

    return parse
