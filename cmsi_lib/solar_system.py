"""CMSI in the Solar System: the bodies, the open choices, and the observables that bound a force change.

CMSI multiplies the Newtonian acceleration by F, so a body feels g = (1 + eps) g_N with
eps = F - 1 from :func:`cmsi_lib.kernel.boost` (never re-implemented here). In the Solar
System the seed leaves three inputs of F open; each is an explicit option here:

Sigma (surface density, Msun/pc^2), ``SIGMA_DEFINITIONS``:
  "point-mass"      0 everywhere (the seed's reading: "Sigma ~ 0, point mass"). With eps > 0, F - 1 = 0.
  "planet-annulus"  the body's own mass spread uniformly over the annulus its orbit sweeps,
                    a(1-e) <= r <= a(1+e) (width 2ae, area 4 pi a^2 e); zero outside it.
  "minor-bodies"    the main asteroid belt and the Kuiper belt, each spread uniformly over the annulus
                    it occupies (``MINOR_BELTS``, masses from Pitjeva & Pitjev 2018); zero elsewhere.
  "galactic-disk"   the local surface density of the Milky Way disk the Sun sits in (``GALACTIC_DISK_SIGMA``).
  A number >= 0 is also accepted: that constant Sigma everywhere.

sigma_v (km/s), ``SIGMA_V_MODELS``: the random velocity of the orbit about a circular one,
  "orbit-ei"  sigma_v = v_c sqrt(e^2 + i^2) with the body's own e and i (i in radians, to the invariable
              plane, Souami & Souchay 2012; :meth:`Body.inclination_deg`);
  "rms-ei"    sigma_v = v_c sqrt(<e^2 + i^2>), the rms over the eight planets (one ratio for the whole system);
  "orbit-ei-ecliptic", "rms-ei-ecliptic"  the same with i to the ecliptic of J2000 (the Earth's own orbit,
              so the Earth has i = 0 and is the coldest body: see :func:`coldest_body`);
  "unity"     sigma_v = v_c, so N_coh = 1: the coherence factor dropped (with Sigma = Sigma_ref this is the
              reading chi0 (v/c)^2 that reproduces the seed's number, ``seed_reading_eps``).
v_c: the circular orbital speed sqrt(GM_central / r) (GM_sun, GM_earth and c from astropy.constants).

Along an orbit the field eps(r) is evaluated with v_c(r) = sqrt(GM/r), the body's sigma_v/v_c ratio and
Sigma(r) of the chosen definition; R for the radial profile f(R/ell0) is r in kpc (f = 1 to 1e-15).

Observables (see ``evaluate``): Cassini gamma, ephemerides, perihelion precession, the anomalous
acceleration at Saturn and lunar laser ranging, each with its published bound (``BOUNDS``).
"""

from __future__ import annotations

import dataclasses
import math

import astropy.units as u
import numpy as np

from .errors import InputError
from .kernel import boost
from .params import Params
from .solar_bodies import (
    AU_KPC,
    AU_M,
    AU_PC,
    C_SI,
    DAYS_PER_CENTURY,
    GM_EARTH,
    GM_SUN,
    MAS_PER_RAD,
    RSUN_AU,
    Body,
    _default_bodies,
    bodies_file,
    get_body,
    load_bodies,
)
from .solar_bounds import BOUNDS, N_SIGMA, SEED_CASSINI_SIGMA, Bound

