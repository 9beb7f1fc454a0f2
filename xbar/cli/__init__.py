"""The ``xbar`` command line: one sub-command per module in this package.

Each sub-command module defines ``add_parser(subparsers)`` which registers
its parser and sets ``func`` (a callable taking the parsed ``args`` and
returning an exit code).  The CLI owns all output: results go to stdout,
progress bars and errors to stderr.  An :class:`xbar.errors.XbarError` is
printed as one clear message with exit code 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import XbarError

# Sub-command modules, in the order `xbar --help` lists them.
_COMMANDS = ["solve", "crossbar", "validate", "infer", "sweep", "train", "export_onnx"]


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Return the top-level argument parser.

    Parameters
    ----------
    only : str, optional
        Register just this sub-command (its module alone is imported, which
        keeps ``xbar solve`` start-up free of the network stack); by default
        every sub-command is registered (for ``xbar --help``).
    """
    parser = argparse.ArgumentParser(
        prog="xbar",
        description="SPICE-accurate resistive crossbar simulation, from netlists to networks.",
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"xbar {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS if only is None else [only]:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:  # a sub-command not built yet
            if exc.name != f"{__name__}.{name}":
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    first = next((a for a in argv if not a.startswith("-")), None)
    module = first.replace("-", "_") if first else None  # export-onnx lives in export_onnx
    parser = build_parser(module if module in _COMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except XbarError as err:
        print(str(err), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
