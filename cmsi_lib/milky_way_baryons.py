"""The Milky Way's baryons: McMillan 2017 (MNRAS 465, 76) as implemented in galpy, and sigma_v.

galpy's ``McMillan17`` is [disk, halo, bulge], the disk holding the thin and thick stellar disks
and the HI and H2 gas disks. ``v_bar`` uses disk + bulge without the halo; ``Sigma`` is galpy's
surface density of the same components integrated over |z| < ``zmax``. The full model with its
NFW halo is the dark-matter baseline. galpy evaluations are slow (~1 s per radius for a surface
density), so they are tabulated once on a radius grid and cached as JSON in
``results/milky_way/``; in-between radii are interpolated (:class:`BaryonGrid`).

galpy is a heavy optional dependency (importing McMillan17 takes ~8 s): it is imported inside
the functions that evaluate it, so reading the cached grid never imports it.

Units: R in kpc, speeds in km/s, Sigma in Msun/pc^2. astropy Quantities are accepted for R.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import math
import operator
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import astropy.units as u
import numpy as np
from scipy import interpolate

from . import paths, results
from .curves import signed_sqrt, signed_square
from .errors import InputError
from .units import G_KPC_KMS2_MSUN, as_value

__all__ = [
    "SIGMA_V_CHOICES",
    "SIGMA_COMPONENTS",
    "THIN_DISK_SIGMA_R_SUN",
    "THIN_DISK_SIGMA_Z_SUN",
    "GAS_SIGMA",
    "ZMAX_DEFAULT",
    "GRID_R",
    "as_radii_kpc",
    "mcmillan17",
    "mcmillan17_parameters",
    "baryonic_components",
    "signed_speed",
    "v_bar_direct",
    "surface_density_direct",
    "BaryonGrid",
    "baryon_grid",
    "interpolation_error",
    "sigma_v_profile",
]

#: sigma_v choices for CMSI's coherence factor (see ``sigma_v_profile``).
SIGMA_V_CHOICES = ("stellar-radial", "stellar-vertical", "isothermal", "gas")

#: which galpy components make the Sigma that enters F
SIGMA_COMPONENTS = ("baryons", "stellar-disks")

#: Local thin-disk velocity dispersions [km/s] used to normalise the stellar profiles at R0:
#: sigma_U = 35, sigma_W = 16 (Bensby, Feltzing & Lundstrom 2003, A&A 410, 527, Table 1).
THIN_DISK_SIGMA_R_SUN = 35.0
THIN_DISK_SIGMA_Z_SUN = 16.0
#: HI gas velocity dispersion [km/s] (typical 8-12 km/s; SCIENCE.md section 1)
GAS_SIGMA = 10.0
#: default |z| limit of the surface-density integral [kpc]: "the whole column" for disks of
#: scale height <= 0.9 kpc (McMillan 2017)
ZMAX_DEFAULT = 10.0
#: radius grid on which galpy is evaluated and cached [kpc]
GRID_R = np.round(np.arange(3.0, 30.0 + 1e-9, 0.5), 10)


def as_radii_kpc(R) -> np.ndarray:
    """R [kpc, or an astropy length] as a 1-d float array; InputError unless finite and > 0."""
    R = np.atleast_1d(as_value(R, u.kpc, "R"))
    if not np.all(np.isfinite(R)) or np.any(R <= 0):
        raise InputError(f"R must be finite and > 0 kpc; got min {np.min(R)!r}")
    return R


def _check_zmax(zmax: float) -> None:
    if not (math.isfinite(zmax) and zmax > 0):
        raise InputError(f"zmax must be > 0 kpc (finite), got {zmax!r}")


# =========================================================================== galpy
@functools.cache
def mcmillan17():
    """galpy's McMillan 2017 potential: returns (module, [disk, halo, bulge]) with module.ro [kpc]
    and module.vo [km/s] its unit normalisation. Importing it takes ~8 s (SCF coefficients)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # galpy: heavy optional dependency, imported only when McMillan17 is evaluated
        from galpy.potential import McMillan17 as module
        from galpy.potential.mwpotentials import McMillan17  # galpy (see above)
    return module, list(McMillan17)


