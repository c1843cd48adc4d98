"""The Milky Way's baryons: McMillan 2017 (MNRAS 465, 76), its surface densities in closed form,
its circular speeds from galpy, and sigma_v.

McMillan's baryons are two stellar disks (exponential in R and in |z|), two gas disks
(exp(-R_hole/R - R/R_d) in R with a central hole, sech^2 in z) and a flattened, truncated
power-law bulge. Their surface densities within |z| < ``zmax`` are analytic for the disks
(``disk_surface_density``) and one vectorised quadrature over z for the bulge
(``bulge_surface_density``): milliseconds for all radii, no galpy.

The circular speeds come from galpy's ``McMillan17`` [disk, halo, bulge], the disk holding both
stellar and both gas disks: ``v_bar`` uses disk + bulge without the halo; the full model with
its NFW halo is the dark-matter baseline. galpy's SCF expansions are built once (~8 s to import
McMillan17, ~6 s for the separate stellar disks), its forces are vectorised over radii; the
speeds are tabulated on a radius grid and cached as JSON in ``results/milky_way/`` (keyed by
galpy's version and the source of the code that computes them), in-between radii are
interpolated (:class:`BaryonGrid`). galpy is imported inside the functions that evaluate it, so
reading the cached grid never imports it.

Units: R, z in kpc, speeds in km/s, Sigma in Msun/pc^2, rho in Msun/pc^3. astropy Quantities
are accepted for R.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import inspect
import json
import math
import operator
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import astropy.units as u
import numpy as np
from scipy import integrate, interpolate

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
    "MCMILLAN17_DISKS",
    "MCMILLAN17_BULGE",
    "SIGMA_GROUPS",
    "as_radii_kpc",
    "disk_surface_density",
    "bulge_density",
    "bulge_surface_density",
    "surface_density",
    "mcmillan17",
    "mcmillan17_parameters",
    "stellar_disks_potential",
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

#: which components make the Sigma that enters F
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

#: McMillan (2017) disks, best-fitting model (Table 2; the gas disks are fixed, section 2.3), as
#: galpy 1.12's McMillan17 module sets them: Sigma0 [Msun/pc^2], R_d, R_hole, z_d [kpc] and the
#: vertical profile: "exp" rho = Sigma0 exp(-|z|/z_d)/(2 z_d) exp(-R/R_d), "sech2"
#: rho = Sigma0 sech^2(z/(2 z_d))/(4 z_d) exp(-R_hole/R - R/R_d).
MCMILLAN17_DISKS = {
    "thin": {"Sigma0": 896.0, "R_d": 2.5, "R_hole": 0.0, "z_d": 0.3, "vertical": "exp"},
    "thick": {"Sigma0": 183.0, "R_d": 3.02, "R_hole": 0.0, "z_d": 0.9, "vertical": "exp"},
    "HI": {"Sigma0": 53.1, "R_d": 7.0, "R_hole": 4.0, "z_d": 0.085, "vertical": "sech2"},
    "H2": {"Sigma0": 2180.0, "R_d": 1.5, "R_hole": 12.0, "z_d": 0.045, "vertical": "sech2"},
}
#: McMillan (2017) bulge (Bissantz & Gerhard 2002's, axisymmetrised; eq. 1 and Table 2):
#: rho = rho0 (1 + m/r0)^-alpha exp(-(m/r_cut)^2), m = sqrt(R^2 + (z/q)^2); rho0 [Msun/pc^3],
#: r0, r_cut [kpc]
MCMILLAN17_BULGE = {"rho0": 98.4, "r0": 0.075, "r_cut": 2.1, "alpha": 1.8, "q": 0.5}
#: the tabulated Sigma components and the McMillan17 parts each sums
SIGMA_GROUPS = {"bulge": ("bulge",), "stellar disks": ("thin", "thick"), "gas disks": ("HI", "H2")}


def as_radii_kpc(R) -> np.ndarray:
    """R [kpc, or an astropy length] as a 1-d float array; InputError unless finite and > 0."""
    R = np.atleast_1d(as_value(R, u.kpc, "R"))
    if not np.all(np.isfinite(R)) or np.any(R <= 0):
        raise InputError(f"R must be finite and > 0 kpc; got min {np.min(R)!r}")
    return R


def _check_zmax(zmax: float) -> None:
    if not (math.isfinite(zmax) and zmax > 0):
        raise InputError(f"zmax must be > 0 kpc (finite), got {zmax!r}")


# =========================================================================== Sigma, closed form
def disk_surface_density(R, name: str, zmax: float = ZMAX_DEFAULT, disks: dict = MCMILLAN17_DISKS) -> np.ndarray:
    """Surface density [Msun/pc^2] within |z| < zmax [kpc] of McMillan17's disk ``name`` (a key of
    ``disks``: thin, thick, HI, H2) at R [kpc], exactly: Sigma0 exp(-R_hole/R - R/R_d) times the
    fraction of the column within zmax, 1 - exp(-zmax/z_d) (exponential) or tanh(zmax/(2 z_d))
    (sech^2)."""
    R = as_radii_kpc(R)
    _check_zmax(zmax)
    if name not in disks:
        raise InputError(f"disk {name!r} is not one of {tuple(disks)}")
    d = disks[name]
    if d["vertical"] == "exp":
        column = -math.expm1(-zmax / d["z_d"])
    elif d["vertical"] == "sech2":
        column = math.tanh(zmax / (2 * d["z_d"]))
    else:
        raise InputError(f"disk {name!r}: vertical profile {d['vertical']!r} is not 'exp' or 'sech2'")
    return d["Sigma0"] * column * np.exp(-d["R_hole"] / R - R / d["R_d"])


def bulge_density(R, z, bulge: dict = MCMILLAN17_BULGE) -> np.ndarray:
    """McMillan17's bulge density [Msun/pc^3] at (R, z) [kpc] (see MCMILLAN17_BULGE)."""
    b = bulge
    m = np.hypot(R, np.asarray(z, float) / b["q"])
    return b["rho0"] * (1 + m / b["r0"]) ** -b["alpha"] * np.exp(-((m / b["r_cut"]) ** 2))


