"""``cnnkit.animate``: exact animations of convolution, transposed convolution, pooling and
the separable convolutions, forward and backward, with every number computed by cnnkit.

* :func:`frame_data` — the plain data of every frame (:class:`FrameData`, JSON ready).
"""
from .frames import FrameData, frame_data
from .options import OPS, parse_padding, parse_size

__all__ = ["frame_data", "FrameData", "OPS", "parse_padding", "parse_size"]
