"""``separable``: plain against depthwise-separable convolutions, on MNIST, and what Xception saves.

Both networks::

    conv 3x3 1 -> 16, ReLU, max pool 2                    (N, 16, 14, 14)
    [sep] conv 3x3 16 -> 32, ReLU, max pool 2             (N, 32, 7, 7)   the study text's 16 -> 32 example
    [sep] conv 3x3 32 -> 64, ReLU, max pool 2             (N, 64, 3, 3)
    flatten, linear 576 -> 10

``separable`` replaces the two inner convolutions by :class:`cnnkit.nn.SeparableConv2d`
(depthwise 3x3, then pointwise 1x1 with the bias, as Keras): 16*9 + 16*32 = 656 weights
instead of 16*32*9 = 4608 for the first. The first convolution stays plain (a depthwise
convolution of one channel is a single 3x3 filter). Time per epoch is measured too: fewer
multiply-adds need not mean less time, as depthwise convolutions are small GEMMs.

The study text cites Xception as the evidence; :meth:`Separable.analyse` sums, with
:func:`cnnkit.summary`, the parameters and multiply-adds of :func:`cnnkit.models.xception`
against the same network with plain 3x3 convolutions (``separable=False``), at
``xception_input`` pixels.
"""
from __future__ import annotations

from ... import nn
from ..figure import Panel, Series
from ..verdict import exact, not_lower, verdict
from ..experiment import Table
from ._common import MNIST_FULL, MNIST_TINY, MnistExperiment, sequential

VARIANTS = ("plain", "separable")
#: "still works": the separable network may trail the plain one by at most this much accuracy.
MARGIN = 0.01


def _conv(variant: str, i: int, o: int) -> nn.Module:
    if variant == "separable":
        return nn.SeparableConv2d(i, o, 3, padding=1)
    return nn.Conv2d(i, o, 3, padding=1)


def xception_savings(size: int) -> dict:
    """Parameters and multiply-adds (one ``size`` x ``size`` image) of Xception and of its twin with
    plain 3x3 convolutions: in total, and in the layers that differ (the 34 separable ones, which
    the twin has as plain convolutions under the same names)."""
    from ...analysis import summary
    from ...analysis.zoo import _seeded
    from ...models import xception

    out: dict = {"input": [1, 3, size, size]}
    names: set[str] = set()
    for key, separable in (("separable", True), ("plain", False)):
        with _seeded(0):
            model = xception(1000, separable=separable)
        if separable:
            names = {n for n, m in model.named_modules() if isinstance(m, nn.SeparableConv2d)}
        s = summary(model, (1, 3, size, size), depth=10 ** 6)
        own = [r for r in s.rows if r.name in names]
        out[key] = {"params": s.trainable_params, "macs": s.total_macs, "layers": len(own),
                    "layer_params": sum(r.params for r in own), "layer_macs": sum(r.macs for r in own)}
        del model, s
    out["params_saved"] = out["plain"]["params"] - out["separable"]["params"]
    out["macs_saved"] = out["plain"]["macs"] - out["separable"]["macs"]
    return out