def bulge_surface_density(R, zmax: float = ZMAX_DEFAULT, bulge: dict = MCMILLAN17_BULGE) -> np.ndarray:
    """Surface density [Msun/pc^2] of McMillan17's bulge within |z| < zmax [kpc] at R [kpc]:
    2 rho(R, 0) int_0^zmax rho(R, z)/rho(R, 0) dz, one adaptive quadrature (scipy's quad_vec)
    over all radii at once. The ratio, exp(-alpha ln[(1 + m/r0)/(1 + R/r0)] - z^2/(q r_cut)^2),
    is 1 at z = 0 for every R, so the common error target holds for each radius, and rho(R, 0)
    may underflow far out without a 0/0."""
    R = as_radii_kpc(R)
    _check_zmax(zmax)
    b = bulge

    def ratio(z):
        m = np.hypot(R, z / b["q"])
        return np.exp(-b["alpha"] * np.log1p((m - R) / (b["r0"] + R)) - (z / (b["q"] * b["r_cut"])) ** 2)

    column, _err = integrate.quad_vec(ratio, 0.0, zmax, epsabs=0.0, epsrel=1e-12, limit=200)
    return 2 * bulge_density(R, 0.0, b) * column * 1e3  # Msun/pc^3 * kpc -> Msun/pc^2


def surface_density(R, component: str = "baryons", zmax: float = ZMAX_DEFAULT) -> np.ndarray:
    """Exact surface density [Msun/pc^2] within |z| < zmax [kpc] at R [kpc] of "baryons" (all),
    a SIGMA_GROUPS name ("bulge", "stellar disks", "gas disks") or one disk (thin, thick, HI, H2)."""
    if component == "baryons":
        parts = [p for g in SIGMA_GROUPS.values() for p in g]
    elif component in SIGMA_GROUPS:
        parts = list(SIGMA_GROUPS[component])
    elif component in MCMILLAN17_DISKS:
        parts = [component]
    else:
        raise InputError(
            f"component {component!r} is not 'baryons', one of {tuple(SIGMA_GROUPS)} or a disk "
            f"{tuple(MCMILLAN17_DISKS)}"
        )
    R = as_radii_kpc(R)
    return sum(bulge_surface_density(R, zmax) if p == "bulge" else disk_surface_density(R, p, zmax) for p in parts)


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
    (Sigma0 [Msun/pc^2], R_d, R_hole, z_d, r0, r_cut [kpc], rho0 [Msun/pc^3]) from galpy's own
    module constants (the bulge's alpha = 1.8 and q = 0.5 are literals inside galpy's bulge_dens)."""
    m, _ = mcmillan17()
    ro, sigo = m.ro, m.sigo
    return {
        "thin": {"Sigma0": m.Sigma0_thin * sigo, "R_d": m.Rd_thin * ro, "z_d": m.zd_thin * ro},
        "thick": {"Sigma0": m.Sigma0_thick * sigo, "R_d": m.Rd_thick * ro, "z_d": m.zd_thick * ro},
        "HI": {"Sigma0": m.Sigma0_HI * sigo, "R_d": m.Rd_HI * ro, "R_hole": m.Rm_HI * ro, "z_d": m.zd_HI * ro},
        "H2": {"Sigma0": m.Sigma0_H2 * sigo, "R_d": m.Rd_H2 * ro, "R_hole": m.Rm_H2 * ro, "z_d": m.zd_H2 * ro},
        "bulge": {"rho0": m.rho0_bulge * m.rhoo, "r0": m.r0_bulge * ro, "r_cut": m.rcut * ro},
        "units": {"ro_kpc": ro, "vo_kms": m.vo},
    }


def _disk_scf(dens, sigma, hz):
    """A DiskSCFPotential with the expansion (a, N, L) of galpy's combined McMillan17 disk."""
    from galpy.potential import DiskSCFPotential  # galpy: heavy optional dependency (see module doc)

    m, _ = mcmillan17()
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return DiskSCFPotential(dens=dens, Sigma=sigma, hz=hz, a=2.5, N=30, L=30, ro=m.ro, vo=m.vo)