__all__ = [
    "Body",
    "Bound",
    "BOUNDS",
    "SIGMA_DEFINITIONS",
    "SIGMA_V_MODELS",
    "MINOR_BELTS",
    "GALACTIC_DISK_SIGMA",
    "CASSINI_IMPACT_RSUN",
    "N_SIGMA",
    "bodies_file",
    "load_bodies",
    "get_body",
    "annulus_sigma",
    "sigma_at",
    "sigma_v_ratio",
    "coldest_body",
    "eps_field",
    "body_eps",
    "limb_eps",
    "seed_reading_eps",
    "precession_per_orbit",
    "power_law_precession_per_orbit",
    "per_century",
    "evaluate",
    "report",
    "max_allowed_chi0",
    "SEED_READING",
    "SEED_SATURN_DELTA_G",
    "SEED_CASSINI_SIGMA",
    "kepler_deviation",
    "gr_precession_per_orbit",
    "gr_arcsec_per_century",
    "SeedReadings",
    "seed_readings",
    "DefinitionResult",
    "SolarSystemResult",
    "analyse",
    "worst_ratio",
    "bound_eps_markers",
]


SIGMA_DEFINITIONS = ("point-mass", "planet-annulus", "minor-bodies", "galactic-disk")
SIGMA_V_MODELS = ("orbit-ei", "rms-ei", "unity", "orbit-ei-ecliptic", "rms-ei-ecliptic")
#: the plane each e-and-i sigma_v model measures inclinations from
_PLANE = {
    "orbit-ei": "invariable",
    "rms-ei": "invariable",
    "orbit-ei-ecliptic": "ecliptic",
    "rms-ei-ecliptic": "ecliptic",
}
PLANETS = ("Mercury", "Venus", "Earth", "Mars", "Jupiter", "Saturn", "Uranus", "Neptune")

#: Local surface density of the Galactic disk at the Sun [Msun/pc^2] (SCIENCE.md section 5, "roughly 50";
#: McKee, Parravano & Hollenbach 2015, ApJ 814, 13 give 47.1 +- 3.4 for stars, remnants and gas (check)).
GALACTIC_DISK_SIGMA = 50.0

#: Minor-body belts: name -> (mass [Msun], inner radius [au], outer radius [au], source).
#: Masses: Pitjeva & Pitjev 2018, Astron. Lett. 44, 554 (arXiv:1811.05191), EPM2017: main belt
#: (4.008 +- 0.029)e-4 M_earth, Kuiper belt (1.97 +- 0.030)e-2 M_earth (3 sigma). Extents: main belt
#: 2.06-3.27 au (the annulus of Pitjeva & Pitjev 2016, IAU Symp. 318, 212); Kuiper belt 39.4-47.8 au
#: (the ring zone holding the bulk of its objects, Pitjeva & Pitjev 2018). (check: abstracts)
_M_EARTH_MSUN = 1.0 / 332946.0487
MINOR_BELTS = {
    "main asteroid belt": (4.008e-4 * _M_EARTH_MSUN, 2.06, 3.27, "Pitjeva & Pitjev 2018 (check)"),
    "Kuiper belt": (1.97e-2 * _M_EARTH_MSUN, 39.4, 47.8, "Pitjeva & Pitjev 2018 (check)"),
}

#: Closest approach of the Cassini 2002 conjunction ray to the Sun's centre [solar radii] (Bertotti et al. 2003).
CASSINI_IMPACT_RSUN = 1.6

#: The seed's claim under test: delta g/g at Saturn (a claim, not a result).
SEED_SATURN_DELTA_G = 9.1e-7
#: The fifth "definition": the reading that reproduces the seed's number (Sigma = Sigma_ref, sigma_v = v_c).
SEED_READING = "seed-number reading"


# --------------------------------------------------------------------------- the open choices
def annulus_sigma(mass_msun: float, r_in_au: float, r_out_au: float) -> float:
    """Surface density [Msun/pc^2] of ``mass_msun`` spread uniformly over r_in <= r <= r_out [au]."""
    if not (np.isfinite(mass_msun) and mass_msun >= 0):
        raise InputError(f"mass must be >= 0 Msun; got {mass_msun}")
    if not (0 <= r_in_au < r_out_au and np.isfinite(r_out_au)):
        raise InputError(f"annulus needs 0 <= r_in < r_out (au); got r_in={r_in_au}, r_out={r_out_au}")
    return mass_msun / (math.pi * (r_out_au**2 - r_in_au**2) * AU_PC**2)


