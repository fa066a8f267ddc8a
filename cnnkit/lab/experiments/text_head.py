"""``text-head``: which normalisation the fully connected head of a text CNN wants, on MR.

Kim's TextCNN (CNN-rand, :func:`cnnkit.models.textcnn`: embedding, 1-D convolutions of widths
3/4/5 with ReLU, max over time, then the head) with three heads, all with dropout 0.5:
``ln-dropout`` (layer norm, the study text's NLP recipe), ``bn-dropout`` (batch norm, the study text's CV
recipe) and ``dropout`` (no normalisation, Kim's). The data are the 10,662 MR sentences with
Kim's preprocessing (:func:`cnnkit.training.mr.prepare_mr`), split into ``folds`` stratified
folds (:func:`cnnkit.data.kfold_splits`, seed 0); each "seed" of this experiment is one fold:
train on the other folds for ``epochs`` epochs (Adam, Kim's max-norm 3 on the output layer),
test on it. The full run is 10-fold cross-validation; ``--quick`` runs 3 of the 10 folds.
Embeddings and maps are smaller than Kim's (``embed_dim``, ``maps``) to fit the time budget.
"""
from __future__ import annotations

from ...data import kfold_splits
from ...models import textcnn
from ...random import manual_seed
from .. import data
from ..experiment import Experiment, run_seed
from ..verdict import higher, verdict
from ..train import fit

HEADS = {"ln-dropout": "ln", "bn-dropout": "bn", "dropout": "linear"}


class TextHead(Experiment):
    name = "text-head"
    claim = "in NLP the fully connected head of a (shallow, 1-D, max-pooled) CNN uses LN + dropout, in CV BN + dropout"
    quote = ("NLP|CV：卷积核 多为一维卷积， 通常都是由较为浅层的卷积层组成|一般设为叠加的3×3卷积核；"
             "Pooling 一般采用 Max-Pooling；全连接层 一般常采用LN + dropout|一般常采用BN + dropout")
    measures = ("MR sentence polarity, TextCNN with an LN + dropout, a BN + dropout or a dropout-only head: "
                "cross-validated test accuracy")
    full = dict(folds=10, limit=None, embed_dim=64, maps=50, windows=[3, 4, 5], dropout=0.5, epochs=4,
                batch_size=50, lr=1e-3, optimizer="adam", max_norm=3.0)
    quick = dict(epochs=3)
    tiny = dict(folds=2, limit=300, embed_dim=8, maps=4, epochs=1)
    seeds = {"full": 10, "quick": 3, "tiny": 1}
    variant_names = tuple(HEADS)
    input_dtype = "int64"

    def max_seeds(self, config):
        return config["folds"]

    def dataset(self, config):
        return data.mr(max(config["windows"]), config["limit"])

    def prepare(self, config):
        self.dataset(config)

    def input_shape(self, config):
        ids, _, _ = self.dataset(config)
        return (1, ids.shape[1])

    def build(self, variant, config):
        _, _, vocab = self.dataset(config)
        return textcnn(vocab, config["embed_dim"], tuple(config["windows"]), config["maps"], 2, config["dropout"],
                       HEADS[variant])

    def describe(self, variant, config):
        info = super().describe(variant, config)
        info["receptive_field"] = [max(config["windows"])]  # the widest window; max over time follows
        return info

    def run(self, variant, seed, config):
        ids, labels, _ = self.dataset(config)
        train_idx, test_idx = kfold_splits(len(labels), config["folds"], seed=0, labels=labels)[seed]
        rs = run_seed(self.name, variant, seed)
        manual_seed(rs)
        model = self.build(variant, config)
        out = fit(model, (ids[train_idx], labels[train_idx]), (ids[test_idx], labels[test_idx]), seed=rs,
                  epochs=config["epochs"], batch_size=config["batch_size"], lr=config["lr"],
                  optimizer=config["optimizer"], after_step=lambda: model.max_norm_(config["max_norm"]))
        return {"seed": int(seed), "fold": int(seed) + 1, **out}

    def verdict(self, result):
        return verdict([higher("LN + dropout beats BN + dropout on text", self.compare(result, "ln-dropout", "bn-dropout")),
                        higher("LN + dropout beats dropout alone on text", self.compare(result, "ln-dropout", "dropout"))])
