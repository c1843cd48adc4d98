"""The CMSI enhancement factor F and each of its factors.

    F(R) = 1 + chi0 (v_c/c)^2 (Sigma/Sigma_ref)^eps N_coh^alpha f(R/ell0),
    N_coh = (v_c/sigma_v)^gamma,   f(x) = (1 + x^n)^(-1/n)

as written in the seed document. F multiplies the Newtonian (baryonic) acceleration,
g = F g_bar, so v^2 = F v_bar^2.

Units: R and ell0 in kpc; v_c and sigma_v in km/s; Sigma and sigma_ref in Msun/pc^2.
astropy Quantities are accepted anywhere and converted. Every function is vectorised over
numpy arrays (broadcasting). The kernel knows no survey and no data file.
"""

from __future__ import annotations

import dataclasses

import astropy.units as u
import numpy as np

from .errors import InputError, NoSelfConsistentSolution
from .params import Params
from .units import C_KMS, as_value

__all__ = [
    "InputError",
    "NoSelfConsistentSolution",
    "VC_MODES",
    "velocity_term",
    "source_density_term",
    "coherence_term",
    "radial_profile",
    "boost",
    "boost_unchecked",
    "enhancement",
    "self_consistent_speed",
    "circular_speed",
    "vc_from_vbar",
    "chi0_for_enhancement",
    "self_consistent_F_max",
    "self_consistent_chi0_limit",
]

#: The three ways to choose v_c in F (the seed leaves it open).
VC_MODES = ("baryonic", "self-consistent", "observed")
#: the units of the inputs, built once (an astropy unit product costs tens of microseconds, and the
#: joint fit evaluates F some 10^5 times)
KM_S = u.km / u.s
MSUN_PC2 = u.Msun / u.pc**2


def _finite(name: str, x: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(x)):
        bad = np.flatnonzero(~np.isfinite(np.atleast_1d(x)))
        raise InputError(f"{name} contains NaN or infinite values (at index {bad[:5].tolist()}); it must be finite")
    return x


def _nonneg(name: str, x, unit) -> np.ndarray:
    x = _finite(name, as_value(x, unit, name))
    if np.any(x < 0):
        raise InputError(f"{name} must be >= 0 {unit}; got a minimum of {np.min(x):.6g}")
    return x


def _positive(name: str, x, unit) -> np.ndarray:
    x = _finite(name, as_value(x, unit, name))
    if np.any(x <= 0):
        raise InputError(f"{name} must be > 0 {unit}; got a minimum of {np.min(x):.6g}")
    return x


# --------------------------------------------------------------------------- factors
# Each factor is written once, as a function of plain float arrays already in the module's units
# (``_velocity`` ... ``_profile``); the public functions check and convert their inputs, then call it.
def _velocity(v):
    return (v / C_KMS) ** 2


def _source(s, params: Params):
    return (s / params.sigma_ref) ** params.eps


def _coherence(v, s, params: Params):
    return (v / s) ** (params.gamma * params.alpha)


def _profile(x, n: float) -> np.ndarray:
    # beyond x = 1 use the equivalent form x^-1 (1 + x^-n)^(-1/n): no overflow of x**n far out.
    # Each form is evaluated only where it is used (a fractional power costs tens of ns per element,
    # and the joint fit evaluates F some 10^5 times).
    x = np.asarray(x, float)
    near = x <= 1.0
    if near.all():  # the same element-wise operations as below, without the masked copies
        return np.asarray((1.0 + x**n) ** (-1.0 / n))
    out = np.empty_like(x)
    out[near] = (1.0 + x[near] ** n) ** (-1.0 / n)
    far = x[~near]
    out[~near] = (1.0 + far**-n) ** (-1.0 / n) / far
    return out


def velocity_term(v_c) -> np.ndarray:
    """(v_c/c)^2, dimensionless. v_c in km/s (>= 0); c from astropy.constants."""
    return _velocity(_nonneg("v_c", v_c, KM_S))


def source_density_term(Sigma, params: Params = Params()) -> np.ndarray:
    """(Sigma/Sigma_ref)^eps, dimensionless. Sigma in Msun/pc^2 (>= 0). Zero at Sigma = 0 when eps > 0."""
    return _source(_nonneg("Sigma", Sigma, MSUN_PC2), params)


def coherence_term(v_c, sigma_v, params: Params = Params()) -> np.ndarray:
    """N_coh^alpha = (v_c/sigma_v)^(gamma*alpha), dimensionless. v_c >= 0, sigma_v > 0, both km/s."""
    return _coherence(_nonneg("v_c", v_c, KM_S), _positive("sigma_v", sigma_v, KM_S), params)


def radial_profile(R, params: Params = Params()) -> np.ndarray:
    """f(R/ell0) = (1 + (R/ell0)^n)^(-1/n), dimensionless; R in kpc (>= 0). f(0) = 1, f ~ ell0/R far out."""
    return _profile(_nonneg("R", R, u.kpc) / params.ell0, params.n)


