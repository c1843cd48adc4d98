"""The Solar System's bodies: J2000 orbital elements and masses from ``data/solar_system_bodies.csv``,
and the physical constants in SI (GM_sun, GM_earth, c, the au) used with them. Knows no model.

a [au], e, i [deg] (to the ecliptic of J2000), sidereal period [days], the central-to-body mass
ratio; v_c = sqrt(GM_central / a) [km/s].

Inclinations have two reference planes (``INCLINATION_PLANES``): the ecliptic of J2000 (the table's i,
which makes the Earth's own orbit i = 0 by definition) and the invariable plane (the plane normal to the
Solar System's total angular momentum, Souami & Souchay 2012, A&A 543, A133), the default: no planet's
orbit is singled out as the reference. :meth:`Body.inclination_deg` gives either.
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

#: reference planes for orbital inclinations; the first is the default
INCLINATION_PLANES = ("invariable", "ecliptic")
#: the invariable plane at J2000 against the ecliptic and equinox of J2000 [deg]: inclination 1 deg 34' 43.3"
#: and longitude of the ascending node 107 deg 34' 56" (Souami & Souchay 2012, A&A 543, A133, abstract)
INVARIABLE_PLANE_INCLINATION_DEG = 1 + 34 / 60 + 43.3 / 3600
INVARIABLE_PLANE_NODE_DEG = 107 + 34 / 60 + 56 / 3600
#: longitude of the ascending node on the J2000 ecliptic [deg], J2000 elements of Standish & Williams,
#: "Keplerian Elements for Approximate Positions of the Major Planets", JPL SSD, Table 1 (the source of
#: a, e, i in data/solar_system_bodies.csv; "Earth" is the Earth-Moon barycentre, node 0 in that table)
NODE_LONGITUDE_DEG = {
    "Mercury": 48.33076593,
    "Venus": 76.67984255,
    "Earth": 0.0,
    "Mars": 49.55953891,
    "Jupiter": 100.47390909,
    "Saturn": 113.66242448,
    "Uranus": 74.01692503,
    "Neptune": 131.78422574,
}


def inclination_to_invariable_plane(i_deg: float, node_deg: float) -> float:
    """Inclination [deg, 0-180] of an orbit with ecliptic inclination ``i_deg`` and ascending node
    ``node_deg`` (J2000 ecliptic and equinox) to the invariable plane: the angle between the two orbit
    normals, cos I = cos i cos i0 + sin i sin i0 cos(node - node0), with (i0, node0) the invariable plane's
    (``INVARIABLE_PLANE_INCLINATION_DEG``, ``INVARIABLE_PLANE_NODE_DEG``)."""
    i, n = math.radians(i_deg), math.radians(node_deg)
    i0, n0 = math.radians(INVARIABLE_PLANE_INCLINATION_DEG), math.radians(INVARIABLE_PLANE_NODE_DEG)
    c = math.cos(i) * math.cos(i0) + math.sin(i) * math.sin(i0) * math.cos(n - n0)
    return math.degrees(math.acos(max(-1.0, min(1.0, c))))


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

    def inclination_deg(self, plane: str = INCLINATION_PLANES[0]) -> float:
        """Orbital inclination [deg] to ``plane``: "ecliptic" (the table's i, J2000) or "invariable"
        (:func:`inclination_to_invariable_plane`, with the node of ``NODE_LONGITUDE_DEG``).

        An Earth-centred orbit (the Moon) keeps its ecliptic inclination under both: its node regresses
        about the ecliptic (18.6 yr), which is its own reference plane, not the planets' invariable plane.
        """
        if plane not in INCLINATION_PLANES:
            raise InputError(f"unknown inclination plane {plane!r}; valid: {', '.join(INCLINATION_PLANES)}")
        if plane == "ecliptic" or self.central != "Sun":
            return self.i_deg
        if self.name not in NODE_LONGITUDE_DEG:
            raise InputError(
                f"no ascending node for {self.name!r}, so no inclination to the invariable plane; "
                f"nodes are known for {', '.join(NODE_LONGITUDE_DEG)} (use plane='ecliptic')"
            )
        return inclination_to_invariable_plane(self.i_deg, NODE_LONGITUDE_DEG[self.name])

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
