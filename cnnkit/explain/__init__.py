"""``cnnkit.explain``: what a network sees, and which inputs drove a decision.

Attributions (NumPy arrays; ``target`` an int, one class per sample, or ``None`` for
the predicted class; the model is left untouched: weights, mode, ``requires_grad``, hooks):

* :func:`saliency`, :func:`input_x_gradient`, :func:`integrated_gradients`
  (:mod:`~cnnkit.explain.gradients`) and :func:`occlusion`
  (:mod:`~cnnkit.explain.occlusion`): ``(N, C, *S)``, the input's shape;
* :func:`grad_cam`, :func:`grad_cam_plus_plus` (:mod:`~cnnkit.explain.cam`): ``(N, *S)``
  or ``(N, *S_layer)``, for 1-D, 2-D and 3-D convolutions;
* :func:`token_relevance` (:mod:`~cnnkit.explain.text`): ``(N, L)`` for token ids;
* :func:`visualize_unit`, :func:`depth_grid` (:mod:`~cnnkit.explain.visualize`):
  activation maximisation, the input pattern a unit responds to most;
* :func:`sanity_check` (:mod:`~cnnkit.explain.sanity`): Adebayo et al.'s cascading
  model-parameter and data randomisation tests.
"""
from .cam import grad_cam, grad_cam_plus_plus, resize_linear
from .gradients import input_x_gradient, integrated_gradients, saliency
from .occlusion import occlusion
from .sanity import SanityResult, sanity_check
from .text import token_relevance
from .visualize import DepthGrid, UnitPattern, depth_grid, visualize_unit

__all__ = ["saliency", "input_x_gradient", "integrated_gradients", "occlusion", "grad_cam", "grad_cam_plus_plus",
           "resize_linear", "token_relevance", "visualize_unit", "depth_grid", "UnitPattern", "DepthGrid",
           "sanity_check", "SanityResult"]
