"""Dump every glued value (and every Markdown/text display) of a built book to JSON, or compare two dumps.

A refactor must change no result: dump the glue of the book built before the change, dump it again
after, and compare. Values are read from the executed notebooks the build leaves behind and from the
atlas pages papermill wrote (``chapters/sparc/galaxies/*.ipynb``). MyST-NB removes the glue outputs
from the copies it writes to ``_build/jupyter_execute/``, so a page's notebook is taken from the
execution cache (``_build/.jupyter_cache``, which keeps every output) when the cache has it, and from
``jupyter_execute`` otherwise. Glue outputs carry their MIME types under the
``application/papermill.record/`` prefix; they are read with the prefix removed.

    python benchmarks/glue_dump.py dump [BOOK_DIR] -o glue.json
    python benchmarks/glue_dump.py compare before.json after.json [--rtol 1e-9]

``compare`` exits 1 when any value differs (numbers are compared with ``--rtol``; text exactly) and
prints each difference as ``page :: name: before -> after``.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sqlite3
import sys
from pathlib import Path

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
# Text that changes from build to build without being a result
_VOLATILE = ("survey_total_time", "_time_s", "_seconds", "elapsed")
_GLUE_PREFIX = "application/papermill.record/"  # myst_nb.glue stores its mimebundle under this prefix


def _text(data: dict) -> str | None:
    data = {k.removeprefix(_GLUE_PREFIX): v for k, v in data.items()}
    for mime in ("text/markdown", "text/plain", "text/html", "text/latex"):
        if mime in data:
            v = data[mime]
            return "".join(v) if isinstance(v, list) else v
    return None


def dump_notebook(path: Path) -> dict[str, str]:
    """Map glue name (or ``display[<code cell>.<output>]``) to its text for one executed notebook.

    Displays are numbered by code cell (from 0), not by cell: the execution cache keeps code cells only.
    """
    nb = json.loads(path.read_text())
    out: dict[str, str] = {}
    code_cells = [cell for cell in nb.get("cells", []) if cell.get("cell_type") == "code"]
    for ci, cell in enumerate(code_cells):
        for oi, o in enumerate(cell.get("outputs", [])):
            if o.get("output_type") not in ("display_data", "execute_result"):
                continue
            text = _text(o.get("data", {}))
            if text is None:
                continue
            name = o.get("metadata", {}).get("scrapbook", {}).get("name")
            out[name if name else f"display[{ci}.{oi}]"] = text
    return out


def _cached_notebooks(root: Path) -> dict[str, Path]:
    """Source path (relative to ``root``, as .ipynb) -> the executed notebook in the execution cache."""
    db = root / "_build" / ".jupyter_cache" / "global.db"
    if not db.exists():
        return {}
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT pk, hashkey, uri FROM nbcache ORDER BY pk").fetchall()
    finally:
        con.close()
    found = {}
    for _pk, hashkey, uri in rows:  # the latest entry of a source wins
        nb = db.parent / "executed" / hashkey / "base.ipynb"
        src = Path(uri)
        if nb.exists() and src.is_relative_to(root.resolve()):
            found[str(src.relative_to(root.resolve()).with_suffix(".ipynb"))] = nb
    return found


def executed_notebooks(root: Path) -> dict[str, Path]:
    """Page (source path relative to ``root``, as .ipynb) -> its executed notebook with all outputs."""
    execd = root / "_build" / "jupyter_execute"
    pages = {str(nb.relative_to(execd)): nb for nb in sorted(execd.rglob("*.ipynb"))}
    pages.update(_cached_notebooks(root))
    return dict(sorted(pages.items()))


def dump_book(root: Path) -> dict[str, dict[str, str]]:
    """All glue of the book whose project folder is ``root``."""
    pages = {page: dump_notebook(nb) for page, nb in executed_notebooks(root).items()}
    for nb in sorted((root / "chapters" / "sparc" / "galaxies").glob("*.ipynb")):
        pages[f"atlas/{nb.name}"] = dump_notebook(nb)
    return pages


def _normalise(text: str) -> str:
    """A Markdown table's cells without padding or alignment rows (tabulate pads; hand-built tables do not)."""
    lines = text.strip().splitlines()
    if not lines or not all(ln.lstrip().startswith("|") for ln in lines):
        return text
    rows = [ln for ln in lines if not re.fullmatch(r"[\s|:-]+", ln)]
    return "\n".join("|".join(c.strip() for c in ln.strip().strip("|").split("|")) for ln in rows)


def _close(a: str, b: str, rtol: float) -> bool:
    a, b = _normalise(a), _normalise(b)
    if a == b:
        return True
    na, nb = _NUMBER.findall(a), _NUMBER.findall(b)
    if len(na) != len(nb) or not na or _NUMBER.sub("#", a) != _NUMBER.sub("#", b):
        return False
    return all(math.isclose(float(x), float(y), rel_tol=rtol, abs_tol=0.0) for x, y in zip(na, nb, strict=True))


def compare(before: dict, after: dict, rtol: float) -> list[str]:
    """Differences between two dumps, one line each (volatile timing glue excluded)."""
    diffs = []
    for page in sorted(set(before) | set(after)):
        b, a = before.get(page), after.get(page)
        if b is None or a is None:
            diffs.append(f"{page}: page {'added' if b is None else 'removed'}")
            continue
        for name in sorted(set(b) | set(a)):
            if any(v in name for v in _VOLATILE):
                continue
            if name not in a or name not in b:
                diffs.append(f"{page} :: {name}: {'added' if name not in b else 'removed'}")
            elif not _close(b[name], a[name], rtol):
                diffs.append(f"{page} :: {name}: {b[name][:200]!r} -> {a[name][:200]!r}")
    return diffs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump", help="dump a built book's glue to JSON")
    d.add_argument("root", nargs="?", default=".", type=Path, help="project folder (default: .)")
    d.add_argument("-o", "--output", type=Path, help="JSON file (default: standard output)")
    c = sub.add_parser("compare", help="compare two dumps")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    c.add_argument("--rtol", type=float, default=1e-9, help="relative tolerance for numbers (default 1e-9)")
    args = ap.parse_args(argv)
    if args.cmd == "dump":
        pages = dump_book(args.root)
        if not pages:
            print(f"glue_dump: no executed notebooks under {args.root}/_build (build the book first)", file=sys.stderr)
            return 2
        text = json.dumps(pages, indent=1, sort_keys=True)
        if args.output:
            args.output.write_text(text)
            n = sum(len(v) for v in pages.values())
            print(f"{n} values from {len(pages)} pages -> {args.output}")
        else:
            print(text)
        return 0
    before, after = json.loads(args.before.read_text()), json.loads(args.after.read_text())
    diffs = compare(before, after, args.rtol)
    n = sum(len(v) for v in before.values())
    for line in diffs:
        print(line)
    print(f"{n} values in {len(before)} pages compared; {len(diffs)} differ")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