def boost_unchecked(R, v_c, sigma_v, Sigma, params: Params) -> np.ndarray:
    """``boost`` without its input checks, for fitting loops that evaluate F ~10^5 times on inputs they
    have checked themselves: R [kpc], v_c [km/s], Sigma [Msun/pc^2] finite float arrays >= 0, sigma_v
    [km/s] finite and > 0, no Quantities. Other inputs give undefined results (NaN, inf), not errors."""
    return params.chi0 * (
        _velocity(v_c) * _source(Sigma, params) * _coherence(v_c, sigma_v, params) * _profile(R / params.ell0, params.n)
    )


def boost(R, v_c, sigma_v, Sigma, params: Params = Params()) -> np.ndarray:
    """F - 1 = chi0 (v_c/c)^2 (Sigma/Sigma_ref)^eps (v_c/sigma_v)^(gamma alpha) f(R/ell0), dimensionless.

    Use this rather than ``enhancement(...) - 1`` when F - 1 is tiny (Solar System: ~1e-12 and below),
    where forming 1 + x in double precision would keep only a few digits of x.
    """
    v = _nonneg("v_c", v_c, KM_S)  # checked in the order the factors come: v_c, Sigma, sigma_v, R
    s = _nonneg("Sigma", Sigma, MSUN_PC2)
    sv = _positive("sigma_v", sigma_v, KM_S)
    return boost_unchecked(_nonneg("R", R, u.kpc), v, sv, s, params)


def enhancement(R, v_c, sigma_v, Sigma, params: Params = Params()) -> np.ndarray:
    """F = 1 + chi0 (v_c/c)^2 (Sigma/Sigma_ref)^eps (v_c/sigma_v)^(gamma alpha) f(R/ell0).

    R [kpc], v_c and sigma_v [km/s], Sigma [Msun/pc^2]; arrays broadcast. Returns F (dimensionless, >= 1).
    """
    return 1.0 + boost(R, v_c, sigma_v, Sigma, params)


# --------------------------------------------------------------------------- choosing v_c
def vc_from_vbar(v_bar) -> np.ndarray:
    """v_c for the "baryonic" mode: the speed |v_bar| [km/s] of the (signed, SPARC-style) v_bar.

    Where the net baryonic pull is outward (v_bar^2 < 0, e.g. a central gas hole) the magnitude
    is used; F then scales that outward acceleration.
    """
    vb = _finite("v_bar", as_value(v_bar, KM_S, "v_bar"))
    return np.abs(vb)


def self_consistent_speed(
    R, v_bar, sigma_v, Sigma, params: Params = Params(), rtol: float = 1e-10, max_iter: int = 200
) -> np.ndarray:
    """Solve v^2 = F(R, v, sigma_v, Sigma) v_bar^2 for v [km/s], point by point.

    With u = v^2 and F = 1 + A u^p (p = 1 + gamma alpha / 2), the equation is
    g(u) = v_bar^2 (1 + A u^p) - u = 0. For p > 1, g is convex, so a root exists iff
    g(u*) <= 0 at the minimum u* = (v_bar^2 A p)^(-1/(p-1)); the physical root is the
    smaller one, which the fixed-point iteration u <- v_bar^2 F(u) approaches from below.
    It is found here by bisection in ln u on [v_bar^2, u*] to relative tolerance ``rtol`` in u.

    Raises NoSelfConsistentSolution (naming the radii) where no root exists.
    """
    R = _nonneg("R", R, u.kpc)
    vb = np.abs(_finite("v_bar", as_value(v_bar, KM_S, "v_bar")))
    sv = _positive("sigma_v", sigma_v, KM_S)
    S = source_density_term(Sigma, params)
    R, vb, sv, S = np.broadcast_arrays(R, vb, sv, S)
    ga = params.gamma * params.alpha
    p = 1.0 + ga / 2.0
    # F - 1 = A u^p
    A = params.chi0 * S * radial_profile(R, params) / (C_KMS**2 * sv**ga)
    b = vb**2
    out = np.array(np.sqrt(b), dtype=float)
    active = (A > 0) & (b > 0)
    if not np.any(active):
        return out
    Aa, ba = A[active], b[active]
    if p == 1.0:  # gamma*alpha = 0: F - 1 = A u is linear, root u = b / (1 - A b) if A b < 1
        ok = Aa * ba < 1
        u_root = ba / np.where(ok, 1 - Aa * ba, 1.0)
    else:
        # Work in m = ln u: no overflow however small A is. g(u*) = b - u*(1 - 1/p), so a root
        # exists iff u* >= b p/(p-1). On [b, u*] g decreases; g > 0 <=> ln b + ln(1 + A u^p) > m.
        lb, lA = np.log(ba), np.log(Aa)
        lustar = -(lb + lA + np.log(p)) / (p - 1.0)
        ok = lustar >= lb + np.log(p / (p - 1.0))
        lo, hi = lb.copy(), np.where(ok, lustar, lb)
        for _ in range(max_iter):
            mid = 0.5 * (lo + hi)
            below = lb + np.logaddexp(0.0, lA + p * mid) > mid  # g > 0: still below the root
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
            if np.all(hi - lo <= rtol):
                break
        else:
            raise NoSelfConsistentSolution(f"bisection did not reach rtol={rtol} in {max_iter} iterations")
        u_root = np.exp(0.5 * (lo + hi))
    if not np.all(ok):
        bad = R[active][~ok]
        raise NoSelfConsistentSolution(
            "v^2 = F(v) v_bar^2 has no solution at R = "
            + ", ".join(f"{r:.3g}" for r in bad[:8])
            + (" ..." if bad.size > 8 else "")
            + f" kpc ({bad.size} of {R.size} points): F - 1 grows as v^{2 + ga:.3g}, faster than v^2, "
            "so the boost runs away; lower chi0 or use vc_mode='baryonic'"
        )
    out[active] = np.sqrt(u_root)
    return out


