"""Fitting rotation-curve models to SPARC galaxies: nuisance priors, per-galaxy maximum-posterior
fits, posterior sampling (emcee), and the global CMSI fit with k-fold cross-validation.

Nuisance parameters and priors (Li, Lelli, McGaugh & Schombert 2018, A&A 615, A3):

    log10 Ups_disk ~ N(log10 0.5, 0.1)      log10 Ups_bul ~ N(log10 0.7, 0.1)   (galaxies with a bulge)
    D ~ N(D_SPARC, e_D) [Mpc]                Inc ~ N(Inc_SPARC, e_Inc) [deg], Inc <= 90 deg

The maximum of the posterior is found with ``scipy.optimize.least_squares``: the data residuals
(V_obs - V_model)/e_V_obs and the prior terms are one residual vector, so

    chi2 (data)  = sum over points of ((V_obs - V_model)/e_V_obs)^2
    chi2_prior   = sum of the squared prior residuals
    chi2_red     = chi2 / (N - k_model)  (k_model: the model's own parameters; each nuisance
                   parameter brings its own prior "datum", so it does not use up a degree of freedom)
    AIC = chi2 + chi2_prior + 2 k,  BIC = chi2 + chi2_prior + k ln N  (k: all free parameters)

Model parameters are fitted in log10 between their bounds (``models.ParamSpec``), with flat priors.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Iterable, Mapping

import numpy as np
from scipy import optimize

from . import models
from .kernel import InputError, NoSelfConsistentSolution
from .models import Model, Nuisance, Observables
from .params import Params

__all__ = [
    "UPS_DISK_PRIOR",
    "UPS_BUL_PRIOR",
    "NUISANCE_MODES",
    "FitResult",
    "fit_galaxy",
    "fit_sample",
    "summarize",
    "sample_posterior",
    "GlobalFit",
    "global_fit",
    "kfold_split",
    "SURVEY_MODELS",
    "run_survey",
    "load_survey",
]

#: log-normal prior of Ups_disk: (median [Msun/Lsun], width [dex])
UPS_DISK_PRIOR = (0.5, 0.1)
#: log-normal prior of Ups_bul: (median [Msun/Lsun], width [dex])
UPS_BUL_PRIOR = (0.7, 0.1)
#: how far (in prior widths) the nuisance parameters may move: hard bounds of the fit
NUISANCE_BOUND_SIGMAS = 5.0
#: which nuisance parameters are free: all four (Li et al. 2018), only the mass-to-light ratios, none
NUISANCE_MODES = ("full", "ups", "none")
#: a fit is "acceptable" when its chi^2 p-value (dof = N - k_model) is at least this
ACCEPTABLE_P_VALUE = 0.01

_PENALTY = 1e4  # residual returned where the model has no value (e.g. no self-consistent solution)


# --------------------------------------------------------------------------- results
@dataclasses.dataclass
class FitResult:
    """One galaxy fitted with one model.

    Arrays are at ALL the galaxy's data radii (``mask`` marks the points fitted), with the
    best-fit nuisance parameters applied: R [kpc], v_obs, e_v_obs, v_bar (signed), v_model [km/s].
    ``best`` holds the nuisance (ups_disk, ups_bul [Msun/Lsun], D [Mpc], inc [deg]) and the
    model's parameters (physical units); ``at_bound`` names the free ones that ended on a bound.
    ``success`` False: ``reason`` says why (the numbers are then NaN or from the failed point).
    """

    galaxy: str
    model: str
    success: bool
    reason: str = ""
    n_points: int = 0
    k_model: int = 0
    k_free: int = 0
    chi2: float = math.nan
    chi2_prior: float = math.nan
    chi2_red: float = math.nan
    aic: float = math.nan
    bic: float = math.nan
    best: dict = dataclasses.field(default_factory=dict)
    at_bound: dict = dataclasses.field(default_factory=dict)
    R: np.ndarray | None = None
    v_obs: np.ndarray | None = None
    e_v_obs: np.ndarray | None = None
    v_bar: np.ndarray | None = None
    v_model: np.ndarray | None = None
    mask: np.ndarray | None = None
    nfev: int = 0
    seconds: float = 0.0

    @property
    def skipped(self) -> bool:
        return not self.success and self.reason.startswith("skipped")

    @property
    def objective(self) -> float:
        """-2 ln(maximum posterior) up to a constant: chi2 + chi2_prior."""
        return self.chi2 + self.chi2_prior

    @property
    def p_value(self) -> float:
        dof = self.n_points - self.k_model
        from scipy.stats import chi2  # imported here: scipy.stats costs ~0.5 s per atlas page

        return float(chi2.sf(self.chi2, dof)) if self.success and dof > 0 else math.nan

    def log_accel_residuals(self) -> np.ndarray:
        """log10(g_obs/g_model) = 2 log10(v_obs/v_model) [dex] at the fitted points with v_model > 0."""
        if self.v_model is None:
            return np.array([])
        m = self.mask & (self.v_model > 0) & (self.v_obs > 0)
        return 2.0 * np.log10(self.v_obs[m] / self.v_model[m])

    def row(self) -> dict:
        """A flat record (scalars only) for tables."""
        out = {k: getattr(self, k) for k in ("galaxy", "model", "success", "reason", "n_points", "k_model",
                                               "k_free", "chi2", "chi2_prior", "chi2_red", "aic", "bic", "nfev")}
        out["p_value"] = self.p_value
        out.update({f"best_{k}": v for k, v in self.best.items()})
        out["at_bound"] = ",".join(k for k, v in self.at_bound.items() if v)
        return out


# --------------------------------------------------------------------------- one galaxy
@dataclasses.dataclass
class _Problem:
    """A galaxy's fit problem: fixed arrays, the free-parameter layout, bounds and priors."""

    model: Model
    galaxy: object
    mask: np.ndarray
    names: list  # free parameter names (fit space)
    x0: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    fixed: dict  # nuisance values not fitted
    extra: object  # CMSIInputs (masked) or None
    logs: list  # which free parameters are in log10

    def unpack(self, x):
        d = dict(self.fixed)
        for name, v, lg in zip(self.names, x, self.logs):
            d[name] = 10.0**v if lg else v
        return d

    def observables(self, d, mask=None) -> Observables:
        g = self.galaxy
        m = self.mask if mask is None else mask
        s = d["D"] / g.D
        k = math.sin(math.radians(g.inc)) / math.sin(math.radians(d["inc"]))
        vb2 = s * (_sq(g.v_gas[m]) + d["ups_disk"] * _sq(g.v_disk[m]) + d["ups_bul"] * _sq(g.v_bul[m]))
        return Observables(R=g.R[m] * s, v_obs=g.v_obs[m] * k, e_v_obs=g.e_v_obs[m] * k, v_bar2=vb2)

    def theta(self, d):
        return np.array([d[s.name] for s in self.model.specs], float)

    def prior_residuals(self, d) -> np.ndarray:
        g = self.galaxy
        out = []
        if "ups_disk" in self.names:
            out.append((math.log10(d["ups_disk"]) - math.log10(UPS_DISK_PRIOR[0])) / UPS_DISK_PRIOR[1])
        if "ups_bul" in self.names:
            out.append((math.log10(d["ups_bul"]) - math.log10(UPS_BUL_PRIOR[0])) / UPS_BUL_PRIOR[1])
        if "D" in self.names:
            out.append((d["D"] - g.D) / g.e_D)
        if "inc" in self.names:
            out.append((d["inc"] - g.inc) / g.e_inc)
        return np.array(out, float)

    def data_residuals(self, d) -> np.ndarray:
        obs = self.observables(d)
        vm = self.model.speed(obs, self.theta(d), self.extra, (d["ups_disk"], d["ups_bul"]))
        return (obs.v_obs - vm) / obs.e_v_obs

    def residuals(self, x) -> np.ndarray:
        d = self.unpack(x)
        pr = self.prior_residuals(d)
        try:
            r = self.data_residuals(d)
        except (NoSelfConsistentSolution, FloatingPointError):
            r = np.full(int(self.mask.sum()), _PENALTY)
        r = np.where(np.isfinite(r), r, _PENALTY)
        return np.concatenate([r, pr])


