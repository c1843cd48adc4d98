"""Benchmark of the Milky Way baryon grid (issue 11, item 4). Run from the repository root:

    .venv/bin/python benchmarks/bench_mw_baryons.py [--sample 11] [--full] [--write]

The grid is galpy's McMillan17 speeds on 55 radii (3-30 kpc) plus the surface density of the bulge,
stellar disks and gas disks there. Measured in fresh processes (galpy's import is most of a cold run):

  before  the old code path: import McMillan17, build the stellar AND gas DiskSCFPotentials, 7 force
          evaluations, and one galpy quadrature (evaluateSurfaceDensities) per radius per component;
          the quadratures are timed at ``--sample`` radii spread over the grid and scaled to 55
          (``--full``: all 55, several minutes);
  after   ``baryon_grid(use_cache=False)`` end to end: import McMillan17, build the stellar disks only,
          4 force evaluations (gas = disk - stars), the closed-form surface densities;
  warm    ``baryon_grid()`` reading the cached speeds (plus the closed forms) in a fresh process;
  floor   numpy evaluating Sigma0 exp(-R_hole/R - R/R_d) of the four disks on the 55 radii.

With --write the figures go to benchmarks/mw_baryons.md with the machine and its load.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _child_before(sample: int, full: bool) -> dict:
    """The old grid's pieces, timed in this (fresh) process."""
    import numpy as np  # imported here: this runs in a fresh child process, timed from its start

    from cmsi_lib import milky_way_baryons as mwb  # noqa: E402 (imported here: see above)

    out = {}
    t = time.perf_counter()
    _, (disk, halo, bulge) = mwb.mcmillan17()
    out["import McMillan17"] = time.perf_counter() - t
    t = time.perf_counter()
    stars = mwb.stellar_disks_potential()
    out["build stellar disks"] = time.perf_counter() - t
    t = time.perf_counter()
    comps = mwb.baryonic_components()  # the stellar disks are cached: this builds the gas disks
    out["build gas disks"] = time.perf_counter() - t
    R = mwb.GRID_R
    t = time.perf_counter()
    for p in (bulge, stars, comps["gas disks"], [disk, bulge], [disk, halo, bulge]):
        mwb.signed_speed(p, R)  # the old grid's 5 speed arrays (7 potentials evaluated)
    out["old speeds (7 potentials)"] = time.perf_counter() - t
    idx = np.arange(len(R)) if full else np.unique(np.linspace(0, len(R) - 1, sample).round().astype(int))
    quad = {}
    for name, pot in comps.items():
        t = time.perf_counter()
        mwb.surface_density_direct(pot, R[idx])
        quad[name] = (time.perf_counter() - t) * len(R) / len(idx)
    out["Sigma quadratures (scaled to 55 radii)"] = sum(quad.values())
    out["Sigma quadrature per component"] = quad
    out["radii timed"] = int(len(idx))
    return out


def _child_after() -> dict:
    from cmsi_lib import milky_way_baryons as mwb  # imported here: timed from a fresh process

    t = time.perf_counter()
    grid = mwb.baryon_grid(use_cache=False)
    return {
        "cold grid": time.perf_counter() - t,
        "galpy part": grid.meta["seconds"],
        "Sigma": grid.meta["Sigma_seconds"],
    }


def _child_warm() -> dict:
    t = time.perf_counter()
    from cmsi_lib import milky_way_baryons as mwb  # imported here: timed from a fresh process

    t1 = time.perf_counter()
    mwb.baryon_grid()
    return {"import cmsi_lib.milky_way_baryons": t1 - t, "warm grid": time.perf_counter() - t1}


def _closed_form_and_floor() -> dict:
    import numpy as np  # imported here: only the parent measures this

    from cmsi_lib import milky_way_baryons as mwb  # imported here: see above

    R = mwb.GRID_R
    D = [(d["Sigma0"], d["R_hole"], d["R_d"]) for d in mwb.MCMILLAN17_DISKS.values()]

    def floor():
        return [S0 * np.exp(-Rm / R - R / Rd) for S0, Rm, Rd in D]

    def closed():
        return {n: mwb.surface_density(R, n) for n in mwb.SIGMA_GROUPS}

    def bulge():
        return mwb.bulge_surface_density(R)

    best = lambda f, n: min(timeit.repeat(f, number=n, repeat=7)) / n  # noqa: E731
    return {
        "floor": best(floor, 2000),
        "closed forms (3 groups)": best(closed, 50),
        "bulge quadrature": best(bulge, 50),
    }


