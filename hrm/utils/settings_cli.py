"""Commands whose settings are `key=value` words, as train.py's are: parsed into a dataclass through
OmegaConf (types checked, an unknown or missing key named), every problem one line."""

from __future__ import annotations

from dataclasses import fields
from typing import TypeVar

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from hrm.errors import UserError

T = TypeVar("T")


def parse_key_values(cls: type[T], argv: list[str], doc: str | None) -> T:
    """`cls` from `key=value` words; `-h`/`--help` prints `doc` and exits."""
    if any(arg in ("-h", "--help") for arg in argv):
        print(doc)
        raise SystemExit(0)
    for arg in argv:
        if "=" not in arg:
            raise UserError(f"{arg!r}: settings are key=value; keys: {', '.join(f.name for f in fields(cls))}")
    try:
        merged = OmegaConf.merge(OmegaConf.structured(cls),
                                 OmegaConf.create({key: value for key, _, value in (a.partition("=") for a in argv)}))
        return cls(**OmegaConf.to_container(merged, throw_on_missing=True))
    except OmegaConfBaseException as error:
        key = getattr(error, "full_key", None)
        raise UserError(f"{key or 'settings'}: {str(error).splitlines()[0]}") from None
