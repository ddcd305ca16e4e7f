"""Sample ratio mismatch: do the exposure counts fit the configured weights?

A chi-square goodness-of-fit test of the counts against the weights. A p-value under
0.001 (the threshold GrowthBook and most platforms use) flags a mismatch, which means
the assignment or the exposure logging is broken, not that a variant won.

The chi-square survival function is the regularized upper incomplete gamma function
Q(df/2, x/2), computed in pure Python as in Numerical Recipes (series below a + 1,
Lentz's continued fraction above), so no SciPy is needed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from actors.experiments.model import Experiment

__all__ = [
    "SRM_P_THRESHOLD",
    "chi2_sf",
    "chi_square_srm",
    "experiment_stats",
    "gamma_q",
    "srm_detected",
]

SRM_P_THRESHOLD = 0.001

_EPS = 1e-15
_TINY = 1e-300
_MAX_ITERATIONS = 10_000


def _gamma_p_series(a: float, x: float) -> float:
    """P(a, x) by its series; converges fast for x < a + 1."""
    term = total = 1.0 / a
    ap = a
    for _ in range(_MAX_ITERATIONS):
        ap += 1.0
        term *= x / ap
        total += term
        if abs(term) < abs(total) * _EPS:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _gamma_q_continued_fraction(a: float, x: float) -> float:
    """Q(a, x) by its continued fraction (modified Lentz); for x >= a + 1."""
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_ITERATIONS):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _TINY:
            d = _TINY
        c = b + an / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def gamma_q(a: float, x: float) -> float:
    """The regularized upper incomplete gamma function Q(a, x), for a > 0, x >= 0."""
    if a <= 0 or x < 0 or math.isnan(x):
        raise ValueError("gamma_q needs a > 0 and x >= 0")
    if x == 0:
        return 1.0
    if math.isinf(x):
        return 0.0
    if x < a + 1.0:
        return max(0.0, 1.0 - _gamma_p_series(a, x))
    return min(1.0, _gamma_q_continued_fraction(a, x))


def chi2_sf(x: float, df: float) -> float:
    """P(X >= x) for X chi-square distributed with `df` degrees of freedom."""
    if df <= 0:
        raise ValueError("df must be positive")
    if x <= 0:
        return 1.0
    return gamma_q(df / 2.0, x / 2.0)


def chi_square_srm(
    counts: Sequence[int], weights: Sequence[float]
) -> tuple[float, float]:
    """`(statistic, p_value)` of the counts against the weights (any positive scale).

    No observations: `(0.0, 1.0)`. A variant of weight 0 with no observations adds
    nothing (and no degree of freedom); one with observations is an infinite mismatch
    (`(inf, 0.0)`).
    """
    if len(counts) != len(weights):
        raise ValueError("counts and weights must have the same length")
    if any(c < 0 for c in counts) or any(w < 0 for w in weights):
        raise ValueError("counts and weights must not be negative")
    total = sum(counts)
    weight_sum = sum(weights)
    if total == 0 or weight_sum <= 0:
        return 0.0, 1.0
    statistic = 0.0
    cells = 0
    for observed, weight in zip(counts, weights):
        expected = total * weight / weight_sum
        if expected == 0:
            if observed:
                return math.inf, 0.0
            continue
        cells += 1
        statistic += (observed - expected) ** 2 / expected
    if cells < 2:
        return statistic, 1.0
    return statistic, chi2_sf(statistic, cells - 1)


def srm_detected(p_value: float) -> bool:
    return p_value < SRM_P_THRESHOLD


def experiment_stats(experiment: Experiment, counts: Mapping[str, int]) -> dict[str, Any]:
    """The `experiments.stats` result: exposures per variant (every variant listed, in
    order; counts for names the experiment does not have are ignored) and the SRM test."""
    per_variant = {name: int(counts.get(name, 0)) for name in experiment.variant_names}
    _, p_value = chi_square_srm(list(per_variant.values()), experiment.weights())
    return {
        "counts": per_variant,
        "srm_p_value": p_value,
        "srm_detected": srm_detected(p_value),
    }
