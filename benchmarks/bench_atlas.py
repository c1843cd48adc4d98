"""Benchmark of the SPARC atlas runner (issue 7): cold atlas, warm rerun, one-parameter change.

    .venv/bin/python benchmarks/bench_atlas.py [--workers 2] [--galaxies N] [--book]

Runs in a temporary results folder and a temporary pages folder (nothing in the checkout is
touched; ``--in-checkout`` uses the checkout's instead), with a local Dask cluster of
``--workers`` processes:

1. cold: every page executed (empty cache);
2. warm: the same again (nothing changed: no page executed);
3. one parameter changed (chi0 = 1e6): every page depends on chi0, so all are executed, into a
   separate run folder;
4. back to the defaults: the first run's pages are still cached, so nothing is executed.

``--book`` also times a strict Jupyter Book build of the checkout into a temporary folder,
twice (the second, with nothing changed, is the warm figure). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{platform.node()}: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"load average at start {load:.1f}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--galaxies", type=int, default=None, help="only the first N galaxies (default: all 175)")
    ap.add_argument("--book", action="store_true", help="also time a strict book build (twice) of the checkout")
    ap.add_argument("--toc", help="table of contents for the --book builds (default: the book's _toc.yml)")
    ap.add_argument(
        "--in-checkout",
        action="store_true",
        help="use the checkout's results/ and chapters/sparc/galaxies/ (ends with the default run CURRENT)",
    )
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-atlas-"))
    if not args.in_checkout:
        os.environ["CMSI_RESULTS_DIR"] = str(tmp / "results")
    os.environ.setdefault("MPLBACKEND", "Agg")
    from cmsi_lib import runner, sparc
    from cmsi_lib.params import Params

    names = sparc.galaxy_names()[: args.galaxies] if args.galaxies else None
    pages = None if args.in_checkout else tmp / "pages"
    rows = []

    def step(label, params):
        rep = runner.run_atlas(params, None, names, workers=args.workers, pages=pages, progress=True)
        s = rep.summary()
        rows.append((label, s["pages"], s["executed"], s["cached"], len(s["failed"]), rep.seconds))
        print(f"{label}: {s}", file=sys.stderr)

    where = machine()
    print(where, file=sys.stderr)
    step("cold atlas", Params())
    step("warm rerun (nothing changed)", Params())
    step("one parameter changed (chi0 = 1e6)", Params(chi0=1e6))
    step("back to the defaults (cached)", Params())

    if args.book:
        jb = Path(sys.executable).parent / "jupyter-book"
        out = tmp / "book"
        for label in ("book build (first, into an empty folder)", "book build (warm, nothing changed)"):
            t0 = time.perf_counter()
            cmd = [str(jb), "build", str(REPO), "--path-output", str(out), "-W", "-n", "--keep-going"]
            cmd += ["--toc", args.toc] if args.toc else []
            rc = subprocess.call(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            rows.append((label + ("" if rc == 0 else f" [exit {rc}]"), "", "", "", "", time.perf_counter() - t0))

    print(f"Machine: {where}; {args.workers} Dask worker processes, 1 thread each.\n")
    print("| step | pages | executed | cached | failed | wall time [s] |")
    print("|---|---|---|---|---|---|")
    for label, n, e, c, f, sec in rows:
        print(f"| {label} | {n} | {e} | {c} | {f} | {sec:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
