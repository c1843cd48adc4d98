"""Rotation curves in SPARC's Rotmod format: read a folder of them as a sample, write one.

A sample folder holds one file per galaxy, ``<name>_rotmod.dat``, as in SPARC's Rotmod_LTG.zip::

    # Distance = 13.8 Mpc
    # Rad   Vobs    errV    Vgas    Vdisk   Vbul    SBdisk  SBbul
    # kpc   km/s    km/s    km/s    km/s    km/s    L/pc^2  L/pc^2
    0.32    24.40   35.90   0.00    63.28   0.00    1084.92 0.00
    ...

The distance line is required; the names and units lines are optional, but when present they must be
SPARC's (``COLUMNS``, ``UNITS``). Every data line has the 8 whitespace-separated numbers of
``COLUMNS``: Rad [kpc] at the header distance, Vobs, errV [km/s] (errV > 0), the signed Vgas, Vdisk,
Vbul [km/s] (Vdisk, Vbul for a mass-to-light ratio of 1 Msun/Lsun, as SPARC's), SBdisk, SBbul
[Lsun/pc^2]. Lines starting with '#' and blank lines are skipped.

An optional ``galaxies.csv`` in the folder gives, per galaxy, the columns ``REQUIRED_TABLE`` (name, D
[Mpc], e_D [Mpc], Inc [deg], e_Inc [deg], Q) and optionally any of ``OPTIONAL_TABLE`` (the other
fields of SPARC's Table 1, named as :class:`cmsi_lib.sparc.Galaxy` names them; :func:`write_sample`
writes them all, so a sample written and read back keeps every field). Its D must equal the file's
header distance (the radii and the baryonic speeds are tabulated at it). Every galaxy needs a row and
every row a file.

Without ``galaxies.csv`` (``NO_TABLE``): D is the header distance with a 10% prior (e_D = 0.1 D), and
the inclination is not a nuisance parameter: Inc = 90 deg, e_Inc = 0, so the fits hold it (they free
Inc only where e_Inc > 0) and the observed speeds are used as given (the deprojection factor
sin(Inc_table)/sin(Inc) is 1); the inclination cut of ``sparc.QualityCuts`` then keeps the galaxy.
Q = 0 means "no quality flag" (every Q cut keeps it), T = -1 and f_D = 0 "not given", refs is empty,
and the other Table-1 quantities (L36, Reff, SBeff, Rdisk, SBdisk0, MHI, RHI, Vflat, e_Vflat) are NaN.
The default CMSI options (sigma_v "constant", Sigma "stellar") need none of them; the options
sigma_v "stellar-disk" and Sigma "stellar+gas" need Rdisk (and MHI), so such a sample needs a
galaxies.csv with those columns for them.

Errors: :class:`cmsi_lib.errors.DataFormatError`, naming the file and the line.
"""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path

import numpy as np

from .errors import DataFormatError
from .results import atomic_write_text
from .sparc import Galaxy

__all__ = [
    "COLUMNS",
    "UNITS",
    "SUFFIX",
    "TABLE_FILE",
    "REQUIRED_TABLE",
    "OPTIONAL_TABLE",
    "NO_TABLE",
    "read_rotmod",
    "read_table",
    "load_sample",
    "write_sample",
]

#: the data columns of a Rotmod file, in order
COLUMNS = ("Rad", "Vobs", "errV", "Vgas", "Vdisk", "Vbul", "SBdisk", "SBbul")
#: their units as SPARC writes them (L/pc^2: Lsun/pc^2 at 3.6 um)
UNITS = ("kpc", "km/s", "km/s", "km/s", "km/s", "km/s", "L/pc^2", "L/pc^2")
SUFFIX = "_rotmod.dat"
TABLE_FILE = "galaxies.csv"
#: galaxies.csv columns that must be present: name, D [Mpc], e_D [Mpc], Inc [deg], e_Inc [deg], Q
REQUIRED_TABLE = ("name", "D", "e_D", "Inc", "e_Inc", "Q")
#: optional galaxies.csv columns (Galaxy field names): T, f_D (integers), L36, e_L36 [1e9 Lsun], Reff,
#: Rdisk, RHI [kpc], SBeff, SBdisk0 [Lsun/pc^2], MHI [1e9 Msun], Vflat, e_Vflat [km/s], refs (text)
OPTIONAL_TABLE = ("T", "f_D", "L36", "e_L36", "Reff", "SBeff", "Rdisk", "SBdisk0", "MHI", "RHI", "Vflat",
                  "e_Vflat", "refs")  # fmt: skip
