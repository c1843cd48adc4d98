"""``cmsi doctor``: check the set-up a newcomer needs, and say what to do about anything wrong.

    from cmsi_lib import doctor
    findings = doctor.diagnose()          # list of Finding(section, name, status, detail, fix)
    status = doctor.exit_status(findings) # 0: everything needed is fine; 1: something is wrong

Sections, in order:

data      the data mirror in use (``CMSI_DATA_DIR``, else the one recorded in ``results/config.json``
          by an earlier run; ``datafiles.mirror_dir``) or the pooch download cache, and whether its
          folder exists; then the sha256 of every file in ``data/registry.txt`` against the registry
          (ok / mismatch / missing, each with what to do)
versions  Python and the libraries and tools of the book, against the pins of ``pyproject.toml``
tools     Chromium (the browser test), npm (``make book`` installs the offline MathJax and the table
          library with it), and whether those two JavaScript libraries are installed
places    where the results, the current atlas run and the built book live, and whether they exist

A finding's status is one of ``ok``, ``info`` (nothing to do, or something not made yet that the
usual commands make), ``warn`` (an optional part is unavailable, or a version differs from its pin)
and ``fail`` (the book or the CLI cannot work as set up). Only ``fail`` makes the exit status 1.
Nothing here writes a file, downloads or runs a long job; it reads every registered data file once.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from . import datafiles, paths, runner
from .errors import DataFileError

__all__ = ["Finding", "STATUSES", "LIBRARIES", "diagnose", "exit_status", "data_findings"]

#: statuses, from harmless to wrong
STATUSES = ("ok", "info", "warn", "fail")

#: distributions whose versions are reported (PyPI names)
LIBRARIES = (
    "numpy",
    "scipy",
    "sympy",
    "astropy",
    "matplotlib",
    "pooch",
    "papermill",
    "jupytext",
    "jupyter-book",
    "sphinx",
    "dask",
    "galpy",
    "emcee",
    "pytest",
    "playwright",
)

#: the offline JavaScript libraries ``make book`` installs from npm (Makefile targets), by name
JS_LIBRARIES = {
    "MathJax": Path("_mathjax") / "mathjax" / "tex-mml-chtml.js",
    "simple-datatables": Path("_datatables") / "simple-datatables" / "simple-datatables.js",
    "plotly.js": Path("_plotly") / "plotly" / "plotly-basic.min.js",
}

_REINSTALL = "reinstall the pinned stack: .venv/bin/pip install -e '.[book,test]' (or delete .venv and run make venv)"


@dataclasses.dataclass(frozen=True)
class Finding:
    """One line of the report: section, what was checked, status (``STATUSES``), what was found, what to do,
    and the facts behind it for ``--json`` (e.g. a data file's ``path``, ``sha256`` and ``expected``)."""

    section: str
    name: str
    status: str
    detail: str
    fix: str = ""
    extra: dict = dataclasses.field(default_factory=dict)  # machine-readable facts (paths, hashes, versions)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def exit_status(findings: list[Finding]) -> int:
    """0 when no finding failed, else 1."""
    return 1 if any(f.status == "fail" for f in findings) else 0


def diagnose() -> list[Finding]:
    """Every check, in section order (data, versions, tools, places)."""
    return data_findings() + version_findings() + tool_findings() + place_findings()


# --------------------------------------------------------------------------- data
def _mirror_finding() -> tuple[Finding, Path | None, bool]:
    """The data source: (finding, mirror folder or None, whether the files can be checked)."""
    mirror = paths.mirror_dir()
    if mirror is not None:
        if not mirror.is_dir():
            what = "is not a folder" if mirror.exists() else "does not exist"
            return (
                Finding(
                    "data",
                    "data mirror",
                    "fail",
                    f"CMSI_DATA_DIR names {mirror}, which {what}",
                    "point CMSI_DATA_DIR at the data mirror (the layout of ../shared/data; the Makefile uses "
                    "../shared/data when it exists), or unset it to download the files from their official URLs",
                ),
                mirror,
                False,
            )
        return Finding("data", "data mirror", "ok", f"{mirror} (from CMSI_DATA_DIR)"), mirror, True
    try:
        recorded = datafiles.mirror_dir()  # CMSI_DATA_DIR is unset: the mirror an earlier run recorded, if any
    except DataFileError as exc:  # the recorded folder is gone
        fix = f"set CMSI_DATA_DIR to the data mirror, or delete {datafiles.config_file()} to download the files"
        return Finding("data", "data mirror", "fail", str(exc), fix), None, False
    if recorded is not None:
        src = f"recorded in {datafiles.config_file()} by an earlier run with CMSI_DATA_DIR set"
        return Finding("data", "data mirror", "ok", f"{recorded} ({src})"), recorded, True
    cache = paths.cache_dir()
    state = "exists" if cache.is_dir() else "not created yet: the first download creates it"
    return (
        Finding(
            "data",
            "download cache",
            "info",
            f"CMSI_DATA_DIR is not set: files are downloaded (pooch) into {cache} ({state})",
            "set CMSI_DATA_DIR to a local mirror to work offline",
        ),
        None,
        True,
    )


def _file_finding(entry: datafiles.RegistryEntry, mirror: Path | None) -> Finding:
    """One registered file: where it is, and its sha256 against the registry."""
    candidates = [(mirror / entry.name, "mirror")] if mirror is not None else []
    # where datafiles.fetch downloads a file the mirror lacks
    candidates.append((paths.cache_dir() / entry.name.replace("/", "__"), "download cache"))
    local, src = next(((p, s) for p, s in candidates if p.is_file()), (None, ""))
    if local is None:
        where = f"not in the mirror {mirror}" if mirror is not None else "not downloaded yet"
        if entry.url:
            return Finding(
                "data",
                entry.name,
                "warn",
                f"missing: {where}; it will be downloaded from {entry.url} on first use (needs the network)",
                f"to work offline, put the official file at {(mirror or Path('$CMSI_DATA_DIR')) / entry.name}",
            )
        return Finding(
            "data",
            entry.name,
            "fail",
            f"missing: {where}, and it has no official URL to download it from",
            f"put it at {(mirror or Path('$CMSI_DATA_DIR')) / entry.name} (its PROVENANCE.md in the mirror "
            "says where it comes from) and set CMSI_DATA_DIR",
        )
    got = datafiles.sha256(local)
    facts = {"path": str(local), "source": src, "sha256": got, "expected": entry.sha256}
    if got != entry.sha256:
        official = f"download it again from {entry.url}" if entry.url else "see its PROVENANCE.md"
        return Finding(
            "data",
            entry.name,
            "fail",
            f"mismatch: {local} has sha256 {got[:12]}..., the registry expects {entry.sha256[:12]}...",
            f"the file is corrupted or a different version: replace {local} with the official file ({official})",
            facts,
        )
    return Finding("data", entry.name, "ok", f"sha256 {got[:12]}... matches the registry ({src})", "", facts)


def data_findings() -> list[Finding]:
    """The data source, then each registered file's checksum."""
    source, mirror, checkable = _mirror_finding()
    out = [source]
    try:
        reg = datafiles.registry()
    except (OSError, DataFileError) as exc:
        return out + [Finding("data", "registry", "fail", str(exc), "restore data/registry.txt from git")]
    if not checkable:
        out.append(
            Finding(
                "data",
                "registered files",
                "fail",
                f"{len(reg)} files in {paths.registry_file()} not checked: the mirror folder is missing",
                "fix CMSI_DATA_DIR (above), then run cmsi doctor again",
            )
        )
        return out
    return out + [_file_finding(entry, mirror) for entry in reg.values()]


# --------------------------------------------------------------------------- versions
def _pins() -> tuple[dict[str, Requirement], str | None]:
    """The requirements of pyproject.toml (dependencies and every extra) by canonical name, and
    requires-python. Empty when the checkout has no pyproject.toml (an installed, non-editable package)."""
    f = paths.repo_root() / "pyproject.toml"
    if not f.is_file():
        return {}, None
    project = tomllib.loads(f.read_text()).get("project", {})
    texts = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        texts.extend(extra)
    reqs = {}
    for t in texts:
        try:
            r = Requirement(t)
        except InvalidRequirement:
            continue
        reqs[canonicalize_name(r.name)] = r
    return reqs, project.get("requires-python")


def version_findings() -> list[Finding]:
    """Python and each of ``LIBRARIES``: installed version against its pin (none: reported only)."""
    pins, requires_python = _pins()
    py = platform.python_version()
    if requires_python and not SpecifierSet(requires_python).contains(py, prereleases=True):
        out = [
            Finding(
                "versions",
                "python",
                "fail",
                f"{py} ({sys.executable}); the book needs {requires_python}",
                "build the venv with Python 3.11: make venv PYTHON=python3.11",
            )
        ]
    else:
        out = [Finding("versions", "python", "ok", f"{py} ({sys.executable})")]
    for name in LIBRARIES:
        pin = pins.get(canonicalize_name(name))
        try:
            have = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out.append(Finding("versions", name, "fail", "not installed", _REINSTALL))
            continue
        if pin is None or not pin.specifier:
            out.append(Finding("versions", name, "ok", f"{have} (not pinned: installed as a dependency)"))
        elif pin.specifier.contains(have, prereleases=True):
            out.append(Finding("versions", name, "ok", f"{have} (pyproject.toml: {pin.specifier})"))
        else:
            out.append(
                Finding("versions", name, "warn", f"{have}, but pyproject.toml pins {pin.specifier}", _REINSTALL)
            )
    return out


# --------------------------------------------------------------------------- tools
def _version_of(exe: str) -> str:
    """First line ``exe --version`` prints, or why there is none."""
    try:
        proc = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"version unknown ({type(exc).__name__})"
    lines = proc.stdout.strip().splitlines()
    return lines[0] if lines else f"version unknown (exit {proc.returncode})"


def tool_findings() -> list[Finding]:
    """Chromium, npm, and the offline JavaScript libraries the book serves."""
    out = []
    chromium = shutil.which("chromium")
    if chromium:
        out.append(Finding("tools", "chromium", "ok", f"{_version_of(chromium)} ({chromium})"))
    else:
        out.append(
            Finding(
                "tools",
                "chromium",
                "warn",
                "not found: the browser tests of the book (tests/test_book.py) are skipped",
                "apt-get install -y chromium (Debian's; never `playwright install`)",
            )
        )
    root = paths.repo_root()
    missing_js = [name for name, rel in JS_LIBRARIES.items() if not (root / rel).is_file()]
    npm = shutil.which("npm")
    if npm:
        out.append(Finding("tools", "npm", "ok", f"{_version_of(npm)} ({npm})"))
    else:
        needed = f"make book needs it to install {', '.join(missing_js)}" if missing_js else "not needed now"
        out.append(
            Finding(
                "tools",
                "npm",
                "fail" if missing_js else "warn",
                f"not found ({needed})",
                "apt-get install -y npm (the npm registry must be reachable once)",
            )
        )
    for name, rel in JS_LIBRARIES.items():
        if name in missing_js:
            out.append(Finding("tools", name, "info", f"not installed ({rel})", "make book installs it from npm"))
        else:
            out.append(Finding("tools", name, "ok", f"installed ({root / rel})"))
    return out


# --------------------------------------------------------------------------- places
def _results_findings() -> list[Finding]:
    src = " (from CMSI_RESULTS_DIR)" if os.environ.get("CMSI_RESULTS_DIR") else ""
    try:
        res = paths.results_dir()
    except OSError as exc:
        return [
            Finding(
                "places",
                "results",
                "fail",
                f"cannot create the results folder{src}: {exc}",
                "make its parent writable, or set CMSI_RESULTS_DIR to a writable folder",
            )
        ]
    if not os.access(res, os.W_OK | os.X_OK):
        return [
            Finding(
                "places",
                "results",
                "fail",
                f"{res}{src} is not writable",
                f"make {res} writable, or set CMSI_RESULTS_DIR to a writable folder",
            )
        ]
    out = [Finding("places", "results", "ok", f"{res}{src} (writable)")]
    summary = res / "survey" / "summary.json"
    if summary.is_file():
        out.append(Finding("places", "survey", "ok", f"{summary.parent}"))
    else:
        out.append(Finding("places", "survey", "info", "not run yet", "cmsi survey (make book runs it)"))
    return out


def _run_finding() -> Finding:
    rid = runner.current_run_id()
    if rid is None:
        return Finding("places", "current run", "info", "no atlas run yet", "cmsi run (make book runs it)")
    rdir = runner.run_dir(rid)
    atlas = rdir / "atlas.csv"
    if not atlas.is_file():
        return Finding(
            "places",
            "current run",
            "warn",
            f"{runner.current_file()} names run {rid}, but {atlas} does not exist",
            "cmsi run (it rebuilds the run's pages and rows; what is cached is kept)",
        )
    n_rows = max(len(atlas.read_text().splitlines()) - 1, 0)
    return Finding("places", "current run", "ok", f"{rid}: {rdir} ({n_rows} atlas rows)")


def place_findings() -> list[Finding]:
    """The results folder, the survey, the current atlas run and the built book."""
    out = _results_findings()
    if out[0].status != "fail":
        out.append(_run_finding())
    index = paths.repo_root() / "_build" / "html" / "index.html"
    if index.is_file():
        out.append(Finding("places", "book", "ok", str(index)))
    else:
        out.append(Finding("places", "book", "info", f"not built ({index} does not exist)", "make book"))
    return out
