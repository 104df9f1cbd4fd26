"""What every entry point shares: a UserError (bad input, bad config) is one line on stderr and a
non-zero exit code, never a traceback; argument errors read the same way."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, TypeVar

from hrm.errors import UserError

T = TypeVar("T")


def one_line_errors(body: Callable[[], T]) -> T | int:
    """Run `body`; a UserError becomes `error: <message>` on stderr and its exit code as the result."""
    try:
        return body()
    except Exception as error:
        cause = user_error_in(error)
        if cause is None:
            raise
        print(f"error: {cause}", file=sys.stderr)
        return cause.exit_code


def user_error_in(error: BaseException | None) -> UserError | None:
    """The UserError itself, or one that another error wraps (e.g. Hydra's InstantiationException when a
    constructor refused its arguments)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, UserError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message):  # one line, like every hrm error, instead of usage + message
        raise UserError(f"{message} (see --help)")


def int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not text.isdigit() or int(text) < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return int(text)

    return parse
