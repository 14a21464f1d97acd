"""``mcdet``: the command line, a thin face over the core library.

Each sub-command lives in its own module of :mod:`napari_mcdet.commands` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to the function that runs it.

Errors end in one line on stderr, ``mcdet <command>: error: <file>: <problem>; <fix>``, and a
non-zero exit status (2 for bad input, 1 for too little memory, 130 for Ctrl-C); ``--debug``
shows the traceback instead. Warnings print as one line each, ``mcdet <command>: warning:
<message>``. A command names the file it is working on in
``args.current_file``, so that messages from deep inside a decoder still name it.

The command modules never import the napari face (they stand on its floor); a command that opens
a window (``mcdet demo`` without ``--headless``) is joined to it here, on the floor above both.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import warnings
from collections.abc import Callable

from ._version import __version__

#: Sub-command modules, in the order ``mcdet --help`` lists them.
COMMANDS = ("info", "synth", "train", "average", "interpolate", "detect", "calibrate",
            "evaluate", "compare", "convert", "demo")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcdet",
        description="Annotation-free microcalcification detection on mammograms.",
    )
    parser.add_argument("--version", action="version", version=f"napari-mcdet {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error instead of one line")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"napari_mcdet.commands.{name}").register(sub)
    for command in sub.choices.values():
        # also accepted after the command; SUPPRESS keeps a --debug given before it
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show the full traceback of an error instead of one line")
    return parser


def _demo_window(args: argparse.Namespace) -> int:
    """``mcdet demo`` in napari: the command checks its inputs, the napari face opens the window."""
    from .commands.demo import window_mammogram
    from .gui._demo import run_window

    mammogram = window_mammogram(args.image, model=args.model, spacing=args.spacing)
    return run_window(mammogram, model=args.model)


def command_function(args: argparse.Namespace) -> Callable[[argparse.Namespace], int] | None:
    """What runs the parsed command: the napari face for a windowed demo, else the command's own
    ``func`` (None when no command was given)."""
    if args.command == "demo" and not args.headless:
        return _demo_window
    return getattr(args, "func", None)


def _problem(err: BaseException) -> tuple[str, str] | None:
    """``(problem, fix)`` for the errors bad input files raise from deep inside the readers and
    decoders; None for anything else (a bug: its traceback is shown)."""
    try:
        from PIL.Image import DecompressionBombError
    except ImportError:  # pragma: no cover - Pillow comes with scikit-image
        DecompressionBombError = ()  # noqa: N806
    try:
        from yaml import YAMLError
    except ImportError:  # pragma: no cover - PyYAML is a dependency
        YAMLError = ()  # noqa: N806
    if isinstance(err, UnicodeError):
        return ("not text in the expected encoding", "save the file as UTF-8 text")
    if isinstance(err, MemoryError):
        return ("not enough memory",
                "lower --batch-size, close other programs, or crop the image (see "
                "'Memory on huge images' in docs/troubleshooting.md)")
    if isinstance(err, ImportError):
        return ("a package is missing", "install the package the message names")
    if isinstance(err, DecompressionBombError):
        return ("the image is larger than Pillow's safety limit (a mammogram has at most about "
                "50 million pixels)", "check that the file is the mammogram you meant")
    if isinstance(err, YAMLError):
        return ("not valid YAML", "fix the file at the line named (indentation, a ':' missing)")
    if isinstance(err, OverflowError):
        return ("a value too large or infinite (inf coordinates?)",
                "fix or re-export the file's numbers")
    if isinstance(err, RuntimeError) and "DataLoader worker" in str(err):
        return ("a data-loading worker stopped (killed for lack of memory?)",
                "lower num_workers or batch_size (--set num_workers=1)")
    if isinstance(err, RuntimeError) and re.search(r"decod|jpeg|rle|pixel data", str(err), re.I):
        return ("could not be decoded (corrupt JPEG 2000 / RLE data?)",
                "re-export or fetch the file again")
    if isinstance(err, AttributeError | IndexError):
        return ("unexpected structure: metadata or XML missing parts, or a truncated table",
                "check the file is of the kind expected, or export it again")
    return None


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _report(command: str, err: BaseException, where: object) -> str:
    """The one-line error message for ``err``."""
    text = _one_line(err)
    if where is not None:
        text = text.replace('"<unicode string>"', str(where))  # YAML parsed from a string
    hint = " (--debug shows the traceback)"
    if isinstance(err, ValueError | OSError) and not isinstance(err, UnicodeError):
        message, hint = text or type(err).__name__, ""
    else:
        problem, fix = _problem(err) or ("", "")
        if isinstance(err, ImportError) and "install" in text:
            message = text  # the readers' own hint (pip install "napari-mcdet[jpeg]") comes first
        else:
            message = f"{problem} ({type(err).__name__}: {text}); {fix}"
    if where is not None and str(where) not in message:
        message = f"{where}: {message}"
    return f"mcdet {command}: error: {message}{hint}"


def _plain_warning(command: str) -> Callable[..., str]:
    """A ``warnings.formatwarning`` that prints a warning as one line for the reader of the
    command line: ``mcdet <command>: warning: <message>``, without the source file and line
    Python adds (a recording ``catch_warnings`` still gets the warning itself)."""

    def format_warning(message, category, filename, lineno, line=None) -> str:
        return f"mcdet {command}: warning: {_one_line(message)}\n"

    return format_warning


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = command_function(args)
    if func is None:
        parser.print_help()
        return 0
    before = warnings.formatwarning
    warnings.formatwarning = _plain_warning(args.command)
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        known = isinstance(err, ValueError | OSError) or _problem(err) is not None
        if getattr(args, "debug", False) or not known:
            raise
        where = getattr(args, "current_file", None)
        if where is None and type(err).__module__.startswith("yaml"):
            where = getattr(args, "config", None)  # `mcdet train CONFIG`: the file parsed
        print(_report(args.command, err, where), file=sys.stderr)
        return 1 if isinstance(err, MemoryError) else 2
    finally:
        warnings.formatwarning = before


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
