"""The SPARC sample (Lelli, McGaugh & Schombert 2016, AJ 152, 157): loaders, galaxy records,
quality cuts, and the CMSI inputs SPARC does not provide (sigma_v and Sigma models).

Files (through :func:`cmsi_lib.datafiles.fetch`, checksum-verified):

* Table 1, ``sparc/SPARC_Lelli2016c.mrt``: 175 galaxies, 19 fields each.
  Its byte-by-byte header does not match the data columns (the values are right-aligned in
  wider fields than declared), so astropy's MRT reader cannot read it as a whole. We use the
  MRT reader's own header machinery for the column names, units, types and the start of the
  data, and astropy's whitespace reader (``format="no_header"``) for the 19 fields.
* Table 2, ``sparc/MassModels_Lelli2016c.mrt``: 3391 rows, read with ``format="mrt"``.

Conventions (SPARC's): Vgas includes the factor 1.33 for helium; Vdisk and Vbul are for a
mass-to-light ratio Upsilon = 1 Msun/Lsun at 3.6 um; the components are *signed* (a negative
value is an outward pull), so v_bar^2 = Vgas|Vgas| + Ups_d Vdisk|Vdisk| + Ups_b Vbul|Vbul|.
In Table 1 a zero in Vflat, e_Vflat or RHI means "not measured" (NaN here).

Units: radii kpc, distances Mpc, speeds km/s, surface brightness Lsun/pc^2, surface density
Msun/pc^2, luminosity 1e9 Lsun, HI mass 1e9 Msun, inclination degrees.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
from astropy.io import ascii
from astropy.io.ascii.core import InconsistentTableError

from . import datafiles
from .curves import signed_sqrt, v_bar2
from .errors import SparcFormatError, UnknownGalaxyError
from .units import G_KPC_KMS2_MSUN

__all__ = [
    "file_stem",
    "TABLE1_FILE",
    "TABLE2_FILE",
    "SparcFormatError",
    "UnknownGalaxyError",
    "Galaxy",
    "read_table1",
    "read_table2",
    "load_table1",
    "load_table2",
    "galaxy_names",
    "get_galaxy",
    "load_galaxies",
    "QualityCuts",
    "CutStep",
    "CutCounts",
    "apply_cuts",
    "exact_decimal",
    "relative_error_below",
    "SIGMA_V_MODELS",
    "SIGMA_DEFINITIONS",
    "sigma_v",
    "surface_density",
    "disk_scale_height",
    "UPS_DISK",
    "UPS_BUL",
    "check_galaxy_name",
    "gas_surface_density",
]

TABLE1_FILE = "sparc/SPARC_Lelli2016c.mrt"
TABLE2_FILE = "sparc/MassModels_Lelli2016c.mrt"

#: the standard 3.6 um mass-to-light ratios [Msun/Lsun] (Lelli et al. 2016; McGaugh et al. 2016)
UPS_DISK = 0.5
UPS_BUL = 0.7

#: Table-1 columns whose 0 means "not measured"
_ZERO_IS_MISSING = ("RHI", "Vflat", "e_Vflat")


# --------------------------------------------------------------------------- reading
def _locate_bad_line(path: Path, lines: list[str], first: int, kinds: list[str]) -> str:
    """Find the first data line that does not split into ``len(kinds)`` fields of the right kind.

    Only used to name the culprit after astropy rejected a table; ``kinds`` holds "str",
    "int" or "float" per field; ``first`` is the 0-based index of the first data line.
    """
    n = len(kinds)
    for i in range(first, len(lines)):
        fields = lines[i].split()
        if not fields:
            continue
        where = f"{path}, line {i + 1}"
        if len(fields) != n:
            return f"{where}: expected {n} whitespace-separated fields, found {len(fields)}: {lines[i].strip()!r}"
        for j, (kind, value) in enumerate(zip(kinds, fields, strict=False)):
            if kind == "str":
                continue
            try:
                float(value) if kind == "float" else int(value)
            except ValueError:
                return f"{where}: field {j + 1} = {value!r} is not a{'n' if kind == 'int' else ''} {kind}"
    return f"{path}: could not locate the malformed line"


def _kind(col) -> str:
    name = getattr(getattr(col, "type", None), "__name__", "")
    return {"IntType": "int", "FloatType": "float"}.get(name, "str")


def read_table1(path: str | Path):
    """Read SPARC Table 1 from ``path`` into an astropy Table (175 rows for the official file).

    Names, units, descriptions and the data start come from the file's MRT header (astropy's
    MRT machinery); the 19 whitespace-separated fields are read by astropy's ``no_header``
    reader. A malformed row raises :class:`SparcFormatError` naming the file and line.
    """
    path = Path(path)
    lines = path.read_text().splitlines()
    reader = ascii.get_reader(ascii.Mrt)
    try:
        reader.header.get_cols(lines)
        data_lines = reader.data.process_lines(lines)
    except (InconsistentTableError, ValueError) as exc:
        raise SparcFormatError(f"{path}: the MRT header could not be read ({exc})") from None
    cols = reader.header.cols
    first = len(lines) - len(data_lines)
    kinds = [_kind(c) for c in cols]
    try:
        table = ascii.read(data_lines, format="no_header", names=[c.name for c in cols], guess=False, fast_reader=False)
    except (InconsistentTableError, ValueError):
        raise SparcFormatError(_locate_bad_line(path, lines, first, kinds)) from None
    for c, kind in zip(cols, kinds, strict=False):
        got = table[c.name].dtype.kind
        if (kind == "float" and got not in "fi") or (kind == "int" and got != "i"):
            raise SparcFormatError(_locate_bad_line(path, lines, first, kinds))
        table[c.name].unit = c.unit
        table[c.name].description = c.description
    return table


def read_table2(path: str | Path):
    """Read SPARC Table 2 (mass models) from ``path`` with astropy's MRT reader (3391 rows, units).

    A malformed row raises :class:`SparcFormatError` naming the file and line.
    """
    path = Path(path)
    try:
        return ascii.read(path, format="mrt", guess=False)
    except Exception:
        lines = path.read_text().splitlines()
        reader = ascii.get_reader(ascii.Mrt)
        try:
            reader.header.get_cols(lines)
            data_lines = reader.data.process_lines(lines)
        except Exception as exc:
            raise SparcFormatError(f"{path}: the MRT header could not be read ({exc})") from None
        first = len(lines) - len(data_lines)
        raise SparcFormatError(_locate_bad_line(path, lines, first, [_kind(c) for c in reader.header.cols])) from None


@functools.cache
def _table1_cached():
    return read_table1(datafiles.fetch(TABLE1_FILE))


@functools.cache
def _table2_cached():
    return read_table2(datafiles.fetch(TABLE2_FILE))


def load_table1():
    """SPARC Table 1 (galaxy properties), 175 rows, as an astropy Table (a fresh copy)."""
    return _table1_cached().copy()


def load_table2():
    """SPARC Table 2 (mass models), 3391 rows, as an astropy Table (a fresh copy)."""
    return _table2_cached().copy()


# --------------------------------------------------------------------------- galaxies
def _frozen(a) -> np.ndarray:
    a = np.array(a, dtype=float)
    a.setflags(write=False)
    return a


@dataclasses.dataclass(frozen=True, eq=False)
class Galaxy:
    """One SPARC galaxy: Table-1 properties and the Table-2 arrays (read-only numpy arrays).

    Units: D, e_D [Mpc]; inc, e_inc [deg]; L36 [1e9 Lsun]; Reff, Rdisk, RHI [kpc];
    SBeff, SBdisk0 [Lsun/pc^2]; MHI [1e9 Msun]; Vflat, e_Vflat [km/s] (NaN: not measured);
    arrays R [kpc], v_obs, e_v_obs, v_gas, v_disk, v_bul [km/s], sb_disk, sb_bul [Lsun/pc^2].
    """

    name: str
    T: int
    D: float
    e_D: float
    f_D: int
    inc: float
    e_inc: float
    L36: float
    e_L36: float
    Reff: float
    SBeff: float
    Rdisk: float
    SBdisk0: float
    MHI: float
    RHI: float
    Vflat: float
    e_Vflat: float
    Q: int
    refs: str
    R: np.ndarray
    v_obs: np.ndarray
    e_v_obs: np.ndarray
    v_gas: np.ndarray
    v_disk: np.ndarray
    v_bul: np.ndarray
    sb_disk: np.ndarray
    sb_bul: np.ndarray

    @property
    def n_points(self) -> int:
        return int(self.R.size)

    @property
    def has_bulge(self) -> bool:
        return bool(np.any(self.v_bul != 0))

    def v_bar(self, ups_disk: float = UPS_DISK, ups_bul: float = UPS_BUL) -> np.ndarray:
        """Signed baryonic speed [km/s]: sign(v^2) sqrt|v^2|,
        v^2 = Vgas|Vgas| + Ups_d Vdisk|Vdisk| + Ups_b Vbul|Vbul|."""
        return signed_sqrt(self.v_bar_squared(ups_disk, ups_bul))

    def v_bar_squared(self, ups_disk: float = UPS_DISK, ups_bul: float = UPS_BUL) -> np.ndarray:
        """Signed v_bar^2 [(km/s)^2] from the signed components (see :meth:`v_bar`)."""
        check_ups(ups_disk, ups_bul)
        return v_bar2(self.v_gas, self.v_disk, self.v_bul, ups_disk, ups_bul)

    def sigma_stellar(self, ups_disk: float = UPS_DISK, ups_bul: float = UPS_BUL) -> np.ndarray:
        """Stellar surface density [Msun/pc^2] = Ups_d SBdisk + Ups_b SBbul at the data radii."""
        check_ups(ups_disk, ups_bul)
        return ups_disk * self.sb_disk + ups_bul * self.sb_bul


def check_ups(ups_disk: float, ups_bul: float) -> None:
    for name, v in (("ups_disk", ups_disk), ("ups_bul", ups_bul)):
        if not (isinstance(v, (int, float, np.floating)) and math.isfinite(v) and v >= 0):
            raise ValueError(f"{name} = {v!r} is not valid; it must be a finite mass-to-light ratio >= 0 Msun/Lsun")


def _missing(x: float) -> float:
    return float("nan") if x == 0 else float(x)


@functools.cache
def _galaxies() -> dict[str, Galaxy]:
    t1, t2 = _table1_cached(), _table2_cached()
    ids = np.asarray(t2["ID"]).astype(str)
    out: dict[str, Galaxy] = {}
    for row in t1:
        name = str(row["Galaxy"])
        m = ids == name
        if not np.any(m):
            raise SparcFormatError(f"{TABLE2_FILE}: galaxy {name} of Table 1 has no rows")
        out[name] = Galaxy(
            name=name,
            T=int(row["T"]),
            D=float(row["D"]),
            e_D=float(row["e_D"]),
            f_D=int(row["f_D"]),
            inc=float(row["Inc"]),
            e_inc=float(row["e_Inc"]),
            L36=float(row["L[3.6]"]),
            e_L36=float(row["e_L[3.6]"]),
            Reff=float(row["Reff"]),
            SBeff=float(row["SBeff"]),
            Rdisk=float(row["Rdisk"]),
            SBdisk0=float(row["SBdisk"]),
            MHI=float(row["MHI"]),
            RHI=_missing(row["RHI"]),
            Vflat=_missing(row["Vflat"]),
            e_Vflat=_missing(row["e_Vflat"]),
            Q=int(row["Q"]),
            refs=str(row["Ref."]),
            R=_frozen(t2["R"][m]),
            v_obs=_frozen(t2["Vobs"][m]),
            e_v_obs=_frozen(t2["e_Vobs"][m]),
            v_gas=_frozen(t2["Vgas"][m]),
            v_disk=_frozen(t2["Vdisk"][m]),
            v_bul=_frozen(t2["Vbul"][m]),
            sb_disk=_frozen(t2["SBdisk"][m]),
            sb_bul=_frozen(t2["SBbul"][m]),
        )
    extra = sorted(set(ids) - set(out))
    if extra:
        raise SparcFormatError(f"{TABLE2_FILE}: galaxies {extra[:5]} are not in Table 1")
    return out


def load_galaxies() -> dict[str, Galaxy]:
    """All 175 galaxies, name -> :class:`Galaxy`, in Table-1 order (cached; the records are immutable)."""
    return dict(_galaxies())


def file_stem(name: str) -> str:
    """File-name stem of a galaxy's files (atlas page, survey record): the name with '+' -> 'p' and
    any other character outside [A-Za-z0-9_-] -> '_' (SPARC names use only letters, digits and '-',
    so today stem == name)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name.replace("+", "p"))


