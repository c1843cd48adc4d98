"""The claims ledger (cmsi_lib.claims) against values computed by hand in the test."""

import dataclasses
import math

import numpy as np
import pytest

from cmsi_lib import Params
from cmsi_lib.anchors import SATURN_SEMI_MAJOR_AXIS_AU
from cmsi_lib.claims import (
    Assumptions,
    claim_keys,
    claims_ledger,
    half_unit,
    mw_like_profile,
    saturn_orbit,
    seed_source_factor_sigma,
)
from cmsi_lib.errors import InputError

C_KMS = 299792.458  # km/s, exact (SI definition of the metre)
GM_SUN = 1.32712440018e20  # m^3/s^2 (IAU 2015 nominal GM_sun is 1.3271244e20)
AU_M = 1.495978707e11  # m, exact (IAU 2012)
G_KPC = 4.300917e-6  # kpc (km/s)^2 / Msun (CODATA G, IAU M_sun; 6 digits)
SATURN_A_AU = SATURN_SEMI_MAJOR_AXIS_AU.value  # au (data/solar_system_bodies.csv must hold this value)


def ledger(params=Params(), **kw):
    return {r.key: r for r in claims_ledger(params, Assumptions(**kw))}


def test_vc2_rows_by_hand():
    L = ledger()
    assert L["vc2_galaxy"].recomputed_value == pytest.approx((200 / C_KMS) ** 2, rel=1e-12)
    assert L["vc2_solar"].recomputed_value == pytest.approx((10 / C_KMS) ** 2, rel=1e-12)
    assert L["vc2_galaxy"].reproduced and L["vc2_solar"].reproduced  # ~4e-7 and ~1e-9 to one digit
    assert L["suppression"].recomputed_value == pytest.approx(400.0, rel=1e-12)


def test_saturn_orbit_by_hand():
    R_kpc, v = saturn_orbit(9.5826)
    v_hand = math.sqrt(GM_SUN / (9.5826 * AU_M)) / 1e3
    assert v == pytest.approx(v_hand, rel=1e-6)
    assert R_kpc == pytest.approx(9.5826 / 206264.806247 / 1e3, rel=1e-9)  # 1 pc = 648000/pi AU


def test_saturn_row_under_its_stated_assumptions():
    """Seed's source factor 1e-6, sigma_v = v_c (N_coh = 1), f(R/ell0) = 1 at 9.6 AU."""
    L = ledger()
    v = math.sqrt(GM_SUN / (SATURN_A_AU * AU_M)) / 1e3
    dg_hand = 800 * (v / C_KMS) ** 2 * 1e-6
    assert L["saturn_dg"].recomputed_value == pytest.approx(dg_hand, rel=1e-6)
    assert L["saturn_dg"].reproduced is False  # the seed says 9.1e-7
    assert L["table_combined_saturn"].reproduced is True  # "< 1e-6"
    # with the Galactic Sigma = Sigma_ref instead, delta g/g = chi0 (v/c)^2: close to, but not, 9.1e-7
    Lg = ledger(saturn_sigma=50.0)
    assert Lg["saturn_dg"].recomputed_value == pytest.approx(800 * (v / C_KMS) ** 2, rel=1e-6)
    assert 8e-7 < Lg["saturn_dg"].recomputed_value < 9.05e-7


def test_seed_source_factor_sigma():
    assert seed_source_factor_sigma(Params()) == pytest.approx(50 * 1e-12, rel=1e-12)  # (S/50)^0.5 = 1e-6
    assert seed_source_factor_sigma(Params(eps=1.0)) == pytest.approx(50 * 1e-6, rel=1e-12)
    with pytest.raises(ValueError):
        seed_source_factor_sigma(Params(eps=0.0))


