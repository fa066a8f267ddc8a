"""Verdicts: what the numbers say about a claim, as a list of checks, each computed.

A check is ``{"what", "status", "detail"}`` with ``status`` one of

* ``"supported"``: the numbers agree with the claim (an exact count, or a difference
  in the claimed direction beyond the noise of :mod:`cnnkit.lab.stats`);
* ``"contradicted"``: they disagree beyond the noise;
* ``"inconclusive"``: the difference is within the noise (or there is one run).

The verdict of a claim combines its checks: ``supported`` when all are, ``contradicted``
when some are and none is supported, ``mixed`` when both occur, ``partly supported``
when some are supported and the rest inconclusive, ``inconclusive`` otherwise.
"""
from __future__ import annotations

from typing import Sequence

from .stats import A_HIGHER, B_HIGHER, RULE, TOO_FEW, WITHIN_NOISE, Comparison

SUPPORTED, CONTRADICTED, INCONCLUSIVE = "supported", "contradicted", "inconclusive"
MIXED, PARTLY = "mixed", "partly supported"
STATUSES = (SUPPORTED, CONTRADICTED, INCONCLUSIVE)
OVERALL = (SUPPORTED, CONTRADICTED, INCONCLUSIVE, MIXED, PARTLY)


def check(what: str, status: str, detail: str) -> dict:
    if status not in STATUSES:
        raise ValueError(f"check: status must be one of {STATUSES}, got {status!r}")
    return {"what": what, "status": status, "detail": detail}


def exact(what: str, holds: bool, detail: str) -> dict:
    """A check on exact numbers (counts, receptive fields): supported or contradicted."""
    return check(what, SUPPORTED if holds else CONTRADICTED, detail)


def _pct(c: Comparison, scale: float, unit: str, digits: int = 2) -> str:
    return (f"{c.a} {c.mean_a * scale:,.{digits}f}{unit} vs {c.b} {c.mean_b * scale:,.{digits}f}{unit}: "
            f"difference {c.describe(scale, unit, digits)}")


def higher(what: str, c: Comparison, scale: float = 100.0, unit: str = "%", digits: int = 2) -> dict:
    """The claim says ``c.a`` is higher than ``c.b`` (e.g. more accurate); values are shown
    multiplied by ``scale`` with ``digits`` decimals and ``unit``."""
    detail = _pct(c, scale, unit, digits)
    if c.outcome == TOO_FEW:
        return check(what, INCONCLUSIVE, detail + "; one run, no noise estimate")
    if c.outcome == WITHIN_NOISE:
        return check(what, INCONCLUSIVE, detail + "; within the noise")
    status = SUPPORTED if c.outcome == A_HIGHER else CONTRADICTED
    return check(what, status, detail + ("; beyond the noise" if status == SUPPORTED else "; the other way, beyond the noise"))


def not_lower(what: str, c: Comparison, margin: float, scale: float = 100.0, unit: str = "%") -> dict:
    """The claim says ``c.a`` is about as good as ``c.b`` ("still works"): supported when ``a``
    is within the noise of ``b``, higher, or lower by at most ``margin``; contradicted when
    lower than that beyond the noise."""
    detail = _pct(c, scale, unit)
    if c.outcome == TOO_FEW:
        return check(what, INCONCLUSIVE, detail + "; one run, no noise estimate")
    if c.outcome in (WITHIN_NOISE, A_HIGHER):
        return check(what, SUPPORTED, detail + ("; within the noise" if c.outcome == WITHIN_NOISE else "; higher"))
    if -c.difference <= margin:
        return check(what, SUPPORTED, detail + f"; lower beyond the noise but by at most {margin * scale:.2f}{unit}")
    return check(what, CONTRADICTED, detail + f"; lower by more than {margin * scale:.2f}{unit}")


def combine(checks: Sequence[dict]) -> str:
    """The overall status of ``checks`` (see the module docstring)."""
    statuses = [c["status"] for c in checks]
    if not statuses:
        return INCONCLUSIVE
    n_sup, n_con = statuses.count(SUPPORTED), statuses.count(CONTRADICTED)
    if n_sup == len(statuses):
        return SUPPORTED
    if n_con and n_sup:
        return MIXED
    if n_con:
        return CONTRADICTED
    return PARTLY if n_sup else INCONCLUSIVE


def verdict(checks: Sequence[dict]) -> dict:
    """``{"status", "summary", "checks", "rule"}``: the summary lists each check's status."""
    checks = list(checks)
    status = combine(checks)
    summary = f"{status}: " + "; ".join(f"{c['what']} ({c['status']})" for c in checks)
    return {"status": status, "summary": summary, "checks": checks, "rule": RULE}


__all__ = ["check", "exact", "higher", "not_lower", "combine", "verdict", "SUPPORTED", "CONTRADICTED",
           "INCONCLUSIVE", "MIXED", "PARTLY", "OVERALL", "B_HIGHER"]
