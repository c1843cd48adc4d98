"""Build the HTML book (strict), re-executing exactly the chapters whose inputs changed.

jupyter-cache keys a chapter on its cell sources only, so a change in the library, the data
registry or the results files a chapter reads would otherwise be served from the cache. Each chapter
therefore gets its own input key (:func:`chapter_keys`): the sha256 of

* the sources of the ``cmsi_lib`` modules its code cells import, followed transitively
  (``runner.library_hash``: a chapter is not re-executed when an unrelated module changes),
* the data registry (``data/registry.txt``: the checksums of every input file),
* the results files it reads (:data:`CHAPTER_RESULTS`; ``tests/test_book_cache.py`` checks that
  every chapter calling a results reader declares them),
* whether the download files it writes (``page.download``) are there: a deleted one re-executes it.

The keys of the last successful build are kept in ``_build/.chapter-keys.json``. Before a build,
each chapter whose key changed loses its jupyter-cache record and has its source touched (Sphinx
re-reads only sources newer than their doctrees), so it alone is re-executed and re-rendered; the
per-galaxy pages are re-read by Sphinx only when ``cmsi run`` rewrote them (it rewrites a page only
when its bytes changed). Used by ``make book`` (``python -m cmsi_lib.book``) and by ``cmsi run``.
A valid ``CMSI_DATA_DIR`` (the Makefile exports it) is recorded in ``results/config.json`` so later
commands find the same data (``datafiles.record_mirror``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import yaml

from . import datafiles, paths, runner
from .results import atomic_write_text

#: the results files each chapter reads, relative to results/ ("{run}" is the run CURRENT names);
#: a chapter not listed reads no results files
_SURVEY = ("survey/summary.json", "survey/global_fit.json", "survey/fits.ecsv", "survey/points.ecsv")
CHAPTER_RESULTS: dict[str, tuple[str, ...]] = {
    "chapters/intro.md": _SURVEY,
    "chapters/solar_system.md": ("survey/global_fit.json",),
    "chapters/clusters.md": ("survey/global_fit.json",),
    "chapters/sparc/survey.md": _SURVEY,
    "chapters/sparc/comparison.md": _SURVEY,
    "chapters/sparc/joint_fit.md": _SURVEY,
    "chapters/sparc/atlas.md": ("CURRENT", "runs/{run}/atlas.csv", "runs/{run}/run.json"),
}

KEYS_FILE = "_build/.chapter-keys.json"
#: ``page.download(table, "<name>", ...)`` in a chapter's cell: the chapter writes
#: chapters/downloads/<name>.csv and .ecsv, so a missing file re-executes it
_DOWNLOAD_CALL = re.compile(r"\bdownload\(\s*[^,]+,\s*[\"']([A-Za-z0-9_.-]+)[\"']")


def toc_chapters() -> list[str]:
    """The chapter sources of ``_toc.yml`` (paths relative to the repository, with their suffix)."""
    root = paths.repo_root()
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for e in entries or ():
            if "file" in e:
                files.append(e["file"])
            walk(e.get("sections"))

    for part in toc.get("parts", ()):
        walk(part.get("chapters"))
    out = []
    for f in files:
        src = next((root / (f + s) for s in (".md", ".ipynb") if (root / (f + s)).exists()), None)
        if src is not None:
            out.append(src.relative_to(root).as_posix())
    return out


def _code_cells(source: Path) -> list[str]:
    """The code cells of a MyST chapter (as jupytext reads them: cell options are metadata)."""
    return [c.source for c in jupytext.read(source, fmt="md:myst").cells if c.cell_type == "code"]


def _sha_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "absent"


def chapter_keys() -> dict[str, str]:
    """Each toc chapter's input key (see the module docstring)."""
    root, res = paths.repo_root(), paths.results_dir()
    data = _sha_file(paths.registry_file())
    run = runner.current_run_id() or "none"
    downloads = paths.chapters_dir() / "downloads"
    keys = {}
    for chapter in toc_chapters():
        src = root / chapter
        cells = _code_cells(src) if src.suffix == ".md" else []
        lib = runner.library_hash(cells) if src.suffix == ".md" else runner.library_hash()
        reads = {r: _sha_file(res / r.format(run=run)) for r in CHAPTER_RESULTS.get(chapter, ())}
        writes = sorted(
            f"{name}{ext}: {(downloads / (name + ext)).is_file()}"
            for name in _DOWNLOAD_CALL.findall("\n".join(cells))
            for ext in (".csv", ".ecsv")
        )
        blob = json.dumps({"library": lib, "data": data, "results": reads, "downloads": writes}, sort_keys=True)
        keys[chapter] = hashlib.sha256(blob.encode()).hexdigest()[:16]
    return keys


def invalidate_changed(build: Path | None = None) -> list[str]:
    """Drop the execution-cache record and touch the source of every chapter whose key changed
    since the last successful build (all of them when there is no record). Returns those chapters."""
    root = paths.repo_root()
    build = Path(build or root / "_build")
    keys_file = build / Path(KEYS_FILE).name
    try:
        old = json.loads(keys_file.read_text())
    except (OSError, ValueError):
        old = {}
    changed = [c for c, k in chapter_keys().items() if old.get(c) != k]
    if not changed:
        return []
    cache_dir = build / ".jupyter_cache"
    if cache_dir.exists():
        from jupyter_cache import get_cache  # imported here: only a build with a cache needs it

        cache = get_cache(cache_dir)
        targets = {(root / c).resolve() for c in changed}
        for rec in cache.list_cache_records():
            if rec.uri and Path(rec.uri).resolve() in targets:
                cache.remove_cache(rec.pk)
    for c in changed:
        os.utime(root / c)  # mtime only: Sphinx re-reads it
    return changed


def build_book(strict: bool = True) -> int:
    """Run ``jupyter-book build`` on the repository, re-executing the chapters whose inputs changed;
    return its exit status."""
    root = paths.repo_root()
    datafiles.record_mirror()
    build = root / "_build"
    build.mkdir(exist_ok=True)
    changed = invalidate_changed(build)
    if changed:
        print(f"chapters to re-execute ({len(changed)}): {', '.join(changed)}")
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb), "build", str(root)] + (["-W", "-n", "--keep-going"] if strict else [])
    status = subprocess.call(cmd, cwd=root)
    if status == 0:
        atomic_write_text(build / Path(KEYS_FILE).name, json.dumps(chapter_keys(), indent=1) + "\n")
        print(f"The book is at {build / 'html' / 'index.html'}")
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(build_book())
