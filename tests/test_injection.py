"""Injection and recovery (cmsi_lib.injection): the mock's noise statistics and observation model against
the RAR formula by hand, the amplitude rule against kernel.boost, the nuisance draws against their
priors, the recovery rows against hand-made percentiles, and a 20-galaxy recovery of injected CMSI."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from cmsi_lib import injection, jointfit, kernel, rotmod, sparc
from cmsi_lib.options import SparcOptions
from cmsi_lib.units import ACCEL_SI_PER_KMS2_KPC


@pytest.fixture(scope="module")
def real():
    return injection.real_sample()


def _subset(real, n=20):
    names = list(real)[:: max(1, len(real) // n)][:n]
    return {k: real[k] for k in names}


def test_amplitude_rule_by_hand(real):
    """F - 1 of the injected CMSI, computed from kernel.boost with v_c = |v_bar|, sigma_v = 10 km/s and the
    stellar Sigma at Ups (0.5, 0.7), has median 1 over the outer half of each galaxy's kept points."""
    truth, how = injection.cmsi_truth(real)
    outer = []
    for g, m in real.values():
        idx = np.flatnonzero(m)
        idx = idx[np.argsort(g.R[idx])][idx.size // 2 :]
        vb = np.abs(g.v_bar(0.5, 0.7))[idx]
        S = 0.5 * g.sb_disk[idx] + 0.7 * g.sb_bul[idx]
        outer.append(kernel.boost(g.R[idx], vb, np.full(idx.size, 10.0), S, truth))
    assert np.median(np.concatenate(outer)) == pytest.approx(1.0, rel=1e-9)
    assert how["n_galaxies"] == len(real) and truth.ell0 == 5.0 and truth.eps == 0.5


def test_nuisance_draws_follow_the_priors():
    """Over all 175 galaxies (x 4 seeds): the pulls of D and Inc and log10 Ups_disk have mean ~ 0 and
    standard deviation ~ 1 (5 sigma of the sampling error); Inc stays in (0, 90]."""
    gals = list(sparc.load_galaxies().values())
    pd, pi, pu = [], [], []
    for seed in range(4):
        rng = np.random.default_rng(seed)
        for g in gals:
            nz = injection.draw_nuisance(g, rng)
            assert 0 < nz.inc <= 90 and nz.D > 0
            pd.append((nz.D - g.D) / g.e_D)
            pu.append((math.log10(nz.ups_disk) - math.log10(0.5)) / 0.1)
            if g.inc + 3 * g.e_inc < 90:  # folding at 90 deg changes the distribution near it
                pi.append((nz.inc - g.inc) / g.e_inc)
    for p in (pd, pi, pu):
        p = np.asarray(p)
        assert abs(p.mean()) < 5 / math.sqrt(p.size) and abs(p.std() - 1) < 5 / math.sqrt(2 * p.size)


def test_rar_mock_by_hand_and_noise_statistics(real, tmp_path):
    """The RAR mock read back through rotmod: V_true from the RAR formula by hand at the drawn nuisance
    (g_bar = v_bar^2/R at distance D: radii x D/D_SPARC, v_bar^2 x D/D_SPARC), seen at SPARC's inclination;
    chi^2 of the truth against the mock ~ N points (within 5 sigma = 5 sqrt(2N))."""
    sub = _subset(real, 40)
    gals = {n: g for n, (g, _m) in sub.items()}
    info = injection.make_mock("rar", tmp_path, None, seed=7, galaxies=gals)
    mock = rotmod.load_sample(tmp_path)
    assert sorted(mock) == sorted(gals) and (tmp_path / "galaxies.csv").is_file()
    gd = 1.2e-10 / ACCEL_SI_PER_KMS2_KPC  # (km/s)^2/kpc
    chi2, n = 0.0, 0
    for name, g in gals.items():
        ud, ub, D, inc = info[name]["nuisance"]
        s = D / g.D
        vb2 = s * (g.v_gas * np.abs(g.v_gas) + ud * g.v_disk * np.abs(g.v_disk) + ub * g.v_bul * np.abs(g.v_bul))
        gbar = vb2 / (g.R * s)
        gobs = np.where(gbar > 0, gbar / (1 - np.exp(-np.sqrt(np.abs(gbar) / gd))), gbar)
        v_true = np.sign(gobs) * np.sqrt(np.abs(gobs) * g.R * s)
        v_tab = v_true * math.sin(math.radians(inc)) / math.sin(math.radians(g.inc))
        np.testing.assert_allclose(info[name]["v_true"], v_tab, rtol=1e-9, atol=1e-9)
        m = mock[name]
        assert (m.D, m.inc, m.e_D, m.e_inc) == (g.D, g.inc, g.e_D, g.e_inc)
        np.testing.assert_array_equal(m.e_v_obs, g.e_v_obs)
        chi2 += float(np.sum(((m.v_obs - v_tab) / g.e_v_obs) ** 2))
        n += g.n_points
    assert abs(chi2 - n) < 5 * math.sqrt(2 * n), (chi2, n)


def test_recovery_rows_by_hand():
    """Inside/pull from hand-made Laplace percentiles (ell0 in log10)."""
    from cmsi_lib.params import Params

    truth = Params(chi0=1e4, ell0=5.0)
    want = jointfit.identifiable(truth)
    fit = SimpleNamespace(
        free=("log10_A", "ell0"),
        values={"log10_A": want["log10_A"] + 0.2, "ell0": 10.0},
        laplace={
            "log10_A": (want["log10_A"] + 0.1, want["log10_A"] + 0.2, want["log10_A"] + 0.3),
            "ell0": (1.0, 10.0, 100.0),
        },  # fmt: skip
        derived={},
    )
    rows = {r["parameter"]: r for r in injection.recovery_table(fit, truth)}
    assert rows["log10_A"]["inside_16_84"] is False and rows["log10_A"]["pull"] == pytest.approx(2.0)
    assert rows["ell0"]["inside_16_84"] is True
    assert rows["ell0"]["pull"] == pytest.approx(math.log10(10 / 5.0) / 1.0)


def test_bad_inputs():
    with pytest.raises(ValueError, match="world"):
        injection.make_mock("mond", "/nonexistent", None)
    with pytest.raises(ValueError, match="seed"):
        injection.run_injections(seed=-1)
    with pytest.raises(ValueError, match="baryonic"):
        injection.cmsi_truth({}, SparcOptions(vc_mode="observed"))


@pytest.mark.slow  # two joint MAPs on 20 galaxies
def test_small_sample_recovery(real, tmp_path):
    """CMSI injected at F - 1 ~ 1 into 20 galaxies: the joint MAP recovers each injected global within
    3 Laplace sigmas, and the fit's chi^2 is within 5 sigma of the number of points."""
    sub = _subset(real, 20)
    truth, _how = injection.cmsi_truth(real)
    gals = {n: g for n, (g, _m) in sub.items()}
    injection.make_mock("cmsi", tmp_path, truth, seed=3, galaxies=gals)
    sample = injection._on_real_points(rotmod.load_sample(tmp_path), sub)
    out = injection.fit_mock(sample, truth, starts=("injected",))
    fit = out["fits"][out["best"]]
    assert fit.success and not [a for a in fit.at_bound if ":" not in a]
    for row in injection.recovery_table(fit, truth):
        assert abs(row["pull"]) < 3, row
    n = fit.n_points
    assert abs(fit.chi2 - n) < 5 * math.sqrt(2 * n)
    assert out["newton"].objective - fit.objective > 100  # CMSI at F - 1 ~ 1 is seen
