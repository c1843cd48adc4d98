"""The atlas runner: execute the per-galaxy page template (papermill's parameters, a warm kernel per
Dask worker reset before each page: :mod:`cmsi_lib.page_engine`), in parallel (Dask),
behind a content-hash cache. It knows no physics: it fills the template's parameters, runs
it, stores what it produced, and gathers the one-row results the pages wrote.

Layout (``results`` is :func:`cmsi_lib.paths.results_dir`)::

    results/runs/<run-id>/run.json           the CMSI parameters and options of the run
    results/runs/<run-id>/run.lock           held by the run using this folder (fcntl.flock; holds its pid)
    results/runs/<run-id>/pages/<FILE>.ipynb  executed page, and beside it <FILE>.key (its cache key)
    results/runs/<run-id>/rows/<NAME>.json    the row the page wrote through :func:`write_row`
    results/runs/<run-id>/atlas.csv           the valid rows of the run, in Table-1 order
    results/CURRENT                           the run id the book shows
    results/publish.lock                      held while a run publishes into the book
    chapters/sparc/galaxies/<FILE>.ipynb      the pages of the CURRENT run, as the book reads them

``<run-id>`` is ``Params.hash`` when the options are the defaults, else
``<Params.hash>-<options hash>``. ``<FILE>`` is :func:`page_stem` of the galaxy name.

The cache key of a page is the sha256 of: the template's text, its parameters (galaxy, CMSI
parameters, options), the library (the sources of the ``cmsi_lib/*.py`` modules the template
imports, followed transitively, except this runner), the data (the registry sha256 of the SPARC
tables) and the survey's record of the galaxy (the fits the page shows: :func:`survey_record_hash`,
so a new survey re-executes exactly the pages whose fits changed). Every file is written
atomically and the key last, so an interrupted run leaves no
half-written output and a rerun does only what is missing.

A cache entry is checked every time it is read (:func:`check_entry`): the key file must hold the
page's key, the notebook must parse with nbformat with every code cell executed and no error
output, and the row must be a JSON object whose ``galaxy`` is the page's. An entry with the right
key that fails the check (a truncated notebook or row, say) is executed again and reported as
``recomputed``; it is never published and never gathered into ``atlas.csv``.

Faults, each with a deliberate behaviour:

- Two runs at the same parameters: the second waits for the first (the run folder's lock; it says
  so, with the other run's pid), then takes the pages from the cache.
- A page that exceeds the time limit of a cell, or whose worker process dies (it is retried once in
  a new worker process): that page is reported failed with the reason; the other pages finish.
- A file that cannot be written (read-only folder, full disk): :class:`ResultsWriteError` naming the
  file; the temporary file is removed, the previous file (if any) left intact.
- A corrupted data file: the checksum error of :func:`cmsi_lib.datafiles.fetch`, before any page.
- Ctrl-C: the Dask workers never see it (they start with SIGINT blocked); the cluster is shut down
  with its logging silenced, and KeyboardInterrupt reaches the caller (``cmsi``: one line, exit 130).

Publishing (what the book shows), see :func:`run_atlas`: a run of every galaxy publishes; a run of
some galaxies (``galaxies=[...]``) updates those pages in the book only when its run is the one the
book shows, and otherwise stays in its run folder unless ``publish=True``. No run ever removes the
pages of galaxies it did not run from the book, except a published run replacing another run.
"""

from __future__ import annotations

import ast
import contextlib
import csv
import dataclasses
import errno
import fcntl
import hashlib
import io
import json
import logging
import math
import os
import re
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tqdm.auto import tqdm

from . import datafiles, page_engine, paths, sparc
from .errors import ResultsWriteError
from .options import SparcOptions
from .page_figure import FIGURES, check_figures
from .results import atomic_write_text, survey_dir, survey_has_run

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
    "check_entry",
    "library_hash",
    "data_hash",
    "run_atlas",
]

#: the per-galaxy page template (MyST notebook; not part of the book)
TEMPLATE = paths.chapters_dir() / "sparc" / "galaxy_template.md"
#: the data files every page reads (their registry sha256 enter the cache key)
DATA_FILES = ("sparc/SPARC_Lelli2016c.mrt", "sparc/MassModels_Lelli2016c.mrt")
#: how many times a page whose worker process died is tried in all (Dask's allowed-failures + 1)
PAGE_ATTEMPTS = 2
#: how a page draws its figure unless told otherwise (the template's default): in the browser
DEFAULT_FIGURES = FIGURES[0]