def circular_speed(
    R, v_bar, sigma_v, Sigma, params: Params = Params(), vc_mode: str = "baryonic", v_obs=None
) -> np.ndarray:
    """CMSI circular speed v = sqrt(F) |v_bar| [km/s] for the chosen v_c mode.

    vc_mode:
      "baryonic"        v_c = |v_bar| (no circularity; the default).
      "self-consistent" v_c = v solves v^2 = F(v) v_bar^2 (see ``self_consistent_speed``).
      "observed"        v_c = v_obs: CIRCULAR, it uses the data the model is meant to predict;
                        offered only to reproduce analyses that did this.
    """
    if vc_mode not in VC_MODES:
        raise InputError(f"vc_mode = {vc_mode!r} is not one of {VC_MODES}")
    vb = vc_from_vbar(v_bar)
    if vc_mode == "self-consistent":
        return self_consistent_speed(R, vb, sigma_v, Sigma, params)
    if vc_mode == "observed":
        if v_obs is None:
            raise InputError("vc_mode='observed' needs v_obs [km/s]")
        vc = _nonneg("v_obs", v_obs, KM_S)
    else:
        vc = vb
    return np.sqrt(enhancement(R, vc, sigma_v, Sigma, params)) * vb


# --------------------------------------------------------------------------- inversions in chi0
def chi0_for_enhancement(F_target, boost_per_chi0) -> np.ndarray:
    """chi0 [dimensionless] for which F = F_target, given (F - 1)/chi0 at fixed v_c (both dimensionless).

    With v_c fixed (the "baryonic" mode) F - 1 is linear in chi0, so chi0 = (F_target - 1)/((F - 1)/chi0).
    ``boost_per_chi0`` is ``boost(..., params with chi0=1)``. Where it is <= 0 no chi0 reaches F_target: inf.
    """
    need = np.asarray(F_target, dtype=float) - 1.0
    K = np.asarray(boost_per_chi0, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(K > 0, need / np.where(K > 0, K, 1.0), np.inf)


def self_consistent_F_max(params: Params = Params()) -> float:
    """Largest F [dimensionless] at which v^2 = F(v) v_bar^2 still has a root: (2 + gamma alpha)/(gamma alpha).

    F - 1 grows as v^(2 + gamma alpha); the root is lost where v_bar^2 F(v) touches v^2 (the tangency),
    which is at F = p/(p - 1) with p = 1 + gamma alpha/2. Infinite when gamma alpha = 0 (F - 1 linear in v^2).
    """
    ga = params.gamma * params.alpha
    return (2 + ga) / ga if ga > 0 else float("inf")


def self_consistent_chi0_limit(
    R, v_bar, sigma_v, Sigma, params: Params = Params(), lo: float = 1.0, hi: float = 1e12, n_iter: int = 30
) -> float:
    """Largest chi0 [dimensionless] for which v^2 = F(v) v_bar^2 has a solution at every point.

    Bisection in ln chi0 on [lo, hi] (``n_iter`` halvings; the result is the last chi0 known to have a
    solution, so a lower bound within a factor (hi/lo)^(2^-n_iter)) using ``self_consistent_speed``
    as the test. Units as in ``self_consistent_speed``. Returns ``lo`` if even ``lo`` has no solution.
    """

    def has_solution(chi0: float) -> bool:
        try:
            self_consistent_speed(R, v_bar, sigma_v, Sigma, dataclasses.replace(params, chi0=chi0))
        except NoSelfConsistentSolution:
            return False
        return True

    for _ in range(n_iter):
        mid = np.sqrt(lo * hi)
        lo, hi = (mid, hi) if has_solution(mid) else (lo, mid)
    return float(lo)
