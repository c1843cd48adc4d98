"""Physical constants in the book's customary units, all derived from astropy.

Customary units: radii in kpc, speeds in km/s, surface densities in Msun/pc^2,
accelerations in (km/s)^2/kpc (convert with ``ACCEL_SI_PER_KMS2_KPC``).
"""

from __future__ import annotations

import astropy.constants as const
import astropy.units as u
import numpy as np

#: speed of light [km/s]
C_KMS: float = const.c.to_value(u.km / u.s)
#: Newton's constant [kpc (km/s)^2 / Msun]
G_KPC_KMS2_MSUN: float = const.G.to_value(u.kpc * (u.km / u.s) ** 2 / u.Msun)
#: 1 (km/s)^2/kpc expressed in m/s^2 (so 1e-10 m/s^2 = 3085.68 (km/s)^2/kpc)
ACCEL_SI_PER_KMS2_KPC: float = (u.km**2 / u.s**2 / u.kpc).to(u.m / u.s**2)


def as_value(x, unit, name: str) -> np.ndarray:
    """Return ``x`` as a float ndarray in ``unit``; astropy Quantities are converted.

    A Quantity with incompatible units raises a ValueError naming the argument.
    """
    if isinstance(x, u.Quantity):
        try:
            return np.asarray(x.to_value(unit), dtype=float)
        except u.UnitConversionError:
            raise ValueError(f"{name} has unit {x.unit}, which cannot be converted to {unit}") from None
    return np.asarray(x, dtype=float)


def accel_kms2_kpc(v_kms, r_kpc) -> np.ndarray:
    """Centripetal acceleration v^2/R in (km/s)^2/kpc."""
    return np.asarray(v_kms, float) ** 2 / np.asarray(r_kpc, float)


def accel_si(v_kms, r_kpc) -> np.ndarray:
    """Centripetal acceleration v^2/R in m/s^2."""
    return accel_kms2_kpc(v_kms, r_kpc) * ACCEL_SI_PER_KMS2_KPC
