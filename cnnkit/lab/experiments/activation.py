"""``activation``: ReLU, Leaky ReLU, Maxout and tanh in the same CNN, on MNIST.

The network (``channels = C``; ``act`` the activation)::

    conv 3x3 1 -> C*k, act, max pool 2 | conv 3x3 C -> 2C*k, act, max pool 2 | linear 2C*49 -> 10

with ``k = 2`` for Maxout (:class:`cnnkit.nn.Maxout` of 2 pieces: the max of each pair of
channels, so each layer needs twice the filters; more parameters, said in the table) and
``k = 1`` otherwise. Leaky ReLU has slope 0.01 (PyTorch's default).
"""
from __future__ import annotations

from ... import nn
from ..figure import curve_panel
from ..stats import A_HIGHER
from ..verdict import CONTRADICTED, SUPPORTED, check, not_lower, verdict
from ._common import MNIST_FULL, MNIST_TINY, MnistExperiment, sequential

VARIANTS = ("relu", "leaky-relu", "maxout", "tanh")
#: "tanh can also give good results": within this much accuracy of ReLU.
MARGIN = 0.01


def activation(variant: str) -> nn.Module:
    if variant == "maxout":
        return nn.Maxout(2)
    return {"relu": nn.ReLU, "leaky-relu": nn.LeakyReLU, "tanh": nn.Tanh}[variant]()


class Activation(MnistExperiment):
    name = "activation"
    claim = "ReLU first, then try Leaky ReLU and Maxout; sometimes tanh also works well"
    quote = "首选 Relu， 然后试试 Relu 变体 Leaky Relu 和 Maxout。某些情况下 tanh 也能获得不错结果。"
    measures = "MNIST, one CNN with ReLU / Leaky ReLU / Maxout / tanh: learning curves and test accuracy"
    full = {"channels": 8, **MNIST_FULL}
    tiny = {**MNIST_TINY, "channels": 2}
    variant_names = VARIANTS

    def build(self, variant, config):
        c, k = config["channels"], 2 if variant == "maxout" else 1
        return sequential(("conv1", nn.Conv2d(1, c * k, 3, padding=1)), ("act1", activation(variant)),
                          ("pool1", nn.MaxPool2d(2)),
                          ("conv2", nn.Conv2d(c, 2 * c * k, 3, padding=1)), ("act2", activation(variant)),
                          ("pool2", nn.MaxPool2d(2)), ("flatten", nn.Flatten()), ("fc", nn.Linear(2 * c * 49, 10)))

    def verdict(self, result):
        others = [v for v in VARIANTS if v != "relu"]
        beaten = [self.compare(result, v, "relu") for v in others]
        winners = [c.a for c in beaten if c.outcome == A_HIGHER]
        first = check("ReLU is a sound first choice: no other activation beats it beyond the noise",
                      CONTRADICTED if winners else SUPPORTED,
                      "; ".join(f"{c.a} {c.describe(100, '%')}" for c in beaten)
                      + (f"; beaten by {', '.join(winners)}" if winners else ""))
        return verdict([first] + [not_lower(f"{v} also works: within {100 * MARGIN:.0f} point of ReLU, or the noise",
                                            self.compare(result, v, "relu"), MARGIN) for v in others])

    def panels(self, result):
        accuracy, bars = super().panels(result)
        loss = curve_panel(result["variants"], "train_loss", "epoch", "training loss", "cross-entropy", 1.0)
        return [accuracy, loss, bars]
