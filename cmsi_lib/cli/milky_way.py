"""`cmsi milky-way`: chi^2 of each model on the Eilers et al. 2019 curve and the chi0 the Milky Way prefers.

Models: Newtonian baryons (McMillan 2017 without its halo, from galpy), the full McMillan 2017
model with its halo, the RAR/MOND-like curve from v_bar, CMSI at the given parameters in each
v_c mode, CMSI with chi0 fitted to the Milky Way alone (other parameters fixed) in each v_c mode,
and CMSI at the SPARC survey's global fit when that result exists. The numbers are those of
``cmsi_lib.milky_way.analyse``, the entry point the book's chapter calls.

The JSON document is a stage (``cmsi_lib.stages``, results/stages/milky-way/): printed from its entry
when the parameters, choices, data, the SPARC survey's global fit, galpy's version and the code are
unchanged; ``--force`` recomputes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import math
import os
import sys

from .. import datafiles, stages
from .. import milky_way as mw
from ..errors import InputError
from ..kernel import VC_MODES
from ..milky_way_data import EILERS_FILES, MROZ_FILE
from ..results import survey_global_fit_file
from . import params_from_args, print_json

#: the modules the stage runs (their sources, and those they import, enter its key)
MODULES = ("cmsi_lib.milky_way", "cmsi_lib.cli.milky_way")
#: the data files the stage reads (their registry sha256 enter its key)
DATA_FILES = (*EILERS_FILES.values(), MROZ_FILE)


def register(sub, common):
    p = sub.add_parser(
        "milky-way",
        parents=[common],
        help="chi^2 of each model on the Milky Way's circular-velocity curve (Eilers et al. 2019)",
        description=__doc__,
    )
    p.add_argument(
        "--vc-mode",
        choices=VC_MODES,
        default="baryonic",
        help="v_c inside F for the headline chi0 fit (default baryonic); all three are fitted",
    )
    p.add_argument(
        "--sigma-v",
        default="stellar-radial",
        metavar="CHOICE",
        help=f"sigma_v: one of {', '.join(mw.SIGMA_V_CHOICES)} or a number in km/s (default stellar-radial)",
    )
    p.add_argument(
        "--sigma-components",
        choices=mw.SIGMA_COMPONENTS,
        default="baryons",
        help="components whose surface density enters F (default baryons)",
    )
    p.add_argument(
        "--zmax",
        type=float,
        default=mw.ZMAX_DEFAULT,
        help=f"|z| limit of the surface-density integral in kpc (default {mw.ZMAX_DEFAULT:g})",
    )
    p.add_argument(
        "--errors",
        choices=mw.ERROR_CONVENTIONS,
        default="symmetric",
        help="how the two Eilers error columns are read (default: their mean)",
    )
    p.add_argument(
        "--systematic",
        type=float,
        default=0.0,
        metavar="FRAC",
        help="fractional systematic error added in quadrature (default 0; Eilers quote 0.02-0.05)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="recompute even when results/stages/milky-way/ holds "
        "this result (the galpy baryon grid keeps its own cache in results/milky_way/)",
    )
    p.set_defaults(func=run)  # fmt: skip


def _sigma_v_arg(text: str):
    if text in mw.SIGMA_V_CHOICES:
        return text
    try:
        x = float(text)
    except ValueError:
        raise InputError(f"--sigma-v {text!r} is not one of {mw.SIGMA_V_CHOICES} or a number [km/s]") from None
    if not (math.isfinite(x) and x > 0):
        raise InputError(f"--sigma-v must be > 0 km/s, got {text!r}")
    return x


def _options(args) -> mw.MilkyWayOptions:
    if not (math.isfinite(args.zmax) and args.zmax > 0):
        raise InputError(f"--zmax must be > 0 kpc, got {args.zmax!r}")
    if not (math.isfinite(args.systematic) and args.systematic >= 0):
        raise InputError(f"--systematic must be >= 0, got {args.systematic!r}")
    return mw.MilkyWayOptions(errors=args.errors, systematic=args.systematic, sigma_v=_sigma_v_arg(args.sigma_v),
                              sigma_components=args.sigma_components, zmax=args.zmax, vc_mode=args.vc_mode)  # fmt: skip


def as_json(res: mw.MilkyWayResult) -> dict:
    """The JSON document of ``cmsi milky-way --json``."""
    o, c = res.options, res.curve
    return {
        "data": {"name": c.name, "n": len(c), "errors": o.errors, "systematic": o.systematic, "source": str(c.source)},
        "choices": {"sigma_v": o.sigma_v, "sigma_components": o.sigma_components, "zmax_kpc": o.zmax,
                    "vc_mode_fit": o.vc_mode},
        "params": res.params.as_dict(),
        "params_hash": res.params.hash,
        "models": [r.as_dict() for r in res.models],
        "chi0_fit": res.fit.chi0,
        "chi0_fit_detail": res.fit.as_dict(),
        "chi0_fits": {m: f.as_dict() for m, f in res.fits.items()},
        "sparc_survey_params": None if res.survey is None else res.survey.as_dict(),
    }  # fmt: skip


def _file_sha(path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def stage_inputs(params, options: mw.MilkyWayOptions) -> dict:
    """What the Milky Way result depends on besides its data files and code: the parameters, the
    choices, the SPARC survey's global fit file (its sha256; None before the survey has run), galpy's
    version (the baryon grid) and where the data are read from (the JSON names the source file)."""
    return {
        "params": params.as_dict(),
        "options": dataclasses.asdict(options),
        "survey_global_fit_sha256": _file_sha(survey_global_fit_file()),
        "galpy": importlib.metadata.version("galpy"),
        "data_dir": str(datafiles.mirror_dir()),
        "cache_dir": os.environ.get("CMSI_CACHE_DIR"),
    }


def milky_way_json(params, options: mw.MilkyWayOptions, force: bool = False) -> tuple[dict, bool]:
    """``as_json(milky_way.analyse(params, options))`` through the stage cache: (document, was_cached)."""
    return stages.run_stage("milky-way", stage_inputs(params, options), lambda: as_json(mw.analyse(params, options)),
                            MODULES, DATA_FILES, force)  # fmt: skip


def run(args):
    params = params_from_args(args)  # invalid parameters fail here, before any galpy work
    options = _options(args)
    datafiles.record_mirror()
    doc, was_cached = milky_way_json(params, options, force=args.force)  # a data-file error exits 2
    if was_cached:
        print("cmsi milky-way: cached result (same inputs, data and code; --force recomputes)", file=sys.stderr)
    if args.json:
        print_json(doc)
        return 0
    d, ch, fit = doc["data"], doc["choices"], doc["chi0_fit_detail"]
    print(f"{d['name']}: {d['n']} points, errors {d['errors']}; sigma_v {ch['sigma_v']}, "
          f"Sigma from {ch['sigma_components']} within |z| < {ch['zmax_kpc']:g} kpc")  # fmt: skip
    print(f"{'model':40s} {'chi2':>12s} {'chi2/N':>10s}  note")
    for r in doc["models"]:
        c2 = "runaway" if r["chi2"] is None else f"{r['chi2']:.5g}"
        cn = "" if r["chi2"] is None else f"{r['chi2_per_point']:.4g}"
        print(f"{r['model']:40s} {c2:>12s} {cn:>10s}  {r['note'][:70]}")
    print(f"chi0 the Milky Way alone prefers ({ch['vc_mode_fit']}): {fit['chi0']:.4g} "
          f"(delta chi2 = 1: {fit['lo']:.4g} - {fit['hi']:.4g}; min chi2 = {fit['chi2_min']:.5g} for {fit['n']} "
          "points" + ("; at the edge of the search range" if fit["at_bound"] else "") + ")")  # fmt: skip
    if doc["sparc_survey_params"] is None:
        print("SPARC survey global fit: not available (run `cmsi survey`)")
    return 0
