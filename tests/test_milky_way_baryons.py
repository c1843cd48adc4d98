"""McMillan (2017) baryons: the closed-form surface densities against galpy's integration, the
published masses and independent integrals; galpy's speeds; the cache key.

The tests that build galpy's McMillan17 (the ``galpy_model`` fixture, ~8-20 s) are ``slow``
(tests/conftest.py SLOW_FIXTURES); the rest import at most ``galpy.potential`` (~3 s).
"""

import math

import numpy as np
import pytest
from scipy import integrate, special

from cmsi_lib import milky_way_baryons as mwb
from cmsi_lib.errors import InputError

# galpy's SCF code warns about numpy.divide(where=...) on every evaluation; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:'where' used without 'out'")

#: the radii at which the closed forms are checked against galpy [kpc]
R_CHECK = np.array([1.0, 4.0, 8.2, 15.0])

# McMillan 2017 (MNRAS 465, 76), abstract: total stellar mass (54.3 +- 5.7) x 10^9 Msun
M_STARS_PUBLISHED, M_STARS_ERR = 54.3e9, 5.7e9


def _mass_in_plane(sigma_of_R, R_max=200.0) -> float:
    """int_0^R_max 2 pi R Sigma(R) dR [Msun] of Sigma [Msun/pc^2] by adaptive quadrature."""
    f = lambda R: 2 * np.pi * R * sigma_of_R(R)[0] * 1e6  # noqa: E731 (Msun/pc^2 -> Msun/kpc^2)
    return integrate.quad(f, 0.0, R_max, limit=500, points=[1.0, 5.0, 20.0], epsabs=0.0, epsrel=1e-11)[0]


def _bulge_mass_spheroid(b=mwb.MCMILLAN17_BULGE) -> float:
    """Mass [Msun] of the oblate bulge from its shells: 4 pi q int m^2 rho(m) dm (no projection)."""
    f = lambda m: m * m * mwb.bulge_density(m, 0.0, b) * 1e9  # noqa: E731 (Msun/pc^3 -> Msun/kpc^3)
    return 4 * np.pi * b["q"] * integrate.quad(f, 0.0, 50.0, limit=500, points=[b["r0"], b["r_cut"]])[0]


# --------------------------------------------------------------------------- independent facts
def test_disk_masses_are_the_radial_integrals_of_the_closed_forms():
    # whole column (zmax >> z_d): exponential disks hold 2 pi Sigma0 R_d^2; a disk with a hole
    # int 2 pi R Sigma0 exp(-R_m/R - R/R_d) dR = 4 pi Sigma0 R_m R_d K_2(2 sqrt(R_m/R_d)) (Gradshteyn 3.471.9)
    for name, d in mwb.MCMILLAN17_DISKS.items():
        S0, Rd, Rm = d["Sigma0"] * 1e6, d["R_d"], d["R_hole"]
        expected = 4 * np.pi * S0 * Rm * Rd * special.kv(2, 2 * math.sqrt(Rm / Rd)) if Rm else 2 * np.pi * S0 * Rd**2
        got = _mass_in_plane(lambda R, n=name: mwb.disk_surface_density(R, n, zmax=1e3))
        assert got == pytest.approx(expected, rel=1e-8), name
    # McMillan's thin disk: 2 pi 896 Msun/pc^2 (2.5 kpc)^2 = 3.52e10 Msun
    assert 2 * np.pi * 896e6 * 2.5**2 == pytest.approx(3.519e10, rel=1e-3)


def test_stellar_mass_is_the_published_one():
    # thin + thick + bulge against McMillan's total stellar mass (the abstract's posterior, 1 sigma)
    disks = sum(2 * np.pi * mwb.MCMILLAN17_DISKS[n]["Sigma0"] * 1e6 * mwb.MCMILLAN17_DISKS[n]["R_d"] ** 2
                for n in ("thin", "thick"))  # fmt: skip
    total = disks + _bulge_mass_spheroid()
    assert abs(total - M_STARS_PUBLISHED) < M_STARS_ERR


