"""The global CMSI fit: CMSI's shared parameters fitted to all SPARC galaxies at once (nuisance
parameters profiled per galaxy, ``fitting.fit_galaxy``), tabulated through a parameter sweep
(``sweep.SweepRunner``), with k-fold cross-validation over galaxies.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Iterable, Mapping

import numpy as np
from scipy.interpolate import CubicSpline

from . import models
from .kernel import InputError, NoSelfConsistentSolution
from .options import SparcOptions
from .params import Params
from .sweep import SweepRunner

__all__ = ["GlobalFit", "global_fit", "kfold_split"]

#: log10 grids of the free parameters when none is given (chi0 from 1e1 to 1e9 in 0.25 dex steps; ...)
DEFAULT_LOG_GRIDS = {
    "chi0": np.arange(1.0, 9.0001, 0.25),
    "alpha": np.log10(np.linspace(0.1, 1.5, 8)),
    "eps": np.log10(np.linspace(0.1, 1.5, 8)),
    "ell0": np.log10([0.5, 1, 2.2, 5, 10, 20, 50]),
    "gamma": np.log10(np.linspace(0.5, 3, 6)),
}
_NEWTON_HOW = "chi0 = 0 (Newtonian) beats every grid point"


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
    chi2/point (held-out galaxies, nuisance re-fitted, shared parameters fixed);
    cv_in_sample / cv_out_of_sample_chi2_per_point: both pooled over the folds' points (the sum of
    chi2 over the sum of points, training and held-out sets respectively), so they compare alike.
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
        return np.array([g[j] for g, j in zip(grid_logs, idx, strict=False)]), "best grid point"
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
    cs = CubicSpline(x[lo : hi + 1], obj[lo : hi + 1])
    a, b = x[max(i - 1, lo)], x[min(i + 1, hi)]
    mesh = np.linspace(a, b, int(round((b - a) / 0.005)) + 1)
    return np.array([mesh[np.argmin(cs(mesh))]]), "cubic spline of the grid profile"


def _grid_logs(free, grids, base: Params) -> list[np.ndarray]:
    """The log10 grid of each free parameter: given values (finite, > 0), else the default grid."""
    for f in free:
        if f not in models.CMSI.FREE_BOUNDS:
            raise InputError(f"free = {f!r} is not a CMSI parameter; valid: {list(models.CMSI.FREE_BOUNDS)}")
    out = []
    for f in free:
        if grids and f in grids:
            vals = np.asarray(list(grids[f]), float)
            if np.any(~np.isfinite(vals)) or np.any(vals <= 0):
                raise InputError(f"grid of {f} must hold finite values > 0, got {vals}")
            out.append(np.sort(np.log10(vals)))
        else:
            out.append(DEFAULT_LOG_GRIDS.get(f, np.log10(getattr(base, f)) + np.linspace(-1, 1, 9)))
    return out


@dataclasses.dataclass
class _Exact:
    """The exact pass: rows [full pick, fold picks..., base, Newton (chi0 = 0)] x galaxies."""

    sets: list
    res: object  # sweep.SweepResult
    npts: np.ndarray

    @property
    def base_row(self) -> int:
        return len(self.sets) - 2

    @property
    def newton_row(self) -> int:
        return len(self.sets) - 1

    def tot(self, row, idx=None):
        """(sum chi2 over the successful galaxies of idx, their points, the number failed)."""
        idx = np.arange(self.npts.size) if idx is None else idx
        ok = self.res.success[row, idx]
        return float(np.sum(self.res.chi2[row, idx][ok])), int(np.sum(self.npts[idx][ok])), int(np.sum(~ok))

    def objective(self, row, idx):
        ok = self.res.success[row, idx]
        return float(np.sum(self.res.objective[row, idx])) if ok.all() else math.inf

    def pick(self, row, how, idx, free):
        """The row to use on galaxies idx: chi0 = 0 (Newtonian) is a valid CMSI parameter value that a
        log grid cannot hold; when it is better than the grid's choice it is taken (``how`` says so)."""
        if "chi0" in free and self.objective(self.newton_row, idx) <= self.objective(row, idx):
            return self.newton_row, _NEWTON_HOW
        return row, how


def _fold_record(ex: _Exact, j, idx, train, chosen, free, names) -> dict:
    row, how = ex.pick(j + 1, chosen[j + 1][1], train, free)
    c_tr, n_tr, f_tr = ex.tot(row, train)
    c_te, n_te, f_te = ex.tot(row, idx)
    return {
        "test_galaxies": [names[i] for i in idx],
        "params": {f: getattr(ex.sets[row], f) for f in free},
        "how": how,
        "in_sample_chi2_per_point": c_tr / max(n_tr, 1),
        "n_train_points": n_tr,
        "n_train_failed": f_tr,
        "out_of_sample_chi2_per_point": c_te / max(n_te, 1),
        "n_test_points": n_te,
        "n_test_failed": f_te,
    }


