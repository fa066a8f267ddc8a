"""``pooling``: max vs mean pooling vs strided convolution, and how each reacts to small shifts.

The networks (``channels = C``)::

    max-pool / mean-pool:  conv 3x3 1 -> C, ReLU, pool 2 | conv 3x3 C -> 2C, ReLU, pool 2 | linear
    strided-conv:          conv 3x3 1 -> C stride 2, ReLU | conv 3x3 C -> 2C stride 2, ReLU | linear

(all with padding 1: 28 -> 14 -> 7, the same parameters). After training, the first
``shift_size`` test digits are shifted by 1, 2 and 3 pixels in each of the four directions
(the background filled in) and, per shift, the run records

* ``conv1_change``, ``pool1_change``: the relative change ``|a(x') - a(x)| / |a(x)|`` (L2 per
  image, averaged) of the first convolution's output (after its ReLU) and of the pooling layer
  that follows it (none in the strided network): the study text's table, "a convolution's output
  changes when the input changes slightly; small changes inside a pooling window do not";
* ``feature_change``: the same for the features the classifier reads;
* ``prediction_agreement``: the fraction of digits whose predicted class is unchanged;
* ``shifted_accuracy``: the accuracy on the shifted digits.

``*_mean`` entries average over the three shift sizes.
"""
from __future__ import annotations

import numpy as np

from ... import nn
from ...training.mnist import MEAN, STD
from ...viz import feature_maps
from ..experiment import Table
from ..figure import Panel, Series
from ..stats import compare
from ..verdict import higher, verdict
from ._common import MNIST_FULL, MNIST_QUICK, MNIST_TINY, MnistExperiment, sequential

VARIANTS = ("max-pool", "mean-pool", "strided-conv")
SHIFTS = (1, 2, 3)
BACKGROUND = -MEAN / STD  # a blank pixel after the MNIST normalisation


