"""cmsi_lib.log_slope against independent computations: finite differences of kernel.py's F (each v_c
mode, random points and parameters), by-hand limits, the sign claims, and a fit that recovers a known model."""

import math

import numpy as np
import pytest
from scipy import optimize, special

from cmsi_lib import kernel
from cmsi_lib import log_slope as ls
from cmsi_lib.errors import InputError, ParameterError
from cmsi_lib.params import Params

H = 1e-5  # step in ln R of the centred finite differences


# analytic test curves with slopes by hand: R [kpc], speeds [km/s], Sigma [Msun/pc^2]
def v_bar(R, V0=150.0, r0=2.0):  # ln v = ln V0 + ln y - 3/4 ln(1 + y^2): s_bar = 1 - (3/2) y^2/(1 + y^2)
    y = R / r0
    return V0 * y / (1 + y**2) ** 0.75


def s_bar(R, r0=2.0):
    y2 = (R / r0) ** 2
    return 1 - 1.5 * y2 / (1 + y2)


def v_obs(R, Vf=160.0, rt=1.5):  # s_obs = 1/(1 + y^2)
    y = R / rt
    return Vf * y / np.sqrt(1 + y**2)


def s_obs(R, rt=1.5):
    return 1 / (1 + (R / rt) ** 2)


def Sigma(R, S0=600.0, Rd=2.5):
    return S0 * np.exp(-R / Rd)


def sigma_v(R, a=0.5, floor=10.0):  # sigma^2 = a Sigma + floor^2 (the "stellar-disk" form); w = a Sigma/sigma^2
    return np.sqrt(a * Sigma(R) + floor**2)


def w_of(R, a=0.5, floor=10.0):
    return a * Sigma(R) / (a * Sigma(R) + floor**2)


def random_params(rng, chi0=None):
    return Params(chi0=chi0 if chi0 is not None else 10 ** rng.uniform(1, 6), gamma=rng.uniform(0, 3),
                  alpha=rng.uniform(0, 1.5), ell0=rng.uniform(0.3, 10), sigma_ref=rng.uniform(5, 300),
                  eps=rng.uniform(0, 1.5), n=rng.uniform(0.5, 5))  # fmt: skip


def fd_log_boost(R, vc_of_R, p, sv=sigma_v):
    lo, hi = R * math.exp(-H), R * math.exp(H)
    b = [kernel.boost(r, vc_of_R(r), sv(r), Sigma(r), p) for r in (lo, hi)]
    return (math.log(b[1]) - math.log(b[0])) / (2 * H)


def formula(R, s_vc, p, stellar_sigma=True):
    ga = p.gamma * p.alpha
    s_sig = ls.stellar_disk_sigma_v_slope(-R / 2.5, w_of(R)) if stellar_sigma else 0.0
    return float(ls.slope_fixed_vc(s_vc, ls.exp_disk_sigma_slope(R, 2.5), s_sig, R / p.ell0, p.eps, ga, p.n))


@pytest.mark.parametrize("mode", ["baryonic", "observed"])
def test_fixed_vc_slope_equals_finite_differences_of_kernel(mode):
    rng = np.random.default_rng(11)
    vc, s_vc = (v_bar, s_bar) if mode == "baryonic" else (v_obs, s_obs)
    worst = 0.0
    for _ in range(200):
        p, R = random_params(rng), rng.uniform(0.05, 30)
        worst = max(worst, abs(fd_log_boost(R, vc, p) - formula(R, s_vc(R), p)))
    assert worst < 1e-6


def test_constant_sigma_v_has_no_sigma_term():
    rng = np.random.default_rng(3)
    for _ in range(50):
        p, R = random_params(rng), rng.uniform(0.05, 30)
        fd = fd_log_boost(R, v_bar, p, sv=lambda r: 12.0)
        assert fd == pytest.approx(formula(R, s_bar(R), p, stellar_sigma=False), abs=1e-6)


def sc_speed(R, p):
    return float(kernel.self_consistent_speed(R, v_bar(R), sigma_v(R), Sigma(R), p, rtol=1e-14))