_INTS = ("Q", "T", "f_D")
#: the values a galaxy gets without galaxies.csv (e_D is 0.1 D: ``E_D_FRACTION``)
NO_TABLE = {"inc": 90.0, "e_inc": 0.0, "Q": 0, "T": -1, "f_D": 0, "refs": ""}
E_D_FRACTION = 0.1
#: where the column names of galaxies.csv and Galaxy differ
_FIELD = {"Inc": "inc", "e_Inc": "e_inc"}
_DISTANCE = re.compile(r"^#\s*Distance\s*=\s*(\S+)\s*Mpc\s*$", re.IGNORECASE)
_ARRAYS = ("R", "v_obs", "e_v_obs", "v_gas", "v_disk", "v_bul", "sb_disk", "sb_bul")  # Galaxy's names of COLUMNS


# --------------------------------------------------------------------------- reading
def _header_line(path: Path, no: int, text: str, state: dict) -> None:
    """Interpret one comment line: the distance, or the names / units line (checked against SPARC's)."""
    m = _DISTANCE.match(text.strip())
    if m:
        try:
            D = float(m.group(1))
        except ValueError:
            raise DataFormatError(f"{path}, line {no}: distance {m.group(1)!r} is not a number (Mpc)") from None
        if not (math.isfinite(D) and D > 0):
            raise DataFormatError(f"{path}, line {no}: distance {D!r} Mpc must be finite and > 0")
        if "D" in state:
            raise DataFormatError(f"{path}, line {no}: a second '# Distance = D Mpc' line")
        state["D"] = D
        return
    words = text.lstrip("#").split()
    for expect, what in ((COLUMNS, "column names"), (UNITS, "units")):
        units_like = what == "units" and len(words) == len(UNITS) and sum("/" in w for w in words) >= 3
        if words and (words[0] == expect[0] or units_like):
            if tuple(words) != expect:
                missing = [c for c in expect if c not in words]
                raise DataFormatError(
                    f"{path}, line {no}: {what} {' '.join(words)!r} are not SPARC's {' '.join(expect)!r}"
                    + (f" (missing: {', '.join(missing)})" if missing else "")
                )


def _data_line(path: Path, no: int, text: str) -> list[float]:
    fields = text.split()
    if len(fields) != len(COLUMNS):
        raise DataFormatError(
            f"{path}, line {no}: expected {len(COLUMNS)} columns ({' '.join(COLUMNS)}), found {len(fields)}: "
            f"{text.strip()!r}"
        )
    row = []
    for col, unit, f in zip(COLUMNS, UNITS, fields, strict=True):
        try:
            v = float(f)
        except ValueError:
            raise DataFormatError(f"{path}, line {no}: {col} = {f!r} is not a number ({unit})") from None
        if not math.isfinite(v):
            raise DataFormatError(f"{path}, line {no}: {col} = {f!r} is not finite ({unit})")
        row.append(v)
    if row[0] <= 0:
        raise DataFormatError(f"{path}, line {no}: Rad = {fields[0]} kpc must be > 0")
    if row[2] <= 0:
        raise DataFormatError(f"{path}, line {no}: errV = {fields[2]} km/s must be > 0 (a negative or zero error)")
    return row


