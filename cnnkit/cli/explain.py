"""``cnnkit explain``: which pixels or words drove a decision, what units respond to, and
whether the explanations pass Adebayo et al.'s sanity checks.

Four forms (the first word decides)::

    cnnkit explain CHECKPOINT IMAGE --method grad-cam --out DIR     # attribution maps of one image
    cnnkit explain CHECKPOINT --text "a gripping film" --out DIR    # token relevance (TextCNN checkpoint)
    cnnkit explain depth CHECKPOINT --out DIR                       # feature visualisation per layer
    cnnkit explain sanity CHECKPOINT --out DIR                      # randomisation tests

CHECKPOINT: ``pretrained`` (the bundled LeNet-5), a ``cnnkit train lenet5`` checkpoint,
a zoo name, or a ``cnnkit train textcnn`` fold model. The library calls are in
:mod:`cnnkit.explain`; this module parses, calls and prints.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from .train import _positive_float, _positive_int

#: CLI method name -> cnnkit.explain method name.
METHODS = {"saliency": "saliency", "input-x-gradient": "input_x_gradient", "ig": "integrated_gradients",
           "occlusion": "occlusion", "grad-cam": "grad_cam", "grad-cam++": "grad_cam++"}
TEXT_METHODS = ("input-x-gradient", "ig", "grad-cam", "grad-cam++")
MODES = ("depth", "sanity")

EXAMPLES = """examples:
  cnnkit explain pretrained my_digit.png --method grad-cam --out expl/       # any picture of one digit
  cnnkit explain pretrained --mnist-index 0 --method all --out expl/        # MNIST's test digit 0, every method
  cnnkit explain runs/textcnn/model_fold1.safetensors --text "a gripping, funny film" --out expl/
  cnnkit explain depth pretrained --out depth/
  cnnkit explain sanity pretrained --method saliency,ig,grad-cam --samples 8 --out sanity/

methods: saliency, input-x-gradient, ig (integrated gradients), occlusion, grad-cam, grad-cam++, all
(text: input-x-gradient, ig, grad-cam, grad-cam++)
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "explain", help="attribution maps, token relevance, feature visualisation and sanity checks",
        description="Explain what a network sees: `cnnkit explain CHECKPOINT IMAGE` (attribution maps), "
                    "`cnnkit explain CHECKPOINT --text \"...\"` (words, TextCNN), `cnnkit explain depth CHECKPOINT` "
                    "(what each unit responds to, per layer) and `cnnkit explain sanity CHECKPOINT` "
                    "(Adebayo et al.'s randomisation tests).",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("words", nargs="*", metavar="[depth|sanity] CHECKPOINT [IMAGE]",
                   help="CHECKPOINT: pretrained, a .safetensors checkpoint or a zoo name; IMAGE: a picture file, "
                        "sample:NAME or a .npy array")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--method", default=None,
                   help="comma-separated methods or `all` (default: grad-cam; ig for --text; "
                        "saliency,input-x-gradient,ig,grad-cam for sanity)")
    p.add_argument("--target", type=int, default=None, metavar="K", help="class to explain (default: the prediction)")
    p.add_argument("--layer", default=None, metavar="NAME",
                   help="Grad-CAM layer (default: the last convolution's activation, LeNet-5's act2; "
                        "for --text every convolution)")
    p.add_argument("--mnist-index", type=int, default=None, metavar="N", help="use MNIST's test digit N (LeNet-5)")
    p.add_argument("--data-dir", default=None, metavar="DIR", help="folder with the MNIST files (or its parent)")
    g = p.add_argument_group("attribution options")
    g.add_argument("--steps", type=_positive_int, default=None,
                   help="integrated-gradient steps (default 64); for depth: optimisation steps (default 192)")
    g.add_argument("--window", type=_positive_int, default=4, help="occlusion window in pixels (default 4)")
    g.add_argument("--stride", type=_positive_int, default=1, help="occlusion stride (default 1)")
    g.add_argument("--baseline", choices=("black", "zero"), default="black",
                   help="IG / occlusion baseline for LeNet-5: a black image (default) or zeros of the normalised "
                        "input (the mean grey)")
    t = p.add_argument_group("text (TextCNN checkpoints)")
    t.add_argument("--text", default=None, help="the sentence to explain")
    t.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                   help="terminal colours (auto: when stdout is a terminal and NO_COLOR is unset)")
    d = p.add_argument_group("depth")
    d.add_argument("--layers", default="conv1,conv2,fc3", help="comma-separated layers (default conv1,conv2,fc3)")
    d.add_argument("--lr", type=_positive_float, default=0.05, help="step size (default 0.05)")
    d.add_argument("--seed", type=int, default=0, help="seed of the starting noise / randomisation (default 0)")
    s = p.add_argument_group("sanity")
    s.add_argument("--samples", type=_positive_int, default=8, help="MNIST test digits to average over (default 8)")
    s.add_argument("--shuffled-labels", type=int, default=0, metavar="N",
                   help="also train LeNet-5 on N MNIST training images with shuffled labels (data randomisation; "
                        "0: skip, the default)")
    s.add_argument("--epochs", type=_positive_int, default=10, help="epochs of that training (default 10)")
    s.add_argument("--signed", action="store_true",
                   help="compare the maps with their sign (default: absolute values, as Adebayo et al.'s main rows)")
    p.set_defaults(func=run)


