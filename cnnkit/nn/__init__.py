"""``cnnkit.nn``: layers as thin modules over :mod:`cnnkit.functional`."""
from . import init
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d
from .linear import Flatten, Identity, Linear
from .module import Module, ModuleList, Sequential
from .parameter import Parameter

__all__ = [
    "init", "Module", "Sequential", "ModuleList", "Parameter",
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
    "Linear", "Identity", "Flatten",
]
from .separable import DepthwiseConv2d, SeparableConv2d, SpatiallySeparableConv2d  # noqa: E402

__all__ += ["DepthwiseConv2d", "SeparableConv2d", "SpatiallySeparableConv2d"]
