"""The claims ledger: every quantitative claim of the seed, recomputed from the formula.

``claims_ledger()`` returns one ``Claim`` record per claim of the seed document
(``../shared/seed/CMSI-derivation.md``): the claim, the seed's value, the value recomputed
with ``cmsi_lib.kernel`` at the given parameters (the seed's defaults unless told otherwise),
whether it is reproduced, what it would take to reproduce it, and every assumption the seed
leaves open. Each open choice is an explicit keyword argument with a documented default:

MW-like profile (the seed gives only "v_bary 150-175 km/s", "F ~ 1.6-2.3", "decreases with radius")
    An exponential (Freeman) disk with Sigma(R) = mw_sigma_sun exp(-(R - mw_r_sun)/mw_r_d):
    mw_sigma_sun = 50 Msun/pc^2 (the seed's "Galaxy disk Sigma ~ 50" and the local value of
    SCIENCE.md), mw_r_sun = 8 kpc (the radius of the seed's table), mw_r_d = 2.6 kpc (a
    customary Milky-Way disk scale length). Its own Newtonian v_bar(R) is used, and the radii kept
    are those where v_bar lies in the seed's 150-175 km/s. sigma_v = mw_sigma_v = 10 km/s (HI gas).
    v_c = v_bar (the "baryonic" mode: the seed maps v_bary to v_enhanced).
Saturn (the seed gives "Sigma ~ 0", "source factor 1e-6", "delta g/g = 9.1e-7")
    R = saturn_a_au = 9.5826 AU (semi-major axis), v_c = sqrt(G M_sun / R) (astropy constants),
    Sigma = saturn_sigma: default the value that gives the seed's own source factor 1e-6 at the
    given eps and sigma_ref; sigma_v = saturn_sigma_v: default None meaning sigma_v = v_c, so
    N_coh = 1 (the seed states no dispersion for the Solar System).

"Reproduced" means: the recomputed value agrees with the seed's number to the precision the
seed quotes it (half a unit in its last quoted digit; for a range, each end), or, for a
qualitative claim, the stated criterion holds. ``None`` means "cannot be recomputed" (said why).
"""

from __future__ import annotations

import dataclasses
import math

import astropy.constants as const
import astropy.units as u
import numpy as np
from scipy.special import i0, i1, k0, k1

from .kernel import boost, coherence_term, enhancement, radial_profile, source_density_term, velocity_term
from .params import Params
from .units import C_KMS, G_KPC_KMS2_MSUN

__all__ = [
    "Claim",
    "claims_ledger",
    "ledger_markdown",
    "mw_like_profile",
    "saturn_orbit",
    "seed_source_factor_sigma",
    "half_unit",
    "SEED_SATURN_SOURCE_FACTOR",
]

#: the seed's table: "Source factor ... Solar System (Saturn): 10^-6"
SEED_SATURN_SOURCE_FACTOR = 1e-6
#: Saturn's semi-major axis [AU] (JPL planetary fact sheet)
SATURN_A_AU = 9.5826


@dataclasses.dataclass(frozen=True)
class Claim:
    """One row of the claims ledger (all numbers dimensionless unless ``unit`` says otherwise)."""

    key: str                 # short identifier, e.g. "vc2_galaxy"
    claim: str               # the claim, as the seed states it
    seed_value: str          # the seed's number(s), verbatim
    recomputed: str          # the recomputed number(s), formatted
    recomputed_value: object  # float, (lo, hi) tuple, or None
    reproduced: bool | None  # None: cannot be recomputed from what the seed states
    would_take: str          # what parameter value (or assumption) would reproduce it
    assumptions: str         # every choice made to recompute it

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def half_unit(text: str) -> float:
    """Half a unit in the last quoted digit of a number written as text: "9.1e-7" -> 5e-9, "400" -> 0.5."""
    t = text.strip().lower()
    mant, _, exp = t.partition("e")
    decimals = len(mant.split(".")[1]) if "." in mant else 0
    return 0.5 * 10.0 ** (-decimals + (int(exp) if exp else 0))


