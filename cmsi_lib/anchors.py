"""Published numbers the book is checked against: one place, read by the tests and the chapters.

Each anchor is a value with the tolerance our tests allow and the reason, and the reference.
These are other people's measurements, not our results: the chapters glue them beside what the
build computes, and ``tests/`` asserts the computed values fall within the stated tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Anchor",
    "SPARC_STANDARD_GALAXIES",
    "SPARC_STANDARD_POINTS",
    "RAR_SCATTER_FIXED_DEX",
    "RAR_SCATTER_FITTED_DEX",
    "RAR_G_DAGGER_SI",
    "RAR_G_DAGGER_SYSTEMATIC_SI",
    "MERCURY_GR_ARCSEC_PER_CENTURY",
    "SATURN_SEMI_MAJOR_AXIS_AU",
    "CLUSTER_MOND_DEFICIT",
    "CLASH_G_DAGGER_SI",
    "within",
]


@dataclass(frozen=True)
class Anchor:
    """A published number: ``value`` with the tolerance ``tol`` (absolute, same unit) our tests allow."""

    value: float
    tol: float
    unit: str
    reference: str
    why_tol: str

    def holds(self, x: float) -> bool:
        """True when ``x`` lies within ``tol`` of the published value."""
        return abs(float(x) - self.value) <= self.tol


def within(anchor: Anchor, x: float) -> bool:
    """``anchor.holds(x)`` (for use in a comprehension)."""
    return anchor.holds(x)


#: galaxies surviving the galaxy-level cuts (Q < 3, Inc >= 30 deg), McGaugh, Lelli & Schombert 2016
SPARC_STANDARD_GALAXIES = Anchor(
    153, 0, "galaxies", "McGaugh, Lelli & Schombert 2016, PRL 117, 201101", "a count: exact"
)
#: points after the standard cuts (also e_V/V < 10%), same paper
SPARC_STANDARD_POINTS = Anchor(
    2693,
    0.005 * 2693,
    "points",
    "McGaugh, Lelli & Schombert 2016, PRL 117, 201101",
    "0.5%: the published sample is not re-derivable row by row (the exact cut e_V/V < 0.1 gives 2694)",
)
#: observed scatter about the RAR with Ups_disk = 0.5, Ups_bul = 0.7 and the standard cuts
RAR_SCATTER_FIXED_DEX = Anchor(
    0.13,
    0.01,
    "dex",
    "McGaugh, Lelli & Schombert 2016, PRL 117, 201101",
    "published as 'about 0.13': two-decimal rounding and the point count",
)
#: residual scatter about the RAR after fitting Ups, D and Inc per galaxy with their priors
RAR_SCATTER_FITTED_DEX = Anchor(
    0.057,
    0.008,
    "dex",
    "Li, Lelli, McGaugh & Schombert 2018, A&A 615, A3",
    "their sample and optimiser (MCMC posterior means, not maxima) differ in detail",
)
#: the RAR's acceleration scale
RAR_G_DAGGER_SI = Anchor(
    1.20e-10,
    0.02e-10,
    "m/s^2",
    "McGaugh, Lelli & Schombert 2016; Li et al. 2018",
    "published 1.20 +- 0.02 (random) x 1e-10 m/s^2",
)
#: the systematic error of that g_dagger (mostly the stellar mass-to-light normalisation), same paper
RAR_G_DAGGER_SYSTEMATIC_SI = Anchor(
    0.24e-10,
    0.0,
    "m/s^2",
    "McGaugh, Lelli & Schombert 2016",
    "published 1.20 +- 0.02 (random) +- 0.24 (systematic) x 1e-10 m/s^2; an error, not a measured value",
)
#: GR perihelion advance of Mercury
MERCURY_GR_ARCSEC_PER_CENTURY = Anchor(
    42.98, 0.01, "arcsec/century", "Will 2014, Living Rev. Relativ. 17, 4", "published to two decimals"
)
#: Saturn's semi-major axis (J2000 elements, valid 1800-2050 AD)
SATURN_SEMI_MAJOR_AXIS_AU = Anchor(
    9.53667594,
    5e-9,
    "au",
    "Standish & Williams, Keplerian Elements for Approximate Positions of the Major Planets, JPL SSD, Table 1",
    "published to 8 decimals",
)
#: the mass a MOND-like law leaves missing in galaxy clusters: "roughly a factor of two"
CLUSTER_MOND_DEFICIT = Anchor(
    2.0,
    0.5,
    "dimensionless (hydrostatic mass / MOND mass)",
    "Sanders 2003, MNRAS 342, 901; Famaey & McGaugh 2012, Living Rev. Relativ. 15, 10",
    "a one-figure statement ('roughly a factor of two'): read as 2 to the nearest integer, 1.5 to 2.5; "
    "Sanders's abstract puts the missing (dark) mass in the central regions at one to two times the gas mass",
)
#: the acceleration scale of the RAR fitted to 20 CLASH clusters (weak + strong lensing, X-ray, BCG stars)
CLASH_G_DAGGER_SI = Anchor(
    2.02e-9,
    0.11e-9,
    "m/s^2",
    "Tian, Umetsu, Ko, Donahue & Chiu 2020, ApJ 896, 70 (abstract: g = (2.02 +- 0.11) x 1e-9 m/s^2)",
    "their 1-sigma error",
)