def _run_child(kind: str, *extra: str) -> dict:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    t = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "--child", kind, *extra], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    res = json.loads(out.strip().splitlines()[-1])
    res["process wall"] = time.perf_counter() - t
    return res


def _report(r: dict, load0, load1) -> str:
    b, a, w, c = r["before"], r["after"], r["warm"], r["closed"]
    sig_old = b["Sigma quadratures (scaled to 55 radii)"]
    closed, bulge, floor = c["closed forms (3 groups)"], c["bulge quadrature"], c["floor"]
    parts = ("import McMillan17", "build stellar disks", "build gas disks", "old speeds (7 potentials)")
    before_total = sum(b[k] for k in parts) + sig_old
    per_comp = ", ".join(f"{k} {v:.1f}" for k, v in b["Sigma quadrature per component"].items())
    lines = [
        f"# Milky Way baryon grid (issue 11, item 4) — {datetime.date.today()}",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores (`nproc`), Python {platform.python_version()}, "
        f"galpy {r['galpy']}; load average (1 min) {load0:.2f} at the start, {load1:.2f} at the end "
        "(other sessions were using the machine). `benchmarks/bench_mw_baryons.py`; each cold figure in a "
        "fresh process.",
        "",
        "| Sigma on the 55 grid radii | seconds | / floor |",
        "|---|---|---|",
        f"| floor: numpy, Sigma0 exp(-R_hole/R - R/R_d) of the 4 disks | {floor:.2e} | 1 |",
        f"| after: closed forms of bulge, stellar and gas disks | {closed:.2e} | {closed / floor:.3g} |",
        f"| … of which the bulge's vectorised quadrature | {bulge:.2e} | {bulge / floor:.3g} |",
        f"| before: one galpy quadrature per radius per component (timed at {b['radii timed']} radii, scaled) | "
        f"{sig_old:.1f} | {sig_old / floor:.3g} |",
        "",
        "| grid, cold (galpy import included) | seconds |",
        "|---|---|",
        f"| before: import McMillan17 | {b['import McMillan17']:.1f} |",
        f"| before: build stellar disks | {b['build stellar disks']:.1f} |",
        f"| before: build gas disks | {b['build gas disks']:.1f} |",
        f"| before: speeds (7 potentials, vectorised) | {b['old speeds (7 potentials)']:.1f} |",
        f"| before: Sigma quadratures (scaled to 55 radii) | {sig_old:.1f} |",
        f"| **before: total** | **{before_total:.1f}** |",
        f"| **after: `baryon_grid(use_cache=False)`** (galpy part {a['galpy part']:.1f}, Sigma {a['Sigma']:.1e}) | "
        f"**{a['cold grid']:.1f}** |",
        f"| after / before | {a['cold grid'] / before_total:.3f} |",
        f"| warm: `baryon_grid()` from the cache (+ {w['import cmsi_lib.milky_way_baryons']:.2f} s import) | "
        f"{w['warm grid']:.3f} |",
        "",
        f"Per component, the old quadratures (scaled to 55 radii, s): {per_comp}. What remains of a cold grid is "
        "galpy: importing McMillan17 (its SCF coefficients) and building the stellar disks' expansion for the "
        "figure's split; its force evaluations are vectorised.",
        "",
    ]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sample", type=int, default=11, help="radii at which the old quadratures are timed")
    ap.add_argument("--full", action="store_true", help="time the old quadratures at all 55 radii")
    ap.add_argument("--write", action="store_true", help="write benchmarks/mw_baryons.md")
    ap.add_argument("--child", choices=("before", "after", "warm"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        res = {"before": lambda: _child_before(args.sample, args.full), "after": _child_after, "warm": _child_warm}
        print(json.dumps(res[args.child]()))
        return
    import importlib.metadata  # imported here: only the parent reports versions

    load0 = os.getloadavg()[0]
    extra = ["--sample", str(args.sample)] + (["--full"] if args.full else [])
    r = {"galpy": importlib.metadata.version("galpy"), "closed": _closed_form_and_floor()}
    r["before"] = _run_child("before", *extra)
    r["after"] = _run_child("after")
    _run_child("warm")  # writes the speed cache if it is missing (e.g. after a change of the code)
    r["warm"] = _run_child("warm")
    text = _report(r, load0, os.getloadavg()[0])
    print(text)
    print(json.dumps(r, indent=1))
    if args.write:
        (ROOT / "benchmarks" / "mw_baryons.md").write_text(text)


if __name__ == "__main__":
    main()
