"""`cmsi run`: execute the SPARC atlas (one papermill page per galaxy, in parallel, cached), then
build the book.

    cmsi run                              all 175 galaxies at the default parameters, then the book
    cmsi run --set chi0=1e6               the same at chi0 = 1e6 (results kept apart by parameter hash)
    cmsi run --galaxies NGC3198 DDO154 --no-book
    cmsi run --set chi0=1e6 --galaxies NGC3198 --publish   make the book show that run (1 page)
    cmsi run --scheduler tcp://host:8786  use an existing Dask cluster
    cmsi run --figures png                static PNG figures instead of figures drawn in the browser

What the book shows: a run of all galaxies makes the book show that run. A run of some galaxies
(--galaxies) updates those galaxies' pages in the book when the book already shows a run at the
same parameters and options, and otherwise leaves the book alone (its pages stay in
results/runs/<run-id>/); it never removes the other galaxies' pages. --publish makes the book show
the run, with only the pages that run has.

Parameters, options, galaxy names and the data files' checksums are validated before any page
starts (exit status 2). Failed pages are listed at the end with the galaxy and the reason (exit
status 1): a cell over the --timeout, a worker process that died twice, an error in the page. A
cached page that fails its check (a truncated notebook or row) is executed again and listed as
recomputed. A second run at the same parameters waits for the first and takes its pages from the
cache. A results file that cannot be written (read-only folder, full disk) is an error naming it
(exit status 1). Ctrl-C stops the run: one line, exit status 130; a rerun does only what is missing.
"""

from __future__ import annotations

import sys

from .. import runner, sparc
from ..book import build_book
from ..errors import ResultsWriteError
from ..kernel import VC_MODES
from ..options import SparcOptions
from ..page_figure import FIGURES
from ..sparc import SIGMA_DEFINITIONS, SIGMA_V_MODELS
from . import params_from_args, print_json, worker_count


def add_option_arguments(p) -> None:
    """The CMSI input options on SPARC (see ``cmsi_lib.options.SparcOptions``)."""
    d = SparcOptions()
    g = p.add_argument_group("CMSI inputs on SPARC (the choices the seed leaves open)")
    g.add_argument("--vc-mode", choices=VC_MODES, default=d.vc_mode, help=f"v_c in F (default {d.vc_mode})")
    g.add_argument(
        "--sigma-v-model",
        choices=SIGMA_V_MODELS,
        default=d.sigma_v_model,
        help=f"velocity-dispersion model (default {d.sigma_v_model})",
    )
    g.add_argument(
        "--sigma-v-value",
        type=float,
        default=d.sigma_v_value,
        metavar="KM_S",
        help=f"constant sigma_v, or the gas floor of stellar-disk [km/s] (default {d.sigma_v_value:g})",
    )
    g.add_argument(
        "--sigma-definition",
        choices=SIGMA_DEFINITIONS,
        default=d.sigma_definition,
        help=f"surface density used in F (default {d.sigma_definition})",
    )
    g.add_argument("--ups-disk", type=float, default=d.ups_disk, help=f"disk M/L at 3.6 um (default {d.ups_disk:g})")
    g.add_argument("--ups-bul", type=float, default=d.ups_bul, help=f"bulge M/L at 3.6 um (default {d.ups_bul:g})")
    g.add_argument(
        "--gas-scale",
        type=float,
        default=d.gas_scale,
        metavar="RDISK",
        help=f"gas-disk scale length in units of Rdisk, for stellar+gas (default {d.gas_scale:g})",
    )


def options_from_args(args):
    return SparcOptions(
        vc_mode=args.vc_mode,
        sigma_v_model=args.sigma_v_model,
        sigma_v_value=args.sigma_v_value,
        sigma_definition=args.sigma_definition,
        ups_disk=args.ups_disk,
        ups_bul=args.ups_bul,
        gas_scale=args.gas_scale,
    )


def register(sub, common):
    p = sub.add_parser(
        "run", parents=[common], help="execute the SPARC atlas pages (papermill, Dask, cached), then build the book"
    )
    p.add_argument("--galaxies", nargs="+", metavar="NAME", help="only these galaxies (default: all 175)")
    p.add_argument(
        "--workers",
        type=worker_count,
        default=None,
        metavar="N",
        help="local Dask worker processes, 1 or more (default: one per core)",
    )
    p.add_argument("--scheduler", metavar="ADDRESS", help="use an existing Dask scheduler, e.g. tcp://127.0.0.1:8786")
    p.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="time limit of each cell of a page (default 300)",
    )
    p.add_argument(
        "--publish",
        action="store_true",
        default=None,
        help="make the book show this run even if it is of some galaxies only (default: a run of all "
        "galaxies is shown; a run of some updates their pages only if the book shows a run at the same "
        "parameters, and never removes other galaxies' pages)",
    )
    p.add_argument(
        "--figures",
        choices=FIGURES,
        default=runner.DEFAULT_FIGURES,
        help="each page's figure: drawn in the reader's browser from the page's numbers (plotly.js, served "
        "with the book; interactive), or a static 144 dpi PNG drawn by matplotlib (default %(default)s)",
    )
    p.add_argument("--no-book", action="store_true", help="do not build the book afterwards")
    add_option_arguments(p)
    p.set_defaults(func=run)


def run(args):
    params = params_from_args(args)  # ParameterError -> exit 2 (cli.main)
    try:
        options = options_from_args(args)
        for name in args.galaxies or ():
            sparc.check_galaxy_name(name)
        if not args.timeout > 0:
            raise ValueError(f"--timeout {args.timeout} is not valid; it must be > 0 s")
    except (sparc.UnknownGalaxyError, ValueError) as exc:
        print(f"cmsi run: error: {exc}", file=sys.stderr)
        return 2
    try:
        report = runner.run_atlas(
            params,
            options,
            args.galaxies,
            workers=args.workers,
            scheduler=args.scheduler,
            timeout=args.timeout,
            progress=not args.json,
            publish=args.publish,
            notify=lambda message: print(f"cmsi run: {message}", file=sys.stderr, flush=True),
            figures=args.figures,
        )
    except ResultsWriteError as exc:  # a read-only results folder, a full disk
        print(f"cmsi run: error: {exc}", file=sys.stderr)
        return 1
    s = report.summary()
    if args.json:
        print_json(s)
    else:
        print(
            f"run {s['run_id']}: {s['pages']} pages, {s['executed']} executed ({len(s['recomputed'])} recomputed), "
            f"{s['cached']} cached, {len(s['failed'])} failed, {s['seconds']:.1f} s; results in {s['run_dir']}"
        )
        print(s["published"])
    for r in report.recomputed:
        print(f"recomputed {r.galaxy}: its cached page failed the check: {r.error}", file=sys.stderr)
    for name, why in report.skipped.items():
        print(f"left out {name} (not in this run): its cached page failed the check: {why}", file=sys.stderr)
    if report.failed:
        print(f"{len(report.failed)} page(s) failed:", file=sys.stderr)
        for r in report.failed:
            print(f"  {r.galaxy}: {r.error}", file=sys.stderr)
    status = 1 if report.failed else 0
    if not args.no_book:
        status = status or (1 if build_book() else 0)
    return status
