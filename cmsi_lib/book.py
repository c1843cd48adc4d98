"""Build the HTML book (strict), re-executing chapters whose inputs changed.

jupyter-cache keys a chapter on its cell sources only, so a change in the library, the data
registry or the results files the chapters read would otherwise be served from the cache. The
inputs' hash is kept in ``_build/.inputs-hash``; when it changes the execution cache is dropped.
Used by ``make book`` (``python -m cmsi_lib.book``) and by ``cmsi run``. A valid ``CMSI_DATA_DIR``
(the Makefile exports it) is recorded in ``results/config.json`` so later commands find the same data
(``datafiles.record_mirror``).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from . import datafiles, paths


def inputs_hash() -> str:
    """sha256 over the library sources, the data registry and the result tables chapters read."""
    root = paths.repo_root()
    files = sorted((root / "cmsi_lib").rglob("*.py")) + sorted((root / "data").glob("*.*"))
    res = paths.results_dir()
    files += sorted(
        p for p in res.rglob("*") if p.is_file() and p.suffix in {".json", ".csv", ""} and "rows" not in p.parts
    )
    h = hashlib.sha256()
    for f in files:
        h.update(str(f.relative_to(root) if f.is_relative_to(root) else f).encode())
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()[:16]


def build_book(strict: bool = True) -> int:
    """Run ``jupyter-book build`` on the repository; return its exit status."""
    root = paths.repo_root()
    datafiles.record_mirror()  # before hashing: the config file is among the results hashed
    build = root / "_build"
    build.mkdir(exist_ok=True)
    stamp = build / ".inputs-hash"
    h = inputs_hash()
    if not stamp.exists() or stamp.read_text().strip() != h:
        # Sphinx re-reads (and so re-executes) only sources newer than their doctrees: drop both
        shutil.rmtree(build / ".jupyter_cache", ignore_errors=True)
        shutil.rmtree(build / ".doctrees", ignore_errors=True)
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb), "build", str(root)] + (["-W", "-n", "--keep-going"] if strict else [])
    status = subprocess.call(cmd, cwd=root)
    if status == 0:
        # hash again: chapters may themselves write caches under results/ (e.g. the galpy grid)
        stamp.write_text(inputs_hash() + "\n")
        print(f"The book is at {build / 'html' / 'index.html'}")
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(build_book())
