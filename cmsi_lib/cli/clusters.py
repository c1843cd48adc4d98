"""`cmsi clusters`: mass ratios M_model / M_hydrostatic at r2500 and r500 for the 13 Vikhlinin et al. 2006
clusters (models: newton, cmsi, rar, hydrostatic), at the CMSI parameters of --params / --set.

    cmsi clusters --json                       one object per cluster and model
    cmsi clusters --set chi0=1e9 --option stellar_fraction=0 --cluster A2029

The rows are a stage (``cmsi_lib.stages``, results/stages/clusters/): printed from its entry when the
parameters, options, clusters, data and code are unchanged; ``--force`` recomputes.
"""

from __future__ import annotations

import dataclasses
import sys

from .. import clusters as C
from .. import datafiles, stages
from ..cluster_data import DENSITY_FILE, TEMPERATURE_FILE
from ..errors import ClusterDataError, InputError
from . import params_from_args, print_json

#: the modules the stage runs (their sources, and those they import, enter its key)
MODULES = ("cmsi_lib.clusters", "cmsi_lib.cli.clusters")
#: the data files the stage reads (their registry sha256 enter its key)
DATA_FILES = (DENSITY_FILE, TEMPERATURE_FILE)


def register(sub, common):
    p = sub.add_parser(
        "clusters",
        parents=[common],
        help="CMSI, RAR and Newtonian baryons against the hydrostatic masses of 13 clusters",
    )
    p.add_argument(
        "--option",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        dest="cluster_options",
        help="a cluster modelling option (repeatable): "
        + ", ".join(f.name for f in dataclasses.fields(C.ClusterOptions)),
    )
    p.add_argument(
        "--cluster",
        action="append",
        default=[],
        metavar="NAME",
        help="restrict to this cluster (repeatable; default all 13)",
    )
    p.add_argument("--force", action="store_true", help="recompute even when results/stages/clusters/ holds these rows")
    p.set_defaults(func=run)


def cluster_rows(params, options, names: list[str], clusters: dict, force: bool = False) -> tuple[list, bool]:
    """``clusters.analyse(params, options, clusters).rows`` through the stage cache: (rows, was_cached).
    ``names``: the clusters asked for, in order ([]: all); ``clusters``: those loaded (name -> Cluster)."""
    inputs = {"params": params.as_dict(), "options": dataclasses.asdict(options), "clusters": names}
    out, was_cached = stages.run_stage(
        "clusters", inputs, lambda: {"rows": C.analyse(params, options, clusters).rows}, MODULES, DATA_FILES, force
    )
    return out["rows"], was_cached


def run(args):
    params = params_from_args(args)
    datafiles.record_mirror()
    options = C.ClusterOptions.from_strings(args.cluster_options)
    try:
        clusters = C.load_clusters(options)
    except ClusterDataError as exc:  # a malformed table; DataFileError exits 2 in cmsi's main
        raise InputError(str(exc)) from None
    if args.cluster:
        unknown = [n for n in args.cluster if n not in clusters]
        if unknown:
            raise InputError(f"unknown cluster(s) {unknown}; valid names: {list(clusters)}")
        clusters = {n: clusters[n] for n in args.cluster}
    rows, was_cached = cluster_rows(params, options, list(args.cluster), clusters, force=args.force)
    if was_cached:
        print("cmsi clusters: cached result (same inputs, data and code; --force recomputes)", file=sys.stderr)
    if args.json:  # JSON has no NaN: a radius that was not found is null
        print_json([{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()} for r in rows])
        return 0
    print(f"CMSI params {params.hash}: {params.as_dict()}")
    print(f"options: {dataclasses.asdict(options)}")
    print(f"{'cluster':15s} {'model':12s} {'M/M_hse(r2500)':>15s} {'M/M_hse(r500)':>14s} {'r500 [kpc]':>11s}")
    for r in rows:
        flag = "  (r500 beyond the data)" if r["r500_beyond_data"] and r["model"] == "hydrostatic" else ""
        print(
            f"{r['cluster']:15s} {r['model']:12s} {r['mass_ratio_r2500']:15.4g} {r['mass_ratio_r500']:14.4g} "
            f"{r['r500_kpc']:11.1f}{flag}"
        )
    return 0