def galaxy_names() -> list[str]:
    """The 175 SPARC galaxy names in Table-1 order."""
    return list(_galaxies())


def check_galaxy_name(name: str) -> str:
    """Return ``name`` if it is a SPARC galaxy, else raise :class:`UnknownGalaxyError` with the closest names."""
    gals = _galaxies()
    if name in gals:
        return name
    by_upper = {n.upper(): n for n in gals}
    close = difflib.get_close_matches(str(name).upper(), list(by_upper), n=5, cutoff=0.5)
    hint = ", ".join(by_upper[c] for c in close) if close else "none close; see `cmsi data summary` for the sample"
    raise UnknownGalaxyError(f"unknown SPARC galaxy {name!r}; closest valid names: {hint}")


def get_galaxy(name: str) -> Galaxy:
    """The galaxy called ``name`` (exact SPARC spelling, e.g. "NGC3198", "UGC02885")."""
    return _galaxies()[check_galaxy_name(name)]


# --------------------------------------------------------------------------- quality cuts
@dataclasses.dataclass(frozen=True)
class QualityCuts:
    """Quality cuts; the defaults are the standard RAR cuts (McGaugh, Lelli & Schombert 2016).

    q_max: keep galaxies with quality flag Q <= q_max (1 high, 2 medium, 3 low).
    inc_min: keep galaxies with inclination >= inc_min [deg] (face-on discs have large sin i errors).
    rel_err_max: keep points with e_Vobs/Vobs < rel_err_max, decided exactly in decimal arithmetic
    (:func:`relative_error_below`): a point with e_Vobs/Vobs = 0.1 exactly (F568-3 has two) fails.
    Pass ``None`` for a cut to disable it.
    """

    q_max: int | None = 2
    inc_min: float | None = 30.0
    rel_err_max: float | None = 0.1

    def __post_init__(self):
        checks = (
            ("q_max", self.q_max, lambda v: v in (1, 2, 3), "one of 1, 2, 3"),
            ("inc_min", self.inc_min, lambda v: 0 <= v <= 90, "0 <= inc_min <= 90 deg"),
            ("rel_err_max", self.rel_err_max, lambda v: v > 0, "rel_err_max > 0"),
        )
        for name, v, ok, text in checks:
            if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and ok(v)):
                raise ValueError(f"QualityCuts.{name} = {v!r} is not valid; valid range: {text} (or None)")


