"""The Milky Way: measured circular-velocity curves, a baryonic model, and the models compared.

Data (through :func:`cmsi_lib.datafiles.fetch`, checksum-verified):

* Eilers, Hogg, Rix & Ness 2019 (ApJ 871, 120): 38 bins, R = 5.27-24.82 kpc. The public copies
  disagree on which of the two error columns is the lower one (see ``milky_way/PROVENANCE.md``);
  ``errors=`` chooses: ``"symmetric"`` (the mean of the two, the default), ``"col3-lower"``
  (JeansTest-MW / AstroIC.jl reading) or ``"col3-upper"`` (gala's ``err+ err-`` header).
* Mroz et al. 2019 (ApJL 870, L10): 773 Cepheids, a third-party copy whose column meanings
  (R, v_c, sigma_v, sigma_R) are inferred, not verified.

Baryons: McMillan 2017 (MNRAS 465, 76) as implemented in galpy
(``galpy.potential.mwpotentials.McMillan17`` = [disk, halo, bulge], the disk holding the thin and
thick stellar disks and the HI and H2 gas disks). ``v_bar`` uses disk + bulge without the halo;
``Sigma`` is galpy's surface density of the same components integrated over |z| < ``zmax``.
The full model with its NFW halo is the dark-matter baseline. galpy evaluations are slow
(~1 s per radius for a surface density), so they are tabulated once on a radius grid and
cached as JSON in ``results/milky_way/``; in-between radii are interpolated.

Units: R in kpc, speeds in km/s, Sigma in Msun/pc^2. astropy Quantities are accepted for R.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import operator
from dataclasses import dataclass, field
from pathlib import Path

import astropy.units as u
import numpy as np
from scipy import interpolate, optimize

from . import datafiles, paths, results
from .kernel import (
    VC_MODES,
    InputError,
    NoSelfConsistentSolution,
    circular_speed,
    enhancement,
)
from .params import Params
from .rar import rar_speed
from .units import G_KPC_KMS2_MSUN, as_value
from .errors import MilkyWayDataError

__all__ = [
    "EILERS_FILES",
    "ERROR_CONVENTIONS",
    "SIGMA_V_CHOICES",
    "SIGMA_COMPONENTS",
    "RotationCurve",
    "load_eilers",
    "load_mroz",
    "mcmillan17",
    "mcmillan17_parameters",
    "baryonic_components",
    "signed_speed",
    "v_bar_direct",
    "surface_density_direct",
    "BaryonGrid",
    "baryon_grid",
    "sigma_v_profile",
    "MilkyWayInputs",
    "inputs_at",
    "cmsi_speed",
    "Chi0Fit",
    "fit_chi0",
    "runaway_chi0",
    "required_enhancement",
    "single_factor_requirements",
    "model_chi2_table",
]

#: Registry names of the two copies of Eilers et al. 2019 (identical values; see PROVENANCE.md).
EILERS_FILES = {
    "gala": "milky_way/raw/Eilers2019-circ-velocity_gala.txt",  # verbatim, has a download URL
    "csv": "milky_way/eilers2019_vc.csv",  # same tokens re-written as CSV (mirror only)
}
MROZ_FILE = "milky_way/mroz2019_cepheids_vc.csv"

#: How the two Eilers error columns are read (the copies disagree; PROVENANCE.md).
ERROR_CONVENTIONS = ("symmetric", "col3-lower", "col3-upper")

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


# =========================================================================== data
@dataclass(frozen=True)
class RotationCurve:
    """A measured circular-velocity curve.

    R_kpc, v_kms: radius [kpc] and circular speed [km/s]; err_lo_kms / err_hi_kms: the error
    bar below / above v [km/s] (equal for symmetric errors); R_err_kpc: radius error or None.
    """

    name: str
    R_kpc: np.ndarray
    v_kms: np.ndarray
    err_lo_kms: np.ndarray
    err_hi_kms: np.ndarray
    source: Path
    errors: str = "symmetric"
    R_err_kpc: np.ndarray | None = None
    notes: str = ""

    def __len__(self) -> int:
        return self.R_kpc.size

    @property
    def err_kms(self) -> np.ndarray:
        """Symmetric error [km/s]: the mean of the lower and upper errors."""
        return 0.5 * (self.err_lo_kms + self.err_hi_kms)

    def with_systematic(self, frac: float) -> "RotationCurve":
        """Errors with a fractional systematic ``frac`` * v added in quadrature (Eilers: 2-5%)."""
        if not (math.isfinite(frac) and frac >= 0):
            raise InputError(f"systematic fraction must be >= 0 (finite), got {frac!r}")
        s = frac * self.v_kms
        return RotationCurve(
            self.name, self.R_kpc, self.v_kms, np.hypot(self.err_lo_kms, s), np.hypot(self.err_hi_kms, s),
            self.source, self.errors, self.R_err_kpc, self.notes + f" (+{frac:g} v systematic in quadrature)",
        )

    def chi2(self, v_model) -> float:
        """chi^2 of a model speed [km/s] at the data radii; the upper error is used where the model
        lies above the data, the lower one where below (identical when symmetric)."""
        vm = np.asarray(v_model, float)
        if vm.shape != self.v_kms.shape:
            raise InputError(f"v_model has shape {vm.shape}, the data {self.name} have {self.v_kms.shape}")
        if not np.all(np.isfinite(vm)):
            return math.inf
        d = vm - self.v_kms
        err = np.where(d > 0, self.err_hi_kms, self.err_lo_kms)
        return float(np.sum((d / err) ** 2))


def _scan_numeric(path: Path, ncols: int, delimiter: str | None, header_startswith: str) -> list[int]:
    """Check every data line of ``path`` has ``ncols`` finite numbers; return their line numbers.

    Lines starting with '#' and the single header line (starting with ``header_startswith``) are
    skipped. Raises MilkyWayDataError naming file and line on the first malformed line.
    """
    lines = []
    header_seen = False
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if not header_seen and s.startswith(header_startswith):
            header_seen = True
            continue
        toks = s.split(delimiter) if delimiter else s.split()
        if len(toks) != ncols:
            raise MilkyWayDataError(f"{path}, line {lineno}: expected {ncols} fields, got {len(toks)}: {line!r}")
        try:
            vals = [float(t) for t in toks]
        except ValueError:
            raise MilkyWayDataError(f"{path}, line {lineno}: non-numeric field in {line!r}") from None
        if not all(math.isfinite(v) for v in vals):
            raise MilkyWayDataError(f"{path}, line {lineno}: non-finite value in {line!r}")
        lines.append(lineno)
    if not header_seen:
        raise MilkyWayDataError(f"{path}: no header line starting with {header_startswith!r}")
    if not lines:
        raise MilkyWayDataError(f"{path}: no data rows")
    return lines


def _check_physical(path: Path, linenos, R, v, errs, nonneg=()):
    """R, v and the errors must be > 0; the arrays in ``nonneg`` (name, array) only >= 0."""
    checks = [("R", R, R > 0), ("v_c", v, v > 0)]
    checks += [(f"error column {i + 3}", e, e > 0) for i, e in enumerate(errs)]
    checks += [(name, a, a >= 0) for name, a in nonneg]
    for name, arr, ok in checks:
        if not np.all(ok):
            i = int(np.flatnonzero(~ok)[0])
            raise MilkyWayDataError(f"{path}, line {linenos[i]}: {name} = {arr[i]} must be > 0"
                                    + (" or 0" if any(name == nm for nm, _ in nonneg) else ""))


def _read_eilers_columns(copy: str) -> tuple[Path, np.ndarray]:
    from astropy.io import ascii

    if copy not in EILERS_FILES:
        raise InputError(f"Eilers copy {copy!r} is not one of {tuple(EILERS_FILES)}")
    path = datafiles.fetch(EILERS_FILES[copy])
    if copy == "gala":
        linenos = _scan_numeric(path, 4, None, "R ")
        t = ascii.read(path, format="basic", delimiter="\\s", guess=False)  # space header, tab data
    else:
        linenos = _scan_numeric(path, 4, ",", "R_kpc")
        t = ascii.read(path, format="csv", comment="#", guess=False)
    cols = np.array([np.asarray(t[c], float) for c in t.colnames])
    if cols.shape != (4, len(linenos)):
        raise MilkyWayDataError(f"{path}: astropy read {cols.shape} values, the line scan found {len(linenos)} rows of 4")
    _check_physical(path, linenos, cols[0], cols[1], cols[2:])
    return path, cols


def load_eilers(errors: str = "symmetric", copy: str = "gala") -> RotationCurve:
    """Eilers et al. 2019 circular-velocity curve (38 bins, 5.27-24.82 kpc).

    errors: one of ERROR_CONVENTIONS (how columns 3 and 4 are read; default their mean).
    copy:   "gala" (verbatim public file, downloadable) or "csv" (the staged CSV; same values).
    """
    if errors not in ERROR_CONVENTIONS:
        raise InputError(f"errors = {errors!r} is not one of {ERROR_CONVENTIONS}")
    path, (R, v, e3, e4) = _read_eilers_columns(copy)
    if errors == "symmetric":
        lo = hi = 0.5 * (e3 + e4)
    elif errors == "col3-lower":
        lo, hi = e3, e4
    else:
        lo, hi = e4, e3
    return RotationCurve("Eilers et al. 2019", R, v, lo, hi, path, errors,
                         notes="statistical errors only; the paper quotes 2-5% systematics separately")


def load_mroz() -> RotationCurve:
    """Mroz et al. 2019 Cepheids (773 stars, third-party copy; columns R, v_c, sigma_v, sigma_R
    inferred from the copy's plotting script, not verified against the official OGLE file)."""
    from astropy.io import ascii

    path = datafiles.fetch(MROZ_FILE)
    linenos = _scan_numeric(path, 4, ",", "R_kpc")
    t = ascii.read(path, format="csv", comment="#", guess=False)
    R, v, ev, eR = (np.asarray(t[c], float) for c in t.colnames)
    _check_physical(path, linenos, R, v, [ev], nonneg=[("sigma_R (column 4)", eR)])
    return RotationCurve("Mroz et al. 2019 (Cepheids)", R, v, ev, ev, path, "symmetric", eR,
                         notes="column meanings inferred (PROVENANCE.md)")


# =========================================================================== baryons (galpy)
@functools.cache
def mcmillan17():
    """galpy's McMillan 2017 potential: returns (module, [disk, halo, bulge]) with module.ro [kpc]
    and module.vo [km/s] its unit normalisation. Importing it takes ~8 s (SCF coefficients)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from galpy.potential import McMillan17 as module
        from galpy.potential.mwpotentials import McMillan17
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
    import warnings

    from galpy.potential import DiskSCFPotential

    m, (disk, _halo, bulge) = mcmillan17()
    common = dict(a=2.5, N=30, L=30, ro=m.ro, vo=m.vo)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        stars = DiskSCFPotential(dens=m.stellar_dens, Sigma=m.sigmadict[2:], hz=m.hzdict[2:], **common)
        gas = DiskSCFPotential(dens=m.gas_dens, Sigma=m.sigmadict[:2], hz=m.hzdict[:2], **common)
    return {"bulge": bulge, "stellar disks": stars, "gas disks": gas}


def _R_kpc(R) -> np.ndarray:
    R = np.atleast_1d(as_value(R, u.kpc, "R"))
    if not np.all(np.isfinite(R)) or np.any(R <= 0):
        raise InputError(f"R must be finite and > 0 kpc; got min {np.min(R)!r}")
    return R


def _combined(pot):
    """A galpy potential from one potential or a list (combined with +: galpy deprecates lists)."""
    if isinstance(pot, (list, tuple)):
        return functools.reduce(operator.add, pot)
    return pot


def signed_speed(pot, R) -> np.ndarray:
    """Signed circular speed [km/s] of galpy potential(s) ``pot`` in the plane at R [kpc]:
    sign(v^2) sqrt|v^2| with v^2 = -R F_R (negative where the net pull is outward, e.g. the
    central hole of a gas disk; galpy's vcirc gives NaN there)."""
    from galpy.potential import evaluateRforces

    m, _ = mcmillan17()
    R = _R_kpc(R)
    with np.errstate(all="ignore"):
        FR = evaluateRforces(_combined(pot), R * u.kpc, 0 * u.kpc, ro=m.ro, vo=m.vo, quantity=True)
    v2 = -(R * u.kpc * FR).to_value(u.km**2 / u.s**2)
    return np.sign(v2) * np.sqrt(np.abs(v2))


def v_bar_direct(R) -> np.ndarray:
    """Baryonic circular speed [km/s] of McMillan17 without its halo (galpy disk + bulge), at R [kpc]."""
    _, (disk, _halo, bulge) = mcmillan17()
    return signed_speed([disk, bulge], R)


def surface_density_direct(pot, R, zmax: float = ZMAX_DEFAULT) -> np.ndarray:
    """Surface density [Msun/pc^2] of galpy potential(s) ``pot``, integrated over |z| < zmax [kpc]
    with galpy's ``evaluateSurfaceDensities`` (one quadrature per radius: ~0.3-1.4 s each)."""
    from galpy.potential import evaluateSurfaceDensities

    m, _ = mcmillan17()
    R = _R_kpc(R)
    if not (math.isfinite(zmax) and zmax > 0):
        raise InputError(f"zmax must be > 0 kpc (finite), got {zmax!r}")
    with np.errstate(all="ignore"):
        return np.array([
            evaluateSurfaceDensities(_combined(pot), r * u.kpc, zmax * u.kpc, ro=m.ro, vo=m.vo, quantity=True)
            .to_value(u.Msun / u.pc**2)
            for r in R
        ])


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

    def speed(self, name: str, R) -> np.ndarray:
        """Interpolated signed speed [km/s] (cubic spline in v|v|)."""
        R = self._inside(R)
        v2 = interpolate.CubicSpline(self.R_kpc, self.v[name] * np.abs(self.v[name]))(R)
        return np.sign(v2) * np.sqrt(np.abs(v2))

    def surface_density(self, R, components: str = "baryons") -> np.ndarray:
        """Interpolated Sigma [Msun/pc^2] (cubic spline in log Sigma) of SIGMA_COMPONENTS."""
        if components not in SIGMA_COMPONENTS:
            raise InputError(f"Sigma components {components!r} not one of {SIGMA_COMPONENTS}")
        names = ("bulge", "stellar disks", "gas disks") if components == "baryons" else ("stellar disks",)
        R = self._inside(R)
        # sum first: the bulge alone is SCF noise of +-0.003 Msun/pc^2 (either sign) beyond 5 kpc
        total = sum(self.Sigma[n] for n in names)
        return np.exp(interpolate.CubicSpline(self.R_kpc, np.log(total))(R))

    def _inside(self, R) -> np.ndarray:
        R = _R_kpc(R)
        lo, hi = self.R_kpc[0], self.R_kpc[-1]
        if np.any(R < lo) or np.any(R > hi):
            raise InputError(f"R must lie in the tabulated range {lo:g}-{hi:g} kpc; got {R.min():g}-{R.max():g}")
        return R


def _grid_cache_file(R: np.ndarray, zmax: float) -> Path:
    import galpy

    key = json.dumps({"galpy": galpy.__version__, "R": [float(r).hex() for r in R], "zmax": float(zmax).hex(),
                      "format": 2})
    return paths.results_dir() / "milky_way" / f"mcmillan17_grid-{hashlib.sha256(key.encode()).hexdigest()[:12]}.json"


def baryon_grid(zmax: float = ZMAX_DEFAULT, R_grid=GRID_R, use_cache: bool = True) -> BaryonGrid:
    """McMillan17 on a radius grid, from the JSON cache in results/milky_way/ when present
    (keyed by galpy version, grid and zmax), else computed with galpy (~1 min) and cached."""
    R = _R_kpc(R_grid)
    if not (math.isfinite(zmax) and zmax > 0):
        raise InputError(f"zmax must be > 0 kpc (finite), got {zmax!r}")
    f = _grid_cache_file(R, zmax)
    if use_cache and f.exists():
        d = json.loads(f.read_text())
        return BaryonGrid(np.array(d["R_kpc"]), d["zmax"], {k: np.array(v) for k, v in d["v"].items()},
                          {k: np.array(v) for k, v in d["Sigma"].items()}, d["meta"])
    import time

    import galpy

    t0 = time.perf_counter()
    m, (disk, halo, bulge) = mcmillan17()
    comps = baryonic_components()
    v = {name: signed_speed(p, R) for name, p in comps.items()}
    v["baryons"] = signed_speed([disk, bulge], R)
    v["full model"] = signed_speed([disk, halo, bulge], R)
    Sigma = {name: surface_density_direct(p, R, zmax) for name, p in comps.items()}
    meta = {"galpy": galpy.__version__, "seconds": time.perf_counter() - t0, "ro_kpc": m.ro, "vo_kms": m.vo,
            "parameters": mcmillan17_parameters()}
    grid = BaryonGrid(R, float(zmax), v, Sigma, meta)
    if use_cache:
        results.atomic_write_text(f, json.dumps({
            "R_kpc": R.tolist(), "zmax": float(zmax), "meta": meta,
            "v": {k: a.tolist() for k, a in v.items()}, "Sigma": {k: a.tolist() for k, a in Sigma.items()},
        }))
    return grid


# =========================================================================== sigma_v
def sigma_v_profile(R, choice: str = "stellar-radial", Sigma=None, disk: dict | None = None) -> np.ndarray:
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
    R = _R_kpc(R)
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


# =========================================================================== models
@dataclass(frozen=True)
class MilkyWayInputs:
    """Everything CMSI needs at radii R_kpc: v_bar [km/s], Sigma [Msun/pc^2], sigma_v [km/s],
    plus the baselines: v_full (McMillan17 with halo) and v_rar (RAR from v_bar) [km/s]."""

    R_kpc: np.ndarray
    v_bar: np.ndarray
    Sigma: np.ndarray
    sigma_v: np.ndarray
    v_full: np.ndarray
    v_rar: np.ndarray
    choices: dict


def inputs_at(R, grid: BaryonGrid, sigma_v: str | float = "stellar-radial",
              sigma_components: str = "baryons") -> MilkyWayInputs:
    """CMSI's inputs and the baselines at R [kpc] from a BaryonGrid."""
    R = _R_kpc(R)
    vb = grid.speed("baryons", R)
    S = grid.surface_density(R, sigma_components)
    sv = sigma_v_profile(R, sigma_v, S, grid.meta.get("parameters"))
    return MilkyWayInputs(R, vb, S, sv, grid.speed("full model", R),
                          rar_speed(R, vb), {"sigma_v": sigma_v, "sigma_components": sigma_components,
                                             "zmax_kpc": grid.zmax})


def cmsi_speed(inp: MilkyWayInputs, params: Params, vc_mode: str = "baryonic", v_obs=None) -> np.ndarray:
    """CMSI circular speed [km/s] at inp.R_kpc (kernel.circular_speed). Raises NoSelfConsistentSolution
    for a runaway in the self-consistent mode."""
    return circular_speed(inp.R_kpc, inp.v_bar, inp.sigma_v, inp.Sigma, params, vc_mode, v_obs)


def _chi2_cmsi(curve: RotationCurve, inp: MilkyWayInputs, params: Params, vc_mode: str) -> float:
    try:
        return curve.chi2(cmsi_speed(inp, params, vc_mode, curve.v_kms))
    except NoSelfConsistentSolution:
        return math.inf


def runaway_chi0(inp: MilkyWayInputs, params: Params, hi: float = 1e12) -> float:
    """Largest chi0 [dimensionless] for which the self-consistent equation has a solution at every
    radius of ``inp`` (other parameters from ``params``), by bisection in log chi0 (relative 1e-6).
    Returns ``hi`` if no runaway below it."""
    def ok(c):
        try:
            cmsi_speed(inp, Params.from_mapping({"chi0": c}, params), "self-consistent")
            return True
        except NoSelfConsistentSolution:
            return False

    if ok(hi):
        return hi
    lo = 1.0
    while not ok(lo):
        lo /= 1e3
        if lo < 1e-30:
            return 0.0
    a, b = math.log(lo), math.log(hi)
    while b - a > 1e-6:
        mid = 0.5 * (a + b)
        a, b = (mid, b) if ok(math.exp(mid)) else (a, mid)
    return math.exp(a)


@dataclass(frozen=True)
class Chi0Fit:
    """chi0 fitted to one curve with the other parameters fixed.

    chi0: best fit; lo, hi: where chi^2 = chi2_min + 1 (formal 1-sigma; lo/hi = nan if not reached
    inside the search range); chi2_min, n (data points), dof = n - 1; birge = sqrt(chi2_min/dof):
    with chi2_min >> dof the formal interval understates the uncertainty, and lo/hi scaled by the
    Birge ratio (lo_scaled, hi_scaled: where chi^2 = chi2_min + birge^2) are given as well.
    chi0_max: top of the search range (the runaway threshold in the self-consistent mode).
    """

    chi0: float
    lo: float
    hi: float
    lo_scaled: float
    hi_scaled: float
    chi2_min: float
    n: int
    birge: float
    vc_mode: str
    chi0_max: float
    at_bound: bool

    @property
    def dof(self) -> int:
        return self.n - 1

    def as_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["dof"] = self.dof
        return d


def fit_chi0(curve: RotationCurve, inp: MilkyWayInputs, params: Params = Params(), vc_mode: str = "baryonic",
             chi0_range: tuple[float, float] = (1e-3, 1e12)) -> Chi0Fit:
    """Fit chi0 alone (other parameters from ``params``) to ``curve`` by minimising chi^2 in log chi0
    (scipy bounded Brent); the interval from delta chi^2 = 1 by root finding (brentq)."""
    if vc_mode not in VC_MODES:
        raise InputError(f"vc_mode = {vc_mode!r} is not one of {VC_MODES}")
    if not np.allclose(inp.R_kpc, curve.R_kpc):
        raise InputError("inp must be evaluated at the curve's radii")
    lo_b, hi_b = chi0_range
    if vc_mode == "self-consistent":
        hi_b = min(hi_b, runaway_chi0(inp, params, hi_b) * (1 - 1e-6))

    def chi2(c):
        return _chi2_cmsi(curve, inp, Params.from_mapping({"chi0": c}, params), vc_mode)

    # coarse scan to bracket the global minimum, then a bounded Brent refinement
    xs = np.linspace(math.log(lo_b), math.log(hi_b), 121)
    cs = np.array([chi2(math.exp(x)) for x in xs])
    k = int(np.argmin(cs))
    a, b = xs[max(k - 1, 0)], xs[min(k + 1, xs.size - 1)]
    res = optimize.minimize_scalar(lambda x: chi2(math.exp(x)), bounds=(a, b), method="bounded",
                                   options={"xatol": 1e-10})
    x_best = res.x if res.fun <= cs[k] else xs[k]
    c_best, c2 = math.exp(x_best), min(res.fun, cs[k])
    n = len(curve)
    birge = math.sqrt(c2 / max(n - 1, 1))

    def edge(delta, side):
        target = c2 + delta
        end = lo_b if side < 0 else hi_b
        if chi2(end) < target:
            return math.nan
        f = lambda x: chi2(math.exp(x)) - target  # noqa: E731
        return math.exp(optimize.brentq(f, *sorted((x_best, math.log(end))), xtol=1e-12, rtol=1e-12))

    at_bound = k in (0, xs.size - 1)
    return Chi0Fit(c_best, edge(1.0, -1), edge(1.0, +1), edge(birge**2, -1), edge(birge**2, +1), c2, n, birge,
                   vc_mode, hi_b, at_bound)


def required_enhancement(v_obs, v_bar) -> np.ndarray:
    """The enhancement the data require, F_req = v_obs^2 / v_bar^2 (dimensionless)."""
    vo = np.asarray(v_obs, float)
    vb = np.asarray(v_bar, float)
    return vo**2 / (vb * np.abs(vb))


def single_factor_requirements(R, v_c, sigma_v, Sigma, F_target, params: Params = Params()) -> dict:
    """What one factor alone must become for F = F_target at (R [kpc], v_c, sigma_v [km/s],
    Sigma [Msun/pc^2]), all others held: chi0, Sigma [Msun/pc^2], sigma_v [km/s] and the v_c
    inside F [km/s] (F - 1 is proportional to chi0, Sigma^eps, sigma_v^-(gamma alpha) and
    v_c^(2 + gamma alpha)). Also returns F at the inputs."""
    F = float(enhancement(R, v_c, sigma_v, Sigma, params))
    ratio = (F_target - 1.0) / (F - 1.0)
    ga = params.gamma * params.alpha
    out = {"F": F, "ratio": ratio, "chi0": params.chi0 * ratio}
    out["Sigma"] = float(Sigma) * ratio ** (1.0 / params.eps) if params.eps > 0 else math.inf
    out["sigma_v"] = float(sigma_v) * ratio ** (-1.0 / ga) if ga > 0 else math.nan
    out["v_c"] = float(v_c) * ratio ** (1.0 / (2.0 + ga))
    return out


def model_chi2_table(curve: RotationCurve, inp: MilkyWayInputs, cmsi_models: dict[str, tuple[Params, str]]
                     ) -> list[dict]:
    """chi^2 of each model on ``curve`` (``inp`` at the curve's radii).

    Always: "newton" (baryons only), "mcmillan17-halo" (full model), "rar" (RAR/MOND from v_bar).
    Then one row per ``cmsi_models`` entry: label -> (Params, vc_mode). A runaway gives chi2 = None
    and a note. Each row: model, chi2, n, chi2_per_point, note.
    """
    rows = []

    def add(name, fn, note=""):
        try:
            c2 = curve.chi2(fn())
        except NoSelfConsistentSolution as exc:
            c2, note = None, f"no self-consistent solution (runaway): {str(exc)[:120]}"
        rows.append({"model": name, "chi2": c2, "n": len(curve),
                     "chi2_per_point": None if c2 is None else c2 / len(curve), "note": note})

    add("newton", lambda: inp.v_bar, "McMillan17 baryons only (F = 1)")
    add("mcmillan17-halo", lambda: inp.v_full, "McMillan17 with its NFW halo (not refitted to these data)")
    add("rar", lambda: inp.v_rar, "RAR/MOND-like, g_dagger = 1.2e-10 m/s^2, from v_bar")
    for label, (p, mode) in cmsi_models.items():
        add(label, lambda p=p, mode=mode: cmsi_speed(inp, p, mode, curve.v_kms),
            f"CMSI, chi0 = {p.chi0:.4g}, vc_mode = {mode}")
    return rows
