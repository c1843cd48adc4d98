"""Rotation-curve arithmetic shared by every system: signed squared speeds, v_bar^2, the required F.

SPARC (Lelli et al. 2016) tabulates each baryonic component as a signed speed whose square carries
the sign of the acceleration (a component can pull outward, e.g. a gas ring's inner edge). Squares
and roots are therefore taken signed everywhere:

    v|v|                     signed square [(km/s)^2]         signed_square
    sign(x) sqrt|x|          signed root [km/s]               signed_sqrt
    v_bar^2 = Vgas|Vgas| + Ups_d Vdisk|Vdisk| + Ups_b Vbul|Vbul|      v_bar2
    F_req   = v_obs^2 / (v_bar |v_bar|)   (negative where v_bar^2 < 0) required_enhancement
"""

from __future__ import annotations

import numpy as np

__all__ = ["signed_square", "signed_sqrt", "v_bar2", "required_enhancement"]


def signed_square(v) -> np.ndarray:
    """v |v| [(km/s)^2] of a signed speed v [km/s]."""
    v = np.asarray(v, float)
    return v * np.abs(v)


def signed_sqrt(v2) -> np.ndarray:
    """sign(v2) sqrt(|v2|) [km/s]: a signed speed from a signed squared speed [(km/s)^2]."""
    v2 = np.asarray(v2, float)
    return np.sign(v2) * np.sqrt(np.abs(v2))


def v_bar2(v_gas, v_disk, v_bul, ups_disk: float, ups_bul: float) -> np.ndarray:
    """Signed baryonic v_bar^2 [(km/s)^2] from SPARC's signed component speeds [km/s] and the
    stellar mass-to-light ratios ``ups_disk``, ``ups_bul`` [Msun/Lsun] (gas enters with 1)."""
    return signed_square(v_gas) + ups_disk * signed_square(v_disk) + ups_bul * signed_square(v_bul)


def required_enhancement(v_obs, v_bar) -> np.ndarray:
    """The enhancement the data require, F_req = v_obs^2 / (v_bar |v_bar|) (dimensionless).

    ``v_bar`` is the signed baryonic speed [km/s]; F_req is negative where v_bar^2 < 0 (no positive
    F reaches such a point) and infinite where v_bar = 0.
    """
    vo = np.asarray(v_obs, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return vo**2 / signed_square(v_bar)