def _sq(v):
    return v * np.abs(v)


def _problem(galaxy, model: Model, mask, nuisance: str) -> _Problem:
    g = galaxy
    names, x0, lb, ub, logs = [], [], [], [], []
    fixed = {"ups_disk": UPS_DISK_PRIOR[0], "ups_bul": UPS_BUL_PRIOR[0], "D": g.D, "inc": g.inc}
    k = NUISANCE_BOUND_SIGMAS

    def add(name, x, lo, hi, lg):
        names.append(name)
        x0.append(min(max(x, lo + 1e-9 * (hi - lo)), hi - 1e-9 * (hi - lo)))
        lb.append(lo)
        ub.append(hi)
        logs.append(lg)
        fixed.pop(name, None)

    if nuisance in ("full", "ups"):
        for name, (med, dex), present in (("ups_disk", UPS_DISK_PRIOR, bool(np.any(g.v_disk != 0))),
                                          ("ups_bul", UPS_BUL_PRIOR, bool(np.any(g.v_bul != 0)))):
            if present:
                lm = math.log10(med)
                add(name, lm, lm - k * dex, lm + k * dex, True)
    if nuisance == "full":
        if g.e_D > 0:
            add("D", g.D, max(g.D - k * g.e_D, 0.1 * g.D), g.D + k * g.e_D, False)
        if g.e_inc > 0:
            add("inc", g.inc, max(g.inc - k * g.e_inc, 1.0), min(g.inc + k * g.e_inc, 90.0), False)
    extra = model.cmsi_inputs(g) if model.needs_cmsi_inputs else None
    if extra is not None:
        extra = models.CMSIInputs(*(a[mask] for a in dataclasses.astuple(extra)))
    prob = _Problem(model, g, mask, names, np.array(x0, float), np.array(lb, float), np.array(ub, float),
                    fixed, extra, logs)
    # the model's own parameters
    d0 = prob.unpack(prob.x0)
    theta0 = model.initial(prob.observables(d0), g)
    for s, v in zip(model.specs, theta0):
        if s.log:
            add(s.name, math.log10(v), math.log10(s.lo), math.log10(s.hi), True)
        else:
            add(s.name, v, s.lo, s.hi, False)
    prob.x0, prob.lb, prob.ub = np.array(x0, float), np.array(lb, float), np.array(ub, float)
    return prob