@dataclasses.dataclass(frozen=True)
class CutStep:
    """Galaxies and points kept after one cut (cumulative)."""

    cut: str
    description: str
    galaxies: int
    points: int


@dataclasses.dataclass(frozen=True)
class CutCounts:
    """The counts after each cut, in the order applied (the first step is the full sample)."""

    steps: tuple[CutStep, ...]

    @property
    def final(self) -> CutStep:
        return self.steps[-1]

    def as_dict(self) -> dict:
        return {s.cut: {"description": s.description, "galaxies": s.galaxies, "points": s.points} for s in self.steps}


def exact_decimal(x: float) -> Fraction:
    """The decimal number a float was read from, as an exact :class:`~fractions.Fraction`.

    ``repr`` gives the shortest decimal string that reads back to the same float; a decimal of at
    most 15 significant digits (DBL_DIG) reads and prints back unchanged, so for a value read from a
    table of <= 15 digits (SPARC's Table 2: F6.2, F5.2) this is the table's decimal exactly, e.g.
    ``exact_decimal(11.7) == Fraction(117, 10)`` (the float 11.7 is 11.699999999999999289...).
    """
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"{x!r} has no exact decimal value; a finite number is required")
    return Fraction(repr(x))


def relative_error_below(e_v: np.ndarray, v: np.ndarray, rel_err_max: float) -> np.ndarray:
    """Boolean mask of points with e_v / v < rel_err_max, decided exactly in decimal arithmetic.

    Each value is taken as the decimal it was read as (:func:`exact_decimal`), and the test is
    e_v < rel_err_max * v with v > 0, in fractions: no float rounding of the quotient (in floats,
    11.7/117.0 = 0.09999999999999999 < 0.1 although 11.7/117 = 0.1 exactly). A point with v <= 0
    or a non-finite e_v or v fails (its e_v/v is undefined or not a relative error).
    Units: e_v and v in the same unit (km/s); rel_err_max dimensionless.
    """
    r = exact_decimal(rel_err_max)
    e_v, v = np.asarray(e_v, dtype=float), np.asarray(v, dtype=float)
    if e_v.shape != v.shape:
        raise ValueError(f"e_v has shape {e_v.shape} but v has shape {v.shape}; they must match")
    out = np.zeros(v.shape, dtype=bool)
    for i, (e, w) in enumerate(zip(e_v.ravel(), v.ravel(), strict=True)):
        if math.isfinite(e) and math.isfinite(w) and w > 0:
            out.flat[i] = exact_decimal(e) < r * exact_decimal(w)
    return out


