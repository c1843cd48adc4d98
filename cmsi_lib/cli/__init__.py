"""``cmsi``: the command line. Thin: parse, validate, call the library, print (JSON on request).

Each subcommand lives in its own module of this package, which defines
``register(subparsers, common)``; ``common`` is the parent parser carrying the options every
command shares (``--params FILE.yaml``, repeated ``--set name=value``, ``--json``).
Invalid parameters are reported before any work starts, with exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import sys

import numpy as np

from .. import datafiles
from ..datafiles import DataFileError
from ..kernel import InputError
from ..params import ParameterError, Params

#: subcommand modules, in the order ``cmsi --help`` lists them
COMMAND_MODULES = ("audit", "data", "run", "survey", "solar", "milky_way", "clusters", "doctor")


def worker_count(text: str) -> int:
    """argparse type of a worker count: an integer >= 1 (argparse reports the option and exits 2)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer; a worker count must be 1 or more") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n} is not valid; a worker count must be 1 or more")
    return n


def common_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("CMSI parameters and output")
    g.add_argument("--params", metavar="FILE.yaml", help="YAML file of CMSI parameters (name: value)")
    g.add_argument(
        "--set",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        dest="overrides",
        help="override one CMSI parameter (repeatable), e.g. --set chi0=1e6",
    )
    g.add_argument("--json", action="store_true", help="print machine-readable JSON instead of text")
    return p


def params_from_args(args: argparse.Namespace) -> Params:
    """The validated Params of a command line (defaults, then --params, then each --set)."""
    return Params.from_sources(args.params, args.overrides)


def print_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2, default=_json_default)
    sys.stdout.write("\n")


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cmsi", description="The CMSI book: a fair test of Coherent Metric Self-Interaction."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = common_parser()
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()  # imports every command module: a second or two
    except KeyboardInterrupt:
        print("cmsi: interrupted", file=sys.stderr)
        return 130
    args = parser.parse_args(argv)
    try:
        with contextlib.suppress(OSError):  # a read-only results folder is reported by the command itself
            datafiles.record_mirror()  # so later commands find the data this one used
        return int(args.func(args) or 0)
    except (ParameterError, InputError, DataFileError) as exc:
        print(f"cmsi {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `cmsi ... --json | head`: the reader left, nothing to report
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"cmsi {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
