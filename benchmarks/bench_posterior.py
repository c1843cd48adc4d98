"""Benchmark of the posterior stage (issue 13, item 3). Run from the repository root:

    CMSI_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_posterior.py [--write]

Measures, in one process (``uptime`` recorded at the start and the end); the stage's entry is written
where the book reads it (results/stages/posterior/, or ``CMSI_RESULTS_DIR``), so a build after this run
reads it instead of recomputing:
  0. the floor: one jitted gradient of CMSI's log-density on all of SPARC (147 galaxies, 472 nuisance
     parameters), and the ideal sampling time, (leapfrog steps of every chain) x (one gradient) / cores;
  1. the whole stage (``posterior.posterior_stage(force=True)``: data, the Newton joint MAP, the CMSI
     and RAR posteriors with the default ``PosteriorOptions``): wall time (target <= 300 s on 2 cores);
  2. the same stage again (a cache hit).
With --write the figures and the diagnostics go to benchmarks/posterior.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import time
from pathlib import Path

OUT = Path(__file__).with_name("posterior.md")


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def _gradient_seconds(P, data) -> float:
    """Median time [s] of one jitted value-and-gradient of CMSI's potential energy."""
    import jax
    import numpy as np
    from numpyro.infer.util import initialize_model

    info = initialize_model(jax.random.PRNGKey(0), P.cmsi_model, model_args=(data,),
                            model_kwargs={"priors": P.CMSI_PRIORS})  # fmt: skip
    f = jax.jit(jax.value_and_grad(info.potential_fn))
    z = info.param_info.z
    f(z)[0].block_until_ready()
    ts = []
    for _ in range(300):
        t = time.perf_counter()
        f(z)[0].block_until_ready()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def measure() -> dict:
    t_import = time.perf_counter()
    from cmsi_lib import posterior as P

    t_import = time.perf_counter() - t_import
    out = {"uptime_start": _uptime(), "load_start": os.getloadavg()[0], "import_s": t_import}
    opts = P.PosteriorOptions()
    data = P.sparc_data()
    out["gradient_s"] = _gradient_seconds(P, data)
    t = time.perf_counter()
    res, hit, key = P.posterior_stage(opts, force=True)
    out["stage_s"], out["stage_cached"] = time.perf_counter() - t, hit
    t = time.perf_counter()
    _res2, hit2, _k = P.posterior_stage(opts)
    out["cached_s"], out["cached_hit"] = time.perf_counter() - t, hit2
    cores = os.cpu_count() or 1
    for which in ("cmsi", "cmsi_gas", "rar"):
        r = res[which]
        steps = r["mean_leapfrog_steps"] * (opts.warmup + opts.samples) * r["chains"]
        out[f"{which}_floor_s"] = steps * out["gradient_s"] / min(cores, r["chains"])
    out["result"] = res
    out["uptime_end"], out["load_end"] = _uptime(), os.getloadavg()[0]
    out["cores"], out["platform"] = cores, platform.platform()
    return out


def _param_rows(r: dict) -> list[str]:
    head = "| parameter | prior | p16 | p50 | p84 | chain medians | R-hat | ESS bulk | ESS tail | at edge (low, high) |"
    rows = [head, "|---|---|---|---|---|---|---|---|---|---|"]
    for k, p in r["params"].items():
        q = p["p16_50_84"]
        med = ", ".join(f"{m:.3g}" for m in p["chain_medians"])
        rows.append(f"| {k} | [{p['prior'][0]:g}, {p['prior'][1]:g}] | {q[0]:.4g} | {q[1]:.4g} | {q[2]:.4g} | {med} | "
                    f"{p['r_hat']:.3g} | {p['ess_bulk']:.0f} | {p['ess_tail']:.0f} | "
                    f"{p['frac_at_low_edge']:.2f} / {p['frac_at_high_edge']:.2f} |")  # fmt: skip
    return rows


