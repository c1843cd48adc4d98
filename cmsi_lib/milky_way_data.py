"""The Milky Way's measured circular-velocity curves (data only: no model, no galpy).

Read through :func:`cmsi_lib.datafiles.fetch` (checksum-verified):

* Eilers, Hogg, Rix & Ness 2019 (ApJ 871, 120): 38 bins, R = 5.27-24.82 kpc. The public copies
  disagree on which of the two error columns is the lower one (see ``milky_way/PROVENANCE.md``);
  ``errors=`` chooses: ``"symmetric"`` (the mean of the two, the default), ``"col3-lower"``
  (JeansTest-MW / AstroIC.jl reading) or ``"col3-upper"`` (gala's ``err+ err-`` header).
* Mroz et al. 2019 (ApJL 870, L10): 773 Cepheids, a third-party copy whose column meanings
  (R, v_c, sigma_v, sigma_R) are inferred, not verified.

Units: R in kpc, speeds in km/s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import ascii

from . import datafiles
from .errors import InputError, MilkyWayDataError

__all__ = [
    "EILERS_FILES",
    "MROZ_FILE",
    "ERROR_CONVENTIONS",
    "RotationCurve",
    "load_eilers",
    "load_mroz",
]

#: Registry names of the two copies of Eilers et al. 2019 (identical values; see PROVENANCE.md).
EILERS_FILES = {
    "gala": "milky_way/raw/Eilers2019-circ-velocity_gala.txt",  # verbatim, has a download URL
    "csv": "milky_way/eilers2019_vc.csv",  # same tokens re-written as CSV (mirror only)
}
MROZ_FILE = "milky_way/mroz2019_cepheids_vc.csv"

#: How the two Eilers error columns are read (the copies disagree; PROVENANCE.md).
ERROR_CONVENTIONS = ("symmetric", "col3-lower", "col3-upper")


@dataclass(frozen=True)
class RotationCurve:
    """A measured circular-velocity curve.

    R_kpc, v_kms: radius [kpc] and circular speed [km/s]; err_lo_kms / err_hi_kms: the error
    bar below / above v [km/s] (equal for symmetric errors); R_err_kpc: radius error or None.
    """

    name: str
    R_kpc: np.ndarray
    v_kms: np.ndarray
    err_lo_kms: np.ndarray
    err_hi_kms: np.ndarray
    source: Path
    errors: str = "symmetric"
    R_err_kpc: np.ndarray | None = None
    notes: str = ""

    def __len__(self) -> int:
        return self.R_kpc.size

    @property
    def err_kms(self) -> np.ndarray:
        """Symmetric error [km/s]: the mean of the lower and upper errors."""
        return 0.5 * (self.err_lo_kms + self.err_hi_kms)

    def with_systematic(self, frac: float) -> RotationCurve:
        """Errors with a fractional systematic ``frac`` * v added in quadrature (Eilers: 2-5%)."""
        if not (math.isfinite(frac) and frac >= 0):
            raise InputError(f"systematic fraction must be >= 0 (finite), got {frac!r}")
        s = frac * self.v_kms
        return RotationCurve(
            self.name,
            self.R_kpc,
            self.v_kms,
            np.hypot(self.err_lo_kms, s),
            np.hypot(self.err_hi_kms, s),
            self.source,
            self.errors,
            self.R_err_kpc,
            self.notes + f" (+{frac:g} v systematic in quadrature)",
        )

    def chi2(self, v_model) -> float:
        """chi^2 of a model speed [km/s] at the data radii; the upper error is used where the model
        lies above the data, the lower one where below (identical when symmetric)."""
        vm = np.asarray(v_model, float)
        if vm.shape != self.v_kms.shape:
            raise InputError(f"v_model has shape {vm.shape}, the data {self.name} have {self.v_kms.shape}")
        if not np.all(np.isfinite(vm)):
            return math.inf
        d = vm - self.v_kms
        err = np.where(d > 0, self.err_hi_kms, self.err_lo_kms)
        return float(np.sum((d / err) ** 2))


def _scan_numeric(path: Path, ncols: int, delimiter: str | None, header_startswith: str) -> list[int]:
    """Check every data line of ``path`` has ``ncols`` finite numbers; return their line numbers.

    Lines starting with '#' and the single header line (starting with ``header_startswith``) are
    skipped. Raises MilkyWayDataError naming file and line on the first malformed line.
    """
    lines = []
    header_seen = False
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if not header_seen and s.startswith(header_startswith):
            header_seen = True
            continue
        toks = s.split(delimiter) if delimiter else s.split()
        if len(toks) != ncols:
            raise MilkyWayDataError(f"{path}, line {lineno}: expected {ncols} fields, got {len(toks)}: {line!r}")
        try:
            vals = [float(t) for t in toks]
        except ValueError:
            raise MilkyWayDataError(f"{path}, line {lineno}: non-numeric field in {line!r}") from None
        if not all(math.isfinite(v) for v in vals):
            raise MilkyWayDataError(f"{path}, line {lineno}: non-finite value in {line!r}")
        lines.append(lineno)
    if not header_seen:
        raise MilkyWayDataError(f"{path}: no header line starting with {header_startswith!r}")
    if not lines:
        raise MilkyWayDataError(f"{path}: no data rows")
    return lines


def _check_physical(path: Path, linenos, R, v, errs, nonneg=()):
    """R, v and the errors must be > 0; the arrays in ``nonneg`` (name, array) only >= 0."""
    checks = [("R", R, R > 0), ("v_c", v, v > 0)]
    checks += [(f"error column {i + 3}", e, e > 0) for i, e in enumerate(errs)]
    checks += [(name, a, a >= 0) for name, a in nonneg]
    for name, arr, ok in checks:
        if not np.all(ok):
            i = int(np.flatnonzero(~ok)[0])
            or_zero = " or 0" if any(name == nm for nm, _ in nonneg) else ""
            raise MilkyWayDataError(f"{path}, line {linenos[i]}: {name} = {arr[i]} must be > 0{or_zero}")


def _read_eilers_columns(copy: str) -> tuple[Path, np.ndarray]:
    if copy not in EILERS_FILES:
        raise InputError(f"Eilers copy {copy!r} is not one of {tuple(EILERS_FILES)}")
    path = datafiles.fetch(EILERS_FILES[copy])
    if copy == "gala":
        linenos = _scan_numeric(path, 4, None, "R ")
        t = ascii.read(path, format="basic", delimiter="\\s", guess=False)  # space header, tab data
    else:
        linenos = _scan_numeric(path, 4, ",", "R_kpc")
        t = ascii.read(path, format="csv", comment="#", guess=False)
    cols = np.array([np.asarray(t[c], float) for c in t.colnames])
    if cols.shape != (4, len(linenos)):
        raise MilkyWayDataError(
            f"{path}: astropy read {cols.shape} values, the line scan found {len(linenos)} rows of 4"
        )
    _check_physical(path, linenos, cols[0], cols[1], cols[2:])
    return path, cols


def load_eilers(errors: str = "symmetric", copy: str = "gala") -> RotationCurve:
    """Eilers et al. 2019 circular-velocity curve (38 bins, 5.27-24.82 kpc).

    errors: one of ERROR_CONVENTIONS (how columns 3 and 4 are read; default their mean).
    copy:   "gala" (verbatim public file, downloadable) or "csv" (the staged CSV; same values).
    """
    if errors not in ERROR_CONVENTIONS:
        raise InputError(f"errors = {errors!r} is not one of {ERROR_CONVENTIONS}")
    path, (R, v, e3, e4) = _read_eilers_columns(copy)
    if errors == "symmetric":
        lo = hi = 0.5 * (e3 + e4)
    elif errors == "col3-lower":
        lo, hi = e3, e4
    else:
        lo, hi = e4, e3
    return RotationCurve(
        "Eilers et al. 2019", R, v, lo, hi, path, errors,
        notes="statistical errors only; the paper quotes 2-5% systematics separately",
    )  # fmt: skip


def load_mroz() -> RotationCurve:
    """Mroz et al. 2019 Cepheids (773 stars, third-party copy; columns R, v_c, sigma_v, sigma_R
    inferred from the copy's plotting script, not verified against the official OGLE file)."""
    path = datafiles.fetch(MROZ_FILE)
    linenos = _scan_numeric(path, 4, ",", "R_kpc")
    t = ascii.read(path, format="csv", comment="#", guess=False)
    R, v, ev, eR = (np.asarray(t[c], float) for c in t.colnames)
    _check_physical(path, linenos, R, v, [ev], nonneg=[("sigma_R (column 4)", eR)])
    return RotationCurve(
        "Mroz et al. 2019 (Cepheids)", R, v, ev, ev, path, "symmetric", eR,
        notes="column meanings inferred (PROVENANCE.md)",
    )  # fmt: skip
