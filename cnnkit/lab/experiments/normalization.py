"""``normalization``: no normalisation vs batch norm vs layer norm, and BN vs LN at small batches.

The network (``channels = C``, ``hidden = H``; ``norm`` is nothing, batch norm or layer norm)::

    conv 3x3 1 -> C, norm, ReLU, max pool 2 | conv 3x3 C -> 2C, norm, ReLU, max pool 2
    flatten, linear 2C*49 -> H, norm, ReLU | linear H -> 10

Batch norm is ``BatchNorm2d`` after a convolution (statistics per channel over the batch and
the positions) and ``BatchNorm1d`` after the linear layer (statistics per unit over the batch
alone: at batch 2 every unit is normalised to -1 or +1); layer norm is PyTorch's
``LayerNorm((C, H, W))`` / ``LayerNorm(H)``: each sample normalised over all its units, the
same whatever the batch.

Trained with SGD (momentum 0.9) at each batch size ``b`` of ``batch_sizes`` with the learning
rate scaled linearly, ``lr * b / max(batch_sizes)`` (Goyal et al. 2017), so every batch size
takes the same step per sample. The curve is evaluated ``curve_points`` times; a run's
``samples_to_target`` is the first point where the curve set's accuracy reaches
``target_accuracy`` (``None`` when it never does; the verdict then counts all samples seen).
"""
from __future__ import annotations

from ... import nn
from ..experiment import Table
from ..figure import Panel, Series, curve_panel
from ..stats import Comparison, compare, contrast, outcome
from ..verdict import higher, verdict
from ._common import MnistExperiment, sequential

NORMS = ("none", "batch-norm", "layer-norm")


def variant_name(norm: str, batch: int) -> str:
    return f"{norm}-b{batch}"


def parse(variant: str) -> tuple[str, int]:
    norm, _, batch = variant.rpartition("-b")
    return norm, int(batch)


