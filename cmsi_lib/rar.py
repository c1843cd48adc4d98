"""The radial acceleration relation (RAR), the MOND-like baseline.

McGaugh, Lelli & Schombert 2016 (PRL 117, 201101), eq. 4:

    g_obs = g_bar / (1 - exp(-sqrt(g_bar / g_dagger))),   g_dagger = 1.20e-10 m/s^2

(+-0.02 random, +-0.24 systematic). g_bar and g_dagger must share units.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from .errors import InputError
from .units import ACCEL_SI_PER_KMS2_KPC

#: the RAR acceleration scale [m/s^2]
G_DAGGER_SI: float = 1.20e-10
#: the same in (km/s)^2/kpc (about 3703)
G_DAGGER_KMS2_KPC: float = G_DAGGER_SI / ACCEL_SI_PER_KMS2_KPC


def rar_g_obs(g_bar, g_dagger: float = G_DAGGER_SI) -> np.ndarray:
    """Observed acceleration predicted by the RAR, in the units of ``g_bar`` and ``g_dagger``.

    g_bar <= 0 (a net outward baryonic pull, possible in SPARC's inner points) gives g_obs = g_bar.
    """
    g = np.asarray(g_bar, dtype=float)
    x = np.sqrt(np.clip(g, 0.0, None) / g_dagger)
    with np.errstate(divide="ignore", invalid="ignore"):
        boost = np.where(x > 0, 1.0 / -np.expm1(-np.where(x > 0, x, 1.0)), 1.0)
    return g * boost


def rar_speed(R_kpc, v_bar_kms, g_dagger_si: float = G_DAGGER_SI) -> np.ndarray:
    """RAR circular speed [km/s] at radii R [kpc] from the (signed) baryonic speed v_bar [km/s]."""
    R = np.asarray(R_kpc, float)
    vb = np.asarray(v_bar_kms, float)
    g_bar = np.sign(vb) * vb**2 / R  # (km/s)^2/kpc, signed
    g = rar_g_obs(g_bar, g_dagger_si / ACCEL_SI_PER_KMS2_KPC)
    return np.sign(g) * np.sqrt(np.abs(g) * R)


def g_dagger_needed(g_bar_si: float, g_obs_si: float, log10_bracket: tuple[float, float] = (-14.0, -6.0)) -> float:
    """Invert the RAR in g_dagger: the g_dagger [m/s^2] for which rar_g_obs(g_bar, g_dagger) = g_obs.

    g_bar and g_obs in m/s^2, g_obs > g_bar > 0 (g_obs/g_bar grows monotonically with g_dagger). Root of
    ln(g_obs_RAR/g_obs) in log10 g_dagger on ``log10_bracket`` (brentq); InputError if it is not bracketed.
    """
    if not (g_bar_si > 0 and g_obs_si > g_bar_si):
        raise InputError(f"g_dagger_needed needs g_obs > g_bar > 0 [m/s^2]; got g_bar={g_bar_si!r}, g_obs={g_obs_si!r}")
    f = lambda lg: np.log(rar_g_obs(g_bar_si, 10**lg) / g_obs_si)  # noqa: E731
    a, b = log10_bracket
    if f(a) * f(b) > 0:
        raise InputError(
            f"g_dagger for g_bar={g_bar_si:.3g}, g_obs={g_obs_si:.3g} m/s^2 lies outside 10^{a:g}..10^{b:g} m/s^2"
        )
    return float(10 ** brentq(f, a, b))