def _check_definition(definition) -> None:
    if isinstance(definition, str):
        if definition not in SIGMA_DEFINITIONS:
            raise InputError(
                f"unknown Sigma definition {definition!r}; valid: {', '.join(SIGMA_DEFINITIONS)} "
                "or a number >= 0 (Msun/pc^2)"
            )
    else:
        x = float(definition)
        if not (np.isfinite(x) and x >= 0):
            raise InputError(f"Sigma must be >= 0 Msun/pc^2 (finite); got {definition}")


def sigma_at(definition, r_au, body: str | Body | None = None) -> np.ndarray:
    """Sigma [Msun/pc^2] of a Sigma definition at distance r [au] from the central body of ``body``.

    ``body`` is needed by "planet-annulus" (whose annulus) and to place Earth-centred orbits (the Moon)
    in the heliocentric belts; None means a heliocentric point with no orbiting body (e.g. the solar limb).
    """
    _check_definition(definition)
    r = np.asarray(r_au, dtype=float)
    if not np.all(np.isfinite(r)) or np.any(r <= 0):
        raise InputError("r must be > 0 au (finite)")
    b = get_body(body) if body is not None else None
    if not isinstance(definition, str):
        return np.full_like(r, float(definition))
    if definition == "point-mass":
        return np.zeros_like(r)
    if definition == "galactic-disk":
        return np.full_like(r, GALACTIC_DISK_SIGMA)
    if definition == "planet-annulus":
        if b is None or b.e == 0:
            return np.zeros_like(r)
        lo, hi = b.a_au * (1 - b.e), b.a_au * (1 + b.e)
        inside = (r >= lo * (1 - 1e-9)) & (r <= hi * (1 + 1e-9))
        return np.where(inside, annulus_sigma(b.mass_msun, lo, hi), 0.0)
    # minor-bodies
    r_helio = r if (b is None or b.central == "Sun") else np.full_like(r, b.heliocentric_au)
    out = np.zeros_like(r)
    for mass, r_in, r_out, _ in MINOR_BELTS.values():
        out = out + np.where((r_helio >= r_in) & (r_helio <= r_out), annulus_sigma(mass, r_in, r_out), 0.0)
    return out


def sigma_v_ratio(model: str, body: str | Body | None = None) -> float:
    """sigma_v / v_c of a sigma_v model (dimensionless). ``body`` None (e.g. the solar limb) turns an
    "orbit-ei" model into its "rms-ei" (the planets' rms, same inclination plane)."""
    if model not in SIGMA_V_MODELS:
        raise InputError(f"unknown sigma_v model {model!r}; valid: {', '.join(SIGMA_V_MODELS)}")
    if model == "unity":
        return 1.0
    plane = _PLANE[model]
    if model.startswith("orbit-ei") and body is not None:
        b = get_body(body)
        return math.hypot(b.e, math.radians(b.inclination_deg(plane)))
    planets = [get_body(p) for p in PLANETS]
    return math.sqrt(np.mean([p.e**2 + math.radians(p.inclination_deg(plane)) ** 2 for p in planets]))


def coldest_body(model: str = "orbit-ei", bodies=None) -> str:
    """The body with the smallest sigma_v/v_c under ``model`` (the largest N_coh), over ``bodies``
    (default: the planets; the differential tests take eps relative to the Earth's)."""
    names = PLANETS if bodies is None else tuple(bodies)
    return min(names, key=lambda n: sigma_v_ratio(model, n))


def eps_field(
    r_au,
    body: str | Body | None,
    definition,
    params: Params = Params(),
    sigma_v_model: str = "orbit-ei",
    gm: float | None = None,
) -> np.ndarray:
    """eps(r) = F - 1 at distance r [au] from the central body, for an orbit like ``body``'s.

    v_c = sqrt(GM/r) [GM of the body's central body, or ``gm`` m^3/s^2, default GM_sun],
    sigma_v = sigma_v_ratio * v_c, Sigma = sigma_at(definition, r, body), R = r in kpc.
    """
    r = np.asarray(r_au, dtype=float)
    Sigma = sigma_at(definition, r, body)
    if gm is None:
        gm = get_body(body).gm_central if body is not None else GM_SUN
    v_c = np.sqrt(gm / (r * AU_M)) / 1e3
    ratio = sigma_v_ratio(sigma_v_model, body)
    return boost(r * AU_KPC, v_c, ratio * v_c, Sigma, params)


