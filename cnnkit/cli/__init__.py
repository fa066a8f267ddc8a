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
    "lab",  # cnnkit.cli.lab: the seed's claims as experiments
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


def main(argv: list[str] | None = None) -> int:
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
    except (ValueError, TypeError, FileNotFoundError, OSError, MissingDependency) as exc:
        print(f"cnnkit {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
