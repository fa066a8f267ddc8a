"""``cnnkit animate OP ... --out FILE.gif [--data FILE.json]`` and ``cnnkit animate gallery --out DIR``:
exact animations of convolution, transposed convolution, pooling and separable convolutions."""
from __future__ import annotations

import argparse
import json

from ..animate.options import OPS, parse_padding, parse_size

EXAMPLES = """examples:
  cnnkit animate conv2d --input 5x5 --kernel 3 --stride 2 --out conv.gif        # the study text's 5x5 -> 2x2
  cnnkit animate conv_transpose2d --input 2x2 --kernel 3 --stride 2 --view scatter --out back.gif
  cnnkit animate conv1d --input 9 --kernel 3 --dilation 2 --out dilated.gif     # the study text's # - # - #
  cnnkit animate conv2d --input 6 --padding 0,1,1,0 --data frames.json          # frame data only
  cnnkit animate max_pool2d --input 4 --kernel 2 --backward --out maxpool.gif
  cnnkit animate separable --input 5 --kernel-values "[[1,2,1],[1,0,-1]]" --out sobel.gif
  cnnkit animate gallery --out gallery/                                         # all of them + index.html
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "animate", help="GIF animations of convolution, pooling and their gradients, with every number",
        description="Draw OP on a small input of seeded integers, one frame per output cell: the input with its "
                    "padding, the kernel footprint (with holes for dilation), the output cell being computed and, "
                    "with numbers, the products and their sum. All values come from cnnkit.functional. "
                    "`gallery` writes the convolution-arithmetic set and the study text's examples.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("op", metavar="OP", choices=list(OPS) + ["gallery"],
                   help=f"one of {', '.join(OPS)}, or gallery")
    p.add_argument("--out", metavar="FILE.gif", help="GIF file to write (gallery: a folder)")
    p.add_argument("--data", metavar="FILE.json", help="also write the frame data as JSON to this file")
    p.add_argument("--input", dest="input_size", default="5", metavar="H[xW]", help="input size H[xW] (default 5; ignored with --input-values)")
    p.add_argument("--kernel", default=None, metavar="K[xK]", help="kernel size K[xK] (default 3; pools 2)")
    p.add_argument("--stride", default=None, metavar="S[xS]", help="stride S[xS] (default 1; pools: the kernel size)")
    p.add_argument("--padding", default="0", metavar="P",
                   help="P, AxB, same, valid, or explicit left,right (1-D) / top,bottom,left,right (2-D)")
    p.add_argument("--dilation", default="1", metavar="D[xD]", help="dilation D[xD] (default 1)")
    p.add_argument("--output-padding", default="0", help="transposed convolutions: extra output cells at the end")
    p.add_argument("--channels", type=int, default=1, help="input channels (default 1, at most 4)")
    p.add_argument("--out-channels", type=int, default=1, help="(transposed) convolutions: output channels (default 1)")
    p.add_argument("--groups", type=int, default=1,
                   help="(transposed) convolutions: channel groups, dividing both channel counts (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the small integer values (default 0)")
    p.add_argument("--input-values", default=None, help="the input as JSON nested lists, e.g. \"[[1,2],[3,4]]\"")
    p.add_argument("--kernel-values", default=None,
                   help="the kernel as JSON (separable: [column, row]; depthwise-separable: [depthwise, pointwise])")
    p.add_argument("--numbers", action=argparse.BooleanOptionalAction, default=True,
                   help="show the products and sums (default) or only the moving window")
    p.add_argument("--fps", type=float, default=2.0, help="frames per second (default 2)")
    p.add_argument("--backward", action="store_true", help="animate the gradient instead of the forward pass")
    p.add_argument("--ceil-mode", action="store_true", help="pools: round the output size up")
    p.add_argument("--count-include-pad", action=argparse.BooleanOptionalAction, default=True,
                   help="mean pooling: the divisor counts the zero padding (default, PyTorch's) or only input cells")
    p.add_argument("--view", choices=["direct", "scatter"], default="direct",
                   help="transposed convolutions: direct (zero-inserted input) or scatter (the kernel spread)")
    p.add_argument("--only", default=None, help="gallery: comma-separated names to draw")
    p.set_defaults(func=run)


def _json(text: str | None, option: str):
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{option} must be JSON nested lists of numbers, got {text!r} ({exc.msg})") from None


def options(args: argparse.Namespace) -> dict:
    """The keyword arguments of :func:`cnnkit.animate.frame_data` the command line asks for."""
    n = OPS[args.op].ndim
    opts = dict(
        kernel_size=None if args.kernel is None else parse_size(args.kernel, "--kernel"),
        stride=None if args.stride is None else parse_size(args.stride, "--stride"),
        padding=parse_padding(args.padding, n), dilation=parse_size(args.dilation, "--dilation"),
        output_padding=parse_size(args.output_padding, "--output-padding"), channels=args.channels,
        seed=args.seed, backward=args.backward, ceil_mode=args.ceil_mode, view=args.view,
        count_include_pad=args.count_include_pad, out_channels=args.out_channels, groups=args.groups,
        input=_json(args.input_values, "--input-values"), kernel=_json(args.kernel_values, "--kernel-values"))
    if opts["input"] is None:
        opts["input_size"] = parse_size(args.input_size, "--input")
    return opts


def run(args: argparse.Namespace) -> int:
    if args.op == "gallery":
        from ..animate import gallery
        if not args.out:
            raise ValueError("gallery needs --out DIR")
        names = None if args.only is None else [n.strip() for n in args.only.split(",") if n.strip()]
        paths = gallery(args.out, names=names, fps=args.fps)
        print(f"wrote {len(paths) - 1} animations and {paths[-1]}")
        return 0
    if not args.out and not args.data:
        raise ValueError("give --out FILE.gif and/or --data FILE.json")
    from ..animate import frame_data
    from ..io.atomic import atomic_write
    data = frame_data(args.op, **options(args))
    if args.out:
        from ..animate import Animation
        anim = Animation.draw(data, numbers=args.numbers, fps=args.fps)
        anim.save(args.out)
        w, h = anim.frames[0].size
        print(f"wrote {args.out}: {len(anim)} frames, {w}x{h}, {args.fps:g} fps; {data.title}")
    if args.data:
        with atomic_write(args.data, "frame data") as handle:
            handle.write(json.dumps(data.to_dict(), allow_nan=False).encode("utf-8"))
        print(f"wrote {args.data}: {len(data.frames)} frames of data")
    return 0