def body_eps(body: str | Body, definition, params: Params = Params(), sigma_v_model: str = "orbit-ei") -> float:
    """eps = F - 1 at the body's semi-major axis (dimensionless)."""
    b = get_body(body)
    return float(eps_field(b.a_au, b, definition, params, sigma_v_model))


def limb_eps(
    definition, params: Params = Params(), sigma_v_model: str = "rms-ei", impact_rsun: float = CASSINI_IMPACT_RSUN
) -> float:
    """eps at the Cassini ray's closest approach to the Sun [impact_rsun solar radii from its centre].

    No body orbits there: "orbit-ei" falls back to the planets' rms ratio ("rms-ei").
    """
    return float(eps_field(impact_rsun * RSUN_AU, None, definition, params, sigma_v_model))


def seed_reading_eps(body: str | Body, params: Params = Params()) -> float:
    """The seed's Solar-System number as it can be reproduced: chi0 (v_c/c)^2 f(R/ell0) alone.

    This keeps the velocity factor and drops the source-density and coherence factors, i.e. it is F - 1
    at Sigma = Sigma_ref and sigma_v = v_c (both factors equal to 1). v_c = sqrt(GM_central/a).
    """
    return body_eps(body, params.sigma_ref, params, "unity")


# --------------------------------------------------------------------------- precession
def precession_per_orbit(eps_of_r, a_au: float, e: float, n_nodes: int = 4096) -> float:
    """Extra apsidal advance per orbit [rad] for a force g = (1 + eps(r)) GM/r^2, to first order in eps.

    From Gauss's equation for the argument of pericentre with a radial perturbation
    -eps(r) GM/r^2 (attractive for eps > 0):

        Delta omega = (1/e) * integral_0^{2 pi} eps(r(nu)) cos(nu) d nu,   r = a(1-e^2)/(1+e cos nu).

    The integrand is smooth and periodic, so the trapezoid rule on ``n_nodes`` points converges
    exponentially. ``eps_of_r`` takes r in au (array). For e = 0 the advance is the limit
    -pi a eps'(a), taken by a symmetric difference.
    """
    if not (0 <= e < 1):
        raise InputError(f"eccentricity must satisfy 0 <= e < 1; got {e}")
    if e < 1e-6:
        h = 1e-5
        d = np.asarray(eps_of_r(np.array([a_au * (1 + h)]))) - np.asarray(eps_of_r(np.array([a_au * (1 - h)])))
        return float(-math.pi * d[0] / (2 * h))
    nu = np.linspace(0.0, 2 * math.pi, n_nodes, endpoint=False)
    r = a_au * (1 - e**2) / (1 + e * np.cos(nu))
    vals = np.asarray(eps_of_r(r), dtype=float) * np.cos(nu)
    return float(vals.mean() * 2 * math.pi / e)


def power_law_precession_per_orbit(eps_a: float, k: float, e: float) -> float:
    """Extra advance per orbit [rad] for eps(r) = eps_a (r/a)^k (-> -pi k eps_a for e -> 0)."""
    return precession_per_orbit(lambda r: eps_a * np.asarray(r) ** k, 1.0, e)


def per_century(per_orbit: float, period_days: float) -> float:
    """Convert an advance per orbit to the same unit per Julian century."""
    return per_orbit * DAYS_PER_CENTURY / period_days


def _orbit_precession(body: Body, definition, params, sigma_v_model) -> float:
    return precession_per_orbit(lambda r: eps_field(r, body, definition, params, sigma_v_model), body.a_au, body.e)


