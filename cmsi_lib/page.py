"""Page helpers for the chapters: glue plain numbers, format them, and build tables from data.

    from cmsi_lib.page import gl, fmt, table, download, sortable
    gl("survey_n_points", n)                     # glue for {glue:text}`survey_n_points` (no display)
    display(table(["model", "chi^2"], rows))      # a Markdown table MyST renders (math allowed)
    display(download(rows, "survey_fits"))        # the rows as CSV and ECSV files, with links to both
    display(sortable([1, 2], site_root="../.."))  # the table above it sorts and filters in the browser

Tables are written by ``tabulate`` (GitHub-flavoured pipe tables, cells kept as given), never by
string concatenation in a chapter. Numbers glued through ``gl`` are plain Python ``int``/``float``
(numpy 2 scalars would print as ``np.float64(...)`` and ignore format specs).
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np
from astropy.table import MaskedColumn, Table
from IPython.display import HTML, Markdown
from tabulate import tabulate

from . import paths
from .errors import InputError
from .results import atomic_write_text

__all__ = [
    "Text",
    "plain",
    "gl",
    "fmt",
    "table",
    "records_table",
    "as_table",
    "unit_from_name",
    "downloads_dir",
    "download",
    "sortable",
]


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


# --------------------------------------------------------------------------- downloads
#: column-name suffixes that carry a unit (the library's naming convention), longest first
UNIT_SUFFIXES = (
    ("_Msun_pc2", "solMass / pc2"),
    ("_Msun", "solMass"),
    ("_kms", "km / s"),
    ("_kpc", "kpc"),
    ("_Mpc", "Mpc"),
    ("_deg", "deg"),
    ("_keV", "keV"),
    ("_au", "AU"),
)

#: file formats :func:`download` writes (astropy writers)
DOWNLOAD_FORMATS = {"csv": "ascii.csv", "ecsv": "ascii.ecsv"}

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def unit_from_name(column: str) -> str | None:
    """The unit a column name declares by its suffix (``rms_cmsi_kms`` -> ``km / s``), or None."""
    return next((unit for suffix, unit in UNIT_SUFFIXES if column.endswith(suffix)), None)


def _record(row: Any) -> Mapping[str, Any]:
    if isinstance(row, Mapping):
        return row
    if hasattr(row, "as_dict"):
        return row.as_dict()
    raise InputError(f"download rows must be mappings or have as_dict(), got {type(row).__name__}")


def _column(name: str, values: list[Any]):
    """One column from Python values: bool, int, float or str by what the present values are; None masked."""
    vals = [plain(v) for v in values]
    missing = [v is None for v in vals]
    present = [v for v in vals if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        data, fill = [bool(v) if v is not None else False for v in vals], False
    elif present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        data, fill = [v if v is not None else 0 for v in vals], 0
    elif present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        data, fill = [float(v) if v is not None else math.nan for v in vals], math.nan
    else:
        data, fill = ["" if v is None else str(v) for v in vals], ""
    return MaskedColumn(data, name=name, mask=missing, fill_value=fill)


def as_table(data: Table | Iterable[Any], units: Mapping[str, str] | None = None) -> Table:
    """An astropy Table of ``data`` (a Table, or rows: mappings or objects with ``as_dict()``), with units.

    Rows give columns in first-seen order; a key a row lacks, or a None, is a masked (blank) cell.
    Each column's unit is ``units[name]`` when given, else the unit it already has, else the one its
    name declares (:func:`unit_from_name`); an unparseable unit is an InputError naming the column.
    """
    if isinstance(data, Table):
        t = data.copy(copy_data=True)
    else:
        rows = [_record(r) for r in data]
        names: list[str] = []
        for r in rows:
            names.extend(k for k in r if k not in names)
        t = Table([_column(c, [r.get(c) for r in rows]) for c in names], masked=True)
    units = dict(units or {})
    unknown = sorted(set(units) - set(t.colnames))
    if unknown:
        raise InputError(f"units given for columns that are not in the table: {unknown}; columns: {t.colnames}")
    for c in t.colnames:
        unit = units.get(c) or (None if t[c].unit is not None else unit_from_name(c))
        if unit:
            try:
                t[c].unit = u.Unit(unit)
            except ValueError as exc:
                raise InputError(f"column {c!r}: {unit!r} is not a unit astropy understands ({exc})") from None
    return t


def downloads_dir() -> Path:
    """``chapters/downloads/``: the files :func:`download` writes (generated, untracked)."""
    return paths.chapters_dir() / "downloads"


def _table_text(t: Table, fmt_name: str) -> str:
    buf = io.StringIO()
    t.write(buf, format=DOWNLOAD_FORMATS[fmt_name])
    return buf.getvalue()


def download(
    data: Table | Iterable[Any],
    name: str,
    *,
    units: Mapping[str, str] | None = None,
    description: str = "",
    formats: Sequence[str] = ("csv", "ecsv"),
):
    """Write ``data`` as ``chapters/downloads/<name>.csv`` and ``.ecsv`` and return the Markdown links.

    ``data`` and ``units`` as for :func:`as_table`; ``description`` goes into the ECSV header. The CSV
    has one header line of column names; the ECSV keeps each column's unit and type (astropy reads it
    back as the same table). Files are written atomically, and only when their text changed.

    Why there, and why a ``{download}`` role: the returned Markdown holds MyST ``{download}`` roles
    with the files' paths from the book's source root. Sphinx copies each file into the site's
    ``_downloads/`` when it reads the page, and the strict build (``-W -n``) fails, naming the file,
    if one is missing, so a page never links to nothing. Writing into ``_build/html/_downloads``
    directly would fight Sphinx, which owns that folder, and a folder in ``html_extra_path`` would
    give unchecked raw links. The files sit next to the chapters, outside ``_build``: Jupyter Book's
    execution cache keeps a chapter's output (the links) without re-executing it, and the files it
    wrote at its last execution are still there to be copied. A reader's results come from the same
    data as the chapter's tables, and the chapter is re-executed whenever those results change
    (``cmsi_lib.book``), which rewrites the files.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InputError(f"download name {name!r}: use letters, digits, '_' and '-' (it names the files)")
    bad = [f for f in formats if f not in DOWNLOAD_FORMATS]
    if bad or not formats:
        raise InputError(f"download formats {list(formats)}: each must be one of {sorted(DOWNLOAD_FORMATS)}")
    t = as_table(data, units)
    if description:
        t.meta["description"] = description
    links = []
    for f in formats:
        path = downloads_dir() / f"{name}.{f}"
        text = _table_text(t, f)
        if not (path.is_file() and path.read_text() == text):
            atomic_write_text(path, text)
        src = "/" + path.relative_to(paths.repo_root()).as_posix()
        links.append(f"{{download}}`{path.name} <{src}>`")
    note = " (the ECSV keeps the units)" if "ecsv" in formats else ""
    return Markdown(f"Download this table ({len(t)} rows, {len(t.colnames)} columns): {', '.join(links)}{note}.")