@functools.cache
def stellar_disks_potential():
    """McMillan17's thin + thick stellar disks alone as a galpy DiskSCFPotential, built from galpy's
    own density function and Sigma/hz dictionaries with the combined disk's expansion (~6 s).
    Everything in the expansion is linear in the density, so the gas disks are the combined disk
    minus this one."""
    m, _ = mcmillan17()
    return _disk_scf(m.stellar_dens, m.sigmadict[2:], m.hzdict[2:])


@functools.cache
def baryonic_components() -> dict:
    """The baryonic McMillan17 components as separate galpy potentials:
    {"bulge", "stellar disks", "gas disks"}, the two disk groups built like
    ``stellar_disks_potential`` so that they sum to the combined disk (~12 s)."""
    m, (_disk, _halo, bulge) = mcmillan17()
    gas = _disk_scf(m.gas_dens, m.sigmadict[:2], m.hzdict[:2])
    return {"bulge": bulge, "stellar disks": stellar_disks_potential(), "gas disks": gas}


def _combined(pot):
    """A galpy potential from one potential or a list (combined with +: galpy deprecates lists)."""
    if isinstance(pot, (list, tuple)):
        return functools.reduce(operator.add, pot)
    return pot


def _v2(pot, R: np.ndarray) -> np.ndarray:
    """Signed squared circular speed -R F_R [(km/s)^2] of galpy potential(s) in the plane at R [kpc]
    (one vectorised galpy force evaluation)."""
    from galpy.potential import evaluateRforces  # galpy: heavy optional dependency (see module doc)

    m, _ = mcmillan17()
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="'where' used without 'out'")  # galpy's SCF code, every call
        FR = evaluateRforces(_combined(pot), R * u.kpc, 0 * u.kpc, ro=m.ro, vo=m.vo, quantity=True)
    return -(R * u.kpc * FR).to_value(u.km**2 / u.s**2)


def signed_speed(pot, R) -> np.ndarray:
    """Signed circular speed [km/s] of galpy potential(s) ``pot`` in the plane at R [kpc]:
    sign(v^2) sqrt|v^2| with v^2 = -R F_R (negative where the net pull is outward, e.g. the
    central hole of a gas disk; galpy's vcirc gives NaN there)."""
    return signed_sqrt(_v2(pot, as_radii_kpc(R)))


def v_bar_direct(R) -> np.ndarray:
    """Baryonic circular speed [km/s] of McMillan17 without its halo (galpy disk + bulge), at R [kpc]."""
    _, (disk, _halo, bulge) = mcmillan17()
    return signed_speed([disk, bulge], R)


def surface_density_direct(pot, R, zmax: float = ZMAX_DEFAULT) -> np.ndarray:
    """Surface density [Msun/pc^2] of galpy potential(s) ``pot``, integrated over |z| < zmax [kpc]
    with galpy's ``evaluateSurfaceDensities``: one quadrature of the SCF expansion's density per
    radius (~0.3-5 s each). Kept as the independent check of ``surface_density``; it carries galpy's
    SCF expansion error (see the tests)."""
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
    """McMillan17 tabulated on radii R_kpc: galpy's signed speeds [km/s] of each baryonic component,
    of all baryons (v_bar) and of the full model with halo (v_full), and the exact surface
    densities [Msun/pc^2] of each SIGMA_GROUPS component within |z| < zmax [kpc]."""

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
        # sum first: the bulge alone falls as exp(-(R/r_cut)^2), below 1e-80 Msun/pc^2 at 30 kpc
        total = sum(self.Sigma[n] for n in names)
        return np.exp(interpolate.CubicSpline(self.R_kpc, np.log(total))(R))

    def _inside(self, R) -> np.ndarray:
        R = as_radii_kpc(R)
        lo, hi = self.R_kpc[0], self.R_kpc[-1]
        if np.any(R < lo) or np.any(R > hi):
            raise InputError(f"R must lie in the tabulated range {lo:g}-{hi:g} kpc; got {R.min():g}-{R.max():g}")
        return R


