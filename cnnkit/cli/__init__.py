"""The ``cnnkit`` command.

Each subcommand lives in its own module under :mod:`cnnkit.cli` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable
``func(args) -> int``. Add a module name to :data:`SUBCOMMAND_MODULES` to plug
a new subcommand in; modules whose optional dependencies are missing still load
(they import those dependencies inside ``func``).
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from .. import __version__
from .._optional import MissingDependency

#: Modules (relative to this package) that provide subcommands, in help order.
SUBCOMMAND_MODULES: list[str] = [
    "kernels",
    "filter",
    "summary",  # cnnkit.cli.summary: model table with receptive fields
    "features",  # cnnkit.cli.features: feature-map and kernel pictures
    "explain",  # cnnkit.cli.explain: attributions, token relevance, feature visualisation, sanity checks
    "animate",  # cnnkit.cli.animate: GIF animations of convolution and pooling, forward and backward
    "train",
    "eval",
    "export",  # cnnkit.cli.export: a model as ONNX
    "lab",  # cnnkit.cli.lab: the study text's claims as experiments
    "serve",  # cnnkit.cli.serve: the explorer in the browser
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnnkit",
        description="cnnkit: CNN layers from first principles, on NumPy.",
    )
    parser.add_argument("--version", action="version", version=f"cnnkit {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        module = importlib.import_module(f".{name}", __name__)
        module.register(subparsers)
    return parser


def error_line(exc: BaseException) -> str:
    """``exc`` as one line: an ``OSError``'s own text once (its path only when the
    text lacks it: no ``[Errno 2] ...: 'path'`` repeat), newlines folded into ``; ``."""
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
        if exc.filename is not None and str(exc.filename) not in text:
            text = f"{text}: {exc.filename}"
    else:
        text = str(exc) or type(exc).__name__
    return "; ".join(part.strip() for part in text.splitlines() if part.strip())


def main(argv: list[str] | None = None) -> int:
    """Run the ``cnnkit`` command; an error is one line on stderr and exit code 2
    (1 for an unexpected internal error; ``CNNKIT_TRACEBACK=1`` shows its traceback)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # e.g. `cnnkit kernels | head`: the reader left; not an error
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"cnnkit {args.command}: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, IndexError, RuntimeError, OSError, MissingDependency) as exc:
        print(f"cnnkit {args.command}: error: {error_line(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: still one line, unless asked for the traceback
        if os.environ.get("CNNKIT_TRACEBACK"):
            raise
        print(f"cnnkit {args.command}: internal error: {type(exc).__name__}: {error_line(exc)} "
              f"(set CNNKIT_TRACEBACK=1 to see the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
