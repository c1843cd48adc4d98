"""The fault battery of the atlas runner and the CLI (issue 12): each fault is made to happen and
its deliberate behaviour asserted.

    cache entry damaged (truncated notebook / row, not executed, error output, bad key)  -> recomputed
    two runs at the same parameters                     -> the second waits, then finds the pages cached
    a run of some galaxies                              -> the book's other pages untouched
    Ctrl-C                                              -> one line, exit 130, no process left behind
    a worker process killed in the middle of a page     -> retried once, else that page reported failed
    a page over its time limit                          -> that page reported failed, exit 1
    read-only results folder, full disk                 -> an error naming the file, nothing half-written
    a data file corrupted between two runs              -> refused with the checksum error, exit 2
    any --set NAME=VALUE                                -> a valid Params, or exit 2 naming the parameter

Most tests replace the page execution by ``fake_page`` (it writes what a successful page writes:
an executed notebook, the row, the key) so they take a fraction of a second; the ones marked
``slow`` run a tiny template with papermill (a kernel per page), on Dask where the fault needs
worker processes.
"""

from __future__ import annotations

import errno
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import jupytext
import nbformat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmsi_lib import datafiles, runner
from cmsi_lib.cli import main
from cmsi_lib.errors import DataFileError, ResultsWriteError
from cmsi_lib.params import Params

REPO = Path(__file__).resolve().parent.parent

# A page template of two code cells that writes a row and can be made to misbehave (EXTRA).
TINY = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
    format_version: 0.13
    jupytext_version: 1.19.6
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

(GALAXY_LABEL)=
# GALAXY_NAME

```{code-cell} ipython3
:tags: [parameters]

galaxy = "NGC3198"
params = {}
options = {}
results_folder = ""
```

```{code-cell} ipython3
import json, os, signal, time
from pathlib import Path

EXTRA

row = Path(results_folder) / "rows" / (galaxy + ".json")
row.parent.mkdir(parents=True, exist_ok=True)
tmp = row.with_name(row.name + ".part")
tmp.write_text(json.dumps({"galaxy": galaxy, "name_length": len(galaxy)}))
os.replace(tmp, row)
```
"""

NAMES = ["NGC3198", "DDO154", "UGC02885"]


def tiny_template(folder: Path, extra: str = "pass") -> Path:
    f = folder / "tiny.md"
    f.write_text(TINY.replace("EXTRA", textwrap.dedent(extra).strip()))
    return f


@pytest.fixture
def tmp_results(tmp_path, monkeypatch):
    """CMSI_RESULTS_DIR in a temporary folder (never the checkout's results/)."""
    monkeypatch.setenv("CMSI_RESULTS_DIR", str(tmp_path / "results"))
    return tmp_path / "results"


class FakePages:
    """Stands in for :func:`runner.execute_page`: writes what a successful page writes (the executed
    notebook with papermill's injected cell, the row, then the key), or fails for ``fail``."""

    def __init__(self, fail=(), hold: threading.Event | None = None):
        self.fail, self.hold, self.calls = set(fail), hold, []

    def __call__(self, template, name, parameters, out_nb, key_file, row_file, cache_key, timeout, cwd):
        self.calls.append(name)
        if self.hold is not None:
            self.hold.wait(30)
        Path(key_file).unlink(missing_ok=True)
        if name in self.fail:
            return runner.PageResult(name, "failed", 0.0, "RuntimeError: made to fail")
        nb = jupytext.reads(template, fmt="md:myst")
        at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
        nb.cells.insert(
            at + 1, nbformat.v4.new_code_cell(f"galaxy = {name!r}", metadata={"tags": ["injected-parameters"]})
        )
        for n, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
            cell.execution_count, cell.outputs = n + 1, []
        runner._finish_notebook(nb, name)
        nb.metadata["fake_execution"] = len(self.calls)  # each execution writes a different notebook
        Path(out_nb).parent.mkdir(parents=True, exist_ok=True)
        Path(out_nb).write_text(nbformat.writes(nb))
        Path(row_file).parent.mkdir(parents=True, exist_ok=True)
        Path(row_file).write_text(json.dumps({"galaxy": name, "name_length": len(name)}))
        Path(key_file).write_text(cache_key + "\n")
        return runner.PageResult(name, "executed", 0.0)


@pytest.fixture
def fake(monkeypatch, tmp_results, tmp_path):
    """Runs with FakePages in this process; ``fake.run(names, **kw)`` is run_atlas on the tiny
    template with the book's pages in tmp_path/pages."""
    pages = FakePages()
    monkeypatch.setattr(runner, "execute_page", pages)
    template = tiny_template(tmp_path)

    def run(names=None, params=Params(), **kw):
        kw.setdefault("workers", 0)
        return runner.run_atlas(params, None, names, pages=tmp_path / "pages", template=template, progress=False, **kw)

    pages.run, pages.book, pages.template = run, tmp_path / "pages", template
    return pages


def leftovers(folder: Path) -> list[str]:
    """Temporary files of atomic writes left in ``folder`` (there must be none)."""
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".tmp")) if folder.exists() else []


