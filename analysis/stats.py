"""Statistics for rates and paired comparisons, from the standard library alone.

- `wilson`: the Wilson score interval for a rate (good coverage at small n and near 0 or 1,
  where the textbook Wald interval collapses to a point).
- `mcnemar_p`: McNemar's exact test for paired binary outcomes (free vs paid copies of the
  same prompt): a two-sided binomial test on the discordant pairs.
- `paired_difference`: Newcombe's (1998) method 10 interval for a difference of paired
  proportions, built from the two Wilson intervals and the pairs' correlation.
- `holm`: Holm's step-down adjustment of p-values for many comparisons at once.
- `bootstrap_ratio`: a percentile bootstrap interval for a ratio of paired rates.
- `clustered_rate`, `clustered_gap`: the same, with the prompt as the unit of analysis.

Seeds and samples of one prompt are not independent observations: three seeds of 100
prompts are not 300 prompts, and with greedy decoding they are 100 prompts three times.
The clustered forms give each prompt one unit of weight, split evenly over its samples:
a rate is Wilson's interval over prompts (each contributing its share of successes), the gap
is Newcombe's interval over the prompts' paired 2x2 shares, and its p-value is the
sign-flip (randomisation) test of the per-prompt differences, which is McNemar's exact test
when every prompt has one pair (exact at any size; `sign_flip_p` says when it
approximates). Copies of a prompt's samples change nothing: duplicated seeds give exactly
the interval and p-value of one seed.

When many conditions are compared (models x variants), the per-comparison p-values and 95%
intervals overstate the evidence: the report adds Holm-adjusted p-values (family-wise error
over the sweep's gaps) and says so. scipy and statsmodels are not dependencies: these few
formulas are short and tested against published and hand-computed values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson(successes: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of successes/n; (0, 1) when n is 0 (nothing is known).
    Fractional counts are allowed: a prompt with 2 of 3 samples complying adds 2/3."""
    if n == 0:
        return 0.0, 1.0
    z = _z(confidence)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def mcnemar_p(only_first: int, only_second: int) -> float:
    """Exact two-sided McNemar p-value from the discordant pair counts.

    Under the null a discordant pair is equally likely either way: Binomial(b + c, 1/2).
    """
    n = only_first + only_second
    if n == 0:
        return 1.0
    return min(1.0, 2 * _half_binomial_tail(min(only_first, only_second), n))


def _half_binomial_tail(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2), its terms summed in log space: the exact counts
    are integers of up to n bits: summing them took 21 s at 20,000 pairs, 277 s at 50,000."""
    log_n = math.lgamma(n + 1) - n * math.log(2)
    terms = [log_n - math.lgamma(i + 1) - math.lgamma(n - i + 1) for i in range(k + 1)]
    top = max(terms)
    return math.exp(top) * math.fsum(math.exp(t - top) for t in terms)


@dataclass(frozen=True)
class PairedDifference:
    """p(first) - p(second) over n pairs, its interval, and McNemar's p-value."""

    n: int
    first: float
    second: float
    difference: float
    low: float
    high: float
    p_value: float


def paired_difference(
    both: int, only_first: int, only_second: int, neither: int, confidence: float = 0.95
) -> PairedDifference:
    """Newcombe's method 10 for the paired table [[both, only_first], [only_second, neither]],
    with McNemar's exact p-value."""
    p1, p2, d, low, high = newcombe(both, only_first, only_second, neither, confidence)
    n = both + only_first + only_second + neither
    return PairedDifference(n, p1, p2, d, low, high, mcnemar_p(only_first, only_second))


def newcombe(
    both: float, only_first: float, only_second: float, neither: float, confidence: float = 0.95
) -> tuple[float, float, float, float, float]:
    """(p1, p2, p1 - p2, low, high): Newcombe's method 10 interval, fractional counts allowed
    (a prompt's pairs add up to one)."""
    n = both + only_first + only_second + neither
    if n == 0:
        return 0.0, 0.0, 0.0, -1.0, 1.0
    p1, p2 = (both + only_first) / n, (both + only_second) / n
    l1, u1 = wilson(both + only_first, n, confidence)
    l2, u2 = wilson(both + only_second, n, confidence)
    phi = _correlation(both, only_first, only_second, neither)
    d = p1 - p2
    down = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    up = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return p1, p2, d, max(-1.0, d - down), min(1.0, d + up)


def holm(p_values: list[float]) -> list[float]:
    """Holm-adjusted p-values, in the input's order: the i-th smallest p is multiplied by
    (m - i), clipped to 1, and kept at least as large as the adjusted p before it."""
    m = len(p_values)
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(sorted(range(m), key=lambda i: p_values[i])):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def _correlation(a: float, b: float, c: float, d: float) -> float:
    """The pairs' phi coefficient, continuity-corrected toward 0 as Newcombe prescribes."""
    n = a + b + c + d
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    if margins == 0:
        return 0.0
    cross = a * d - b * c
    corrected = cross - n / 2 if cross > n / 2 else (cross if cross < 0 else 0.0)
    return corrected / math.sqrt(margins)