def evaluate(params: Params = Params(), definition="point-mass", sigma_v_model: str = "orbit-ei"):
    """eps at each body and every observable's prediction against its bound, for one Sigma definition.

    Returns ``(bodies, observables)``: two lists of dicts (JSON-ready). Differences of eps are taken
    relative to the Earth's, because a constant eps is absorbed into the fitted GM_sun.
    """
    _check_definition(definition)
    label = definition if isinstance(definition, str) else f"constant {float(definition):g} Msun/pc^2"
    bodies = _default_bodies()
    body_rows = []
    eps = {}
    for b in bodies.values():
        Sigma = float(sigma_at(definition, b.a_au, b))
        ratio = sigma_v_ratio(sigma_v_model, b)
        eps[b.name] = body_eps(b, definition, params, sigma_v_model)
        body_rows.append(
            {
                "sigma_definition": label,
                "sigma_v_model": sigma_v_model,
                "body": b.name,
                "central": b.central,
                "a_au": b.a_au,
                "v_c_kms": b.v_circ_kms,
                "sigma_v_kms": ratio * b.v_circ_kms,
                "Sigma_Msun_pc2": Sigma,
                "eps": eps[b.name],
            }
        )
    sat, moon = bodies["Saturn"], bodies["Moon"]
    e_limb = limb_eps(definition, params, sigma_v_model)
    g_sat = GM_SUN / (sat.a_au * AU_M) ** 2
    pred: dict[str, tuple[float, float, str]] = {}  # key -> (prediction, eps shown, note)
    pred["cassini_gamma"] = (0.0, e_limb, "g = F g_N leaves the light-propagation metric, hence gamma, unchanged")
    pred["cassini_gamma_metric"] = (
        2 * (e_limb - eps["Earth"]) / (1 + eps["Earth"]),
        e_limb,
        "gamma_eff - 1 = 2 (eps_limb - eps_Earth)/(1 + eps_Earth), GM_sun from the planets",
    )
    pred["seed_cassini"] = (eps["Saturn"], eps["Saturn"], "compares a force change with a light-bending bound")
    pred["ephemerides"] = (
        eps["Saturn"] - eps["Earth"],
        eps["Saturn"],
        "extra enclosed mass (eps_Saturn - eps_Earth) M_sun, constant part absorbed in GM_sun",
    )
    for key, name in [
        ("precession_mercury", "Mercury"),
        ("precession_mars", "Mars"),
        ("precession_saturn", "Saturn"),
        ("precession_saturn_inpop", "Saturn"),
    ]:
        b = bodies[name]
        dw = per_century(_orbit_precession(b, definition, params, sigma_v_model), b.period_days) * MAS_PER_RAD
        pred[key] = (dw, eps[name], "Gauss's equation averaged over the orbit, eps(r) along the orbit")
    pred["saturn_accel"] = (
        (eps["Saturn"] - eps["Earth"]) * g_sat,
        eps["Saturn"],
        f"(eps_Saturn - eps_Earth) g_sun(Saturn), g_sun = {g_sat:.3g} m/s^2",
    )
    pred["llr_gdot"] = (0.0, eps["Moon"], "F is static: no secular change of the effective G")
    dw_moon = _orbit_precession(moon, definition, params, sigma_v_model)
    p_moon = moon.a_au * AU_M * (1 - moon.e**2)
    beta_equiv = -dw_moon * C_SI**2 * p_moon / (2 * math.pi * GM_EARTH)
    pred["llr_beta"] = (
        beta_equiv,
        eps["Moon"],
        "beta - 1 that would give the same lunar perigee advance, -dw c^2 a(1-e^2)/(2 pi GM_earth)",
    )
    obs_rows = []
    for key, bound in BOUNDS.items():
        p, e_shown, note = pred[key]
        p = float(p) + 0.0  # no "-0"
        ratio = abs(p - bound.central) / bound.tolerance
        obs_rows.append(
            {
                "sigma_definition": label,
                "sigma_v_model": sigma_v_model,
                "observable_key": key,
                "observable": bound.observable,
                "body": bound.body,
                "eps": e_shown,
                "prediction": p,
                "unit": bound.unit,
                "central": bound.central,
                "tolerance": bound.tolerance,
                "ratio": ratio,
                "passes": bool(ratio <= 1.0),
                "bound_source": bound.source,
                "check": bound.check,
                "note": note,
            }
        )
    return body_rows, obs_rows