def _agrees(value: float, seed_text: str) -> bool:
    return abs(value - float(seed_text)) <= half_unit(seed_text) * (1 + 1e-12)


def _fmt(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}g}"


# --------------------------------------------------------------------------- the open choices
def mw_like_profile(R, sigma_sun: float = 50.0, r_sun: float = 8.0, r_d: float = 2.6):
    """An exponential (Freeman 1970) disk as the seed's "MW-like test profile".

    R [kpc] -> (v_bar [km/s], Sigma [Msun/pc^2]), with Sigma(R) = sigma_sun exp(-(R - r_sun)/r_d)
    and v_bar^2 = 4 pi G Sigma_0 r_d y^2 [I0(y)K0(y) - I1(y)K1(y)], y = R/(2 r_d) (razor-thin disk).
    """
    R = np.asarray(R, float)
    if np.any(R <= 0) or not np.all(np.isfinite(R)):
        raise ValueError("mw_like_profile: R must be finite and > 0 kpc")
    if not (sigma_sun > 0 and r_sun > 0 and r_d > 0):
        raise ValueError("mw_like_profile: sigma_sun [Msun/pc^2], r_sun and r_d [kpc] must be > 0")
    sigma0 = sigma_sun * 1e6 * math.exp(r_sun / r_d)  # central surface density [Msun/kpc^2]
    y = R / (2 * r_d)
    v2 = 4 * math.pi * G_KPC_KMS2_MSUN * sigma0 * r_d * y**2 * (i0(y) * k0(y) - i1(y) * k1(y))
    return np.sqrt(v2), sigma0 * np.exp(-R / r_d) / 1e6


def saturn_orbit(a_au: float = SATURN_A_AU):
    """(R [kpc], v_c [km/s]) of a circular orbit about the Sun at a_au (v_c = sqrt(G M_sun / a))."""
    a = a_au * u.AU
    v = np.sqrt(const.GM_sun / a).to_value(u.km / u.s)
    return a.to_value(u.kpc), float(v)


def seed_source_factor_sigma(params: Params = Params(), factor: float = SEED_SATURN_SOURCE_FACTOR) -> float:
    """Sigma [Msun/pc^2] whose source factor (Sigma/sigma_ref)^eps equals ``factor`` (the seed's 1e-6)."""
    if params.eps == 0:
        raise ValueError("with eps = 0 the source factor is 1 for every Sigma: no Sigma gives 1e-6")
    return params.sigma_ref * factor ** (1.0 / params.eps)


