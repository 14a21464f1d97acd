"""``mcdet``: the command line, a thin face over the core library.

Each sub-command lives in its own module of :mod:`napari_mcdet.commands` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to the function that runs it.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ._version import __version__

#: Sub-command modules, in the order ``mcdet --help`` lists them.
COMMANDS = ("info", "synth", "train", "detect", "evaluate", "compare", "demo")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcdet",
        description="Annotation-free microcalcification detection on mammograms.",
    )
    parser.add_argument("--version", action="version", version=f"napari-mcdet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"napari_mcdet.commands.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"napari_mcdet.commands.{name}":
                continue  # not written yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, OSError) as err:
        print(f"mcdet {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
