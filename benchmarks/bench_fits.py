"""Benchmark of the SPARC survey fits (issue 3). Run from the repository root:

    CMSI_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_fits.py [--write]

Measures, on all 175 galaxies and all their points (maximum-posterior fits with the Li et al. 2018
nuisance priors):
  1. each model in one process (serial) and on a 2-worker Dask LocalCluster;
  2. the global CMSI fit (chi0) with 5-fold cross-validation on the standard sample (2 workers);
  3. a sweep's throughput (parameter sets x galaxies per second) with 1 and 2 workers.
With --write the figures go to benchmarks/fits.md together with the machine and its load.
Targets (issue 3): one halo model < 2 s on 2 cores; all models < 30 s; global fit + 5-fold CV < 5 min.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
from pathlib import Path

import numpy as np

from cmsi_lib import Params, fitting, globalfit, models, sparc
from cmsi_lib.sweep import SweepRunner


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", action="store_true", help="write benchmarks/fits.md")
    args = ap.parse_args()
    load0 = os.getloadavg()
    gals = sparc.load_galaxies()
    sample_all = {n: (g, np.ones(g.n_points, bool)) for n, g in gals.items()}
    std, _ = sparc.apply_cuts(gals, sparc.QualityCuts())
    rows = []
    # 1. serial, each model
    serial = {}
    for name in models.MODEL_NAMES:
        t = time.perf_counter()
        rs = fitting.fit_sample(sample_all, name)
        serial[name] = (time.perf_counter() - t, sum(r.success for r in rs), sum(not r.success for r in rs))
    # 1b. 2 workers
    t = time.perf_counter()
    with SweepRunner("local", n_workers=2, progress=False) as runner:
        startup = time.perf_counter() - t
        parallel = {}
        for name in models.MODEL_NAMES:
            res = runner.run([Params()], sample_all, model_name=name)
            parallel[name] = res.seconds
        # 2. global fit with 5-fold CV
        t = time.perf_counter()
        gf = globalfit.global_fit(std, k_folds=5, runner=runner)
        t_global = time.perf_counter() - t
        # 3b. sweep throughput, 2 workers
        sets = [Params(chi0=c) for c in np.logspace(3, 7, 8)]
        sw2 = runner.run(sets, std)
    with SweepRunner("local", n_workers=1, progress=False) as runner1:
        sw1 = runner1.run(sets, std)
    load1 = os.getloadavg()
    for name in models.MODEL_NAMES:
        s, ok, bad = serial[name]
        rows.append((name, s, parallel[name], ok, bad))
    total_serial = sum(r[1] for r in rows)
    total_par = sum(r[2] for r in rows)
    lines = [
        "# Benchmark: SPARC survey fits (issue 3)",
        "",
        f"Measured {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC by `benchmarks/bench_fits.py` on "
        f"{platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load average {load0[0]:.1f} at the start and {load1[0]:.1f} at the end (the machine is shared: "
        "other work ran at the same time, so these are upper bounds).",
        "",
        "Maximum-posterior fits of all 175 galaxies (3391 points) with the Li et al. 2018 nuisance priors "
        "(Ups_disk, Ups_bul, D, Inc free), `scipy.optimize.least_squares` with 2-point finite-difference "
        "Jacobians. CMSI at the seed's defaults, vc_mode baryonic.",
        "",
        "| model | serial, 1 process [s] | Dask, 2 workers [s] | fits succeeded | failed or skipped |",
        "|---|---|---|---|---|",
    ]
    for name, s, p, ok, bad in rows:
        lines.append(f"| {name} | {s:.2f} | {p:.2f} | {ok} | {bad} |")
    lines += [
        f"| **all models** | **{total_serial:.1f}** | **{total_par:.1f}** | | |",
        "",
        f"LocalCluster start-up (2 workers): {startup:.1f} s, not included above.",
        "",
        f"Global CMSI fit (chi0 on a {len(gf.profile['log10_grid'][0])}-point grid "
        f"1e{gf.profile['log10_grid'][0][0]:g}..1e{gf.profile['log10_grid'][0][-1]:g} plus chi0 = 0, nuisance "
        "profiled per galaxy; exact re-fits at each fold's choice) with 5-fold "
        f"cross-validation on the standard sample ({len(std)} galaxies, {gf.n_points} points), 2 workers: "
        f"**{t_global:.0f} s**.",
        "",
        f"Sweep throughput ({len(sets)} parameter sets x {len(std)} galaxies = {len(sets) * len(std)} fits): "
        f"1 worker {sw1.fits_per_second:.0f} fits/s ({sw1.seconds:.1f} s), 2 workers {sw2.fits_per_second:.0f} "
        f"fits/s ({sw2.seconds:.1f} s): speed-up {sw1.seconds / sw2.seconds:.2f}x.",
        "",
        "Targets: one halo model < 2 s on 2 cores "
        f"(MISSED: NFW {parallel['nfw']:.2f} s, "
        f"Burkert {parallel['burkert']:.2f} s on 2 workers; serial {serial['nfw'][0]:.2f} s, "
        f"{serial['burkert'][0]:.2f} s; the better of the two counts); all models < 30 s "
        f"({'met' if min(total_serial, total_par) < 30 else 'MISSED'}); global fit with 5-fold CV < 5 min "
        f"({'met' if t_global < 300 else 'MISSED'}).",
        "",
    ]
    halo = min(max(parallel["nfw"], parallel["burkert"]), max(serial["nfw"][0], serial["burkert"][0]))
    lines[-2] = lines[-2].replace("(MISSED", "(met" if halo < 2 else "(MISSED", 1)
    text = "\n".join(lines)
    print(text)
    if args.write:
        Path(__file__).with_name("fits.md").write_text(text)


if __name__ == "__main__":
    main()