def test_bulge_projection_holds_the_spheroid_mass():
    # the projected bulge, integrated over the plane, holds the mass of its shells (Simpson on a fine
    # log grid: the core is 0.075 kpc wide, so the sum is good to ~1e-7)
    R = np.geomspace(1e-4, 20.0, 4000)
    S = mwb.bulge_surface_density(R, zmax=50.0)
    assert integrate.simpson(2 * np.pi * R * S * 1e6, x=R) == pytest.approx(_bulge_mass_spheroid(), rel=1e-6)


def test_bulge_projection_is_the_abel_integral():
    # Sigma(R) = 2 q int_R^m_max rho(m) m / sqrt(m^2 - R^2) dm (z = q sqrt(m^2 - R^2)), one quadrature per
    # radius with the 1/sqrt singularity as quad's algebraic weight: independent of the z quadrature
    b, zmax = mwb.MCMILLAN17_BULGE, 10.0
    for R in np.concatenate([[0.02], R_CHECK]):
        m_max = math.hypot(R, zmax / b["q"])
        f = lambda m, R=R: 2 * b["q"] * mwb.bulge_density(m, 0.0) * m / np.sqrt(m + R)  # noqa: E731
        abel = integrate.quad(f, R, m_max, weight="alg", wvar=(-0.5, 0), epsabs=0.0, epsrel=1e-12, limit=400)[0]
        assert mwb.bulge_surface_density(R, zmax)[0] == pytest.approx(abel * 1e3, rel=1e-9), R


def test_closed_forms_match_galpy_density_integrated_per_radius():
    """galpy's own McMillan17 density functions (mwpot_helpers) integrated over |z| < zmax by quad at each
    radius, as galpy's surfdens does, with the published parameters. Tolerance 1e-9: both sides are exact
    to quad's epsrel = 1e-12 (measured differences below 1e-14)."""
    from galpy.potential import mwpot_helpers as h  # imported here: galpy is optional and slow to import

    D, B = mwb.MCMILLAN17_DISKS, mwb.MCMILLAN17_BULGE
    dens = {
        "thin": lambda R, z: h.expexp_dens(R, z, D["thin"]["R_d"], D["thin"]["z_d"], D["thin"]["Sigma0"]),
        "thick": lambda R, z: h.expexp_dens(R, z, D["thick"]["R_d"], D["thick"]["z_d"], D["thick"]["Sigma0"]),
        **{n: (lambda R, z, d=D[n]: h.expsech2_dens_with_hole(R, z, d["R_d"], d["R_hole"], d["z_d"], d["Sigma0"]))
           for n in ("HI", "H2")},
        "bulge": lambda R, z: 1e3 * h.core_pow_dens_with_cut(R, z, 1.8, B["r0"], B["r_cut"], B["rho0"], 0.5),
    }  # fmt: skip
    for zmax in (10.0, 0.3):  # the whole column, and a slab of one thin-disk scale height
        for name, rho in dens.items():
            quad = [integrate.quad(lambda z, R=R, rho=rho: rho(R, z), -zmax, zmax, points=[0.0], epsabs=0.0,
                                   epsrel=1e-12, limit=200)[0] for R in R_CHECK]  # fmt: skip
            assert mwb.surface_density(R_CHECK, name, zmax) == pytest.approx(quad, rel=1e-9, abs=1e-30), (name, zmax)


def test_groups_sum_their_parts_and_reject_unknown_names():
    R = R_CHECK
    parts = {n: mwb.surface_density(R, n) for n in ("thin", "thick", "HI", "H2", "bulge")}
    assert mwb.surface_density(R, "stellar disks") == pytest.approx(parts["thin"] + parts["thick"], rel=1e-15)
    assert mwb.surface_density(R, "baryons") == pytest.approx(sum(parts.values()), rel=1e-15)
    # the thin disk within one scale height holds 1 - 1/e of its column (exponential profile)
    assert mwb.disk_surface_density(R, "thin", 0.3) / mwb.disk_surface_density(R, "thin", 1e3) == pytest.approx(
        1 - math.exp(-1), rel=1e-12
    )
    with pytest.raises(InputError, match="dust"):
        mwb.surface_density(R, "dust")
    with pytest.raises(InputError, match="zmax"):
        mwb.surface_density(R, "thin", zmax=0.0)
    with pytest.raises(InputError, match="R must be"):
        mwb.bulge_surface_density([-1.0])