def test_self_consistent_slope_equals_finite_differences_of_kernel():
    rng = np.random.default_rng(5)
    tested, worst = 0, 0.0
    for _ in range(150):
        p, R = random_params(rng, chi0=1.0), rng.uniform(0.1, 25)
        ga = p.gamma * p.alpha
        # chi0 such that the baryonic-mode F - 1 at R is b: a range of F up to near the runaway threshold
        b = rng.uniform(0.02, 0.8)
        p = Params(**{**p.as_dict(), "chi0": b / kernel.boost(R, v_bar(R), sigma_v(R), Sigma(R), p)})
        try:
            v = sc_speed(R, p)
            fd = fd_log_boost(R, lambda r, q=p: sc_speed(r, q), p)
        except kernel.NoSelfConsistentSolution:
            continue
        F = float(kernel.enhancement(R, v, sigma_v(R), Sigma(R), p))
        want = ls.slope_self_consistent(formula(R, s_bar(R), p), F, ga)
        worst = max(worst, abs(fd - want) / max(1.0, abs(want)))
        # and the slope of v itself, (2 s_bar + phi Q)/(2 - (2 + g) phi)
        Q = formula(R, s_bar(R), p) - (2 + ga) * s_bar(R)
        fd_v = (math.log(sc_speed(R * math.exp(H), p)) - math.log(sc_speed(R * math.exp(-H), p))) / (2 * H)
        assert fd_v == pytest.approx(float(ls.vc_slope_self_consistent(s_bar(R), Q, F, ga)), rel=1e-5, abs=1e-6)
        tested += 1
    assert tested > 80
    assert worst < 1e-5


def test_self_consistent_amplifies_but_keeps_the_sign():
    # 1 - p phi > 0 below F = p/(p-1): the self-consistent slope has the baryonic sign and a larger size
    ga = 0.825
    p = 1 + ga / 2
    F = np.linspace(1.0001, p / (p - 1) - 1e-6, 50)
    for s in (-2.0, -0.1, 0.3):
        out = ls.slope_self_consistent(s, F, ga)
        assert np.all(np.sign(out) == np.sign(s)) and np.all(np.abs(out) >= abs(s))


def test_profile_slope_limits_and_by_hand():
    assert ls.profile_slope(1.0, 2.0) == pytest.approx(-0.5)  # -x^n/(1+x^n) at x = 1
    assert ls.profile_slope(0.5, 3.0) == pytest.approx(-0.125 / 1.125)
    assert abs(ls.profile_slope(1e-6, 2.0)) < 1e-11  # R << ell0: 0 (as -x^n)
    assert ls.profile_slope(1e6, 2.0) == pytest.approx(-1.0, abs=1e-11)  # R >> ell0: -1
    assert ls.profile_slope(1e300, 0.5) == pytest.approx(-1.0, abs=1e-100)  # no overflow
    with pytest.raises(InputError, match="n"):
        ls.profile_slope(1.0, 0.0)


def test_kernel_limits_R_much_smaller_and_larger_than_ell0():
    # constant v_c, sigma_v, Sigma: s_F is the profile's slope alone, 0 for R << ell0 and -1 for R >> ell0
    for ell0, want in ((1e4, 0.0), (1e-4, -1.0)):
        p = Params(ell0=ell0)
        b = [kernel.boost(r, 200.0, 10.0, 50.0, p) for r in (3.0 * math.exp(-H), 3.0 * math.exp(H))]
        assert (math.log(b[1]) - math.log(b[0])) / (2 * H) == pytest.approx(want, abs=1e-6)


def freeman_v2(R, Rd=1.0):  # v^2 = 4 pi G Sigma0 Rd y^2 [I0K0 - I1K1] (unscaled Bessels), y = R/(2 Rd)
    y = R / (2 * Rd)
    return y**2 * (special.i0(y) * special.k0(y) - special.i1(y) * special.k1(y))


def test_freeman_slope_against_finite_differences_and_limits():
    R = np.array([0.05, 0.3, 1.0, 2.0, 3.0, 6.0, 15.0])
    fd = (np.log(freeman_v2(R * math.exp(H))) - np.log(freeman_v2(R * math.exp(-H)))) / (4 * H)
    assert np.allclose(ls.freeman_speed_slope(R, 1.0), fd, atol=1e-7)
    peak = optimize.brentq(lambda r: ls.freeman_speed_slope(r, 1.0), 1.0, 4.0)
    assert 2.1 < peak < 2.2  # Freeman's peak at R = 2.15 R_d
    assert ls.freeman_speed_slope(1e4, 1.0) == pytest.approx(-0.5, abs=1e-3)  # Keplerian far out
    y = 0.5e-8  # near the centre v^2 ~ y^2 (ln(1/y) + const): s -> 1 - 1/(2 ln(1/y)) -> 1, slowly
    assert ls.freeman_speed_slope(1e-8, 1.0) == pytest.approx(1 - 1 / (2 * math.log(1 / y)), abs=0.01)


