"""``cnnkit filter``: filter an image with a classic or custom kernel, or render the
study text's whole kernel table on one image as a contact sheet.

Output pixels follow :func:`cnnkit.filtering.to_display` with the rule of
:func:`cnnkit.filtering.display_rule` unless ``--display`` says otherwise: kernels
whose weights sum to 0 (edges) are shown as ``|result|`` scaled so its 99.5th
percentile is white; the others (blurs, sharpen) are rounded and clipped to
``[0, 255]`` (``[0, 65535]`` for a 16-bit grayscale PNG written from a 16-bit input).
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from .._optional import require

BORDER_CHOICES = ("reflect101", "reflect", "replicate", "wrap", "zero")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "filter",
        help="filter an image with a kernel, or render the classic kernels as a contact sheet",
        description="Filter IN (a PNG/JPEG path or sample:NAME, e.g. sample:camera) with one kernel and write "
                    "OUT (.png/.jpg), or with --all render the six classic kernels of the study text (the "
                    "Chinese CNN tutorial cnnkit follows) on IN as a labelled "
                    "contact sheet. Edge kernels (weights summing to 0) are displayed as |result| scaled so "
                    "its 99.5th percentile is white; others are rounded and clipped to [0, 255].",
        epilog="examples:\n  cnnkit filter sample:camera edges.png --kernel edge_laplacian\n"
               "  cnnkit filter photo.jpg out.png --custom \"[[0, -1, 0], [-1, 5, -1], [0, -1, 0]]\"\n"
               "  cnnkit filter sample:astronaut --all --sheet sheet.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", metavar="IN", help="input image path, or sample:NAME (scikit-image sample)")
    p.add_argument("output", metavar="OUT", nargs="?", help="output image (.png, .jpg); not used with --all")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--kernel", metavar="NAME", help="kernel name (see `cnnkit kernels`)")
    which.add_argument("--custom", metavar="JSON", help='kernel as a JSON matrix, e.g. "[[1, 0], [0, -1]]"')
    which.add_argument("--all", action="store_true", help="all six kernels of the study text's table (needs --sheet)")
    p.add_argument("--sheet", metavar="OUT.png", help="with --all: where to write the contact sheet")
    p.add_argument("--border", choices=BORDER_CHOICES, default="reflect101",
                   help="border rule (default reflect101, as OpenCV; OpenCV's and scipy's names: reflect101 is "
                        "PyTorch's 'reflect', reflect repeats the edge pixel; see cnnkit.filtering)")
    p.add_argument("--mode", choices=("correlate", "convolve"), default="correlate",
                   help="correlate (default, as cv2.filter2D) or convolve (kernel turned 180 degrees)")
    p.add_argument("--gray", action="store_true", help="convert the input to grayscale first")
    p.add_argument("--display", choices=("auto", "clip", "abs", "normalize"), default="auto",
                   help="how results become pixels (default auto: abs for edge kernels, clip otherwise)")
    p.add_argument("--percentile", type=float, default=99.5,
                   help="for --display abs: the percentile of |result| shown white (default 99.5; 100 = max)")
    p.add_argument("--tile", type=int, default=384, help="with --all: largest side of each tile (default 384)")
    p.set_defaults(func=run)


def parse_custom_kernel(text: str) -> np.ndarray:
    """A kernel from JSON text (never ``eval``): a non-empty rectangular list of
    lists of finite numbers. ``ValueError`` saying what is wrong otherwise."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--custom is not valid JSON ({exc.msg} at position {exc.pos}): {text!r}; "
                         f"expected a matrix like [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]") from None
    expected = "expected a 2-D matrix of numbers like [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]"
    if not isinstance(value, list) or not value or not all(isinstance(r, list) and r for r in value):
        raise ValueError(f"--custom must be a non-empty list of non-empty rows, got {text!r}; {expected}")
    if len({len(r) for r in value}) != 1:
        raise ValueError(f"--custom rows have different lengths {[len(r) for r in value]}; {expected}")
    for row in value:
        for v in row:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"--custom entry {v!r} is not a finite number; {expected}")
    return np.array(value, dtype=np.float64)


def _output_depth(image: np.ndarray, out: Path) -> int:
    """65535 for a 16-bit grayscale input written to PNG, else 255."""
    if image.dtype == np.uint16 and image.ndim == 2 and out.suffix.lower() == ".png":
        return 65535
    return 255


def run(args: argparse.Namespace) -> int:
    from ..filtering import display_rule, filter2d, to_display
    from ..io.image import WRITE_FORMATS, write_image
    from ..kernels import get_kernel
    from ..samples import SAMPLE_PREFIX, load_image

    if args.all:
        if not args.sheet:
            raise ValueError("--all renders a contact sheet: give its path with --sheet OUT.png")
        if args.output:
            raise ValueError(f"with --all the output is --sheet, not a positional OUT (got {args.output!r})")
    else:
        if args.sheet:
            raise ValueError("--sheet only goes with --all")
        if not args.output:
            raise ValueError("missing OUT: the path of the filtered image (.png or .jpg)")
    target = Path(args.sheet if args.all else args.output)
    if target.suffix.lower() not in WRITE_FORMATS:
        raise ValueError(f"output {target} must end in one of {', '.join(WRITE_FORMATS)}")
    if not 0 < args.percentile <= 100:
        raise ValueError(f"--percentile must be in (0, 100], got {args.percentile}")
    # up front: the result is written with Pillow, sample images come from scikit-image
    require("PIL.Image", extra="image", purpose="cnnkit filter (reading and writing images)")
    if str(args.input).startswith(SAMPLE_PREFIX):
        require("skimage.data", extra="samples", purpose=f"the sample image {args.input}")

    image = load_image(args.input, "L" if args.gray else None)

    if args.all:
        from ..sheet import kernel_sheet
        if image.dtype != np.uint8:  # 16-bit input: show it on the 8-bit sheet
            image = np.rint(image / 257.0).astype(np.uint8)
        sheet = kernel_sheet(image, border=args.border, mode=args.mode, tile=args.tile, percentile=args.percentile)
        write_image(target, np.asarray(sheet))
        print(f"wrote {target} ({sheet.size[0]}x{sheet.size[1]} contact sheet of {args.input})")
        return 0

    kernel = parse_custom_kernel(args.custom) if args.custom is not None else get_kernel(args.kernel)
    result = filter2d(image, kernel, border=args.border, mode=args.mode)
    rule = display_rule(kernel) if args.display == "auto" else args.display
    depth = _output_depth(image, target)
    if image.dtype == np.uint16 and depth == 255:
        result = result * np.float32(255 / 65535)
    pixels = to_display(result, rule, max_value=depth, percentile=args.percentile)
    write_image(target, pixels)
    print(f"wrote {target} ({pixels.shape[1]}x{pixels.shape[0]}, {rule} display, border={args.border})")
    return 0
