"""Statistics of repeated runs: mean, standard deviation, and when a difference is noise.

The rule (one, used by every verdict): two variants ``a`` and ``b`` measured over
``n_a`` and ``n_b`` seeds differ when

    |mean_a - mean_b| > 2 * SE,   SE = sqrt(s_a**2 / n_a + s_b**2 / n_b)

with ``s`` the sample standard deviation (``ddof=1``). ``SE`` is the standard error of
the difference of the means (Welch's, unpooled); 2 SE is about a 95% interval for many
runs, and wider than it looks for few: with 3 seeds each a difference of 2 SE is
significant only at about p = 0.12 by Welch's t-test, so "differs" here is a lenient
call and "within the noise" a strong one. With fewer than two runs on either side there
is no noise estimate and the comparison says so.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

#: How many standard errors a difference must exceed to count.
K_SE = 2.0
RULE = ("a difference counts when |mean_a - mean_b| > 2 SE, SE = sqrt(s_a^2/n_a + s_b^2/n_b) "
        "(s: sample standard deviation over seeds); otherwise it is within the noise")

#: :attr:`Comparison.outcome` values.
A_HIGHER, B_HIGHER, WITHIN_NOISE, TOO_FEW = "a higher", "b higher", "within noise", "too few runs"


def mean_std(values: Iterable[float]) -> tuple[float | None, float | None]:
    """``(mean, sample std with ddof=1)``; the std is ``None`` for fewer than 2 values,
    both are ``None`` for none."""
    xs = [float(v) for v in values]
    if not xs:
        return None, None
    mean = math.fsum(xs) / len(xs)
    if len(xs) < 2:
        return mean, None
    return mean, math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (len(xs) - 1))


@dataclass(frozen=True)
class Comparison:
    """``a`` vs ``b`` on one measure (see the module docstring for the rule)."""

    a: str
    b: str
    mean_a: float
    mean_b: float
    n_a: int
    n_b: int
    difference: float  # mean_a - mean_b
    standard_error: float | None
    outcome: str  # A_HIGHER, B_HIGHER, WITHIN_NOISE or TOO_FEW

    @property
    def significant(self) -> bool | None:
        """True when the difference counts, False when within the noise, None without a noise estimate."""
        return None if self.outcome == TOO_FEW else self.outcome != WITHIN_NOISE

    def as_dict(self) -> dict:
        return asdict(self)

    def describe(self, scale: float = 1.0, unit: str = "", digits: int = 2) -> str:
        """E.g. ``"+0.42% (2 SE = 0.20%)"``: the difference and twice its SE, multiplied by ``scale``."""
        se = ("no SE (one run)" if self.standard_error is None
              else f"2 SE = {K_SE * self.standard_error * scale:,.{digits}f}{unit}")
        return f"{self.difference * scale:+,.{digits}f}{unit} ({se})"


def contrast(groups: Sequence[tuple[float, Sequence[float]]]) -> tuple[float, float | None]:
    """``(value, SE)`` of ``sum(c_i * mean_i)`` over independent groups ``(c_i, values_i)``:
    ``SE = sqrt(sum(c_i**2 * s_i**2 / n_i))`` (``None`` when a group has fewer than 2 values).
    ``mean_a - mean_b`` is the contrast ``[(1, a), (-1, b)]``; a difference of differences
    ``(a - b) - (c - d)`` is ``[(1, a), (-1, b), (-1, c), (1, d)]``."""
    value, var = 0.0, 0.0
    for c, values in groups:
        mean, std = mean_std(values)
        if mean is None:
            raise ValueError("contrast: every group needs at least one value")
        value += c * mean
        var = None if var is None or std is None else var + c * c * std * std / len(values)
    return value, (None if var is None else math.sqrt(var))


def outcome(value: float, se: float | None, k: float = K_SE) -> str:
    """:data:`A_HIGHER` (value > k SE), :data:`B_HIGHER` (value < -k SE), :data:`WITHIN_NOISE` or :data:`TOO_FEW`."""
    if se is None:
        return TOO_FEW
    if abs(value) > k * se:
        return A_HIGHER if value > 0 else B_HIGHER
    return WITHIN_NOISE


def compare(a: str, a_values: Sequence[float], b: str, b_values: Sequence[float], k: float = K_SE) -> Comparison:
    """Compare the runs of ``a`` with those of ``b`` by the rule of the module docstring."""
    if len(a_values) == 0 or len(b_values) == 0:
        raise ValueError(f"compare: both sides need at least one value, got {len(a_values)} for {a!r} "
                         f"and {len(b_values)} for {b!r}")
    diff, se = contrast([(1.0, a_values), (-1.0, b_values)])
    return Comparison(a, b, mean_std(a_values)[0], mean_std(b_values)[0], len(a_values), len(b_values), diff, se,
                      outcome(diff, se, k))


def aggregate(values: Sequence) -> dict | None:
    """Mean and std over runs of equally shaped metrics: numbers become ``{"mean", "std"}``,
    dicts are aggregated key by key (keys present in every run), lists element by element.
    Anything else (strings, ``None``) is dropped (``None`` is returned)."""
    if not values:
        return None
    first = values[0]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        mean, std = mean_std(values)
        return {"mean": mean, "std": std}
    if all(isinstance(v, dict) for v in values):
        keys = [k for k in first if all(k in v for v in values)]
        out = {k: aggregate([v[k] for v in values]) for k in keys}
        return {k: v for k, v in out.items() if v is not None} or None
    if all(isinstance(v, list) for v in values) and len({len(v) for v in values}) == 1:
        out = [aggregate([v[i] for v in values]) for i in range(len(first))]
        return out if all(o is not None for o in out) else None
    return None
