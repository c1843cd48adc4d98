"""The CMSI kernel against values computed independently (by hand from the seed's formula),
limits and invariants (hypothesis), and its input errors."""

import dataclasses
import math

import astropy.units as u
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cmsi_lib import (
    InputError,
    NoSelfConsistentSolution,
    Params,
    boost,
    circular_speed,
    coherence_term,
    enhancement,
    kernel,
    radial_profile,
    rar,
    self_consistent_speed,
    source_density_term,
    velocity_term,
)

C = 299792.458  # km/s, exact by definition of the metre


def F_by_hand(R, v, s, Sig, chi0=800, gamma=1.5, alpha=0.55, ell0=2.2, sref=50, eps=0.5, n=2):
    """The seed's formula typed directly, in plain floats."""
    return 1 + chi0 * (v / C) ** 2 * (Sig / sref) ** eps * (v / s) ** (gamma * alpha) * (1 + (R / ell0) ** n) ** (
        -1 / n
    )


def test_F_at_defaults_by_hand():
    assert enhancement(8.0, 220.0, 20.0, 50.0) == pytest.approx(F_by_hand(8, 220, 20, 50), rel=1e-12)
    # F - 1 at Saturn-like inputs (~1e-12) keeps full precision in boost()
    b = 800 * (9.6 / C) ** 2 * (1.0 / 50) ** 0.5 * (9.6 / 0.5) ** 0.825 * (1 + (4.6e-8 / 2.2) ** 2) ** -0.5
    assert boost(4.6e-8, 9.6, 0.5, 1.0) == pytest.approx(b, rel=1e-13)


def test_boxed_formula_numbers():
    # The seed's boxed version: exponents 1/2, 0.825 and n = 2 at R = ell0 -> f = 2**-0.5
    v, s = 200.0, 10.0
    expected = 1 + 800 * (v / C) ** 2 * 1.0 * 20**0.825 / math.sqrt(2)
    assert enhancement(2.2, v, s, 50.0) == pytest.approx(expected, rel=1e-12)


def test_F_at_other_parameters_by_hand():
    p = Params(chi0=3e5, gamma=2.0, alpha=0.4, ell0=5.0, sigma_ref=20.0, eps=1.0, n=3.0)
    R, v, s, Sig = np.array([0.5, 3.0, 12.0]), np.array([60.0, 120.0, 95.0]), 12.0, np.array([400.0, 80.0, 3.0])
    want = [
        F_by_hand(*a, s, c, chi0=3e5, gamma=2.0, alpha=0.4, ell0=5.0, sref=20.0, eps=1.0, n=3.0)
        for a, c in zip(zip(R, v, strict=True), Sig, strict=True)
    ]
    assert enhancement(R, v, s, Sig, p) == pytest.approx(want, rel=1e-12)


def test_factors_by_hand():
    assert velocity_term(C) == pytest.approx(1.0)
    assert velocity_term(10.0) == pytest.approx((10 / C) ** 2)
    assert source_density_term(200.0) == pytest.approx(2.0)  # (200/50)**0.5
    assert coherence_term(100.0, 10.0) == pytest.approx(10**0.825)
    assert radial_profile(0.0) == 1.0
    assert radial_profile(2.2) == pytest.approx(2**-0.5)


def test_quantities_are_converted():
    F1 = enhancement(8 * u.kpc, 220 * u.km / u.s, 20 * u.km / u.s, 50 * u.Msun / u.pc**2)
    F2 = enhancement(8000 * u.pc, 220000 * u.m / u.s, 20 * u.km / u.s, 5e7 * u.Msun / u.kpc**2)
    assert F1 == pytest.approx(F_by_hand(8, 220, 20, 50)) and F2 == pytest.approx(F1)
    with pytest.raises(ValueError, match="R has unit"):
        enhancement(8 * u.s, 220, 20, 50)


def test_radial_profile_far_out_is_ell0_over_R():
    R = np.array([1e4, 1e6, 1e300])
    assert radial_profile(R) == pytest.approx(2.2 / R, rel=1e-7, abs=0)
    assert radial_profile(1e300, Params(n=0.5)) == pytest.approx(2.2e-300, rel=1e-6, abs=0)


