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

    .venv/bin/python benchmarks/bench_atlas.py --engines 20 [--workers 2] [--rounds 2]

compares the page engines of :mod:`cmsi_lib.page_engine` instead (issue 11, item 2), on a subset
of galaxies (the four of the visual check plus an even spread of Table 1), each engine on a fresh
local Dask cluster of ``--workers`` processes (so the warm kernel's start and the in-process
imports are counted, as in a ``cmsi run``), against two floors measured in the same run: the
template's code run with plain ``exec`` (no notebook machinery; the figure saved as the inline
backend saves it) in one process and on the same cluster, and the figure cell alone. Also the
page time and PNG size at 72 and 144 dpi (the template without and with its retina line), and
whether papermill's and the warm kernel's notebooks have the same cells, tags and output mime
types. Pages read the checkout's survey fits (as the book's pages do) and write their rows to a
temporary folder; nothing in the checkout is written.
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
    ap.add_argument("--engines", type=int, metavar="N", help="compare the page engines on N galaxies instead")
    ap.add_argument("--rounds", type=int, default=2, help="--engines: rounds (the second in reverse order)")
    ap.add_argument("--before", help="--engines, --figures: also time this template (the figure before item 7)")
    ap.add_argument("--figures", type=int, metavar="N", help="compare the figure variants on N galaxies, interleaved")
    args = ap.parse_args()
    if args.engines:
        return engines_main(args)
    if args.figures:
        return figures_main(args)

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


# --------------------------------------------------------------------------- page engines (issue 11)
#: the line of the template that doubles the PNG's dpi; without it the figure is 72 dpi as before
RETINA = '%config InlineBackend.figure_format = "retina"\n'
CHECKED = ("NGC3198", "DDO154", "UGC02885", "NGC7814")


