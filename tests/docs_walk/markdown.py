"""The commands the README and docs show: every ```bash block line by line, every ```python block whole."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(r"^```(\w*)\s*$")


@dataclass(frozen=True)
class Documented:
    where: str  # file:line, for messages
    language: str  # "bash" or "python"
    text: str  # a shell command as words joined by shlex (its comment dropped), or a python block


def commands_in(path: Path, root: Path) -> list[Documented]:
    found: list[Documented] = []
    language = None  # inside a block: its language ("" for output samples)
    block: list[tuple[int, str]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fence = FENCE.match(line)
        if fence and language is None:
            language, block = fence.group(1), []
        elif fence:
            found.extend(_block(language, block, f"{path.relative_to(root)}"))
            language = None
        elif language is not None:
            block.append((number, line))
    return found


def _block(language: str, lines: list[tuple[int, str]], file: str) -> list[Documented]:
    if language == "python":
        return [Documented(f"{file}:{lines[0][0]}", "python", "\n".join(line for _, line in lines))]
    if language != "bash":
        return []
    commands, pending, start = [], "", 0
    for number, line in lines:
        start = start or number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        words = shlex.split(pending + line, comments=True)
        if words:
            commands.append(Documented(f"{file}:{start}", "bash", shlex.join(words)))
        pending, start = "", 0
    return commands


def documented_commands(root: Path, files: list[Path]) -> list[Documented]:
    return [command for path in files for command in commands_in(path, root)]