def report(params: Params = Params(), definitions=SIGMA_DEFINITIONS, sigma_v_model: str = "orbit-ei") -> dict:
    """Everything ``cmsi solar --json`` prints: :func:`analyse` as JSON-ready dicts."""
    return analyse(params, definitions, sigma_v_model).as_dict()


def max_allowed_chi0(
    params: Params,
    definition,
    sigma_v_model: str = "orbit-ei",
    exclude: tuple[str, ...] = ("seed_cassini", "cassini_gamma_metric"),
) -> float:
    """Largest chi0 at which every observable (except ``exclude``) passes, other parameters fixed.

    eps is proportional to chi0 and every prediction is linear in eps, so prediction = chi0 * slope and
    the pass condition |chi0 slope - central| <= tol is solved exactly. Returns inf if no bound applies.
    """
    unit = dataclasses.replace(params, chi0=1.0)
    _, rows = evaluate(unit, definition, sigma_v_model)
    best = math.inf
    for row in rows:
        if row["observable_key"] in exclude:
            continue
        s, c, tol = row["prediction"], row["central"], row["tolerance"]
        if s == 0:
            continue
        # |chi0 s - c| <= tol  <=>  chi0 in [(c - tol)/s, (c + tol)/s] (s > 0), reversed for s < 0
        hi = max((c - tol) / s, (c + tol) / s)
        best = min(best, hi)
    return best


# --------------------------------------------------------------------------- closed-form checks
def kepler_deviation(body: str | Body) -> float:
    """4 pi^2 a^3 / P^2 / GM_sun - 1 from the table (dimensionless; the body's own mass neglected)."""
    b = get_body(body)
    return 4 * math.pi**2 * (b.a_au * AU_M) ** 3 / (b.period_days * 86400) ** 2 / GM_SUN - 1


def gr_precession_per_orbit(body: str | Body) -> float:
    """GR's perihelion advance per orbit [rad]: the force eps(r) = 3 GM a(1-e^2)/(c^2 r^2) in Gauss's equation."""
    b = get_body(body)
    p = b.a_au * AU_M * (1 - b.e**2)
    return precession_per_orbit(lambda r: 3 * b.gm_central * p / (C_SI**2 * (r * AU_M) ** 2), b.a_au, b.e)


def gr_arcsec_per_century(body: str | Body) -> float:
    """GR's perihelion advance [arcsec per Julian century] from :func:`gr_precession_per_orbit`."""
    b = get_body(body)
    return per_century(gr_precession_per_orbit(b), b.period_days) * float(u.rad.to(u.arcsec))


# --------------------------------------------------------------------------- the seed's number
@dataclasses.dataclass(frozen=True)
class SeedReadings:
    """Readings of the formula at Saturn that could give the seed's 9.1e-7 (eps dimensionless, v km/s)."""

    candidates: tuple[tuple[str, float], ...]  # (reading, eps at Saturn)
    v_circ_kms: float  # sqrt(GM_sun/a)
    v_peri_kms: float  # speed at perihelion
    v_needed_kms: float  # v that makes chi0 (v/c)^2 = 9.1e-7
    sigma_needed: float  # Sigma [Msun/pc^2] that makes the full formula (orbit-ei) give 9.1e-7

    def eps(self, reading: str) -> float:
        return dict(self.candidates)[reading]