def bootstrap_ratio(
    after: list[bool], before: list[bool], resamples: int = 2000, seed: int = 0
) -> tuple[float | None, float | None]:
    """A percentile bootstrap interval (95%) for rate(after) / rate(before), resampling
    paired items (the same prompts evaluated twice). None where `before` never fires."""
    import random

    if len(after) != len(before) or not before:
        raise ValueError("after and before must pair the same non-empty set of items")
    rng = random.Random(seed)
    n = len(before)
    ratios = []
    for _ in range(resamples):
        picks = [rng.randrange(n) for _ in range(n)]
        fired_before = sum(before[i] for i in picks)
        if fired_before:
            ratios.append(sum(after[i] for i in picks) / fired_before)
    if len(ratios) < resamples / 2:  # the ratio is undefined in most resamples
        return None, None
    ratios.sort()
    return ratios[int(0.025 * len(ratios))], ratios[int(0.975 * len(ratios)) - 1]


def clustered_rate(shares: list[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """A rate over prompts from each prompt's share of successes in [0, 1]: the mean share
    and Wilson's interval with the prompts as n (conservative when samples vary within a
    prompt, exact for one sample per prompt)."""
    n = len(shares)
    if n == 0:
        return 0.0, 0.0, 1.0
    low, high = wilson(sum(shares), n, confidence)
    return sum(shares) / n, low, high


# One prompt's pairs as shares: (both, first only, second only, neither), summing to 1.
PairShares = tuple[float, float, float, float]


def prompt_shares(pairs: list[tuple[bool, bool]]) -> PairShares:
    """The 2x2 shares of one prompt's (first, second) pairs: one unit of weight in all."""
    k = len(pairs)
    both = sum(a and b for a, b in pairs) / k
    first = sum(a and not b for a, b in pairs) / k
    second = sum(b and not a for a, b in pairs) / k
    return both, first, second, 1 - both - first - second


def clustered_gap(prompts: list[PairShares], confidence: float = 0.95) -> PairedDifference:
    """p(first) - p(second) with each prompt weighing one: Newcombe's interval over the
    summed shares and the sign-flip test of the per-prompt differences."""
    both, first, second, neither = (sum(p[i] for p in prompts) for i in range(4))
    interval = newcombe(both, first, second, neither, confidence)
    return PairedDifference(len(prompts), *interval, sign_flip_p([p[1] - p[2] for p in prompts]))


# Per-prompt differences are multiples of 1/k for k samples per prompt; scaled by this
# they become integers (up to rounding), so the test's null distribution is exact.
_SCALE = 2520  # lcm(1..10): exact for up to 10 samples per prompt
# The most steps (prompts x the largest sum) the exact null distribution is built in: half a
# second in Python. Beyond, the normal approximation: measured within 0.0002 of the exact
# p-value already at 700 to 1,500 prompts of 2 to 5 samples (tests/analysis/test_stats.py).
EXACT_WORK = 2_000_000


def sign_flip_p(differences: list[float]) -> float:
    """Two-sided p-value of the paired randomisation test: under the null each prompt's
    difference is as likely to have either sign, and the statistic is their sum. With
    differences of +-1 and 0 this is McNemar's exact test, at any number of prompts; other
    differences (several samples per prompt) get the exact null distribution while it takes
    at most EXACT_WORK steps to build, and its normal approximation beyond (a sum of many
    independent signs: there the two agree to within 0.001)."""
    scaled = [round(d * _SCALE) for d in differences]
    steps = [abs(d) for d in scaled if d]
    if not steps:
        return 1.0
    unit = math.gcd(*steps)  # fewer distinct sums: +-1 differences give n + 1 of them
    steps = [d // unit for d in steps]
    observed = abs(sum(scaled)) // unit
    n = len(steps)
    if all(step == 1 for step in steps):  # the sum reaches `observed` when K <= (n - it) / 2
        return mcnemar_p((n - observed) // 2, n - (n - observed) // 2)
    if n * sum(steps) > EXACT_WORK:
        # The sums have the parity of sum(steps), two apart: half that is the correction.
        sigma = math.sqrt(sum(step * step for step in steps))
        return min(1.0, math.erfc(max(0, observed - 1) / (sigma * math.sqrt(2))))
    chances: dict[int, float] = {0: 1.0}  # sum -> chance of the sign patterns reaching it
    for step in steps:
        grown: dict[int, float] = {}
        for total, chance in chances.items():
            for signed in (total + step, total - step):
                grown[signed] = grown.get(signed, 0.0) + chance / 2
        chances = grown
    return min(1.0, math.fsum(p for total, p in chances.items() if abs(total) >= observed))
