"""Benchmark of CMSI's joint MAP as the build finds it (issue 13's "joint MAP on 147 galaxies in at most
30 s on 2 cores"): ``joint_survey.best_cmsi``, the fit from the seed's defaults and the fit through the
corner F = 1 + A (v_c/c)^2, on SPARC's standard sample, against floors measured in the same run.

    CMSI_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_joint_best.py [--rounds 2] [--workers 2 1]

``bench_jointfit.py`` times the fit from the seed alone, which ends at Newton's objective; the joint
fit stage reports the corner path's optimum, so this script times that path too. Per round: the
floors (one residual evaluation and one sparse Jacobian of the 476-parameter problem; the Newton-only
joint MAP of the same size), then ``best_cmsi`` on each number of ``--workers`` (processes for its
independent fits; 1: one after another), with its wall time and each start's own fit time (the corner's:
its ladder's fits and the full fit, summed). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import bench_atlas  # noqa: E402  (the machine description)
import bench_jointfit  # noqa: E402  (the floor: one residual evaluation, one Jacobian)


def one_round(workers: int) -> dict:
    from cmsi_lib import joint_survey, sparc
    from cmsi_lib import jointfit as jf
    from cmsi_lib.options import SparcOptions

    options = SparcOptions()
    sample, _counts = sparc.apply_cuts(sparc.load_galaxies(), sparc.QualityCuts())
    load0 = os.getloadavg()[0]
    blocks = jf.sparc_blocks(sample, options, "full")
    floor = bench_jointfit._floor(blocks)
    t0 = time.perf_counter()
    newton = jf.joint_map(blocks, model="newton", options=options)
    t_newton = time.perf_counter() - t0
    t0 = time.perf_counter()
    fit, info = joint_survey.best_cmsi(blocks, newton, options, workers=workers)
    total = time.perf_counter() - t0
    return {
        "load": (load0, os.getloadavg()[0]),
        "workers": workers,
        "x": fit.x,
        "n_galaxies": len(blocks),
        "floor": floor,
        "newton_s": t_newton,
        "total_s": total,
        "seconds": info["seconds"],
        "best_start": info["best_start"],
        "d_objective": fit.objective - newton.objective,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workers", type=int, nargs="+", default=[2], help="processes for best_cmsi's fits")
    args = ap.parse_args()
    rows = []
    for k in range(args.rounds):
        for w in args.workers:
            rows.append(one_round(w))
            print(k + 1, {a: b for a, b in rows[-1].items() if a != "x"}, file=sys.stderr)
    import numpy as np

    same = all(np.array_equal(r["x"], rows[0]["x"]) for r in rows)
    print(f"Machine: {bench_atlas.machine()}.\n")
    print(
        "| run | workers | load | galaxies | one residual evaluation [ms] | one Jacobian [ms] "
        "| Newton joint MAP [s] | CMSI from the seed, its fit [s] | CMSI through the corner, its fits summed [s] "
        "| best_cmsi wall [s] | wall / Newton | best start | objective - Newton |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for k, r in enumerate(rows, start=1):
        f, s = r["floor"], r["seconds"]
        print(
            f"| {k} | {r['workers']} | {r['load'][0]:.1f}-{r['load'][1]:.1f} | {r['n_galaxies']} "
            f"| {1e3 * f['residual_s']:.2f} "
            f"| {1e3 * f['jacobian_s']:.1f} | {r['newton_s']:.1f} | {s.get('seed', float('nan')):.1f} "
            f"| {s.get('corner', float('nan')):.1f} | {r['total_s']:.1f} | {r['total_s'] / r['newton_s']:.1f} "
            f"| {r['best_start']} | {r['d_objective']:,.1f} |"
        )
    print(f"\nEvery run's MAP (all {len(rows[0]['x'])} parameters) identical bit for bit: {same}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
