"""Reading a user's text files (ARC tasks, decision logs, CSVs, run outputs) whatever they turn out to be.

A path may be a dangling or looping symbolic link, a directory named like a file, a FIFO that would block
forever, a file of gigabytes, or text in UTF-16 or with a byte-order mark. Each is one `DataFormatError`
line naming the file, never a traceback or a hang; memory stays bounded by `MAX_TEXT_BYTES`.
"""

from __future__ import annotations

import codecs
import errno
import json
import os
import stat
from pathlib import Path
from typing import Any

from hrm.errors import DataFormatError

# The largest text file read into memory (the biggest real input, a collected decision log of 100k
# decisions, is about 150 MB).
MAX_TEXT_BYTES = 512 * 2**20
# Byte-order marks, longest first (UTF-32's starts like UTF-16's).
BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def check_regular_file(path: str | os.PathLike, what: str = "file") -> os.stat_result:
    """The file's stat, or one line saying why `path` is not a readable regular file."""
    path = Path(path)
    try:
        info = path.stat()  # follows links: a loop or a dangling link fails here
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise DataFormatError(f"{path}: a symbolic link that loops back on itself ({what} expected)") from None
        if error.errno == errno.ENOENT and path.is_symlink():
            raise DataFormatError(f"{path}: a symbolic link to a missing file ({os.readlink(path)})") from None
        if error.errno == errno.ENOENT:
            raise DataFormatError(f"{path}: no such {what}") from None
        raise DataFormatError(f"{path}: cannot read it ({error.strerror or error})") from None
    if stat.S_ISDIR(info.st_mode):
        raise DataFormatError(f"{path}: a directory, not a file ({what} expected)")
    if not stat.S_ISREG(info.st_mode):
        raise DataFormatError(f"{path}: not a regular file but a device, socket or pipe ({what} expected)")
    return info


def read_text(path: str | os.PathLike, what: str = "file", max_bytes: int = MAX_TEXT_BYTES) -> str:
    """The text of `path`: UTF-8, or any UTF with its byte-order mark (which is dropped)."""
    path = Path(path)
    info = check_regular_file(path, what)
    if info.st_size > max_bytes:
        raise DataFormatError(f"{path}: {info.st_size:,} bytes, more than the limit of {max_bytes:,} ({what})")
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)  # the file may have grown since stat
    except OSError as error:
        raise DataFormatError(f"{path}: cannot read it ({error.strerror or error})") from None
    if len(data) > max_bytes:
        raise DataFormatError(f"{path}: more than the limit of {max_bytes:,} bytes ({what})")
    return decode_text(data, str(path))


def decode_text(data: bytes, where: str) -> str:
    for bom, encoding in BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(encoding)
            except UnicodeDecodeError as error:
                raise DataFormatError(f"{where}: not valid {encoding.upper()} text after its byte-order mark"
                                      f" (byte {error.start + len(bom)})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataFormatError(f"{where}: not UTF-8 text (byte {error.start} is 0x{data[error.start]:02x});"
                              " save it as UTF-8") from None


def parse_json(text: str, where: str) -> Any:
    """json.loads, or one line naming `where`, the line and the column."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        problem = f"{error.msg} at line {error.lineno} column {error.colno}"
        raise DataFormatError(f"{where}: not valid JSON: {problem}") from None
    except RecursionError:
        raise DataFormatError(f"{where}: JSON nested too deeply to read") from None
    except ValueError as error:  # e.g. an integer of more digits than Python converts
        raise DataFormatError(f"{where}: not valid JSON: {str(error).splitlines()[0][:120]}") from None


def read_json(path: str | os.PathLike, what: str = "JSON file", max_bytes: int = MAX_TEXT_BYTES) -> Any:
    return parse_json(read_text(path, what, max_bytes), str(path))


def read_metrics(path: str | os.PathLike) -> dict[str, float]:
    """A run's metrics.json: names to numbers (anything else in it is left out)."""
    data = read_json(path, "metrics file")
    if not isinstance(data, dict):
        raise DataFormatError(f"{path}: expected an object of metric names and values, got a {type(data).__name__}")
    return {str(k): float(v) for k, v in data.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def files_in(folder: str | os.PathLike, suffix: str, what: str) -> list[Path]:
    """The entries of `folder` ending in `suffix`, sorted, each checked to be a readable regular file (not
    searched below: a folder of data is flat, so a link to a parent cannot make it endless)."""
    folder = Path(folder)
    try:
        entries = sorted(entry for entry in folder.iterdir() if entry.name.endswith(suffix))
    except OSError as error:
        raise DataFormatError(f"{folder}: cannot list it ({error.strerror or error})") from None
    for entry in entries:
        check_regular_file(entry, what)
    return entries


def read_yaml(path: str | os.PathLike, kind: type, what: str = "Hydra file") -> Any:
    """A YAML file (safe_load: plain data only, nothing constructed), or an empty `kind` when it holds
    something else."""
    import yaml

    try:
        data = yaml.safe_load(read_text(path, what))
    except yaml.YAMLError as error:
        raise DataFormatError(f"{path}: not YAML ({str(error).splitlines()[0]})") from None
    return data if isinstance(data, kind) else kind()
