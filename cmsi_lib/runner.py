"""The atlas runner: execute the per-galaxy page template with papermill, in parallel (Dask),
behind a content-hash cache. It knows no physics: it fills the template's parameters, runs
it, stores what it produced, and gathers the one-row results the pages wrote.

Layout (``results`` is :func:`cmsi_lib.paths.results_dir`)::

    results/runs/<run-id>/run.json           the CMSI parameters and options of the run
    results/runs/<run-id>/pages/<FILE>.ipynb  executed page, and beside it <FILE>.key (its cache key)
    results/runs/<run-id>/rows/<NAME>.json    the row the page wrote through :func:`write_row`
    results/runs/<run-id>/atlas.csv           the rows gathered, in Table-1 order
    results/CURRENT                           the run id the book shows
    chapters/sparc/galaxies/<FILE>.ipynb      the pages of the CURRENT run, as the book reads them

``<run-id>`` is ``Params.hash`` when the options are the defaults, else
``<Params.hash>-<options hash>``. ``<FILE>`` is :func:`page_stem` of the galaxy name.

The cache key of a page is the sha256 of: the template's text, its parameters (galaxy, CMSI
parameters, options), the library (the sources of the ``cmsi_lib/*.py`` modules the template
imports, followed transitively, except this runner) and the data (the registry sha256 of the SPARC
tables). A page is executed only when its key file is missing or differs,
or its notebook or row is missing. Every file is written atomically and the key last, so an
interrupted run leaves no half-written output and a rerun does only what is missing.
"""

from __future__ import annotations

import ast
import csv
import dataclasses
import hashlib
import io
import json
import logging
import math
import os
import re
import sys
import time
from pathlib import Path

from tqdm.auto import tqdm

from . import datafiles, paths, sparc
from .options import SparcOptions
from .results import atomic_write_text

__all__ = [
    "TEMPLATE",
    "DATA_FILES",
    "PageResult",
    "RunReport",
    "page_stem",
    "pages_dir",
    "run_id",
    "run_dir",
    "current_run_id",
    "current_run_dir",
    "read_atlas",
    "write_row",
    "library_hash",
    "data_hash",
    "run_atlas",
]

#: the per-galaxy page template (MyST notebook; not part of the book)
TEMPLATE = paths.chapters_dir() / "sparc" / "galaxy_template.md"
#: the data files every page reads (their registry sha256 enter the cache key)
DATA_FILES = ("sparc/SPARC_Lelli2016c.mrt", "sparc/MassModels_Lelli2016c.mrt")


# --------------------------------------------------------------------------- names and places
def page_stem(name: str) -> str:
    """File-name stem of a galaxy's page: the name with '+' -> 'p' and any other character outside
    [A-Za-z0-9_-] -> '_' (SPARC names use only letters, digits and '-', so today stem == name)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name.replace("+", "p"))


def page_label(name: str) -> str:
    """The MyST label of a galaxy's page, e.g. ``atlas-ngc3198``."""
    return "atlas-" + page_stem(name).lower()


def pages_dir() -> Path:
    """Where the book reads the per-galaxy pages (generated, untracked)."""
    return paths.chapters_dir() / "sparc" / "galaxies"


def run_id(params, options=None) -> str:
    """Folder name of a run: ``params.hash``, plus a hash of the options when they are not the defaults."""
    extra = options.differs_from_defaults() if options is not None else {}
    if not extra:
        return params.hash
    return params.hash + "-" + _sha(json.dumps(options.as_dict(), sort_keys=True))[:8]


def run_dir(rid: str) -> Path:
    return paths.results_dir() / "runs" / rid


def current_file() -> Path:
    return paths.results_dir() / "CURRENT"


def current_run_id() -> str | None:
    """The run id the book shows (set by ``cmsi run``), or None."""
    f = current_file()
    return f.read_text().strip() or None if f.exists() else None


def current_run_dir() -> Path | None:
    rid = current_run_id()
    return run_dir(rid) if rid else None


# --------------------------------------------------------------------------- rows
def write_row(folder: str | Path, name: str, row: dict) -> Path:
    """Write one galaxy's result row (a flat JSON object) to ``folder/rows/<NAME>.json`` atomically.

    Called by the page template; ``folder`` is the run folder the runner passed in.
    """

    def plain(v):
        if hasattr(v, "item"):
            v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return v

    out = Path(folder) / "rows" / f"{page_stem(name)}.json"
    atomic_write_text(out, json.dumps({"galaxy": name, **{k: plain(v) for k, v in row.items()}}, indent=1))
    return out