def apply_cuts(galaxies: dict[str, Galaxy] | None = None, cuts: QualityCuts = QualityCuts()):
    """Apply ``cuts``; return ``(kept, counts)``.

    ``kept`` maps name -> (Galaxy, boolean mask of its points kept), for galaxies with at least
    one point kept; ``counts`` is a :class:`CutCounts` (cumulative galaxies/points after each cut).
    """
    galaxies = load_galaxies() if galaxies is None else galaxies
    masks = {n: np.ones(g.n_points, bool) for n, g in galaxies.items()}

    def step(cut, description):
        live = {n: m for n, m in masks.items() if m.any()}
        return CutStep(cut, description, len(live), int(sum(m.sum() for m in live.values())))

    steps = [step("all", "the full SPARC sample")]
    if cuts.q_max is not None:
        for n, g in galaxies.items():
            if g.Q > cuts.q_max:
                masks[n][:] = False
        steps.append(step("quality", f"quality flag Q <= {cuts.q_max}"))
    if cuts.inc_min is not None:
        for n, g in galaxies.items():
            if g.inc < cuts.inc_min:
                masks[n][:] = False
        steps.append(step("inclination", f"inclination >= {cuts.inc_min:g} deg"))
    if cuts.rel_err_max is not None:
        for n, g in galaxies.items():
            masks[n] &= relative_error_below(g.e_v_obs, g.v_obs, cuts.rel_err_max)
        steps.append(step("velocity_error", f"points with e_Vobs/Vobs < {cuts.rel_err_max:g} (exact decimal)"))
    kept = {n: (galaxies[n], m) for n, m in masks.items() if m.any()}
    return kept, CutCounts(tuple(steps))


