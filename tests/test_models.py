"""The survey's rotation-curve models: hand-computed values, limits, and the nuisance scalings.

Every expected value here is computed independently of cmsi_lib (by hand, by numerical
integration of a density, or from published numbers), with the tolerance stated.
"""

import math

import numpy as np
import pytest
from scipy import integrate

from cmsi_lib import Params, models, rar, sparc
from cmsi_lib.kernel import InputError
from cmsi_lib.models import Nuisance

G = 4.30091727e-6  # kpc (km/s)^2 / Msun (IAU 2015 / CODATA G and Msun; independent of cmsi_lib.units)


def synthetic_galaxy(
    R=None,
    v_obs=None,
    v_gas=None,
    v_disk=None,
    v_bul=None,
    D=10.0,
    inc=60.0,
    e_D=1.0,
    e_inc=3.0,
    sb_disk=None,
    name="SYNTH",
):
    """A sparc.Galaxy made up in the test (no data file)."""
    R = np.linspace(0.5, 15.0, 20) if R is None else np.asarray(R, float)
    z = np.zeros_like(R)
    v_disk = 60.0 * np.sqrt(R / (R + 2.0)) if v_disk is None else np.asarray(v_disk, float)
    v_gas = 20.0 * np.sqrt(R / (R + 5.0)) if v_gas is None else np.asarray(v_gas, float)
    v_bul = z if v_bul is None else np.asarray(v_bul, float)
    v_obs = np.full_like(R, 100.0) if v_obs is None else np.asarray(v_obs, float)
    sb_disk = 300.0 * np.exp(-R / 2.0) if sb_disk is None else sb_disk
    return sparc.Galaxy(
        name=name,
        T=5,
        D=D,
        e_D=e_D,
        f_D=1,
        inc=inc,
        e_inc=e_inc,
        L36=10.0,
        e_L36=0.1,
        Reff=3.0,
        SBeff=100.0,
        Rdisk=2.0,
        SBdisk0=300.0,
        MHI=1.0,
        RHI=10.0,
        Vflat=100.0,
        e_Vflat=5.0,
        Q=1,
        refs="test",
        R=R,
        v_obs=v_obs,
        e_v_obs=np.full_like(R, 2.0),
        v_gas=v_gas,
        v_disk=v_disk,
        v_bul=v_bul,
        sb_disk=sb_disk,
        sb_bul=z,
    )


def test_model_names_and_unknown_model():
    assert set(models.MODEL_NAMES) >= {"newton", "rar", "rar_free", "nfw", "burkert", "cmsi"}
    with pytest.raises(InputError, match="valid models are"):
        models.get_model("mond")


def test_newton_hand_computed():
    # v^2 = Vgas|Vgas| + 0.5 Vdisk^2 + 0.7 Vbul^2 with a negative gas term (outward pull)
    g = synthetic_galaxy(R=[1.0, 2.0], v_gas=[-10.0, 30.0], v_disk=[40.0, 60.0], v_bul=[20.0, 0.0])
    v = models.get_model("newton").v_model(None, g)
    expected = [math.sqrt(-100 + 0.5 * 1600 + 0.7 * 400), math.sqrt(900 + 0.5 * 3600)]
    assert np.allclose(v, expected, rtol=1e-12)


def test_rar_function_published_checks():
    """McGaugh, Lelli & Schombert 2016: g_obs(g_dag) = 1.582 g_dag; g_obs -> g_bar (high), sqrt(g_bar g_dag) (low)."""
    gd = rar.G_DAGGER_SI
    assert rar.rar_g_obs(gd) / gd == pytest.approx(1.582, abs=5e-4)  # 1/(1 - 1/e) = 1.58198
    assert rar.rar_g_obs(1e4 * gd) / (1e4 * gd) == pytest.approx(1.0, abs=1e-12)
    low = 1e-8 * gd
    assert rar.rar_g_obs(low) / math.sqrt(low * gd) == pytest.approx(1.0, rel=1e-3)


def test_rar_model_through_a_galaxy():
    # choose v_disk so that g_bar = g_dag exactly at R = 2 kpc (Ups_disk = 0.5, no gas)
    gd_kms2_kpc = 1.20e-10 * 3.0856775814913673e19 / 1e6  # (m/s^2) * (m per kpc) / (m/s per km/s)^2
    R = 2.0
    v_disk = math.sqrt(gd_kms2_kpc * R / 0.5)
    g = synthetic_galaxy(R=[R], v_gas=[0.0], v_disk=[v_disk], v_obs=[100.0])
    v = models.get_model("rar").v_model(None, g)[0]
    assert v**2 / R / gd_kms2_kpc == pytest.approx(1.0 / (1.0 - math.exp(-1.0)), rel=1e-9)
    free = models.get_model("rar_free").v_model(None, g, params={"g_dagger": 4 * 1.2e-10})[0]
    # g_bar = g_dag/4: boost 1/(1 - exp(-1/2))
    assert free**2 / R / gd_kms2_kpc == pytest.approx(1.0 / (1.0 - math.exp(-0.5)), rel=1e-9)


