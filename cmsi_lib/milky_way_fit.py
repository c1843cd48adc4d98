"""CMSI on the Milky Way: its inputs at the data radii, chi^2 of each model, and the chi0 fit.

Builds on :mod:`cmsi_lib.milky_way_data` (the curves) and :mod:`cmsi_lib.milky_way_baryons`
(v_bar, Sigma, sigma_v). The analysis entry point that assembles these is
:func:`cmsi_lib.milky_way.analyse`.

Units: R in kpc, speeds in km/s, Sigma in Msun/pc^2; chi0, F and chi^2 dimensionless.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import optimize

from .errors import InputError, NoSelfConsistentSolution
from .kernel import VC_MODES, circular_speed, enhancement
from .milky_way_baryons import BaryonGrid, as_radii_kpc, sigma_v_profile
from .milky_way_data import RotationCurve
from .params import Params
from .rar import rar_speed

__all__ = [
    "MilkyWayInputs",
    "inputs_at",
    "cmsi_speed",
    "boost_per_chi0",
    "runaway_chi0",
    "Chi0Fit",
    "fit_chi0",
    "single_factor_requirements",
    "ModelChi2",
    "model_chi2_table",
]


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


def inputs_at(
    R, grid: BaryonGrid, sigma_v: str | float = "stellar-radial", sigma_components: str = "baryons"
) -> MilkyWayInputs:
    """CMSI's inputs and the baselines at R [kpc] from a BaryonGrid."""
    R = as_radii_kpc(R)
    vb = grid.speed("baryons", R)
    S = grid.surface_density(R, sigma_components)
    sv = sigma_v_profile(R, sigma_v, S, grid.meta.get("parameters"))
    choices = {"sigma_v": sigma_v, "sigma_components": sigma_components, "zmax_kpc": grid.zmax}
    return MilkyWayInputs(R, vb, S, sv, grid.speed("full model", R), rar_speed(R, vb), choices)


def cmsi_speed(inp: MilkyWayInputs, params: Params, vc_mode: str = "baryonic", v_obs=None) -> np.ndarray:
    """CMSI circular speed [km/s] at inp.R_kpc (kernel.circular_speed). Raises NoSelfConsistentSolution
    for a runaway in the self-consistent mode."""
    return circular_speed(inp.R_kpc, inp.v_bar, inp.sigma_v, inp.Sigma, params, vc_mode, v_obs)


def boost_per_chi0(inp: MilkyWayInputs, params: Params) -> np.ndarray:
    """(F - 1) / chi0 at inp.R_kpc with v_c = |v_bar| [dimensionless]: F - 1 is linear in chi0, so
    F at any chi0 is 1 + chi0 * this, and the chi0 a point needs for F_req is (F_req - 1) / this."""
    p1 = Params.from_mapping({"chi0": 1.0}, params)
    return enhancement(inp.R_kpc, inp.v_bar, inp.sigma_v, inp.Sigma, p1) - 1


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


def fit_chi0(
    curve: RotationCurve,
    inp: MilkyWayInputs,
    params: Params = Params(),
    vc_mode: str = "baryonic",
    chi0_range: tuple[float, float] = (1e-3, 1e12),
) -> Chi0Fit:
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
    res = optimize.minimize_scalar(
        lambda x: chi2(math.exp(x)), bounds=(a, b), method="bounded", options={"xatol": 1e-10}
    )
    x_best = res.x if res.fun <= cs[k] else xs[k]
    c_best, c2 = math.exp(x_best), min(res.fun, cs[k])
    n = len(curve)
    birge = math.sqrt(c2 / max(n - 1, 1))

    def edge(delta, side):
        target = c2 + delta
        end = lo_b if side < 0 else hi_b
        if chi2(end) < target:
            return math.nan
        return math.exp(
            optimize.brentq(
                lambda x: chi2(math.exp(x)) - target, *sorted((x_best, math.log(end))), xtol=1e-12, rtol=1e-12
            )
        )

    at_bound = k in (0, xs.size - 1)
    return Chi0Fit(
        c_best, edge(1.0, -1), edge(1.0, +1), edge(birge**2, -1), edge(birge**2, +1), c2, n, birge,
        vc_mode, hi_b, at_bound,
    )  # fmt: skip


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


@dataclass(frozen=True)
class ModelChi2:
    """One row of a chi^2 table: model label, chi2 (None for a runaway), n points, chi2 / n, note."""

    model: str
    chi2: float | None
    n: int
    chi2_per_point: float | None
    note: str

    def as_dict(self) -> dict:
        return asdict(self)


def model_chi2_table(
    curve: RotationCurve, inp: MilkyWayInputs, cmsi_models: dict[str, tuple[Params, str]]
) -> tuple[ModelChi2, ...]:
    """chi^2 of each model on ``curve`` (``inp`` at the curve's radii).

    Always: "newton" (baryons only), "mcmillan17-halo" (full model), "rar" (RAR/MOND from v_bar).
    Then one row per ``cmsi_models`` entry: label -> (Params, vc_mode). A runaway gives chi2 = None
    and a note.
    """
    rows = []

    def add(name, fn, note=""):
        try:
            c2 = curve.chi2(fn())
        except NoSelfConsistentSolution as exc:
            c2, note = None, f"no self-consistent solution (runaway): {str(exc)[:120]}"
        rows.append(ModelChi2(name, c2, len(curve), None if c2 is None else c2 / len(curve), note))

    add("newton", lambda: inp.v_bar, "McMillan17 baryons only (F = 1)")
    add("mcmillan17-halo", lambda: inp.v_full, "McMillan17 with its NFW halo (not refitted to these data)")
    add("rar", lambda: inp.v_rar, "RAR/MOND-like, g_dagger = 1.2e-10 m/s^2, from v_bar")
    for label, (p, mode) in cmsi_models.items():
        add(
            label,
            lambda p=p, mode=mode: cmsi_speed(inp, p, mode, curve.v_kms),
            f"CMSI, chi0 = {p.chi0:.4g}, vc_mode = {mode}",
        )
    return tuple(rows)