def fit_galaxy(galaxy, model_name: str | Model, params: Params = Params(), *, mask=None, nuisance: str = "full",
               options=None, min_dof: int = 1, x_scale="jac", max_nfev: int | None = None) -> FitResult:
    """Maximum-posterior fit of one galaxy with one model.

    galaxy: a ``sparc.Galaxy``; model_name: a name in ``models.MODEL_NAMES`` or a ``Model``;
    params: the CMSI parameters (used by the CMSI models only); options: a ``sparc.SparcOptions``
    for the CMSI models; mask: boolean array of the points to fit (default all);
    nuisance: "full" (Ups, D, Inc free with priors), "ups" or "none" (SPARC's values held fixed).
    A galaxy with fewer than k_model + min_dof points is skipped (``success`` False, with the reason);
    a failed optimisation or a model without a value (e.g. no self-consistent solution) is reported
    in ``reason``, never raised.
    """
    t0 = time.perf_counter()
    if nuisance not in NUISANCE_MODES:
        raise InputError(f"nuisance = {nuisance!r} is not one of {NUISANCE_MODES}")
    model = _model(model_name, params, options)
    mask = np.ones(galaxy.R.size, bool) if mask is None else np.asarray(mask, bool)
    if mask.shape != galaxy.R.shape:
        raise InputError(f"mask has shape {mask.shape}; galaxy {galaxy.name} has {galaxy.R.size} points")
    n = int(mask.sum())
    k_model = len(model.specs)
    res = FitResult(galaxy.name, model.name, False, n_points=n, k_model=k_model, mask=mask)
    if n - k_model < min_dof:
        res.reason = f"skipped: {n} points for {k_model} model parameters (need at least {k_model + min_dof})"
        return res
    prob = _problem(galaxy, model, mask, nuisance)
    res.k_free = len(prob.names)
    try:
        r0 = prob.data_residuals(prob.unpack(prob.x0))
    except NoSelfConsistentSolution as exc:
        res.reason = f"no model value at the starting point: {exc}"
        return res
    if not np.all(np.isfinite(r0)):
        res.reason = "the model is not finite at the starting point"
        return res
    x = prob.x0
    if prob.names:
        try:
            sol = optimize.least_squares(prob.residuals, prob.x0, bounds=(prob.lb, prob.ub), method="trf",
                                         x_scale=x_scale, max_nfev=max_nfev or 200 * (len(prob.names) + 1))
        except (ValueError, FloatingPointError) as exc:
            res.reason = f"optimiser error: {exc}"
            return res
        x = sol.x
        res.nfev = int(sol.nfev)
        if sol.status <= 0:
            res.reason = f"did not converge: {sol.message}"
    d = prob.unpack(x)
    try:
        r = prob.data_residuals(d)
    except NoSelfConsistentSolution as exc:
        res.reason = res.reason or f"no model value at the best point: {exc}"
        r = None
    if r is not None and not np.all(np.isfinite(r)):
        res.reason = res.reason or "the model is not finite at the best point"
    width = prob.ub - prob.lb
    res.at_bound = {nm: bool(min(xi - lo, hi - xi) <= 1e-6 * w)
                    for nm, xi, lo, hi, w in zip(prob.names, x, prob.lb, prob.ub, width)}
    res.best = {k: float(d[k]) for k in ("ups_disk", "ups_bul", "D", "inc")}
    res.best.update({s.name: float(d[s.name]) for s in model.specs})
    full = np.ones(galaxy.R.size, bool)
    obs = prob.observables(d, full)
    res.R, res.v_obs, res.e_v_obs, res.v_bar = obs.R, obs.v_obs, obs.e_v_obs, models.signed_sqrt(obs.v_bar2)
    try:
        ex = model.cmsi_inputs(galaxy) if model.needs_cmsi_inputs else None
        res.v_model = model.speed(obs, prob.theta(d), ex, (d["ups_disk"], d["ups_bul"]))
    except NoSelfConsistentSolution:
        res.v_model = np.full(galaxy.R.size, np.nan)
    if r is not None:
        res.chi2 = float(r @ r)
        pr = prob.prior_residuals(d)
        res.chi2_prior = float(pr @ pr)
        res.chi2_red = res.chi2 / (n - k_model)
        res.aic = res.chi2 + res.chi2_prior + 2 * res.k_free
        res.bic = res.chi2 + res.chi2_prior + res.k_free * math.log(n)
    res.success = not res.reason
    res.seconds = time.perf_counter() - t0
    return res


