"""python -m hrm.bench <name> [options]: run one benchmark and print its table."""

from __future__ import annotations

import sys

from hrm.bench import adapt, agent, compare, learn, memory, results, rl, step, vae
from hrm.bench import eval as eval_bench
from hrm.utils.cli import ArgumentParser, one_line_errors

# results: docs/results.md from the benchmarks' records
BENCHMARKS = {"step": step, "eval": eval_bench, "agent": agent, "vae": vae, "rl": rl, "compare": compare,
              "learn": learn, "adapt": adapt, "memory": memory, "results": results}


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m hrm.bench", description=__doc__)
    sub = parser.add_subparsers(dest="name", required=True)
    for name, module in BENCHMARKS.items():
        module.add_arguments(sub.add_parser(name, help=module.__doc__.splitlines()[0]))
    return one_line_errors(lambda: run(parser.parse_args(argv)))


def run(args) -> int:
    return BENCHMARKS[args.name].run(args)


if __name__ == "__main__":
    sys.exit(main())
