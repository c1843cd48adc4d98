"""Parameter sweeps: CMSI parameter sets x galaxies, each galaxy fitted (nuisance profiled) at each set.

    with SweepRunner() as runner:              # a Dask LocalCluster of 2 single-thread workers
        res = runner.run([Params(chi0=1e5), Params(chi0=1e6)], sample)
    res.chi2[i, j]                              # chi^2 of galaxy j at parameter set i

scheduler:
    None or "local"   start a ``distributed.LocalCluster`` (``n_workers`` processes, 1 thread each)
    "tcp://host:port" connect to an existing Dask scheduler (its workers need cmsi_lib and the data)
    "serial"          no Dask: run in this process (tests, debugging, tiny sweeps)

Work is cut into tasks of (one parameter set, one batch of galaxies); the galaxies are sent to the
workers once (``Client.scatter``). A tqdm progress bar counts finished tasks when ``progress``.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from collections.abc import Mapping, Sequence

import numpy as np
from tqdm.auto import tqdm

from . import models
from .fitting import fit_galaxy
from .kernel import InputError
from .options import SparcOptions
from .params import Params

__all__ = ["SweepResult", "SweepRunner", "run_sweep"]


@dataclasses.dataclass
class SweepResult:
    """Arrays of shape (n_sets, n_galaxies): objective (chi2 + chi2_prior), chi2, success; reason (lists
    of strings, "" on success); n_points per galaxy; seconds of wall time; tasks run."""

    galaxies: list
    objective: np.ndarray
    chi2: np.ndarray
    success: np.ndarray
    reason: list
    n_points: np.ndarray
    seconds: float
    n_tasks: int

    @property
    def fits_per_second(self) -> float:
        return self.objective.size / self.seconds if self.seconds > 0 else float("nan")


def _fit_batch(params: Params, batch: list, options, nuisance: str, model_name: str):
    """Fit one batch [(name, Galaxy, mask)] at one parameter set; returns rows (obj, chi2, ok, reason)."""
    model = (
        models.get_model(model_name, params=params, options=options)
        if model_name.startswith("cmsi")
        else models.get_model(model_name)
    )
    out = []
    for _name, g, m in batch:
        r = fit_galaxy(g, model, params, mask=m, nuisance=nuisance)
        out.append((r.objective, r.chi2, r.success, r.reason))
    return out


def _batches(sample: Mapping, n_batches: int) -> list[list]:
    """Split the sample into batches of similar total size (points), keeping the order inside each."""
    items = []
    for name, item in sample.items():
        g, m = item if isinstance(item, tuple) else (item, None)
        m = np.ones(g.R.size, bool) if m is None else np.asarray(m, bool)
        items.append((name, g, m))
    n_batches = max(1, min(n_batches, len(items)))
    loads = np.zeros(n_batches)
    batches: list[list] = [[] for _ in range(n_batches)]
    for it in sorted(items, key=lambda t: -int(t[2].sum())):
        k = int(np.argmin(loads))
        batches[k].append(it)
        loads[k] += int(it[2].sum()) + 5
    return [b for b in batches if b]


class SweepRunner:
    """Runs sweeps on a Dask cluster (or serially); a context manager that owns the cluster it starts."""

    def __init__(
        self, scheduler: str | None = None, n_workers: int = 2, progress: bool = True, batches_per_worker: int = 2
    ):
        if scheduler not in (None, "local", "serial") and not str(scheduler).startswith(
            ("tcp://", "tls://", "inproc://")
        ):
            raise InputError(
                f"scheduler = {scheduler!r}: use None/'local' (a LocalCluster), 'serial', "
                "or a scheduler address like tcp://127.0.0.1:8786"
            )
        if not (isinstance(n_workers, int) and n_workers >= 1):
            raise InputError(f"n_workers = {n_workers!r} must be an integer >= 1")
        self.scheduler = scheduler
        self.n_workers = n_workers
        self.progress = progress
        self.batches_per_worker = batches_per_worker
        self.client = None
        self._cluster = None

    def __enter__(self):
        if self.scheduler == "serial":
            return self
        from distributed import Client, LocalCluster  # imported here: Dask is heavy and not needed serially

        if self.scheduler in (None, "local"):
            # random ports: other sweeps (or other people's clusters) may be running on this machine
            self._cluster = LocalCluster(
                n_workers=self.n_workers,
                threads_per_worker=1,
                processes=True,
                scheduler_port=0,
                dashboard_address=":0",
                silence_logs=logging.ERROR,
            )
            self.client = Client(self._cluster)
        else:
            self.client = Client(self.scheduler)
        return self

    def __exit__(self, *exc):
        if self.client is not None:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()
        self.client = self._cluster = None
        return False

    @property
    def workers(self) -> int:
        if self.client is None:
            return 1
        return max(1, len(self.client.scheduler_info().get("workers", {})))

    def run(
        self,
        param_sets: Sequence[Params],
        sample: Mapping,
        options=None,
        nuisance: str = "full",
        model_name: str = "cmsi",
    ) -> SweepResult:
        """Fit every galaxy of ``sample`` (name -> Galaxy or (Galaxy, mask)) at every parameter set."""
        options = SparcOptions() if options is None else options
        param_sets = list(param_sets)
        for p in param_sets:
            if not isinstance(p, Params):
                raise InputError(f"parameter sets must be cmsi_lib.Params, got {type(p).__name__}")
        if not param_sets or not sample:
            raise InputError("a sweep needs at least one parameter set and one galaxy")
        names = list(sample)
        col = {n: j for j, n in enumerate(names)}
        batches = _batches(sample, self.batches_per_worker * self.workers)
        n_sets, n_gal = len(param_sets), len(names)
        obj = np.full((n_sets, n_gal), np.nan)
        chi2 = np.full((n_sets, n_gal), np.nan)
        ok = np.zeros((n_sets, n_gal), bool)
        reason = [[""] * n_gal for _ in range(n_sets)]
        npts = np.zeros(n_gal, int)
        for batch in batches:
            for name, _g, m in batch:
                npts[col[name]] = int(m.sum())
        t0 = time.perf_counter()
        bar = _bar(len(batches) * n_sets, self.progress)

        def store(i, b, rows):
            for (name, _g, _m), (o, c, s, r) in zip(batches[b], rows, strict=False):
                j = col[name]
                obj[i, j], chi2[i, j], ok[i, j], reason[i][j] = o, c, s, r
            bar.update(1)

        if self.client is None:
            for i, p in enumerate(param_sets):
                for b, batch in enumerate(batches):
                    store(i, b, _fit_batch(p, batch, options, nuisance, model_name))
        else:
            from distributed import as_completed  # imported here: Dask is heavy and not needed serially

            # hash=False: a fresh key per run, so releasing an earlier run's identical data cannot
            # take this run's away ("lost dependencies")
            remote = self.client.scatter(batches, broadcast=True, hash=False)
            futs = {}
            for i, p in enumerate(param_sets):
                for b, rb in enumerate(remote):
                    f = self.client.submit(_fit_batch, p, rb, options, nuisance, model_name, pure=False)
                    futs[f] = (i, b)
            for f in as_completed(futs):
                i, b = futs[f]
                store(i, b, f.result())
            del remote, futs
        bar.close()
        return SweepResult(names, obj, chi2, ok, reason, npts, time.perf_counter() - t0, len(batches) * n_sets)


def _bar(total: int, enabled: bool):
    return tqdm(
        total=total,
        desc="sweep (tasks)",
        disable=not enabled,
        leave=False,
        mininterval=0.1 if sys.stderr.isatty() else 15.0,
    )  # a log file gets a line per 15 s


def run_sweep(
    param_sets: Sequence[Params],
    sample: Mapping,
    options=None,
    nuisance: str = "full",
    model_name: str = "cmsi",
    scheduler: str | None = None,
    n_workers: int = 2,
    progress: bool = True,
) -> SweepResult:
    """One sweep on a fresh runner (see ``SweepRunner``)."""
    with SweepRunner(scheduler, n_workers=n_workers, progress=progress) as runner:
        return runner.run(param_sets, sample, options=options, nuisance=nuisance, model_name=model_name)
