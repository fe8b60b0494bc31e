"""Statistics against values computed by hand (and one published value)."""

from __future__ import annotations

import math
from random import Random

import pytest

from analysis import stats
from analysis.stats import (
    clustered_gap,
    clustered_rate,
    holm,
    mcnemar_p,
    paired_difference,
    prompt_shares,
    sign_flip_p,
    wilson,
)


def test_wilson_matches_newcombe_1998_example() -> None:
    # Newcombe (1998), Statistics in Medicine 17:857, example 81/263: 0.2553 to 0.3662.
    low, high = wilson(81, 263)
    assert low == pytest.approx(0.2553, abs=5e-5) and high == pytest.approx(0.3662, abs=5e-5)


def test_wilson_by_hand_at_the_edges() -> None:
    # k = 0, n = 10, z = 1.959964: centre = (z^2/20) / (1 + z^2/10) = 0.19207/1.38415 = 0.138767
    # half = z * sqrt(z^2/400) / 1.38415 = 1.959964 * 0.0979982 / 1.38415 = 0.138767
    low, high = wilson(0, 10)
    assert low == pytest.approx(0.0, abs=1e-12) and high == pytest.approx(0.277533, abs=1e-6)
    assert wilson(10, 10) == pytest.approx((1 - 0.277533, 1.0), abs=1e-6)
    assert wilson(0, 0) == (0.0, 1.0)


def test_mcnemar_exact_p_by_hand() -> None:
    # 2 vs 9 discordant pairs: 2 * (C(11,0) + C(11,1) + C(11,2)) / 2^11 = 2 * 67 / 2048
    assert mcnemar_p(2, 9) == pytest.approx(134 / 2048)
    assert mcnemar_p(9, 2) == mcnemar_p(2, 9)
    assert mcnemar_p(5, 5) == 1.0 and mcnemar_p(0, 0) == 1.0
    # 0 vs 6: 2 / 64
    assert mcnemar_p(0, 6) == pytest.approx(2 / 64)


def test_paired_difference_newcombe_method_10_by_hand() -> None:
    # Pairs: both 10, free only 8, paid only 2, neither 20 (n = 40).
    # p1 = 18/40 = 0.45, p2 = 12/40 = 0.30, d = 0.15.
    # Wilson(18, 40): z^2 = 3.841459; centre = (0.45 + z^2/80) / (1 + z^2/40) = 0.454382;
    #   half = z * sqrt(0.45 * 0.55 / 40 + z^2 / 6400) / 1.096036 = 0.147329 -> (0.307053, 0.601711)
    # Wilson(12, 40) likewise -> (0.180748, 0.454300).
    # phi: A = 18 * 22 * 12 * 28 = 133056; ad - bc = 200 - 16 = 184 > n/2, so C = 184 - 20 = 164;
    #      phi = 164 / sqrt(133056) = 0.449599.
    # lower = d - sqrt((0.45 - l1)^2 - 2 phi (0.45 - l1)(u2 - 0.30) + (u2 - 0.30)^2)
    #       = 0.15 - 0.156234 = -0.006234
    # upper = d + sqrt((u1 - 0.45)^2 - 2 phi (u1 - 0.45)(0.30 - l2) + (0.30 - l2)^2)
    #       = 0.15 + 0.144806 = 0.294806
    assert wilson(18, 40) == pytest.approx((0.307053, 0.601711), abs=5e-6)
    assert wilson(12, 40) == pytest.approx((0.180748, 0.454300), abs=5e-6)
    phi = 164 / math.sqrt(133056)
    l1, u1, l2, u2 = 0.307053, 0.601709, 0.180748, 0.454300
    down = math.sqrt((0.45 - l1) ** 2 - 2 * phi * (0.45 - l1) * (u2 - 0.3) + (u2 - 0.3) ** 2)
    up = math.sqrt((u1 - 0.45) ** 2 - 2 * phi * (u1 - 0.45) * (0.3 - l2) + (0.3 - l2) ** 2)
    gap = paired_difference(10, 8, 2, 20)
    assert gap.difference == pytest.approx(0.15)
    assert gap.low == pytest.approx(0.15 - down, abs=2e-5)
    assert gap.high == pytest.approx(0.15 + up, abs=2e-5)
    assert (gap.low, gap.high) == pytest.approx((-0.006234, 0.294806), abs=2e-5)
    assert gap.p_value == pytest.approx(mcnemar_p(8, 2))  # 2 * 56 / 1024 = 0.109375
    assert gap.p_value == pytest.approx(0.109375)


