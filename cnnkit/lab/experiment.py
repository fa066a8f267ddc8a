"""What an experiment is: a claim of the study text, its variants, one run per (variant, seed),
and the verdict, figure panels and tables computed from the results.

A subclass of :class:`Experiment` gives the claim and configurations and implements
:meth:`~Experiment.variants`, :meth:`~Experiment.build`, :meth:`~Experiment.input_shape`,
:meth:`~Experiment.run` and :meth:`~Experiment.verdict`; the runner
(:mod:`cnnkit.lab.runner`) schedules the runs and assembles ``results.json``.

Configurations come in three profiles: ``full`` (the documented run, >= 3 seeds),
``quick`` (minutes, ``--quick``) and ``tiny`` (seconds; the tests). A profile is the
full configuration updated by the profile's entries; ``overrides`` (``--set KEY=VALUE``)
change single keys of it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from fractions import Fraction
from typing import ClassVar

from ..nn.module import Module
from .figure import Panel, bar_panel, curve_panel
from .stats import Comparison, compare

PROFILES = ("full", "quick", "tiny")


@dataclass
class Table:
    """A table for the report: ``rows`` of cell strings under ``headers``."""

    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)


def run_seed(experiment: str, variant: str, seed: int) -> int:
    """The seed of one run: a hash of ``(experiment, variant, seed)`` (31 bits), so a run does not
    depend on which worker ran it nor on what else ran before."""
    digest = hashlib.sha256(f"{experiment}/{variant}/{int(seed)}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def _coerce(key: str, value, default):
    """``value`` with the type of ``default`` (ints are accepted for floats)."""
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif default is None:
        ok = True
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise ValueError(f"config key {key!r} must be of type {type(default).__name__} (like {default!r}), "
                         f"got {value!r}")
    return value


def field_sizes(fields) -> list | str | None:
    """Receptive-field sizes per axis as ints (floats when fractional); ``"global"`` when every
    axis sees the whole input; ``None`` when unknown."""
    if not fields or any(getattr(f, "size", None) is None for f in fields):
        return None
    if all(f.is_global for f in fields):
        return "global"
    sizes = [Fraction(f.size) for f in fields]
    return [int(v) if v.denominator == 1 else float(v) for v in sizes]


#: Layer types that start a classifier head (what reads the features).
HEAD_TYPES = ("Flatten", "Linear", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d")


def feature_field(summary) -> list | str | None:
    """The receptive field of the features the head reads: the output of the leaf layer just
    before the first head layer (:data:`HEAD_TYPES`), as :func:`field_sizes`; ``None`` when the
    model starts with its head (an MLP)."""
    rows = summary.leaf_rows
    for k, row in enumerate(rows):
        if row.type in HEAD_TYPES:
            return field_sizes(rows[k - 1].field) if k else None
    return field_sizes(rows[-1].field) if rows else None


class Experiment:
    """One claim of the study text as an experiment; see the module docstring."""

    name: ClassVar[str] = ""
    claim: ClassVar[str] = ""  #: the study text's claim, in English
    quote: ClassVar[str] = ""  #: the study text's own words
    measures: ClassVar[str] = ""
    full: ClassVar[dict] = {}
    quick: ClassVar[dict] = {}
    tiny: ClassVar[dict] = {}
    seeds: ClassVar[dict[str, int]] = {"full": 3, "quick": 2, "tiny": 1}
    variant_names: ClassVar[tuple[str, ...]] = ()
    input_dtype: ClassVar[str] = "float32"

    # -------------------------------------------------------------- configuration
    def config(self, profile: str = "full", overrides: dict | None = None) -> dict:
        """The configuration of ``profile`` with ``overrides`` applied (keys must exist)."""
        if profile not in PROFILES:
            raise ValueError(f"{self.name}: profile must be one of {PROFILES}, got {profile!r}")
        config = {**self.full, **{"full": {}, "quick": self.quick, "tiny": self.tiny}[profile]}
        for key, value in (overrides or {}).items():
            if key not in config:
                raise ValueError(f"{self.name}: unknown config key {key!r}; the keys are {', '.join(sorted(config))}")
            config[key] = _coerce(key, value, config[key])
        return {"profile": profile, **config}

    def default_seeds(self, profile: str) -> int:
        return self.seeds[profile]

    def max_seeds(self, config: dict) -> int | None:
        """The most seeds a run can have (``None``: no limit; text-head: one per fold)."""
        return None

    # ------------------------------------------------------------ to implement
    def variants(self, config: dict) -> list[str]:
        """The variants' names (default: :attr:`variant_names`)."""
        if not self.variant_names:
            raise NotImplementedError
        return list(self.variant_names)

    def build(self, variant: str, config: dict) -> Module:
        """A freshly initialised model of ``variant`` (from cnnkit's default generator)."""
        raise NotImplementedError

    def input_shape(self, config: dict) -> tuple[int, ...]:
        """The shape of one input sample, batch included (e.g. ``(1, 1, 28, 28)``)."""
        raise NotImplementedError

    def run(self, variant: str, seed: int, config: dict) -> dict:
        """Train and evaluate one model: ``{"seed", "test_accuracy", "train_time_s", "curve", ["metrics"]}``."""
        raise NotImplementedError

    def verdict(self, result: dict) -> dict:
        """What the numbers of ``result`` say about the claim (:func:`cnnkit.lab.verdict.verdict`)."""
        raise NotImplementedError

    # ------------------------------------------------------------ defaults
    def prepare(self, config: dict) -> None:
        """Called once before the runs start (in the calling process): load or generate the
        data, so that a missing data set fails at once and workers find caches filled."""

    def summarize(self, variant: str, config: dict):
        """:func:`cnnkit.summary` of ``variant`` (initialised from seed 0) for one sample."""
        from ..analysis import summary
        from ..analysis.zoo import _seeded

        with _seeded(0):
            model = self.build(variant, config)
        return summary(model, self.input_shape(config), dtype=self.input_dtype, depth=10 ** 6)

    @staticmethod
    def facts(s) -> dict:
        """``params`` (trainable), ``macs`` (multiply-adds per sample) and ``receptive_field`` (of
        the features the head reads, sizes per input axis) from a summary ``s``."""
        return {"params": s.trainable_params, "macs": s.total_macs, "receptive_field": feature_field(s)}

    def describe(self, variant: str, config: dict) -> dict:
        """Static facts of a variant (:meth:`facts` of :meth:`summarize`), stored in its entry."""
        return self.facts(self.summarize(variant, config))

    def analyse(self, config: dict) -> dict:
        """Numbers that need no training (e.g. a model's parameter counts); stored as ``extra``."""
        return {}

    def panels(self, result: dict) -> list[Panel]:
        """Figure panels: test-accuracy curves (mean ± std) and the final accuracies."""
        return [curve_panel(result["variants"]), bar_panel(result["variants"])]

    def tables(self, result: dict) -> list[Table]:
        """Extra tables for the report (the variants' table is always there)."""
        return []

    # ------------------------------------------------------------ helpers
    @staticmethod
    def variant(result: dict, name: str) -> dict:
        for v in result["variants"]:
            if v["name"] == name:
                return v
        raise KeyError(f"no variant {name!r} in the results; variants: {[v['name'] for v in result['variants']]}")

    def values(self, result: dict, name: str, key: str = "test_accuracy") -> list[float]:
        """``run[key]`` (or ``run["metrics"]`` entry, dotted for nesting) of every run of variant ``name``."""
        out = []
        for r in self.variant(result, name)["runs"]:
            value = r
            for part in key.split("."):
                value = value[part] if part in value else value["metrics"][part]
            out.append(value)
        return out

    def compare(self, result: dict, a: str, b: str, key: str = "test_accuracy") -> Comparison:
        return compare(a, self.values(result, a, key), b, self.values(result, b, key))