# --------------------------------------------------------------------------- damaged cache entries
def truncate(path: Path) -> None:
    text = path.read_text()
    path.write_text(text[: len(text) // 2])


def unexecute(path: Path) -> None:
    nb = json.loads(path.read_text())
    next(c for c in nb["cells"] if c["cell_type"] == "code" and c["source"])["execution_count"] = None
    path.write_text(json.dumps(nb))


def add_error_output(path: Path) -> None:
    nb = json.loads(path.read_text())
    error = {"output_type": "error", "ename": "ValueError", "evalue": "x", "traceback": []}
    [c for c in nb["cells"] if c["cell_type"] == "code"][-1]["outputs"].append(error)
    path.write_text(json.dumps(nb))


def drop_last_code_cell(path: Path) -> None:
    nb = json.loads(path.read_text())
    last = max(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code")
    del nb["cells"][last]
    path.write_text(json.dumps(nb))


DAMAGE = {
    "truncated notebook": ("pages/{}.ipynb", truncate, "does not parse"),
    "notebook not executed": ("pages/{}.ipynb", unexecute, "was not executed"),
    "error output": ("pages/{}.ipynb", add_error_output, "has an error output"),
    "notebook missing a cell": ("pages/{}.ipynb", drop_last_code_cell, "code cells, not 3"),
    "truncated row": ("rows/{}.json", truncate, "not valid JSON"),
    "row of another galaxy": ("rows/{}.json", lambda p: p.write_text('{"galaxy": "DDO154"}'), "for galaxy 'DDO154'"),
    "row not an object": ("rows/{}.json", lambda p: p.write_text("[1, 2]"), "not an object"),
    "row missing": ("rows/{}.json", lambda p: p.unlink(), "row NGC3198.json is missing"),
    "key file garbage": ("pages/{}.key", lambda p: p.write_text("\x00\x01 garbage"), "does not hold a sha256"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_cache_entry_is_recomputed_never_published(damage, fake):
    where, how, reason = DAMAGE[damage]
    first = fake.run(NAMES, publish=True)
    assert len(first.executed) == 3 and not first.failed
    target = first.run_dir / where.format("NGC3198")
    how(target)
    assert runner.check_entry(fake_job(first, "NGC3198"), 3)[0] == "invalid"

    fake.fail = {"NGC3198"}  # the recomputation fails: the damaged entry must still not be shown
    second = fake.run(NAMES, publish=True)
    status = {r.galaxy: r.status for r in second.results}
    assert status == {"NGC3198": "failed", "DDO154": "cached", "UGC02885": "cached"}
    assert not (fake.book / "NGC3198.ipynb").exists()
    atlas = (second.run_dir / "atlas.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in atlas[1:]] == ["DDO154", "UGC02885"]  # Table-1 order

    fake.fail = set()
    third = fake.run(NAMES, publish=True)
    assert {r.galaxy: r.status for r in third.results}["NGC3198"] == "executed"  # its key was removed
    assert runner.check_entry(fake_job(third, "NGC3198"), 3) == ("valid", "")
    assert (fake.book / "NGC3198.ipynb").read_bytes() == (third.run_dir / "pages" / "NGC3198.ipynb").read_bytes()

    how(third.run_dir / where.format("NGC3198"))  # damaged again, then recomputed successfully
    fourth = fake.run(NAMES, publish=True)
    rec = {r.galaxy: r for r in fourth.results}["NGC3198"]
    assert rec.status == "recomputed" and reason in rec.error
    assert fourth.summary()["recomputed"] == [{"galaxy": "NGC3198", "reason": rec.error}]
    assert len(fourth.executed) == 1 and fake.calls.count("NGC3198") == 4


def fake_job(report, name: str) -> dict:
    stem = runner.page_stem(name)
    key = (report.run_dir / "pages" / f"{stem}.key").read_text().strip()
    return {
        "name": name,
        "key_file": report.run_dir / "pages" / f"{stem}.key",
        "out_nb": report.run_dir / "pages" / f"{stem}.ipynb",
        "row_file": report.run_dir / "rows" / f"{stem}.json",
        "cache_key": key,
    }


def test_a_damaged_entry_outside_a_subset_run_is_left_out_and_reported(fake):
    fake.run(NAMES, publish=True)
    rows = runner.run_dir(Params().hash) / "rows"
    truncate(rows / "UGC02885.json")
    rep = fake.run(["NGC3198"])
    assert [r.status for r in rep.results] == ["cached"]
    assert list(rep.skipped) == ["UGC02885"] and "not valid JSON" in rep.skipped["UGC02885"]
    assert [ln.split(",")[0] for ln in (rep.run_dir / "atlas.csv").read_text().splitlines()[1:]] == [
        "DDO154",
        "NGC3198",
    ]


def test_cli_reports_a_recomputed_page(fake, monkeypatch, capsys):
    monkeypatch.setattr(runner, "pages_dir", lambda: fake.book)
    monkeypatch.setattr(runner, "TEMPLATE", fake.template)
    serial = runner._execute_all
    monkeypatch.setattr(runner, "_execute_all", lambda jobs, workers, scheduler, progress: serial(jobs, 0, None, False))
    assert main(["run", "--no-book", "--galaxies", "NGC3198", "DDO154", "--publish"]) == 0
    truncate(runner.run_dir(Params().hash) / "pages" / "DDO154.ipynb")
    capsys.readouterr()
    assert main(["run", "--no-book", "--galaxies", "NGC3198", "DDO154"]) == 0
    out, err = capsys.readouterr()
    assert "2 pages, 1 executed (1 recomputed), 1 cached, 0 failed" in out
    assert "recomputed DDO154: its cached page failed the check: its notebook DDO154.ipynb does not parse" in err


@pytest.mark.slow
def test_a_truncated_papermill_page_is_recomputed(tmp_results, tmp_path):
    template = tiny_template(tmp_path)
    kw = {"workers": 0, "pages": tmp_path / "pages", "template": template, "progress": False, "publish": True}
    first = runner.run_atlas(Params(), None, ["NGC3198"], **kw)
    assert [r.status for r in first.results] == ["executed"]
    nb = first.run_dir / "pages" / "NGC3198.ipynb"
    assert runner._notebook_problem(nb, 3) is None  # a real papermill page passes the check
    truncate(nb)
    again = runner.run_atlas(Params(), None, ["NGC3198"], **kw)
    assert [(r.status, "does not parse" in r.error) for r in again.results] == [("recomputed", True)]
    assert nbformat.reads((tmp_path / "pages" / "NGC3198.ipynb").read_text(), as_version=4).cells


# --------------------------------------------------------------------------- a run of some galaxies
def test_subset_runs_never_shrink_the_book(fake):
    full = fake.run(None)
    assert len(full.executed) == 175 and runner.current_run_id() == Params().hash
    book = {p.name: p.stat().st_mtime_ns for p in fake.book.glob("*.ipynb")}
    assert len(book) == 175 and full.published.startswith(f"the book shows run {full.run_id}: 175 pages")

    # same parameters as the book: those pages are replaced, the other 173 untouched
    for name in ("NGC3198", "DDO154"):
        (full.run_dir / "pages" / f"{name}.key").unlink()
    same = fake.run(["NGC3198", "DDO154"])
    assert len(same.executed) == 2 and "its other pages untouched" in same.published
    after = {p.name: p.stat().st_mtime_ns for p in fake.book.glob("*.ipynb")}
    assert set(after) == set(book) and runner.current_run_id() == full.run_id
    assert {n for n in book if after[n] != book[n]} <= {"NGC3198.ipynb", "DDO154.ipynb"}

    # other parameters: the book is not touched at all
    other = fake.run(["NGC3198", "DDO154", "NGC2403"], params=Params(chi0=1e6))
    assert other.run_id != full.run_id and len(other.executed) == 3
    assert other.published.startswith("not published") and "--publish" in other.published
    assert {p.name: p.stat().st_mtime_ns for p in fake.book.glob("*.ipynb")} == after
    assert runner.current_run_id() == full.run_id

    # --publish: the book shows that run, with the pages it has
    shown = fake.run(["NGC3198", "DDO154", "NGC2403"], params=Params(chi0=1e6), publish=True)
    assert len(shown.cached) == 3 and runner.current_run_id() == other.run_id
    assert sorted(p.name for p in fake.book.glob("*.ipynb")) == ["DDO154.ipynb", "NGC2403.ipynb", "NGC3198.ipynb"]

    # and a full run at the defaults brings all 175 back, from the cache
    back = fake.run(None)
    assert len(back.cached) == 175 and len(list(fake.book.glob("*.ipynb"))) == 175
    assert runner.current_run_id() == full.run_id


def test_cli_help_states_the_publishing_rule(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--publish" in text and "never removes other galaxies' pages" in text


# --------------------------------------------------------------------------- two runs at once
def test_a_second_run_at_the_same_parameters_waits_then_finds_the_pages_cached(fake):
    release = threading.Event()
    fake.hold = release
    reports, messages = {}, []

    def first():
        reports["first"] = fake.run(NAMES, notify=messages.append)

    t1 = threading.Thread(target=first)
    t1.start()
    deadline = time.monotonic() + 30
    while not fake.calls and time.monotonic() < deadline:  # the first run is executing its pages
        time.sleep(0.01)

    def second():
        reports["second"] = fake.run(NAMES, notify=messages.append)

    t2 = threading.Thread(target=second)
    t2.start()
    while not messages and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(messages) == 1 and "waiting for the other run" in messages[0] and f"pid {os.getpid()}" in messages[0]
    fake.hold = None
    release.set()
    t1.join(30)
    t2.join(30)
    assert len(reports["first"].executed) == 3
    assert len(reports["second"].cached) == 3 and not reports["second"].executed
    assert sorted(fake.calls) == sorted(NAMES)  # each page executed once


DRIVER = """
import json, sys
from pathlib import Path
from cmsi_lib import runner
from cmsi_lib.params import Params

if __name__ == "__main__":
    tmp = Path(sys.argv[1])
    rep = runner.run_atlas(Params(), None, sys.argv[2:], workers=0, pages=tmp / "pages",
                           template=tmp / "tiny.md", progress=False)
    print(json.dumps(rep.summary()))
"""


@pytest.mark.slow
def test_two_processes_at_the_same_parameters_execute_each_page_once(tmp_results, tmp_path):
    log, go = tmp_path / "executions.log", tmp_path / "go"
    # each page waits (at most 90 s) until the test lets it go, so the second run surely meets the first
    wait = f"t0 = time.time()\nwhile not os.path.exists({str(go)!r}) and time.time() - t0 < 90:\n    time.sleep(0.05)"
    tiny_template(tmp_path, f"open({str(log)!r}, 'a').write(galaxy + '\\n')\n{wait}")
    (tmp_path / "driver.py").write_text(DRIVER)
    env = {**os.environ, "CMSI_RESULTS_DIR": str(tmp_results)}
    cmd = [sys.executable, str(tmp_path / "driver.py"), str(tmp_path), "NGC3198", "DDO154"]
    a = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while not log.exists() and time.monotonic() < deadline:  # the first is executing a page
        time.sleep(0.05)
    b = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first_line = b.stderr.readline()  # the second run says that it waits, then waits
    go.touch()
    (out_a, _), (out_b, err_b) = a.communicate(timeout=120), b.communicate(timeout=120)
    assert a.returncode == b.returncode == 0
    ra, rb = json.loads(out_a), json.loads(out_b)
    assert (ra["executed"], rb["executed"], rb["cached"]) == (2, 0, 2)
    assert sorted(log.read_text().split()) == ["DDO154", "NGC3198"]  # once each
    expected = f"waiting for the other run at the same parameters and options (run {Params().hash}), pid {a.pid},"
    assert first_line.startswith(expected) and not err_b.strip()


# --------------------------------------------------------------------------- Ctrl-C
CLI_DRIVER = """
import sys
from pathlib import Path

if __name__ == "__main__":  # the Dask workers are spawned: they import this file as a module
    from cmsi_lib import runner
    from cmsi_lib.cli import main

    tmp = Path(sys.argv[1])
    runner.TEMPLATE, runner.pages_dir = tmp / "tiny.md", lambda: tmp / "pages"
    sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.slow
def test_ctrl_c_gives_one_line_exit_130_and_leaves_no_process(tmp_results, tmp_path):
    started = tmp_path / "started"
    tiny_template(tmp_path, f"Path({str(started)!r}, galaxy).write_text(str(os.getpid())); time.sleep(60)")
    started.mkdir()
    (tmp_path / "driver.py").write_text(CLI_DRIVER)
    cmd = [sys.executable, str(tmp_path / "driver.py"), str(tmp_path), "run", "--no-book", "--json", "--workers", "1"]
    proc = subprocess.Popen(
        [*cmd, "--galaxies", *NAMES],
        env={**os.environ, "CMSI_RESULTS_DIR": str(tmp_results)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, signalled as a terminal's Ctrl-C signals one
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 90
    while not list(started.iterdir()) and time.monotonic() < deadline:  # the worker is in a page
        time.sleep(0.1)
    time.sleep(0.2)  # its pid written
    kernels = [int(f.read_text()) for f in started.iterdir()]
    assert len(kernels) == 1
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert [ln for ln in err.splitlines() if ln.strip()] == ["cmsi run: interrupted"], err
    time.sleep(3)  # an orphaned kernel notices within a second that its parent is gone
    assert not [pid for pid in kernels if Path(f"/proc/{pid}").exists()]
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)  # nothing left in the run's process group (its Dask workers)
    assert not list((runner.run_dir(Params().hash) / "pages").glob("*.key"))  # no page counted as done


# --------------------------------------------------------------------------- worker killed, time limit
@pytest.mark.slow
def test_a_killed_worker_is_retried_once_then_its_page_reported(tmp_results, tmp_path):
    once = tmp_path / "killed-once"
    extra = f"""
    if galaxy == "NGC3198" and not os.path.exists({str(once)!r}):
        open({str(once)!r}, "w").close()
        os.kill(os.getppid(), signal.SIGKILL)  # the kernel's parent: the Dask worker process
        time.sleep(30)
    if galaxy == "DDO154":
        os.kill(os.getppid(), signal.SIGKILL)
        time.sleep(30)
    """
    template = tiny_template(tmp_path, extra)
    rep = runner.run_atlas(
        Params(), None, NAMES, workers=1, pages=tmp_path / "pages", template=template, progress=False, publish=True
    )
    status = {r.galaxy: r.status for r in rep.results}
    assert status == {"NGC3198": "executed", "DDO154": "failed", "UGC02885": "executed"}
    assert "worker process running this page died 2 times" in rep.failed[0].error
    assert sorted(p.name for p in (tmp_path / "pages").glob("*.ipynb")) == ["NGC3198.ipynb", "UGC02885.ipynb"]


@pytest.mark.slow
def test_a_page_over_its_time_limit_fails_alone_with_exit_1(tmp_results, tmp_path, monkeypatch, capsys):
    template = tiny_template(tmp_path, 'if galaxy == "DDO154":\n    time.sleep(60)')
    monkeypatch.setattr(runner, "TEMPLATE", template)
    monkeypatch.setattr(runner, "pages_dir", lambda: tmp_path / "pages")
    serial = runner._execute_all
    monkeypatch.setattr(runner, "_execute_all", lambda jobs, workers, scheduler, progress: serial(jobs, 0, None, False))
    t0 = time.monotonic()
    status = main(["run", "--no-book", "--timeout", "2", "--galaxies", "NGC3198", "DDO154", "--json"])
    assert status == 1 and time.monotonic() - t0 < 50  # the 60 s cell was stopped
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["executed"] == 1 and [f["galaxy"] for f in summary["failed"]] == ["DDO154"]
    assert "longer than the time limit of 2 s" in summary["failed"][0]["error"]
    assert "DDO154: a cell ran longer than the time limit of 2 s" in err


# --------------------------------------------------------------------------- read-only folder, full disk
@pytest.fixture
def read_only(monkeypatch):
    """Make creating anything under a folder fail as in a read-only folder (EACCES). Simulated,
    because root ignores file modes: os.open with O_CREAT, os.mkdir and os.replace into it fail."""
    roots: list[Path] = []

    def inside(path) -> bool:
        p = Path(os.fsdecode(path)).absolute()
        return any(p == r or r in p.parents for r in roots)

    def refuse(path):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(path))

    real_open, real_mkdir, real_replace = os.open, os.mkdir, os.replace

    def fake_open(path, flags, *a, **k):  # an existing (writable) file can still be opened
        if flags & os.O_CREAT and inside(path) and (flags & os.O_EXCL or not os.path.exists(path)):
            refuse(path)
        return real_open(path, flags, *a, **k)

    def fake_mkdir(path, *a, **k):  # as mkdir(2): ENOENT (parent missing) and EEXIST come first
        if inside(path) and os.path.isdir(os.path.dirname(os.fsdecode(path))) and not os.path.exists(path):
            refuse(path)
        return real_mkdir(path, *a, **k)

    def fake_replace(src, dst, *a, **k):
        if inside(dst):
            refuse(dst)
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(os, "open", fake_open)
    monkeypatch.setattr(os, "mkdir", fake_mkdir)
    monkeypatch.setattr(os, "replace", fake_replace)
    return roots


def test_a_read_only_results_folder_is_an_error_naming_it_before_any_page(fake, read_only, monkeypatch, capsys):
    results = Path(os.environ["CMSI_RESULTS_DIR"])
    results.mkdir(parents=True)
    read_only.append(results)
    with pytest.raises(ResultsWriteError, match=f"cannot create the folder {results}/runs/.*Permission denied"):
        fake.run(NAMES)
    assert list(results.iterdir()) == []
    monkeypatch.setattr(runner, "TEMPLATE", fake.template)
    monkeypatch.setattr(runner, "pages_dir", lambda: fake.book)
    assert main(["run", "--no-book", "--galaxies", "NGC3198"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cmsi run: error: cannot create the folder " + str(results))
    assert f"make {results} writable" in err[0]
    assert not fake.calls and list(results.iterdir()) == []


def test_a_read_only_book_folder_stops_publishing_and_keeps_the_pages(fake, read_only):
    first = fake.run(NAMES, publish=True)
    before = {p.name: p.read_bytes() for p in fake.book.iterdir()}
    for key in (first.run_dir / "pages").glob("*.key"):
        key.unlink()  # make the pages run again, so they must be published again
    read_only.append(fake.book)
    with pytest.raises(
        ResultsWriteError, match=f"cannot write {fake.book}/.*Permission denied.*make {fake.book} writable"
    ):
        fake.run(NAMES, publish=True)
    assert {p.name: p.read_bytes() for p in fake.book.iterdir()} == before and not leftovers(fake.book)
    read_only.clear()
    again = fake.run(NAMES, publish=True)  # once writable, the rerun finds the pages cached
    assert len(again.cached) == 3


@pytest.fixture
def full_disk(monkeypatch):
    """Writes of files whose name is in the returned set fail with ENOSPC (simulated full disk)."""
    names: set[str] = set()
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, fh):
            self.fh = fh

        def write(self, text):
            self.fh.write(text[: len(text) // 3])  # a part reaches the disk, then it is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    def fake_fdopen(fd, *a, **k):
        fh = real_fdopen(fd, *a, **k)
        target = os.readlink(f"/proc/self/fd/{fd}")
        return Full(fh) if any(Path(target).name.startswith(f".{n}.") for n in names) else fh

    monkeypatch.setattr(os, "fdopen", fake_fdopen)
    return names


@pytest.mark.parametrize("victim", ["run.json", "atlas.csv", "NGC3198.ipynb", "CURRENT"])
def test_a_full_disk_is_an_error_naming_the_file_with_nothing_half_written(victim, fake, full_disk, tmp_results):
    first = fake.run(NAMES, publish=True)
    before = {p: p.read_bytes() for p in [*tmp_results.rglob("*"), *fake.book.rglob("*")] if p.is_file()}
    full_disk.add(victim)
    params = Params() if victim != "CURRENT" else Params(chi0=1e6)  # CURRENT is written when it changes
    if victim == "NGC3198.ipynb":
        (first.run_dir / "pages" / "NGC3198.ipynb").write_text("{}")  # published again after its recomputation
        before.pop(first.run_dir / "pages" / "NGC3198.ipynb")
    with pytest.raises(ResultsWriteError, match=f"cannot write .*{victim}: No space left on device.*free space"):
        fake.run(NAMES, params=params, publish=True)
    assert not leftovers(tmp_results) and not leftovers(fake.book)
    for path, data in before.items():
        if path.name != "run.lock":
            assert path.read_bytes() == data, path  # every earlier file intact


# --------------------------------------------------------------------------- a data file corrupted
def test_a_data_file_corrupted_between_two_runs_is_refused_before_any_page(fake, tmp_path, monkeypatch, capsys):
    mirror = tmp_path / "mirror"
    for name in runner.DATA_FILES:
        (mirror / name).parent.mkdir(parents=True, exist_ok=True)
        (mirror / name).write_bytes(datafiles.fetch(name).read_bytes())
    monkeypatch.setenv("CMSI_DATA_DIR", str(mirror))
    assert len(fake.run(["NGC3198"]).executed) == 1
    bad = mirror / "sparc" / "MassModels_Lelli2016c.mrt"
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit flipped
    bad.write_bytes(bytes(data))
    with pytest.raises(DataFileError, match=f"checksum mismatch for {bad}"):
        fake.run(["DDO154"])
    monkeypatch.setattr(runner, "TEMPLATE", fake.template)
    monkeypatch.setattr(runner, "pages_dir", lambda: fake.book)
    assert main(["run", "--no-book", "--galaxies", "DDO154"]) == 2
    err = capsys.readouterr().err
    assert f"checksum mismatch for {bad}: expected sha256 {datafiles.registry()[runner.DATA_FILES[1]].sha256}" in err
    assert fake.calls == ["NGC3198"]  # no page started after the corruption


# --------------------------------------------------------------------------- --set NAME=VALUE
#: the documented ranges (README, params docstring), written out again here
RANGES = {
    "chi0": lambda x: x >= 0,
    "gamma": lambda x: x >= 0,
    "alpha": lambda x: x >= 0,
    "ell0": lambda x: x > 0,
    "sigma_ref": lambda x: x > 0,
    "eps": lambda x: x >= 0,
    "n": lambda x: x > 0,
}

names = st.one_of(st.sampled_from(sorted(RANGES)), st.text(max_size=12).filter(lambda s: "=" not in s))
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**400), 10**400).map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e400", "-0", "0", "1_000", " 2.5 ", "0x10", "", "1e-400"]),
)
values = st.one_of(numbers, st.text(max_size=12))


def as_number(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:
        return None


class Reached(Exception):
    """Raised in place of the atlas run: the command line got past its validation."""


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=names, value=values, spaced=st.booleans())
def test_any_set_string_parses_or_is_refused_by_name(name, value, spaced, monkeypatch, capsys):
    item = f" {name} = {value}" if spaced else f"{name}={value}"

    def reached(params, *a, **k):
        raise Reached(params)

    monkeypatch.setattr(runner, "run_atlas", reached)
    capsys.readouterr()
    try:
        status = main(["run", "--no-book", f"--set={item}"])
    except Reached as exc:
        status, params = None, exc.args[0]
    err = capsys.readouterr().err
    key, x = name.strip(), as_number(value)
    valid = key in RANGES and x is not None and math.isfinite(x) and RANGES[key](x)
    if valid:
        assert status is None, err
        assert params == Params.from_sources(None, [item])
        assert getattr(params, key) == x
        assert all(v == getattr(Params(), k) for k, v in params.as_dict().items() if k != key)
    else:
        assert status == 2
        line = err.strip()
        assert line.startswith("cmsi run: error: ") and "\n" not in line
        if not key:
            assert repr(item) in line  # no name: the override itself is quoted
        elif key not in RANGES:
            assert repr(key) in line and "valid names are: chi0" in line
        else:
            assert f"parameter {key} = " in line and "valid range: " in line
        with pytest.raises(ValueError):
            Params.from_sources(None, [item])