def test_nfw_matches_integrated_density():
    V200, c = 150.0, 8.0
    H0 = 73.0 / 1000.0  # km/s/kpc
    r200 = V200 / (10 * H0)
    rs = r200 / c
    M200 = V200**2 * r200 / G
    rho_s = M200 / (4 * math.pi * rs**3 * (math.log(1 + c) - c / (1 + c)))
    for r in (0.5, 5.0, 30.0, r200):
        M = integrate.quad(lambda x: 4 * math.pi * x**2 * rho_s / (x / rs * (1 + x / rs) ** 2), 0, r)[0]
        assert models.nfw_halo_speed2(np.array([r]), V200, c)[0] == pytest.approx(G * M / r, rel=1e-6)
    assert models.nfw_halo_speed2(np.array([r200]), V200, c)[0] == pytest.approx(V200**2, rel=1e-12)


def test_burkert_matches_integrated_density():
    rho0, r0 = 3e7, 4.0
    for r in (0.2, 4.0, 25.0):
        M = integrate.quad(lambda x: 4 * math.pi * x**2 * rho0 * r0**3 / ((x + r0) * (x * x + r0 * r0)), 0, r)[0]
        assert models.burkert_halo_speed2(np.array([r]), rho0, r0)[0] == pytest.approx(G * M / r, rel=1e-6)


def test_nuisance_scalings_li2018():
    g = synthetic_galaxy(R=[1.0, 4.0], v_gas=[0.0, 0.0], v_disk=[50.0, 80.0], v_obs=[60.0, 90.0], inc=60.0)
    obs = models.observables(g, Nuisance(ups_disk=1.0, D=2 * g.D, inc=90.0))
    assert np.allclose(obs.R, [2.0, 8.0])  # R scales with D/D_SPARC
    assert np.allclose(obs.v_bar2, 2 * np.array([2500.0, 6400.0]))  # v_bar^2 scales with D/D_SPARC
    k = math.sin(math.radians(60)) / math.sin(math.radians(90))
    assert np.allclose(obs.v_obs, [60 * k, 90 * k]) and np.allclose(obs.e_v_obs, 2 * k)


def test_bad_nuisance_and_params_are_rejected():
    g = synthetic_galaxy()
    with pytest.raises(InputError, match="inc"):
        models.observables(g, Nuisance(inc=120.0))
    with pytest.raises(InputError, match="V200"):
        models.get_model("nfw").v_model(None, g, params={"V200": -5.0, "c200": 5.0})
    with pytest.raises(InputError, match="needs parameter"):
        models.get_model("burkert").v_model(None, g, params={"rho0": 1e7})


def test_cmsi_limits():
    g = synthetic_galaxy(v_gas=np.r_[-5.0, np.full(19, 20.0)])
    newton = models.get_model("newton").v_model(None, g)
    # chi0 = 0: F = 1, CMSI is Newtonian (including the sign where v_bar^2 < 0)
    assert np.allclose(models.get_model("cmsi", params=Params(chi0=0.0)).v_model(None, g), newton, rtol=1e-12)
    # a boost never lowers |v| and keeps the sign of g_bar
    v = models.get_model("cmsi", params=Params(chi0=1e6)).v_model(None, g)
    assert np.all(np.abs(v) >= np.abs(newton) - 1e-12) and np.all(np.sign(v) == np.sign(newton))


def test_v_model_at_other_radii_interpolates_inside_and_is_nan_outside():
    g = synthetic_galaxy(R=[1.0, 3.0], v_gas=[0.0, 0.0], v_disk=[10.0, 30.0])
    v = models.get_model("newton").v_model([2.0, 5.0], g, Nuisance(ups_disk=1.0))
    # v^2 interpolated linearly: (100 + 900)/2 = 500
    assert v[0] == pytest.approx(math.sqrt(500.0)) and math.isnan(v[1])


def test_bound_cmsi_on_a_subset_equals_the_full_binding_there():
    # a model bound to a galaxy's points holds its own inputs: binding with a mask must give, point
    # for point, what the unmasked binding gives at those points (CMSI is local in R)
    g = sparc.get_galaxy("NGC3198")
    m = models.get_model("cmsi", params=Params(chi0=1e6))
    obs = models.observables(g)
    mask = np.arange(g.R.size) % 2 == 0
    sub = models.Observables(obs.R[mask], obs.v_obs[mask], obs.e_v_obs[mask], obs.v_bar2[mask])
    full = m.bind(g).speed(obs, np.array([]))
    assert np.array_equal(m.bind(g, mask).speed(sub, np.array([])), full[mask])
    with pytest.raises(InputError):
        m.speed(obs, np.array([]))  # unbound CMSI has no sigma_v or Sigma
    # the base models need nothing beyond the data: Newton bound or not is the same
    newton = models.get_model("newton")
    assert np.array_equal(newton.bind(g, mask).speed(sub, np.array([])), newton.speed(sub, np.array([])))