def subset(n: int) -> list[str]:
    """The four galaxies of the visual check plus an even spread of Table 1, n in all."""
    from cmsi_lib import sparc

    names = sparc.galaxy_names()
    rest = [x for x in names if x not in CHECKED]
    step = max(1, len(rest) // max(1, n - len(CHECKED)))
    return (list(CHECKED) + rest[::step])[:n]


def page_parameters(name: str, folder: str) -> dict:
    from cmsi_lib.options import SparcOptions
    from cmsi_lib.params import Params

    return {"galaxy": name, "params": Params().as_dict(), "options": SparcOptions().as_dict(), "results_folder": folder}


def run_page(engine: str, template: str, name: str, folder: str) -> dict:
    """One page with ``engine`` (in a worker): its time, PNG sizes, and output shape."""
    import base64

    import jupytext

    from cmsi_lib.page_engine import execute_page_notebook

    t0 = time.perf_counter()
    nb = execute_page_notebook(
        jupytext.reads(template, fmt="md:myst"), page_parameters(name, folder), folder, 300, engine=engine
    )
    seconds = time.perf_counter() - t0
    pngs = [
        len(base64.b64decode(o["data"]["image/png"]))
        for c in nb.cells
        for o in c.get("outputs", [])
        if "image/png" in o.get("data", {})
    ]
    shape = [
        (
            c.cell_type,
            sorted(c.metadata.get("tags", [])),
            [(o.output_type, sorted(o.get("data", {}))) for o in c.get("outputs", [])],
        )
        for c in nb.cells
    ]
    return {"galaxy": name, "seconds": seconds, "png": pngs, "shape": shape, "sources": [c.source for c in nb.cells]}


def floor_page(template: str, name: str, folder: str, figures: str = "png") -> dict:
    """The template's code with plain exec: no kernel, no notebook; the figure saved as the inline
    backend saves it (PNG, bbox "tight", twice the dpi with the retina line). Returns the page's and
    the figure cell's times and the PNG size. ``figures`` is set for a template that has the
    parameter: "png" (default) draws the figure with matplotlib, so the floor stays the time to draw
    it; "browser" gives the page's own time when the browser draws the figure."""
    import io

    import jupytext
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    retina = RETINA in template
    bbox = None if '"bbox_inches": None' in template else "tight"  # the inline backend's default: "tight"
    pil = {"compress_level": 1} if '"compress_level": 1' in template else None  # default: 6
    cells = [c.source for c in jupytext.reads(template, fmt="md:myst").cells if c.cell_type == "code"]
    code = ["\n".join(ln for ln in c.splitlines() if not ln.lstrip().startswith("%")) for c in cells]
    png, figure_seconds = [], 0.0

    def show():
        buf = io.BytesIO()
        fig = plt.gcf()
        fig.savefig(buf, format="png", dpi=fig.dpi * (2 if retina else 1), bbox_inches=bbox, pil_kwargs=pil)
        png.append(buf.tell())
        plt.close("all")

    t0 = time.perf_counter()
    ns: dict = {}
    for i, src in enumerate(code):
        if i == 1:  # after the parameters cell
            ns.update(page_parameters(name, folder))
            if "figures" in ns:
                ns["figures"] = figures
        t = time.perf_counter()
        exec(src, ns)  # noqa: S102 - the project's own template
        if "plt" in ns:
            ns["plt"].show, ns["display"] = show, lambda *a, **k: None
        if "plt.show()" in src or "browser_figure(" in src:
            figure_seconds += time.perf_counter() - t
    return {"galaxy": name, "seconds": time.perf_counter() - t0, "figure_seconds": figure_seconds, "png": png}


def on_cluster(workers: int, fn, *args_per_page) -> tuple[float, float, list[dict]]:
    """(cluster start [s], wall time of the pages [s], results) on a fresh local cluster."""
    from distributed import Client, LocalCluster

    t0 = time.perf_counter()
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50
    )
    client = Client(cluster)
    t1 = time.perf_counter()
    try:
        futures = [client.submit(fn, *a, pure=False) for a in args_per_page]
        results = client.gather(futures)
        t2 = time.perf_counter()
    finally:
        client.close()
        cluster.close()
    return t1 - t0, t2 - t1, results


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else 0.5 * (xs[len(xs) // 2 - 1] + xs[len(xs) // 2])


ENGINE_STEPS = (  # (label, engine or floor, template variant)
    ("floor: the template's code with exec, one process", "floor-serial", "144"),
    ("floor: the template's code with exec, on the cluster", "floor", "144"),
    ("(a) papermill, a fresh kernel per page", "papermill", "144"),
    ("(b) a warm kernel per worker, reset per page", "warm", "144"),
    ("(c) in-process (ploomber-engine), a new shell per page", "inprocess", "144"),
    ("(b), figure at 72 dpi (the template without its retina line)", "warm", "72"),
    ("floor, one process, figure at 72 dpi", "floor-serial", "72"),
    ("(b), the figure before item 7 (72 dpi, legends inside, cropped)", "warm", "before"),
    ("floor, one process, the figure before item 7", "floor-serial", "before"),
)


def run_step(kind: str, template: str, names: list[str], folder: str, workers: int) -> tuple[float, float, list[dict]]:
    if kind == "floor-serial":  # in this process, after one untimed page (the imports)
        floor_page(template, names[0], folder)
        t0 = time.perf_counter()
        results = [floor_page(template, n, folder) for n in names]
        return 0.0, time.perf_counter() - t0, results
    if kind == "floor":
        return on_cluster(workers, floor_page, *[(template, n, folder) for n in names])
    return on_cluster(workers, run_page, *[(kind, template, n, folder) for n in names])


def engines_main(args) -> int:
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ["PLOOMBER_STATS_ENABLED"] = "false"  # ploomber-engine's telemetry and version check: off
    os.environ["PLOOMBER_VERSION_CHECK_DISABLED"] = "1"
    from cmsi_lib import runner

    text = runner.TEMPLATE.read_text()
    if RETINA not in text:
        raise SystemExit(f"the template has no line {RETINA!r}")
    templates = {"144": text, "72": text.replace(RETINA, "")}
    if args.before:
        templates["before"] = Path(args.before).read_text()
    names, folder = subset(args.engines), tempfile.mkdtemp(prefix="bench-engines-")
    print(machine(), file=sys.stderr)
    rows: dict[str, list] = {label: [] for label, _, v in ENGINE_STEPS if v in templates}
    shapes: dict[str, dict] = {}
    for r in range(args.rounds):
        steps = [s for s in ENGINE_STEPS if s[2] in templates]
        for label, kind, variant in steps if r % 2 == 0 else steps[::-1]:
            load0 = os.getloadavg()[0]
            start, wall, results = run_step(kind, templates[variant], names, folder, args.workers)
            rows[label].append((start, wall, results, load0, os.getloadavg()[0]))
            shapes.setdefault(label, next(x for x in results if x["galaxy"] == "NGC3198"))
            print(f"round {r + 1}: {label}: start {start:.1f} s, {len(names)} pages {wall:.1f} s", file=sys.stderr)
    report_engines(rows, shapes, names, args.workers)
    return 0


def report_engines(rows: dict, shapes: dict, names: list[str], workers: int) -> None:
    n = len(names)
    print(f"Machine: {machine()}; {workers} Dask worker processes, 1 thread each; {n} galaxies: {', '.join(names)}.\n")
    print(
        "| round | step | load | cluster start [s] | pages [s] | per page, median [s] | 175 pages, extrapolated [s] |"
        " vs floor on the cluster | PNG, median [kB] |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    floor_label = ENGINE_STEPS[1][0]
    for label, runs in rows.items():
        for r, (start, wall, results, l0, l1) in enumerate(runs):
            floor_wall = rows[floor_label][r][1]
            png = (
                median([x["png"][0] for x in results if x["png"]]) / 1e3
                if any(x["png"] for x in results)
                else float("nan")
            )
            per_page = median([x["seconds"] for x in results])
            print(
                f"| {r + 1} | {label} | {l0:.1f}-{l1:.1f} | {start:.1f} | {wall:.1f} | {per_page:.2f} |"
                f" {start + wall * 175 / n:.0f} | {wall / floor_wall:.2f} | {png:.0f} |"
            )
    for label, runs in rows.items():
        if "floor" in label:
            fig = median([x["figure_seconds"] for _, _, results, _, _ in runs for x in results])
            print(f"\n{label}: the figure cell alone, median {fig:.2f} s per page")
    ref = shapes[ENGINE_STEPS[2][0]]
    for label in (ENGINE_STEPS[3][0], ENGINE_STEPS[4][0]):
        same_shape, same_src = shapes[label]["shape"] == ref["shape"], shapes[label]["sources"] == ref["sources"]
        print(
            f"\nNGC3198, {label} against (a): same cells, tags and output mime types: {same_shape};"
            f" same sources: {same_src}"
        )
        if not same_shape:
            for a, b in zip(ref["shape"], shapes[label]["shape"], strict=False):
                if a != b:
                    print(f"  (a) {a}\n  vs  {b}")


def figures_main(args) -> int:
    """The figure variants page by page, in one process: for each galaxy every variant in turn
    (the order rotating), with the exec floor and with the warm kernel, so that a change of load
    hits all variants alike. Reports medians and the median of the per-galaxy ratios."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    from cmsi_lib import page_engine, runner

    text = runner.TEMPLATE.read_text()
    variants = {"144 dpi (retina), legends below": text, "72 dpi, legends below": text.replace(RETINA, "")}
    if args.before:
        variants = {"before item 7: 72 dpi, legends inside": Path(args.before).read_text(), **variants}
    names, folder = subset(args.figures), tempfile.mkdtemp(prefix="bench-figures-")
    print(machine(), file=sys.stderr)
    load0 = os.getloadavg()[0]
    floor_page(text, names[0], folder)
    run_page("warm", text, names[0], folder)  # kernel start and imports, untimed
    got: dict[str, dict[str, list]] = {v: {"figure": [], "floor": [], "warm": [], "png": []} for v in variants}
    keys = list(variants)
    for i, name in enumerate(names):
        for v in keys[i % len(keys) :] + keys[: i % len(keys)]:
            f = floor_page(variants[v], name, folder)
            w = run_page("warm", variants[v], name, folder)
            got[v]["figure"].append(f["figure_seconds"])
            got[v]["floor"].append(f["seconds"])
            got[v]["warm"].append(w["seconds"])
            got[v]["png"].append(w["png"][0])
    page_engine.shutdown_warm_kernel()
    ref = keys[0]
    print(f"Machine: {machine()} (at the start {load0:.1f}); {len(names)} galaxies, one process.\n")
    print(
        "| figure | figure cell (exec) [s] | page (exec) [s] | page (warm kernel) [s] | warm page / first row's |"
        " PNG [kB] |"
    )
    print("|---|---|---|---|---|---|")
    for v in keys:
        g = got[v]
        ratio = median([a / b for a, b in zip(g["warm"], got[ref]["warm"], strict=True)])
        print(
            f"| {v} | {median(g['figure']):.2f} | {median(g['floor']):.2f} | {median(g['warm']):.2f} | {ratio:.2f} |"
            f" {median(g['png']) / 1e3:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
