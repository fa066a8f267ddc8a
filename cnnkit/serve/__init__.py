"""``cnnkit serve``: the CNN explorer in the browser, offline, on any cnnkit checkpoint.

Four pages (HTML, CSS and JavaScript in ``static/``, no build step, no CDN) over a JSON API
(:mod:`cnnkit.serve.app`): **Draw** a digit and watch every layer of a LeNet-5 respond;
**Kernels**: filter a sample or uploaded picture with the study text's kernels or your own;
**Arithmetic**: animate a convolution or pooling configuration, with its output-size formula
and receptive field; **Model**: the summary table with receptive fields, a layer's feature
maps, saliency and Grad-CAM.

Needs the ``serve`` extra (``pip install -e ".[serve]"``: Starlette, uvicorn, python-multipart).
"""
from __future__ import annotations

__all__ = ["create_app"]


def create_app(*args, **kwargs):
    """See :func:`cnnkit.serve.app.create_app`."""
    from .._optional import require
    require("starlette", extra="serve", purpose="the explorer (cnnkit serve)")
    require("multipart", extra="serve", purpose="uploads to the explorer")
    from .app import create_app as make
    return make(*args, **kwargs)
