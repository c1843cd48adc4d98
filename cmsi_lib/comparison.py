"""A fair comparison of the SPARC survey's models on one sample (issue 13, items 6 and 7).

Everything here starts from the survey's per-galaxy fits (results/survey/, read through
``results.load_survey``); nothing the survey fitted is refitted. What is new: the per-galaxy
chi0 profile (``chi0_profiles``, a cached stage) needed for a log-normal prior on chi0.

Definitions (the chapter chapters/sparc/comparison.md states them too):

* Common sample (``common_sample``): the galaxies that every compared model fitted successfully,
  with the same number of points for every model. The others are listed with the reasons.
* Information criteria of galaxy g and model m (``aic_bic``), as in ``fitting.fit_galaxy``:

      AIC = chi2 + chi2_prior + 2 k,      BIC = chi2 + chi2_prior + k ln n

  chi2 over the galaxy's n rotation-curve points, chi2_prior the nuisance priors' penalty (Li et
  al. 2018; -2 ln of the prior densities up to a constant), k = the model's own free parameters
  plus the galaxy's free nuisance parameters (Ups_disk, Ups_bul if it has a bulge, D if e_D > 0,
  Inc if e_Inc > 0): the survey's ``k_free``. They are recomputed here from the stored columns
  (and the largest difference from the stored AIC/BIC is reported). delta-AIC/BIC are taken
  against a reference: ``"best"`` (the lowest value of the compared models, per galaxy) or a
  model name (e.g. ``"newton"``).
* Joint MAPs (``joint_totals``; the "joint_fit" stage, ``joint_survey``): CMSI's identifiable globals
  (log10_A, gamma_alpha, ell0, eps) fitted with every galaxy's nuisance parameters under the same priors
  with no box, and Newton through the same machinery, are totalled over the common sample's galaxies from
  the stage's per-galaxy chi2 and chi2_prior, after checking that its points are the survey's there
  (``joint_points_check``). k: the galaxies' free nuisance parameters, plus CMSI's free globals counted
  once; BIC: k_g ln n_g per galaxy for its own, n_globals ln N for the globals (N: the common sample's
  points). Totals only: the shared globals' penalty and their fit belong to the whole sample, not to a
  galaxy, so a per-galaxy delta-AIC of a joint fit is not defined. The globals were fitted on the joint
  fit's whole sample (after the standard cuts), which is larger than the common sample.
* Per-galaxy chi0: the survey's ``cmsi_chi0`` fits log10 chi0 between the bounds
  ``models.CMSI.FREE_BOUNDS["chi0"]`` = [1, 1e13] with no prior term: a flat prior in log10 chi0.
  The log-normal prior adds ((log10 chi0 - mu)/sigma)^2 to the objective chi2 + chi2_prior
  (``lognormal_map``); sigma -> infinity gives back the flat prior. It is applied to the profile
  P_g(x) = min over the nuisance parameters of (chi2 + chi2_prior) at x = log10 chi0 fixed,
  tabulated on a grid (``chi0_profiles``), so the minimum over (x, nuisance) of the penalised
  objective is exactly min_x [P_g(x) + penalty(x)] up to the grid's interpolation.
  mu and sigma are either fixed (stated values) or fitted across galaxies (``hierarchical_lognormal``:
  the type-II maximum likelihood of prod_g int exp(-P_g(x)/2) N(x; mu, sigma) dx, the nuisance
  parameters profiled rather than marginalised; below the grid P_g is Newtonian, i.e. constant).
* Gas fraction f_gas = 1.33 M_HI / M_bar, M_bar = 0.5 L_disk + 0.7 L_bul + 1.33 M_HI
  (``baryonic_mass``; L_bul from the bulge's speed at the last radius, see ``bulge_luminosity``).
* Flat speed (``flat_points``): the outermost points of the observed curve that agree within 5%
  with their mean, at least 3 (our reading of Lelli et al. 2016's V_flat); a model's V_f is the
  mean of its best-fit curve at those points (``btf_data``).
* BTF fit (``fit_line``): log10 M_b = s log10 V_f + b by maximum likelihood with errors on both
  axes and a vertical intrinsic scatter sigma_int (the orthogonal scatter is
  sigma_int / sqrt(1 + s^2)); errors from the inverse Hessian of -ln L.

Units: speeds km/s, masses Msun, accelerations m/s^2, surface densities Msun/pc^2, radii kpc.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import math
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import optimize, stats
from scipy.interpolate import Akima1DInterpolator
from scipy.special import log_ndtr, logsumexp

from . import fitting, models, sparc, stages
from .errors import InputError
from .options import SparcOptions
from .params import Params
from .sweep import SweepRunner
from .units import ACCEL_SI_PER_KMS2_KPC, G_KPC_KMS2_MSUN

__all__ = [
    "COMPARED_MODELS",
    "CHI0_LOG10_GRID",
    "CommonSample",
    "common_sample",
    "aic_bic",
    "criteria",
    "deltas",
    "preferences",
    "totals",
    "joint_points_check",
    "joint_totals",
    "joint_verdict",
    "chi0_profiles",
    "chi0_profiles_stage",
    "survey_sample",
    "refit_at_chi0",
    "lognormal_map",
    "lognormal_marginal",
    "hierarchical_lognormal",
    "rank_trend",
    "bulge_luminosity",
    "baryonic_mass",
    "gas_fraction",
    "flat_points",
    "LineFit",
    "fit_line",
    "PointIndex",
    "btf_data",
    "rar_residuals",
    "binned_stats",
]

#: the survey's per-galaxy models compared here (``survey.SURVEY_MODELS``)
COMPARED_MODELS = ("newton", "rar", "rar_free", "nfw", "burkert", "cmsi", "cmsi_global", "cmsi_chi0")
#: log10 chi0 grid of the per-galaxy profiles: the fit's bounds [1, 1e13] in 0.25 dex steps
CHI0_LOG10_GRID = tuple(float(x) for x in np.round(np.arange(0.0, 13.0001, 0.25), 10))
#: relative tolerance of a "flat" outer rotation curve (Lelli et al. 2016: 5%)
FLAT_TOLERANCE = 0.05


# --------------------------------------------------------------------------- the common sample
@dataclasses.dataclass(frozen=True)
class CommonSample:
    """The galaxies every compared model fitted successfully (``galaxies``, survey order), their
    number of points ``n_points`` (the same for every model), and ``excluded``: galaxy -> reason."""

    models: tuple[str, ...]
    galaxies: tuple[str, ...]
    n_points: dict
    excluded: dict

    @property
    def total_points(self) -> int:
        return int(sum(self.n_points[g] for g in self.galaxies))


def _rows_by_model(fits) -> dict[str, dict[str, Mapping]]:
    out: dict[str, dict[str, Mapping]] = {}
    for r in fits:
        out.setdefault(str(r["model"]), {})[str(r["galaxy"])] = r
    return out


def _check_models(by_model: Mapping, models_: Sequence[str]) -> None:
    missing = [m for m in models_ if m not in by_model]
    if missing or not models_:
        raise InputError(f"models {list(missing) or '(none)'} not in the survey's fits; valid: {sorted(by_model)}")


def common_sample(fits, models_: Sequence[str] = COMPARED_MODELS) -> CommonSample:
    """The common sample of ``models_`` from the survey's fits table (one row per galaxy and model,
    ``FitResult.row``). A galaxy is excluded when a model has no row for it, did not fit it
    (``success`` False: the fit's reason is given), or fitted a different number of points."""
    by_model = _rows_by_model(fits)
    _check_models(by_model, models_)
    names = list(dict.fromkeys(str(g) for g in fits["galaxy"]))
    kept, npts, excluded = [], {}, {}
    for g in names:
        why = []
        for m in models_:
            r = by_model[m].get(g)
            if r is None:
                why.append(f"{m}: no fit")
            elif not bool(r["success"]):
                why.append(f"{m}: {r['reason']}")
        if not why:
            n = {int(by_model[m][g]["n_points"]) for m in models_}
            if len(n) > 1:
                why.append(f"different numbers of points {sorted(n)}")
        if why:
            excluded[g] = "; ".join(why)
        else:
            kept.append(g)
            npts[g] = int(by_model[models_[0]][g]["n_points"])
    return CommonSample(tuple(models_), tuple(kept), npts, excluded)


# --------------------------------------------------------------------------- AIC and BIC
def aic_bic(chi2, chi2_prior, k, n):
    """(AIC, BIC) = (chi2 + chi2_prior + 2 k, chi2 + chi2_prior + k ln n) (arrays broadcast).

    chi2: the data's chi^2 over n points; chi2_prior: the priors' penalty; k: free parameters
    (model's own + nuisance); n >= 1 points."""
    chi2, chi2_prior, k, n = (np.asarray(a, float) for a in (chi2, chi2_prior, k, n))
    if np.any(n < 1):
        raise InputError(f"aic_bic: n (points) must be >= 1, got {n[n < 1][:3]}")
    obj = chi2 + chi2_prior
    return obj + 2.0 * k, obj + k * np.log(n)


def criteria(fits, common: CommonSample) -> dict:
    """Per-galaxy criteria on the common sample: arrays of shape (models, galaxies) for chi2,
    chi2_prior, k (k_free), aic, bic (recomputed by ``aic_bic``), n (galaxies,), and the largest
    |difference| from the survey's stored aic/bic (``stored_max_diff``)."""
    by_model = _rows_by_model(fits)
    _check_models(by_model, common.models)
    cols = {
        c: np.array([[float(by_model[m][g][c]) for g in common.galaxies] for m in common.models])
        for c in ("chi2", "chi2_prior", "k_free", "aic", "bic", "n_points")
    }
    n = np.array([common.n_points[g] for g in common.galaxies], float)
    if not np.all(cols["n_points"] == n):
        raise InputError("the fits table's n_points differ between models on the common sample")
    aic, bic = aic_bic(cols["chi2"], cols["chi2_prior"], cols["k_free"], n)
    diff = max(float(np.max(np.abs(aic - cols["aic"]))), float(np.max(np.abs(bic - cols["bic"]))))
    return {
        "models": list(common.models),
        "galaxies": list(common.galaxies),
        "n": n,
        "chi2": cols["chi2"],
        "chi2_prior": cols["chi2_prior"],
        "k": cols["k_free"],
        "aic": aic,
        "bic": bic,
        "stored_max_diff": diff,
    }


def deltas(values, models_: Sequence[str], reference: str = "best") -> np.ndarray:
    """values (models, galaxies) minus the reference row: ``"best"`` (per-galaxy minimum over
    the models) or one of ``models_``."""
    values = np.asarray(values, float)
    if reference == "best":
        return values - values.min(axis=0)
    if reference not in models_:
        raise InputError(f"reference = {reference!r}; valid: 'best' or one of {list(models_)}")
    return values - values[list(models_).index(reference)]


def preferences(values, models_: Sequence[str], tol: float = 1e-6) -> dict:
    """Which model each galaxy prefers (lowest value of ``values`` (models, galaxies)).

    Returns {model: {"n_best": galaxies where it is within ``tol`` of the lowest (ties count for
    each), "n_sole": galaxies where it alone is lowest}, "n_ties": galaxies with a tie}."""
    values = np.asarray(values, float)
    best = values <= values.min(axis=0) + tol
    sole = best & (best.sum(axis=0) == 1)
    out = {m: {"n_best": int(best[i].sum()), "n_sole": int(sole[i].sum())} for i, m in enumerate(models_)}
    out["n_ties"] = int(np.sum(best.sum(axis=0) > 1))
    return out


def totals(crit: Mapping, extra: Sequence[Mapping] = ()) -> list[dict]:
    """Per model on the common sample: galaxies, points, total chi2, chi2_prior, k, AIC, BIC, and
    the totals' differences from the lowest total (delta_aic_total, delta_bic_total). ``extra``: further
    rows with the same keys but the deltas (e.g. ``joint_totals``'s, on the same points), appended after
    the models' and taken into the lowest totals."""
    aic, bic = crit["aic"].sum(axis=1), crit["bic"].sum(axis=1)
    rows = [
        {
            "model": m,
            "n_galaxies": len(crit["galaxies"]),
            "n_points": int(crit["n"].sum()),
            "chi2_total": float(crit["chi2"][i].sum()),
            "chi2_prior_total": float(crit["chi2_prior"][i].sum()),
            "k_total": int(crit["k"][i].sum()),
            "aic_total": float(aic[i]),
            "bic_total": float(bic[i]),
        }
        for i, m in enumerate(crit["models"])
    ]
    for r in extra:
        if (r["n_galaxies"], r["n_points"]) != (len(crit["galaxies"]), int(crit["n"].sum())):
            raise InputError(f"totals: row {r['model']!r} is not on the common sample's galaxies and points")
        rows.append(dict(r))
    lo_aic, lo_bic = min(r["aic_total"] for r in rows), min(r["bic_total"] for r in rows)
    for r in rows:
        r["delta_aic_total"], r["delta_bic_total"] = r["aic_total"] - lo_aic, r["bic_total"] - lo_bic
    return rows


# --------------------------------------------------------------------------- the joint MAPs on the common sample
def joint_points_check(table: Mapping, common: CommonSample, radii: Mapping | None = None,
                       n_nuisance: Mapping | None = None) -> dict:  # fmt: skip
    """Are a joint MAP's points those of the survey on the common sample? ``table``: the joint fit's
    per-galaxy columns (``joint_survey.per_galaxy``: galaxy, n_points, n_nuisance, optionally R_kpc).
    For every galaxy of ``common``: it is in the table, with ``common.n_points`` points; with ``radii``
    (galaxy -> the survey's fitted radii at SPARC's distance [kpc]) and the table's R_kpc, the radii are
    equal; with ``n_nuisance`` (galaxy -> the survey's free nuisance count) the counts are equal.
    Raises InputError naming every galaxy that differs; returns {"n_galaxies", "n_points" (the common
    sample's), "n_joint_galaxies", "n_joint_points" (the joint fit's), "radii_checked"}."""
    at = {str(g): i for i, g in enumerate(table["galaxy"])}
    check_r = radii is not None and "R_kpc" in table
    bad = []
    for g in common.galaxies:
        i = at.get(g)
        if i is None:
            bad.append(f"{g}: not in the joint fit")
            continue
        n = int(table["n_points"][i])
        if n != common.n_points[g]:
            bad.append(f"{g}: {n} points in the joint fit, {common.n_points[g]} in the survey")
        elif check_r and not np.array_equal(np.asarray(table["R_kpc"][i], float), np.asarray(radii[g], float)):
            bad.append(f"{g}: the same number of points at different radii")
        if n_nuisance is not None and int(table["n_nuisance"][i]) != int(n_nuisance[g]):
            bad.append(f"{g}: {table['n_nuisance'][i]} free nuisance parameters in the joint fit, {n_nuisance[g]} "
                       "in the survey")  # fmt: skip
    if bad:
        raise InputError("the joint fit's points differ from the survey's on the common sample: " + "; ".join(bad))
    return {"n_galaxies": len(common.galaxies), "n_points": common.total_points,
            "n_joint_galaxies": len(at), "n_joint_points": int(sum(int(n) for n in table["n_points"])),
            "radii_checked": bool(check_r)}  # fmt: skip


def joint_totals(table: Mapping, common: CommonSample, model: str, n_globals: int = 0) -> dict:
    """A joint MAP's totals on the common sample, as a ``totals`` row (without the deltas), from its
    per-galaxy columns ``table`` (``joint_survey.per_galaxy``; points checked by ``joint_points_check``).
    Sums over the common sample's galaxies only; ``n_globals``: the free global parameters the galaxies
    share (0 for Newton), counted once. With k_g the galaxy's free nuisance parameters, n_g its points
    and N = sum n_g:

        k   = sum k_g + n_globals
        AIC = chi2 + chi2_prior + 2 k
        BIC = chi2 + chi2_prior + sum k_g ln n_g + n_globals ln N

    i.e. ``aic_bic`` galaxy by galaxy for each galaxy's own parameters (the survey rows' definition), and
    the shared globals once, with the ln of the number of points that inform them."""
    if not (isinstance(n_globals, int) and n_globals >= 0):
        raise InputError(f"n_globals = {n_globals!r}: must be an integer >= 0")
    if not common.galaxies:
        raise InputError("joint_totals: the common sample has no galaxy")
    joint_points_check(table, common)
    at = {str(g): i for i, g in enumerate(table["galaxy"])}
    idx = [at[g] for g in common.galaxies]
    chi2, chi2p = (float(sum(float(table[c][i]) for i in idx)) for c in ("chi2", "chi2_prior"))
    k_g = np.array([int(table["n_nuisance"][i]) for i in idx])
    n_g = np.array([common.n_points[g] for g in common.galaxies], float)
    k = int(k_g.sum()) + n_globals
    return {
        "model": model,
        "n_galaxies": len(idx),
        "n_points": int(n_g.sum()),
        "chi2_total": chi2,
        "chi2_prior_total": chi2p,
        "k_total": k,
        "k_globals": n_globals,
        "aic_total": chi2 + chi2p + 2.0 * k,
        "bic_total": chi2 + chi2p + float(np.sum(k_g * np.log(n_g))) + n_globals * math.log(n_g.sum()),
    }


def joint_verdict(newton: Mapping, cmsi: Mapping) -> str:
    """One sentence (no final full stop) comparing the joint CMSI MAP's totals with the joint Newton's
    (``joint_totals`` rows on the same sample): the differences in total AIC and BIC, which model each
    prefers, and where the difference in chi2 + chi2_prior lies (data or nuisance priors)."""
    d = {c: cmsi[f"{c}_total"] - newton[f"{c}_total"] for c in ("aic", "bic", "chi2", "chi2_prior")}
    dk = cmsi["k_total"] - newton["k_total"]
    pref = {c: "CMSI" if d[c] < 0 else ("Newton" if d[c] > 0 else "neither") for c in ("aic", "bic")}
    which = (f"both prefer {pref['aic']}" if pref["aic"] == pref["bic"]
             else f"AIC prefers {pref['aic']}, BIC {pref['bic']}")  # fmt: skip
    if d["chi2"] > 0 > d["chi2_prior"]:
        split = (f"its gain is entirely in the nuisance priors (prior chi^2 {d['chi2_prior']:+,.1f}), while the data "
                 f"chi^2 rises by {d['chi2']:,.1f}")  # fmt: skip
    else:
        split = f"data chi^2 {d['chi2']:+,.1f}, prior chi^2 {d['chi2_prior']:+,.1f}"
    return (f"On the common sample the joint CMSI MAP changes the total AIC by {d['aic']:+,.1f} and the total BIC "
            f"by {d['bic']:+,.1f} against Newton fitted the same way (k {dk:+d}): {which}; {split}")  # fmt: skip


# --------------------------------------------------------------------------- per-galaxy chi0 profiles
def chi0_profiles(
    sample: Mapping, params: Params, options: SparcOptions, log10_grid=CHI0_LOG10_GRID, scheduler: str = "serial"
) -> dict:
    """The profile P_g(x) = min over the nuisance parameters of chi2 + chi2_prior of every galaxy of
    ``sample`` (name -> (Galaxy, mask)) with CMSI at chi0 = 10^x, x on ``log10_grid`` (other
    parameters from ``params``; ``options`` the survey's). ``fitting.fit_galaxy`` through a
    ``sweep.SweepRunner`` (``scheduler`` "serial", or None for a local Dask cluster).

    Returns {"log10_chi0": [...], "galaxies": [...], "objective", "chi2": lists (galaxies, grid),
    "success": lists of bools, "n_points": [...], "seconds"}."""
    grid = [float(x) for x in log10_grid]
    if len(grid) < 4 or np.any(np.diff(grid) <= 0) or not np.all(np.isfinite(grid)):
        raise InputError(f"log10_grid must be >= 4 increasing finite values of log10 chi0, got {grid[:5]}...")
    sets = [dataclasses.replace(params, chi0=10.0**x) for x in grid]
    with SweepRunner(scheduler, progress=False) as runner:
        res = runner.run(sets, sample, options=options, nuisance="full", model_name="cmsi")
    return {
        "log10_chi0": grid,
        "galaxies": list(res.galaxies),
        "objective": res.objective.T.tolist(),
        "chi2": res.chi2.T.tolist(),
        "success": res.success.T.tolist(),
        "n_points": res.n_points.tolist(),
        "seconds": res.seconds,
    }


def chi0_profiles_stage(
    sample: Mapping, params: Params, options: SparcOptions, log10_grid=CHI0_LOG10_GRID, force: bool = False
) -> tuple[dict, bool]:
    """``chi0_profiles`` of ``sample`` (name -> (Galaxy, mask); e.g. the survey's own points,
    ``survey_sample``) as the cached stage "comparison_chi0_profiles"
    (results/stages/comparison_chi0_profiles/). Keyed by the galaxies and their masks, the
    parameters, options, grid, the SPARC files, the fitting code (``cmsi_lib.sweep`` and what it
    imports) and the source of ``chi0_profiles``. Returns (result, was_cached)."""
    inputs = {
        "masks": {n: np.asarray(m, bool).astype(int).tolist() for n, (_g, m) in sample.items()},
        "params": params.as_dict(),
        "options": options.as_dict(),
        "log10_grid": [float(x) for x in log10_grid],
        "code": hashlib.sha256(inspect.getsource(chi0_profiles).encode()).hexdigest(),
    }
    return stages.run_stage(
        "comparison_chi0_profiles",
        inputs,
        lambda: chi0_profiles(sample, params, options, log10_grid),
        modules=["cmsi_lib.sweep"],
        data_files=[sparc.TABLE1_FILE, sparc.TABLE2_FILE],
        force=force,
    )


def survey_sample(index: PointIndex, galaxies: Mapping, names: Sequence[str], model: str = "cmsi_chi0") -> dict:
    """name -> (Galaxy, mask of the points the survey fitted with ``model``): the survey's own sample,
    whatever cuts the current code would apply. A galaxy whose point count differs from SPARC's
    Table 2 is an InputError."""
    out = {}
    for n in names:
        g, m = galaxies[n], np.asarray(index.get(model, n)["fitted"], bool)
        if m.size != g.n_points:
            raise InputError(f"the survey's points of {n} ({m.size}) differ from SPARC's ({g.n_points})")
        out[n] = (g, m)
    return out


def _mesh(log10_grid, objective, step: float):
    """The profile on a fine mesh: Akima interpolation through the finite grid values (local, little
    overshoot, exact for a quadratic, and unlike PCHIP it can place a minimum between grid points);
    mesh points nearer to a failed grid point than to a finite one are +inf."""
    x = np.asarray(log10_grid, float)
    y = np.asarray(objective, float)
    ok = np.isfinite(y)
    if ok.sum() < 2:
        raise InputError("a chi0 profile needs at least 2 finite grid values")
    mesh = np.linspace(x[0], x[-1], int(round((x[-1] - x[0]) / step)) + 1)
    vals = Akima1DInterpolator(x[ok], y[ok], extrapolate=True)(mesh)
    nearest = np.abs(mesh[:, None] - x[None, :]).argmin(axis=1)
    return mesh, np.where(ok[nearest], vals, np.inf)


def lognormal_map(log10_grid, objective, mu: float, sigma: float, step: float = 0.005) -> tuple[float, float]:
    """The maximum posterior of log10 chi0 of one galaxy under a normal prior N(mu, sigma) on
    log10 chi0 [dex], from its profile ``objective`` (chi2 + chi2_prior) on ``log10_grid``:
    argmin of P(x) + ((x - mu)/sigma)^2 over the grid's range (a 0.005 dex mesh). sigma = inf:
    the flat prior (argmin of P). Returns (x_map, P(x_map)) [dex, dimensionless]."""
    if not (sigma > 0):
        raise InputError(f"sigma = {sigma!r} dex must be > 0 (inf for the flat prior)")
    mesh, P = _mesh(log10_grid, objective, step)
    pen = np.zeros_like(mesh) if math.isinf(sigma) else ((mesh - mu) / sigma) ** 2
    i = int(np.argmin(P + pen))
    return float(mesh[i]), float(P[i])


def _marginal_on_mesh(mesh, P, mu: float, sigma: float):
    """ln int exp(-(P - min P)/2) N(x; mu, sigma) dx on ``mesh`` (uniform) plus the Newtonian
    plateau below it; P of shape (mesh,) or (galaxies, mesh) (then one value per galaxy)."""
    P = np.atleast_2d(P)
    lnL = -(P - np.min(P, axis=1, keepdims=True)) / 2.0
    step = float(mesh[1] - mesh[0])
    lnN = -0.5 * ((mesh - mu) / sigma) ** 2 - math.log(sigma * math.sqrt(2 * math.pi))
    inside = logsumexp(lnL + lnN, axis=1) + math.log(step)
    below = lnL[:, 0] + log_ndtr((mesh[0] - mu) / sigma)
    out = np.logaddexp(inside, below)
    return float(out[0]) if out.size == 1 else out


def lognormal_marginal(log10_grid, objective, mu: float, sigma: float, step: float = 0.005) -> float:
    """ln int exp(-(P(x) - P_min)/2) N(x; mu, sigma) dx for one galaxy's profile P on the grid
    (x = log10 chi0, mu and sigma in dex).

    Below the grid (chi0 < 10^grid[0]) P is its value at grid[0] (F - 1 scales as chi0: Newtonian);
    above it the likelihood is taken as 0 (the profile there is far above its minimum)."""
    if not (sigma > 0 and math.isfinite(sigma)):
        raise InputError(f"sigma = {sigma!r} dex must be finite and > 0")
    return _marginal_on_mesh(*_mesh(log10_grid, objective, step), mu, sigma)


def hierarchical_lognormal(
    log10_grid, objectives, mu_bounds=(-3.0, 13.0), sigma_bounds=(0.02, 10.0), step: float = 0.02
) -> dict:
    """mu [dex] and sigma [dex] of a normal population of log10 chi0 fitted across galaxies: the
    maximum of sum_g ``lognormal_marginal`` (profiles ``objectives``, one per galaxy, on a ``step``
    dex mesh). Nelder-Mead from 9 starts; returns {"mu", "sigma", "loglike", "at_bound": names of
    the parameters within 1% of a bound}."""
    meshes = [_mesh(log10_grid, o, step) for o in objectives]
    if not meshes:
        raise InputError("hierarchical_lognormal needs at least one profile")
    mesh, P = meshes[0][0], np.array([m[1] for m in meshes])  # one grid: the same mesh for all

    def nll(p):
        mu, sig = p
        if not (mu_bounds[0] <= mu <= mu_bounds[1] and sigma_bounds[0] <= sig <= sigma_bounds[1]):
            return 1e300
        return -float(np.sum(_marginal_on_mesh(mesh, P, mu, sig)))

    best = None
    for mu0 in (2.0, 5.0, 8.0):
        for s0 in (0.3, 1.0, 3.0):
            r = optimize.minimize(nll, [mu0, s0], method="Nelder-Mead", options={"xatol": 1e-3, "fatol": 1e-3})
            if best is None or r.fun < best.fun:
                best = r
    mu, sig = (float(v) for v in best.x)
    at = [
        n
        for n, v, (lo, hi) in (("mu", mu, mu_bounds), ("sigma", sig, sigma_bounds))
        if min(v - lo, hi - v) < 1e-2 * (hi - lo)
    ]
    return {"mu": mu, "sigma": sig, "loglike": float(-best.fun), "at_bound": at}


def rank_trend(x, y) -> dict:
    """Spearman rank correlation of y with x over the pairs where both are finite:
    {"rho", "p" (two-sided), "n"}."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return {"rho": math.nan, "p": math.nan, "n": int(ok.sum())}
    r = stats.spearmanr(x[ok], y[ok])
    return {"rho": float(r.statistic), "p": float(r.pvalue), "n": int(ok.sum())}


# --------------------------------------------------------------------------- baryonic masses
def bulge_luminosity(galaxy) -> float:
    """3.6 um bulge luminosity [1e9 Lsun]: the bulge's mass at Ups = 1 inside the last radius,
    V_bul^2 R / G (a spherical bulge), at most L[3.6]. SPARC's Table 1 gives only the total."""
    if not galaxy.has_bulge:
        return 0.0
    v2r = float(galaxy.v_bul[-1] * abs(galaxy.v_bul[-1]) * galaxy.R[-1])
    return float(min(max(v2r / G_KPC_KMS2_MSUN / 1e9, 0.0), galaxy.L36))


def baryonic_mass(
    galaxy, ups_disk: float = sparc.UPS_DISK, ups_bul: float = sparc.UPS_BUL, d_ratio: float = 1.0
) -> dict:
    """M_b = Ups_d L_disk + Ups_b L_bul + 1.33 M_HI [Msun] at distance d_ratio x D_SPARC (masses
    scale as d_ratio^2), with its error [dex]: 0.1 dex on the stars (the Ups prior width) and
    e_L[3.6], 10% on the gas, and 2 e_D/D on everything (the distance).

    Returns {"M_b", "M_star", "M_gas" [Msun], "e_log_M_b" [dex]}."""
    lb = bulge_luminosity(galaxy)
    m_star = (ups_disk * (galaxy.L36 - lb) + ups_bul * lb) * 1e9 * d_ratio**2
    m_gas = 1.33 * galaxy.MHI * 1e9 * d_ratio**2
    m_b = m_star + m_gas
    e_star2 = (m_star * math.log(10) * 0.1) ** 2 + (m_star * galaxy.e_L36 / galaxy.L36) ** 2 if galaxy.L36 > 0 else 0.0
    e2 = e_star2 + (0.1 * m_gas) ** 2 + (2 * galaxy.e_D / galaxy.D * m_b) ** 2
    return {"M_b": m_b, "M_star": m_star, "M_gas": m_gas, "e_log_M_b": math.sqrt(e2) / (m_b * math.log(10))}


def gas_fraction(galaxy) -> float:
    """f_gas = 1.33 M_HI / M_bar at the standard mass-to-light ratios (``baryonic_mass``)."""
    m = baryonic_mass(galaxy)
    return m["M_gas"] / m["M_b"]


def flat_points(v, tol: float = FLAT_TOLERANCE, n_min: int = 3) -> np.ndarray:
    """Boolean mask of the flat outer part of a rotation curve ``v`` [km/s] (radius order): the
    outermost n_min points if each is within ``tol`` (relative) of their mean, extended inward while
    the next point is within ``tol`` of the mean of the points so far with it. All False if the
    outermost n_min points are not flat (no V_flat)."""
    v = np.asarray(v, float)
    mask = np.zeros(v.size, bool)
    if v.size < n_min:
        return mask
    i = v.size - n_min
    if np.any(np.abs(v[i:] / np.mean(v[i:]) - 1) > tol):
        return mask
    while i > 0 and abs(v[i - 1] / np.mean(v[i - 1 :]) - 1) <= tol:
        i -= 1
    mask[i:] = True
    return mask


# --------------------------------------------------------------------------- line fits (BTF)
@dataclasses.dataclass(frozen=True)
class LineFit:
    """y = slope x + intercept with an intrinsic scatter (``scatter`` "orthogonal" or "vertical");
    sigma_orth [units of y, perpendicular to the line] and sigma_int = sigma_orth sqrt(1 + slope^2)
    [vertical]; errors from the inverse Hessian of -ln L (e_sigma: of the fitted one; NaN when the
    scatter ends at its floor 1e-5, the slope's and intercept's errors then with it held); n points."""

    slope: float
    e_slope: float
    intercept: float
    e_intercept: float
    sigma_int: float
    sigma_orth: float
    e_sigma: float
    n: int
    scatter: str
    converged: bool


#: intrinsic-scatter models of ``fit_line``
SCATTER_MODELS = ("orthogonal", "vertical")


def _hessian(f, p, h=1e-4) -> np.ndarray:
    p = np.asarray(p, float)
    k = p.size
    H = np.zeros((k, k))
    for i in range(k):
        for j in range(i, k):
            ei, ej = np.eye(k)[i] * h, np.eye(k)[j] * h
            H[i, j] = H[j, i] = (f(p + ei + ej) - f(p + ei - ej) - f(p - ei + ej) + f(p - ei - ej)) / (4 * h * h)
    return H


def _line_nll(x, y, e_x, e_y, scatter: str):
    """-ln L of a line with errors on both axes and intrinsic scatter, p = (slope, intercept, ln sigma).

    "orthogonal" (Hogg, Bovy & Lang 2010, eq. 32; Lelli et al. 2019): distances perpendicular to the
    line, Delta = (y - s x - b)/sqrt(1 + s^2), variance (s^2 e_x^2 + e_y^2)/(1 + s^2) + sigma_orth^2.
    "vertical": residuals y - s x - b, variance e_y^2 + s^2 e_x^2 + sigma_int^2."""

    def nll(p):
        s, b, ln_sig = p
        r = y - s * x - b
        if scatter == "orthogonal":
            q = 1.0 + s * s
            V = (s * s * e_x**2 + e_y**2) / q + math.exp(2 * ln_sig)
            return 0.5 * float(np.sum(r**2 / q / V + np.log(V)))
        V = e_y**2 + s**2 * e_x**2 + math.exp(2 * ln_sig)
        return 0.5 * float(np.sum(r**2 / V + np.log(V)))

    return nll


def fit_line(x, y, e_x, e_y, scatter: str = "orthogonal") -> LineFit:
    """Maximum-likelihood straight line y = s x + b through (x, y) with Gaussian errors e_x, e_y on
    both axes and an intrinsic scatter, orthogonal to the line (default: Lelli et al. 2019's choice
    for the BTF) or vertical (see ``_line_nll``). Needs >= 4 finite points; e_x, e_y >= 0."""
    if scatter not in SCATTER_MODELS:
        raise InputError(f"scatter = {scatter!r}; valid: {SCATTER_MODELS}")
    x, y, e_x, e_y = (np.asarray(a, float) for a in (x, y, e_x, e_y))
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(e_x) & np.isfinite(e_y)
    if ok.sum() < 4 or np.any(e_x[ok] < 0) or np.any(e_y[ok] < 0):
        raise InputError(f"fit_line needs >= 4 finite points with errors >= 0 (got {int(ok.sum())} finite)")
    x, y, e_x, e_y = x[ok], y[ok], e_x[ok], e_y[ok]
    nll = _line_nll(x, y, e_x, e_y, scatter)
    s0, b0 = np.polyfit(x, y, 1)
    sig0 = max(float(np.std(y - s0 * x - b0)), 1e-3)
    r = optimize.minimize(
        nll,
        [s0, b0, math.log(sig0)],
        method="L-BFGS-B",
        bounds=[(None, None), (None, None), (math.log(1e-5), math.log(10.0))],
    )
    r = optimize.minimize(nll, r.x, method="Nelder-Mead", options={"xatol": 1e-7, "fatol": 1e-9})
    s, b, ln_sig = r.x
    at_floor = ln_sig < math.log(1e-5) + 1e-3  # no intrinsic scatter: errors of (s, b) with it held
    try:
        if at_floor:
            H = _hessian(lambda q: nll([q[0], q[1], ln_sig]), r.x[:2])
            e = np.append(np.sqrt(np.clip(np.diag(np.linalg.inv(H)), 0, None)), math.nan)
        else:
            e = np.sqrt(np.clip(np.diag(np.linalg.inv(_hessian(nll, r.x))), 0, None))
    except np.linalg.LinAlgError:
        e = np.full(3, math.nan)
    sig = math.exp(ln_sig)
    q = math.sqrt(1 + s * s)
    orth, vert = (sig, sig * q) if scatter == "orthogonal" else (sig / q, sig)
    return LineFit(
        float(s),
        float(e[0]),
        float(b),
        float(e[1]),
        vert,
        orth,
        sig * float(e[2]),
        int(ok.sum()),
        scatter,
        bool(r.success),
    )


# --------------------------------------------------------------------------- reading the survey's points
class PointIndex:
    """The survey's points table (``results.SurveyResult.points``) indexed by (model, galaxy): each
    entry holds that fit's arrays at all the galaxy's radii, in SPARC's order (R [kpc], v_obs,
    e_v_obs, v_bar, v_model [km/s], fitted), with the best-fit nuisance parameters applied."""

    COLUMNS = ("R", "v_obs", "e_v_obs", "v_bar", "v_model", "fitted")

    def __init__(self, points):
        cols = {c: np.asarray(points[c]) for c in self.COLUMNS}
        keys = np.char.add(
            np.char.add(np.asarray(points["model"]).astype(str), "|"), np.asarray(points["galaxy"]).astype(str)
        )
        order = np.argsort(keys, kind="stable")
        uniq, start = np.unique(keys[order], return_index=True)
        bounds = list(start) + [len(keys)]
        self._rows = {}
        for i, k in enumerate(uniq):
            rows = order[bounds[i] : bounds[i + 1]]
            self._rows[tuple(k.split("|", 1))] = {c: cols[c][rows] for c in self.COLUMNS}

    def get(self, model: str, galaxy: str) -> dict:
        try:
            return self._rows[(model, galaxy)]
        except KeyError:
            raise InputError(f"the survey's points have no rows for model {model!r}, galaxy {galaxy!r}") from None


def _nuisance(row: Mapping, galaxy) -> tuple[float, float, float]:
    """(Ups_disk, Ups_bul, D/D_SPARC) of a fits-table row (a galaxy without a bulge: Ups_bul 0.7)."""
    ub = float(row["best_ups_bul"])
    return float(row["best_ups_disk"]), (ub if math.isfinite(ub) else sparc.UPS_BUL), float(row["best_D"]) / galaxy.D


def btf_data(
    index: PointIndex, fits, galaxies: Mapping, names: Sequence[str], model: str | None, mass: str = "standard"
) -> dict:
    """The BTF points of ``names`` (galaxies with SPARC's V_flat measured; others are skipped).

    model None: SPARC's V_flat (Table 1) and e_V_flat; "observed": the mean observed speed at
    ``flat_points`` (our V_flat); a model name: the mean of that model's best-fit curve at the
    flat points of the observed curve. log V errors: SPARC's e_Vflat/Vflat for all. mass
    "standard": M_b at Ups = 0.5/0.7 and SPARC's D; "fitted": the model's fitted Ups and D.
    Returns arrays log_v [log10 km/s], e_log_v, log_m [log10 Msun], e_log_m, names, and n_no_flat
    (galaxies whose outer curve is not flat by our criterion)."""
    if mass not in ("standard", "fitted"):
        raise InputError(f"mass = {mass!r}; valid: 'standard' or 'fitted'")
    by_model = _rows_by_model(fits)
    out = {k: [] for k in ("log_v", "e_log_v", "log_m", "e_log_m", "names")}
    n_no_flat = 0
    for n in names:
        g = galaxies[n]
        if not (math.isfinite(g.Vflat) and math.isfinite(g.e_Vflat) and g.Vflat > 0):
            continue
        v_f = g.Vflat
        if model is not None:
            flat = flat_points(g.v_obs)
            if not flat.any():
                n_no_flat += 1
                continue
            arr = g.v_obs if model == "observed" else index.get(model, n)["v_model"]
            v_f = float(np.mean(np.asarray(arr, float)[flat]))
        ups = (sparc.UPS_DISK, sparc.UPS_BUL, 1.0)
        if mass == "fitted" and model not in (None, "observed"):
            ups = _nuisance(by_model[model][n], g)
        m = baryonic_mass(g, *ups)
        if not (v_f > 0 and m["M_b"] > 0):
            continue
        out["log_v"].append(math.log10(v_f))
        out["e_log_v"].append(g.e_Vflat / (g.Vflat * math.log(10)))
        out["log_m"].append(math.log10(m["M_b"]))
        out["e_log_m"].append(m["e_log_M_b"])
        out["names"].append(n)
    res = {k: np.asarray(v, float) if k != "names" else v for k, v in out.items()}
    res["n_no_flat"] = n_no_flat
    return res


def rar_residuals(
    index: PointIndex,
    fits,
    galaxies: Mapping,
    names: Sequence[str],
    model: str,
    gas_scale: float = sparc.GAS_SCALE_DEFAULT,
) -> dict:
    """Per fitted point of ``names`` with V_obs, V_model > 0: the residual log10 g_obs - log10 g_model
    = 2 log10(V_obs/V_model) [dex] of ``model`` at its best fit, with g_bar [m/s^2] (signed, the
    model's nuisance parameters), R/R_d (R_d scaled to the fitted distance) and the baryonic surface
    density Sigma [Msun/pc^2] = Ups_d SBdisk + Ups_b SBbul (fitted Ups) + an exponential gas disk
    (``sparc.gas_surface_density``; SPARC does not tabulate gas per radius). Arrays + "galaxy"."""
    by_model = _rows_by_model(fits)
    out = {k: [] for k in ("g_bar", "x_R", "Sigma", "res", "galaxy")}
    for n in names:
        g, p = galaxies[n], index.get(model, n)
        ud, ub, s = _nuisance(by_model[model][n], g)
        vm, vo, vb, R = (np.asarray(p[c], float) for c in ("v_model", "v_obs", "v_bar", "R"))
        ok = np.asarray(p["fitted"], bool) & (vm > 0) & (vo > 0)
        sig = ud * g.sb_disk + ub * g.sb_bul + sparc.gas_surface_density(g, gas_scale)
        out["g_bar"].append((vb * np.abs(vb) / R * ACCEL_SI_PER_KMS2_KPC)[ok])
        out["x_R"].append((R / (g.Rdisk * s))[ok])
        out["Sigma"].append(np.asarray(sig, float)[ok])
        out["res"].append(2 * np.log10(vo[ok] / vm[ok]))
        out["galaxy"].append(np.full(int(ok.sum()), n))
    return {k: np.concatenate(v) if v else np.array([]) for k, v in out.items()}


def binned_stats(x, y, edges, min_count: int = 10) -> dict:
    """Median and 16th/84th percentiles of y in bins of x (``edges``); bins with fewer than
    ``min_count`` points are NaN. Returns {"center" (geometric if edges > 0), "median", "p16",
    "p84", "n"}."""
    x, y, edges = np.asarray(x, float), np.asarray(y, float), np.asarray(edges, float)
    idx = np.digitize(x, edges) - 1
    nb = edges.size - 1
    center = np.sqrt(edges[1:] * edges[:-1]) if np.all(edges > 0) else 0.5 * (edges[1:] + edges[:-1])
    out = {
        "center": center,
        "median": np.full(nb, np.nan),
        "p16": np.full(nb, np.nan),
        "p84": np.full(nb, np.nan),
        "n": np.zeros(nb, int),
    }
    for i in range(nb):
        yi = y[(idx == i) & np.isfinite(y)]
        out["n"][i] = yi.size
        if yi.size >= min_count:
            out["median"][i], out["p16"][i], out["p84"][i] = np.percentile(yi, [50, 16, 84])
    return out


def refit_at_chi0(sample: Mapping, log10_chi0: Mapping[str, float], params: Params, options: SparcOptions) -> dict:
    """CMSI refitted (nuisance only, ``fitting.fit_galaxy``) at each galaxy's own chi0 = 10^x
    (``log10_chi0``: name -> x): name -> {"chi2", "chi2_prior", "success"}."""
    out = {}
    for n, x in log10_chi0.items():
        g, m = sample[n]
        r = fitting.fit_galaxy(
            g, models.get_model("cmsi", params=dataclasses.replace(params, chi0=10.0**x), options=options), mask=m
        )
        out[n] = {"chi2": r.chi2, "chi2_prior": r.chi2_prior, "success": bool(r.success)}
    return out