def report(m: dict) -> str:
    res, opts = m["result"], m["result"]["options"]
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    L = [
        "# Benchmark: the posterior stage (issue 13, item 3)",
        "",
        f"Measured {when} by `benchmarks/bench_posterior.py` on {m['platform']}, {m['cores']} CPUs (shared with "
        f"other sessions: times are upper bounds). `uptime` at the start: `{m['uptime_start']}`; at the end: "
        f"`{m['uptime_end']}`.",
        "",
        f"Settings (`PosteriorOptions()`): {opts['chains']} chains, {opts['warmup']} warmup + {opts['samples']} "
        f"samples each, max tree depth {opts['max_tree_depth']}, target acceptance {opts['target_accept']}, "
        f"dispersed starts (init_to_uniform, radius {opts['init_radius']}) for the stellar-Sigma CMSI run and the "
        f"RAR, every {opts['thin']}th draw stored.",
        "",
        "## Timing",
        "",
        f"Problem: {res['n_galaxies']} galaxies, {res['n_points']} points, 4 globals + {res['n_nuisance']} nuisance "
        "parameters (the RAR: 1 global + the same nuisance).",
        "",
        "| what | time [s] |",
        "|---|---|",
        f"| whole stage, computed (target <= 300 s) | {m['stage_s']:.1f} |",
        f"| of which CMSI NUTS | {res['cmsi']['seconds']:.1f} |",
        f"| of which CMSI NUTS, Sigma with a gas disk, from the corner MAP (Laplace mass matrix) | "
        f"{res['cmsi_gas']['seconds']:.1f} |",
        f"| of which RAR NUTS | {res['rar']['seconds']:.1f} |",
        f"| the same stage again (cache hit: {m['cached_hit']}) | {m['cached_s']:.2f} |",
        f"| importing cmsi_lib.posterior (jax, numpyro) | {m['import_s']:.1f} |",
        f"| floor: one jitted gradient of CMSI's log-density | {m['gradient_s'] * 1e3:.3f} ms |",
        f"| floor: CMSI ideal = leapfrog steps x gradient / min(cores, chains) | {m['cmsi_floor_s']:.1f} |",
        f"| floor: CMSI gas-disk ideal (same gradient time) | {m['cmsi_gas_floor_s']:.1f} |",
        f"| floor: RAR ideal (CMSI's gradient time) | {m['rar_floor_s']:.1f} |",
        "",
        f"CMSI NUTS / its floor: {res['cmsi']['seconds'] / m['cmsi_floor_s']:.2f}. Leapfrog steps are counted as "
        "(mean steps per kept iteration) x (warmup + samples) x chains.",
        "",
    ]
    runs = (("cmsi", "CMSI globals, stellar Sigma, dispersed starts"),
            ("cmsi_gas", "CMSI globals, Sigma with a gas disk, chains from the corner MAP"),
            ("rar", "RAR acceleration scale"))  # fmt: skip
    for which, title in runs:
        r = res[which]
        a = r["all_parameters"]
        L += [f"## Diagnostics: {title}", "", *_param_rows(r), "",
              f"Over all {a['n']} coordinates (globals and nuisance): largest R-hat {a['r_hat_max']:.4g}, smallest "
              f"bulk ESS {a['ess_bulk_min']:.0f}. Start: {r['start']}; mass matrix: "
              f"{r.get('mass_matrix', 'diagonal, adapted')}.", "",
              f"Divergent transitions: {r['n_divergent']} of {r['n_samples']}; mean leapfrog steps per iteration "
              f"{r['mean_leapfrog_steps']:.1f} (max {2 ** opts['max_tree_depth'] - 1}); chain method "
              f"{r['chain_method']}.", "",
              "Per-draw fit quantities (16/50/84 pooled; chain medians): "
              + "; ".join(f"{k} {v['p16_50_84'][1]:.6g} ({', '.join(f'{c:.6g}' for c in v['chain_medians'])})"
                          for k, v in r["fit"].items()) + ".", ""]  # fmt: skip
    L += [f"Newton-only joint MAP on the same points: objective {res['newton_objective']:.3f} "
          f"(chi^2 {res['newton_chi2']:.3f}).", "", "## Raw record", "", "```json",
          json.dumps({k: v for k, v in m.items() if k != "result"}, indent=1), "```", ""]  # fmt: skip
    return "\n".join(L)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="write benchmarks/posterior.md")
    args = ap.parse_args()
    m = measure()
    text = report(m)
    print(text)
    Path("/tmp/posterior_bench.json").write_text(json.dumps(m, indent=1, default=str))
    if args.write:
        OUT.write_text(text)


if __name__ == "__main__":
    main()