def _sweep_grid(runner, free, grid_logs, base, sample, folds, names, options, nuisance):
    """Tabulate the objective on the grid, pick the minimum (full sample, each fold's training set),
    and re-evaluate exactly at the picks, at base and at chi0 = 0. Returns (grid, obj, chosen, exact)."""
    mesh = np.meshgrid(*grid_logs, indexing="ij")
    sets = [
        dataclasses.replace(base, **{f: float(10 ** m.flat[i]) for f, m in zip(free, mesh, strict=False)})
        for i in range(mesh[0].size)
    ]
    grid = runner.run(sets, sample, options=options, nuisance=nuisance)
    obj = np.where(grid.success, grid.objective, np.inf)  # (n_sets, n_gal)
    shape = mesh[0].shape
    picks = []
    for fold in folds:
        idx = np.array([names.index(n) for n in fold])
        train = np.setdiff1d(np.arange(len(names)), idx)
        picks.append(_best_on_grid(grid_logs, obj[:, train].sum(axis=1).reshape(shape)))
    chosen = [_best_on_grid(grid_logs, obj.sum(axis=1).reshape(shape))] + picks
    exact_sets = [
        dataclasses.replace(base, **{f: float(10**v) for f, v in zip(free, p[0], strict=False)}) for p in chosen
    ] + [
        base,
        dataclasses.replace(base, chi0=0.0),
    ]
    exact = runner.run(exact_sets, sample, options=options, nuisance=nuisance)
    return grid, obj.sum(axis=1).reshape(shape), chosen, _Exact(exact_sets, exact, grid.n_points)


def global_fit(
    sample: Mapping,
    free: tuple[str, ...] = ("chi0",),
    grids: Mapping[str, Iterable[float]] | None = None,
    base: Params = Params(),
    options=None,
    k_folds: int = 5,
    seed: int = 0,
    nuisance: str = "full",
    scheduler=None,
    n_workers: int = 2,
    progress: bool = False,
    runner=None,
) -> GlobalFit:
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
    t0 = time.perf_counter()
    options = SparcOptions() if options is None else options
    grid_logs = _grid_logs(free, grids, base)
    names = list(sample)
    folds = kfold_split(names, k_folds, seed) if k_folds else []
    ctx = (
        contextlib.nullcontext(runner)
        if runner is not None
        else SweepRunner(scheduler, n_workers=n_workers, progress=progress)
    )
    with ctx as runner:
        grid, obj_sum, chosen, ex = _sweep_grid(runner, free, grid_logs, base, sample, folds, names, options, nuisance)
    everyone = np.arange(len(names))
    full_row, how_full = ex.pick(0, chosen[0][1], everyone, free)
    fold_out = []
    for j, fold in enumerate(folds):
        idx = np.array([names.index(n) for n in fold])
        fold_out.append(_fold_record(ex, j, idx, np.setdiff1d(everyone, idx), chosen, free, names))
    exact, nb = ex.res, ex.base_row
    edges = {
        f: ("lower" if np.isclose(v, g[0]) else "upper" if np.isclose(v, g[-1]) else "")
        for f, v, g in zip(free, chosen[0][0], grid_logs, strict=False)
    }
    all_train = sum(f["in_sample_chi2_per_point"] * f["n_train_points"] for f in fold_out)
    n_train = sum(f["n_train_points"] for f in fold_out)
    all_test = sum(f["out_of_sample_chi2_per_point"] * f["n_test_points"] for f in fold_out)
    n_test = sum(f["n_test_points"] for f in fold_out)
    shape = obj_sum.shape
    profile = {
        "free": list(free),
        "log10_grid": [g.tolist() for g in grid_logs],
        "objective": obj_sum.tolist(),
        "chi2": np.where(grid.success, grid.chi2, np.nan).sum(axis=1).reshape(shape).tolist(),
        "n_failed": (~grid.success).sum(axis=1).reshape(shape).tolist(),
        "how": how_full,
        "grid_pick_at_edge": edges,
    }
    return GlobalFit(
        free=tuple(free),
        base=base,
        options=options.as_dict(),
        galaxies=names,
        n_points=int(ex.npts.sum()),
        best=ex.sets[full_row],
        chi2_best=ex.tot(full_row)[0],
        chi2_base=ex.tot(nb)[0],
        chi2_newton=ex.tot(ex.newton_row)[0],
        per_galaxy_best={n: float(exact.chi2[full_row, i]) for i, n in enumerate(names)},
        failures_best={names[i]: exact.reason[full_row][i] for i in everyone if not exact.success[full_row, i]},
        failures_base={names[i]: exact.reason[nb][i] for i in everyone if not exact.success[nb, i]},
        profile=profile,
        folds=fold_out,
        cv_in_sample_chi2_per_point=all_train / n_train if n_train else math.nan,
        cv_out_of_sample_chi2_per_point=all_test / n_test if n_test else math.nan,
        seconds=time.perf_counter() - t0,
    )
