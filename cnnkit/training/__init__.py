"""``cnnkit.training``: a small, explicit training loop and the recipes that use it.

* :mod:`~cnnkit.training.loop`: one epoch, evaluation, Ctrl-C handling;
* :mod:`~cnnkit.training.fit`: epochs + checkpoints + metrics JSON + resume;
* :mod:`~cnnkit.training.mnist`: LeNet-5 on MNIST;
* :mod:`~cnnkit.training.mr`: TextCNN (Kim 2014) on MR with k-fold cross-validation.
"""
from .fit import fit
from .loop import Meter, StopFlag, epoch_order, evaluate, predict, train_epoch

__all__ = ["fit", "Meter", "StopFlag", "epoch_order", "evaluate", "predict", "train_epoch"]
