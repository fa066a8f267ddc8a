"""The experiments, one module per claim of the study text, in the order of ``cnnkit lab list``."""
from __future__ import annotations

from ..experiment import Experiment
from .activation import Activation
from .dilation import Dilation
from .inductive_bias import InductiveBias
from .normalization import Normalization
from .pooling import Pooling
from .separable import Separable
from .stacking import Stacking
from .text_head import TextHead

EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in (
    Stacking(), Dilation(), Separable(), Pooling(), Normalization(), Activation(), TextHead(), InductiveBias())}


def get_experiment(name: str) -> Experiment:
    """The experiment called ``name`` (``ValueError`` listing the names otherwise)."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; the experiments are: {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]
