"""``cnnkit.nn``: layers as thin modules over :mod:`cnnkit.functional`."""
from . import init
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d
from .linear import Flatten, Identity, Linear
from .module import Module, ModuleList, Sequential
from .parameter import Parameter
from .pooling import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d, AdaptiveMaxPool1d, AdaptiveMaxPool2d,
                      AdaptiveMaxPool3d, AvgPool1d, AvgPool2d, AvgPool3d, MaxPool1d, MaxPool2d, MaxPool3d)
from .activation import ELU, LeakyReLU, LogSoftmax, Maxout, ReLU, Sigmoid, Softmax, Tanh
from .normalization import BatchNorm1d, BatchNorm2d, BatchNorm3d, LayerNorm
from .dropout import Dropout, Dropout1d, Dropout2d
from .sparse import Embedding
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss

__all__ = [
    "init", "Module", "Sequential", "ModuleList", "Parameter",
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
    "Linear", "Identity", "Flatten",
    "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d",
    "ReLU", "LeakyReLU", "ELU", "Tanh", "Sigmoid", "Softmax", "LogSoftmax", "Maxout",
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "Dropout", "Dropout1d", "Dropout2d", "Embedding",
    "CrossEntropyLoss", "NLLLoss", "MSELoss", "BCEWithLogitsLoss",
]
from .separable import DepthwiseConv2d, SeparableConv2d, SpatiallySeparableConv2d  # noqa: E402

__all__ += ["DepthwiseConv2d", "SeparableConv2d", "SpatiallySeparableConv2d"]
