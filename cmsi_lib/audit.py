"""The derivation audit: checks recorded by the chapters, and the runner behind ``cmsi audit``.

Inside a chapter, every step that can be checked is checked with::

    from cmsi_lib.audit import check, check_close
    check("uniform sphere: field energy is (3/5) G M^2 / R", sp.simplify(E - 3*G*M**2/(5*R)) == 0,
          f"E = {E}")
    check_close("Monte Carlo E[C] at s = 1", mc_mean, exact, rtol=0.02)

``check`` first appends a record to the JSON-lines file named by the environment variable
``CMSI_AUDIT_LOG`` (when it is set), then raises ``AuditFailure`` (an AssertionError) when the
check failed, so a failing check also fails the strict book build.

``run_audit(paths)`` executes MyST-markdown chapters headless (jupytext + nbclient, each with
its own folder as the working directory, each in a kernel of its own with ``CMSI_AUDIT_LOG``
pointing at a private file), and returns one record per check:
``{"chapter", "name", "passed", "quantity"}``, plus one record per chapter named ``<execution>``:
passed (with the run time) when the chapter ran to the end and recorded at least one check,
failed (with the error) when it stopped or recorded no check.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import paths
from .errors import AuditFailure

__all__ = [
    "AUDIT_LOG_ENV",
    "AuditFailure",
    "check",
    "check_close",
    "derivation_chapters",
    "run_chapter",
    "run_audit",
]

#: environment variable naming the JSON-lines file that ``check`` appends to
AUDIT_LOG_ENV = "CMSI_AUDIT_LOG"


def _to_builtin(x):
    """bool/float/str from numpy or SymPy truth values (SymPy relationals raise: compare explicitly)."""
    try:
        return bool(x)
    except TypeError:
        raise TypeError(f"check() needs a definite truth value, got {x!r} ({type(x).__name__})") from None


def check(name: str, passed, quantity: str = "") -> None:
    """Record one derivation check and raise ``AuditFailure`` if it failed.

    name: what is checked (one line); passed: a truth value (numpy and SymPy booleans accepted);
    quantity: the quantity compared, as text (e.g. ``"E[C] = 40.1 vs MC 40.0 +- 0.1"``).
    Returns None (so a check at the end of a notebook cell prints nothing).
    """
    ok = _to_builtin(passed)
    log = os.environ.get(AUDIT_LOG_ENV)
    if log:
        rec = {"name": str(name), "passed": ok, "quantity": str(quantity)}
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec) + "\n")
    if not ok:
        raise AuditFailure(f"derivation check failed: {name} ({quantity})")


def check_close(name: str, actual, expected, rtol: float = 1e-12, atol: float = 0.0) -> None:
    """``check`` that two numbers agree: |actual - expected| <= atol + rtol |expected|."""
    a, e = float(actual), float(expected)
    ok = math.isfinite(a) and math.isfinite(e) and abs(a - e) <= atol + rtol * abs(e)
    rel = abs(a - e) / abs(e) if e != 0 else abs(a - e)
    check(name, ok, f"{a:.10g} vs {e:.10g} (rel. diff {rel:.2g}, rtol {rtol:g}, atol {atol:g})")


# --------------------------------------------------------------------------- the runner
def derivation_chapters() -> list[Path]:
    """The derivation chapters in book order (read from _toc.yml; every .md of chapters/derivation)."""
    folder = paths.chapters_dir() / "derivation"
    found = sorted(folder.glob("*.md"))
    order: list[str] = []
    toc = paths.repo_root() / "_toc.yml"
    if toc.exists():
        order = [ln.split("file:", 1)[1].strip() for ln in toc.read_text().splitlines() if "file:" in ln]
    rank = {name: i for i, name in enumerate(order)}
    return sorted(found, key=lambda p: rank.get(f"chapters/derivation/{p.stem}", len(rank)))


def _chapter_name(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(paths.chapters_dir()).with_suffix(""))
    except ValueError:
        return path.stem


def run_chapter(path: str | Path, timeout: float = 600) -> dict:
    """Execute one MyST-markdown notebook headless and collect its checks.

    Returns ``{"chapter", "seconds", "error", "checks": [records]}``; ``error`` is None or a
    one-line description of the exception that stopped the chapter.
    """
    # lazy: every derivation chapter imports `check` from here; only the headless run needs these
    import jupytext  # lazy: headless runs only
    import nbclient  # lazy: headless runs only

    path = Path(path).resolve()
    chapter = _chapter_name(path)
    fd, log = tempfile.mkstemp(prefix="cmsi-audit-", suffix=".jsonl")
    os.close(fd)
    env = dict(os.environ, **{AUDIT_LOG_ENV: log})
    env.setdefault("MPLBACKEND", "Agg")
    error = None
    t0 = time.perf_counter()
    try:
        nb = jupytext.read(path)
        client = nbclient.NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
        )
        client.execute(env=env)
    except nbclient.exceptions.CellExecutionError as exc:
        error = f"{exc.ename}: {exc.evalue}"
    except Exception as exc:  # a chapter that cannot be read or started is a failure, not a crash
        error = f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - t0
    checks = []
    with open(log, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rec = json.loads(line)
                checks.append({"chapter": chapter, **rec})
    os.unlink(log)
    return {"chapter": chapter, "seconds": seconds, "error": error, "checks": checks}


def run_audit(chapters: Iterable[str | Path] | None = None, jobs: int = 2, timeout: float = 600) -> list[dict]:
    """Run the chapters (default: the derivation chapters), ``jobs`` at a time; one record per check.

    Each record: ``chapter``, ``name``, ``passed`` (bool), ``quantity`` (text); each chapter ends
    with a record named ``<execution>``, failed (carrying the error) when the chapter stopped
    or recorded no check.
    """
    chapters = [Path(c) for c in (derivation_chapters() if chapters is None else chapters)]
    for c in chapters:
        if not c.is_file():
            raise FileNotFoundError(f"audit: chapter {c} does not exist")
    if not chapters:
        raise FileNotFoundError("audit: no chapter to run")
    with ThreadPoolExecutor(max_workers=max(1, int(jobs))) as pool:
        results = list(pool.map(lambda c: run_chapter(c, timeout), chapters))
    records: list[dict] = []
    for res in results:
        records.extend(res["checks"])
        failed_check = any(not r["passed"] for r in res["checks"])
        if res["error"] is None and res["checks"]:
            ok, what = True, f"executed in {res['seconds']:.1f} s"
        elif res["error"] is None:
            ok, what = False, "the chapter recorded no check"
        else:
            # the chapter stopped: either at a failed check (already recorded) or at an error
            ok, what = False, res["error"] + ("" if failed_check else " (not a recorded check)")
        records.append({"chapter": res["chapter"], "name": "<execution>", "passed": ok, "quantity": what})
    return records