def _methods(spec: str | None, default: list[str], allowed) -> list[str]:
    names = default if spec is None else (list(allowed) if spec == "all" else [m.strip() for m in spec.split(",")])
    bad = [m for m in names if m not in allowed]
    if bad or not names:
        raise ValueError(f"--method: {', '.join(bad) if bad else repr(spec)} not one of {', '.join(allowed)} (or all)")
    return names


def _load(spec: str):
    """``("text", TextCNNCheckpoint)`` for a TextCNN fold model, else ``("image", (model, input shape))``."""
    from ..analysis.zoo import resolve_model
    path = Path(spec)
    if path.suffix == ".safetensors" and path.is_file():
        from .. import checkpoint
        from ..training.fit import CONFIG_KEY
        raw = checkpoint.load_metadata(path).get(CONFIG_KEY)
        if raw and json.loads(raw).get("model") == "textcnn":
            from ..training.mr import load_textcnn
            return "text", load_textcnn(path)
    return "image", resolve_model(spec)


def _image_input(args, model, shape, spec: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    """``(picture to show (H, W), network input (1, C, H, W), description)``."""
    from ..models.lenet import LeNet5
    from .features import lenet_input, load_image
    if isinstance(model, LeNet5):
        if (spec is None) == (args.mnist_index is None):
            raise ValueError("give either an IMAGE or --mnist-index N (one of them)")
        args.image = spec
        digit, x, how = lenet_input(args)
        return np.pad(digit, 2), x, how
    if args.mnist_index is not None:
        raise ValueError("--mnist-index is for LeNet-5 models; give an IMAGE")
    if spec is None:
        raise ValueError("give an IMAGE (or --mnist-index N for a LeNet-5)")
    if not shape or len(shape) != 4:
        raise ValueError("this model has no known image input size; use a LeNet-5 or a zoo image model")
    x = load_image(spec, shape[1], tuple(shape[2:]))
    return x[0].mean(axis=0), x, spec


def _baseline(model, args) -> float:
    from ..data import prepare_mnist
    from ..models.lenet import LeNet5
    if isinstance(model, LeNet5) and args.baseline == "black":
        return float(prepare_mnist(np.zeros((28, 28), np.uint8))[0, 0, 0, 0])
    return 0.0


def _method_kwargs(method: str, args, baseline: float) -> dict:
    if method == "integrated_gradients":
        return {"baseline": baseline, "steps": args.steps or 64}
    if method == "occlusion":
        return {"baseline": baseline, "window": args.window, "stride": args.stride}
    return {}


def _probabilities(model, x) -> np.ndarray:
    from .. import functional as F
    from ..autograd import no_grad
    from ..explain._common import untouched
    with untouched(model), no_grad():
        return F.softmax(model(x), dim=1).numpy()


def run(args: argparse.Namespace) -> int:
    words = list(args.words)
    if not words:
        raise ValueError("give a CHECKPOINT (see cnnkit explain --help)")
    if words[0] in MODES:
        mode, rest = words[0], words[1:]
        if not rest or len(rest) > 2:
            raise ValueError(f"usage: cnnkit explain {mode} CHECKPOINT{' [IMAGE]' if mode == 'sanity' else ''} --out DIR")
        if mode == "depth":
            if len(rest) != 1:
                raise ValueError("usage: cnnkit explain depth CHECKPOINT --out DIR")
            return _run_depth(args, rest[0])
        return _run_sanity(args, rest[0], rest[1] if len(rest) == 2 else None)
    if len(words) > 2:
        raise ValueError(f"too many arguments: {' '.join(words)} (expected CHECKPOINT [IMAGE])")
    kind, loaded = _load(words[0])
    if kind == "text":
        if args.text is None or len(words) == 2:
            raise ValueError(f"{words[0]} is a TextCNN checkpoint: give the sentence with --text \"...\"")
        return _run_text(args, loaded)
    if args.text is not None:
        raise ValueError(f"--text needs a TextCNN checkpoint (cnnkit train textcnn); {words[0]} is an image model")
    return _run_image(args, *loaded, words[1] if len(words) == 2 else None)


def _run_image(args, model, shape, spec) -> int:
    from ..explain import render
    from ..explain.sanity import attribute
    methods = _methods(args.method, ["grad-cam"], METHODS)
    picture, x, how = _image_input(args, model, shape, spec)
    probs = _probabilities(model, x)[0]
    target = int(probs.argmax()) if args.target is None else args.target
    top = np.argsort(-probs)[:3]
    print(f"input: {how}")
    print(f"prediction: class {int(probs.argmax())} (probability {probs.max():.3f}); top 3: "
          + ", ".join(f"{int(c)} {probs[c]:.3f}" for c in top))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    baseline = _baseline(model, args)
    maps = {}
    for name in methods:
        method = METHODS[name]
        layer = args.layer if method in ("grad_cam", "grad_cam++") else None
        attr = attribute(model, x, target, method, layer, **_method_kwargs(method, args, baseline))[0]
        maps[method] = attr
        stem = name.replace("+", "p")
        _save_npy(out / f"{stem}.npy", attr)
        title = f"{render.TITLES[method]} for class {target} (p = {probs[target]:.3f})"
        print(render.save_explanation(out / f"{stem}.png", picture, attr, method, title))
    if len(maps) > 1:
        print(render.save_overview(out / "overview.png", picture, maps,
                                   f"what drove class {target} (p = {probs[target]:.3f})"))
    return 0


def _save_npy(path: Path, arr: np.ndarray) -> None:
    from ..io.atomic import atomic_write
    with atomic_write(path, "array") as handle:
        np.save(handle, np.ascontiguousarray(arr), allow_pickle=False)


def _use_colour(choice: str) -> bool:
    if choice != "auto":
        return choice == "always"
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _run_text(args, ck) -> int:
    from ..explain import render, token_relevance
    from ..training.mr import encode_sentence
    methods = _methods(args.method, ["ig"], TEXT_METHODS)
    windows = ck.config["windows"]
    ids, tokens = encode_sentence(args.text, ck.vocab, max(windows), ck.padded_length)
    probs = _probabilities(ck.model, ids)[0]
    target = int(probs.argmax()) if args.target is None else args.target
    names = {0: "negative", 1: "positive"}
    print(f"prediction: {names.get(int(probs.argmax()))} (probability {probs.max():.3f})"
          + (f"; explaining class {names.get(target, target)}" if args.target is not None else ""))
    unknown = [t for t in tokens if t not in ck.vocab]
    if unknown:
        print(f"not in the vocabulary (<unk>): {', '.join(unknown)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    first = max(windows) - 1
    for name in methods:
        method = {"input-x-gradient": "input_x_gradient", "ig": "integrated_gradients"}.get(name, METHODS[name])
        kw = {"steps": args.steps or 64} if method == "integrated_gradients" else {}
        rel = token_relevance(ck.model, ids, target, method, layer=args.layer, **kw)[0, first:first + len(tokens)]
        label = f"{render.TITLES.get(method, method)} for {names.get(target, target)}"
        coloured = render.ansi_sentence(tokens, rel) if _use_colour(args.color) else " ".join(
            f"{t}[{r:+.2f}]" for t, r in zip(tokens, rel))
        print(f"{label}: {coloured}")
        stem = name.replace("+", "p")
        note = ("red: raises the logit of the class explained, blue: lowers it; shade by |relevance| "
                f"(max {np.abs(rel).max():.3g}); hover a word for its value")
        page = out / f"text_{stem}.html"
        from ..io.atomic import atomic_write
        with atomic_write(page, "HTML page") as handle:
            handle.write(render.html_sentence(tokens, rel, f"{label} (p = {probs[target]:.3f})", note).encode())
        print(page)
        print(render.save_sentence_png(out / f"text_{stem}.png", tokens, rel,
                                       f"{label} (p = {probs[target]:.3f}); red for it, blue against"))
    return 0


def _run_depth(args, spec: str) -> int:
    from ..analysis.zoo import resolve_model
    from ..data import prepare_mnist
    from ..explain import depth_grid, render
    from ..models.lenet import LeNet5
    model, shape = resolve_model(spec)
    if not shape:
        raise ValueError(f"{spec}: the input shape is unknown; use a LeNet-5 or a zoo model")
    value_range = None
    if isinstance(model, LeNet5):
        white = prepare_mnist(np.full((28, 28), 255, np.uint8))[0, 0]
        value_range = (float(white[0, 0]), float(white[2, 2]))  # black (the padding) .. white, as in training
    layers = [s.strip() for s in args.layers.split(",") if s.strip()]
    steps = args.steps or 192
    grid = depth_grid(model, layers, tuple(shape[1:]), steps=steps, lr=args.lr, value_range=value_range,
                      seed=args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for layer in grid.layers:
        field = "the whole input" if layer.field_size is None else "x".join(map(str, layer.field_size))
        starts = np.array([u.start for u in layer.units])
        finals = np.array([u.final for u in layer.units])
        print(f"{layer.name}: {len(layer.units)} units, receptive field {field}; activation of the optimised unit "
              f"from {np.median(starts):+.2f} to {np.median(finals):+.2f} (median over units), "
              f"{int((finals > starts).sum())}/{len(layer.units)} increased")
        arrays[f"{layer.name}.patterns"] = np.stack([u.pattern for u in layer.units])
        arrays[f"{layer.name}.activations"] = np.stack([u.activations for u in layer.units])
    _save_npz(out / "depth.npz", arrays)
    title = (f"what units respond to, by depth: inputs optimised for {steps} steps "
             f"(red box: the unit's receptive field)")
    print(render.save_depth_grid(out / "depth.png", grid, title))
    return 0


def _save_npz(path: Path, arrays: dict) -> None:
    from ..io.atomic import atomic_write
    with atomic_write(path, "arrays") as handle:
        np.savez(handle, **arrays)


def _run_sanity(args, spec: str, image: str | None) -> int:
    from ..analysis.zoo import resolve_model
    from ..data import load_mnist, prepare_mnist
    from ..explain import render
    from ..explain.sanity import sanity_check, train_on_shuffled_labels
    from ..models import lenet5
    from ..models.lenet import LeNet5
    model, shape = resolve_model(spec)
    methods = _methods(args.method, ["saliency", "input-x-gradient", "ig", "grad-cam"], METHODS)
    if image is not None or args.mnist_index is not None:
        picture, x, how = _image_input(args, model, shape, image)
        pictures = picture[None]
    else:
        if not isinstance(model, LeNet5):
            raise ValueError("without an IMAGE, sanity uses MNIST test digits: that needs a LeNet-5")
        digits = load_mnist("test", args.data_dir)[0][:args.samples]
        x, pictures, how = prepare_mnist(digits), np.pad(digits, ((0, 0), (2, 2), (2, 2))), \
            f"MNIST test digits 0..{len(digits) - 1}"
    print(f"inputs: {how}")
    shuffled = None
    if args.shuffled_labels:
        if not isinstance(model, LeNet5):
            raise ValueError("--shuffled-labels trains a LeNet-5; the model is not one")
        images, labels = load_mnist("train", args.data_dir)
        shuffled, history = train_on_shuffled_labels(lambda: lenet5(model.variant), images[:args.shuffled_labels],
                                                     labels[:args.shuffled_labels], epochs=args.epochs,
                                                     seed=args.seed, prepare=prepare_mnist)
        print(f"shuffled labels: LeNet-5 trained {args.epochs} epochs on {args.shuffled_labels} images with permuted "
              f"labels, training accuracy {100 * history[-1]['train_accuracy']:.1f}% (chance 10%)")
    baseline = _baseline(model, args)
    results = []
    for name in methods:
        method = METHODS[name]
        layer = args.layer if method in ("grad_cam", "grad_cam++") else None
        results.append(sanity_check(model, x, args.target, method, layer, seed=args.seed, absolute=not args.signed,
                                    shuffled_labels_model=shuffled, **_method_kwargs(method, args, baseline)))
    steps = [row[0] for row in results[0].rows()]
    width = max(len(s) for s in steps) + 2
    maps = "maps" if args.signed else "|maps|"
    print(f"Spearman rank correlation of {maps} with the trained model's (SSIM in brackets), mean over "
          f"{len(x)} inputs; layers randomised from the logits down:")
    print(" " * width + "".join(f"{render.TITLES[r.method]:>24}" for r in results))
    for k, step in enumerate(steps):
        cells = [r.rows()[k] for r in results]
        print(f"{step:<{width}}" + "".join(f"{c[1]:>15.3f} ({c[2]:+.3f})" for c in cells))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from ..training.fit import write_json
    write_json(out / "sanity.json", {"inputs": how, "targets": results[0].targets.tolist(),
                                     "results": [{"method": r.method, "layer": r.layer, "rows": r.rows()}
                                                 for r in results]})
    print(out / "sanity.json")
    print(render.save_sanity_figure(out / "sanity.png", results, pictures[0],
                                    title="sanity checks (Adebayo et al. 2018) on LeNet-5"
                                    if isinstance(model, LeNet5) else "sanity checks (Adebayo et al. 2018)"))
    return 0
