"""``cnnkit.viz``: pictures of feature maps and kernels (matplotlib: ``pip install cnnkit[plot]``)."""
from .feature_maps import conv_layer_names, feature_maps, save_feature_grid, save_kernel_grid

__all__ = ["feature_maps", "save_feature_grid", "save_kernel_grid", "conv_layer_names"]