def _model(model_name: str | Model, params: Params, options) -> Model:
    """A Model from a name (the CMSI models take params and options) or the Model itself."""
    if isinstance(model_name, Model):
        return model_name
    if str(model_name).startswith("cmsi"):
        return models.get_model(model_name, params=params, options=options)
    return models.get_model(model_name)


def fit_sample(sample: Mapping, model_name: str | Model, params: Params = Params(), options=None,
               **kw) -> list[FitResult]:
    """Fit every galaxy of ``sample`` (name -> Galaxy, or name -> (Galaxy, mask) as ``sparc.apply_cuts``
    returns) with one model, in order. Other keyword arguments go to ``fit_galaxy``."""
    model = _model(model_name, params, options)
    out = []
    for item in sample.values():
        g, m = item if isinstance(item, tuple) else (item, None)
        out.append(fit_galaxy(g, model, params, mask=m, **kw))
    return out


def summarize(results: Iterable[FitResult], acceptable_p: float = ACCEPTABLE_P_VALUE) -> dict:
    """Per-model summary of fits: counts (fitted, failed, skipped, with reasons), median reduced chi^2,
    fraction of acceptable fits (chi^2 p-value >= acceptable_p), total chi^2/AIC/BIC and the rms
    [dex] of the pooled log-acceleration residuals log10(g_obs/g_model)."""
    results = list(results)
    ok = [r for r in results if r.success]
    failed = [r for r in results if not r.success and not r.skipped]
    skipped = [r for r in results if r.skipped]
    res = np.concatenate([r.log_accel_residuals() for r in ok]) if ok else np.array([])
    p = np.array([r.p_value for r in ok])
    return {
        "model": results[0].model if results else "",
        "n_galaxies": len(ok),
        "n_failed": len(failed),
        "n_skipped": len(skipped),
        "failed": {r.galaxy: r.reason for r in failed},
        "skipped": {r.galaxy: r.reason for r in skipped},
        "n_points": int(sum(r.n_points for r in ok)),
        "median_chi2_red": float(np.median([r.chi2_red for r in ok])) if ok else math.nan,
        "frac_acceptable": float(np.mean(p >= acceptable_p)) if ok else math.nan,
        "chi2_total": float(sum(r.chi2 for r in ok)),
        "aic_total": float(sum(r.aic for r in ok)),
        "bic_total": float(sum(r.bic for r in ok)),
        "rar_rms_dex": float(np.sqrt(np.mean(res**2))) if res.size else math.nan,
        "n_at_bound": int(sum(any(r.at_bound.values()) for r in ok)),
    }


# --------------------------------------------------------------------------- posterior sampling
def sample_posterior(galaxy, model_name: str | Model, params: Params = Params(), *, mask=None,
                     nuisance: str = "full", options=None, nwalkers: int = 32, nsteps: int = 2000,
                     seed: int = 0, progress: bool = False) -> dict:
    """Sample the posterior of one galaxy's fit with emcee (flat priors within the bounds on the
    model's parameters in log10, the nuisance priors as in ``fit_galaxy``).

    Returns {"names": [...], "log10": [...] (which columns are log10 of the parameter),
    "chain": array (nsteps, nwalkers, n_params) in fit space, "acceptance": mean acceptance,
    "start": the maximum-posterior FitResult}.
    """
    import emcee

    model = _model(model_name, params, options)
    best = fit_galaxy(galaxy, model, params, mask=mask, nuisance=nuisance)
    if not best.success:
        raise InputError(f"cannot sample {galaxy.name} with {model.name}: the fit failed ({best.reason})")
    mask = best.mask
    prob = _problem(galaxy, model, mask, nuisance)
    x_best = np.array([math.log10(best.best[nm]) if lg else best.best[nm]
                       for nm, lg in zip(prob.names, prob.logs)])

    def log_prob(x):
        if np.any(x < prob.lb) or np.any(x > prob.ub):
            return -np.inf
        r = prob.residuals(x)
        return -0.5 * float(r @ r)

    rng = np.random.default_rng(seed)
    ndim = x_best.size
    spread = 1e-3 * np.maximum(prob.ub - prob.lb, 1e-6)
    p0 = np.clip(x_best + spread * rng.standard_normal((nwalkers, ndim)), prob.lb, prob.ub)
    sampler = emcee.EnsembleSampler(nwalkers, ndim, log_prob)
    sampler.random_state = np.random.RandomState(seed).get_state()  # reproducible moves
    sampler.run_mcmc(p0, nsteps, progress=progress)
    return {"names": list(prob.names), "log10": list(prob.logs), "chain": sampler.get_chain(),
            "acceptance": float(np.mean(sampler.acceptance_fraction)), "start": best}