def mcmillan17_parameters() -> dict[str, dict[str, float]]:
    """The disk and bulge parameters of galpy's McMillan17, converted to physical units
    (Sigma0 [Msun/pc^2], R_d, R_hole, z_d [kpc]) from galpy's own module constants."""
    m, _ = mcmillan17()
    ro, sigo = m.ro, m.sigo
    return {
        "thin": {"Sigma0": m.Sigma0_thin * sigo, "R_d": m.Rd_thin * ro, "z_d": m.zd_thin * ro},
        "thick": {"Sigma0": m.Sigma0_thick * sigo, "R_d": m.Rd_thick * ro, "z_d": m.zd_thick * ro},
        "HI": {"Sigma0": m.Sigma0_HI * sigo, "R_d": m.Rd_HI * ro, "R_hole": m.Rm_HI * ro, "z_d": m.zd_HI * ro},
        "H2": {"Sigma0": m.Sigma0_H2 * sigo, "R_d": m.Rd_H2 * ro, "R_hole": m.Rm_H2 * ro, "z_d": m.zd_H2 * ro},
        "units": {"ro_kpc": ro, "vo_kms": m.vo},
    }


@functools.cache
def baryonic_components() -> dict:
    """The baryonic McMillan17 components as separate galpy potentials:
    {"bulge", "stellar disks", "gas disks"}. The two disk groups are DiskSCFPotentials built from
    galpy's own McMillan17 density functions and Sigma/hz dictionaries with the same expansion
    (a, N, L) as the combined disk, so they sum to it. Building them takes ~12 s."""
    from galpy.potential import DiskSCFPotential  # galpy: heavy optional dependency (see module doc)

    m, (disk, _halo, bulge) = mcmillan17()
    common = dict(a=2.5, N=30, L=30, ro=m.ro, vo=m.vo)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        stars = DiskSCFPotential(dens=m.stellar_dens, Sigma=m.sigmadict[2:], hz=m.hzdict[2:], **common)
        gas = DiskSCFPotential(dens=m.gas_dens, Sigma=m.sigmadict[:2], hz=m.hzdict[:2], **common)
    return {"bulge": bulge, "stellar disks": stars, "gas disks": gas}


def _combined(pot):
    """A galpy potential from one potential or a list (combined with +: galpy deprecates lists)."""
    if isinstance(pot, (list, tuple)):
        return functools.reduce(operator.add, pot)
    return pot


def signed_speed(pot, R) -> np.ndarray:
    """Signed circular speed [km/s] of galpy potential(s) ``pot`` in the plane at R [kpc]:
    sign(v^2) sqrt|v^2| with v^2 = -R F_R (negative where the net pull is outward, e.g. the
    central hole of a gas disk; galpy's vcirc gives NaN there)."""
    from galpy.potential import evaluateRforces  # galpy: heavy optional dependency (see module doc)

    m, _ = mcmillan17()
    R = as_radii_kpc(R)
    with np.errstate(all="ignore"):
        FR = evaluateRforces(_combined(pot), R * u.kpc, 0 * u.kpc, ro=m.ro, vo=m.vo, quantity=True)
    return signed_sqrt(-(R * u.kpc * FR).to_value(u.km**2 / u.s**2))


def v_bar_direct(R) -> np.ndarray:
    """Baryonic circular speed [km/s] of McMillan17 without its halo (galpy disk + bulge), at R [kpc]."""
    _, (disk, _halo, bulge) = mcmillan17()
    return signed_speed([disk, bulge], R)


def surface_density_direct(pot, R, zmax: float = ZMAX_DEFAULT) -> np.ndarray:
    """Surface density [Msun/pc^2] of galpy potential(s) ``pot``, integrated over |z| < zmax [kpc]
    with galpy's ``evaluateSurfaceDensities`` (one quadrature per radius: ~0.3-1.4 s each)."""
    from galpy.potential import evaluateSurfaceDensities  # galpy: heavy optional dependency

    m, _ = mcmillan17()
    R = as_radii_kpc(R)
    _check_zmax(zmax)
    pot = _combined(pot)
    with np.errstate(all="ignore"):
        return np.array([
            evaluateSurfaceDensities(pot, r * u.kpc, zmax * u.kpc, ro=m.ro, vo=m.vo, quantity=True)
            .to_value(u.Msun / u.pc**2)
            for r in R
        ])  # fmt: skip