class Separable(MnistExperiment):
    name = "separable"
    claim = "depthwise-separable convolution needs far fewer weights (656 instead of 4608) and still works (Xception)"
    quote = ("这个过程使用了16×3×3+16×32×1×1=656个参数，远少于上面的16×32×3×3=4608个参数。……"
             "这么做是为了对空间信息和深度信息进行去耦。从Xception模型的效果可以看出，这种方法是比较有效的。")
    measures = ("MNIST, a small CNN with plain vs depthwise-separable 3x3 convolutions: parameters, multiply-adds, "
                "time per epoch, test accuracy; Xception's parameters and multiply-adds against its plain twin")
    full = {**MNIST_FULL, "xception_input": 299}
    tiny = {**MNIST_TINY, "xception_input": 71}
    variant_names = VARIANTS

    def build(self, variant, config):
        return sequential(("conv1", nn.Conv2d(1, 16, 3, padding=1)), ("act1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
                          ("conv2", _conv(variant, 16, 32)), ("act2", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
                          ("conv3", _conv(variant, 32, 64)), ("act3", nn.ReLU()), ("pool3", nn.MaxPool2d(2)),
                          ("flatten", nn.Flatten()), ("fc", nn.Linear(64 * 9, 10)))

    def describe(self, variant, config):
        s = self.summarize(variant, config)
        info = self.facts(s)
        info["conv2_params"] = s["conv2"].params  # the study text's 16 -> 32 example (with its bias)
        return info

    def run(self, variant, seed, config):
        out = super().run(variant, seed, config)
        out["metrics"] = {"epoch_time_s": out["train_time_s"] / config["epochs"]}
        return out

    def analyse(self, config):
        return {"xception": xception_savings(config["xception_input"])}

    def verdict(self, result):
        plain, sep = self.variant(result, "plain"), self.variant(result, "separable")
        x = result["extra"]["xception"]
        xs, xp = x["separable"], x["plain"]
        return verdict([
            exact("the study text's 16 -> 32 layer: 656 weights instead of 4608 (+ 32 biases)",
                  (sep["conv2_params"], plain["conv2_params"]) == (656 + 32, 4608 + 32),
                  f"{sep['conv2_params']} vs {plain['conv2_params']}"),
            exact("fewer parameters", sep["params"] < plain["params"],
                  f"{sep['params']:,} vs {plain['params']:,} ({100 * sep['params'] / plain['params']:.0f}%)"),
            exact("fewer multiply-adds", sep["macs"] < plain["macs"],
                  f"{sep['macs']:,} vs {plain['macs']:,} per image ({100 * sep['macs'] / plain['macs']:.0f}%)"),
            not_lower(f"still works: accuracy within {100 * MARGIN:.0f} point of plain, or the noise",
                      self.compare(result, "separable", "plain"), MARGIN),
            exact("Xception's separable layers save most of the weights and multiply-adds",
                  xs["layer_params"] < xp["layer_params"] / 2 and xs["layer_macs"] < xp["layer_macs"] / 2,
                  f"{xs['layer_params']:,} vs {xp['layer_params']:,} weights, {xs['layer_macs']:,} vs "
                  f"{xp['layer_macs']:,} multiply-adds at {x['input'][2]}x{x['input'][3]}"),
        ])

    def tables(self, result):
        x = result["extra"]["xception"]
        rows = []
        for key in ("separable", "plain"):
            d = x[key]
            rows.append([f"Xception ({key} 3x3)", f"{d['params']:,}", f"{d['macs']:,}", f"{d['layers']}",
                         f"{d['layer_params']:,}", f"{d['layer_macs']:,}"])
        rows.append(["saved by separable", f"{x['params_saved']:,}", f"{x['macs_saved']:,}", "",
                     f"{100 * (1 - x['separable']['layer_params'] / x['plain']['layer_params']):.1f}%",
                     f"{100 * (1 - x['separable']['layer_macs'] / x['plain']['layer_macs']):.1f}%"])
        times = [[v["name"], f"{v['metrics']['epoch_time_s']['mean']:.2f}"
                  + (f" ± {v['metrics']['epoch_time_s']['std']:.2f}" if v['metrics']['epoch_time_s']['std'] else "")]
                 for v in result["variants"]]
        size = f"{x['input'][2]}x{x['input'][3]}"
        return [Table(f"Xception (cnnkit.models.xception) vs the same network with plain 3x3 convolutions, "
                      f"cnnkit.summary at {size}", ["model", "trainable params", "multiply-adds", "3x3 layers",
                                                    "their params", "their multiply-adds"], rows),
                Table("time per epoch (one worker, one BLAS thread)", ["variant", "seconds per epoch"], times)]

    def panels(self, result):
        base = self.variant(result, "plain")
        costs = Panel("cost relative to plain", "", "% of plain", kind="bar", series=[
            Series(key.replace("_", " "), [v["name"] for v in result["variants"]],
                   [100 * (v[key] if key in v else v["metrics"][key]["mean"])
                    / (base[key] if key in base else base["metrics"][key]["mean"]) for v in result["variants"]])
            for key in ("params", "macs", "epoch_time_s")])
        return [*super().panels(result), costs]
