"""Published bounds on a change of the Solar System's gravity (Cassini, ephemerides, precession, Saturn, LLR).

Each ``Bound`` is a published measurement (pass iff |prediction - central| <= N_SIGMA standard errors) or
an upper limit (central 0). ``check=True`` marks numbers taken from an abstract or a secondary source.
"""

from __future__ import annotations

import dataclasses

#: Width of the pass band of a measured quantity, in standard errors (central +- N_SIGMA sigma).
N_SIGMA = 2.0
#: The Cassini number the seed compares it with (the 1-sigma error of gamma - 1, Bertotti et al. 2003).
SEED_CASSINI_SIGMA = 2.3e-5


# --------------------------------------------------------------------------- bounds
@dataclasses.dataclass(frozen=True)
class Bound:
    """A published bound: pass iff |prediction - central| <= tolerance.

    For a measurement the tolerance is N_SIGMA standard errors; for an upper limit, the limit (central 0).
    """

    key: str
    observable: str
    body: str
    central: float
    tolerance: float
    unit: str
    source: str
    check: bool  # True: the number was taken from an abstract or a secondary source, to be checked


def _measured(key, observable, body, central, sigma, unit, source, check):
    return Bound(key, observable, body, central, N_SIGMA * sigma, unit, source, check)


BOUNDS: dict[str, Bound] = {
    b.key: b
    for b in [
        _measured(
            "cassini_gamma",
            "Cassini gamma - 1 (force rescaling: gamma untouched)",
            "Sun limb",
            2.1e-5,
            2.3e-5,
            "",
            "Bertotti, Iess & Tortora 2003, Nature 425, 374",
            False,
        ),
        _measured(
            "cassini_gamma_metric",
            "Cassini gamma - 1 if CMSI rescaled the whole weak-field metric",
            "Sun limb",
            2.1e-5,
            2.3e-5,
            "",
            "Bertotti, Iess & Tortora 2003, Nature 425, 374",
            False,
        ),
        Bound(
            "seed_cassini",
            "the seed's comparison: eps(Saturn) vs 2.3e-5 (not like-for-like)",
            "Saturn",
            0.0,
            SEED_CASSINI_SIGMA,
            "",
            "the seed document, using the Cassini sigma",
            False,
        ),
        Bound(
            "ephemerides",
            "ephemerides: eps(Saturn) - eps(Earth) vs mass inside Saturn's orbit",
            "Saturn",
            0.0,
            7.9e-11,
            "",
            "Pitjeva & Pitjev 2013, MNRAS 432, 3431 (< 7.9e-11 Msun)",
            False,
        ),
        _measured(
            "precession_mercury",
            "perihelion precession, EPM2011",
            "Mercury",
            -2.0,
            3.0,
            "mas/cy",
            "Pitjeva & Pitjev 2013, MNRAS 432, 3431 (EPM2011)",
            True,
        ),
        _measured(
            "precession_mars",
            "perihelion precession, EPM2011",
            "Mars",
            -0.020,
            0.037,
            "mas/cy",
            "Pitjeva & Pitjev 2013, MNRAS 432, 3431 (EPM2011)",
            True,
        ),
        _measured(
            "precession_saturn",
            "perihelion precession, EPM2011",
            "Saturn",
            -0.32,
            0.47,
            "mas/cy",
            "Pitjeva & Pitjev 2013, MNRAS 432, 3431 (EPM2011)",
            True,
        ),
        _measured(
            "precession_saturn_inpop",
            "perihelion precession, INPOP15a",
            "Saturn",
            0.05,
            0.20,
            "mas/cy",
            "Fienga et al. 2016 (INPOP15a)",
            True,
        ),
        Bound(
            "saturn_accel",
            "anomalous radial acceleration at Saturn (Cassini ranging)",
            "Saturn",
            0.0,
            1e-14,
            "m/s^2",
            "Cassini ranging, ~1e-14 m/s^2 level (e.g. Hees et al. 2014, PRD 89, 102002)",
            True,
        ),
        _measured(
            "llr_gdot",
            "lunar laser ranging: Gdot/G",
            "Moon",
            4e-13,
            9e-13,
            "1/yr",
            "Williams, Turyshev & Boggs 2004, PRL 93, 261101",
            False,
        ),
        _measured(
            "llr_beta",
            "lunar laser ranging: beta - 1 (proxy: lunar perigee advance as beta)",
            "Moon",
            1.2e-4,
            1.1e-4,
            "",
            "Williams, Turyshev & Boggs 2004, PRL 93, 261101",
            False,
        ),
    ]
}
