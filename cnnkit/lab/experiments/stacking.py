"""``stacking``: two stacked 3x3 convolutions against one 5x5, on MNIST.

Both networks (``channels = C``)::

    stem     conv 3x3 1 -> C, ReLU                                   (N, C, 28, 28)
    stage 1  one-5x5: conv 5x5 C -> C, ReLU | two-3x3: (conv 3x3 C -> C, ReLU) x 2;  max pool 2
    stage 2  the same at 14x14, max pool 2                          (N, C, 7, 7)
    head     flatten, linear C*49 -> 10

The stem is shared so that every compared convolution maps C -> C channels, where the study text's
arithmetic applies: two 3x3 kernels have 2*9 = 18 weights per channel pair, one 5x5 has 25.
Both see 18x18 pixels at the head (the same receptive field, checked from :func:`cnnkit.summary`).
"""
from __future__ import annotations

from ... import nn
from ..figure import Panel, Series
from ..verdict import exact, higher, verdict
from ._common import MNIST_FULL, MNIST_TINY, MnistExperiment, sequential

VARIANTS = ("one-5x5", "two-3x3")


def _stage(variant: str, c: int, k: int) -> list[tuple[str, nn.Module]]:
    if variant == "one-5x5":
        return [(f"conv{k}", nn.Conv2d(c, c, 5, padding=2)), (f"act{k}", nn.ReLU())]
    return [(f"conv{k}a", nn.Conv2d(c, c, 3, padding=1)), (f"act{k}a", nn.ReLU()),
            (f"conv{k}b", nn.Conv2d(c, c, 3, padding=1)), (f"act{k}b", nn.ReLU())]


class Stacking(MnistExperiment):
    name = "stacking"
    claim = "two stacked 3x3 convolutions see what one 5x5 sees, with fewer weights, and work better"
    quote = ("堆叠2个 3×3 卷积核（二通道）可以获得与 5×5卷积核 相同的感受视野，同时参数量会更少（3×3×2+1<5×5×1+1），"
             "……在大多数情况下通过堆叠较小的卷积核比直接采用单个更大的卷积核会更加有效。")
    measures = ("MNIST, one 5x5 vs two stacked 3x3 convolutions per stage (same channels): parameters, "
                "multiply-adds, receptive field, test accuracy")
    full = {"channels": 8, **MNIST_FULL}
    tiny = {**MNIST_TINY, "channels": 2}
    variant_names = VARIANTS

    def build(self, variant, config):
        c = config["channels"]
        return sequential(("stem", nn.Conv2d(1, c, 3, padding=1)), ("act0", nn.ReLU()),
                          *_stage(variant, c, 1), ("pool1", nn.MaxPool2d(2)),
                          *_stage(variant, c, 2), ("pool2", nn.MaxPool2d(2)),
                          ("flatten", nn.Flatten()), ("fc", nn.Linear(c * 49, 10)))

    def analyse(self, config):
        return {"weights_per_channel_pair": {"one-5x5": 25, "two-3x3": 2 * 9}}

    def verdict(self, result):
        one, two = self.variant(result, "one-5x5"), self.variant(result, "two-3x3")
        rf1, rf2 = one["receptive_field"], two["receptive_field"]
        return verdict([
            exact("the same receptive field", rf1 == rf2 and rf1 is not None,
                  f"one-5x5 {rf1}, two-3x3 {rf2} pixels at the head"),
            exact("fewer parameters", two["params"] < one["params"],
                  f"{two['params']:,} vs {one['params']:,} ({100 * two['params'] / one['params']:.0f}%)"),
            exact("fewer multiply-adds", two["macs"] < one["macs"],
                  f"{two['macs']:,} vs {one['macs']:,} per image ({100 * two['macs'] / one['macs']:.0f}%)"),
            higher("more accurate", self.compare(result, "two-3x3", "one-5x5")),
        ])

    def panels(self, result):
        base = self.variant(result, "one-5x5")
        costs = Panel("cost relative to one-5x5", "", "% of one-5x5", kind="bar", series=[
            Series(key, [v["name"] for v in result["variants"]], [100 * v[key] / base[key] for v in result["variants"]])
            for key in ("params", "macs")])
        return [*super().panels(result), costs]