# --------------------------------------------------------------------------- the global CMSI fit
def kfold_split(names: list[str], k: int, seed: int = 0) -> list[list[str]]:
    """Split galaxy names into k folds of near-equal size after a seeded shuffle."""
    if not (isinstance(k, int) and 2 <= k <= len(names)):
        raise InputError(f"k_folds = {k!r} must be an integer in [2, {len(names)}]")
    order = np.random.default_rng(seed).permutation(len(names))
    return [[names[i] for i in sorted(part)] for part in np.array_split(order, k)]


@dataclasses.dataclass
class GlobalFit:
    """The global CMSI fit: shared parameters ``free`` over all galaxies, nuisance profiled per galaxy.

    best: the Params of the full-sample fit; chi2 (data) and n_points at best and at ``base`` (the
    seed's defaults); profile: the grid (values of each free parameter) with the summed objective
    and chi2 and the number of galaxies without a model value at each grid point; folds: per fold,
    the training-fit parameters, in-sample chi2/point (training galaxies) and out-of-sample
    chi2/point (held-out galaxies, nuisance re-fitted, shared parameters fixed).
    """

    free: tuple
    base: Params
    options: dict
    galaxies: list
    n_points: int
    best: Params
    chi2_best: float
    chi2_base: float
    chi2_newton: float
    per_galaxy_best: dict
    failures_best: dict
    failures_base: dict
    profile: dict
    folds: list
    cv_in_sample_chi2_per_point: float
    cv_out_of_sample_chi2_per_point: float
    seconds: float

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["params"] = self.best.as_dict()
        d["best"] = self.best.as_dict()
        d["base"] = self.base.as_dict()
        return d


def _best_on_grid(grid_logs: list[np.ndarray], objective: np.ndarray) -> tuple[np.ndarray, str]:
    """Minimum of an objective tabulated on a grid in log10 space: a cubic spline through the finite
    points of a 1-D profile (evaluated on a 0.005 dex mesh), the best grid point in more dimensions.
    Returns (log10 values, how)."""
    obj = np.asarray(objective, float)
    if not np.any(np.isfinite(obj)):
        raise NoSelfConsistentSolution("no grid point gives a model value for every galaxy")
    i = int(np.nanargmin(np.where(np.isfinite(obj), obj, np.nan)))
    if len(grid_logs) != 1:
        idx = np.unravel_index(i, obj.shape)
        return np.array([g[j] for g, j in zip(grid_logs, idx)]), "best grid point"
    x = grid_logs[0]
    # the contiguous finite run around the minimum
    lo = i
    while lo > 0 and np.isfinite(obj[lo - 1]):
        lo -= 1
    hi = i
    while hi < x.size - 1 and np.isfinite(obj[hi + 1]):
        hi += 1
    if hi - lo < 3:
        return np.array([x[i]]), "best grid point"
    from scipy.interpolate import CubicSpline

    cs = CubicSpline(x[lo:hi + 1], obj[lo:hi + 1])
    a, b = x[max(i - 1, lo)], x[min(i + 1, hi)]
    mesh = np.linspace(a, b, int(round((b - a) / 0.005)) + 1)
    return np.array([mesh[np.argmin(cs(mesh))]]), "cubic spline of the grid profile"


