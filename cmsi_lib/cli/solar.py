"""`cmsi solar`: CMSI's eps = F - 1 at each Solar System body and every observable against its bound.

The result is a stage (``cmsi_lib.stages``, results/stages/solar/): printed from its entry when the
parameters, choices and code are unchanged; ``--force`` recomputes.
"""

from __future__ import annotations

import sys

from .. import datafiles, stages
from .. import solar_system as ss
from ..errors import InputError
from ..solar_system import SIGMA_DEFINITIONS
from . import params_from_args, print_json

#: the modules the stage runs (their sources, and those they import, enter its key)
MODULES = ("cmsi_lib.solar_system", "cmsi_lib.cli.solar")


def _definition(text: str):
    if text in SIGMA_DEFINITIONS:
        return text
    try:
        x = float(text)
    except ValueError:
        raise InputError(
            f"--sigma-def {text!r} is not one of {', '.join(SIGMA_DEFINITIONS)} nor a number >= 0 (Msun/pc^2)"
        ) from None
    if not x >= 0:
        raise InputError(f"--sigma-def {text}: Sigma must be >= 0 Msun/pc^2")
    return x


def register(sub, common):
    p = sub.add_parser(
        "solar",
        parents=[common],
        help="CMSI in the Solar System: eps per body and each observable vs its bound",
        description="For each Sigma definition: eps = F - 1 at Mercury..Neptune and the Moon, and each "
        "observable's prediction, bound and pass/fail (pass iff |prediction - central| <= tolerance).",
    )
    p.add_argument(
        "--sigma-def",
        action="append",
        default=[],
        metavar="NAME|VALUE",
        help="Sigma definition (point-mass, planet-annulus, minor-bodies, galactic-disk) or a "
        "constant Sigma in Msun/pc^2; repeatable; default: all four",
    )
    p.add_argument(
        "--sigma-v",
        default="orbit-ei",
        choices=ss.SIGMA_V_MODELS,
        help="sigma_v model: v_c sqrt(e^2+i^2) of the body's own orbit, the planets' rms, or "
        "sigma_v = v_c (N_coh = 1) (default orbit-ei)",
    )
    p.add_argument("--force", action="store_true", help="recompute even when results/stages/solar/ holds this result")
    p.set_defaults(func=run)


def solar_result(params, defs, sigma_v: str, force: bool = False) -> tuple[dict, bool]:
    """``solar_system.analyse(...).as_dict()`` through the stage cache: (result, was_cached)."""
    inputs = {"params": params.as_dict(), "sigma_definitions": defs, "sigma_v": sigma_v}
    return stages.run_stage("solar", inputs, lambda: ss.analyse(params, defs, sigma_v).as_dict(), MODULES, force=force)


def run(args):
    params = params_from_args(args)
    defs = [_definition(t) for t in args.sigma_def] or list(ss.SIGMA_DEFINITIONS)
    datafiles.record_mirror()
    out, was_cached = solar_result(params, defs, args.sigma_v, force=args.force)
    if was_cached:
        print("cmsi solar: cached result (same inputs and code; --force recomputes)", file=sys.stderr)
    if args.json:
        print_json(out)
        return 0
    print(f"CMSI parameters {out['params']} (hash {out['params_hash']}); sigma_v model {args.sigma_v}")
    print(f"pass rule: {out['pass_rule']}")
    for d in {r["sigma_definition"]: None for r in out["bodies"]}:
        print(f"\n== Sigma definition: {d}")
        print(f"  {'body':8s} {'Sigma [Msun/pc^2]':>18s} {'v_c [km/s]':>11s} {'sigma_v [km/s]':>15s} {'eps':>11s}")
        for r in out["bodies"]:
            if r["sigma_definition"] == d:
                print(
                    f"  {r['body']:8s} {r['Sigma_Msun_pc2']:18.4g} {r['v_c_kms']:11.4g} "
                    f"{r['sigma_v_kms']:15.4g} {r['eps']:11.4g}"
                )
        for r in out["observables"]:
            if r["sigma_definition"] == d:
                verdict = "pass" if r["passes"] else "FAIL"
                print(
                    f"  {verdict} x{r['ratio']:<9.3g} {r['observable']} [{r['body']}]: predicted "
                    f"{r['prediction']:.4g} {r['unit']}, allowed {r['central']:.3g} +- {r['tolerance']:.3g}"
                    + (" (check)" if r["check"] else "")
                )
        chi = next(c["max_chi0"] for c in out["max_chi0"] if c["sigma_definition"] == d)
        print(f"  largest chi0 allowed (every bound but the seed's own comparison): {chi:.3g}")
    return 0