def seed_readings(params: Params = Params()) -> SeedReadings:
    """The candidate readings of the seed's delta g/g at Saturn, and what reproduces it exactly."""
    sat = get_body("Saturn")
    c_kms = C_SI / 1e3
    chi0 = params.chi0
    v_mean = 2 * math.pi * sat.a_au * AU_M / (sat.period_days * 86400) / 1e3
    v_peri = sat.v_circ_kms * math.sqrt((1 + sat.e) / (1 - sat.e))
    seed = seed_reading_eps(sat, params)
    eps_ref = body_eps(sat, params.sigma_ref, params, "orbit-ei")
    cands = (
        ("full formula, point-mass Sigma = 0", body_eps(sat, "point-mass", params)),
        ("chi0 (v/c)^2, v = sqrt(GM/a) (circular)", seed),
        ("chi0 (v/c)^2, v = 2 pi a / P (mean)", chi0 * (v_mean / c_kms) ** 2),
        ("chi0 (v/c)^2, v at perihelion", chi0 * (v_peri / c_kms) ** 2),
        ("chi0 (v/c)^2, v = 10 km/s (the seed's 'v ~ 10 km/s')", chi0 * (10.0 / c_kms) ** 2),
        ("chi0 (v/c)^2 x seed's 'source factor 1e-6'", seed * 1e-6),
        ("chi0 (v/c)^2 N_coh^alpha (Sigma factor dropped, orbit-ei)", eps_ref),
        ("full formula, galactic-disk Sigma, orbit-ei", body_eps(sat, "galactic-disk", params, "orbit-ei")),
        ("full formula, planet-annulus Sigma, orbit-ei", body_eps(sat, "planet-annulus", params, "orbit-ei")),
    )
    sigma_needed = params.sigma_ref * (SEED_SATURN_DELTA_G / eps_ref) ** (1 / params.eps)
    v_needed = c_kms * math.sqrt(SEED_SATURN_DELTA_G / chi0)
    return SeedReadings(cands, sat.v_circ_kms, v_peri, v_needed, sigma_needed)


# --------------------------------------------------------------------------- the one entry point
def _resolve(definition, sigma_v_model: str, params: Params):
    """(Sigma definition, sigma_v model) actually used; the seed-number reading is (Sigma_ref, "unity")."""
    if isinstance(definition, str) and definition == SEED_READING:
        return params.sigma_ref, "unity"
    return definition, sigma_v_model


@dataclasses.dataclass(frozen=True)
class DefinitionResult:
    """One Sigma definition: eps per body, every observable against its bound, the largest chi0 allowed."""

    definition: object  # a name of SIGMA_DEFINITIONS, SEED_READING, or a constant Sigma [Msun/pc^2]
    sigma_v_model: str  # the sigma_v model used ("unity" for the seed-number reading)
    bodies: tuple[dict, ...]  # evaluate()'s body rows
    observables: tuple[dict, ...]  # evaluate()'s observable rows, in BOUNDS order
    max_chi0: dict  # sigma_v model -> largest chi0 passing every bound but the seed's own (inf: no limit)

    def eps(self, body: str) -> float:
        return next(r["eps"] for r in self.bodies if r["body"] == body)

    def observable(self, key: str) -> dict:
        return next(r for r in self.observables if r["observable_key"] == key)

    def failing(self, exclude=("seed_cassini",)) -> set[str]:
        return {r["observable_key"] for r in self.observables if not r["passes"] and r["observable_key"] not in exclude}