def global_fit(sample: Mapping, free: tuple[str, ...] = ("chi0",), grids: Mapping[str, Iterable[float]] | None = None,
               base: Params = Params(), options=None, k_folds: int = 5, seed: int = 0, nuisance: str = "full",
               scheduler=None, n_workers: int = 2, progress: bool = False, runner=None) -> GlobalFit:
    """Fit CMSI's shared parameters ``free`` to all galaxies of ``sample`` at once, with k-fold CV.

    sample: name -> (Galaxy, mask) (``sparc.apply_cuts``) or name -> Galaxy.
    grids: name -> values to tabulate (default: chi0 from 1e1 to 1e9 in 0.25 dex steps, plus chi0 = 0; alpha,
    eps 0.1..1.5; ell0 0.5..50 kpc). The profiled objective sum_g min_nuisance (chi2 + chi2_prior)
    is tabulated through a Dask sweep (``sweep.SweepRunner``), minimised (``_best_on_grid``) and
    re-evaluated exactly at the minimum. A grid point where a galaxy has no model value (e.g. no
    self-consistent solution) counts as infinitely bad: the shared parameters must serve every
    galaxy. Cross-validation: the galaxies are split into ``k_folds`` folds (``kfold_split``); each
    fold's parameters are fitted on the other folds and evaluated on it (k_folds = 0: no CV).
    runner: an open ``sweep.SweepRunner`` to use (else one is started with scheduler, n_workers).
    """
    from . import sparc
    from .sweep import SweepRunner

    t0 = time.perf_counter()
    options = sparc.SparcOptions() if options is None else options
    for f in free:
        if f not in models.CMSI.FREE_BOUNDS:
            raise InputError(f"free = {f!r} is not a CMSI parameter; valid: {list(models.CMSI.FREE_BOUNDS)}")
    default_grids = {"chi0": np.arange(1.0, 9.0001, 0.25), "alpha": np.log10(np.linspace(0.1, 1.5, 8)),
                     "eps": np.log10(np.linspace(0.1, 1.5, 8)), "ell0": np.log10([0.5, 1, 2.2, 5, 10, 20, 50]),
                     "gamma": np.log10(np.linspace(0.5, 3, 6))}
    grid_logs = []
    for f in free:
        if grids and f in grids:
            vals = np.asarray(list(grids[f]), float)
            if np.any(~np.isfinite(vals)) or np.any(vals <= 0):
                raise InputError(f"grid of {f} must hold finite values > 0, got {vals}")
            grid_logs.append(np.sort(np.log10(vals)))
        else:
            grid_logs.append(default_grids.get(f, np.log10(getattr(base, f)) + np.linspace(-1, 1, 9)))
    names = list(sample)
    mesh = np.meshgrid(*grid_logs, indexing="ij")
    sets = [dataclasses.replace(base, **{f: float(10 ** m.flat[i]) for f, m in zip(free, mesh)})
            for i in range(mesh[0].size)]
    folds = kfold_split(names, k_folds, seed) if k_folds else []
    import contextlib

    ctx = contextlib.nullcontext(runner) if runner is not None else SweepRunner(scheduler, n_workers=n_workers,
                                                                                progress=progress)
    with ctx as runner:
        grid = runner.run(sets, sample, options=options, nuisance=nuisance)
        obj = np.where(grid.success, grid.objective, np.inf)  # (n_sets, n_gal)
        shape = mesh[0].shape
        fold_idx = [np.array([names.index(n) for n in fold]) for fold in folds]
        picks = []
        for idx in fold_idx:
            train = np.setdiff1d(np.arange(len(names)), idx)
            picks.append(_best_on_grid(grid_logs, obj[:, train].sum(axis=1).reshape(shape)))
        full_pick = _best_on_grid(grid_logs, obj.sum(axis=1).reshape(shape))
        chosen = [full_pick] + picks
        exact_sets = [dataclasses.replace(base, **{f: float(10 ** v) for f, v in zip(free, p[0])})
                      for p in chosen] + [base, dataclasses.replace(base, chi0=0.0)]
        exact = runner.run(exact_sets, sample, options=options, nuisance=nuisance)
    npts = grid.n_points

    def tot(row, idx=None):
        idx = np.arange(len(names)) if idx is None else idx
        ok = exact.success[row, idx]
        return float(np.sum(exact.chi2[row, idx][ok])), int(np.sum(npts[idx][ok])), int(np.sum(~ok))

    nb = len(exact_sets) - 2  # rows of the exact pass: [full pick, fold picks..., base, Newton (chi0 = 0)]
    newton_row = nb + 1

    def objective(row, idx):
        ok = exact.success[row, idx]
        return float(np.sum(exact.objective[row, idx])) if ok.all() else math.inf

    everyone = np.arange(len(names))
    # chi0 = 0 (Newtonian) is a valid CMSI parameter value that a log grid cannot hold: when it is
    # better than the grid's choice it is taken (``how`` says so).
    full_row = 0
    if "chi0" in free and objective(newton_row, everyone) <= objective(0, everyone):
        full_row = newton_row
    best = exact_sets[full_row]
    how_full = chosen[0][1] if full_row == 0 else "chi0 = 0 (Newtonian) beats every grid point"
    fold_out = []
    for j, idx in enumerate(fold_idx):
        train = np.setdiff1d(everyone, idx)
        row = j + 1
        how = chosen[row][1]
        if "chi0" in free and objective(newton_row, train) <= objective(row, train):
            row, how = newton_row, "chi0 = 0 (Newtonian) beats every grid point"
        c_tr, n_tr, f_tr = tot(row, train)
        c_te, n_te, f_te = tot(row, idx)
        fold_out.append({"test_galaxies": [names[i] for i in idx],
                         "params": {f: getattr(exact_sets[row], f) for f in free}, "how": how,
                         "in_sample_chi2_per_point": c_tr / max(n_tr, 1), "n_train_points": n_tr,
                         "n_train_failed": f_tr,
                         "out_of_sample_chi2_per_point": c_te / max(n_te, 1), "n_test_points": n_te,
                         "n_test_failed": f_te})
    chi2_best, _, _ = tot(full_row)
    per_gal = {n: float(exact.chi2[full_row, i]) for i, n in enumerate(names)}
    fail_best = {names[i]: exact.reason[full_row][i] for i in everyone if not exact.success[full_row, i]}
    chi2_base, _, _ = tot(nb)
    chi2_newton, _, _ = tot(newton_row)
    fail_base = {names[i]: exact.reason[nb][i] for i in everyone if not exact.success[nb, i]}
    edges = {f: ("lower" if np.isclose(v, g[0]) else "upper" if np.isclose(v, g[-1]) else "")
             for f, v, g in zip(free, chosen[0][0], grid_logs)}
    all_test = sum(f["out_of_sample_chi2_per_point"] * f["n_test_points"] for f in fold_out)
    n_test = sum(f["n_test_points"] for f in fold_out)
    profile = {"free": list(free), "log10_grid": [g.tolist() for g in grid_logs],
               "objective": obj.sum(axis=1).reshape(shape).tolist(),
               "chi2": np.where(grid.success, grid.chi2, np.nan).sum(axis=1).reshape(shape).tolist(),
               "n_failed": (~grid.success).sum(axis=1).reshape(shape).tolist(),
               "how": how_full, "grid_pick_at_edge": edges}
    return GlobalFit(
        free=tuple(free), base=base, options=options.as_dict(), galaxies=names, n_points=int(npts.sum()),
        best=best, chi2_best=chi2_best, chi2_base=chi2_base, chi2_newton=chi2_newton,
        per_galaxy_best=per_gal, failures_best=fail_best, failures_base=fail_base, profile=profile,
        folds=fold_out,
        cv_in_sample_chi2_per_point=float(np.mean([f["in_sample_chi2_per_point"] for f in fold_out]))
        if fold_out else math.nan,
        cv_out_of_sample_chi2_per_point=all_test / n_test if n_test else math.nan,
        seconds=time.perf_counter() - t0)