# --------------------------------------------------------------------------- the ledger
def claims_ledger(
    params: Params = Params(),
    *,
    mw_sigma_v: float = 10.0,
    mw_sigma_sun: float = 50.0,
    mw_r_sun: float = 8.0,
    mw_r_d: float = 2.6,
    saturn_a_au: float = SATURN_A_AU,
    saturn_sigma: float | None = None,
    saturn_sigma_v: float | None = None,
    significant: float = 0.1,
    box_vmax: float = 300.0,
    box_sigma_max: float = 1000.0,
    box_sigma_v_min: float = 5.0,
) -> list[Claim]:
    """Recompute every quantitative claim of the seed; one ``Claim`` per claim (see module docstring).

    params: the CMSI parameters (default: the seed's). mw_*: the MW-like profile (kpc, km/s,
    Msun/pc^2). saturn_*: Saturn's orbit and its Sigma [Msun/pc^2] (None: the seed's source
    factor 1e-6) and sigma_v [km/s] (None: = v_c). significant: the F - 1 above which a boost
    counts as "significant" for rotation curves (0.1, a 5% change in v). box_*: the generous
    range of galaxy-like inputs (v_c <= box_vmax km/s, Sigma <= box_sigma_max Msun/pc^2,
    sigma_v >= box_sigma_v_min km/s, any R) used to bound F for the synthetic demo.
    """
    rows: list[Claim] = []
    p = params
    ga = p.gamma * p.alpha

    # ---- 1. (v/c)^2 values
    for key, v, seed in (("vc2_galaxy", 200.0, "4e-7"), ("vc2_solar", 10.0, "1e-9")):
        val = float(velocity_term(v))
        rows.append(Claim(
            key, f"(v/c)^2 for v ~ {v:g} km/s", f"~{seed}", _fmt(val), val, _agrees(val, seed),
            "nothing: it follows" if _agrees(val, seed) else f"v = {C_KMS * math.sqrt(float(seed)):.3g} km/s",
            f"c = {C_KMS:.6g} km/s (astropy); agreement to the seed's one quoted digit",
        ))
    ratio = float(velocity_term(200.0) / velocity_term(10.0))
    R_sat, v_sat = saturn_orbit(saturn_a_au)
    ratio_sat = float(velocity_term(200.0) / velocity_term(v_sat))
    rows.append(Claim(
        "suppression", "~400x suppression at Solar System scales", "~400", _fmt(ratio), ratio,
        _agrees(ratio, "4e2"), "nothing: (200/10)^2 = 400 exactly",
        f"the ratio of (v/c)^2 at 200 and 10 km/s alone; with Saturn's v_c = {v_sat:.3g} km/s it is "
        f"{ratio_sat:.3g}. It is the velocity factor only, not the ratio of F - 1",
    ))

    # ---- 2. the MW-like profile
    Rg = np.arange(0.5, 25.0, 0.01)
    vb, Sg = mw_like_profile(Rg, mw_sigma_sun, mw_r_sun, mw_r_d)
    keep = (vb >= 150.0) & (vb <= 175.0)
    R, vb, Sg = Rg[keep], vb[keep], Sg[keep]
    if R.size == 0:
        raise ValueError("the MW-like profile never reaches v_bar = 150-175 km/s: change mw_sigma_sun, mw_r_d")
    F = enhancement(R, vb, mw_sigma_v, Sg, p)
    Fm1_unit = boost(R, vb, mw_sigma_v, Sg, dataclasses.replace(p, chi0=1.0))  # F - 1 per unit chi0
    mw_assume = (f"exponential disk, Sigma(R) = {mw_sigma_sun:g} exp(-(R - {mw_r_sun:g} kpc)/{mw_r_d:g} kpc) "
                 f"Msun/pc^2, its own v_bar; R = {R.min():.2f}-{R.max():.2f} kpc where v_bar is in 150-175 km/s; "
                 f"sigma_v = {mw_sigma_v:g} km/s; v_c = v_bar")

    # table row: (v/c)^2 at R = 8 kpc
    vb8, S8 = (float(a[0]) for a in mw_like_profile(np.array([mw_r_sun]), mw_sigma_sun, mw_r_sun, mw_r_d))
    vc2_8 = float(velocity_term(vb8))
    rows.append(Claim(
        "table_vc2_R8", "table: (v/c)^2 in the Galaxy at R = 8 kpc", "3e-7", _fmt(vc2_8), vc2_8,
        _agrees(vc2_8, "3e-7"), "nothing" if _agrees(vc2_8, "3e-7") else f"v_c = {C_KMS * math.sqrt(3e-7):.3g} km/s",
        f"v_c = v_bar(8 kpc) = {vb8:.4g} km/s of the MW-like disk",
    ))
    src8 = float(source_density_term(S8, p))
    rows.append(Claim(
        "table_source_R8", "table: source factor in the Galaxy (Sigma = 50 Msun/pc^2)", "~1.0", _fmt(src8), src8,
        _agrees(src8, "1.0"), "nothing", f"Sigma = {S8:.4g} Msun/pc^2, sigma_ref = {p.sigma_ref:g}, eps = {p.eps:g}",
    ))
    Fm1_8 = float(boost(mw_r_sun, vb8, mw_sigma_v, S8, p))
    chi0_sig = p.chi0 * significant / Fm1_8 if Fm1_8 > 0 else math.inf
    rows.append(Claim(
        "table_combined_R8", "table: combined factor in the Galaxy at R = 8 kpc is 'significant'",
        "significant", f"F - 1 = {_fmt(Fm1_8)}", Fm1_8, Fm1_8 >= significant,
        f"chi0 = {chi0_sig:.3g} for F - 1 = {significant:g}; chi0 = {p.chi0 / Fm1_8:.3g} for F = 2",
        f"'significant' read as F - 1 >= {significant:g} (a {100 * (math.sqrt(1 + significant) - 1):.0f}% change "
        f"in v); R = {mw_r_sun:g} kpc, v_c = {vb8:.4g} km/s, sigma_v = {mw_sigma_v:g} km/s, Sigma = {S8:.3g} Msun/pc^2",
    ))

    # F ~ 1.6-2.3 over the profile
    Flo, Fhi = float(F.min()), float(F.max())
    ok = _agrees(Flo, "1.6") and _agrees(Fhi, "2.3")
    with np.errstate(divide="ignore"):
        chi_lo, chi_hi = (0.6 / Fm1_unit.min(), 1.3 / Fm1_unit.max())
    rows.append(Claim(
        "mw_F_range", "MW-like profile: F ~ 1.6-2.3", "1.6-2.3", f"{Flo:.5f}-{Fhi:.5f}", (Flo, Fhi), ok,
        f"chi0 = {chi_hi:.3g} puts the maximum at 2.3, chi0 = {chi_lo:.3g} puts the minimum at 1.6 "
        f"(no single chi0 gives both: F - 1 varies by x{Fm1_unit.max() / Fm1_unit.min():.2g} over the profile)",
        mw_assume,
    ))
    # v_bary 150-175 -> v_enhanced 225-260
    v = np.sqrt(F) * vb
    i_lo, i_hi = int(np.argmin(vb)), int(np.argmax(vb))
    F_need_lo, F_need_hi = (225.0 / 150.0) ** 2, (260.0 / 175.0) ** 2
    rows.append(Claim(
        "mw_v_range", "MW-like profile: v_bary 150-175 km/s -> v_enhanced 225-260 km/s", "225-260 km/s",
        f"{v.min():.4g}-{v.max():.4g} km/s", (float(v.min()), float(v.max())),
        _agrees(float(v.min()), "225") and _agrees(float(v.max()), "260"),
        f"F = (225/150)^2 = {F_need_lo:.3g} at the low end and (260/175)^2 = {F_need_hi:.3g} at the high end: "
        f"chi0 = {(F_need_lo - 1) / Fm1_unit[i_lo]:.3g} at R = {R[i_lo]:.2f} kpc (v_bar = {vb[i_lo]:.4g} km/s) and "
        f"chi0 = {(F_need_hi - 1) / Fm1_unit[i_hi]:.3g} at R = {R[i_hi]:.2f} kpc (v_bar = {vb[i_hi]:.4g} km/s); "
        "both F sit at the top of the claimed 1.6-2.3, so the seed's two MW claims agree with each other only there",
        mw_assume + "; v = sqrt(F) v_bar",
    ))
    # decreases with radius
    dF = np.diff(F)
    outer = R >= R[np.argmax(F)]
    rows.append(Claim(
        "mw_decreasing", "MW-like profile: F decreases with radius (as Sigma decreases)", "decreasing",
        f"F peaks at R = {R[np.argmax(F)]:.2f} kpc, decreasing beyond" if np.all(np.diff(F[outer]) <= 0) else "not monotonic",
        float(R[np.argmax(F)]), bool(np.all(dF <= 0)),
        "nothing" if np.all(dF <= 0) else f"it holds beyond R = {R[np.argmax(F)]:.2f} kpc only",
        mw_assume + "; criterion: F(R) non-increasing over the whole range kept",
    ))

    # ---- 3. Saturn
    S_sat = seed_source_factor_sigma(p) if saturn_sigma is None else float(saturn_sigma)
    sv_sat = v_sat if saturn_sigma_v is None else float(saturn_sigma_v)
    dg = float(boost(R_sat, v_sat, sv_sat, S_sat, p))
    rest = float(p.chi0 * velocity_term(v_sat) * coherence_term(v_sat, sv_sat, p) * radial_profile(R_sat, p))
    src_need = 9.1e-7 / rest if rest > 0 else math.inf
    S_need = p.sigma_ref * src_need ** (1.0 / p.eps) if p.eps > 0 else math.nan
    src_sat = float(source_density_term(S_sat, p))
    chi_need = p.chi0 * 9.1e-7 / dg if dg > 0 else math.inf
    sat_assume = (f"R = {saturn_a_au:g} AU, v_c = sqrt(G M_sun/R) = {v_sat:.4g} km/s, sigma_v = {sv_sat:.4g} km/s "
                  f"(N_coh^alpha = {float(coherence_term(v_sat, sv_sat, p)):.3g}), Sigma = {S_sat:.3g} Msun/pc^2 "
                  f"(source factor {src_sat:.3g}), f(R/ell0) = {float(radial_profile(R_sat, p)):.12g}")
    rows.append(Claim(
        "table_combined_saturn", "table: combined factor at Saturn < 1e-6", "< 1e-6", f"F - 1 = {dg:.3g}", dg,
        dg < 1e-6, "nothing" if dg < 1e-6 else f"Sigma < {S_need:.3g} Msun/pc^2", sat_assume,
    ))
    rows.append(Claim(
        "saturn_dg", "delta g/g = 9.1e-7 at Saturn", "9.1e-7", _fmt(dg), dg, _agrees(dg, "9.1e-7"),
        f"Sigma = {S_need:.3g} Msun/pc^2 at Saturn (source factor {src_need:.3g}: a Galactic-disk Sigma, not "
        f"the seed's 'Sigma ~ 0'), or chi0 = {chi_need:.3g} with the seed's source factor",
        sat_assume,
    ))
    rows.append(Claim(
        "cassini", "Cassini limit 2.3e-5 (delta g/g = 9e-7 passes it)", "2.3e-5", "not a computation", None, None,
        "2.3e-5 is the 1-sigma error of the PPN gamma - 1 (Bertotti, Iess & Tortora 2003), a bound on light "
        "propagation; a force rescaling g = F g_bar does not change gamma. The Solar System chapter tests "
        "ephemeris bounds instead",
        "none",
    ))

    # ---- 4. synthetic demo
    Fbox = float(enhancement(0.0, box_vmax, box_sigma_v_min, box_sigma_max, p))
    rows.append(Claim(
        "demo_F", "synthetic demo: F_CMSI ~ 1.5-2.0 across the disk", "1.5-2.0", f"F <= {Fbox:.4g}", Fbox,
        Fbox >= 1.5 - half_unit("1.5"),
        f"chi0 >= {p.chi0 * 0.5 / (Fbox - 1):.3g} just to reach F = 1.5 at the most favourable inputs",
        f"the demo galaxy is not given; F bounded by its value at R = 0, v_c = {box_vmax:g} km/s, "
        f"Sigma = {box_sigma_max:g} Msun/pc^2, sigma_v = {box_sigma_v_min:g} km/s (F grows with v_c and Sigma, "
        "falls with sigma_v and R)",
    ))
    rows.append(Claim(
        "demo_rms", "synthetic demo: RMS 53 -> 29 km/s", "53 -> 29 km/s", "cannot be recomputed", None, None,
        "the seed's synthetic galaxy (v_bar, Sigma, sigma_v, 'observed' curve) and its code "
        "(galaxies/cmsi_kernel.py, tests/test_cmsi_sparc.py) are not given; at the defaults F stays below "
        f"{Fbox:.4g} (row above), so no curve could move by 24 km/s",
        "none",
    ))
    return rows


def ledger_markdown(rows: list[Claim]) -> str:
    """The ledger as a Markdown table (MyST-renderable): claim, seed, recomputed, verdict, what it would take."""
    verdict = {True: "reproduced", False: "**not reproduced**", None: "cannot be recomputed"}
    out = ["| Claim of the seed | Seed value (dimensionless unless a unit is given) | Recomputed at the seed's "
           "defaults (same units) | Verdict | What it would take |",
           "|---|---|---|---|---|"]
    for r in rows:
        cells = [r.claim, r.seed_value, r.recomputed, verdict[r.reproduced], r.would_take]
        out.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(out)