@pytest.mark.parametrize(
    "args, match",
    [
        ((8, 220, 0.0, 50), "sigma_v must be > 0"),
        ((8, 220, -3.0, 50), "sigma_v must be > 0"),
        ((8, 220, 20, -1.0), "Sigma must be >= 0"),
        ((-1.0, 220, 20, 50), "R must be >= 0"),
        ((8, np.nan, 20, 50), "v_c contains NaN"),
        ((8, 220, 20, [50, np.inf]), "Sigma contains NaN or infinite values .at index .1."),
    ],
)
def test_nonphysical_inputs(args, match):
    with pytest.raises(InputError, match=match):
        enhancement(*args)


pos = st.floats(min_value=1e-3, max_value=1e3)
speed = st.floats(min_value=0.0, max_value=3e3)


@settings(max_examples=200, deadline=None)
@given(R=st.floats(0, 1e3), v=speed, s=pos, Sig=st.floats(0, 1e4), chi0=st.floats(0, 1e8))
def test_F_at_least_one(R, v, s, Sig, chi0):
    assert enhancement(R, v, s, Sig, Params(chi0=chi0)) >= 1.0


@settings(max_examples=100, deadline=None)
@given(R=st.floats(0, 100), v=st.floats(1, 500), s=pos, eps=st.floats(0.05, 3))
def test_F_tends_to_one_as_Sigma_vanishes(R, v, s, eps):
    p = Params(chi0=1e6, eps=eps)
    F = enhancement(R, v, s, np.array([1e-3, 1e-9, 0.0]) * 50, p) - 1
    assert F[2] == 0.0 and F[1] <= F[0]


@settings(max_examples=100, deadline=None)
@given(
    R=st.floats(0, 100),
    v=st.floats(1, 500),
    s=pos,
    Sig=st.floats(1e-2, 1e3),
    chi0=st.floats(1, 1e7),
    k=st.floats(0.1, 10),
)
def test_F_minus_one_linear_in_chi0(R, v, s, Sig, chi0, k):
    a = enhancement(R, v, s, Sig, Params(chi0=chi0)) - 1
    b = enhancement(R, v, s, Sig, Params(chi0=k * chi0)) - 1
    assert b == pytest.approx(k * a, rel=1e-9)


@settings(max_examples=100, deadline=None)
@given(
    R=st.floats(0, 100),
    v=st.floats(5, 500),
    s=pos,
    Sig=st.floats(1e-2, 1e3),
    gamma=st.floats(0, 3),
    alpha=st.floats(0, 2),
)
def test_log_slope_in_v_c_is_two_plus_gamma_alpha(R, v, s, Sig, gamma, alpha):
    p = Params(chi0=1e5, gamma=gamma, alpha=alpha)
    h = 0.1  # ln(F-1) is exactly linear in ln v_c, so a wide step is exact and avoids cancellation
    lo, hi = (boost(R, v * math.exp(d), s, Sig, p) for d in (-h, h))  # F - 1 without 1 + x round-off
    slope = (math.log(hi) - math.log(lo)) / (2 * h)
    assert slope == pytest.approx(2 + gamma * alpha, rel=1e-6)


@settings(max_examples=100, deadline=None)
@given(R=st.floats(0.1, 50), vb=st.floats(1, 400), s=st.floats(2, 100), Sig=st.floats(0.1, 1e3), chi0=st.floats(0, 3e6))
def test_self_consistent_speed_satisfies_its_equation(R, vb, s, Sig, chi0):
    p = Params(chi0=chi0)
    try:
        v = self_consistent_speed(R, vb, s, Sig, p)
    except NoSelfConsistentSolution:
        # then the map u -> vb^2 F(u) has no fixed point: iterating it must blow past any bound
        u2 = vb**2
        for _ in range(10000):
            u2 = vb**2 * enhancement(R, math.sqrt(u2), s, Sig, p)
            if u2 > 1e12:
                return
        pytest.fail("runaway was reported but the fixed-point iteration stayed bounded")
    assert v**2 == pytest.approx(vb**2 * enhancement(R, v, s, Sig, p), rel=1e-8)
    assert v >= vb


def test_runaway_is_reported_with_radii():
    with pytest.raises(NoSelfConsistentSolution, match=r"no solution at R = 1 kpc"):
        circular_speed([1.0, 20.0], [200.0, 50.0], 10.0, [500.0, 1.0], Params(chi0=1e7), vc_mode="self-consistent")


