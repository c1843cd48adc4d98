"""`cmsi data`: the SPARC sample at a glance.

cmsi data summary [--json]     galaxies, points, and the counts kept by each default quality cut
cmsi data galaxy NAME [--json] one galaxy's Table-1 properties and number of points
"""

from __future__ import annotations

import dataclasses
import math
import sys

from .. import datafiles, sparc
from . import print_json


def register(sub, common):
    p = sub.add_parser("data", parents=[common], help="the SPARC data: sample summary, cut counts, one galaxy")
    p.add_argument("what", choices=("summary", "galaxy"), help="summary: the sample and its cuts; galaxy: one galaxy")
    p.add_argument("name", nargs="?", help="galaxy name (for `cmsi data galaxy`), e.g. NGC3198")
    p.set_defaults(func=run)


def summary() -> dict:
    gals = sparc.load_galaxies()
    cuts = sparc.QualityCuts()
    _, counts = sparc.apply_cuts(gals, cuts)
    reg = datafiles.registry()
    return {
        "galaxies": len(gals),
        "points": sum(g.n_points for g in gals.values()),
        "default_cuts": dataclasses.asdict(cuts),
        "after_cuts": counts.as_dict(),
        "quality_flags": {str(q): sum(g.Q == q for g in gals.values()) for q in (1, 2, 3)},
        "with_bulge": sum(g.has_bulge for g in gals.values()),
        "vflat_measured": sum(not math.isnan(g.Vflat) for g in gals.values()),
        "files": {f: reg[f].sha256 for f in (sparc.TABLE1_FILE, sparc.TABLE2_FILE)},
    }


def galaxy(name: str) -> dict:
    g = sparc.get_galaxy(name)
    out = {
        f.name: getattr(g, f.name)
        for f in dataclasses.fields(g)
        if not f.name[0].islower() or f.name in ("name", "inc", "e_inc", "refs")
    }
    out = {k: v for k, v in out.items() if not hasattr(v, "shape")}
    out["n_points"] = g.n_points
    out["R_range_kpc"] = [float(g.R.min()), float(g.R.max())]
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in out.items()}


def run(args):
    if args.what == "galaxy":
        if not args.name:
            print("cmsi data galaxy: error: give a galaxy name, e.g. cmsi data galaxy NGC3198", file=sys.stderr)
            return 2
        try:
            info = galaxy(args.name)
        except sparc.UnknownGalaxyError as exc:
            print(f"cmsi data: error: {exc}", file=sys.stderr)
            return 2
        if args.json:
            print_json(info)
        else:
            for k, v in info.items():
                print(f"{k:>12}  {v}")
        return 0
    s = summary()
    if args.json:
        print_json(s)
        return 0
    print(f"SPARC (Lelli, McGaugh & Schombert 2016): {s['galaxies']} galaxies, {s['points']} points")
    print("kept after each default cut (cumulative):")
    for cut, c in s["after_cuts"].items():
        print(f"  {cut:>15}  {c['galaxies']:4d} galaxies  {c['points']:5d} points   {c['description']}")
    print(
        f"quality flags: {s['quality_flags']}; with a bulge: {s['with_bulge']}; Vflat measured: {s['vflat_measured']}"
    )
    return 0