def test_sign_in_the_params_domain_baryonic_and_self_consistent():
    # eps >= 0, g >= 0, constant sigma_v, exponential disk, Freeman v_bar beyond its peak: every term <= 0
    rng = np.random.default_rng(8)
    Rd, S0 = 2.0, 500.0
    for _ in range(100):
        p = random_params(rng, chi0=1e3)
        R = Rd * rng.uniform(2.2, 15)

        def vb(r):
            return 150.0 * math.sqrt(freeman_v2(r, Rd) / freeman_v2(2.15 * Rd, Rd))

        lo, hi = R * math.exp(-H), R * math.exp(H)
        b = [kernel.boost(r, vb(r), 10.0, S0 * math.exp(-r / Rd), p) for r in (lo, hi)]
        assert (math.log(b[1]) - math.log(b[0])) / (2 * H) < 0
    assert np.all(ls.slope_self_consistent(-0.3, np.array([1.01, 1.5, 2.5]), 0.825) < 0)


def test_sign_observed_mode_flat_curve():
    # flat v_obs, constant sigma_v, exponential disk, eps > 0: s_F = -eps R/R_d + s_f < 0 at every R > 0
    rng = np.random.default_rng(9)
    for _ in range(100):
        p = Params(eps=rng.uniform(0.01, 2), ell0=rng.uniform(0.3, 20), gamma=rng.uniform(0, 3), n=rng.uniform(0.5, 4))
        R = rng.uniform(0.05, 40)
        b = [kernel.boost(r, 180.0, 10.0, 300 * math.exp(-r / 3.0), p) for r in (R * math.exp(-H), R * math.exp(H))]
        assert (math.log(b[1]) - math.log(b[0])) / (2 * H) < 0


def test_negative_eps_is_outside_params_and_log_boost_extends_kernel():
    with pytest.raises(ParameterError, match="eps"):
        Params(eps=-0.1)
    rng = np.random.default_rng(2)
    R, vc, sv, S = (
        rng.uniform(0.1, 30, 300),
        rng.uniform(5, 300, 300),
        rng.uniform(3, 50, 300),
        10 ** rng.uniform(-2, 3, 300),
    )
    for _ in range(10):
        p = random_params(rng)
        lA = math.log10(p.chi0 * p.sigma_ref**-p.eps)
        lb = ls.log_boost(R, vc, sv, S, lA, p.gamma * p.alpha, p.eps, p.ell0, p.n)
        assert np.allclose(np.exp(lb), kernel.boost(R, vc, sv, S, p), rtol=1e-11)
    with pytest.raises(InputError, match="Sigma > 0"):
        ls.log_boost([1.0], [100.0], [10.0], [0.0], 0.0, 0.8, -0.5, 2.2)


def test_negative_eps_rises_outward_beyond_the_crossing():
    # eps < 0, far out (R >> ell0, Keplerian v_bar): s_F = -(2 + g)/2 + |eps| R/R_d - 1, zero at (2 + g/2)/|eps|
    eps, ga, Rd = -0.5, 0.825, 2.0
    x_cross = ls.zero_crossing_negative_eps(eps, ga)
    assert x_cross == pytest.approx((2 + ga / 2) / 0.5)
    assert ls.zero_crossing_negative_eps(0.3, ga) == math.inf
    for xd, sign in ((0.8 * x_cross, -1), (1.2 * x_cross, 1)):
        R = xd * Rd
        lb = [ls.log_boost(r, 100.0 * (R / r) ** 0.5, 10.0, 300 * math.exp(-r / Rd), 0.0, ga, eps, 1e-6)
              for r in (R * math.exp(-H), R * math.exp(H))]  # fmt: skip
        assert np.sign((lb[1] - lb[0]) / (2 * H)) == sign


def points(R, vo, e, vb2, S=None, sv=None, gal=None):
    R = np.asarray(R, float)
    gal = np.zeros(R.size, int) if gal is None else np.asarray(gal)
    i = np.arange(R.size)
    prev = np.where(np.r_[False, gal[1:] == gal[:-1]], i - 1, -1)
    nxt = np.where(np.r_[gal[:-1] == gal[1:], False], i + 1, -1)
    one = np.ones(R.size)
    return ls.SparcPoints(("a", "b"), gal, R, 2.0 * one, np.asarray(vo, float), np.asarray(e, float) * one,
                          np.asarray(vb2, float), one * 50 if S is None else S, one * 10 if sv is None else sv,
                          0 * one, prev, nxt)  # fmt: skip