# =========================================================================== the cached grid
@dataclass(frozen=True)
class BaryonGrid:
    """galpy's McMillan17 tabulated on radii R_kpc: signed speeds [km/s] of each baryonic
    component, of all baryons (v_bar) and of the full model with halo (v_full), and surface
    densities [Msun/pc^2] of each component within |z| < zmax [kpc]."""

    R_kpc: np.ndarray
    zmax: float
    v: dict  # name -> km/s; names: bulge, stellar disks, gas disks, baryons, full model
    Sigma: dict  # name -> Msun/pc^2; names: bulge, stellar disks, gas disks
    meta: dict = field(default_factory=dict)

    @property
    def R0_kpc(self) -> float:
        """McMillan's solar radius R0 [kpc] (galpy's ro)."""
        return self.meta["parameters"]["units"]["ro_kpc"]

    @property
    def step_kpc(self) -> float:
        """Grid step [kpc]."""
        return float(np.diff(self.R_kpc)[0])

    def speed(self, name: str, R) -> np.ndarray:
        """Interpolated signed speed [km/s] of component ``name`` (cubic spline in v|v|)."""
        R = self._inside(R)
        return signed_sqrt(interpolate.CubicSpline(self.R_kpc, signed_square(self.v[name]))(R))

    def surface_density(self, R, components: str = "baryons") -> np.ndarray:
        """Interpolated Sigma [Msun/pc^2] (cubic spline in log Sigma) of SIGMA_COMPONENTS, or of
        one tabulated component (a key of ``Sigma``, e.g. "gas disks")."""
        if components == "baryons":
            names = ("bulge", "stellar disks", "gas disks")
        elif components == "stellar-disks":
            names = ("stellar disks",)
        elif components in self.Sigma:
            names = (components,)
        else:
            raise InputError(f"Sigma components {components!r} not one of {SIGMA_COMPONENTS} or {tuple(self.Sigma)}")
        R = self._inside(R)
        # sum first: the bulge alone is SCF noise of +-0.003 Msun/pc^2 (either sign) beyond 5 kpc
        total = sum(self.Sigma[n] for n in names)
        return np.exp(interpolate.CubicSpline(self.R_kpc, np.log(total))(R))

    def _inside(self, R) -> np.ndarray:
        R = as_radii_kpc(R)
        lo, hi = self.R_kpc[0], self.R_kpc[-1]
        if np.any(R < lo) or np.any(R > hi):
            raise InputError(f"R must lie in the tabulated range {lo:g}-{hi:g} kpc; got {R.min():g}-{R.max():g}")
        return R


def _grid_cache_file(R: np.ndarray, zmax: float) -> Path:
    key = json.dumps({
        "galpy": importlib.metadata.version("galpy"),  # galpy.__version__ without importing galpy
        "R": [float(r).hex() for r in R],
        "zmax": float(zmax).hex(),
        "format": 2,
    })  # fmt: skip
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return paths.results_dir() / "milky_way" / f"mcmillan17_grid-{digest}.json"


def _compute_grid(R: np.ndarray, zmax: float) -> BaryonGrid:
    t0 = time.perf_counter()
    m, (disk, halo, bulge) = mcmillan17()
    comps = baryonic_components()
    v = {name: signed_speed(p, R) for name, p in comps.items()}
    v["baryons"] = signed_speed([disk, bulge], R)
    v["full model"] = signed_speed([disk, halo, bulge], R)
    Sigma = {name: surface_density_direct(p, R, zmax) for name, p in comps.items()}
    meta = {
        "galpy": importlib.metadata.version("galpy"),
        "seconds": time.perf_counter() - t0,
        "ro_kpc": m.ro,
        "vo_kms": m.vo,
        "parameters": mcmillan17_parameters(),
    }
    return BaryonGrid(R, float(zmax), v, Sigma, meta)


