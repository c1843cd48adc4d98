"""Benchmark of issue 11's parameter loop: ``cmsi run --set chi0=<new value>`` end to end (175 atlas
pages, the chapters that read them, the strict HTML build), against a floor measured in the same run.

    .venv/bin/python benchmarks/bench_loop.py [--rounds 2]

Run it in a checkout where ``make book`` has been run (it needs the survey and a built book). Each
round: the floor (the page template's code with plain ``exec`` for all 175 galaxies in this one
process, its figure drawn by matplotlib and saved as the inline backend saves it:
``bench_atlas.floor_page``, i.e. the time to draw the 175 figures in one process; and, for a template
whose figures the browser draws, the same pages as they now run), then
``cmsi run --set chi0=<a value not used before>`` as a subprocess (its pages go to a new run folder
and the book shows that run afterwards, as the README's command does). Prints a Markdown table with
the load average before each step, the end-to-end wall time, the pages' time as the runner reports
it, and the ratio of the end-to-end time to the floor. The last round's run stays the book's run.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import bench_atlas  # noqa: E402  (the floor and the machine description)

REPO = Path(__file__).resolve().parents[1]


def floor(template: str, names: list[str], folder: str, figures: str = "png") -> tuple[float, float]:
    """(wall time [s] of the 175 pages with exec in this process, of which the figure cells [s]).
    ``figures`` "png": the figures drawn by matplotlib (the floor); "browser": as the pages now run."""
    bench_atlas.floor_page(template, names[0], folder, figures)  # untimed: the imports
    t0 = time.perf_counter()
    fig = sum(bench_atlas.floor_page(template, n, folder, figures)["figure_seconds"] for n in names)
    return time.perf_counter() - t0, fig


def loop(chi0: float) -> tuple[float, float | None, int]:
    """(end-to-end wall time [s], the pages' time [s] from the runner's report, exit status)."""
    t0 = time.perf_counter()
    p = subprocess.run(
        [str(Path(sys.executable).with_name("cmsi")), "run", "--set", f"chi0={chi0:g}"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    m = re.search(r"^run \w+: .* ([0-9.]+) s; results in", p.stdout + p.stderr, re.M)
    return wall, float(m.group(1)) if m else None, p.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("MPLBACKEND", "Agg")
    from cmsi_lib import sparc

    names = sparc.galaxy_names()
    template = (REPO / "chapters" / "sparc" / "galaxy_template.md").read_text()
    folder = tempfile.mkdtemp(prefix="bench-loop-")  # the floor's rows go here, not into results/
    rows = []
    for k in range(args.rounds):
        load_f = os.getloadavg()[0]
        f_wall, f_fig = floor(template, names, folder)
        b_wall = floor(template, names, folder, "browser")[0] if "figures = " in template else float("nan")
        load_l = os.getloadavg()[0]
        chi0 = 10 ** (5 + 0.1 * (time.time() % 10))  # a value no earlier run used (its pages are not cached)
        wall, pages, rc = loop(chi0)
        rows.append((k + 1, load_f, f_wall, f_fig, b_wall, load_l, chi0, wall, pages, rc))
        print(rows[-1], file=sys.stderr)
    print(f"Machine: {bench_atlas.machine()}.\n")
    print(
        "| round | load | floor: 175 pages with exec, one process [s] | of which figures [s] "
        "| the same, figures drawn in the browser [s] | load "
        "| `cmsi run --set chi0=...` end to end [s] | of which pages [s] | end to end / floor |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for k, lf, fw, ff, bw, ll, chi0, wall, pages, rc in rows:
        status = "" if rc == 0 else f" [exit {rc}]"
        pg = f"{pages:.1f}" if pages is not None else "n/a"
        print(
            f"| {k} | {lf:.1f} | {fw:.1f} | {ff:.1f} | {bw:.1f} | {ll:.1f} "
            f"| {wall:.1f} (chi0 = {chi0:.4g}){status} | {pg} | {wall / fw:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