class Normalization(MnistExperiment):
    name = "normalization"
    claim = "batch norm and layer norm speed up convergence; batch norm depends on the batch size"
    quote = ("LN是“横”着来的，对一个样本，不同的神经元neuron间做归一化。BN是“竖”着来的，各个维度做归一化，所以与batch size有关系。"
             "二者提出的目的都是为了加快模型收敛，减少训练时间。")
    measures = ("MNIST, the same CNN without normalisation, with BN and with LN: training-loss curves and the "
                "samples needed to reach a fixed test accuracy (batch 64); BN vs LN at batch sizes 2, 8, 64")
    full = dict(channels=8, hidden=64, train_size=8000, test_size=10000, epochs=2, batch_sizes=[2, 8, 64], lr=0.05,
                optimizer="sgd", curve_points=20, curve_size=1000, target_accuracy=0.95)
    quick = dict(train_size=6000, test_size=2000, epochs=2, curve_points=12, curve_size=500)
    tiny = dict(channels=2, hidden=4, train_size=64, test_size=32, epochs=1, batch_sizes=[2, 16], curve_points=2,
                curve_size=32, target_accuracy=0.2)
    seeds = {"full": 5, "quick": 2, "tiny": 1}

    def variants(self, config):
        sizes = sorted(config["batch_sizes"])
        return ([variant_name(n, sizes[-1]) for n in NORMS]
                + [variant_name(n, b) for b in reversed(sizes[:-1]) for n in NORMS[1:]])

    def build(self, variant, config):
        norm, _ = parse(variant)

        c, h = config["channels"], config["hidden"]

        def make(*shape: int):
            if norm == "batch-norm":
                return (nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d)(shape[0])
            return nn.LayerNorm(shape) if norm == "layer-norm" else None

        return sequential(("conv1", nn.Conv2d(1, c, 3, padding=1)), ("norm1", make(c, 28, 28)), ("act1", nn.ReLU()),
                          ("pool1", nn.MaxPool2d(2)),
                          ("conv2", nn.Conv2d(c, 2 * c, 3, padding=1)), ("norm2", make(2 * c, 14, 14)),
                          ("act2", nn.ReLU()), ("pool2", nn.MaxPool2d(2)), ("flatten", nn.Flatten()),
                          ("fc1", nn.Linear(2 * c * 49, h)), ("norm3", make(h)), ("act3", nn.ReLU()),
                          ("fc2", nn.Linear(h, 10)))

    def hyper(self, variant, config):
        _, batch = parse(variant)
        h = super().hyper(variant, {**config, "batch_size": batch})
        h["lr"] = config["lr"] * batch / max(config["batch_sizes"])
        return h

    def describe(self, variant, config):
        info = super().describe(variant, config)
        h = self.hyper(variant, config)
        return {**info, "batch_size": h["batch_size"], "lr": h["lr"]}

    def run(self, variant, seed, config):
        out = super().run(variant, seed, config)
        reached = [s for s, a in zip(out["curve"]["samples"], out["curve"]["test_accuracy"])
                   if a >= config["target_accuracy"]]
        out["metrics"] = {"samples_to_target": reached[0] if reached else None}
        return out

    def _to_target(self, result, variant):
        """Samples to the target per run; a run that never reached it counts all it saw (a lower bound)."""
        config = result["config"]
        seen = config["epochs"] * config["train_size"]
        return [r["metrics"]["samples_to_target"] if r["metrics"]["samples_to_target"] is not None else seen
                for r in self.variant(result, variant)["runs"]]

    def verdict(self, result):
        big, small = max(result["config"]["batch_sizes"]), min(result["config"]["batch_sizes"])
        none, bn, ln = (variant_name(n, big) for n in NORMS)
        checks = []
        for norm in (bn, ln):
            checks.append(higher(f"{norm} reaches {100 * result['config']['target_accuracy']:.0f}% test accuracy "
                                 f"with fewer samples than {none}",
                                 compare(none, self._to_target(result, none), norm, self._to_target(result, norm)),
                                 scale=1.0, unit=" samples", digits=0))
        bn_small, ln_small = variant_name("batch-norm", small), variant_name("layer-norm", small)
        groups = [(1.0, self.values(result, bn)), (-1.0, self.values(result, bn_small)),
                  (-1.0, self.values(result, ln)), (1.0, self.values(result, ln_small))]
        value, se = contrast(groups)
        bn_drop, _ = contrast(groups[:2])
        ln_drop, _ = contrast([(1.0, groups[2][1]), (-1.0, groups[3][1])])
        n = min(len(g[1]) for g in groups)
        c = Comparison(f"BN's accuracy loss from batch {big} to {small}", "LN's", bn_drop, ln_drop, n, n, value, se,
                       outcome(value, se))
        checks.append(higher(f"batch norm loses more accuracy than layer norm when the batch shrinks from {big} to "
                             f"{small}", c))
        return verdict(checks)

    def tables(self, result):
        target = 100 * result["config"]["target_accuracy"]
        rows = []
        for v in result["variants"]:
            reached = [r["metrics"]["samples_to_target"] for r in v["runs"]]
            shown = ", ".join("not reached" if s is None else f"{s:,}" for s in reached)
            std = f" ± {100 * v['std_accuracy']:.2f}" if v["std_accuracy"] is not None else ""
            rows.append([v["name"], str(v["batch_size"]), f"{v['lr']:.4g}", shown,
                         f"{100 * v['mean_accuracy']:.2f}{std}"])
        return [Table(f"samples to {target:.0f}% test accuracy (per seed) and final accuracy",
                      ["variant", "batch", "lr", f"samples to {target:.0f}%", "final test accuracy (%)"], rows)]

    def panels(self, result):
        big = max(result["config"]["batch_sizes"])
        main = [self.variant(result, variant_name(n, big)) for n in NORMS]
        loss = curve_panel(main, "train_loss", "samples", f"training loss, batch {big}", "cross-entropy", 1.0)
        acc = curve_panel(main, "test_accuracy", "samples", f"test accuracy, batch {big}")
        sizes = sorted(result["config"]["batch_sizes"])
        by_batch = Panel("final accuracy by batch size", "batch size", "test accuracy (%)", logx=True, series=[
            Series(norm, sizes, [100 * self.variant(result, variant_name(norm, b))["mean_accuracy"] for b in sizes],
                   [100 * (self.variant(result, variant_name(norm, b))["std_accuracy"] or 0.0) for b in sizes])
            for norm in NORMS[1:]])
        return [loss, acc, by_batch]