def test_needed_slope_by_hand():
    R = np.geomspace(0.5, 20, 12)
    vb2 = 1e4 * np.ones(12)
    vo = np.sqrt(vb2 * (1 + R**2))  # F_needed - 1 = R^2: slope 2 exactly
    F, sF, s = ls.needed_slope(points(R, vo, 0.01, vb2))
    assert np.allclose(F - 1, R**2)
    assert np.allclose(sF, 2 * F * 0.01 / vo)
    assert np.isnan(s[0]) and np.isnan(s[-1])  # no centred chord at the ends
    assert np.allclose(s[1:-1], 2.0)
    # a point where F - 1 is not significant removes itself and its neighbours' chords
    vo2 = vo.copy()
    vo2[5] = math.sqrt(vb2[5] * 1.001)
    s2 = ls.needed_slope(points(R, vo2, 0.1, vb2))[2]  # F - 1 = 1e-3 < 3 sigma_F = 6e-3 at point 5
    assert np.all(np.isnan(s2[4:7])) and np.all(np.isfinite(s2[1:4]))
    # chords do not cross from one galaxy to the next
    s3 = ls.needed_slope(points(R, vo, 0.01, vb2, gal=np.r_[np.zeros(6, int), np.ones(6, int)]))[2]
    assert np.isnan(s3[5]) and np.isnan(s3[6]) and np.isfinite(s3[4])


def test_bin_median():
    out = ls.bin_median([0.1, 0.2, 0.3, 1.2], [1.0, 2.0, 9.0, 4.0], edges=(0, 1, 2, 3))
    assert out[0, 1] == 2.0 and out[0, 4] == 3 and out[1, 1] == 4.0 and np.isnan(out[2, 1]) and out[2, 4] == 0


def test_fit_recovers_a_negative_eps_model_and_baselines():
    rng = np.random.default_rng(4)
    n_gal, per = 12, 15
    R = np.concatenate([np.geomspace(0.5, 25, per) * rng.uniform(0.5, 2) for _ in range(n_gal)])
    gal = np.repeat(np.arange(n_gal), per)
    vb2 = (v_bar(R, V0=rng.uniform(60, 200)) ** 2) * 1.0
    S = Sigma(R) * rng.uniform(0.5, 2)
    sv = 10.0 * np.ones(R.size)
    truth = (5.0, 0.6, -0.4, math.log10(3.0))
    lb = ls.log_boost(R, np.sqrt(vb2), sv, S, *truth[:3], 10 ** truth[3])
    vo = np.sqrt(vb2 * (1 + np.exp(lb)))
    pts = points(R, vo, 0.02 * vo, vb2, S=S, sv=sv, gal=gal)
    fit = ls.fit_extended(pts, "baryonic", "free")
    assert fit.chi2 < 1e-6
    assert np.allclose(fit.theta, truth, atol=1e-3)
    base = ls.baseline_chi2(points(R, np.sqrt(vb2), 1.0, vb2))
    assert base["newton"] == 0.0 and base["rar"] > 0
    with pytest.raises(InputError, match="mode"):
        ls.fit_extended(pts, "self-consistent")


def test_scan_signs_equals_chords_of_kernel_F_on_sparc_galaxies():
    # the scan adds chords of ln v_c, ln Sigma, ln sigma_v and ln f; kernel.boost's own chord must agree
    from cmsi_lib import sparc
    from cmsi_lib.options import SparcOptions

    kept, _ = sparc.apply_cuts(sparc.load_galaxies(), sparc.QualityCuts())
    sample = {k: kept[k] for k in list(kept)[:15]}
    pts = ls.sparc_points(sample, SparcOptions(sigma_v_model="stellar-disk"))
    for mode in ("baryonic", "observed"):
        for eps, ga, ell0 in ((0.5, 0.825, 2.2), (1.3, 3.0, 0.7), (0.0, 0.2, 40.0)):
            p = Params(eps=eps, gamma=1.0, alpha=ga, ell0=ell0)
            _, s_kernel = ls.model_slope(pts, mode, p)
            s_v, s_S, s_s = ls.component_slopes(pts, mode)
            lf = np.log(kernel.radial_profile(pts.R, p))
            s_f = ls.chord_slope(np.log(pts.R), lf, pts.prev, pts.next, np.ones(pts.R.size, bool))
            s_sum = (2 + ga) * s_v + eps * s_S - ga * s_s + s_f
            both = np.isfinite(s_kernel) & np.isfinite(s_sum)
            assert both.sum() > 100
            assert np.allclose(s_kernel[both], s_sum[both], atol=1e-9)
            rows = ls.scan_signs(pts, mode, [eps], [ga], [ell0], x_min=0.0)
            assert rows[0][3] == pytest.approx(np.mean(s_sum[np.isfinite(s_sum)] > 0))


def test_subset_relinks_neighbours():
    R = np.arange(1.0, 7.0)
    pts = points(R, R, 0.1, R, gal=np.array([0, 0, 0, 1, 1, 1]))
    sub = pts.subset(np.array([True, False, True, True, True, False]))
    assert sub.R.tolist() == [1.0, 3.0, 4.0, 5.0]
    assert sub.prev.tolist() == [-1, -1, -1, 2] and sub.next.tolist() == [-1, -1, 3, -1]
