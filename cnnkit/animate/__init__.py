"""``cnnkit.animate``: exact animations of convolution, transposed convolution, pooling and
the separable convolutions, forward and backward, with every number computed by cnnkit.

* :func:`frame_data` — the plain data of every frame (:class:`FrameData`, JSON ready);
* :func:`animate` — the frames drawn with Pillow (:class:`Animation`: ``save`` a GIF,
  ``_repr_html_`` shows it inline in Jupyter);
* :func:`gallery` — Dumoulin & Visin's set and the study text's examples, with an index page.

Compute first, draw second: the renderer only reads :class:`FrameData`.
"""
from .animation import Animation, animate
from .frames import FrameData, frame_data
from .gallery import GALLERY, gallery
from .options import OPS, parse_padding, parse_size

__all__ = ["frame_data", "FrameData", "animate", "Animation", "gallery", "GALLERY", "OPS", "parse_padding",
           "parse_size"]
