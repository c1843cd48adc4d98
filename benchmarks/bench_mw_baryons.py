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

With --write the figures go to benchmarks/mw_baryons.md (between its figure markers; the rest of the file,
the glue comparison, is kept) with the machine and its load.
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


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(t0) -> list[float]:
    """[wall, CPU] seconds since ``t0`` (CPU time of this process: less sensitive to the machine's load)."""
    return [time.perf_counter() - t0[0], time.process_time() - t0[1]]


def _child_before(sample: int, full: bool) -> dict:
    """The old grid's pieces, timed in this (fresh) process: each a [wall, CPU] pair [s]."""
    import numpy as np  # imported here: this runs in a fresh child process, timed from its start

    from cmsi_lib import milky_way_baryons as mwb  # imported here: see above

    out = {}
    t = _clock()
    _, (disk, halo, bulge) = mwb.mcmillan17()
    out["import McMillan17"] = _since(t)
    t = _clock()
    stars = mwb.stellar_disks_potential()
    out["build stellar disks"] = _since(t)
    t = _clock()
    comps = mwb.baryonic_components()  # the stellar disks are cached: this builds the gas disks
    out["build gas disks"] = _since(t)
    R = mwb.GRID_R
    t = _clock()
    for p in (bulge, stars, comps["gas disks"], [disk, bulge], [disk, halo, bulge]):
        mwb.signed_speed(p, R)  # the old grid's 5 speed arrays (7 potentials evaluated)
    out["old speeds (7 potentials)"] = _since(t)
    idx = np.arange(len(R)) if full else np.unique(np.linspace(0, len(R) - 1, sample).round().astype(int))
    quad = {}
    for name, pot in comps.items():
        t = _clock()
        mwb.surface_density_direct(pot, R[idx])
        quad[name] = [x * len(R) / len(idx) for x in _since(t)]
    out["Sigma quadratures (scaled to 55 radii)"] = [sum(q[i] for q in quad.values()) for i in (0, 1)]
    out["Sigma quadrature per component"] = quad
    out["radii timed"] = int(len(idx))
    return out


def _child_after() -> dict:
    from cmsi_lib import milky_way_baryons as mwb  # imported here: timed from a fresh process

    t = _clock()
    grid = mwb.baryon_grid(use_cache=False)
    return {"cold grid": _since(t), "galpy part": grid.meta["seconds"], "Sigma": grid.meta["Sigma_seconds"]}


def _child_warm() -> dict:
    t = _clock()
    from cmsi_lib import milky_way_baryons as mwb  # imported here: timed from a fresh process

    out = {"import cmsi_lib.milky_way_baryons": _since(t)}
    t = _clock()
    mwb.baryon_grid()
    out["warm grid"] = _since(t)
    return out


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

    best = lambda f, n: min(timeit.repeat(f, number=n, repeat=7, timer=time.process_time)) / n  # noqa: E731
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
    before = [sum(b[k][i] for k in parts) + sig_old[i] for i in (0, 1)]
    after, imp = a["cold grid"], w["import cmsi_lib.milky_way_baryons"][0]
    per_comp = ", ".join(f"{k} {v[0]:.1f} ({v[1]:.1f} CPU)" for k, v in b["Sigma quadrature per component"].items())
    row = lambda name, x: f"| {name} | {x[0]:.1f} | {x[1]:.1f} |"  # noqa: E731
    lines = [
        f"## Figures ({datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores (`nproc`), Python {platform.python_version()}, "
        f"galpy {r['galpy']}; load average (1 min) {load0:.2f} at the start, {load1:.2f} at the end "
        "(other sessions were using the machine: wall times are inflated, the CPU seconds of each process "
        "much less). `benchmarks/bench_mw_baryons.py`; each cold figure in a fresh process.",
        "",
        "| Sigma on the 55 grid radii | seconds (CPU, best of 7) | / floor |",
        "|---|---|---|",
        f"| floor: numpy, Sigma0 exp(-R_hole/R - R/R_d) of the 4 disks | {floor:.2e} | 1 |",
        f"| after: closed forms of bulge, stellar and gas disks | {closed:.2e} | {closed / floor:.3g} |",
        f"| … of which the bulge's vectorised quadrature | {bulge:.2e} | {bulge / floor:.3g} |",
        f"| before: one galpy quadrature per radius per component (timed at {b['radii timed']} radii, scaled) | "
        f"{sig_old[1]:.1f} | {sig_old[1] / floor:.3g} |",
        "",
        "| grid, cold (galpy import included) | wall [s] | CPU [s] |",
        "|---|---|---|",
        *(row(f"before: {k}", b[k]) for k in parts),
        row("before: Sigma quadratures (scaled to 55 radii)", sig_old),
        row("**before: total**", before),
        row(f"**after: `baryon_grid(use_cache=False)`** (Sigma {a['Sigma']:.1e} s of it)", after),
        f"| after / before | {after[0] / before[0]:.3f} | {after[1] / before[1]:.3f} |",
        f"| warm: `baryon_grid()` from the cache, fresh process (importing the module: {imp:.2f} s more) | "
        f"{w['warm grid'][0]:.3f} | {w['warm grid'][1]:.3f} |",
        "",
        f"Per component, the old quadratures (scaled to 55 radii, wall s): {per_comp}. What remains of a cold "
        "grid is galpy: importing McMillan17 (its SCF coefficients) and building the stellar disks' expansion "
        "for the figure's split; its force evaluations are vectorised.",
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
        _write_figures(ROOT / "benchmarks" / "mw_baryons.md", text)


def _write_figures(md: Path, text: str) -> None:
    """Put ``text`` between the figure markers of ``md`` (the rest of the file is kept), or write it."""
    start, end = "<!-- figures: bench_mw_baryons.py -->", "<!-- /figures -->"
    block = f"{start}\n{text}\n{end}"
    old = md.read_text() if md.exists() else ""
    if start in old and end in old:
        block = old[: old.index(start)] + block + old[old.index(end) + len(end) :]
    md.write_text(block + ("" if block.endswith("\n") else "\n"))


if __name__ == "__main__":
    main()
