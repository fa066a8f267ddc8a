"""``dilation``: plain against dilated 3-tap convolutions at equal parameters, on MNIST-1D.

The networks (``channels = C``, ``depth = D``)::

    stem    conv1d 3, 1 -> C, ReLU                                   (N, C, 40)
    D x     conv1d 3, C -> C, dilation d_i, padding d_i (length kept), ReLU
            plain: d_i = 1;  dilated: d_i = 2**i  (1, 2, 4, 8, ...)
    head    -avg:    global average pool over the 40 positions, linear C -> 10
            -centre: the features of the middle position only, linear C -> 10

The weights are the same in number; what differs is how far each unit sees: a 3-tap kernel
with dilation d spans 2d + 1 positions (the study text: "a 3x3 kernel with dilation 2 has the
receptive field of a 5x5 with 9 parameters"), so the plain stack's field grows by 2 per layer
and the dilated one's doubles (11 vs 33 of 40 positions at depth 4).

The two heads ask for different amounts of context. A digit of MNIST-1D covers about 10 of
the 40 positions, at a random place: with the average pool every position votes, and a field
as wide as a digit is enough. The centre head decides from one unit, as a dense prediction
(segmentation, where the study text says dilation is used) decides each pixel from its unit: that
unit must see the digit wherever it lies, a task that needs context.
"""
from __future__ import annotations

from ... import nn
from ..experiment import Table, field_sizes
from ..figure import Panel, Series
from ..stats import A_HIGHER, B_HIGHER
from ..verdict import exact, higher, verdict
from ._common import Mnist1dExperiment, sequential

VARIANTS = ("plain-centre", "dilated-centre", "plain-avg", "dilated-avg")


def dilations(variant: str, depth: int) -> list[int]:
    return [1] * depth if variant.startswith("plain") else [2 ** i for i in range(depth)]


class Centre(nn.Module):
    """The features at the middle position: ``(N, C, L)`` -> ``(N, C)`` (``x[:, :, L // 2]``)."""

    def forward(self, x):
        return x[:, :, x.shape[2] // 2]


class Dilation(Mnist1dExperiment):
    name = "dilation"
    claim = "a dilated 3-tap kernel sees as far as a wider kernel with the same weights, which helps where context matters"
    quote = ("一个扩张率为2的3×3卷积核，感受野与5×5的卷积核相同，而且仅需要9个参数。……在相同的计算条件下，空洞卷积提供了更大的感受野。")
    measures = ("MNIST-1D, stacks of 3-tap convolutions with dilation 1 vs 1, 2, 4, 8 (equal parameters), read at "
                "the centre (a task that needs context) or through a global average pool: receptive field by depth, "
                "test accuracy")
    full = dict(channels=32, depth=4, num_samples=5000, data_seed=42, epochs=40, batch_size=100, lr=3e-3,
                optimizer="adam", curve_points=10, curve_size=1000)
    quick = dict(epochs=20, curve_points=10)
    tiny = dict(channels=4, depth=2, num_samples=400, epochs=1, curve_points=1)
    variant_names = VARIANTS
    seeds = {"full": 3, "quick": 2, "tiny": 1}

    def build(self, variant, config):
        c = config["channels"]
        layers = [("stem", nn.Conv1d(1, c, 3, padding=1)), ("act0", nn.ReLU())]
        for i, d in enumerate(dilations(variant, config["depth"]), 1):
            layers += [(f"conv{i}", nn.Conv1d(c, c, 3, padding=d, dilation=d)), (f"act{i}", nn.ReLU())]
        if variant.endswith("centre"):
            head = [("centre", Centre())]
        else:
            head = [("pool", nn.AdaptiveAvgPool1d(1)), ("flatten", nn.Flatten())]
        return sequential(*layers, *head, ("fc", nn.Linear(c, 10)))

    def describe(self, variant, config):
        s = self.summarize(variant, config)
        info = self.facts(s)
        info["receptive_field_by_depth"] = [field_sizes(r.field)[0] for r in s.leaf_rows if r.type == "Conv1d"]
        info["receptive_field"] = info["receptive_field_by_depth"][-1:]  # of the unit(s) the head reads
        info["dilations"] = dilations(variant, config["depth"])
        return info

    def verdict(self, result):
        plain, dilated = self.variant(result, "plain-centre"), self.variant(result, "dilated-centre")
        fields = dilated["receptive_field_by_depth"]
        growth = [b - a for a, b in zip(fields, fields[1:])]
        spans = [2 * d for d in dilated["dilations"]]  # a 3-tap kernel with dilation d adds (3 - 1) * d
        params = {v["params"] for v in result["variants"] if v["name"].endswith("centre")}
        return verdict([
            exact("equal parameters", len(params) == 1, f"{plain['params']:,} and {dilated['params']:,}"),
            exact("each dilated layer widens the field as a (2d+1)-tap kernel would", growth == spans,
                  f"growth per layer {growth} for dilations {dilated['dilations']}"),
            exact("the dilated stack sees further", fields[-1] > plain["receptive_field_by_depth"][-1],
                  f"{fields[-1]} vs {plain['receptive_field_by_depth'][-1]} of 40 positions"),
            higher("more accurate where the output unit needs context (centre head)",
                   self.compare(result, "dilated-centre", "plain-centre")),
        ])

    def tables(self, result):
        rows = []
        for head in ("centre", "avg"):
            c = self.compare(result, f"dilated-{head}", f"plain-{head}")
            rows.append([head, f"{100 * c.mean_b:.2f}", f"{100 * c.mean_a:.2f}", c.describe(100, " points"),
                         {A_HIGHER: "dilated higher", B_HIGHER: "plain higher"}.get(c.outcome, c.outcome)])
        return [Table("dilated vs plain by head (test accuracy %)",
                      ["head", "plain", "dilated", "dilated - plain", "outcome"], rows)]

    def panels(self, result):
        fields = Panel("receptive field by depth", "convolution layer", "receptive field (positions)", series=[
            Series(v["name"].split("-")[0], list(range(1, len(v["receptive_field_by_depth"]) + 1)),
                   v["receptive_field_by_depth"]) for v in result["variants"] if v["name"].endswith("centre")])
        return [*super().panels(result), fields]
