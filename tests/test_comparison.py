"""cmsi_lib.comparison: by-hand AIC/BIC, the common sample, the BTF line fit, rank trends and the
log-normal prior on chi0 (its flat limit and the closed forms of a quadratic profile)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from astropy.table import Table

from cmsi_lib import comparison as C
from cmsi_lib import results
from cmsi_lib.errors import InputError


# --------------------------------------------------------------------------- AIC / BIC
def test_aic_bic_by_hand_three_points():
    # three points: V_obs = (100, 110, 120) km/s, errors (5, 5, 10), model (95, 120, 115)
    v_obs, e, v_mod = np.array([100.0, 110, 120]), np.array([5.0, 5, 10]), np.array([95.0, 120, 115])
    chi2 = float(np.sum(((v_obs - v_mod) / e) ** 2))
    assert chi2 == pytest.approx(1 + 4 + 0.25)
    # k = 1 model parameter + 2 nuisance; chi2_prior = 0.5
    aic, bic = C.aic_bic(chi2, 0.5, 3, 3)
    assert aic == pytest.approx(5.25 + 0.5 + 6)
    assert bic == pytest.approx(5.25 + 0.5 + 3 * math.log(3))  # 9.0458...
    assert bic == pytest.approx(9.045836866, rel=1e-9)
    with pytest.raises(InputError, match="n"):
        C.aic_bic(1.0, 0.0, 1, 0)


def _row(g, m, ok=True, n=10, chi2=5.0, k=3):
    return {
        "galaxy": g,
        "model": m,
        "success": ok,
        "reason": "" if ok else "skipped: few points",
        "n_points": float(n),
        "k_model": 0.0,
        "k_free": float(k),
        "chi2": chi2,
        "chi2_prior": 1.0,
        "aic": chi2 + 1 + 2 * k,
        "bic": chi2 + 1 + k * math.log(n),
    }


def test_common_sample_excludes_and_is_common():
    rows = [
        _row("A", "newton"),
        _row("A", "nfw", k=5),
        _row("B", "newton", n=2),
        _row("B", "nfw", ok=False, n=2),
        _row("C", "newton", n=7),
        _row("C", "nfw", n=8),
        _row("D", "newton", chi2=9.0),
        _row("D", "nfw", chi2=2.0, k=5),
    ]
    fits = Table(rows=[list(r.values()) for r in rows], names=list(rows[0]))
    cs = C.common_sample(fits, ("newton", "nfw"))
    assert cs.galaxies == ("A", "D")
    assert set(cs.excluded) == {"B", "C"}
    assert "nfw: skipped" in cs.excluded["B"] and "different numbers of points" in cs.excluded["C"]
    crit = C.criteria(fits, cs)
    assert crit["stored_max_diff"] < 1e-9
    # galaxy D: Newton AIC 9 + 1 + 6 = 16, NFW 2 + 1 + 10 = 13 -> NFW preferred, delta-AIC of Newton 3
    d = C.deltas(crit["aic"], cs.models, "best")
    assert d[0, 1] == pytest.approx(3.0) and d[1, 1] == 0.0
    pref = C.preferences(crit["aic"], cs.models)
    assert pref["newton"]["n_best"] == 1 and pref["nfw"]["n_best"] == 1  # A: Newton (16 < 20), D: NFW
    tot = C.totals(crit)
    assert tot[0]["n_points"] == tot[1]["n_points"] == 20
    with pytest.raises(InputError, match="burkert"):
        C.common_sample(fits, ("newton", "burkert"))
    with pytest.raises(InputError, match="reference"):
        C.deltas(crit["aic"], cs.models, "rar")


@pytest.mark.skipif(not results.survey_has_run(), reason="the survey has not run (results/survey/)")
@pytest.mark.slow
def test_common_sample_of_the_survey_has_identical_points_per_model():
    S = results.load_survey()
    cs = C.common_sample(S.fits)
    by = {}
    for r in S.fits:
        if str(r["galaxy"]) in cs.galaxies:
            by.setdefault(str(r["model"]), {})[str(r["galaxy"])] = int(r["n_points"])
    assert set(by) == set(C.COMPARED_MODELS)
    for m in C.COMPARED_MODELS:
        assert by[m] == cs.n_points, m
    assert len({sum(v.values()) for v in by.values()}) == 1


@pytest.mark.skipif(not results.survey_has_run(), reason="the survey has not run (results/survey/)")
@pytest.mark.slow
def test_the_survey_summary_totals_every_model_on_identical_points():
    """summary.json's common_sample, against fits.ecsv read here: the galaxies every model fitted, the
    same points for each model, each model's chi2 summed over them, never above its own sample's."""
    S = results.load_survey()
    cs = S.summary["common_sample"]
    rows = [r for r in S.fits if bool(r["success"])]
    models_ = [m["model"] for m in S.summary["models"]]
    fitted = [{str(r["galaxy"]) for r in rows if str(r["model"]) == m} for m in models_]
    galaxies = set.intersection(*fitted) - set(cs["excluded"])
    assert cs["n_galaxies"] == len(galaxies) > 0
    own = {m["model"]: m for m in S.summary["models"]}
    for t in cs["models"]:
        mine = [r for r in rows if str(r["model"]) == t["model"] and str(r["galaxy"]) in galaxies]
        assert t["n_points"] == cs["n_points"] == sum(int(r["n_points"]) for r in mine)
        assert t["chi2_total"] == pytest.approx(sum(float(r["chi2"]) for r in mine), rel=1e-9)
        assert t["chi2_total"] <= own[t["model"]]["chi2_total"] * (1 + 1e-12)


# --------------------------------------------------------------------------- BTF line fit
def test_fit_line_recovers_a_known_slope():
    # y | x Gaussian about the line (the vertical model) with errors on both axes
    rng = np.random.default_rng(1)
    n, s, b, sig_orth = 400, 3.85, 1.9, 0.03
    x_true = rng.uniform(1.5, 2.5, n)
    y_true = s * x_true + b + rng.normal(0, sig_orth * math.sqrt(1 + s * s), n)
    e_x, e_y = np.full(n, 0.02), np.full(n, 0.08)
    f = C.fit_line(x_true + rng.normal(0, e_x), y_true + rng.normal(0, e_y), e_x, e_y, scatter="vertical")
    assert abs(f.slope - s) < 3 * f.e_slope and 0.01 < f.e_slope < 0.2
    assert abs(f.intercept - b) < 3 * f.e_intercept
    assert f.sigma_orth == pytest.approx(sig_orth, abs=0.015)
    assert f.sigma_int == pytest.approx(f.sigma_orth * math.sqrt(1 + f.slope**2))


def test_orthogonal_likelihood_is_the_vertical_one_minus_a_slope_term():
    # Hogg et al. 2010 eq. 32 with sigma_orth = sigma_int / sqrt(1 + s^2): the same chi^2 term, and
    # ln Sigma_orth = ln V_vert - ln(1 + s^2), so -ln L_orth = -ln L_vert - (N/2) ln(1 + s^2):
    # a term that favours steeper slopes (why the two choices give different BTF slopes)
    rng = np.random.default_rng(2)
    x, y = rng.uniform(1.5, 2.5, 50), rng.normal(9, 1, 50)
    ex, ey = np.full(50, 0.02), np.full(50, 0.1)
    for s, b, sig in ((3.0, 2.0, 0.05), (4.0, 1.0, 0.2)):
        orth = C._line_nll(x, y, ex, ey, "orthogonal")([s, b, math.log(sig)])
        vert = C._line_nll(x, y, ex, ey, "vertical")([s, b, math.log(sig * math.sqrt(1 + s * s))])
        assert orth == pytest.approx(vert - 25 * math.log(1 + s * s), rel=1e-12)


def test_fit_line_exact_line_and_bad_input():
    x = np.linspace(0, 1, 10)
    f = C.fit_line(x, 2 * x + 1, np.full(10, 1e-3), np.full(10, 1e-3))
    assert f.slope == pytest.approx(2, abs=1e-3) and f.intercept == pytest.approx(1, abs=1e-3)
    # no intrinsic scatter: it ends at its floor, and the slope's error is that of the errors alone,
    # sqrt(e_y^2 / sum (x - mean x)^2) for e_x << e_y / s (here e_y^2 + s^2 e_x^2 = 5e-6)
    assert f.sigma_int < 1e-4 and math.isnan(f.e_sigma)
    assert f.e_slope == pytest.approx(math.sqrt(5e-6 / np.sum((x - x.mean()) ** 2)), rel=0.05)
    with pytest.raises(InputError, match="scatter"):
        C.fit_line(x, x, x, x, scatter="diagonal")
    with pytest.raises(InputError, match=">= 4"):
        C.fit_line(x[:3], x[:3], x[:3], x[:3])


def test_flat_points_by_hand():
    m = C.flat_points([50.0, 100, 148, 150, 152, 151])
    assert m.tolist() == [False, False, True, True, True, True]
    assert not C.flat_points([10.0, 20, 30, 40]).any()  # still rising: no V_flat
    assert not C.flat_points([100.0, 100]).any()  # fewer than 3 points


class _Gal:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def test_baryonic_mass_by_hand():
    g = _Gal(L36=2.0, e_L36=0.0, MHI=1.0, D=10.0, e_D=0.0, has_bulge=False)
    m = C.baryonic_mass(g)
    assert m["M_b"] == pytest.approx(0.5 * 2e9 + 1.33e9)
    assert C.gas_fraction(g) == pytest.approx(1.33 / 2.33)
    # errors: 0.1 dex on 1e9 Msun of stars and 10% on 1.33e9 of gas, in quadrature, in dex
    e = math.hypot(1e9 * math.log(10) * 0.1, 0.133e9) / (2.33e9 * math.log(10))
    assert m["e_log_M_b"] == pytest.approx(e)
    assert C.baryonic_mass(g, d_ratio=2.0)["M_b"] == pytest.approx(4 * m["M_b"])


# --------------------------------------------------------------------------- rank trends
def test_rank_trend_signs():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, 200)
    down = C.rank_trend(x, -x + rng.normal(0, 0.2, 200))
    assert down["rho"] < -0.5 and down["p"] < 1e-6 and down["n"] == 200
    assert C.rank_trend(x, x**3)["rho"] == pytest.approx(1.0)
    assert C.rank_trend([1.0, np.nan, 3, 4, 5], [2.0, 1, np.nan, 4, 5])["n"] == 3
    noise = C.rank_trend(x, rng.normal(size=200))
    assert noise["p"] > 0.001


# --------------------------------------------------------------------------- the log-normal prior
GRID = np.arange(0.0, 13.0001, 0.25)


def test_lognormal_map_flat_limit_and_closed_form():
    a, x0 = 4.0, 6.3
    P = a * (GRID - x0) ** 2 + 100.0  # a quadratic profile in log10 chi0
    flat, _ = C.lognormal_map(GRID, P, 0.0, math.inf)
    assert flat == pytest.approx(x0, abs=0.01)
    for sigma in (1e3, 1e6):  # infinite width -> the flat prior
        assert C.lognormal_map(GRID, P, 2.0, sigma)[0] == pytest.approx(flat, abs=0.006)
    # closed form: argmin a (x - x0)^2 + ((x - mu)/s)^2 = (a x0 + mu/s^2) / (a + 1/s^2)
    mu, s = 3.0, 0.4
    expect = (a * x0 + mu / s**2) / (a + 1 / s**2)
    assert C.lognormal_map(GRID, P, mu, s)[0] == pytest.approx(expect, abs=0.01)
    assert C.lognormal_map(GRID, P, mu, 1e-3)[0] == pytest.approx(mu, abs=0.01)  # zero width: the prior
    with pytest.raises(InputError, match="sigma"):
        C.lognormal_map(GRID, P, mu, 0.0)


def test_lognormal_marginal_gaussian_closed_form():
    tau, x0, mu, s = 0.5, 7.0, 6.0, 0.8
    P = ((GRID - x0) / tau) ** 2  # likelihood exp(-P/2): a Gaussian of width tau
    got = C.lognormal_marginal(GRID, P, mu, s, step=0.001)
    v = tau**2 + s**2
    expect = math.log(tau / math.sqrt(v)) - (x0 - mu) ** 2 / (2 * v)
    assert got == pytest.approx(expect, abs=2e-3)


def test_lognormal_marginal_newtonian_plateau_below_the_grid():
    P = np.where(GRID < 5, 0.0, 1e6)  # flat (Newtonian) below 10^5, excluded above
    # a prior entirely below the grid keeps all its mass on the plateau: ln 1 = 0
    assert C.lognormal_marginal(GRID, P, -20.0, 1.0) == pytest.approx(0.0, abs=1e-6)


def test_hierarchical_lognormal_recovers_the_population():
    rng = np.random.default_rng(3)
    xs = rng.normal(5.0, 0.6, 60)
    profiles = [((GRID - x) / 0.1) ** 2 for x in xs]
    h = C.hierarchical_lognormal(GRID, profiles)
    assert h["mu"] == pytest.approx(np.mean(xs), abs=0.05)
    assert h["sigma"] == pytest.approx(np.std(xs), abs=0.05)
    assert h["at_bound"] == []


# --------------------------------------------------------------------------- joint MAPs on the common sample
def _joint_table():
    """Three galaxies of a joint fit; the common sample holds two of them (A: 10 points, D: 5)."""
    return {"galaxy": ["A", "X", "D"], "n_points": [10, 3, 5], "n_nuisance": [4, 2, 3],
            "chi2": [12.0, 100.0, 7.5], "chi2_prior": [0.5, 9.0, 1.0],
            "R_kpc": [list(range(1, 11)), [1, 2, 3], [1, 2, 3, 4, 5]]}  # fmt: skip


_COMMON = C.CommonSample(("newton",), ("A", "D"), {"A": 10, "D": 5}, {})


def test_joint_totals_by_hand():
    """Over A and D only (X is not in the common sample): chi2 19.5, prior 1.5, k = 4 + 3 (+ 4 globals);
    AIC = 21 + 2k; BIC = 21 + 4 ln 10 + 3 ln 5 (+ 4 ln 15 for the globals, counted once)."""
    t = _joint_table()
    newton = C.joint_totals(t, _COMMON, "joint_newton")
    assert (newton["n_galaxies"], newton["n_points"], newton["k_total"]) == (2, 15, 7)
    assert (newton["chi2_total"], newton["chi2_prior_total"]) == (19.5, 1.5)
    assert newton["aic_total"] == pytest.approx(21.0 + 14.0)
    assert newton["bic_total"] == pytest.approx(21.0 + 4 * math.log(10) + 3 * math.log(5))
    cmsi = C.joint_totals(t, _COMMON, "joint_cmsi", n_globals=4)
    assert cmsi["k_total"] == 11 and cmsi["aic_total"] == pytest.approx(21.0 + 22.0)
    assert cmsi["bic_total"] == pytest.approx(newton["bic_total"] + 4 * math.log(15))
    # Newton's equals the galaxy-by-galaxy aic_bic summed (no shared parameter)
    aic, bic = C.aic_bic([12.0, 7.5], [0.5, 1.0], [4, 3], [10, 5])
    assert (newton["aic_total"], newton["bic_total"]) == pytest.approx((aic.sum(), bic.sum()))
    with pytest.raises(InputError, match="n_globals"):
        C.joint_totals(t, _COMMON, "x", n_globals=-1)


def test_totals_take_the_joint_rows_into_the_lowest():
    rows = [_row("A", "newton", chi2=12.0, k=4), _row("D", "newton", n=5, chi2=7.5, k=3)]
    fits = Table(rows=[list(r.values()) for r in rows], names=list(rows[0]))
    crit = C.criteria(fits, C.common_sample(fits, ("newton",)))
    joint = C.joint_totals(_joint_table(), _COMMON, "joint_newton")
    (alone,) = C.totals(crit)
    both = C.totals(crit, [joint])
    assert alone["delta_aic_total"] == 0.0 and [r["model"] for r in both] == ["newton", "joint_newton"]
    # survey rows (chi2_prior 1 each): (12 + 1 + 8) + (7.5 + 1 + 6) = 35.5; joint: 19.5 + 1.5 + 14 = 35
    assert both[0]["aic_total"] == pytest.approx(35.5) and both[1]["aic_total"] == pytest.approx(35.0)
    assert both[0]["delta_aic_total"] == pytest.approx(0.5) and both[1]["delta_aic_total"] == 0.0
    with pytest.raises(InputError, match="common sample"):
        C.totals(crit, [joint | {"n_points": 14}])


def test_joint_points_check_names_every_mismatch():
    t = _joint_table()
    ok = C.joint_points_check(t, _COMMON, radii={"A": np.arange(1, 11), "D": [1, 2, 3, 4, 5]},
                              n_nuisance={"A": 4, "D": 3})  # fmt: skip
    assert ok == {"n_galaxies": 2, "n_points": 15, "n_joint_galaxies": 3, "n_joint_points": 18, "radii_checked": True}
    bad = t | {"n_points": [10, 3, 6]}
    with pytest.raises(InputError, match="D: 6 points in the joint fit, 5 in the survey"):
        C.joint_points_check(bad, _COMMON)
    with pytest.raises(InputError, match="D: 6 points"):
        C.joint_totals(bad, _COMMON, "joint_newton")
    missing = C.CommonSample(("newton",), ("A", "B"), {"A": 10, "B": 4}, {})
    with pytest.raises(InputError, match="B: not in the joint fit"):
        C.joint_points_check(t, missing)
    with pytest.raises(InputError, match="A: the same number of points at different radii"):
        C.joint_points_check(t, _COMMON, radii={"A": np.arange(2, 12), "D": [1, 2, 3, 4, 5]})
    with pytest.raises(InputError, match="D: 3 free nuisance parameters in the joint fit, 2 in the survey"):
        C.joint_points_check(t, _COMMON, n_nuisance={"A": 4, "D": 2})


def test_joint_verdict_says_where_the_gain_is():
    newton = {"aic_total": 100.0, "bic_total": 110.0, "chi2_total": 60.0, "chi2_prior_total": 20.0, "k_total": 10}
    prior_only = {"aic_total": 90.0, "bic_total": 111.0, "chi2_total": 65.0, "chi2_prior_total": 5.0, "k_total": 12}
    s = C.joint_verdict(newton, prior_only)
    assert "AIC by -10.0 and the total BIC by +1.0" in s and "(k +2)" in s
    assert "AIC prefers CMSI, BIC Newton" in s and "entirely in the nuisance priors (prior chi^2 -15.0)" in s
    both = prior_only | {"bic_total": 95.0, "chi2_total": 50.0}
    s = C.joint_verdict(newton, both)
    assert "both prefer CMSI" in s and "data chi^2 -10.0, prior chi^2 -15.0" in s
