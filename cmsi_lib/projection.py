"""Spherical projections and lensing geometry for cluster profiles (no model, no data).

Radii in kpc, masses in Msun, densities in Msun/kpc^3, surface densities in Msun/kpc^2.
"""

from __future__ import annotations

import astropy.constants as const
import astropy.units as u
import numpy as np
from scipy import integrate, optimize

from .errors import InputError
from .units import as_value

#: c^2 / (4 pi G) in Msun/kpc (Sigma_crit = this x D_s / (D_l D_ls), distances in kpc)
_C2_4PIG_MSUN_KPC = (const.c**2 / (4 * np.pi * const.G)).to_value(u.Msun / u.kpc)


def radius_kpc(r) -> np.ndarray:
    """Radii [kpc] as a float array from numbers (kpc) or astropy Quantities; each must be finite and > 0."""
    r = np.asarray(as_value(r, u.kpc, "r"), dtype=float)
    if not np.all(np.isfinite(r)) or np.any(r <= 0):
        raise InputError("radius r must be finite and > 0 kpc")
    return r


# --------------------------------------------------------------------------- projections
def _simpson_u(R, r_trunc, n_u):
    """Nodes u in [0, arccosh(r_trunc/R)] per R (shape (len(R), n_u)) for r = R cosh u."""
    ut = np.arccosh(np.maximum(r_trunc / R, 1.0))
    t = np.linspace(0.0, 1.0, n_u)
    return ut, ut[:, None] * t[None, :]


def abel_surface_density(rho, R, r_trunc: float, n_u: int = 801) -> np.ndarray:
    """Sigma(R) = 2 int_R^r_trunc rho(r) r dr / sqrt(r^2 - R^2), by r = R cosh u (Simpson in u).

    ``rho`` is a callable of r [kpc] returning a density (any unit per kpc^3, as plain numbers); R [kpc]
    (array, each < r_trunc); the result is in that unit x kpc (Msun/kpc^3 -> Msun/kpc^2).
    """
    R = np.atleast_1d(np.asarray(as_value(R, u.kpc, "R"), float))
    if np.any(R <= 0) or np.any(R >= r_trunc):
        raise InputError(f"projected radii R must lie in (0, r_trunc = {r_trunc} kpc)")
    ut, uu = _simpson_u(R, r_trunc, n_u)
    r = R[:, None] * np.cosh(uu)
    f = np.asarray(rho(r.ravel()), float).reshape(r.shape) * r
    return 2 * integrate.simpson(f, x=uu, axis=1)


def projected_mass(r_grid, M_grid, R, r_trunc: float, n_u: int = 801) -> np.ndarray:
    """Mass inside the cylinder of radius R for a spherical body with enclosed mass M(r), cut at r_trunc.

    M_2D(R) = M(r_t) (1 - sqrt(1 - R^2/r_t^2)) + int_R^r_t M(r) R^2 / (r^2 sqrt(r^2 - R^2)) dr
            = M(r_t) (1 - tanh u_t) + int_0^u_t M(R cosh u) / cosh^2 u du        (r = R cosh u)

    (integration by parts of the shell weights; needs M only, not its derivative). M is interpolated
    linearly in ln r from (r_grid [kpc], M_grid [Msun]); R [kpc] < r_trunc <= r_grid[-1].
    """
    r_grid = np.asarray(r_grid, float)
    M_grid = np.asarray(M_grid, float)
    R = np.atleast_1d(np.asarray(as_value(R, u.kpc, "R"), float))
    if r_trunc > r_grid[-1] * (1 + 1e-12):
        raise InputError(f"r_trunc = {r_trunc} kpc is beyond the mass grid (ends at {r_grid[-1]} kpc)")
    if np.any(R <= 0) or np.any(R >= r_trunc):
        raise InputError(f"projected radii R must lie in (0, r_trunc = {r_trunc} kpc)")
    ut, uu = _simpson_u(R, r_trunc, n_u)
    M_of = lambda r: np.interp(np.log(r), np.log(r_grid), M_grid)  # noqa: E731
    Mt = M_of(np.array([r_trunc]))[0]
    f = M_of(R[:, None] * np.cosh(uu)) / np.cosh(uu) ** 2
    return Mt * (1 - np.tanh(ut)) + integrate.simpson(f, x=uu, axis=1)


def overdensity_radius(r, M, delta: float, rho_crit, r_from: float = 0.0) -> float:
    """Radius [kpc] where the mean enclosed density M(<r)/(4/3 pi r^3) first falls to delta x rho_crit,
    searching outward from r_from [kpc] (e.g. a fit's innermost radius, inside which M is extrapolated).

    r [kpc], M [Msun] on a grid (increasing r); rho_crit in Msun/kpc^3 (or a Quantity). Returns nan when
    the mean density never crosses (e.g. the grid is too short).
    """
    r = np.asarray(as_value(r, u.kpc, "r"), float)
    M = np.asarray(as_value(M, u.Msun, "M"), float)
    keep = r >= r_from
    r, M = r[keep], M[keep]
    rc = float(as_value(rho_crit, u.Msun / u.kpc**3, "rho_crit"))
    g = np.log(np.maximum(M, 1e-300) / (4 / 3 * np.pi * r**3) / (delta * rc))
    below = np.flatnonzero((g[1:] <= 0) & (g[:-1] > 0))
    if below.size == 0:
        return float("nan")
    i = below[0]
    lr = np.log(r)
    fn = lambda x: np.interp(x, lr[i : i + 2], g[i : i + 2])  # noqa: E731
    return float(np.exp(optimize.brentq(fn, lr[i], lr[i + 1])))


def sigma_crit(z_l: float, z_s: float, cosmo) -> float:
    """Critical surface density c^2 D_s / (4 pi G D_l D_ls) [Msun/kpc^2] (angular-diameter distances)."""
    if not z_s > z_l:
        raise InputError(f"source redshift z_s = {z_s} must exceed the lens redshift z_l = {z_l}")
    Dl = cosmo.angular_diameter_distance(z_l).to_value(u.kpc)
    Ds = cosmo.angular_diameter_distance(z_s).to_value(u.kpc)
    Dls = cosmo.angular_diameter_distance(z_l, z_s).to_value(u.kpc)
    return _C2_4PIG_MSUN_KPC * Ds / (Dl * Dls)


def einstein_radius(R, kappa_bar, R_min: float) -> float:
    """Largest R >= R_min [kpc] where the mean convergence inside R is >= 1; 0.0 when there is none."""
    R = np.asarray(R, float)
    k = np.asarray(kappa_bar, float)
    sel = R >= R_min
    R, k = R[sel], k[sel]
    above = np.flatnonzero(k >= 1)
    if above.size == 0:
        return 0.0
    i = above[-1]
    if i == R.size - 1:
        return float(R[-1])
    # interpolate ln kappa_bar between R[i] (>= 1) and R[i+1] (< 1)
    lk = np.log(k[i : i + 2])
    return float(np.exp(np.interp(0.0, lk[::-1], np.log(R[i : i + 2])[::-1])))
