"""``cnnkit kernels [NAME]``: list the classic kernels, or show one with its separable factors."""
from __future__ import annotations

import argparse

import numpy as np


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "kernels",
        help="list the classic image kernels, or print one",
        description="Without NAME: list every named kernel with its description. With NAME (a name, "
                    "or gaussian:SIZE[:SIGMA] / box:SIZE): print its matrix, its separable factors if it "
                    "is rank 1, and how `cnnkit filter` displays its result.",
    )
    p.add_argument("name", nargs="?", help="kernel name, e.g. sobel_x, sharpen, gaussian:5:1.2")
    p.set_defaults(func=run)


def _vector(v: np.ndarray) -> str:
    from ..kernels import format_kernel
    return format_kernel(v[None, :]).replace("\n", " ")


def run(args: argparse.Namespace) -> int:
    from ..filtering import display_rule
    from ..kernels import KERNELS, SEED_KERNELS, describe, format_kernel, get_kernel, seed_label_text, separate

    if args.name is None:
        width = max(len(n) for n in KERNELS)
        print("Named kernels (* = in the table of classic kernels of the study text, the Chinese CNN tutorial "
              "cnnkit follows; its label in [brackets]):")
        for name, info in KERNELS.items():
            star = "*" if name in SEED_KERNELS else " "
            label = f"  [{seed_label_text(name)}]" if info.seed_label else ""
            print(f" {star} {name.ljust(width)}  {info.description}{label}")
        print("Parametric: gaussian:SIZE[:SIGMA] (normalised Gaussian, odd SIZE), box:SIZE (mean filter).")
        print("Show one with: cnnkit kernels NAME")
        return 0

    kernel = get_kernel(args.name)
    info = KERNELS.get(args.name)
    title = args.name + (f"  [the study text's label: {seed_label_text(args.name)}]" if info and info.seed_label else "")
    print(title)
    print(describe(args.name))
    print(f"shape {kernel.shape[0]}x{kernel.shape[1]}, sum {kernel.sum():.6g}")
    print(format_kernel(kernel))
    factors = separate(kernel)
    if factors is None:
        print("separable: no (rank > 1)")
    else:
        column, row = factors
        print("separable: yes, kernel = outer(column, row)")
        print(f"  column {_vector(column)}")
        print(f"  row    {_vector(row)}")
    rule = display_rule(kernel)
    print("display by `cnnkit filter`: " + ("|result|, scaled (weights sum to 0)" if rule == "abs"
                                             else "clipped to [0, 255]"))
    return 0
