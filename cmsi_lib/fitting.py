"""Fitting rotation-curve models to SPARC galaxies: nuisance priors, per-galaxy maximum-posterior
fits, posterior sampling (emcee). (The global CMSI fit: ``globalfit``; the survey: ``survey``.)

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
from collections.abc import Iterable, Mapping

import numpy as np
from scipy import optimize

from . import models
from .curves import signed_sqrt, v_bar2
from .kernel import InputError, NoSelfConsistentSolution
from .models import Model, Observables
from .params import Params

__all__ = [
    "UPS_DISK_PRIOR",
    "UPS_BUL_PRIOR",
    "NUISANCE_MODES",
    "ACCEPTABLE_P_VALUE",
    "GRID_STARTS",
    "FitResult",
    "fit_galaxy",
    "fit_sample",
    "summarize",
    "sample_posterior",
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
#: extra starting values (physical units) of a model parameter, tried besides ``Model.initial``; the
#: fit keeps the lowest objective. chi0's objective has several minima over its 13 dex (a Newtonian
#: plateau where F - 1 is negligible, a dip near the seed's value, the deepest often at 1e10-1e12),
#: so one start can stop in the wrong one: one start every 3 dex.
GRID_STARTS = {"chi0": (1e3, 1e6, 1e9, 1e12)}

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
        out = {
            k: getattr(self, k)
            for k in (
                "galaxy",
                "model",
                "success",
                "reason",
                "n_points",
                "k_model",
                "k_free",
                "chi2",
                "chi2_prior",
                "chi2_red",
                "aic",
                "bic",
                "nfev",
            )
        }
        out["p_value"] = self.p_value
        out.update({f"best_{k}": v for k, v in self.best.items()})
        out["at_bound"] = ",".join(k for k, v in self.at_bound.items() if v)
        return out

    _ARRAYS = ("R", "v_obs", "e_v_obs", "v_bar", "v_model", "mask")

    def record(self) -> dict:
        """The whole result as plain JSON-able data (arrays as lists; non-finite numbers as None):
        what the survey stores per galaxy and an atlas page reads back (:meth:`from_record`)."""

        def plain(v):
            v = v.item() if hasattr(v, "item") else v
            return None if isinstance(v, float) and not math.isfinite(v) else v

        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in self._ARRAYS}
        out = {
            k: ({kk: plain(vv) for kk, vv in v.items()} if isinstance(v, dict) else plain(v)) for k, v in out.items()
        }
        for k in self._ARRAYS:
            a = getattr(self, k)
            out[k] = None if a is None else [plain(x) for x in np.asarray(a).tolist()]
        return out

    @classmethod
    def from_record(cls, rec: Mapping) -> FitResult:
        """The inverse of :meth:`record` (None -> NaN in numbers and arrays)."""
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in rec.items() if k in names}
        for k in ("chi2", "chi2_prior", "chi2_red", "aic", "bic", "seconds"):
            kw[k] = math.nan if kw.get(k) is None else float(kw[k])
        kw["best"] = {k: math.nan if v is None else v for k, v in kw.get("best", {}).items()}
        for k in cls._ARRAYS:
            if kw.get(k) is not None:
                kw[k] = np.array(kw[k], dtype=bool if k == "mask" else float)
        return cls(**kw)


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
    bound: models.BoundModel  # the model on the fitted points
    logs: list  # which free parameters are in log10

    def unpack(self, x):
        d = dict(self.fixed)
        for name, v, lg in zip(self.names, x, self.logs, strict=False):
            d[name] = 10.0**v if lg else v
        return d

    def observables(self, d, mask=None) -> Observables:
        g = self.galaxy
        m = self.mask if mask is None else mask
        s = d["D"] / g.D
        k = math.sin(math.radians(g.inc)) / math.sin(math.radians(d["inc"]))
        vb2 = s * v_bar2(g.v_gas[m], g.v_disk[m], g.v_bul[m], d["ups_disk"], d["ups_bul"])
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
        vm = self.bound.speed(obs, self.theta(d), (d["ups_disk"], d["ups_bul"]))
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
        for name, (med, dex), present in (
            ("ups_disk", UPS_DISK_PRIOR, bool(np.any(g.v_disk != 0))),
            ("ups_bul", UPS_BUL_PRIOR, bool(np.any(g.v_bul != 0))),
        ):
            if present:
                lm = math.log10(med)
                add(name, lm, lm - k * dex, lm + k * dex, True)
    if nuisance == "full":
        if g.e_D > 0:
            add("D", g.D, max(g.D - k * g.e_D, 0.1 * g.D), g.D + k * g.e_D, False)
        if g.e_inc > 0:
            add("inc", g.inc, max(g.inc - k * g.e_inc, 1.0), min(g.inc + k * g.e_inc, 90.0), False)
    bound = model.bind(g, mask)
    prob = _Problem(
        model, g, mask, names, np.array(x0, float), np.array(lb, float), np.array(ub, float), fixed, bound, logs
    )
    # the model's own parameters
    d0 = prob.unpack(prob.x0)
    theta0 = model.initial(prob.observables(d0), g)
    for s, v in zip(model.specs, theta0, strict=False):
        if s.log:
            add(s.name, math.log10(v), math.log10(s.lo), math.log10(s.hi), True)
        else:
            add(s.name, v, s.lo, s.hi, False)
    prob.x0, prob.lb, prob.ub = np.array(x0, float), np.array(lb, float), np.array(ub, float)
    return prob


def fit_galaxy(
    galaxy,
    model_name: str | Model,
    params: Params = Params(),
    *,
    mask=None,
    nuisance: str = "full",
    options=None,
    min_dof: int = 1,
    x_scale="jac",
    max_nfev: int | None = None,
    starts: Mapping[str, Iterable[float]] | None = None,
) -> FitResult:
    """Maximum-posterior fit of one galaxy with one model.

    galaxy: a ``sparc.Galaxy``; model_name: a name in ``models.MODEL_NAMES`` or a ``Model``;
    params: the CMSI parameters (used by the CMSI models only); options: a ``options.SparcOptions``
    for the CMSI models; mask: boolean array of the points to fit (default all);
    nuisance: "full" (Ups, D, Inc free with priors), "ups" or "none" (SPARC's values held fixed).
    A galaxy with fewer than k_model + min_dof points is skipped (``success`` False, with the reason);
    a failed optimisation or a model without a value (e.g. no self-consistent solution) is reported
    in ``reason``, never raised.
    starts: extra starting values of the model's parameters (name -> values in physical units;
    default ``GRID_STARTS``, {} for the model's own start only). Each is a separate optimisation
    from the same nuisance start, and the lowest objective (chi2 + chi2_prior) is kept.
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
        best, error, res.nfev = _best_of_starts(prob, GRID_STARTS if starts is None else starts, x_scale, max_nfev)
        if best is None:
            res.reason = f"optimiser error: {error}"
            return res
        x = best.x
        if best.status <= 0:
            res.reason = f"did not converge: {best.message}"
    d = prob.unpack(x)
    try:
        r = prob.data_residuals(d)
    except NoSelfConsistentSolution as exc:
        res.reason = res.reason or f"no model value at the best point: {exc}"
        r = None
    if r is not None and not np.all(np.isfinite(r)):
        res.reason = res.reason or "the model is not finite at the best point"
    width = prob.ub - prob.lb
    res.at_bound = {
        nm: bool(min(xi - lo, hi - xi) <= 1e-6 * w)
        for nm, xi, lo, hi, w in zip(prob.names, x, prob.lb, prob.ub, width, strict=False)
    }
    res.best = {k: float(d[k]) for k in ("ups_disk", "ups_bul", "D", "inc")}
    res.best.update({s.name: float(d[s.name]) for s in model.specs})
    full = np.ones(galaxy.R.size, bool)
    obs = prob.observables(d, full)
    res.R, res.v_obs, res.e_v_obs, res.v_bar = obs.R, obs.v_obs, obs.e_v_obs, signed_sqrt(obs.v_bar2)
    try:
        res.v_model = model.bind(galaxy).speed(obs, prob.theta(d), (d["ups_disk"], d["ups_bul"]))
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


def _best_of_starts(prob: _Problem, starts, x_scale, max_nfev):
    """``least_squares`` from each of ``_start_points(prob, starts)``: (the best solution, or None if
    every start raised; the first exception; the total number of function evaluations). A converged
    optimum beats one that did not converge; among those, the lower objective wins."""
    best, error, nfev = None, None, 0
    for x_start in _start_points(prob, starts):
        try:
            sol = optimize.least_squares(
                prob.residuals,
                x_start,
                bounds=(prob.lb, prob.ub),
                method="trf",
                x_scale=x_scale,
                max_nfev=max_nfev or 200 * (len(prob.names) + 1),
            )
        except (ValueError, FloatingPointError) as exc:
            error = error or exc
            continue
        nfev += int(sol.nfev)
        if best is None or (sol.status > 0, -sol.cost) > (best.status > 0, -best.cost):
            best = sol
    return best, error, nfev


def _start_points(prob: _Problem, starts: Mapping[str, Iterable[float]]) -> list[np.ndarray]:
    """The fit's starting points in its own space: ``prob.x0`` first, then ``prob.x0`` with one
    model parameter replaced by each value of ``starts[name]`` that lies inside its bounds."""
    points = [prob.x0]
    for name, values in starts.items():
        if name not in {s.name for s in prob.model.specs}:  # e.g. chi0 for a model without it
            continue
        i = prob.names.index(name)
        for v in values:
            if not (math.isfinite(v) and (v > 0 or not prob.logs[i])):
                raise InputError(
                    f"starts[{name!r}] has {v!r}; starting values must be finite"
                    + (" and positive (the fit is in log10)" if prob.logs[i] else "")
                )
            xi = math.log10(v) if prob.logs[i] else float(v)
            if prob.lb[i] < xi < prob.ub[i] and not math.isclose(xi, prob.x0[i]):
                x = prob.x0.copy()
                x[i] = xi
                points.append(x)
    return points


def _model(model_name: str | Model, params: Params, options) -> Model:
    """A Model from a name (the CMSI models take params and options) or the Model itself."""
    if isinstance(model_name, Model):
        return model_name
    if str(model_name).startswith("cmsi"):
        return models.get_model(model_name, params=params, options=options)
    return models.get_model(model_name)


def fit_sample(
    sample: Mapping, model_name: str | Model, params: Params = Params(), options=None, **kw
) -> list[FitResult]:
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
def sample_posterior(
    galaxy,
    model_name: str | Model,
    params: Params = Params(),
    *,
    mask=None,
    nuisance: str = "full",
    options=None,
    nwalkers: int = 32,
    nsteps: int = 2000,
    seed: int = 0,
    progress: bool = False,
) -> dict:
    """Sample the posterior of one galaxy's fit with emcee (flat priors within the bounds on the
    model's parameters in log10, the nuisance priors as in ``fit_galaxy``).

    Returns {"names": [...], "log10": [...] (which columns are log10 of the parameter),
    "chain": array (nsteps, nwalkers, n_params) in fit space, "acceptance": mean acceptance,
    "start": the maximum-posterior FitResult}.
    """
    import emcee  # imported here: an optional dependency, needed only for sampling

    model = _model(model_name, params, options)
    best = fit_galaxy(galaxy, model, params, mask=mask, nuisance=nuisance)
    if not best.success:
        raise InputError(f"cannot sample {galaxy.name} with {model.name}: the fit failed ({best.reason})")
    mask = best.mask
    prob = _problem(galaxy, model, mask, nuisance)
    x_best = np.array(
        [math.log10(best.best[nm]) if lg else best.best[nm] for nm, lg in zip(prob.names, prob.logs, strict=False)]
    )

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
    return {
        "names": list(prob.names),
        "log10": list(prob.logs),
        "chain": sampler.get_chain(),
        "acceptance": float(np.mean(sampler.acceptance_fraction)),
        "start": best,
    }