def test_paired_difference_without_pairs_is_uninformative() -> None:
    gap = paired_difference(0, 0, 0, 0)
    assert (gap.low, gap.high, gap.p_value) == (-1.0, 1.0, 1.0)


def test_holm_by_hand() -> None:
    # sorted 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.6, 0.9]) == [1.0, 1.0] and holm([]) == [] and holm([0.2]) == [0.2]


def test_the_sign_flip_test_is_mcnemars_for_one_pair_per_prompt() -> None:
    assert sign_flip_p([1] * 9 + [-1] * 3 + [0] * 88) == pytest.approx(mcnemar_p(9, 3))
    assert sign_flip_p([0, 0]) == 1.0


def test_the_sign_flip_test_holds_at_thousands_of_discordant_prompts() -> None:
    # 2**2,000 sign patterns: dividing by it as a float raised OverflowError, so a report
    # with 1,024 or more discordant prompts in one condition could not be built.
    assert sign_flip_p([1.0] * 1100 + [-1.0] * 900) == pytest.approx(mcnemar_p(1100, 900))
    # 250,000 prompts, McNemar's test by its normal approximation: z = 999 / 500.
    p = sign_flip_p([1.0] * 125_500 + [-1.0] * 124_500)
    assert p == pytest.approx(math.erfc(999 / 500 / math.sqrt(2)), abs=1e-3)


def test_mcnemar_in_log_space_is_the_exact_binomial_tail() -> None:
    for first, second in [(9, 3), (0, 7), (40, 60), (150, 149), (300, 211)]:
        n = first + second
        exact = min(1, 2 * sum(math.comb(n, i) for i in range(min(first, second) + 1)) / 2**n)
        assert mcnemar_p(first, second) == pytest.approx(exact, rel=1e-9)


def test_the_sign_flip_test_beyond_its_exact_size_is_close_to_exact(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    random = Random(7)
    for samples in (2, 3, 5):
        # free complies a little more often than paid: p-values neither 0 nor 1
        free = [
            min(samples, random.randint(0, samples) + (random.random() < 0.1)) for _ in range(900)
        ]
        differences = [(a - random.randint(0, samples)) / samples for a in free]
        monkeypatch.setattr(stats, "EXACT_WORK", 10**12)
        exact = sign_flip_p(differences)
        monkeypatch.setattr(stats, "EXACT_WORK", 0)
        assert sign_flip_p(differences) == pytest.approx(exact, abs=1e-3)


def test_the_sign_flip_test_on_fractional_differences_by_hand() -> None:
    # Differences 1, 2/3, -1/3 (in thirds: 3, 2, -1; observed sum 4). Of the 8 sign patterns
    # the sums are +-6, +-4, +-2, 0, 0: four reach |4|, so p = 4/8.
    assert sign_flip_p([1, 2 / 3, -1 / 3]) == pytest.approx(0.5)


def test_clustered_rate_weighs_each_prompt_once() -> None:
    value, low, high = clustered_rate([1.0, 2 / 3, 0.0, 0.0])
    assert value == pytest.approx(5 / 12)
    assert (low, high) == pytest.approx(wilson(5 / 3, 4))
    # A prompt's samples repeated change nothing.
    shares = prompt_shares([(True, False)] * 3)
    assert shares == (0.0, 1.0, 0.0, 0.0)
    gap = clustered_gap([shares, prompt_shares([(False, False)])])
    assert gap.difference == pytest.approx(0.5) and gap.n == 2
