"""``cnnkit.optim``: optimizers and learning-rate schedulers with PyTorch's
names, defaults, update formulas and state-dict layout."""
from . import lr_scheduler
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "lr_scheduler"]
from .adadelta import Adadelta  # noqa: E402

__all__ += ["Adadelta"]