# --------------------------------------------------------------------------- names and places
def page_stem(name: str) -> str:
    """File-name stem of a galaxy's page: the name with '+' -> 'p' and any other character outside
    [A-Za-z0-9_-] -> '_' (SPARC names use only letters, digits and '-', so today stem == name)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name.replace("+", "p"))


def page_label(name: str) -> str:
    """The MyST label of a galaxy's page, e.g. ``atlas-ngc3198``."""
    return "atlas-" + page_stem(name).lower()


def page_file(name: str) -> str:
    """The page file name of a galaxy, e.g. ``NGC3198.ipynb``."""
    return page_stem(name) + ".ipynb"


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


# --------------------------------------------------------------------------- writing
def _write_error(path: Path, exc: OSError, doing: str = "write") -> ResultsWriteError:
    """A ResultsWriteError naming ``path`` and what to fix, from the OSError of a write."""
    reason = exc.strerror or str(exc)
    failed = Path(exc.filename) if exc.filename else path  # the entry that could not be made
    where = f" ({failed})" if failed != path and failed.parent != path.parent else ""
    if exc.errno == errno.ENOSPC:
        fix = f"free space on the disk holding {failed.parent}"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = f"make {failed.parent} writable"
    else:
        fix = f"check {failed.parent}"
    err = ResultsWriteError(
        f"cannot {doing} {path}: {reason}{where}. Nothing was left half-written; {fix}, or set "
        "CMSI_RESULTS_DIR to another folder for the results, then run again (what is done is kept)."
    )
    err.errno, err.filename = exc.errno, str(path)
    return err


def _write(path: Path, text: str) -> None:
    """:func:`atomic_write_text`, with an OSError turned into a :class:`ResultsWriteError` naming the file."""
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise _write_error(Path(path), exc) from None


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise _write_error(path, exc, "remove") from None


def _mkdir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _write_error(path, exc, "create the folder") from None