def _grid_speeds(R: np.ndarray) -> dict:
    """galpy's signed speeds [km/s] on R [kpc]: four vectorised force evaluations (combined disk,
    stellar disks, bulge, halo); gas = disk - stars, baryons = disk + bulge, full = baryons + halo."""
    _, (disk, halo, bulge) = mcmillan17()
    v2 = {"disk": _v2(disk, R), "stellar disks": _v2(stellar_disks_potential(), R), "bulge": _v2(bulge, R)}
    v2["gas disks"] = v2["disk"] - v2["stellar disks"]
    v2["baryons"] = v2["disk"] + v2["bulge"]
    v2["full model"] = v2["baryons"] + _v2(halo, R)
    return {k: signed_sqrt(v2[k]) for k in ("bulge", "stellar disks", "gas disks", "baryons", "full model")}


#: the code whose output the speed cache holds: its source is part of the cache key
_SPEED_CODE = (mcmillan17, mcmillan17_parameters, _disk_scf, stellar_disks_potential, _combined, _v2, _grid_speeds)


def _cache_file(kind: str, R: np.ndarray, code=_SPEED_CODE) -> Path:
    """results/milky_way/<kind>-<digest>.json, the digest over galpy's version, the radii and the
    source of ``code`` (so a change of the code or of galpy recomputes)."""
    source = "\n".join(inspect.getsource(inspect.unwrap(f)) for f in code)
    key = json.dumps({
        "galpy": importlib.metadata.version("galpy"),  # galpy.__version__ without importing galpy
        "R": [float(r).hex() for r in R],
        "code": hashlib.sha256(source.encode()).hexdigest(),
        "format": 3,
    })  # fmt: skip
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return paths.results_dir() / "milky_way" / f"{kind}-{digest}.json"


def _speeds(R: np.ndarray, use_cache: bool) -> tuple[dict, dict]:
    """(speeds, meta) on R from the cache, else from galpy (~15-20 s cold) and cached."""
    f = _cache_file("mcmillan17_speeds", R)
    if use_cache and f.exists():
        d = json.loads(f.read_text())
        return {k: np.array(v) for k, v in d["v"].items()}, d["meta"]
    t0 = time.perf_counter()
    v = _grid_speeds(R)
    meta = {
        "galpy": importlib.metadata.version("galpy"),
        "seconds": time.perf_counter() - t0,
        "parameters": mcmillan17_parameters(),
    }
    meta["ro_kpc"], meta["vo_kms"] = meta["parameters"]["units"]["ro_kpc"], meta["parameters"]["units"]["vo_kms"]
    if use_cache:
        results.atomic_write_text(
            f, json.dumps({"R_kpc": R.tolist(), "meta": meta, "v": {k: a.tolist() for k, a in v.items()}})
        )
    return v, meta


def baryon_grid(zmax: float = ZMAX_DEFAULT, R_grid=GRID_R, use_cache: bool = True) -> BaryonGrid:
    """McMillan17 on a radius grid: galpy's speeds from the JSON cache in results/milky_way/ when
    present (keyed by galpy version, grid and code), else computed with galpy and cached; the
    surface densities within |z| < zmax [kpc] in closed form (milliseconds, never cached).
    ``meta["seconds"]`` is the galpy time when the speeds were computed."""
    R = as_radii_kpc(R_grid)
    _check_zmax(zmax)
    v, meta = _speeds(R, use_cache)
    t0 = time.perf_counter()
    Sigma = {name: surface_density(R, name, zmax) for name in SIGMA_GROUPS}
    meta = {**meta, "Sigma": "closed form (McMillan 2017 density)", "Sigma_seconds": time.perf_counter() - t0}
    return BaryonGrid(R, float(zmax), v, Sigma, meta)


def _v_bar_checked(R: np.ndarray) -> np.ndarray:
    """galpy's v_bar [km/s] at R [kpc] directly (``v_bar_direct``), cached like the grid's speeds."""
    f = _cache_file("mcmillan17_vbar_direct", R, _SPEED_CODE + (v_bar_direct, signed_speed))
    if f.exists():
        return np.array(json.loads(f.read_text())["v_bar"])
    vb = v_bar_direct(R)
    results.atomic_write_text(f, json.dumps({"R_kpc": R.tolist(), "v_bar": vb.tolist()}))
    return vb


def interpolation_error(grid: BaryonGrid, R) -> tuple[float, float]:
    """Largest fractional error of the grid's v_bar and baryonic Sigma at radii R [kpc] against
    galpy's v_bar evaluated directly there (loads galpy unless cached in results/milky_way/) and
    the closed-form Sigma there. Returns (max |dv/v|, max |dSigma/Sigma|)."""
    R = as_radii_kpc(R)
    vb_direct = _v_bar_checked(R)
    S_direct = surface_density(R, "baryons", grid.zmax)
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
