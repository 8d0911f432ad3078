"""Small exact statistics for success rates: Wilson intervals and paired/unpaired comparisons.

Benchmark success rates are binomial with small n per task; normal-approximation intervals lie
at 0% and 100%, so intervals are Wilson's. Comparisons of two runs are paired when the same
(task, seed) ran in both (exact McNemar test on the discordant pairs) and fall back to Fisher's
exact test otherwise. Pure Python: no scipy needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval for a binomial proportion; (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return lo, hi


def binom_two_sided(k: int, n: int) -> float:
    """Exact two-sided p-value of k successes in n trials at p = 0.5 (McNemar's exact test)."""
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(0, min(k, n - k) + 1)) / 2**n
    return min(1.0, 2 * tail)


def fisher_exact(a: int, b: int, c: int, d: int) -> float:
    """Two-sided Fisher exact p-value for the 2x2 table [[a, b], [c, d]]."""
    row1, row2, col1, n = a + b, c + d, a + c, a + b + c + d
    if n == 0:
        return 1.0

    def prob(x: int) -> float:
        return math.comb(row1, x) * math.comb(row2, col1 - x) / math.comb(n, col1)

    observed = prob(a)
    lo, hi = max(0, col1 - row2), min(row1, col1)
    return min(1.0, sum(p for x in range(lo, hi + 1) if (p := prob(x)) <= observed * (1 + 1e-9)))


@dataclass(frozen=True)
class Comparison:
    """Success of A vs B on one task (or overall)."""

    n_a: int
    n_b: int
    rate_a: float
    rate_b: float
    delta: float
    p_value: float
    test: str  # "mcnemar" (paired seeds) or "fisher" (unpaired)
    paired: int  # pairs used by the paired test
    only_a_wins: int = 0
    only_b_wins: int = 0


def compare(a: dict[str, bool], b: dict[str, bool]) -> Comparison:
    """Compare two runs' outcomes keyed by unit (task#seed): paired on shared keys, else unpaired."""
    rate = lambda xs: sum(xs) / len(xs) if xs else 0.0  # noqa: E731
    rate_a, rate_b = rate(list(a.values())), rate(list(b.values()))
    shared = sorted(a.keys() & b.keys())
    if shared:
        only_a = sum(1 for k in shared if a[k] and not b[k])
        only_b = sum(1 for k in shared if b[k] and not a[k])
        pa = rate([a[k] for k in shared])
        pb = rate([b[k] for k in shared])
        return Comparison(
            n_a=len(a),
            n_b=len(b),
            rate_a=pa,
            rate_b=pb,
            delta=pb - pa,
            p_value=binom_two_sided(only_a, only_a + only_b),
            test="mcnemar",
            paired=len(shared),
            only_a_wins=only_a,
            only_b_wins=only_b,
        )
    sa, sb = sum(a.values()), sum(b.values())
    p = fisher_exact(sa, len(a) - sa, sb, len(b) - sb)
    return Comparison(
        n_a=len(a), n_b=len(b), rate_a=rate_a, rate_b=rate_b, delta=rate_b - rate_a, p_value=p, test="fisher", paired=0
    )
