"""`cmsi milky-way`: chi^2 of each model on the Eilers et al. 2019 curve and the chi0 the Milky Way prefers.

Models: Newtonian baryons (McMillan 2017 without its halo, from galpy), the full McMillan 2017
model with its halo, the RAR/MOND-like curve from v_bar, CMSI at the given parameters in each
v_c mode, CMSI with chi0 fitted to the Milky Way alone (other parameters fixed), and CMSI at the
SPARC survey's global fit when that result exists.
"""

from __future__ import annotations

import math

from . import params_from_args, print_json

VC_MODES = ("baryonic", "self-consistent", "observed")


def register(sub, common):
    from ..milky_way import ERROR_CONVENTIONS, SIGMA_COMPONENTS, SIGMA_V_CHOICES, ZMAX_DEFAULT

    p = sub.add_parser(
        "milky-way", parents=[common],
        help="chi^2 of each model on the Milky Way's circular-velocity curve (Eilers et al. 2019)",
        description=__doc__,
    )
    p.add_argument("--vc-mode", choices=VC_MODES, default="baryonic",
                   help="v_c inside F for the chi0 fit (default baryonic); chi^2 is listed for all three")
    p.add_argument("--sigma-v", default="stellar-radial", metavar="CHOICE",
                   help=f"sigma_v: one of {', '.join(SIGMA_V_CHOICES)} or a number in km/s (default stellar-radial)")
    p.add_argument("--sigma-components", choices=SIGMA_COMPONENTS, default="baryons",
                   help="components whose surface density enters F (default baryons)")
    p.add_argument("--zmax", type=float, default=ZMAX_DEFAULT,
                   help=f"|z| limit of the surface-density integral in kpc (default {ZMAX_DEFAULT:g})")
    p.add_argument("--errors", choices=ERROR_CONVENTIONS, default="symmetric",
                   help="how the two Eilers error columns are read (default: their mean)")
    p.add_argument("--systematic", type=float, default=0.0, metavar="FRAC",
                   help="fractional systematic error added in quadrature (default 0; Eilers quote 0.02-0.05)")
    p.set_defaults(func=run)


def _sigma_v_arg(text: str):
    from ..kernel import InputError
    from ..milky_way import SIGMA_V_CHOICES

    if text in SIGMA_V_CHOICES:
        return text
    try:
        x = float(text)
    except ValueError:
        raise InputError(f"--sigma-v {text!r} is not one of {SIGMA_V_CHOICES} or a number [km/s]") from None
    if not (math.isfinite(x) and x > 0):
        raise InputError(f"--sigma-v must be > 0 km/s, got {text!r}")
    return x


def run(args):
    from .. import milky_way as mw
    from ..kernel import InputError
    from ..params import Params
    from ..results import survey_global_params

    params = params_from_args(args)  # invalid parameters fail here, before any galpy work
    sigma_v = _sigma_v_arg(args.sigma_v)
    if not (math.isfinite(args.zmax) and args.zmax > 0):
        raise InputError(f"--zmax must be > 0 kpc, got {args.zmax!r}")
    if not (math.isfinite(args.systematic) and args.systematic >= 0):
        raise InputError(f"--systematic must be >= 0, got {args.systematic!r}")

    curve = mw.load_eilers(errors=args.errors)  # a data-file error exits 2 in cmsi's main
    if args.systematic:
        curve = curve.with_systematic(args.systematic)
    grid = mw.baryon_grid(zmax=args.zmax)
    inp = mw.inputs_at(curve.R_kpc, grid, sigma_v=sigma_v, sigma_components=args.sigma_components)

    fit = mw.fit_chi0(curve, inp, params, args.vc_mode)
    cmsi = {f"cmsi ({m})": (params, m) for m in VC_MODES}
    cmsi[f"cmsi chi0-fit ({args.vc_mode})"] = (Params.from_mapping({"chi0": fit.chi0}, params), args.vc_mode)
    survey = survey_global_params()
    if survey is not None:
        for m in VC_MODES:
            cmsi[f"cmsi sparc-survey ({m})"] = (survey, m)
    rows = mw.model_chi2_table(curve, inp, cmsi)

    out = {
        "data": {"name": curve.name, "n": len(curve), "errors": args.errors, "systematic": args.systematic,
                 "source": str(curve.source)},
        "choices": {"sigma_v": sigma_v, "sigma_components": args.sigma_components, "zmax_kpc": args.zmax,
                    "vc_mode_fit": args.vc_mode},
        "params": params.as_dict(),
        "params_hash": params.hash,
        "models": rows,
        "chi0_fit": fit.chi0,
        "chi0_fit_detail": fit.as_dict(),
        "sparc_survey_params": None if survey is None else survey.as_dict(),
    }
    if args.json:
        print_json(out)
        return 0
    print(f"{curve.name}: {len(curve)} points, errors {args.errors}; sigma_v {sigma_v}, "
          f"Sigma from {args.sigma_components} within |z| < {args.zmax:g} kpc")
    print(f"{'model':34s} {'chi2':>12s} {'chi2/N':>10s}  note")
    for r in rows:
        c2 = "runaway" if r["chi2"] is None else f"{r['chi2']:.5g}"
        cn = "" if r["chi2"] is None else f"{r['chi2_per_point']:.4g}"
        print(f"{r['model']:34s} {c2:>12s} {cn:>10s}  {r['note'][:70]}")
    print(f"chi0 the Milky Way alone prefers ({args.vc_mode}): {fit.chi0:.4g} "
          f"(delta chi2 = 1: {fit.lo:.4g} - {fit.hi:.4g}; min chi2 = {fit.chi2_min:.5g} for {fit.n} points"
          + ("; at the edge of the search range" if fit.at_bound else "") + ")")
    if survey is None:
        print("SPARC survey global fit: not available (run `cmsi survey`)")
    return 0