# --------------------------------------------------------------------------- CMSI inputs SPARC lacks
#: sigma_v models: "constant" (one value, HI-like); "stellar-disk" (vertical dispersion of a
#: self-gravitating exponential stellar disk, added in quadrature to a gas floor)
SIGMA_V_MODELS = ("constant", "stellar-disk")
#: Sigma definitions: "stellar" (Ups_d SBdisk + Ups_b SBbul); "stellar+gas" (plus an exponential gas disk)
SIGMA_DEFINITIONS = ("stellar", "stellar+gas")

#: the default sigma_v [km/s]: a typical HI velocity dispersion (8-12 km/s in nearby discs)
SIGMA_V_DEFAULT = 10.0
#: default gas-disk scale length in units of the stellar Rdisk
GAS_SCALE_DEFAULT = 2.0
#: G in pc (km/s)^2 / Msun
_G_PC = G_KPC_KMS2_MSUN * 1e3


def disk_scale_height(Rdisk_kpc: float) -> float:
    """Exponential scale height h_z [kpc] from the disk scale length (Bershady et al. 2010, ApJ 716, 234):

    log10(h_R/h_z) = 0.367 log10(h_R/kpc) + 0.708, i.e. h_z = 0.196 kpc (h_R/kpc)^0.633.
    """
    if not (math.isfinite(Rdisk_kpc) and Rdisk_kpc > 0):
        raise ValueError(f"Rdisk = {Rdisk_kpc!r} kpc is not valid; it must be > 0 kpc")
    return Rdisk_kpc / 10 ** (0.367 * math.log10(Rdisk_kpc) + 0.708)