def _gather(folder: Path, names: list[str]) -> list[dict]:
    rows = []
    for n in names:
        f = folder / "rows" / f"{page_stem(n)}.json"
        if f.exists():
            rows.append(json.loads(f.read_text()))
    return rows


def _write_csv(path: Path, rows: list[dict]) -> None:
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})
    atomic_write_text(path, buf.getvalue())


def read_atlas(rid: str | None = None):
    """The gathered atlas table of run ``rid`` (default: CURRENT) as an astropy Table, or None."""
    from astropy.table import Table  # imported here: astropy.table is slow to import; only readers need it

    rid = rid or current_run_id()
    if not rid:
        return None
    f = run_dir(rid) / "atlas.csv"
    if not f.exists():
        return None
    return Table.read(f, format="ascii.csv")


# --------------------------------------------------------------------------- cache keys
def _sha(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def _imported_modules(source: str) -> set[str]:
    """Names of the ``cmsi_lib/<name>.py`` modules that ``source`` imports (absolute or relative)."""
    src = "\n".join(ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!")))
    found: set[str] = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] == "cmsi_lib":
                    found |= {"__init__"} | ({parts[1]} if len(parts) > 1 else set())
        elif isinstance(node, ast.ImportFrom):
            parts = (node.module or "").split(".") if node.module else []
            if node.level == 0 and (not parts or parts[0] != "cmsi_lib"):
                continue
            inner = parts[1:] if node.level == 0 else parts
            found.add("__init__")
            if inner:
                found.add(inner[0])
            else:  # from cmsi_lib import a, b  /  from . import a, b
                found |= {a.name for a in node.names}
    return found


#: modules left out of the pages' library hash: the runner itself only says where a page's row
#: goes (``write_row``), not what a page computes
_NOT_IN_KEY = {"runner"}


def library_hash(sources: list[str] | None = None) -> str:
    """sha256 over the ``cmsi_lib/*.py`` modules the code in ``sources`` imports, transitively
    (all ``cmsi_lib/*.py`` when ``sources`` is None), except :data:`_NOT_IN_KEY`: a page is
    re-executed when a module it uses changes, not when an unrelated one does."""
    lib = paths.repo_root() / "cmsi_lib"
    available = {f.stem: f for f in lib.glob("*.py")}
    if sources is None:
        used = set(available)
    else:
        used: set[str] = set()
        todo = set().union(*(_imported_modules(s) for s in sources)) if sources else set()
        while todo:
            m = todo.pop()
            if m in used or m not in available or m in _NOT_IN_KEY:
                continue
            used.add(m)
            todo |= _imported_modules(available[m].read_text())
    h = hashlib.sha256()
    for m in sorted(used):
        h.update(m.encode() + b"\0" + available[m].read_bytes() + b"\0")
    return h.hexdigest()


def data_hash() -> str:
    """sha256 of the registry checksums of the files the pages read."""
    reg = datafiles.registry()
    return _sha(" ".join(reg[f].sha256 for f in DATA_FILES))


def _page_key(template_text: str, parameters: dict, lib: str, data: str) -> str:
    return _sha(
        json.dumps(
            {"template": _sha(template_text), "parameters": parameters, "library": lib, "data": data}, sort_keys=True
        )
    )


# --------------------------------------------------------------------------- execution
@dataclasses.dataclass
class PageResult:
    galaxy: str
    status: str  # "executed", "cached", "failed"
    seconds: float = 0.0
    error: str = ""


@dataclasses.dataclass
class RunReport:
    run_id: str
    run_dir: Path
    results: list[PageResult]
    seconds: float

    @property
    def failed(self) -> list[PageResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def executed(self) -> list[PageResult]:
        return [r for r in self.results if r.status == "executed"]

    @property
    def cached(self) -> list[PageResult]:
        return [r for r in self.results if r.status == "cached"]

    def summary(self) -> dict:
        return {
            "run_id": self.run_id,
            "run_dir": str(self.run_dir),
            "pages": len(self.results),
            "executed": len(self.executed),
            "cached": len(self.cached),
            "failed": [{"galaxy": r.galaxy, "error": r.error} for r in self.failed],
            "seconds": round(self.seconds, 2),
        }


def _short_error(exc: BaseException) -> str:
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename:
        text = f"{ename}: {evalue}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    text = re.sub(r"\x1b\[[0-9;]*m", "", text).strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return (lines[0] if lines else type(exc).__name__)[:500]


def _finish_notebook(nb, name: str) -> None:
    """Fill the galaxy name into the markdown cells and hide the parameter cells."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = cell.source.replace("GALAXY_LABEL", page_label(name)).replace("GALAXY_NAME", name)
        tags = cell.get("metadata", {}).get("tags", [])
        if "parameters" in tags or "injected-parameters" in tags:
            cell.metadata["tags"] = sorted(set(tags) | {"remove-cell"})
    nb.metadata.pop("jupytext", None)


def execute_page(
    template: str, name: str, parameters: dict, out_nb: str, key_file: str, cache_key: str, timeout: float, cwd: str
) -> PageResult:
    """Execute the template (its MyST text, as hashed into ``cache_key``) for one galaxy.

    Runs in a Dask worker; never raises: a failure is returned as a PageResult.
    """
    import jupytext  # imported here: the notebook stack is heavy; only page runs need it
    import nbformat  # (same)
    import papermill  # (same)

    t0 = time.perf_counter()
    out_nb, key_file = Path(out_nb), Path(key_file)
    key_file.unlink(missing_ok=True)
    try:
        nb = jupytext.reads(template, fmt="md:myst")
        nb = papermill.execute_notebook(
            nb,
            None,
            parameters=parameters,
            kernel_name="python3",
            cwd=cwd,
            progress_bar=False,
            log_output=False,
            request_save_on_cell_execute=False,
            execution_timeout=timeout,
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],  # no kernel start/stop chatter
        )
        _finish_notebook(nb, name)
        atomic_write_text(out_nb, nbformat.writes(nb))
        atomic_write_text(key_file, cache_key + "\n")
    except Exception as exc:  # noqa: BLE001 - every failure is reported per galaxy
        return PageResult(name, "failed", time.perf_counter() - t0, _short_error(exc))
    return PageResult(name, "executed", time.perf_counter() - t0)


def _default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def _execute_all(jobs: list[dict], workers: int | None, scheduler: str | None, progress: bool) -> list[PageResult]:
    if not jobs:
        return []
    bar = tqdm(
        total=len(jobs),
        desc="atlas pages",
        unit="page",
        disable=not progress,
        mininterval=0.1 if sys.stderr.isatty() else 15.0,
    )  # a log file gets a line per 15 s
    results: list[PageResult] = []
    if workers == 0 and scheduler is None:  # in this process, one after the other (debugging)
        for job in jobs:
            results.append(execute_page(**job))
            bar.update()
        bar.close()
        return results
    from distributed import Client, LocalCluster, as_completed  # imported here: Dask is heavy, unused serially

    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(
            n_workers=workers or _default_workers(),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
    try:
        futures = [
            client.submit(execute_page, **job, key=f"page-{job['name']}-{job['cache_key'][:12]}", pure=False)
            for job in jobs
        ]
        for fut in as_completed(futures):
            try:
                res = fut.result()
            except Exception as exc:  # a worker died
                name = next(j["name"] for j, f in zip(jobs, futures, strict=False) if f is fut)
                res = PageResult(name, "failed", 0.0, _short_error(exc))
            results.append(res)
            if res.status == "failed":
                bar.write(f"failed: {res.galaxy}: {res.error}")
            bar.update()
    finally:
        bar.close()
        client.close()
        if cluster is not None:
            cluster.close()
    return results


def _same_bytes(a: Path, b: Path) -> bool:
    return b.exists() and a.stat().st_size == b.stat().st_size and a.read_bytes() == b.read_bytes()


def run_atlas(
    params,
    options,
    galaxies: list[str] | None = None,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    timeout: float = 300.0,
    pages: Path | None = None,
    template: Path | None = None,
    progress: bool = True,
    set_current: bool = True,
) -> RunReport:
    """Execute the atlas page of each galaxy (default: all 175) for ``params`` and ``options``.

    Validates everything before any page starts: the galaxy names (UnknownGalaxyError), the
    options, the template and timeout. Pages whose cache key is unchanged are not executed.
    Then publishes every valid page of the run into ``pages`` (default :func:`pages_dir`),
    removes stale ones, gathers ``atlas.csv`` and, if ``set_current``, points CURRENT at the run.
    ``workers=0`` executes in this process without Dask; ``timeout`` [s] bounds each cell of a page.
    """
    t0 = time.perf_counter()
    template = Path(template or TEMPLATE)
    if not template.exists():
        raise FileNotFoundError(f"page template {template} does not exist")
    template_text = template.read_text()
    if "parameters" not in template_text:
        raise ValueError(f"page template {template} has no cell tagged 'parameters'")
    if not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(f"timeout = {timeout!r} s is not valid; it must be > 0 s")
    if workers is not None and (not isinstance(workers, int) or workers < 0):
        raise ValueError(f"workers = {workers!r} is not valid; it must be an integer >= 0")
    all_names = sparc.galaxy_names()
    selected = all_names if not galaxies else [sparc.check_galaxy_name(n) for n in dict.fromkeys(galaxies)]
    options = options if options is not None else SparcOptions()

    rid = run_id(params, options)
    folder = run_dir(rid)
    page_store = folder / "pages"
    page_store.mkdir(parents=True, exist_ok=True)
    pages = Path(pages or pages_dir())
    pages.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        folder / "run.json",
        json.dumps(
            {"run_id": rid, "params": params.as_dict(), "params_hash": params.hash, "options": options.as_dict()},
            indent=1,
        ),
    )

    import jupytext  # imported here: the notebook stack is heavy and only needed to run pages

    code = [c.source for c in jupytext.reads(template_text, fmt="md:myst").cells if c.cell_type == "code"]
    lib, data = library_hash(code), data_hash()

    def job_for(name: str) -> dict:
        parameters = {"galaxy": name, "params": params.as_dict(), "options": options.as_dict()}
        key = _page_key(template_text, parameters, lib, data)
        stem = page_stem(name)
        return {
            "template": template_text,
            "name": name,
            "parameters": {**parameters, "results_folder": str(folder)},
            "out_nb": str(page_store / f"{stem}.ipynb"),
            "key_file": str(page_store / f"{stem}.key"),
            "cache_key": key,
            "timeout": float(timeout),
            "cwd": str(folder),
        }

    def valid(job: dict) -> bool:
        kf, nb = Path(job["key_file"]), Path(job["out_nb"])
        row = folder / "rows" / f"{page_stem(job['name'])}.json"
        return kf.exists() and nb.exists() and row.exists() and kf.read_text().strip() == job["cache_key"]

    jobs = {n: job_for(n) for n in all_names}
    todo = [jobs[n] for n in selected if not valid(jobs[n])]
    results = {n: PageResult(n, "cached") for n in selected}
    for res in _execute_all(todo, workers, scheduler, progress):
        results[res.galaxy] = res

    # publish every valid page of this run; remove pages that are not (stale or failed)
    ok_names = [n for n in all_names if valid(jobs[n])]
    keep = set()
    for n in ok_names:
        src, dst = Path(jobs[n]["out_nb"]), pages / page_file(n)
        keep.add(dst.name)
        if not _same_bytes(src, dst):
            atomic_write_text(dst, src.read_text())
    for f in pages.glob("*.ipynb"):
        if f.name not in keep:
            f.unlink()
    _write_csv(folder / "atlas.csv", _gather(folder, ok_names))
    if set_current:
        atomic_write_text(current_file(), rid + "\n")
    return RunReport(rid, folder, [results[n] for n in selected], time.perf_counter() - t0)


#: chapters that read the gathered atlas (re-executed by the book when the atlas changes)
ATLAS_CHAPTERS = (paths.chapters_dir() / "sparc" / "atlas.md",)


def refresh_book_cache(build_dir: Path | None = None) -> int:
    """Make the book re-execute the chapters that read the atlas when the CURRENT atlas changed.

    Jupyter Book's cache (jupyter-cache) keys a chapter on its cell sources only, so a new
    ``atlas.csv`` would otherwise leave the atlas chapter showing the old numbers; and Sphinx
    re-reads (so re-executes) only sources newer than their doctrees. Compares a stamp (the
    CURRENT run id and its atlas.csv) with the one of the last call and, if it differs, removes
    those chapters' records from ``build_dir/.jupyter_cache`` and touches their sources (mtime
    only). Returns the number of cache records removed.
    """
    build_dir = Path(build_dir or paths.repo_root() / "_build")
    rid = current_run_id()
    csv_file = run_dir(rid) / "atlas.csv" if rid else None
    stamp = _sha((rid or "") + (csv_file.read_text() if csv_file and csv_file.exists() else ""))
    stamp_file = build_dir / ".cmsi-atlas-stamp"
    if stamp_file.exists() and stamp_file.read_text().strip() == stamp:
        return 0
    removed = 0
    for chapter in ATLAS_CHAPTERS:
        if chapter.exists():
            chapter.touch()
    cache_dir = build_dir / ".jupyter_cache"
    if cache_dir.exists():
        try:
            from jupyter_cache import get_cache  # imported here: only a book refresh needs it
        except ImportError:  # no book toolchain: nothing cached to refresh
            return 0
        cache = get_cache(cache_dir)
        targets = {c.resolve() for c in ATLAS_CHAPTERS}
        for rec in cache.list_cache_records():
            if rec.uri and Path(rec.uri).resolve() in targets:
                cache.remove_cache(rec.pk)
                removed += 1
    atomic_write_text(stamp_file, stamp + "\n")
    return removed


def page_file(name: str) -> str:
    """The page file name of a galaxy, e.g. ``NGC3198.ipynb``."""
    return page_stem(name) + ".ipynb"
