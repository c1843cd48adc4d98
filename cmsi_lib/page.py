"""Page helpers for the chapters: glue plain numbers, format them, and build tables from data.

    from cmsi_lib.page import gl, fmt, table
    gl("survey_n_points", n)                     # glue for {glue:text}`survey_n_points` (no display)
    display(table(["model", "chi^2"], rows))      # a Markdown table MyST renders (math allowed)

Tables are written by ``tabulate`` (GitHub-flavoured pipe tables, cells kept as given), never by
string concatenation in a chapter. Numbers glued through ``gl`` are plain Python ``int``/``float``
(numpy 2 scalars would print as ``np.float64(...)`` and ignore format specs).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from IPython.display import Markdown
from tabulate import tabulate

__all__ = ["Text", "plain", "gl", "fmt", "table", "records_table"]


class Text(str):
    """A string glued without quotes (its repr is itself)."""

    def __repr__(self) -> str:
        return str(self)


def plain(value: Any) -> Any:
    """numpy scalars as Python numbers (``np.int64`` -> ``int``, ``np.float64`` -> ``float``); else as given."""
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def gl(key: str, value: Any) -> None:
    """``glue(key, value, display=False)`` with numpy scalars as plain Python numbers."""
    # lazy: myst_nb comes with the book extra (jupyter-book), which the library alone does not require
    from myst_nb import glue

    glue(key, plain(value), display=False)


def fmt(x: Any, spec: str = ".4g", missing: str = "—") -> str:
    """``format(x, spec)``, or ``missing`` for None, NaN and infinities."""
    if x is None:
        return missing
    x = plain(x)
    if isinstance(x, float) and not math.isfinite(x):
        return missing
    return format(x, spec)


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]):
    """A Markdown table (an IPython ``Markdown`` object) from a header and rows of cells.

    Cells are written as ``str(cell)`` without number parsing, so the caller's formatting stands.
    """
    rows = [[str(plain(c)) for c in row] for row in rows]
    text = tabulate(rows, headers=list(header), tablefmt="github", disable_numparse=True)
    return Markdown(text)


def records_table(records: Iterable[Mapping[str, Any]], columns: Mapping[str, tuple[str, str]]):
    """A Markdown table from records: ``columns`` maps a record key to (header, format spec).

    A spec of ``""`` writes ``str(value)``; numbers use :func:`fmt` (missing values as a dash).
    """
    rows = []
    for rec in records:
        row = []
        for key, (_header, spec) in columns.items():
            v = rec.get(key)
            row.append(fmt(v, spec) if spec and (v is None or isinstance(plain(v), (int, float))) else str(v))
        rows.append(row)
    return table([h for h, _s in columns.values()], rows)
