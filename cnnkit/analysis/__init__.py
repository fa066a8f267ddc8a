"""``cnnkit.analysis``: model summaries (shapes, parameters, multiply-adds) and receptive fields.

* :func:`summary` — a torchinfo-style table with the receptive field of every layer;
* :func:`receptive_field` — the per-layer fields alone;
* :mod:`cnnkit.analysis.receptive_field` — the pure field math;
* :mod:`cnnkit.analysis.zoo` — small named models for the ``cnnkit summary`` command.
"""
from .receptive_field import AxisField, Flat
from .summary import LayerField, LayerRow, Summary, receptive_field, summary

__all__ = ["summary", "Summary", "LayerRow", "LayerField", "receptive_field", "AxisField", "Flat"]