def shift_images(x: np.ndarray, dy: int, dx: int, fill: float = BACKGROUND) -> np.ndarray:
    """``x`` ``(N, C, H, W)`` moved ``dy`` rows down and ``dx`` columns right; uncovered pixels are ``fill``."""
    out = np.full_like(x, fill)
    h, w = x.shape[-2:]
    out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        x[..., max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


def relative_change(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over samples of ``|b - a| / |a|`` (L2 norms over everything but the batch axis)."""
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    return float(np.mean(np.linalg.norm(b - a, axis=1) / np.maximum(np.linalg.norm(a, axis=1), 1e-12)))


class Pooling(MnistExperiment):
    name = "pooling"
    claim = "pooling keeps features stable under small shifts, where a convolution's output changes"
    quote = ("稳定性|输入特征发生细微改变时，输出结果会改变|感受域内的细微变化不影响输出结果；"
             "池化……还能保持对平移，伸缩，旋转操作的不变性。")
    measures = ("MNIST, max pooling vs mean pooling vs strided convolution: test accuracy, and the change of "
                "features and predictions when the test digits move by 1-3 pixels")
    full = {"channels": 8, **MNIST_FULL, "shift_size": 2000}
    quick = {**MNIST_QUICK, "shift_size": 1000}
    tiny = {**MNIST_TINY, "channels": 2, "shift_size": 32}
    variant_names = VARIANTS

    def build(self, variant, config):
        c = config["channels"]
        stride = 2 if variant == "strided-conv" else 1
        pool = {"max-pool": nn.MaxPool2d, "mean-pool": nn.AvgPool2d}.get(variant)
        return sequential(("conv1", nn.Conv2d(1, c, 3, stride=stride, padding=1)), ("act1", nn.ReLU()),
                          ("pool1", pool(2) if pool else None),
                          ("conv2", nn.Conv2d(c, 2 * c, 3, stride=stride, padding=1)), ("act2", nn.ReLU()),
                          ("pool2", pool(2) if pool else None),
                          ("flatten", nn.Flatten()), ("fc", nn.Linear(2 * c * 49, 10)))

    def metrics(self, model, variant, config, test):
        x, y = test[0][:config["shift_size"]], test[1][:config["shift_size"]]
        layers = ["act1", "pool1", "pool2", "fc"] if variant != "strided-conv" else ["act1", "act2", "fc"]
        feature = layers[-2]

        def maps(images):
            out = {}
            for i in range(0, len(images), 500):
                for k, v in feature_maps(model, images[i:i + 500], layers).items():
                    out.setdefault(k, []).append(v)
            return {k: np.concatenate(v) for k, v in out.items()}

        base = maps(x)
        pred = base["fc"].argmax(1)
        result: dict[str, dict] = {k: {} for k in ("conv1_change", "pool1_change", "feature_change",
                                                   "prediction_agreement", "shifted_accuracy")}
        for d in SHIFTS:
            per = {k: [] for k in result}
            for dy, dx in ((0, d), (0, -d), (d, 0), (-d, 0)):
                moved = maps(shift_images(x, dy, dx))
                per["conv1_change"].append(relative_change(base["act1"], moved["act1"]))
                if "pool1" in base:
                    per["pool1_change"].append(relative_change(base["pool1"], moved["pool1"]))
                per["feature_change"].append(relative_change(base[feature], moved[feature]))
                shifted_pred = moved["fc"].argmax(1)
                per["prediction_agreement"].append(float(np.mean(shifted_pred == pred)))
                per["shifted_accuracy"].append(float(np.mean(shifted_pred == y)))
            for k, values in per.items():
                if values:
                    result[k][str(d)] = float(np.mean(values))
        out = {k: v for k, v in result.items() if v}
        for k in list(out):
            out[k + "_mean"] = float(np.mean(list(out[k].values())))
        return out

    def verdict(self, result):
        def change(variant: str, key: str, label: str):
            return self.values(result, variant, key), f"{variant} {label}"

        checks = []
        for v in ("max-pool", "mean-pool"):
            conv, conv_label = change(v, "conv1_change_mean", "conv1 output")
            pooled, pool_label = change(v, "pool1_change_mean", "pool1 output")
            checks.append(higher(f"{v}: a convolution's output changes more under shifts than the pooling of it",
                                 compare(conv_label, conv, pool_label, pooled)))
        strided, strided_label = change("strided-conv", "feature_change_mean", "features")
        for v in ("max-pool", "mean-pool"):
            feats, label = change(v, "feature_change_mean", "features")
            checks.append(higher(f"{v} features change less under shifts than the strided convolution's",
                                 compare(strided_label, strided, label, feats)))
            checks.append(higher(f"{v} keeps more predictions under shifts than the strided convolution",
                                 self.compare(result, v, "strided-conv", "prediction_agreement_mean")))
        return verdict(checks)

    def tables(self, result):
        rows = []
        for v in result["variants"]:
            m = v["metrics"]
            for d in map(str, SHIFTS):
                rows.append([v["name"], d, *(f"{100 * m[k][d]['mean']:.1f}" if k in m else "-" for k in
                                              ("conv1_change", "pool1_change", "feature_change",
                                               "prediction_agreement", "shifted_accuracy"))])
        return [Table("under shifts of the test digits (mean over 4 directions and the seeds; %)",
                      ["variant", "shift (px)", "conv1 output change", "pool1 output change",
                       "feature change", "predictions kept", "accuracy"], rows)]

    def panels(self, result):
        def line(key, title, ylabel):
            return Panel(title, "shift (pixels)", ylabel, series=[
                Series(v["name"], [0, *SHIFTS], [100.0 if "agreement" in key else 0.0,
                                                 *(100 * v["metrics"][key][str(d)]["mean"] for d in SHIFTS)],
                       [0.0, *(100 * (v["metrics"][key][str(d)]["std"] or 0.0) for d in SHIFTS)])
                for v in result["variants"]])
        return [*super().panels(result),
                line("feature_change", "feature change under shifts", "relative change (%)"),
                line("prediction_agreement", "predictions kept under shifts", "unchanged (%)")]
