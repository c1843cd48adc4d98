"""`cmsi survey`: fit every model to the SPARC sample, the global CMSI fit with k-fold CV, and the
option variants; write results/survey/ and print a summary (``--json``: machine-readable).

    cmsi survey                         # the standard cuts, baseline options, 5-fold CV
    cmsi survey --set chi0=1e6 --vc-mode self-consistent --json
    cmsi survey --free chi0 --free alpha --scheduler tcp://127.0.0.1:8786

The survey is a stage (``cmsi_lib.stages``, results/stages/survey/): when results/survey/ was written
by a run of the same parameters, options, cuts, models, fit settings, data and code (its files still
those it wrote), the summary is printed from it in seconds; ``--force`` recomputes. The Dask settings
(--scheduler, --workers, --progress) do not change the result and are not part of the key.

The joint fit (``cmsi_lib.joint_survey``: CMSI's joint MAP with every galaxy's nuisance parameters,
against Newton on the identical points, and its robustness) follows as a second stage,
results/stages/joint_fit/, keyed by the options, cuts, sample, data and its own code only: a survey
rerun at other parameters, models or fit settings reuses it. The survey's own key covers the code of
``cmsi_lib.survey`` (and what it imports), not this command's: everything this command passes to
``run_survey`` is in the key's inputs, so an edit of the joint fit or the posterior leaves the survey
cached. ``--json`` prints the joint fit as "joint_fit", with the cached posterior stage's percentiles
and convergence diagnostics under "joint_fit"/"posterior" (``posterior_stage.json_entry``; a note
instead when that stage has not been computed for these settings: ``make book`` computes it);
``--joint`` computes the joint fit when it is not cached; ``--force`` recomputes it too.

    cmsi survey --sample DIR            # a folder of SPARC Rotmod files instead of SPARC

``--sample DIR`` fits the galaxies of DIR (``cmsi_lib.rotmod.load_sample``: <name>_rotmod.dat files,
optionally galaxies.csv) with the standard cuts (``--all-galaxies``: none). Its results go to
results/samples/<DIR's name>/ (survey/ and stages/ there, as for SPARC under results/), never to the
book's results/survey/; the key covers the sha256 of every file of DIR.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

from .. import datafiles, joint_survey, paths, posterior_stage, rotmod, sparc, stages
from ..errors import InputError
from ..options import SparcOptions
from ..results import survey_dir
from ..survey import SURVEY_MODELS, run_survey
from . import params_from_args, print_json, worker_count

#: the modules the survey runs (their sources, and those they import, enter its key)
MODULES = ("cmsi_lib.survey",)
#: the data files the survey reads (their registry sha256 enter its key)
DATA_FILES = (sparc.TABLE1_FILE, sparc.TABLE2_FILE)


def register(sub, common):
    p = sub.add_parser(
        "survey",
        parents=[common],
        help="fit all models to SPARC; global CMSI fit with CV",
        description=__doc__.split("\n\n")[0],
    )
    g = p.add_argument_group("survey")
    g.add_argument(
        "--models",
        nargs="+",
        default=list(SURVEY_MODELS),
        metavar="MODEL",
        help=f"models to fit per galaxy (default all: {' '.join(SURVEY_MODELS)})",
    )
    g.add_argument(
        "--free",
        action="append",
        default=None,
        metavar="NAME",
        help="CMSI parameter fitted globally (repeatable; default chi0; also alpha, ell0, eps)",
    )
    g.add_argument("--k-folds", type=int, default=5, help="folds of the cross-validation (0: none; default 5)")
    g.add_argument("--seed", type=int, default=0, help="seed of the fold split (default 0)")
    g.add_argument("--no-variants", action="store_true", help="skip the global fits of the option variants")
    g.add_argument(
        "--all-galaxies",
        action="store_true",
        help="no quality cuts: all 175 galaxies and points (default: the standard RAR cuts)",
    )
    g.add_argument(
        "--sample",
        default=None,
        metavar="DIR",
        help="fit the folder DIR of SPARC Rotmod files (<name>_rotmod.dat, optional galaxies.csv) instead of "
        "SPARC; standard cuts unless --all-galaxies; results in results/samples/<DIR's name>/ (not results/survey/)",
    )
    g.add_argument(
        "--joint",
        action="store_true",
        help="compute the joint fit (CMSI's joint MAP with every galaxy's nuisance, results/stages/joint_fit/; "
        "a few minutes) unless cached; without it, it is only read from the cache",
    )
    o = p.add_argument_group("CMSI options on SPARC (see cmsi_lib.options.SparcOptions)")
    o.add_argument("--vc-mode", default=None, help="baryonic (default), self-consistent or observed")
    o.add_argument("--sigma-v-model", default=None, help="constant (default) or stellar-disk")
    o.add_argument("--sigma-v-value", type=float, default=None, help="sigma_v or its floor [km/s] (default 10)")
    o.add_argument("--sigma-definition", default=None, help="stellar (default) or stellar+gas")
    d = p.add_argument_group("Dask")
    d.add_argument(
        "--scheduler",
        default=None,
        help="'local' (default: a LocalCluster), 'serial', or a scheduler address tcp://host:port",
    )
    d.add_argument("--workers", type=worker_count, default=2, help="LocalCluster workers, 1 or more (default 2)")
    d.add_argument("--progress", action="store_true", help="show progress bars")
    p.add_argument("--no-write", action="store_true", help="do not write results/survey/")
    p.add_argument(
        "--force",
        action="store_true",
        help="recompute even when results/survey/ holds the survey of these inputs (see results/stages/survey/); "
        "the joint fit too",
    )
    p.set_defaults(func=run)


def sample_results_dir(folder: Path) -> Path:
    """Where a ``--sample`` run keeps its results: results/samples/<folder's name>/ (the results folder
    itself when it is that already: a second run in the same process)."""
    here, name = paths.results_dir(), folder.resolve().name
    return here if (here.parent.name, here.name) == ("samples", name) else here / "samples" / name


def load_sample_arg(folder: str) -> tuple[Path, dict]:
    """The ``--sample`` folder and its galaxies (``rotmod.load_sample``), checked before any fit."""
    d = Path(folder).expanduser()
    if not d.is_dir():
        raise InputError(f"--sample {folder}: not a folder (give a folder of SPARC Rotmod files <name>_rotmod.dat)")
    galaxies = rotmod.load_sample(d)
    if not galaxies:
        raise InputError(f"--sample {folder}: no Rotmod file (<name>_rotmod.dat) in the folder")
    return d, galaxies


def joint_fit(args, options, cuts, galaxies=None, sample_dir=None) -> tuple[dict, bool]:
    """The joint-fit stage (``joint_survey.joint_fit_stage``) of these options, cuts and sample."""
    return joint_survey.joint_fit_stage(options, cuts, galaxies=galaxies, sample_dir=sample_dir, force=args.force)


def posterior_entry(options, cuts, sample_dir) -> dict:
    """The cached posterior stage as ``posterior_stage.json_entry`` gives it, or {"note": why not}: the stage
    samples SPARC after the standard cuts (``make book`` computes it for the default options); it is
    never computed here (minutes)."""
    if sample_dir is not None or cuts != sparc.QualityCuts():
        return {"note": "the posterior is sampled for SPARC with the standard cuts only"}
    res = posterior_stage.cached_stage(options=options)
    if res is None:
        return {"note": "not computed for these options (make book computes it for the defaults; the "
                        "posterior chapter, chapters/sparc/posterior.md, for others)"}  # fmt: skip
    return posterior_stage.json_entry(res, options)


def survey_summary(args, settings: dict) -> tuple[dict, bool]:
    """The survey's summary (what ``run_survey`` returns, as JSON reads it back) and whether it was
    cached. ``settings``: run_survey's keyword arguments that change its result (params, options, cuts,
    models_to_fit, free, k_folds, seed, variants). Reused only if results/survey/ still holds the files
    the run of the same key wrote; with --no-write a miss is computed and nothing is stored."""
    inputs = {k: (dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v) for k, v in settings.items()}
    inputs["params"] = settings["params"].as_dict()
    inputs["options"] = settings["options"].as_dict()
    if settings.get("galaxies") is not None:  # a --sample run: its files, not the Galaxy objects
        inputs["galaxies"] = joint_survey.sample_descriptor(args.sample)
    dask = {"scheduler": args.scheduler, "n_workers": args.workers, "progress": args.progress}
    if args.no_write:
        key = stages.stage_key("survey", inputs, MODULES, DATA_FILES)
        hit = None if args.force else stages.cached("survey", key)
        if hit is not None:
            return hit["summary"], True
        return run_survey(**settings, **dask, write=False), False
    out, was_cached = stages.run_stage(
        "survey",
        inputs,
        lambda: {"summary": run_survey(**settings, **dask, write=True)},
        MODULES,
        DATA_FILES,
        force=args.force,
        outputs=[survey_dir()],
    )
    return out["summary"], was_cached


def run(args):
    params = params_from_args(args)
    opt = {
        k: v
        for k, v in (
            ("vc_mode", args.vc_mode),
            ("sigma_v_model", args.sigma_v_model),
            ("sigma_v_value", args.sigma_v_value),
            ("sigma_definition", args.sigma_definition),
        )
        if v is not None
    }
    try:
        options = SparcOptions(**opt)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    cuts = sparc.QualityCuts(None, None, None) if args.all_galaxies else sparc.QualityCuts()
    unknown = [m for m in args.models if m not in SURVEY_MODELS]
    if unknown:
        raise InputError(f"unknown model(s) {unknown}; valid: {list(SURVEY_MODELS)}")
    if args.k_folds < 0 or args.k_folds == 1:
        raise InputError(f"--k-folds {args.k_folds}: use 0 (no cross-validation) or at least 2")
    sample_dir, galaxies = load_sample_arg(args.sample) if args.sample is not None else (None, None)
    datafiles.record_mirror()
    if sample_dir is not None:
        _use_sample_results(sample_dir)
    settings = dict(
        params=params,
        options=options,
        cuts=cuts,
        models_to_fit=tuple(args.models),
        free=tuple(args.free or ("chi0",)),
        k_folds=args.k_folds,
        seed=args.seed,
        variants=not args.no_variants,
    )
    if sample_dir is not None:
        settings |= {"galaxies": galaxies, "sample_name": sample_dir.resolve().name}
    summary, was_cached = survey_summary(args, settings)
    if args.joint:
        joint = joint_fit(args, options, cuts, galaxies, sample_dir)[0]
    else:
        joint = joint_survey.cached_stage(options, cuts, sample_dir)
    if was_cached:
        where = "results/survey/" if sample_dir is None else f"{survey_dir()}/"
        print(f"cmsi survey: {where} holds this survey (same inputs, data and code; --force recomputes)",
              file=sys.stderr)  # fmt: skip
        if not args.no_write:  # up to date now (make compares its time with the library's)
            (survey_dir() / "summary.json").touch()
    if args.json:
        out = {
            "models": [
                {
                    k: m[k]
                    for k in (
                        "model",
                        "n_galaxies",
                        "n_failed",
                        "n_skipped",
                        "n_points",
                        "median_chi2_red",
                        "frac_acceptable",
                        "aic_total",
                        "bic_total",
                        "rar_rms_dex",
                    )
                }
                for m in summary["models"]
            ],
            "common_sample": summary.get("common_sample"),
            "global_fit": summary["global_fit"],
            "counts": summary["counts"],
            "rar_fixed_nuisance_rms_dex": summary["rar_fixed_nuisance"]["rar_rms_dex"],
            "variants": [
                {k: v for k, v in x.items() if k not in ("profile", "failures_base")} for x in summary["variants"]
            ],
            "timings_s": summary["timings_s"],
        }
        if joint is not None:
            out["joint_fit"] = joint_survey.json_entry(joint)
            out["joint_fit"]["posterior"] = posterior_entry(options, cuts, sample_dir)
        print_json(out)
        return 0
    _print_summary(summary)
    if joint is not None:
        sys.stdout.write(f"joint fit: {joint_survey.verdict(joint)}\n")
    return 0


def _use_sample_results(sample_dir: Path) -> None:
    """Point this process (and the Dask workers it starts) at results/samples/<name>/, keeping the data
    mirror found so far (it may be recorded only in the book's results/config.json)."""
    mirror = datafiles.mirror_dir()
    if mirror is not None and paths.mirror_dir() is None:
        os.environ["CMSI_DATA_DIR"] = str(mirror)
    out = sample_results_dir(sample_dir)
    out.mkdir(parents=True, exist_ok=True)
    os.environ["CMSI_RESULTS_DIR"] = str(out)


def _print_summary(summary: dict) -> None:
    """The survey's summary as a short text report on stdout."""
    w = sys.stdout.write
    w(f"SPARC survey: {summary['n_galaxies']} galaxies, {summary['n_points']} points after the cuts\n")
    w(
        f"{'model':<12}{'fitted':>7}{'failed':>7}{'skipped':>8}{'med chi2_red':>13}{'acceptable':>11}"
        f"{'AIC':>12}{'rms dex':>9}\n"
    )
    for m in summary["models"]:
        w(
            f"{m['model']:<12}{m['n_galaxies']:>7}{m['n_failed']:>7}{m['n_skipped']:>8}{m['median_chi2_red']:>13.3g}"
            f"{m['frac_acceptable']:>11.2f}{m['aic_total']:>12.4g}{m['rar_rms_dex']:>9.3f}\n"
        )
    gf = summary["global_fit"]
    w(
        f"global CMSI fit ({', '.join(gf['free'])}): "
        + ", ".join(f"{k} = {gf['params'][k]:.4g}" for k in gf["free"])
        + f" ({gf['how']})\n"
    )
    w(
        f"  chi2/point: best {gf['chi2_per_point_best']:.4g}, at the given parameters "
        f"{gf['chi2_per_point_base']:.4g}, Newtonian {gf['chi2_per_point_newton']:.4g}; "
        f"CV in-sample {gf['cv_in_sample_chi2_per_point']:.4g}, out-of-sample "
        f"{gf['cv_out_of_sample_chi2_per_point']:.4g}\n"
    )
    for v in summary["variants"]:
        if "error" in v:
            w(f"  variant {v['option']}={v['value']}: {v['error']}\n")
        else:
            w(
                f"  variant {v['option']}={v['value']}: best "
                + ", ".join(f"{k} = {x:.4g}" for k, x in v["best"].items())
                + f", chi2/point {v['chi2_per_point_best']:.4g}; galaxies without a solution at the given "
                f"parameters: {v['n_failed_base']}\n"
            )
    w(f"time: {summary['timings_s']['total_s']:.1f} s\n")