# --------------------------------------------------------------------------- sortable tables
#: the table library's files, relative to the site root (the Makefile's `datatables` target)
DATATABLES_JS = "simple-datatables/simple-datatables.js"
DATATABLES_CSS = "simple-datatables/style.css"

_SORTABLE_JS = """
(function (here) {
  var out = here.closest(".cell_output");
  var tables = out ? out.querySelectorAll("table") : [];
  var table = tables[tables.length - 1];
  if (!table || !window.simpleDatatables) { return; }
  var numeric = %(numeric)s;
  table.querySelectorAll("tbody tr").forEach(function (tr) {
    numeric.forEach(function (i) {  /* a blank number sorts after every number */
      var td = tr.children[i];
      if (td && isNaN(parseFloat(td.textContent))) { td.dataset.order = "Infinity"; }
    });
  });
  table.classList.add("cmsi-sortable");
  new simpleDatatables.DataTable(table, {
    paging: false, searchable: true, fixedHeight: false,
    columns: [{select: numeric, type: "number", searchable: false}],
    labels: %(labels)s
  });
})(document.currentScript);
"""


def sortable(numeric_columns: Sequence[int], site_root: str, search_placeholder: str = "Filter the rows"):
    """HTML that makes the last table shown before it in the same cell sortable and filterable.

    Display it after the table, in the same cell. The table library (simple-datatables, served at the
    site root by ``html_extra_path``; nothing from a CDN) is loaded by this output only, so other pages
    do not carry it. ``numeric_columns`` (0-based) sort as numbers, blanks last, and are left out of
    the filter, which matches the other columns' text. ``site_root`` is the page's relative path to the
    site root, e.g. ``"../.."`` for ``chapters/sparc/atlas``.
    """
    cols = [int(i) for i in numeric_columns]
    if any(i < 0 for i in cols):
        raise InputError(f"numeric_columns {cols}: column indices are 0-based and >= 0")
    root = site_root.rstrip("/")
    labels = {"placeholder": search_placeholder, "noRows": "No rows match", "info": "{rows} rows"}
    js = _SORTABLE_JS % {"numeric": json.dumps(cols), "labels": json.dumps(labels)}
    return HTML(
        f'<link rel="stylesheet" href="{root}/{DATATABLES_CSS}">\n'
        f'<script src="{root}/{DATATABLES_JS}"></script>\n<script>{js}</script>'
    )