@dataclasses.dataclass(frozen=True)
class SolarSystemResult:
    """What the Solar System chapter, the introduction and ``cmsi solar`` show, for one parameter set."""

    params: Params
    sigma_v_model: str
    definitions: tuple[DefinitionResult, ...]
    seed: SeedReadings

    def __getitem__(self, definition) -> DefinitionResult:
        for d in self.definitions:
            if d.definition == definition:
                return d
        raise InputError(
            f"definition {definition!r} was not analysed; analysed: {[d.definition for d in self.definitions]}"
        )

    def as_dict(self) -> dict:
        """JSON-ready: the report of ``cmsi solar --json``."""
        return {
            "params": self.params.as_dict(), "params_hash": self.params.hash, "sigma_v_model": self.sigma_v_model,
            "pass_rule": f"|prediction - central| <= tolerance (N_SIGMA = {N_SIGMA:g} standard errors, "
                         "or the upper limit)",
            "bodies": [r for d in self.definitions for r in d.bodies],
            "observables": [r for d in self.definitions for r in d.observables],
            "max_chi0": [{"sigma_definition": d.bodies[0]["sigma_definition"], "sigma_v_model": m, "max_chi0": v}
                         for d in self.definitions for m, v in d.max_chi0.items()],
            "seed_reading": {"seed_delta_g": SEED_SATURN_DELTA_G, "v_needed_kms": self.seed.v_needed_kms,
                             "sigma_needed_Msun_pc2": self.seed.sigma_needed,
                             "candidates": [{"reading": k, "eps_saturn": v} for k, v in self.seed.candidates]},
        }  # fmt: skip


def analyse(
    params: Params = Params(),
    definitions=SIGMA_DEFINITIONS,
    sigma_v_model: str = "orbit-ei",
    chi0_models: tuple[str, ...] | None = None,
) -> SolarSystemResult:
    """The Solar System at ``params``: per Sigma definition (or SEED_READING) eps per body, each observable
    against its bound, and the largest chi0 allowed for each sigma_v model of ``chi0_models``
    (default: ``sigma_v_model`` only); plus the readings of the seed's 9.1e-7 (``seed_readings``)."""
    models = (sigma_v_model,) if chi0_models is None else tuple(chi0_models)
    out = []
    for d in definitions:
        dd, model = _resolve(d, sigma_v_model, params)
        bodies, obs = evaluate(params, dd, model)
        chi = {m: max_allowed_chi0(params, *_resolve(d, m, params)) for m in models}
        out.append(DefinitionResult(d, model, tuple(bodies), tuple(obs), chi))
    return SolarSystemResult(params, sigma_v_model, tuple(out), seed_readings(params))


def worst_ratio(
    params: Params,
    definition,
    sigma_v_model: str = "orbit-ei",
    exclude: tuple[str, ...] = ("seed_cassini", "cassini_gamma_metric"),
) -> float:
    """The largest |prediction - central| / tolerance over the observables (except ``exclude``); <= 1 passes."""
    _, rows = evaluate(params, *_resolve(definition, sigma_v_model, params))
    return max(r["ratio"] for r in rows if r["observable_key"] not in exclude)


def bound_eps_markers() -> list[tuple[str, float, float]]:
    """The bounds as the largest eps they allow for eps proportional to 1/r: (label, r [au], eps).

    Precession: |Delta omega| per orbit <= (|central| + tol), with Delta omega = pi eps/(1-e^2) for k = -1;
    Saturn's acceleration: eps <= tol / g_sun(Saturn); Cassini (metric reading): eps_limb <= (|central| + tol)/2.
    """
    out = []
    for key, name in [("precession_mercury", "Mercury"), ("precession_mars", "Mars"), ("precession_saturn", "Saturn")]:
        bnd, b = BOUNDS[key], get_body(name)
        max_dw = (abs(bnd.central) + bnd.tolerance) * u.mas.to(u.rad) * b.period_days / DAYS_PER_CENTURY
        out.append(("precession bounds", b.a_au, max_dw * (1 - b.e**2) / math.pi))
    sat = get_body("Saturn")
    out.append(
        ("Saturn acceleration bound", sat.a_au, BOUNDS["saturn_accel"].tolerance / (GM_SUN / (sat.a_au * AU_M) ** 2))
    )
    cas = BOUNDS["cassini_gamma_metric"]
    out.append(("Cassini (metric reading)", CASSINI_IMPACT_RSUN * RSUN_AU, (abs(cas.central) + cas.tolerance) / 2))
    return out