def baryon_grid(zmax: float = ZMAX_DEFAULT, R_grid=GRID_R, use_cache: bool = True) -> BaryonGrid:
    """McMillan17 on a radius grid, from the JSON cache in results/milky_way/ when present
    (keyed by galpy version, grid and zmax), else computed with galpy (~1 min) and cached."""
    R = as_radii_kpc(R_grid)
    _check_zmax(zmax)
    f = _grid_cache_file(R, zmax)
    if use_cache and f.exists():
        d = json.loads(f.read_text())
        return BaryonGrid(
            np.array(d["R_kpc"]), d["zmax"],
            {k: np.array(v) for k, v in d["v"].items()}, {k: np.array(v) for k, v in d["Sigma"].items()},
            d["meta"],
        )  # fmt: skip
    grid = _compute_grid(R, zmax)
    if use_cache:
        results.atomic_write_text(f, json.dumps({
            "R_kpc": R.tolist(), "zmax": float(zmax), "meta": grid.meta,
            "v": {k: a.tolist() for k, a in grid.v.items()},
            "Sigma": {k: a.tolist() for k, a in grid.Sigma.items()},
        }))  # fmt: skip
    return grid


def interpolation_error(grid: BaryonGrid, R) -> tuple[float, float]:
    """Largest fractional error of the grid's v_bar and baryonic Sigma at radii R [kpc] against
    galpy evaluated directly there (slow: loads galpy). Returns (max |dv/v|, max |dSigma/Sigma|)."""
    _, (disk, _halo, bulge) = mcmillan17()
    vb_direct = v_bar_direct(R)
    S_direct = surface_density_direct([disk, bulge], R, zmax=grid.zmax)
    err_v = float(np.max(np.abs(grid.speed("baryons", R) / vb_direct - 1)))
    err_S = float(np.max(np.abs(grid.surface_density(R) / S_direct - 1)))
    return err_v, err_S


# =========================================================================== sigma_v
def sigma_v_profile(R, choice: str | float = "stellar-radial", Sigma=None, disk: dict | None = None) -> np.ndarray:
    """Velocity dispersion sigma_v [km/s] entering N_coh, at R [kpc].

    "stellar-radial"   thin-disk sigma_R(R) = 35 km/s exp(-(R - R0)/(2 R_d)), R_d = 2.5 kpc the thin-disk
                       scale length, R0 = McMillan's 8.21 kpc (the exp(-R/2R_d) law of a constant-
                       thickness disk; normalisation from Bensby et al. 2003, Table 1)
    "stellar-vertical" the same with sigma_z(R0) = 16 km/s
    "isothermal"       sigma_z = sqrt(2 pi G Sigma h_z), the isothermal sheet with the thin-disk
                       exponential scale height h_z = 0.3 kpc and ``Sigma`` [Msun/pc^2] (needed)
    "gas"              HI gas, a constant 10 km/s
    A positive number (float) gives a constant sigma_v of that value.
    ``disk``: the McMillan17 parameters as ``mcmillan17_parameters()`` returns them (read from galpy
    when not given; a BaryonGrid carries them in ``meta["parameters"]``).
    """
    R = as_radii_kpc(R)
    if isinstance(choice, (int, float)) and not isinstance(choice, bool):
        if not (math.isfinite(choice) and choice > 0):
            raise InputError(f"a constant sigma_v must be > 0 km/s, got {choice!r}")
        return np.full_like(R, float(choice))
    if choice not in SIGMA_V_CHOICES:
        raise InputError(f"sigma_v choice {choice!r} is not one of {SIGMA_V_CHOICES} or a number [km/s]")
    p = disk if disk is not None else mcmillan17_parameters()
    if choice == "gas":
        return np.full_like(R, GAS_SIGMA)
    if choice == "isothermal":
        if Sigma is None:
            raise InputError("sigma_v 'isothermal' needs Sigma [Msun/pc^2]")
        S_kpc2 = as_value(Sigma, u.Msun / u.pc**2, "Sigma") * 1e6  # Msun/kpc^2
        return np.broadcast_to(np.sqrt(2 * np.pi * G_KPC_KMS2_MSUN * S_kpc2 * p["thin"]["z_d"]), R.shape).copy()
    R0 = p["units"]["ro_kpc"]
    s0 = THIN_DISK_SIGMA_R_SUN if choice == "stellar-radial" else THIN_DISK_SIGMA_Z_SUN
    return s0 * np.exp(-(R - R0) / (2 * p["thin"]["R_d"]))