# --------------------------------------------------------------------------- the survey (all models, written to results/)
#: the per-galaxy model rows of the survey: the models of ``models.MODEL_NAMES`` ("cmsi" at the given
#: parameters) plus "cmsi_global", CMSI at the best global fit
SURVEY_MODELS = ("newton", "rar", "rar_free", "nfw", "burkert", "cmsi", "cmsi_global", "cmsi_chi0")
#: the modelling options varied one at a time around the baseline (the global fit is redone for each)
SURVEY_VARIANTS = (("vc_mode", "self-consistent"), ("vc_mode", "observed"),
                   ("sigma_v_model", "stellar-disk"), ("sigma_definition", "stellar+gas"))


def survey_dir():
    from . import paths

    return paths.results_dir() / "survey"


def _table_text(rows: list[dict]) -> str:
    """rows -> ECSV text (astropy), columns in first-seen order, missing values NaN/""."""
    import io

    from astropy.table import Table

    cols: list[str] = []
    for r in rows:
        cols.extend(k for k in r if k not in cols)
    data = {}
    for c in cols:
        vals = [r.get(c) for r in rows]
        if any(isinstance(v, str) for v in vals):
            data[c] = ["" if v is None else str(v) for v in vals]
        elif all(isinstance(v, (bool, np.bool_)) or v is None for v in vals):
            data[c] = [bool(v) for v in vals]
        else:
            data[c] = [math.nan if v is None else float(v) for v in vals]
    buf = io.StringIO()
    Table(data, names=cols).write(buf, format="ascii.ecsv")
    return buf.getvalue()


