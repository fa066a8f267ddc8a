"""N-d convolution on NumPy arrays: the forward / transposed pair and the weight gradient.
No autograd here; :mod:`cnnkit.functional.conv` wraps these.

Shapes (``n`` spatial axes, ``g`` groups, ``K`` the kernel shape):

* ``conv_nd``:            x ``(N, C, *S)``, w ``(O, C/g, *K)`` -> ``(N, O, *Out)``
* ``conv_transpose_nd``:  y ``(N, O, *Out)``, w ``(O, C/g, *K)`` -> ``(N, C, *S)``
  (the adjoint of ``conv_nd`` in ``x``: ``<conv_nd(x), y> = <x, conv_transpose_nd(y)>``;
  the input gradient of ``conv_nd`` *and* the forward of ``ConvTranspose``)
* ``conv_weight_grad``:   x ``(N, C, *S)``, gy ``(N, O, *Out)`` -> ``(O, C/g, *K)``

Read :mod:`cnnkit._core.conv_reference` for the algorithm (pad, gather the windows, one
matrix product; its adjoint; the weight gradient). The functions here are the fast engine
(:mod:`cnnkit._core.fast`): the same results, computed in cache-sized tiles on every core
(:func:`cnnkit.set_num_threads`). The tests hold the two equal, and both equal to PyTorch.
"""
from __future__ import annotations

from .fast.conv import conv_nd, conv_weight_grad
from .fast.transpose import conv_transpose_nd

__all__ = ["conv_nd", "conv_transpose_nd", "conv_weight_grad"]
