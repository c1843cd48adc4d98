"""The logarithmic slope of CMSI's boost, s_F = d ln(F - 1)/d ln R, and the slope the SPARC data need.

In the factored form of the assembly chapter (``jointfit``'s parametrisation),

    F - 1 = A (v_c/c)^2 Sigma^eps (v_c/sigma_v)^g f(R/ell0; n),   g = gamma alpha,  A = chi0 Sigma_ref^-eps,

so ln(F - 1) is a sum of logarithms and its slope is a sum of slopes (the log-slope chapter derives
each in SymPy):

    s_F = (2 + g) s_v + eps s_Sigma - g s_sigma + s_f,
    s_v = d ln v_c/d ln R,  s_Sigma = d ln Sigma/d ln R,  s_sigma = d ln sigma_v/d ln R,
    s_f = d ln f/d ln R = -x^n/(1 + x^n),  x = R/ell0          (0 for R << ell0, -1 for R >> ell0).

The v_c mode sets s_v: "baryonic" s_v = s_bar = d ln|v_bar|/d ln R; "observed" s_v = s_obs; and
"self-consistent" (v^2 = F v_bar^2) gives s_F = s_F[baryonic] / (1 - p phi), phi = 1 - 1/F, p = 1 + g/2.
For an exponential disk s_Sigma = -R/R_d and v_bar is Freeman's (``freeman_speed_slope``).

The data's side: F_needed = V_obs^2/V_bar^2 at fixed nuisance parameters, and its slope
d ln(F_needed - 1)/d ln R as a centred chord along each curve (``chord_slope``), where F_needed - 1
exceeds ``k_sigma`` times its error from e_Vobs (``needed_slope``). The same chord, applied to the
model's F - 1 at the same points (``model_slope``), is the like-for-like comparison.

``fit_extended`` fits the factored form with eps free of sign (eps < 0 lies outside ``Params``'s domain
eps >= 0, an extension beyond the proposal) at SPARC's nuisance values, against Newton and the RAR on
the same points. Units: R, R_d, ell0 kpc; speeds km/s; Sigma Msun/pc^2; A (Msun/pc^2)^-eps; slopes and
chi^2 dimensionless.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import optimize, special

from . import kernel, rar, sparc, stages
from .curves import signed_sqrt
from .errors import InputError, NoSelfConsistentSolution
from .options import SparcOptions
from .params import Params
from .units import C_KMS

__all__ = [
    "profile_slope",
    "exp_disk_sigma_slope",
    "stellar_disk_sigma_v_slope",
    "freeman_speed_slope",
    "slope_fixed_vc",
    "slope_self_consistent",
    "vc_slope_self_consistent",
    "zero_crossing_negative_eps",
    "log_boost",
    "SparcPoints",
    "sparc_points",
    "chord_slope",
    "needed_slope",
    "vc_for_mode",
    "model_slope",
    "component_slopes",
    "bin_median",
    "BIN_EDGES",
    "ExtendedFit",
    "fit_extended",
    "baseline_chi2",
    "fitted_speed",
    "scan_signs",
    "fit_stage",
    "FIT_STAGE",
    "FIT_NAMES",
    "BOUND_TOL",
]

#: bins of R/R_d (dimensionless) used for the binned slopes
BIN_EDGES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.0, 10.0, 20.0)


# --------------------------------------------------------------------------- closed forms
def profile_slope(x, n: float = 2.0) -> np.ndarray:
    """d ln f/d ln R = -x^n/(1 + x^n) for f = (1 + x^n)^(-1/n), x = R/ell0 >= 0 (dimensionless); n > 0.

    Written as -1/(1 + x^-n) beyond x = 1 (no overflow of x^n)."""
    x = np.asarray(x, float)
    if not n > 0:
        raise InputError(f"n = {n!r} must be > 0")
    small = np.minimum(x, 1.0) ** n
    with np.errstate(divide="ignore"):
        large = np.maximum(x, 1.0) ** -n
    return np.where(x <= 1.0, -small / (1.0 + small), -1.0 / (1.0 + large))


def exp_disk_sigma_slope(R, R_d) -> np.ndarray:
    """d ln Sigma/d ln R = -R/R_d for an exponential disk Sigma0 exp(-R/R_d); R, R_d [kpc]."""
    return -np.asarray(R, float) / np.asarray(R_d, float)


def stellar_disk_sigma_v_slope(s_Sigma, w) -> np.ndarray:
    """d ln sigma_v/d ln R for sigma_v^2 = 2 pi G Sigma h_z + floor^2 (``sparc.sigma_v`` "stellar-disk"):
    (w/2) s_Sigma, with w = (2 pi G Sigma h_z)/sigma_v^2 in [0, 1] the stellar share of sigma_v^2."""
    return 0.5 * np.asarray(w, float) * np.asarray(s_Sigma, float)


def freeman_speed_slope(R, R_d) -> np.ndarray:
    """d ln v_bar/d ln R of an exponential (Freeman 1970) disk, v^2 ~ y^2 [I0 K0 - I1 K1], y = R/(2 R_d):

        1 + [y (I1 K0 - I0 K1) + I1 K1] / (I0 K0 - I1 K1)

    (exponentially scaled Bessel functions: I_a K_b = ive kve). R, R_d [kpc], R > 0. Tends to 1 as
    R -> 0 (slowly, through a logarithm), is 0 at the peak R = 2.15 R_d and tends to -1/2 far out."""
    y = 0.5 * np.asarray(R, float) / np.asarray(R_d, float)
    if np.any(y <= 0):
        raise InputError("freeman_speed_slope needs R > 0 and R_d > 0 [kpc]")
    i0, i1, k0, k1 = special.ive(0, y), special.ive(1, y), special.kve(0, y), special.kve(1, y)
    return 1.0 + (y * (i1 * k0 - i0 * k1) + i1 * k1) / (i0 * k0 - i1 * k1)


def slope_fixed_vc(s_vc, s_Sigma, s_sigma, x, eps: float, ga: float, n: float = 2.0) -> np.ndarray:
    """s_F = (2 + g) s_v + eps s_Sigma - g s_sigma + s_f(x; n) with v_c given (modes "baryonic": s_v = s_bar,
    "observed": s_v = s_obs). All slopes d ln/d ln R (dimensionless); x = R/ell0; g = gamma alpha."""
    return (
        (2.0 + ga) * np.asarray(s_vc, float)
        + eps * np.asarray(s_Sigma, float)
        - ga * np.asarray(s_sigma, float)
        + profile_slope(x, n)
    )


def slope_self_consistent(s_F_baryonic, F, ga: float) -> np.ndarray:
    """s_F of the self-consistent mode from the baryonic-mode s_F at the same point (same s_bar, Sigma,
    sigma_v, x): s_F[baryonic] / (1 - p phi), phi = 1 - 1/F, p = 1 + g/2. F is the self-consistent F;
    1 - p phi > 0 exactly where a solution exists (F < p/(p - 1)), so the sign is the baryonic one."""
    phi = 1.0 - 1.0 / np.asarray(F, float)
    return np.asarray(s_F_baryonic, float) / (1.0 - (1.0 + 0.5 * ga) * phi)


def vc_slope_self_consistent(s_bar, Q, F, ga: float) -> np.ndarray:
    """d ln v/d ln R of the self-consistent v (v^2 = F v_bar^2): (2 s_bar + phi Q)/(2 - (2 + g) phi),
    Q = eps s_Sigma - g s_sigma + s_f (the slopes of F - 1 other than v_c's), phi = 1 - 1/F."""
    phi = 1.0 - 1.0 / np.asarray(F, float)
    return (2.0 * np.asarray(s_bar, float) + phi * np.asarray(Q, float)) / (2.0 - (2.0 + ga) * phi)


def zero_crossing_negative_eps(eps: float, ga: float, s_bar_far: float = -0.5) -> float:
    """R/R_d beyond which s_F > 0 far out (R >> ell0, R >> R_d) in the baryonic mode of an exponential disk
    with constant sigma_v: s_F -> (2 + g) s_bar_far + |eps| R/R_d - 1 = 0 at R/R_d = (1 - (2 + g) s_bar_far)/|eps|.
    Only eps < 0 has a crossing; inf otherwise."""
    if eps >= 0:
        return math.inf
    return (1.0 - (2.0 + ga) * s_bar_far) / -eps


def log_boost(R, v_c, sigma_v, Sigma, log10_A: float, ga: float, eps: float, ell0: float, n: float = 2.0):
    """ln(F - 1) of the factored form, ln A + 2 ln(v_c/c) + eps ln Sigma + g ln(v_c/sigma_v) + ln f(R/ell0; n).

    Any real eps (eps < 0 is outside ``Params``; it needs Sigma > 0). R, ell0 [kpc]; v_c, sigma_v [km/s];
    Sigma [Msun/pc^2]; A = 10**log10_A [(Msun/pc^2)^-eps]; -inf where v_c = 0 (or Sigma = 0, eps > 0)."""
    R, vc, sv, S = (np.asarray(a, float) for a in (R, v_c, sigma_v, Sigma))
    if eps < 0 and np.any(S <= 0):
        raise InputError(f"eps = {eps:g} < 0 needs Sigma > 0 Msun/pc^2 at every point ({int(np.sum(S <= 0))} are not)")
    if not (ell0 > 0 and n > 0 and ga >= 0):
        raise InputError(f"log_boost needs ell0 > 0 kpc, n > 0, gamma*alpha >= 0; got {ell0}, {n}, {ga}")
    lf = np.log(kernel.radial_profile(R, Params(ell0=ell0, n=n)))
    with np.errstate(divide="ignore"):
        lS = np.log(S) if eps != 0 else np.zeros_like(S)
        return (
            log10_A * math.log(10.0) + (2.0 + ga) * np.log(vc) - 2.0 * math.log(C_KMS) - ga * np.log(sv) + eps * lS + lf
        )


# --------------------------------------------------------------------------- SPARC points
@dataclasses.dataclass(frozen=True)
class SparcPoints:
    """The SPARC points after the cuts, concatenated, each galaxy's kept points sorted by R.

    gal (index into names), R [kpc], R_d [kpc] (the galaxy's Rdisk), v_obs, e_v_obs [km/s], v_bar2
    [(km/s)^2, signed], Sigma [Msun/pc^2], sigma_v [km/s], w (stellar share of sigma_v^2, 0 for the
    constant model), prev/next: index of the neighbouring kept point of the same galaxy (-1: none).
    """

    names: tuple
    gal: np.ndarray
    R: np.ndarray
    R_d: np.ndarray
    v_obs: np.ndarray
    e_v_obs: np.ndarray
    v_bar2: np.ndarray
    Sigma: np.ndarray
    sigma_v: np.ndarray
    w: np.ndarray
    prev: np.ndarray
    next: np.ndarray

    @property
    def x_d(self) -> np.ndarray:
        """R/R_d (dimensionless)."""
        return self.R / self.R_d

    def subset(self, keep) -> SparcPoints:
        """The points where ``keep`` is True, the neighbour links re-pointed (a link to a dropped point is -1)."""
        keep = np.asarray(keep, bool)
        new = np.full(keep.size, -1)
        new[keep] = np.arange(int(keep.sum()))
        relink = [np.where(a[keep] >= 0, new[np.maximum(a[keep], 0)], -1) for a in (self.prev, self.next)]
        fields = {f.name: getattr(self, f.name)[keep] for f in dataclasses.fields(self) if f.name not in
                  ("names", "prev", "next")}  # fmt: skip
        return SparcPoints(names=self.names, prev=relink[0], next=relink[1], **fields)


def sparc_points(sample=None, options: SparcOptions = SparcOptions()) -> SparcPoints:
    """Concatenate ``sample`` (name -> (Galaxy, mask) as ``sparc.apply_cuts`` returns; default: SPARC after
    the standard cuts) at the mass-to-light ratios of ``options`` (default SPARC's 0.5 and 0.7), with its
    sigma_v model and Sigma definition. SPARC's distances and inclinations (nuisance fixed)."""
    if sample is None:
        sample, _ = sparc.apply_cuts(sparc.load_galaxies(), sparc.QualityCuts())
    o = options
    cols = {k: [] for k in ("gal", "R", "R_d", "v_obs", "e_v_obs", "v_bar2", "Sigma", "sigma_v", "w")}
    names = []
    for name, (g, m) in sample.items():
        idx = np.flatnonzero(m)
        idx = idx[np.argsort(g.R[idx], kind="stable")]
        sv = sparc.sigma_v(g, o.sigma_v_model, o.sigma_v_value, o.ups_disk, o.ups_bul)[idx]
        S = sparc.surface_density(g, o.sigma_definition, o.ups_disk, o.ups_bul, o.gas_scale)[idx]
        w = 1.0 - (o.sigma_v_value / sv) ** 2 if o.sigma_v_model == "stellar-disk" else np.zeros(idx.size)
        for k, v in (("gal", np.full(idx.size, len(names))), ("R", g.R[idx]), ("R_d", np.full(idx.size, g.Rdisk)),
                     ("v_obs", g.v_obs[idx]), ("e_v_obs", g.e_v_obs[idx]),
                     ("v_bar2", g.v_bar_squared(o.ups_disk, o.ups_bul)[idx]), ("Sigma", S), ("sigma_v", sv),
                     ("w", w)):  # fmt: skip
            cols[k].append(np.asarray(v, float) if k != "gal" else v)
        names.append(name)
    arr = {k: np.concatenate(v) for k, v in cols.items()}
    gal = arr["gal"].astype(int)
    i = np.arange(gal.size)
    same_prev = np.r_[False, gal[1:] == gal[:-1]]
    same_next = np.r_[gal[:-1] == gal[1:], False]
    arr["gal"] = gal
    return SparcPoints(
        names=tuple(names), prev=np.where(same_prev, i - 1, -1), next=np.where(same_next, i + 1, -1), **arr
    )


def chord_slope(lnR, lny, prev, nxt, ok) -> np.ndarray:
    """The centred chord slope (ln y[next] - ln y[prev]) / (ln R[next] - ln R[prev]) at each point whose two
    neighbours exist and, with the point itself, have ``ok`` True and finite ln y; NaN elsewhere (also
    where the neighbours share a radius). Dimensionless."""
    lnR, lny = np.asarray(lnR, float), np.asarray(lny, float)
    ok = np.asarray(ok, bool) & np.isfinite(lny)
    has = (prev >= 0) & (nxt >= 0)
    p, q = np.where(has, prev, 0), np.where(has, nxt, 0)
    good = has & ok & ok[p] & ok[q]
    dR = lnR[q] - lnR[p]
    good &= dR > 0
    out = np.full(lnR.shape, np.nan)
    with np.errstate(invalid="ignore"):
        out[good] = (lny[q] - lny[p])[good] / dR[good]
    return out


def needed_slope(pts: SparcPoints, k_sigma: float = 3.0):
    """(F_needed, sigma_F, slope): F_needed = V_obs^2/V_bar^2 (nuisance fixed); sigma_F = 2 F_needed e_Vobs/V_obs
    (V_obs's random error only; SPARC gives no error of V_bar); slope = chord d ln(F_needed - 1)/d ln R where
    V_bar^2 > 0 and F_needed - 1 > k_sigma sigma_F at the point and both neighbours (NaN elsewhere)."""
    if not (math.isfinite(k_sigma) and k_sigma >= 0):
        raise InputError(f"k_sigma = {k_sigma!r} must be finite and >= 0")
    with np.errstate(divide="ignore", invalid="ignore"):
        F = np.where(pts.v_bar2 > 0, pts.v_obs**2 / pts.v_bar2, np.nan)
        sF = 2.0 * F * pts.e_v_obs / pts.v_obs
        ok = (pts.v_bar2 > 0) & (F - 1.0 > k_sigma * sF)
        lny = np.log(F - 1.0)
    return F, sF, chord_slope(np.log(pts.R), lny, pts.prev, pts.next, ok)


def vc_for_mode(pts: SparcPoints, mode: str, params: Params = Params()):
    """v_c [km/s] at every point for ``mode`` (``kernel.VC_MODES``) and a boolean mask of the points where it
    exists (the self-consistent mode drops the galaxies with no solution, ``NoSelfConsistentSolution``)."""
    if mode not in kernel.VC_MODES:
        raise InputError(f"mode = {mode!r} is not one of {kernel.VC_MODES}")
    vb = np.abs(signed_sqrt(pts.v_bar2))
    if mode == "baryonic":
        return vb, np.ones(vb.size, bool)
    if mode == "observed":
        return np.asarray(pts.v_obs, float), np.ones(vb.size, bool)
    vc, ok = vb.copy(), np.ones(vb.size, bool)
    for gi in np.unique(pts.gal):
        m = pts.gal == gi
        try:
            vc[m] = kernel.self_consistent_speed(pts.R[m], vb[m], pts.sigma_v[m], pts.Sigma[m], params)
        except NoSelfConsistentSolution:
            ok[m] = False
    return vc, ok


def model_slope(pts: SparcPoints, mode: str, params: Params = Params(), at=None):
    """(F, slope): CMSI's F = 1 + ``kernel.boost`` in ``mode`` and the chord d ln(F - 1)/d ln R (as
    ``chord_slope``) where F - 1 > 0; ``at``: optional mask of points where the slope is wanted (e.g. where
    the needed slope is defined; NaN elsewhere). F is NaN where the self-consistent mode has no solution."""
    vc, ok = vc_for_mode(pts, mode, params)
    B = kernel.boost(pts.R, vc, pts.sigma_v, pts.Sigma, params)
    with np.errstate(divide="ignore"):
        s = chord_slope(np.log(pts.R), np.log(B), pts.prev, pts.next, ok & (B > 0))
    if at is not None:
        s = np.where(np.asarray(at, bool), s, np.nan)
    return np.where(ok, 1.0 + B, np.nan), s


def component_slopes(pts: SparcPoints, mode: str = "baryonic"):
    """Chord slopes (s_v, s_Sigma, s_sigma) of ln v_c, ln Sigma, ln sigma_v along each curve (v_c: |v_bar| for
    "baryonic", V_obs for "observed"); with ``profile_slope`` they give s_F at any parameters, since the chord
    of a sum of logarithms is the sum of their chords. NaN where a logarithm is undefined."""
    if mode not in ("baryonic", "observed"):
        raise InputError(f"component_slopes: mode {mode!r} must be 'baryonic' or 'observed' (v_c not a model output)")
    vc, _ = vc_for_mode(pts, mode)
    lnR = np.log(pts.R)
    ok = (vc > 0) & (pts.Sigma > 0)
    with np.errstate(divide="ignore"):
        return tuple(chord_slope(lnR, np.log(q), pts.prev, pts.next, ok) for q in (vc, pts.Sigma, pts.sigma_v))


def bin_median(x, y, edges=BIN_EDGES):
    """Per bin of ``x``: (centre, median, 25th and 75th percentile of y, count), finite y only; empty bins NaN."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    fin = np.isfinite(x) & np.isfinite(y)
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        v = y[fin & (x >= lo) & (x < hi)]
        q = np.percentile(v, [50, 25, 75]) if v.size else [np.nan] * 3
        rows.append((0.5 * (lo + hi), *map(float, q), int(v.size)))
    return np.array(rows)


# --------------------------------------------------------------------------- the fit in the extended region
#: a fitted gamma alpha or eps (>= 0 domain) within this of 0 is reported as on its bound (dimensionless)
BOUND_TOL = 1e-4
#: names of the fitted parameters (n is held at ``fit_extended``'s ``n``)
FIT_NAMES = ("log10_A", "gamma_alpha", "eps", "log10_ell0")


@dataclasses.dataclass(frozen=True)
class ExtendedFit:
    """The best of the starts of ``fit_extended``: chi2 (dimensionless), the parameters (``FIT_NAMES``:
    log10 A [dex of (Msun/pc^2)^-eps], gamma alpha, eps, log10 ell0 [dex of kpc]), which are on a bound,
    whether ell0 is beyond 1e3 x every radius or below every radius / 1e3 (f in a limit: ell0 undetermined,
    or only A ell0), every start's chi2, the points used and the mode."""

    mode: str
    eps_domain: str
    chi2: float
    theta: tuple
    on_bound: tuple
    ell0_in_limit: bool
    start_chi2: tuple
    n_points: int
    n: float

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["params"] = dict(zip(FIT_NAMES, self.theta, strict=True))
        return d


def _model_speed(pts: SparcPoints, vc, theta, n: float) -> np.ndarray:
    lA, ga, eps, lell = theta
    # |log10 ell0| > 30 is the limit f -> 1 or f -> ell0/R to double precision; clipping keeps 10**lell finite
    lb = log_boost(pts.R, vc, pts.sigma_v, pts.Sigma, lA, max(ga, 0.0), eps, 10.0 ** np.clip(lell, -30, 30), n)
    F = 1.0 + np.exp(np.minimum(lb, 600.0))  # exp(600) ~ 1e260: a huge, finite F instead of inf
    return np.sign(pts.v_bar2) * np.sqrt(F * np.abs(pts.v_bar2))


def _starts(pts, vc, n, eps_domain):
    eps_list = (-1.0, -0.3, 0.0, 0.5) if eps_domain == "free" else (0.0, 0.5, 1.0)
    F_need = np.where(pts.v_bar2 > 0, pts.v_obs**2 / np.where(pts.v_bar2 > 0, pts.v_bar2, 1.0), np.nan)
    target = np.log(np.nanmedian(np.clip(F_need - 1.0, 1e-3, None)))
    out = []
    for eps in eps_list:
        for ga in (0.825, 3.0):
            for lell in (math.log10(2.2), math.log10(30.0)):
                lb0 = log_boost(pts.R, vc, pts.sigma_v, pts.Sigma, 0.0, ga, eps, 10.0**lell, n)
                out.append((float((target - np.median(lb0)) / math.log(10.0)), ga, eps, lell))
    return out


def fit_extended(pts: SparcPoints, mode: str = "baryonic", eps_domain: str = "free", n: float = 2.0) -> ExtendedFit:
    """Least-squares fit of v = sqrt(F) v_bar (F - 1 in the factored form, ``log_boost``) to V_obs at fixed
    nuisance parameters (those of ``pts``): chi2 = sum((V_obs - v)/e_Vobs)^2 over all points of ``pts``.

    mode: "baryonic" (v_c = |v_bar|) or "observed" (v_c = V_obs; circular). eps_domain: "free" (any real eps:
    beyond the proposal's domain) or "params" (eps >= 0, as ``Params``). gamma alpha >= 0 is a bound; A and ell0
    are fitted in log10 (no box). ``scipy.optimize.least_squares`` (trf) from several starts (``_starts``:
    eps x gamma alpha x ell0, A matched to the median needed boost); the best is returned."""
    if mode not in ("baryonic", "observed"):
        raise InputError(f"fit_extended: mode {mode!r} must be 'baryonic' or 'observed'")
    if eps_domain not in ("free", "params"):
        raise InputError(f"fit_extended: eps_domain {eps_domain!r} must be 'free' or 'params'")
    if eps_domain == "free" and np.any(pts.Sigma <= 0):
        raise InputError("fit_extended with eps free needs Sigma > 0 at every point: drop Sigma = 0 points first")
    vc, _ = vc_for_mode(pts, mode)
    lo = np.array([-np.inf, 0.0, -np.inf if eps_domain == "free" else 0.0, -np.inf])

    def resid(theta):
        return (pts.v_obs - _model_speed(pts, vc, theta, n)) / pts.e_v_obs

    results = []
    for th0 in _starts(pts, vc, n, eps_domain):
        th0 = np.maximum(np.array(th0, float), lo)
        r = optimize.least_squares(resid, th0, bounds=(lo, np.full(4, np.inf)), method="trf", x_scale="jac",
                                   max_nfev=400)  # fmt: skip
        results.append((float(np.sum(r.fun**2)), r.x))
    chi2, theta = min(results, key=lambda t: t[0])
    on_bound = tuple(bool(np.isfinite(lo[i]) and abs(theta[i] - lo[i]) < BOUND_TOL) for i in range(4))
    lR = np.log10(pts.R)
    ell0_limit = bool(theta[3] < lR.min() - 3 or theta[3] > lR.max() + 3)
    return ExtendedFit(mode, eps_domain, chi2, tuple(map(float, theta)), on_bound, ell0_limit,
                       tuple(c for c, _ in results), int(pts.R.size), float(n))  # fmt: skip


def fitted_speed(pts: SparcPoints, fit: ExtendedFit) -> np.ndarray:
    """The fitted model's signed speed [km/s] at the points of ``pts``."""
    vc, _ = vc_for_mode(pts, fit.mode)
    return _model_speed(pts, vc, fit.theta, fit.n)


def baseline_chi2(pts: SparcPoints, g_dagger_si: float = rar.G_DAGGER_SI) -> dict:
    """chi2 = sum((V_obs - v)/e_Vobs)^2 (dimensionless) of Newton (v = v_bar) and the RAR at ``g_dagger_si``
    [m/s^2] on the points of ``pts`` (nuisance fixed)."""
    vb = signed_sqrt(pts.v_bar2)
    v_rar = rar.rar_speed(pts.R, vb, g_dagger_si)
    return {
        "newton": float(np.sum(((pts.v_obs - vb) / pts.e_v_obs) ** 2)),
        "rar": float(np.sum(((pts.v_obs - v_rar) / pts.e_v_obs) ** 2)),
        "n_points": int(pts.R.size),
    }


# --------------------------------------------------------------------------- wide parameter ranges
def scan_signs(pts: SparcPoints, mode: str, eps_grid, ga_grid, ell0_grid, n: float = 2.0, x_min: float = 3.0, at=None):
    """s_F on the SPARC points over a grid of (eps, gamma alpha, ell0 [kpc]) at shape index n, for mode
    "baryonic" or "observed" (v_c fixed; A drops out of the slope), from the chords of ``component_slopes``
    plus the chord of ln f. Rows (eps, gamma alpha, ell0, fraction of points with R/R_d >= x_min where
    s_F > 0, median s_F there, points); ``at``: optional mask of the points used (e.g. where the needed
    slope is defined). The self-consistent mode has the baryonic sign (``slope_self_consistent``)."""
    s_v, s_S, s_s = component_slopes(pts, mode)
    far = pts.x_d >= x_min
    if at is not None:
        far &= np.asarray(at, bool)
    lnR = np.log(pts.R)
    rows = []
    for ell0 in ell0_grid:
        lf = np.log(kernel.radial_profile(pts.R, Params(ell0=ell0, n=n)))
        s_f = chord_slope(lnR, lf, pts.prev, pts.next, np.ones(lnR.size, bool))
        for eps in eps_grid:
            for ga in ga_grid:
                s = (2.0 + ga) * s_v + eps * s_S - ga * s_s + s_f
                v = s[far & np.isfinite(s)]
                rows.append((float(eps), float(ga), float(ell0), float(np.mean(v > 0)) if v.size else math.nan,
                             float(np.median(v)) if v.size else math.nan, int(v.size)))  # fmt: skip
    return rows


#: the name of the cached stage of ``fit_stage`` (results/stages/log_slope_fit/)
FIT_STAGE = "log_slope_fit"


def _fit_all(options_list) -> dict:
    out = []
    for label, opts, drop_zero in options_list:
        pts = sparc_points(options=opts)
        n_all = int(pts.R.size)
        if drop_zero:
            pts = pts.subset(pts.Sigma > 0)
        base = baseline_chi2(pts)
        for mode in ("baryonic", "observed"):
            for dom in ("free", "params"):
                fit = fit_extended(pts, mode, dom)
                out.append(
                    {"sigma": label, "n_all": n_all, **fit.as_dict(), "newton": base["newton"], "rar": base["rar"]}
                )
    return {"fits": out}


def fit_stage(force: bool = False):
    """``fit_extended`` in modes "baryonic" and "observed", eps free and eps >= 0, on SPARC after the standard
    cuts at Ups_disk 0.5, Ups_bul 0.7, sigma_v 10 km/s, for two Sigma definitions: "stellar+gas" (Sigma > 0 at
    every point) and "stellar" on its Sigma > 0 points; with Newton's and the RAR's chi2 on the same points.
    A cached stage (``FIT_STAGE``). Returns (result, was_cached)."""
    variants = (
        ("stellar+gas", SparcOptions(sigma_definition="stellar+gas"), False),
        ("stellar, Sigma > 0", SparcOptions(sigma_definition="stellar"), True),
    )
    inputs = {"variants": [(lab, o.as_dict(), d) for lab, o, d in variants], "cuts": "standard", "n": 2.0}
    return stages.run_stage(
        FIT_STAGE,
        inputs,
        lambda: _fit_all(variants),
        modules=["cmsi_lib.log_slope"],
        data_files=[sparc.TABLE1_FILE, sparc.TABLE2_FILE],
        force=force,
    )
