"""The Solar System's bodies: J2000 orbital elements and masses from ``data/solar_system_bodies.csv``,
and the physical constants in SI (GM_sun, GM_earth, c, the au) used with them. Knows no model.

a [au], e, i [deg] (to the ecliptic of J2000), sidereal period [days], the central-to-body mass
ratio; v_c = sqrt(GM_central / a) [km/s].
"""

from __future__ import annotations

import csv
import dataclasses
import math
from functools import lru_cache
from pathlib import Path

import astropy.constants as const
import astropy.units as u
import numpy as np

from . import paths
from .errors import InputError

GM_SUN = float(const.GM_sun.to_value(u.m**3 / u.s**2))
GM_EARTH = float(const.GM_earth.to_value(u.m**3 / u.s**2))
C_SI = float(const.c.to_value(u.m / u.s))
AU_M = float(u.au.to(u.m))
AU_PC = float(u.au.to(u.pc))
AU_KPC = float(u.au.to(u.kpc))
RSUN_AU = float(const.R_sun.to_value(u.au))
MAS_PER_RAD = float(u.rad.to(u.mas))
DAYS_PER_CENTURY = 36525.0
DAYS_PER_YEAR = 365.25


# --------------------------------------------------------------------------- bodies
@dataclasses.dataclass(frozen=True)
class Body:
    """One row of ``data/solar_system_bodies.csv`` (see that file for units and sources)."""

    name: str
    central: str  # "Sun" or "Earth"
    a_au: float
    e: float
    i_deg: float
    period_days: float
    mass_ratio: float  # M_sun / M_body

    @property
    def mass_msun(self) -> float:
        return 1.0 / self.mass_ratio

    @property
    def gm_central(self) -> float:
        """GM of the body it orbits [m^3/s^2] (astropy's nominal GM_sun or GM_earth)."""
        return GM_SUN if self.central == "Sun" else GM_EARTH

    @property
    def v_circ_kms(self) -> float:
        """Circular orbital speed sqrt(GM_central / a) [km/s]."""
        return math.sqrt(self.gm_central / (self.a_au * AU_M)) / 1e3

    @property
    def heliocentric_au(self) -> float:
        """Mean distance from the Sun [au] (for the Moon, the Earth's)."""
        return self.a_au if self.central == "Sun" else get_body(self.central).a_au


def bodies_file() -> Path:
    return paths.repo_root() / "data" / "solar_system_bodies.csv"


_COLUMNS = ("body", "central", "a_au", "e", "i_deg", "period_days", "mass_ratio")


def load_bodies(path: str | Path | None = None) -> dict[str, Body]:
    """Read the bodies table (``#`` lines are comments). Malformed rows raise InputError naming file and line."""
    path = Path(path) if path else bodies_file()
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise InputError(f"Solar System bodies table {path} does not exist") from None
    rows = [(n, line) for n, line in enumerate(lines, 1) if line.strip() and not line.lstrip().startswith("#")]
    if not rows:
        raise InputError(f"{path}: no header or data rows")
    header_no, header = rows[0]
    names = next(csv.reader([header]))
    if tuple(n.strip() for n in names) != _COLUMNS:
        raise InputError(f"{path}:{header_no}: header must be {','.join(_COLUMNS)}; got {header!r}")
    out: dict[str, Body] = {}
    for n, line in rows[1:]:
        fields = [f.strip() for f in next(csv.reader([line]))]
        if len(fields) != len(_COLUMNS):
            raise InputError(f"{path}:{n}: expected {len(_COLUMNS)} fields, got {len(fields)}")
        try:
            nums = [float(x) for x in fields[2:]]
        except ValueError:
            raise InputError(f"{path}:{n}: a numeric field is not a number: {line!r}") from None
        body = Body(fields[0], fields[1], *nums)
        if body.central not in ("Sun", "Earth"):
            raise InputError(f"{path}:{n}: central body must be Sun or Earth, got {body.central!r}")
        if not (
            np.all(np.isfinite(nums))
            and body.a_au > 0
            and 0 <= body.e < 1
            and body.period_days > 0
            and body.mass_ratio > 0
        ):
            raise InputError(f"{path}:{n}: need a_au > 0, 0 <= e < 1, period_days > 0, mass_ratio > 0: {line!r}")
        out[body.name] = body
    return out


@lru_cache(maxsize=1)
def _default_bodies() -> dict[str, Body]:
    return load_bodies()


def get_body(name: str | Body) -> Body:
    """The named body of the default table (case-insensitive); an unknown name lists the valid ones."""
    if isinstance(name, Body):
        return name
    bodies = _default_bodies()
    for key, b in bodies.items():
        if key.lower() == str(name).strip().lower():
            return b
    raise InputError(f"unknown Solar System body {name!r}; valid names are: {', '.join(bodies)}")