def _stage(path: Path, text: str) -> Path:
    """Write ``text`` to a new temporary file beside ``path`` and return it (for the caller to
    rename into place); on any failure the temporary file is removed."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _write_error(path, exc) from None
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _write_error(path, exc) from None
        raise
    return Path(tmp)


def _replace_all(files: dict[Path, str]) -> None:
    """Write every ``path: text`` of ``files`` all or nothing as far as space and permissions go:
    each text goes to a temporary file first (a full disk or a read-only folder fails here, and
    every temporary file is removed), then they are renamed into place, in order."""
    staged: list[tuple[Path, Path]] = []
    try:
        for path, text in files.items():
            staged.append((_stage(path, text), path))
        while staged:
            tmp, path = staged[0]
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise _write_error(path, exc) from None
            staged.pop(0)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)


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
    _write(out, json.dumps({"galaxy": name, **{k: plain(v) for k, v in row.items()}}, indent=1))
    return out


def _write_csv(path: Path, rows: list[dict]) -> None:
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})
    _write(path, buf.getvalue())


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


def survey_record_hash(name: str) -> str:
    """sha256 of the survey's record of galaxy ``name`` (the fits its page shows), or a tag saying why
    there is none (the survey has not run / the galaxy is not in its sample)."""
    f = survey_dir() / "galaxies" / f"{sparc.file_stem(name)}.json"
    if f.is_file():
        return _sha(f.read_bytes())
    return "in-no-survey" if not survey_has_run() else "not-in-sample"


def _page_key(template_text: str, parameters: dict, lib: str, data: str, survey: str) -> str:
    inputs = {"template": _sha(template_text), "parameters": parameters, "library": lib, "data": data}
    return _sha(json.dumps({**inputs, "survey": survey}, sort_keys=True))


# --------------------------------------------------------------------------- cache entries
def _notebook_problem(path: Path, code_cells: int) -> str | None:
    """Why the executed notebook ``path`` is not a complete page (None if it is one): it must parse
    with nbformat, hold ``code_cells`` code cells (the template's and the injected parameters),
    each executed, and no error output."""
    import nbformat  # imported here: the notebook stack is heavy; only page runs need it

    try:
        nb = nbformat.reads(path.read_text(), as_version=4)
        cells = [c for c in nb.cells if c.get("cell_type") == "code"]
    except Exception as exc:  # noqa: BLE001 - NotJSONError, a missing key, bad UTF-8: all mean "not a notebook"
        return f"its notebook {path.name} does not parse ({_short_error(exc)})"
    if len(cells) != code_cells:
        return f"its notebook {path.name} has {len(cells)} code cells, not {code_cells}"
    for i, cell in enumerate(cells, 1):
        if cell.get("source", "").strip() and cell.get("execution_count") is None:
            return f"code cell {i} of its notebook {path.name} was not executed"
        if any(out.get("output_type") == "error" for out in cell.get("outputs", [])):
            return f"code cell {i} of its notebook {path.name} has an error output"
    return None


def _read_row(path: Path, name: str) -> tuple[dict | None, str | None]:
    """The row of galaxy ``name`` in ``path`` and None, or None and why it is not valid."""
    try:
        row = json.loads(path.read_text())
    except FileNotFoundError:
        return None, f"its row {path.name} is missing"
    except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None, f"its row {path.name} is not valid JSON ({_short_error(exc)})"
    if not isinstance(row, dict):
        return None, f"its row {path.name} is a JSON {type(row).__name__}, not an object"
    if row.get("galaxy") != name:
        return None, f"its row {path.name} is for galaxy {row.get('galaxy')!r}, not {name!r}"
    return row, None


def check_entry(job: dict, code_cells: int) -> tuple[str, str]:
    """The state of a page's cache entry: ``("valid", "")``; ``("absent", why)`` when the page has not
    run at these inputs (no key file, or the key of other inputs); ``("invalid", why)`` when the key
    is right but the notebook or the row fails its check (truncated, not executed, an error output,
    another galaxy's row). ``job`` is the page's job (``key_file``, ``out_nb``, ``row_file``,
    ``cache_key``, ``name``); ``code_cells`` the code cells a complete page has."""
    key_file, nb, row = Path(job["key_file"]), Path(job["out_nb"]), Path(job["row_file"])
    try:
        key = key_file.read_text().strip()
    except FileNotFoundError:
        return "absent", "not executed at these inputs"
    except (OSError, ValueError) as exc:
        return "invalid", f"its key file {key_file.name} cannot be read ({_short_error(exc)})"
    if not re.fullmatch(r"[0-9a-f]{64}", key):
        return "invalid", f"its key file {key_file.name} does not hold a sha256"
    if key != job["cache_key"]:
        return "absent", "its inputs changed"
    problem = _notebook_problem(nb, code_cells) if nb.exists() else f"its notebook {nb.name} is missing"
    problem = problem or _read_row(row, job["name"])[1]
    return ("invalid", problem) if problem else ("valid", "")


# --------------------------------------------------------------------------- locks
def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _locked(lock_file: Path, what: str, notify: Callable[[str], None]) -> Iterator[None]:
    """Hold an exclusive ``fcntl.flock`` on ``lock_file`` (created if needed) for the ``with`` block.

    When another process holds it, ``notify`` is told (with that process's pid, which each holder
    writes into the file) and the call waits. The lock goes with the process: a killed run leaves
    no stale lock behind.
    """
    try:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise _write_error(lock_file, exc, "create the lock file") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            notify(f"waiting for {what}, pid {holder}, to finish (it holds {lock_file})")
            fcntl.flock(fd, fcntl.LOCK_EX)
        with contextlib.suppress(OSError):  # the pid is only for the message above: a full disk is no reason to stop
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


# --------------------------------------------------------------------------- execution
@dataclasses.dataclass
class PageResult:
    galaxy: str
    status: str  # "executed", "recomputed" (executed: its cache entry failed the check), "cached", "failed"
    seconds: float = 0.0
    error: str = ""  # why it failed ("failed"), or why its cache entry was not valid ("recomputed")


@dataclasses.dataclass
class RunReport:
    run_id: str
    run_dir: Path
    results: list[PageResult]
    seconds: float
    published: str = ""  # what the run did to the book (a sentence)
    #: galaxies outside this run whose cache entry failed its check: left out of atlas.csv and the book
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def failed(self) -> list[PageResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def executed(self) -> list[PageResult]:
        """The pages executed by this run, the recomputed ones included."""
        return [r for r in self.results if r.status in ("executed", "recomputed")]

    @property
    def recomputed(self) -> list[PageResult]:
        return [r for r in self.results if r.status == "recomputed"]

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
            "recomputed": [{"galaxy": r.galaxy, "reason": r.error} for r in self.recomputed],
            "failed": [{"galaxy": r.galaxy, "error": r.error} for r in self.failed],
            "skipped": [{"galaxy": n, "reason": why} for n, why in self.skipped.items()],
            "published": self.published,
            "seconds": round(self.seconds, 2),
        }


def _short_error(exc: BaseException) -> str:
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename:
        text = f"{ename}: {evalue}"
    elif isinstance(exc, ResultsWriteError):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}"
    text = re.sub(r"\x1b\[[0-9;]*m", "", text).strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return (lines[0] if lines else type(exc).__name__)[:500]


def _page_error(exc: BaseException, timeout: float) -> str:
    """The reason a page failed, in the words of this runner for the faults it knows."""
    if isinstance(exc, TimeoutError):  # nbclient's CellTimeoutError
        return f"a cell ran longer than the time limit of {timeout:g} s per cell (--timeout); the page was stopped"
    if type(exc).__name__ == "KilledWorker":  # distributed.KilledWorker: imported lazily, so matched by name
        return (
            f"the worker process running this page died {PAGE_ATTEMPTS} times (killed, out of memory or "
            "crashed); the other pages are not affected"
        )
    return _short_error(exc)


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
    template: str,
    name: str,
    parameters: dict,
    out_nb: str,
    key_file: str,
    row_file: str,
    cache_key: str,
    timeout: float,
    cwd: str,
) -> PageResult:
    """Execute the template (its MyST text, as hashed into ``cache_key``) for one galaxy.

    Removes the page's key and row first (so a page that stops half-way leaves no entry that could
    pass as valid), writes the notebook, then the key. Runs in a Dask worker; never raises: a failure
    is returned as a PageResult.
    """
    import jupytext  # imported here: the notebook stack is heavy; only page runs need it
    import nbformat  # (same)

    t0 = time.perf_counter()
    out_nb, key_file = Path(out_nb), Path(key_file)
    try:
        _remove(key_file)
        _remove(Path(row_file))
        nb = jupytext.reads(template, fmt="md:myst")
        nb = page_engine.execute_page_notebook(nb, parameters, cwd, timeout)  # a warm kernel per worker
        _finish_notebook(nb, name)
        _write(out_nb, nbformat.writes(nb))
        _write(key_file, cache_key + "\n")
    except Exception as exc:  # noqa: BLE001 - every failure is reported per galaxy
        return PageResult(name, "failed", time.perf_counter() - t0, _page_error(exc, timeout))
    return PageResult(name, "executed", time.perf_counter() - t0)


def _default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def _execute_all(jobs: list[dict], workers: int | None, scheduler: str | None, progress: bool) -> list[PageResult]:
    """Execute ``jobs`` (keyword arguments of :func:`execute_page`): in this process one after the
    other when ``workers == 0`` (debugging, tests), else on Dask (a LocalCluster of ``workers``
    processes, default one per core, or the cluster at ``scheduler``)."""
    if not jobs:
        return []
    bar = tqdm(
        total=len(jobs),
        desc="atlas pages",
        unit="page",
        disable=not progress,
        mininterval=0.1 if sys.stderr.isatty() else 15.0,
    )  # a log file gets a line per 15 s
    serial = workers == 0 and scheduler is None
    stream = (execute_page(**job) for job in jobs) if serial else _execute_on_dask(jobs, workers, scheduler)
    results: list[PageResult] = []
    try:
        for res in stream:
            if res.status == "failed":
                bar.write(f"failed: {res.galaxy}: {res.error}", file=sys.stderr)
            results.append(res)
            bar.update()
    finally:
        stream.close()  # on an interruption: shut the cluster down now, not when the generator is collected
        bar.close()
    return results


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """While the Dask cluster starts: SIGINT blocked in this thread, so the threads Dask starts now
    and the worker processes they spawn (now, and on a restart) inherit the block and never see a
    Ctrl-C (a terminal signals the whole process group; a worker interrupted prints tracebacks).
    A Ctrl-C meanwhile is recorded and raised as KeyboardInterrupt when the cluster is up. Only in
    the main thread (signals are the main thread's business); elsewhere a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    import multiprocessing.resource_tracker  # imported here: only a local cluster needs it

    # started now: its start-up unblocks SIGINT in the thread that starts it
    multiprocessing.resource_tracker.ensure_running()
    pressed = []
    old_handler = signal.signal(signal.SIGINT, lambda *_: pressed.append(True))
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        signal.signal(signal.SIGINT, old_handler)
    if pressed:
        raise KeyboardInterrupt


#: Dask settings of a run: a page whose worker dies is tried PAGE_ATTEMPTS times; a local worker
#: that is slow to restart (a loaded machine) is waited for, not dropped after Dask's default 15 s
_DASK_CONFIG = {
    "distributed.scheduler.allowed-failures": PAGE_ATTEMPTS - 1,
    "distributed.deploy.lost-worker-timeout": "1 hour",
}


def _execute_on_dask(jobs: list[dict], workers: int | None, scheduler: str | None) -> Iterator[PageResult]:
    """Yield the result of each job as it completes, on Dask. As many pages are in flight as the
    cluster has threads (a worker process that dies takes only its own page with it, and a result
    is fetched and released as soon as it is there); a page whose worker process dies is tried
    :data:`PAGE_ATTEMPTS` times in all."""
    import dask  # imported here: Dask is heavy and unused by serial runs
    from distributed import Client, LocalCluster  # (same)

    cluster = client = None
    interrupted = False
    n_workers = workers or _default_workers()
    with dask.config.set(_DASK_CONFIG):
        try:
            with _sigint_deferred():
                if not scheduler:
                    cluster = LocalCluster(
                        n_workers=n_workers,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},  # its HTTP server: a free local port
                        silence_logs=logging.ERROR,
                    )
                client = Client(cluster if cluster is not None else scheduler)
            todo, running = list(reversed(jobs)), {}
            while todo or running:
                while todo and len(running) < max(1, sum(client.nthreads().values())):
                    job = todo.pop()
                    key = f"page-{job['name']}-{job['cache_key'][:12]}"
                    running[client.submit(execute_page, **job, key=key, pure=False)] = job
                fut = _next_done(list(running), cluster, n_workers)
                job = running.pop(fut)
                try:
                    res = fut.result()
                except Exception as exc:  # noqa: BLE001 - the worker died (KilledWorker) or the scheduler went away
                    res = PageResult(job["name"], "failed", 0.0, _page_error(exc, job["timeout"]))
                fut.release()
                yield res
        except (KeyboardInterrupt, GeneratorExit):
            interrupted = True
            raise
        finally:
            _stop_dask(cluster, client, quiet=interrupted)


def _next_done(futures: list, cluster, n_workers: int):
    """The first of ``futures`` to finish. While none does, a local cluster left with no worker
    process at all (one that failed to restart) is given its workers again."""
    from distributed import wait  # imported here: Dask is heavy and unused by serial runs

    while True:
        try:
            done, _ = wait(futures, timeout=30, return_when="FIRST_COMPLETED")
        except TimeoutError:
            done = set()
        if done:
            return next(f for f in futures if f in done)
        if cluster is not None and not cluster.workers:
            cluster.scale(n_workers)


def _stop_dask(cluster, client, quiet: bool) -> None:
    """Close the client and the local cluster. ``quiet`` (after Ctrl-C): the local worker processes
    are ended at once (a page in progress would hold each one for seconds), and the log records
    the nannies emit meanwhile are dropped."""
    main = threading.current_thread() is threading.main_thread()
    old_handler = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None  # a 2nd Ctrl-C: no traceback
    old_disable = logging.root.manager.disable
    if quiet:
        logging.disable(logging.CRITICAL)
    try:
        for nanny in list(getattr(cluster, "workers", {}).values()) if quiet else []:
            with contextlib.suppress(Exception):  # already gone, or not started
                nanny.close_gracefully()  # no restart when its worker ends
                os.kill(nanny.pid, signal.SIGTERM)
        with contextlib.suppress(Exception):
            if client is not None:
                client.close(timeout=5 if quiet else 30)
        with contextlib.suppress(Exception):
            if cluster is not None:
                cluster.close(timeout=2 if quiet else 30)
    finally:
        logging.disable(old_disable)
        if main:
            signal.signal(signal.SIGINT, old_handler)


def _same_bytes(a: Path, b: Path) -> bool:
    return b.exists() and a.stat().st_size == b.stat().st_size and a.read_bytes() == b.read_bytes()


def _check_inputs(template: Path, timeout, workers, galaxies) -> tuple[str, list[str], list[str]]:
    """The template's text, all galaxy names and the selected ones; raises on any invalid input and
    on a data file that fails its checksum, so nothing starts with bad input."""
    if not template.exists():
        raise FileNotFoundError(f"page template {template} does not exist")
    template_text = template.read_text()
    if "parameters" not in template_text:
        raise ValueError(f"page template {template} has no cell tagged 'parameters'")
    if not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(f"timeout = {timeout!r} s is not valid; it must be > 0 s")
    if workers is not None and (not isinstance(workers, int) or workers < 0):
        raise ValueError(f"workers = {workers!r} is not valid; it must be an integer >= 0")
    for name in DATA_FILES:  # checked now, every run: a file changed since the last run is refused here
        datafiles.fetch(name)
    all_names = sparc.galaxy_names()
    selected = all_names if not galaxies else [sparc.check_galaxy_name(n) for n in dict.fromkeys(galaxies)]
    return template_text, all_names, selected


def _jobs(
    template_text: str, params, options, folder: Path, timeout: float, figures: str = DEFAULT_FIGURES
) -> tuple[dict[str, dict], int]:
    """The job (keyword arguments of :func:`execute_page`) of every galaxy, and the number of code
    cells of a complete page (the template's and the parameters papermill injects). ``figures`` is
    passed to the pages only when it is not the template's default (a template of one's own need
    not know it)."""
    import jupytext  # imported here: the notebook stack is heavy and only needed to run pages

    code = [c.source for c in jupytext.reads(template_text, fmt="md:myst").cells if c.cell_type == "code"]
    lib, data = library_hash(code), data_hash()
    jobs = {}
    for name in sparc.galaxy_names():
        parameters = {"galaxy": name, "params": params.as_dict(), "options": options.as_dict()}
        if figures != DEFAULT_FIGURES:
            parameters["figures"] = figures
        stem = page_stem(name)
        jobs[name] = {
            "template": template_text,
            "name": name,
            "parameters": {**parameters, "results_folder": str(folder)},
            "out_nb": str(folder / "pages" / f"{stem}.ipynb"),
            "key_file": str(folder / "pages" / f"{stem}.key"),
            "row_file": str(folder / "rows" / f"{stem}.json"),
            "cache_key": _page_key(template_text, parameters, lib, data, survey_record_hash(name)),
            "timeout": float(timeout),
            "cwd": str(folder),
        }
    return jobs, len(code) + 1


def _run_pages(jobs: dict[str, dict], code_cells: int, selected: list[str], execute) -> tuple[dict, dict]:
    """Check every cache entry, execute (``execute(list_of_jobs)``) the selected pages whose entry is
    not valid, check what they wrote. Returns the PageResult of each selected galaxy and the state
    (:func:`check_entry`) of every galaxy's entry afterwards."""
    states = {n: check_entry(job, code_cells) for n, job in jobs.items()}
    results = {n: PageResult(n, "cached") for n in selected}
    for n in selected:
        if states[n][0] == "invalid":
            results[n] = PageResult(n, "recomputed", error=states[n][1])
    for res in execute([jobs[n] for n in selected if states[n][0] != "valid"]):
        n = res.galaxy
        states[n] = check_entry(jobs[n], code_cells) if res.status != "failed" else ("absent", res.error)
        if res.status == "failed":
            results[n] = res
        elif states[n][0] != "valid":
            results[n] = PageResult(n, "failed", res.seconds, f"the page ran, but {states[n][1]}")
        else:
            status = "recomputed" if results[n].status == "recomputed" else "executed"
            results[n] = PageResult(n, status, res.seconds, results[n].error)
    return results, states


def _publish(rid: str, jobs: dict, valid: list[str], selected: list[str], pages: Path, mode: str) -> str:
    """Copy the run's valid pages into the book's ``pages`` folder. ``mode`` "run": the book shows this
    run (its valid pages; every other page removed; CURRENT set); "update": only the ``selected``
    galaxies' pages are replaced (removed if not valid), the others untouched. The new pages and
    CURRENT are written all or nothing (:func:`_replace_all`). Returns what it did."""
    names = valid if mode == "run" else [n for n in selected if n in set(valid)]
    _mkdir(pages)
    files = {}
    for n in names:
        src, dst = Path(jobs[n]["out_nb"]), pages / page_file(n)
        if not _same_bytes(src, dst):
            files[dst] = src.read_text()
    if mode == "run" and current_run_id() != rid:
        files[current_file()] = rid + "\n"  # last: the book's pages are in place before it says so
    if mode == "run":
        keep = {page_file(n) for n in valid}
        drop = [f for f in pages.glob("*.ipynb") if f.name not in keep]
    else:
        drop = [pages / page_file(n) for n in selected if n not in set(valid)]
    _replace_all(files)
    drop = [f for f in drop if f.exists()]
    for f in drop:
        _remove(f)
    changed = len([f for f in files if f.parent == pages])
    if mode == "run":
        return f"the book shows run {rid}: {len(valid)} pages ({changed} updated, {len(drop)} removed)"
    return f"{changed} of the book's pages updated, {len(drop)} removed; its other pages untouched (run {rid})"


def _publish_mode(rid: str, subset: bool, publish: bool | None) -> tuple[str, str]:
    """("run" | "update" | "none", why) for :func:`run_atlas`'s publishing rule."""
    current = current_run_id()
    if publish is False:
        return "none", "not published (publish=False)"
    if publish or not subset:
        return "run", ""
    if current == rid:
        return "update", ""
    return "none", (
        f"not published: a run of some galaxies changes the book only when the book shows its run, and the "
        f"book shows {'run ' + current if current else 'no run'}; add --publish to make it show run {rid}"
    )


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
    publish: bool | None = None,
    notify: Callable[[str], None] | None = None,
    figures: str = DEFAULT_FIGURES,
) -> RunReport:
    """Execute the atlas page of each galaxy (default: all 175) for ``params`` and ``options``.

    Validates everything before any page starts: the galaxy names (UnknownGalaxyError), the
    options, the template, the timeout and the data files' checksums (DataFileError). Pages whose
    cache entry is valid (:func:`check_entry`) are not executed; an entry failing its check is
    executed again (status "recomputed"). Holds the run folder's lock throughout: a second run at
    the same parameters waits (``notify`` is told, default: a line on stderr) and then finds the
    pages cached. ``atlas.csv`` gathers every valid row of the run.

    Publishing into ``pages`` (default :func:`pages_dir`, the book) and CURRENT, when ``publish`` is
    None: a run of every galaxy makes the book show this run (its valid pages; pages of other runs
    removed); a run of some galaxies replaces those galaxies' pages when the book already shows this
    run (CURRENT), and otherwise does not touch the book. ``publish=True`` makes the book show this
    run whatever was run; ``publish=False`` never touches the book. ``workers=0`` executes in this
    process without Dask; ``timeout`` [s] bounds each cell of a page. A file that cannot be written
    raises :class:`ResultsWriteError` naming it. ``figures``: each page's figure drawn in the browser
    ("browser", default) or as a PNG ("png"); see :mod:`cmsi_lib.page_figure`.
    """
    t0 = time.perf_counter()
    check_figures(figures)
    template = Path(template or TEMPLATE)
    template_text, all_names, selected = _check_inputs(template, timeout, workers, galaxies)
    options = options if options is not None else SparcOptions()
    rid, notify = run_id(params, options), notify or _say
    folder = run_dir(rid)
    _mkdir(folder / "pages")
    with _locked(folder / "run.lock", f"the other run at the same parameters and options (run {rid})", notify):
        run_info = {"run_id": rid, "params": params.as_dict(), "params_hash": params.hash, "options": options.as_dict()}
        _write(folder / "run.json", json.dumps(run_info, indent=1))
        jobs, code_cells = _jobs(template_text, params, options, folder, timeout, figures)
        results, states = _run_pages(
            jobs, code_cells, selected, lambda todo: _execute_all(todo, workers, scheduler, progress)
        )
        valid = [n for n in all_names if states[n][0] == "valid"]
        _write_csv(folder / "atlas.csv", [_read_row(Path(jobs[n]["row_file"]), n)[0] for n in valid])
        with _locked(paths.results_dir() / "publish.lock", "the run publishing into the book", notify):
            mode, published = _publish_mode(rid, set(selected) != set(all_names), publish)
            if mode != "none":
                published = _publish(rid, jobs, valid, selected, Path(pages or pages_dir()), mode)
    skipped = {n: why for n, (state, why) in states.items() if state == "invalid" and n not in results}
    return RunReport(rid, folder, [results[n] for n in selected], time.perf_counter() - t0, published, skipped)