def read_rotmod(path: str | Path) -> tuple[float, dict[str, np.ndarray]]:
    """One Rotmod file: (header distance D [Mpc], arrays by Galaxy field name: R [kpc], v_obs, e_v_obs,
    v_gas, v_disk, v_bul [km/s], sb_disk, sb_bul [Lsun/pc^2]). Raises DataFormatError naming file and line."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError:
        raise DataFormatError(f"{path}: not a text file") from None
    state: dict = {}
    rows = []
    for no, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        if text.lstrip().startswith("#"):
            _header_line(path, no, text, state)
            continue
        if "D" not in state:
            raise DataFormatError(f"{path}, line {no}: data before the '# Distance = D Mpc' header line")
        rows.append(_data_line(path, no, text))
    if "D" not in state:
        raise DataFormatError(f"{path}: no '# Distance = D Mpc' header line (the distance the radii are at)")
    if not rows:
        raise DataFormatError(f"{path}: no data lines (expected rows of {' '.join(COLUMNS)})")
    a = np.array(rows, float)
    return state["D"], {f: a[:, i] for i, f in enumerate(_ARRAYS)}


def _cell(path: Path, no: int, col: str, text: str):
    """One galaxies.csv cell as its type: int for Q, T, f_D; str for name, refs; float otherwise."""
    text = text.strip()
    if col in ("name", "refs"):
        return text
    try:
        v = float(text) if text.lower() not in ("", "nan") else math.nan
    except ValueError:
        raise DataFormatError(f"{path}, line {no}: {col} = {text!r} is not a number") from None
    required = col in REQUIRED_TABLE
    if (required or col in _INTS) and not math.isfinite(v):
        raise DataFormatError(f"{path}, line {no}: {col} = {text!r}: a finite number is required")
    if col in _INTS:
        if v != int(v):
            raise DataFormatError(f"{path}, line {no}: {col} = {text!r} must be an integer")
        v = int(v)
    checks = {"D": (lambda x: x > 0, "> 0 Mpc"), "e_D": (lambda x: x >= 0, ">= 0 Mpc"),
              "Inc": (lambda x: 0 < x <= 90, "in (0, 90] deg"), "e_Inc": (lambda x: x >= 0, ">= 0 deg"),
              "Q": (lambda x: x in (0, 1, 2, 3), "one of 1, 2, 3 (0: none)")}  # fmt: skip
    if col in checks and not checks[col][0](v):
        raise DataFormatError(f"{path}, line {no}: {col} = {text!r} is out of range; it must be {checks[col][1]}")
    return v


def read_table(path: str | Path) -> dict[str, dict]:
    """galaxies.csv: name -> {Galaxy field name: value} (Inc -> inc, e_Inc -> e_inc). The header row must
    hold every column of ``REQUIRED_TABLE``; others must be among ``OPTIONAL_TABLE``. Raises
    DataFormatError naming the file and the line (a malformed cell, a duplicate name, a missing column)."""
    path = Path(path)
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise DataFormatError(f"{path}: empty; expected a header row with {', '.join(REQUIRED_TABLE)}")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in REQUIRED_TABLE if c not in header]
    if missing:
        raise DataFormatError(f"{path}, line 1: missing column(s) {', '.join(missing)} (required: {REQUIRED_TABLE})")
    unknown = [c for c in header if c not in REQUIRED_TABLE + OPTIONAL_TABLE]
    if unknown or len(set(header)) != len(header):
        raise DataFormatError(
            f"{path}, line 1: column(s) {unknown or header} unknown or repeated; allowed: "
            f"{', '.join(REQUIRED_TABLE + OPTIONAL_TABLE)}"
        )
    out: dict[str, dict] = {}
    first_line: dict[str, int] = {}
    for no, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise DataFormatError(f"{path}, line {no}: {len(row)} fields, the header has {len(header)}")
        rec = {_FIELD.get(c, c): _cell(path, no, c, t) for c, t in zip(header, row, strict=True)}
        name = rec.pop("name")
        if not name:
            raise DataFormatError(f"{path}, line {no}: empty name")
        if name in out:
            raise DataFormatError(
                f"{path}, line {no}: galaxy {name!r} is given twice (first on line {first_line[name]})"
            )
        out[name], first_line[name] = rec, no
    return out


def _defaults(D: float) -> dict:
    """The Table-1 fields of a galaxy without a galaxies.csv row (``NO_TABLE``; the module docstring)."""
    nan = math.nan
    floats = ("L36", "e_L36", "Reff", "SBeff", "Rdisk", "SBdisk0", "MHI", "RHI", "Vflat", "e_Vflat")
    return {**dict.fromkeys(floats, nan), **NO_TABLE, "D": D, "e_D": E_D_FRACTION * D}


def load_sample(folder: str | Path) -> dict[str, Galaxy]:
    """Every ``<name>_rotmod.dat`` of ``folder`` as name -> :class:`cmsi_lib.sparc.Galaxy` (sorted by
    name), with the Table-1 fields from ``galaxies.csv`` if the folder has one, else as ``NO_TABLE``
    says (the module docstring). The result goes to ``sparc.apply_cuts``, ``fitting`` and ``jointfit``
    as SPARC's ``load_galaxies()`` does. Raises DataFormatError naming the file (and line)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFormatError(f"{folder}: not a folder (expected a folder of <name>{SUFFIX} files)")
    files = sorted(folder.glob(f"*{SUFFIX}"))
    if not files:
        raise DataFormatError(f"{folder}: no <name>{SUFFIX} file")
    table_path = folder / TABLE_FILE
    table = read_table(table_path) if table_path.is_file() else None
    names = {f.name[: -len(SUFFIX)]: f for f in files}
    if table is not None:
        extra = sorted(set(table) - set(names))
        if extra:
            line = _line_of(table_path, extra[0])
            raise DataFormatError(
                f"{table_path}, line {line}: galaxy {extra[0]!r} has no file {extra[0]}{SUFFIX} in {folder}"
            )
    out: dict[str, Galaxy] = {}
    for name, path in names.items():
        if not name:
            raise DataFormatError(f"{path}: empty galaxy name (the file must be called <name>{SUFFIX})")
        D, arrays = read_rotmod(path)
        if table is None:
            fields = _defaults(D)
        else:
            if name not in table:
                raise DataFormatError(f"{table_path}: no row for galaxy {name!r} (file {path.name})")
            fields = {**_defaults(D), **table[name]}
            if not math.isclose(fields["D"], D, rel_tol=1e-4):
                raise DataFormatError(
                    f"{table_path}, line {_line_of(table_path, name)}: D = {fields['D']!r} Mpc differs from the "
                    f"header distance {D!r} Mpc of {path.name} (the radii are at the header distance)"
                )
        for f in _ARRAYS:
            arrays[f].setflags(write=False)
        out[name] = Galaxy(name=name, **fields, **arrays)
    return out


