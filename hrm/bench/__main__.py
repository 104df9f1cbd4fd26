"""python -m hrm.bench <name> [options]: run one benchmark and print its table."""

from __future__ import annotations

import argparse
import sys

from hrm.bench import agent
from hrm.bench import eval as eval_bench
from hrm.bench import compare, learn, rl, step, vae

BENCHMARKS = {"step": step, "eval": eval_bench, "agent": agent, "vae": vae, "rl": rl, "compare": compare, "learn": learn}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hrm.bench", description=__doc__)
    sub = parser.add_subparsers(dest="name", required=True)
    for name, module in BENCHMARKS.items():
        module.add_arguments(sub.add_parser(name, help=module.__doc__.splitlines()[0]))
    args = parser.parse_args(argv)
    return BENCHMARKS[args.name].run(args)


if __name__ == "__main__":
    sys.exit(main())