def run_survey(params: Params = Params(), options=None, cuts=None, models_to_fit=SURVEY_MODELS,
               free: tuple[str, ...] = ("chi0",), k_folds: int = 5, seed: int = 0, variants: bool = True,
               scheduler=None, n_workers: int = 2, progress: bool = False, write: bool = True) -> dict:
    """The SPARC survey: every model fitted to every galaxy of the sample, the global CMSI fit with
    k-fold CV, and the global fit redone for each option in ``SURVEY_VARIANTS``.

    params: the CMSI parameters "as they stand" (default: the seed's) and the base of the global
    fit; options: the baseline ``sparc.SparcOptions``; cuts: ``sparc.QualityCuts`` (default the
    standard RAR cuts). With ``write`` the results go to results/survey/ (atomically):
    global_fit.json (``results.survey_global_fit_file``), fits.ecsv (one row per galaxy and model),
    points.ecsv (per point: data and every model's speed at its best fit) and summary.json.
    Returns the summary (also what ``cmsi survey --json`` prints).
    """
    import json
    import os
    import platform

    from . import results, sparc
    from .sweep import SweepRunner

    t_start = time.perf_counter()
    options = sparc.SparcOptions() if options is None else options
    cuts = sparc.QualityCuts() if cuts is None else cuts
    unknown = [m for m in models_to_fit if m not in SURVEY_MODELS]
    if unknown:
        raise InputError(f"unknown survey model(s) {unknown}; valid: {SURVEY_MODELS}")
    sample, counts = sparc.apply_cuts(sparc.load_galaxies(), cuts)
    timings = {}
    with SweepRunner(scheduler, n_workers=n_workers, progress=progress) as runner:
        t = time.perf_counter()
        gfit = global_fit(sample, free=free, base=params, options=options, k_folds=k_folds, seed=seed,
                          runner=runner)
        timings["global_fit_cv_s"] = time.perf_counter() - t
        variant_out = []
        if variants:
            for key, value in SURVEY_VARIANTS:
                if getattr(options, key) == value:
                    continue
                opt = dataclasses.replace(options, **{key: value})
                t = time.perf_counter()
                grids = {"chi0": 10 ** np.arange(1.0, 9.0001, 0.5)} if "chi0" in free else None
                try:
                    v = global_fit(sample, free=free, grids=grids, base=params, options=opt, k_folds=0,
                                   runner=runner)
                except NoSelfConsistentSolution as exc:
                    variant_out.append({"option": key, "value": value, "error": str(exc)})
                    continue
                variant_out.append({"option": key, "value": value,
                                    "best": {f: getattr(v.best, f) for f in free}, "how": v.profile["how"],
                                    "chi2_per_point_best": v.chi2_best / v.n_points,
                                    "chi2_per_point_base": v.chi2_base / v.n_points,
                                    "chi2_per_point_newton": v.chi2_newton / v.n_points,
                                    "n_failed_best": len(v.failures_best), "n_failed_base": len(v.failures_base),
                                    "failures_base": v.failures_base,
                                    "profile": v.profile, "seconds": time.perf_counter() - t})
        timings["variants_s"] = time.perf_counter() - t_start - timings["global_fit_cv_s"]
    # per-galaxy fits of every model
    fits: dict[str, list[FitResult]] = {}
    t = time.perf_counter()
    for label in models_to_fit:
        if label == "cmsi_global":
            model = models.get_model("cmsi", params=gfit.best, options=options)
        elif label.startswith("cmsi"):
            model = models.get_model(label, params=params, options=options)
        else:
            model = models.get_model(label)
        rs = fit_sample(sample, model)
        for r in rs:
            r.model = label
        fits[label] = rs
    timings["per_galaxy_fits_s"] = time.perf_counter() - t
    # anchor: the RAR with the nuisance parameters held at SPARC's values (no fit at all)
    rar_fixed = summarize(fit_sample(sample, "rar", nuisance="none"))
    per_model = [dict(summarize(rs), model=label) for label, rs in fits.items()]
    summary = {
        "cuts": dataclasses.asdict(cuts), "counts": counts.as_dict(),
        "n_galaxies": len(sample), "n_points": int(sum(int(m.sum()) for _g, m in sample.values())),
        "params": params.as_dict(), "options": options.as_dict(),
        "models": per_model,
        "rar_fixed_nuisance": rar_fixed,
        "global_fit": {"params": gfit.best.as_dict(), "free": list(free), "how": gfit.profile["how"],
                       "chi2_per_point_best": gfit.chi2_best / gfit.n_points,
                       "chi2_per_point_base": gfit.chi2_base / gfit.n_points,
                       "chi2_per_point_newton": gfit.chi2_newton / gfit.n_points,
                       "cv_in_sample_chi2_per_point": gfit.cv_in_sample_chi2_per_point,
                       "cv_out_of_sample_chi2_per_point": gfit.cv_out_of_sample_chi2_per_point,
                       "k_folds": k_folds, "seed": seed},
        "variants": variant_out,
        "timings_s": timings | {"total_s": time.perf_counter() - t_start},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "workers": n_workers},
    }
    if write:
        out = survey_dir()
        gdict = gfit.as_dict()
        gdict["summary"] = summary["global_fit"]
        results.atomic_write_text(results.survey_global_fit_file(), json.dumps(gdict, indent=1, default=_jd))
        rows = [r.row() for rs in fits.values() for r in rs]
        results.atomic_write_text(out / "fits.ecsv", _table_text(rows))
        pts = []
        for label, rs in fits.items():
            for r in rs:
                if r.v_model is None:
                    continue
                for i in range(r.R.size):
                    pts.append({"model": label, "galaxy": r.galaxy, "fitted": bool(r.mask[i]),
                                "success": bool(r.success), "R": r.R[i], "v_obs": r.v_obs[i],
                                "e_v_obs": r.e_v_obs[i], "v_bar": r.v_bar[i], "v_model": r.v_model[i]})
        results.atomic_write_text(out / "points.ecsv", _table_text(pts))
        results.atomic_write_text(out / "summary.json", json.dumps(summary, indent=1, default=_jd))
    return summary


def _jd(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Params):
        return o.as_dict()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def load_survey() -> dict | None:
    """The survey's results as written by ``run_survey`` (``cmsi survey``), or None if absent:
    {"summary": dict, "global_fit": dict, "fits": astropy Table, "points": astropy Table}."""
    import json

    from astropy.table import Table

    from . import results

    d = survey_dir()
    files = {"summary": d / "summary.json", "global_fit": results.survey_global_fit_file(),
             "fits": d / "fits.ecsv", "points": d / "points.ecsv"}
    if not all(f.exists() for f in files.values()):
        return None
    return {"summary": json.loads(files["summary"].read_text()),
            "global_fit": json.loads(files["global_fit"].read_text()),
            "fits": Table.read(files["fits"], format="ascii.ecsv"),
            "points": Table.read(files["points"], format="ascii.ecsv")}