def _line_of(path: Path, name: str) -> int:
    """The line of galaxies.csv whose first cell of the name column is ``name`` (0 if none)."""
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    col = [h.strip() for h in rows[0]].index("name")
    return next((i for i, r in enumerate(rows, 1) if i > 1 and len(r) > col and r[col].strip() == name), 0)


# --------------------------------------------------------------------------- writing
def _num(x) -> str:
    """A float as the shortest text that reads back to it (SPARC's 2-decimal values stay as they are)."""
    x = float(x)
    return "nan" if math.isnan(x) else repr(x)


def rotmod_text(galaxy: Galaxy) -> str:
    """The Rotmod file of ``galaxy`` (header distance galaxy.D; arrays at full precision)."""
    lines = [f"# Distance = {_num(galaxy.D)} Mpc", "# " + "\t".join(COLUMNS), "# " + "\t".join(UNITS)]
    cols = [np.asarray(getattr(galaxy, f), float) for f in _ARRAYS]
    lines += ["\t".join(_num(c[i]) for c in cols) for i in range(galaxy.n_points)]
    return "\n".join(lines) + "\n"


def write_sample(galaxies: dict[str, Galaxy], folder: str | Path, with_table: bool = True) -> list[Path]:
    """Write ``galaxies`` (name -> Galaxy) as ``<name>_rotmod.dat`` files in ``folder`` (created), and
    with ``with_table`` a ``galaxies.csv`` of every Table-1 field (REQUIRED_TABLE + OPTIONAL_TABLE), so
    :func:`load_sample` reads back equal galaxies. Names must be usable as file names. Atomic writes.
    Returns the paths written."""
    folder = Path(folder)
    bad = [n for n in galaxies if not n or "/" in n or n.startswith(".") or n != n.strip()]
    if bad:
        raise DataFormatError(f"galaxy name(s) {bad[:3]} cannot name a file <name>{SUFFIX} in {folder}")
    written = []
    for name, g in galaxies.items():
        if g.name != name:
            raise DataFormatError(f"write_sample: key {name!r} holds galaxy {g.name!r}")
        p = folder / f"{name}{SUFFIX}"
        atomic_write_text(p, rotmod_text(g))
        written.append(p)
    if with_table:
        cols = REQUIRED_TABLE + OPTIONAL_TABLE
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        for name, g in galaxies.items():
            vals = [getattr(g, _FIELD.get(f, f)) for f in cols[1:]]
            w.writerow([name] + [v if isinstance(v, str) else str(v) if isinstance(v, (int, np.integer)) else _num(v)
                                 for v in vals])  # fmt: skip
        p = folder / TABLE_FILE
        atomic_write_text(p, buf.getvalue())
        written.append(p)
    return written
