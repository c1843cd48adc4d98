"""The SPARC survey: every model fitted to every galaxy of the sample (``fitting``), the global CMSI
fit with k-fold CV (``globalfit``), and the global fit redone for each option variant. The files it
writes (results/survey/) and reads back are laid out in ``results``.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time

import numpy as np
from astropy.table import Table

from . import comparison, models, results, sparc
from .fitting import FitResult, fit_sample, summarize
from .globalfit import GlobalFit, global_fit
from .kernel import InputError, NoSelfConsistentSolution
from .options import SparcOptions
from .params import Params
from .results import load_survey
from .sweep import SweepRunner

__all__ = ["SURVEY_MODELS", "SURVEY_VARIANTS", "run_survey", "load_survey"]

#: the per-galaxy model rows of the survey: the models of ``models.MODEL_NAMES`` ("cmsi" at the given
#: parameters) plus "cmsi_global", CMSI at the best global fit
SURVEY_MODELS = ("newton", "rar", "rar_free", "nfw", "burkert", "cmsi", "cmsi_global", "cmsi_chi0")
#: the modelling options varied one at a time around the baseline (the global fit is redone for each)
SURVEY_VARIANTS = (
    ("vc_mode", "self-consistent"),
    ("vc_mode", "observed"),
    ("sigma_v_model", "stellar-disk"),
    ("sigma_definition", "stellar+gas"),
)


def _variants(sample, free, params: Params, options, runner) -> list[dict]:
    """The global fit (no CV; chi0 on a 0.5 dex grid) redone for each option in ``SURVEY_VARIANTS``."""
    out = []
    for key, value in SURVEY_VARIANTS:
        if getattr(options, key) == value:
            continue
        opt = dataclasses.replace(options, **{key: value})
        t = time.perf_counter()
        grids = {"chi0": 10 ** np.arange(1.0, 9.0001, 0.5)} if "chi0" in free else None
        try:
            v = global_fit(sample, free=free, grids=grids, base=params, options=opt, k_folds=0, runner=runner)
        except NoSelfConsistentSolution as exc:
            out.append({"option": key, "value": value, "error": str(exc)})
            continue
        out.append(
            {
                "option": key,
                "value": value,
                "best": {f: getattr(v.best, f) for f in free},
                "how": v.profile["how"],
                "chi2_per_point_best": v.chi2_best / v.n_points,
                "chi2_per_point_base": v.chi2_base / v.n_points,
                "chi2_per_point_newton": v.chi2_newton / v.n_points,
                "n_failed_best": len(v.failures_best),
                "n_failed_base": len(v.failures_base),
                "failures_base": v.failures_base,
                "profile": v.profile,
                "seconds": time.perf_counter() - t,
            }
        )
    return out


def _per_galaxy_fits(sample, models_to_fit, params: Params, best: Params, options) -> dict[str, list[FitResult]]:
    """Every model of ``models_to_fit`` fitted to every galaxy ("cmsi_global": CMSI at ``best``)."""
    fits: dict[str, list[FitResult]] = {}
    for label in models_to_fit:
        if label == "cmsi_global":
            model = models.get_model("cmsi", params=best, options=options)
        elif label.startswith("cmsi"):
            model = models.get_model(label, params=params, options=options)
        else:
            model = models.get_model(label)
        rs = fit_sample(sample, model)
        for r in rs:
            r.model = label
        fits[label] = rs
    return fits


def _common_sample_totals(fits: dict[str, list[FitResult]]) -> dict:
    """Every model's totals on the common sample, the galaxies every model fitted with identical points
    (``comparison.common_sample`` and ``totals`` on the fits table the survey writes): chi2, prior chi2,
    k, AIC and BIC summed over identical galaxies and points, so the models' totals compare."""
    table = Table.read(results.table_text([r.row() for rs in fits.values() for r in rs]), format="ascii.ecsv")
    cs = comparison.common_sample(table, tuple(fits))
    out = {"n_galaxies": len(cs.galaxies), "n_points": int(sum(cs.n_points.values())), "excluded": cs.excluded}
    return out | {"models": comparison.totals(comparison.criteria(table, cs)) if cs.galaxies else []}