def test_vc_modes():
    R, vb, vo, s, Sig = np.array([2.0, 6.0]), np.array([100.0, -30.0]), np.array([150.0, 90.0]), 10.0, 40.0
    base = circular_speed(R, vb, s, Sig)
    assert base == pytest.approx(np.sqrt([F_by_hand(2, 100, 10, 40), F_by_hand(6, 30, 10, 40)]) * [100, 30])
    obs = circular_speed(R, vb, s, Sig, vc_mode="observed", v_obs=vo)
    assert obs == pytest.approx(np.sqrt([F_by_hand(2, 150, 10, 40), F_by_hand(6, 90, 10, 40)]) * [100, 30])
    with pytest.raises(InputError, match="needs v_obs"):
        circular_speed(R, vb, s, Sig, vc_mode="observed")
    with pytest.raises(InputError, match="vc_mode = 'bogus'"):
        circular_speed(R, vb, s, Sig, vc_mode="bogus")


# --------------------------------------------------------------------------- inversions in chi0 and of the RAR
def test_chi0_for_enhancement_hand_value():
    # F - 1 = chi0 K: F = 3 with K = 1e-3 needs chi0 = 2000; K <= 0 can never reach it
    assert kernel.chi0_for_enhancement(3.0, 1e-3) == pytest.approx(2000.0, rel=1e-14)
    assert kernel.chi0_for_enhancement(3.0, 0.0) == np.inf
    # and the kernel's own F at that chi0 is the target (K taken from the kernel at chi0 = 1)
    R, vc, sv, S = 3.0, 200.0, 30.0, 100.0
    K = kernel.boost(R, vc, sv, S, dataclasses.replace(Params(), chi0=1.0))
    chi = kernel.chi0_for_enhancement(1.5, K)
    assert kernel.enhancement(R, vc, sv, S, dataclasses.replace(Params(), chi0=float(chi))) == pytest.approx(1.5)


def test_self_consistent_F_max_is_the_tangency():
    # gamma alpha = 1 (hand value): F_max = (2 + 1)/1 = 3
    assert kernel.self_consistent_F_max(dataclasses.replace(Params(), gamma=1.0, alpha=1.0)) == pytest.approx(3.0)
    assert kernel.self_consistent_F_max(dataclasses.replace(Params(), alpha=0.0)) == np.inf


def test_self_consistent_chi0_limit_matches_the_closed_form():
    # Closed form (independent of the bisection): with u = v^2 and F - 1 = chi0 K0 u^p, p = 1 + ga/2,
    # a root of b (1 + chi0 K0 u^p) = u exists iff chi0 K0 <= b^-p p^-1 ((p-1)/p)^(p-1).
    P = Params()
    R, vb, sv, S = (
        np.array([50.0, 200.0, 800.0]),
        np.array([500.0, 900.0, 1100.0]),
        np.array([700.0, 900.0, 1000.0]),
        np.array([300.0, 100.0, 20.0]),
    )
    ga = P.gamma * P.alpha
    p = 1 + ga / 2
    K0 = kernel.source_density_term(S, P) * kernel.radial_profile(R, P) / (C**2 * sv**ga)
    b = vb**2
    exact = np.min(b**-p / p * ((p - 1) / p) ** (p - 1) / K0)
    got = kernel.self_consistent_chi0_limit(R, vb, sv, S, P, lo=1.0, hi=1e14, n_iter=40)
    assert got == pytest.approx(exact, rel=1e-6)
    assert got <= exact * (1 + 1e-9)  # a lower bound: the last chi0 that had a solution


def test_g_dagger_needed_hand_value_and_deep_mond_limit():
    # at g_bar = g_dagger the RAR gives g_obs = g_bar / (1 - 1/e): inverting returns g_dagger
    gd = 1.2e-10
    assert rar.g_dagger_needed(gd, gd / (1 - np.exp(-1))) == pytest.approx(gd, rel=1e-8)
    # deep-MOND limit g_bar << g_dagger: g_obs ~ sqrt(g_bar g_dagger), so g_dagger ~ g_obs^2 / g_bar
    g_bar, g_dag = 1e-14, 1e-10
    g_obs = np.sqrt(g_bar * g_dag)
    assert rar.g_dagger_needed(g_bar, g_obs) == pytest.approx(g_dag, rel=0.03)
    with pytest.raises(InputError):
        rar.g_dagger_needed(1e-10, 0.5e-10)