def test_mw_profile_independent_facts():
    R = np.array([8.0, 400.0])
    v, S = mw_like_profile(R, sigma_sun=50.0, r_sun=8.0, r_d=2.6)
    assert S[0] == pytest.approx(50.0, rel=1e-12)
    # far out the exponential disk is Keplerian: v^2 R / G -> M = 2 pi Sigma_0 R_d^2
    sigma0 = 50e6 * math.exp(8.0 / 2.6)  # Msun/kpc^2
    M = 2 * math.pi * sigma0 * 2.6**2
    assert v[1] ** 2 * R[1] / G_KPC == pytest.approx(M, rel=2e-3)
    with pytest.raises(ValueError):
        mw_like_profile(R, sigma_sun=-1.0)


def test_mw_F_at_8kpc_by_hand_and_its_chi0_inversion():
    L = ledger()
    vb8 = float(mw_like_profile(np.array([8.0]))[0][0])
    Fm1 = 800 * (vb8 / C_KMS) ** 2 * 1.0 * (vb8 / 10.0) ** 0.825 / math.sqrt(1 + (8 / 2.2) ** 2)
    assert L["table_combined_R8"].recomputed_value == pytest.approx(Fm1, rel=1e-9)
    assert L["table_combined_R8"].reproduced is False
    # the chi0 the ledger says F = 2 needs does give F - 1 = 1 (F - 1 is linear in chi0)
    chi0 = 800 / Fm1
    assert ledger(params=Params(chi0=chi0))["table_combined_R8"].recomputed_value == pytest.approx(1.0, rel=1e-9)


def test_mw_F_range_not_reproduced_and_what_it_takes():
    L = ledger()
    lo, hi = L["mw_F_range"].recomputed_value
    assert 1.0 < lo < hi < 1.01  # nowhere near the seed's 1.6-2.3
    assert L["mw_F_range"].reproduced is False
    chi0_hi = 800 * 1.3 / (hi - 1)  # puts the maximum at 2.3
    lo2, hi2 = ledger(params=Params(chi0=chi0_hi))["mw_F_range"].recomputed_value
    assert hi2 == pytest.approx(2.3, rel=1e-9)
    assert L["mw_v_range"].reproduced is False
    assert L["mw_decreasing"].reproduced is True


def test_demo_rows():
    L = ledger()
    F_hand = 1 + 800 * (300 / C_KMS) ** 2 * math.sqrt(1000 / 50) * (300 / 5) ** 0.825
    assert L["demo_F"].recomputed_value == pytest.approx(F_hand, rel=1e-9)
    assert L["demo_F"].reproduced is False
    assert L["demo_rms"].reproduced is None and L["demo_rms"].recomputed_value is None


def test_half_unit():
    assert half_unit("9.1e-7") == pytest.approx(5e-9)
    assert half_unit("400") == pytest.approx(0.5)
    assert half_unit("1.0") == pytest.approx(0.05)
    assert half_unit("4e-7") == pytest.approx(5e-8)


def test_every_row_is_complete():
    for r in claims_ledger():
        assert r.claim and r.seed_value and r.recomputed and r.would_take and r.assumptions
        assert r.reproduced in (True, False, None)


def test_saturn_orbit_comes_from_the_bodies_table():
    """The ledger's Saturn is the table's semi-major axis (not a second, hard-coded number)."""
    R_kpc, v = saturn_orbit()
    assert R_kpc == pytest.approx(SATURN_A_AU / 206264.806247 / 1e3, rel=1e-9)
    assert SATURN_SEMI_MAJOR_AXIS_AU.holds(Assumptions().saturn_radius_au)
    assert "R = 9.53668 AU" in ledger()["saturn_dg"].assumptions


def test_assumptions_are_one_documented_record():
    fields = dataclasses.fields(Assumptions)
    assert len(fields) == 11
    assert all(f.metadata["doc"] and "unit" in f.metadata for f in fields)
    with pytest.raises(dataclasses.FrozenInstanceError):
        Assumptions().mw_r_d = 3.0
    with pytest.raises(InputError, match="mw_r_d must be a finite number > 0"):
        Assumptions(mw_r_d=-1.0)


def test_registry_lists_every_claim_once_in_order():
    keys = claim_keys()
    assert len(keys) == len(set(keys)) == 14
    assert [r.key for r in claims_ledger()] == list(keys)
    assert keys[0] == "vc2_galaxy" and keys[-1] == "demo_rms"