def sigma_v(
    galaxy: Galaxy,
    model: str = "constant",
    value: float = SIGMA_V_DEFAULT,
    ups_disk: float = UPS_DISK,
    ups_bul: float = UPS_BUL,
) -> np.ndarray:
    """Velocity dispersion sigma_v [km/s] at the galaxy's data radii.

    model "constant": ``value`` everywhere (default 10 km/s, a typical HI dispersion).
    model "stellar-disk": sqrt(2 pi G Sigma_* h_z + value^2), the vertical dispersion of an
    isothermal exponential stellar disk of surface density Sigma_* (:meth:`Galaxy.sigma_stellar`)
    and scale height h_z (:func:`disk_scale_height`), with ``value`` as a gas floor so the
    dispersion never drops to zero where the stars run out.
    """
    if model not in SIGMA_V_MODELS:
        raise ValueError(f"sigma_v model {model!r} is not one of {SIGMA_V_MODELS}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"sigma_v value = {value!r} km/s is not valid; it must be > 0 km/s")
    if model == "constant":
        return np.full(galaxy.n_points, float(value))
    hz_pc = disk_scale_height(galaxy.Rdisk) * 1e3
    s2 = 2 * np.pi * _G_PC * galaxy.sigma_stellar(ups_disk, ups_bul) * hz_pc
    return np.sqrt(s2 + value**2)


def gas_surface_density(galaxy: Galaxy, gas_scale: float = GAS_SCALE_DEFAULT) -> np.ndarray:
    """Exponential gas disk [Msun/pc^2] at the data radii: mass 1.33 MHI (helium included),
    scale length ``gas_scale`` x Rdisk: Sigma_gas = M / (2 pi R_g^2) exp(-R/R_g)."""
    if not (math.isfinite(gas_scale) and gas_scale > 0):
        raise ValueError(f"gas_scale = {gas_scale!r} is not valid; it must be > 0 (units of Rdisk)")
    rg_pc = gas_scale * galaxy.Rdisk * 1e3
    mass = 1.33 * galaxy.MHI * 1e9
    return mass / (2 * np.pi * rg_pc**2) * np.exp(-galaxy.R * 1e3 / rg_pc)


def surface_density(
    galaxy: Galaxy,
    definition: str = "stellar",
    ups_disk: float = UPS_DISK,
    ups_bul: float = UPS_BUL,
    gas_scale: float = GAS_SCALE_DEFAULT,
) -> np.ndarray:
    """The Sigma CMSI uses [Msun/pc^2] at the data radii.

    "stellar": Ups_d SBdisk + Ups_b SBbul (SPARC's measured profiles).
    "stellar+gas": plus an exponential gas disk (:func:`gas_surface_density`); SPARC does not
    tabulate the gas surface density per radius.
    """
    if definition not in SIGMA_DEFINITIONS:
        raise ValueError(f"Sigma definition {definition!r} is not one of {SIGMA_DEFINITIONS}")
    s = galaxy.sigma_stellar(ups_disk, ups_bul)
    if definition == "stellar+gas":
        s = s + gas_surface_density(galaxy, gas_scale)
    return s
