"""Tests for pixelagg.reports.noise: the budget's shares and OpenDP's discrete Laplace noise."""

from __future__ import annotations

import math
import statistics

import pytest

from pixelagg.reports.noise import Budget, add_noise, variance


@pytest.mark.parametrize("uniques", [True, False], ids=["uniques", "counts-only"])
def test_one_open_and_one_click_spend_epsilon(uniques):
    """A recipient who opens once and clicks once is in one cell of each histogram: ε in all."""
    budget = Budget(1.0, uniques=uniques)
    assert budget.per_open() + budget.per_click() == pytest.approx(1.0)


@pytest.mark.parametrize("uniques", [True, False], ids=["uniques", "counts-only"])
def test_opens_and_clicks_split_epsilon_seven_to_three(uniques):
    """Opens keep 0.7 ε and clicks take 0.3 ε, with uniques or counts only."""
    budget = Budget(1.0, uniques=uniques)
    assert (budget.per_open(), budget.per_click()) == pytest.approx((0.7, 0.3))


def test_repeat_clicks_spend_all_but_the_first_clicks_share():
    """Further clicks of the same clicker add the clicks', links' and regions' shares."""
    assert Budget(1.0).per_repeat_click() == pytest.approx(0.2)
    assert Budget(1.0, uniques=False).per_repeat_click() == pytest.approx(0.3)


def test_declined_requests_have_their_own_epsilon():
    """A declined request is counted nowhere else, so its histogram may use the whole ε."""
    assert Budget(0.5).shares[("x", "d")] * 0.5 == pytest.approx(0.5)


def test_repeat_opens_spend_only_the_load_shares():
    """Further opens of the same visitor add the loads' and regions' shares, not the uniques'."""
    budget = Budget(1.0)
    assert budget.per_repeat_open() == pytest.approx(0.42)
    assert Budget(1.0, uniques=False).per_repeat_open() == pytest.approx(0.7)


def test_scale_is_sensitivity_over_share():
    """A cell's scale is 1 / (share x ε): halving ε doubles it."""
    assert Budget(1.0).scale("u", "p") == pytest.approx(1 / 0.175)
    assert Budget(0.5).scale("u", "p") == pytest.approx(2 / 0.175)


def test_counts_only_releases_no_first_opens_or_clicks():
    """Without uniques there is no first-open or first-click histogram to release."""
    assert all(kind not in ("u", "q") for kind, _ in Budget(1.0, uniques=False).histograms())


def test_noise_is_integer_and_centred():
    """Noisy counts are integers whose mean is the count and whose variance is the formula's.

    OpenDP's generator cannot be seeded, so the sample is large enough that both tolerances are
    over six standard deviations: the mean's sd is sqrt(32 / n) = 0.02, and the sample
    variance's relative sd is sqrt((kurtosis 6 - 1) / n) = 0.8 %.
    """
    noisy = add_noise([100] * 80_000, 4.0)
    assert all(isinstance(v, int) for v in noisy)
    assert statistics.fmean(noisy) == pytest.approx(100, abs=0.25)
    assert statistics.pvariance(noisy) == pytest.approx(variance(4.0), rel=0.06)


def test_noise_is_fresh_per_call():
    """Two samples of the same counts differ: the generator is not reseeded per call."""
    assert add_noise([0] * 200, 4.0) != add_noise([0] * 200, 4.0)


def test_variance_approaches_continuous_laplace():
    """For a large scale the discrete variance tends to the continuous 2·scale²."""
    assert variance(100.0) == pytest.approx(2 * 100.0**2, rel=0.001)
    assert variance(1.0) == pytest.approx(2 * math.e / (math.e - 1) ** 2)


def test_empty_input_needs_no_sampling():
    """No cells, no noise."""
    assert add_noise([], 4.0) == []