def _global_summary(gfit: GlobalFit, free, k_folds: int, seed: int) -> dict:
    return {
        "params": gfit.best.as_dict(),
        "free": list(free),
        "how": gfit.profile["how"],
        "chi2_per_point_best": gfit.chi2_best / gfit.n_points,
        "chi2_per_point_base": gfit.chi2_base / gfit.n_points,
        "chi2_per_point_newton": gfit.chi2_newton / gfit.n_points,
        "cv_in_sample_chi2_per_point": gfit.cv_in_sample_chi2_per_point,
        "cv_out_of_sample_chi2_per_point": gfit.cv_out_of_sample_chi2_per_point,
        "k_folds": k_folds,
        "seed": seed,
    }


def run_survey(
    params: Params = Params(),
    options=None,
    cuts=None,
    models_to_fit=SURVEY_MODELS,
    free: tuple[str, ...] = ("chi0",),
    k_folds: int = 5,
    seed: int = 0,
    variants: bool = True,
    scheduler=None,
    n_workers: int = 2,
    progress: bool = False,
    write: bool = True,
    galaxies: dict | None = None,
    sample_name: str = "SPARC",
) -> dict:
    """The SPARC survey: every model fitted to every galaxy of the sample, the global CMSI fit with
    k-fold CV, and the global fit redone for each option in ``SURVEY_VARIANTS``.

    params: the CMSI parameters "as they stand" (default: the seed's) and the base of the global
    fit; options: the baseline ``SparcOptions``; cuts: ``sparc.QualityCuts`` (default the
    standard RAR cuts); galaxies: the sample before the cuts (name -> ``sparc.Galaxy``, e.g.
    ``rotmod.load_sample(folder)``; default SPARC's 175), sample_name its name (in the summary).
    With ``write`` the results go to results/survey/ (atomically, see ``results.write_survey``):
    global_fit.json (``results.survey_global_fit_file``), fits.ecsv (one row per galaxy and model),
    points.ecsv (per point: data and every model's speed at its best fit) and summary.json.
    Returns the summary (also what ``cmsi survey --json`` prints). Its "models" summarise each model
    over the galaxies it fitted; "common_sample" gives every model's totals on identical galaxies and
    points (what model totals should be compared on).
    """
    t_start = time.perf_counter()
    options = SparcOptions() if options is None else options
    cuts = sparc.QualityCuts() if cuts is None else cuts
    unknown = [m for m in models_to_fit if m not in SURVEY_MODELS]
    if unknown:
        raise InputError(f"unknown survey model(s) {unknown}; valid: {SURVEY_MODELS}")
    sample, counts = sparc.apply_cuts(sparc.load_galaxies() if galaxies is None else galaxies, cuts)
    if not sample:
        raise InputError(f"sample {sample_name!r}: no galaxy keeps a point after the cuts {cuts} (try --all-galaxies)")
    timings = {}
    with SweepRunner(scheduler, n_workers=n_workers, progress=progress) as runner:
        t = time.perf_counter()
        gfit = global_fit(sample, free=free, base=params, options=options, k_folds=k_folds, seed=seed, runner=runner)
        timings["global_fit_cv_s"] = time.perf_counter() - t
        variant_out = _variants(sample, free, params, options, runner) if variants else []
        timings["variants_s"] = time.perf_counter() - t_start - timings["global_fit_cv_s"]
    t = time.perf_counter()
    fits = _per_galaxy_fits(sample, models_to_fit, params, gfit.best, options)
    timings["per_galaxy_fits_s"] = time.perf_counter() - t
    # anchor: the RAR with the nuisance parameters held at SPARC's values (no fit at all)
    rar_fixed = summarize(fit_sample(sample, "rar", nuisance="none"))
    summary = {
        "sample": sample_name,
        "cuts": dataclasses.asdict(cuts),
        "counts": counts.as_dict(),
        "n_galaxies": len(sample),
        "n_points": int(sum(int(m.sum()) for _g, m in sample.values())),
        "params": params.as_dict(),
        "options": options.as_dict(),
        "models": [dict(summarize(rs), model=label) for label, rs in fits.items()],
        "common_sample": _common_sample_totals(fits),
        "rar_fixed_nuisance": rar_fixed,
        "global_fit": _global_summary(gfit, free, k_folds, seed),
        "variants": variant_out,
        "timings_s": timings | {"total_s": time.perf_counter() - t_start},
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "workers": n_workers,
        },
    }
    if write:
        results.write_survey(summary, gfit.as_dict(), fits)
    return summary
