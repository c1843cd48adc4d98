"""Execute one chapter headless and compare its glue with the same chapter of a reference build.

    python benchmarks/run_chapter.py chapters/clusters.md [--reference /work/baseline] [-o out.ipynb]

Runs the MyST notebook with nbclient in its own folder (as the book does), writes the executed
notebook, then compares every glued value and display with the reference build's executed copy
(its execution cache, which keeps the glue outputs, else ``_build/jupyter_execute``; see
``glue_dump.executed_notebooks``) using ``glue_dump.compare``. Exit 1 on any
difference or execution error. For refactors: the results must not change.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jupytext
import nbclient
import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import glue_dump  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("chapter", type=Path)
    ap.add_argument("--reference", type=Path, default=None, help="project folder of a reference build")
    ap.add_argument("-o", "--output", type=Path, default=None, help="executed notebook (default: /tmp/<stem>.ipynb)")
    ap.add_argument("--timeout", type=float, default=900)
    args = ap.parse_args(argv)
    chapter = args.chapter.resolve()
    out = args.output or Path("/tmp") / f"{chapter.stem}.executed.ipynb"
    nb = jupytext.read(chapter)
    t0 = time.perf_counter()
    client = nbclient.NotebookClient(
        nb, timeout=args.timeout, kernel_name="python3", resources={"metadata": {"path": str(chapter.parent)}}
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:
        print(f"execution failed: {exc}", file=sys.stderr)
        return 1
    finally:
        nbformat.write(nb, out)
    print(f"executed {chapter.name} in {time.perf_counter() - t0:.1f} s -> {out}")
    if args.reference is None:
        return 0
    root = Path(__file__).resolve().parent.parent
    rel = chapter.relative_to(root) if chapter.is_relative_to(root) else Path("chapters") / chapter.name
    page = str(rel.with_suffix(".ipynb"))
    ref = glue_dump.executed_notebooks(args.reference).get(page)
    if ref is None:
        print(f"no executed notebook for {page} in the reference build {args.reference}", file=sys.stderr)
        return 1
    before = {str(rel): glue_dump.dump_notebook(ref)}
    after = {str(rel): glue_dump.dump_notebook(out)}
    diffs = glue_dump.compare(before, after, rtol=1e-9)
    for d in diffs:
        print(d)
    print(f"{len(before[str(rel)])} values compared with {ref}; {len(diffs)} differ")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