def test_speed_cache_key_changes_with_the_code(tmp_path, monkeypatch):
    monkeypatch.setenv("CMSI_RESULTS_DIR", str(tmp_path))

    def f():
        return 1

    def g():
        return 2

    R = mwb.GRID_R
    assert mwb._cache_file("speeds", R, (f,)) == mwb._cache_file("speeds", R, (f,))
    assert mwb._cache_file("speeds", R, (f,)) != mwb._cache_file("speeds", R, (g,))
    assert mwb._cache_file("speeds", R, (f,)) != mwb._cache_file("speeds", R[:-1], (f,))
    assert mwb._cache_file("speeds", R).parent == tmp_path / "milky_way"


# --------------------------------------------------------------------------- against galpy's McMillan17 (slow)
@pytest.fixture(scope="module")
def galpy_model():
    module, (disk, halo, bulge) = mwb.mcmillan17()
    return module, disk, halo, bulge


def test_published_parameters_are_galpys(galpy_model):
    module = galpy_model[0]
    p = mwb.mcmillan17_parameters()
    for name, d in mwb.MCMILLAN17_DISKS.items():
        for key in ("Sigma0", "R_d", "z_d") + (("R_hole",) if d["R_hole"] else ()):
            assert p[name][key] == pytest.approx(d[key], rel=1e-12), (name, key)
    for key in ("rho0", "r0", "r_cut"):
        assert p["bulge"][key] == pytest.approx(mwb.MCMILLAN17_BULGE[key], rel=1e-12), key
    # alpha and q are literals inside galpy's bulge_dens: compare the density itself (internal units)
    R, z = np.array([0.05, 0.5, 1.0, 2.0]), np.array([0.0, 0.1, 0.4, 1.0])
    rho = module.bulge_dens(R / module.ro, z / module.ro) * module.rhoo
    assert mwb.bulge_density(R, z) == pytest.approx(rho, rel=1e-12)


def test_closed_forms_against_galpys_scf_surface_density(galpy_model):
    """galpy's evaluateSurfaceDensities integrates the density of its SCF expansions (disks N = L = 30,
    bulge N = 20, L = 10), not McMillan's density: they differ by the expansion's truncation error,
    measured at these radii as at most 0.3 % of a component where it matters and an absolute residual
    of at most 0.12 Msun/pc^2 (the gas disks' hole at 1 kpc) or 0.011 Msun/pc^2 (the bulge beyond 8 kpc,
    where its true Sigma is < 1e-5). Tolerance: 0.4 % + 0.15 Msun/pc^2, i.e. at the Sun (Sigma ~ 62) the
    closed form and galpy agree to about 0.6 %."""
    comps = mwb.baryonic_components()
    for name, pot in comps.items():
        scf = mwb.surface_density_direct(pot, R_CHECK, zmax=10.0)
        exact = mwb.surface_density(R_CHECK, name, zmax=10.0)
        assert exact == pytest.approx(scf, rel=4e-3, abs=0.15), name


def test_gas_speed_is_combined_disk_minus_stars(galpy_model):
    # the grid's shortcut: the expansion is linear in the density, so F_gas = F_disk - F_stars, measured
    # to 2e-14 against the separately built gas disks
    _, disk, _, _ = galpy_model
    comps = mwb.baryonic_components()
    R = np.array([3.0, 5.0, 8.21, 15.0, 30.0])
    v2_gas = mwb._v2(disk, R) - mwb._v2(mwb.stellar_disks_potential(), R)
    assert v2_gas == pytest.approx(mwb._v2(comps["gas disks"], R), rel=1e-9)
