"""Galaxy clusters: what Newtonian baryons, CMSI and the RAR predict for the Vikhlinin et al. 2006 clusters
(dynamics and lensing), against their hydrostatic masses; the analysis entry point :func:`analyse`.

The data and their options live in :mod:`cmsi_lib.cluster_data`, the projections and lensing geometry in
:mod:`cmsi_lib.projection`; the names a chapter needs are re-exported here, so ``from cmsi_lib import
clusters as C`` is the one import of the clusters chapter and ``cmsi clusters``.

Units: radii in kpc, masses in Msun, densities in Msun/kpc^3, surface densities in Msun/kpc^2 (the kernel
wants Msun/pc^2: divide by 1e6), temperatures in keV, speeds in km/s.
"""

from __future__ import annotations

import dataclasses

import astropy.units as u
import numpy as np

from . import kernel, rar
from .anchors import CLUSTER_MOND_DEFICIT, Anchor
from .cluster_data import (
    COSMOLOGIES,
    DENSITY_FILE,
    MODELS,
    MU_VIKHLININ,
    RAW_COLLECTION_FILE,
    RHO_GAS_FACTOR,
    S152_REDSHIFTS,
    TEMPERATURE_FILE,
    ClusterOptions,
    VikhlininCluster,
    cosmology,
    gas_density_from_npne,
    load_clusters,
    read_density_table,
    read_temperature_table,
    sigma_v_from_temperature,
)
from .params import Params
from .projection import (
    abel_surface_density,
    einstein_radius,
    overdensity_radius,
    projected_mass,
    sigma_crit,
)
from .units import ACCEL_SI_PER_KMS2_KPC, G_KPC_KMS2_MSUN, as_value

__all__ = [
    "DENSITY_FILE",
    "TEMPERATURE_FILE",
    "RAW_COLLECTION_FILE",
    "MU_VIKHLININ",
    "RHO_GAS_FACTOR",
    "S152_REDSHIFTS",
    "COSMOLOGIES",
    "MODELS",
    "ClusterOptions",
    "VikhlininCluster",
    "read_density_table",
    "read_temperature_table",
    "load_clusters",
    "cosmology",
    "sigma_v_from_temperature",
    "gas_density_from_npne",
    "abel_surface_density",
    "projected_mass",
    "overdensity_radius",
    "sigma_crit",
    "einstein_radius",
    "ClusterProfiles",
    "cluster_profiles",
    "mass_ratio_rows",
    "ClusterAnalysis",
    "analyse",
    "CLUSTER_MOND_DEFICIT",
    "deficit_against",
    "rar_deficit_verdict",
    "near_edges",
]


# --------------------------------------------------------------------------- per-cluster profiles
@dataclasses.dataclass
class ClusterProfiles:
    """Every profile of one cluster on a radial grid r [kpc] (arrays; units in the names)."""

    cluster: VikhlininCluster
    params: Params
    options: ClusterOptions
    r_kpc: np.ndarray
    M_gas: np.ndarray  # Msun
    M_star: np.ndarray  # Msun
    M_bar: np.ndarray  # Msun
    M_hse: np.ndarray  # Msun
    T_keV: np.ndarray
    sigma_v_kms: np.ndarray
    v_bar_kms: np.ndarray
    Sigma_bar_Msun_pc2: np.ndarray
    F: np.ndarray  # CMSI enhancement (nan where the self-consistent mode has no solution)
    K_per_chi0: np.ndarray  # (F - 1)/chi0 with v_c = v_bar (the baryonic mode's linear coefficient)
    mass: dict  # model -> enclosed mass [Msun]
    r500: float  # kpc, from M_hse
    r2500: float  # kpc, from M_hse
    rho_crit: float  # Msun/kpc^3 at the cluster's z
    cmsi_error: str = ""  # where the CMSI mass is missing (self-consistent runaway), if anywhere

    def at(self, model: str, r: float) -> float:
        """Enclosed mass of ``model`` at r [kpc] (interpolated linearly in ln r; nan when r is nan)."""
        if not np.isfinite(r):
            return float("nan")
        return float(np.interp(np.log(r), np.log(self.r_kpc), self.mass[model]))

    def interp(self, values, r: float) -> float:
        """A profile ``values`` (an array on ``r_kpc``, any unit) at r [kpc], linearly in ln r."""
        return float(np.interp(np.log(r), np.log(self.r_kpc), values))

    def ratio(self, model: str, r: float) -> float:
        """M_model / M_hse at r [kpc]."""
        return self.at(model, r) / self.at("hydrostatic", r)

    def chi0_needed(self, r: float) -> float:
        """chi0 for which F x M_bar = M_hse at r [kpc] in the baryonic v_c mode (F - 1 is linear in chi0)."""
        if not np.isfinite(r):
            return float("nan")
        K = float(np.interp(np.log(r), np.log(self.r_kpc), self.K_per_chi0))
        return float(kernel.chi0_for_enhancement(self.at("hydrostatic", r) / self.at("newton", r), K))

    def lensing(self, z_s: float, R_kpc=None, model_names=MODELS, n_u: int = 801) -> dict:
        """Projected mass, mean convergence and Einstein radius for a source at z_s, per model.

        Each model's lens mass is M_bar + lens_weight (M_model - M_bar) (hydrostatic: taken as the true
        total mass, lens_weight not applied). A lens mass must not decrease outward (that is a negative
        density): where a profile does (eq. 7 does in places for some clusters, and is negative inside
        A1795's r_min), its running maximum, floored at 0, is used. Einstein radii are sought only at
        R >= the cluster's r_min (inside it the density law is an extrapolation); 0.0 means "none".
        """
        rt = self.options.r_trunc_kpc
        R = (
            np.geomspace(max(1.0, 0.5 * self.cluster.r_min), 0.999 * rt, 240)
            if R_kpc is None
            else np.asarray(as_value(R_kpc, u.kpc, "R"), float)
        )
        cosmo = cosmology(self.options.cosmology)
        sc = sigma_crit(self.cluster.z, z_s, cosmo)
        Dl = cosmo.angular_diameter_distance(self.cluster.z).to_value(u.kpc)
        out = {"R_kpc": R, "Sigma_crit_Msun_kpc2": sc, "D_l_kpc": Dl, "models": {}}
        w = self.options.lens_weight
        for m in model_names:
            M = self.mass[m]
            if m not in ("hydrostatic", "newton"):
                M = self.M_bar + w * (M - self.M_bar)
            if not np.all(np.isfinite(M)):
                out["models"][m] = None
                continue
            M = np.maximum.accumulate(np.clip(M, 0.0, None))
            M2 = projected_mass(self.r_kpc, M, R, rt, n_u)
            kb = M2 / (np.pi * R**2 * sc)
            RE = einstein_radius(R, kb, self.cluster.r_min)
            out["models"][m] = {
                "M2D_Msun": M2,
                "kappa_bar": kb,
                "R_E_kpc": RE,
                "theta_E_arcsec": RE / Dl * 206264.80624709636,
                "kappa_bar_max": float(np.max(kb[R >= self.cluster.r_min])),
            }
        return out


def cluster_profiles(
    cluster: VikhlininCluster, params: Params = Params(), options: ClusterOptions = ClusterOptions(), n_r: int = 300
) -> ClusterProfiles:
    """Compute every profile of ``cluster`` on a log grid from 1 kpc to options.r_trunc_kpc."""
    rt = options.r_trunc_kpc
    r = np.geomspace(1.0, rt, n_r)
    M_gas = cluster.gas_mass(r).to_value(u.Msun)
    M_star = options.stellar_fraction * M_gas
    M_bar = M_gas + M_star
    M_hse = cluster.hydrostatic_mass(r, options.mu).to_value(u.Msun)
    T = cluster.temperature(r).to_value(u.keV)
    sig = sigma_v_from_temperature(T, options.mu).to_value(u.km / u.s)
    v_bar = np.sqrt(G_KPC_KMS2_MSUN * M_bar / r)
    fb = 1 + options.stellar_fraction
    Sigma = abel_surface_density(lambda x: fb * cluster.gas_density(x).value, r[:-1], rt)
    Sigma = np.append(Sigma, 0.0) / 1e6  # Msun/pc^2; zero at the truncation radius
    K = kernel.enhancement(r, v_bar, sig, Sigma, dataclasses.replace(params, chi0=1.0)) - 1
    err = ""
    if options.vc_mode == "baryonic":
        F = kernel.enhancement(r, v_bar, sig, Sigma, params)
    else:
        v_hse = np.sqrt(G_KPC_KMS2_MSUN * np.clip(M_hse, 0, None) / r)
        try:
            v = kernel.circular_speed(r, v_bar, sig, Sigma, params, options.vc_mode, v_obs=v_hse)
        except kernel.NoSelfConsistentSolution:
            # solve radius by radius: nan where v^2 = F(v) v_bar^2 has no solution (the boost runs away)
            v = np.full_like(r, np.nan)
            for i in range(r.size):
                try:
                    v[i] = kernel.self_consistent_speed(r[i], v_bar[i], sig[i], Sigma[i], params)
                except kernel.NoSelfConsistentSolution:
                    pass
            bad = ~np.isfinite(v)
            err = (
                f"no self-consistent solution at {bad.sum()} of {r.size} radii "
                f"(r = {r[bad].min():.3g} to {r[bad].max():.3g} kpc)"
            )
        F = (v / v_bar) ** 2
    g_bar = G_KPC_KMS2_MSUN * M_bar / r**2  # (km/s)^2/kpc
    g_rar = rar.rar_g_obs(g_bar, rar.G_DAGGER_KMS2_KPC)
    mass = {"newton": M_bar, "cmsi": F * M_bar, "rar": g_rar * r**2 / G_KPC_KMS2_MSUN, "hydrostatic": M_hse}
    cosmo = cosmology(options.cosmology)
    rho_c = cosmo.critical_density(cluster.z).to_value(u.Msun / u.kpc**3)
    return ClusterProfiles(
        cluster=cluster,
        params=params,
        options=options,
        r_kpc=r,
        M_gas=M_gas,
        M_star=M_star,
        M_bar=M_bar,
        M_hse=M_hse,
        T_keV=T,
        sigma_v_kms=sig,
        v_bar_kms=v_bar,
        Sigma_bar_Msun_pc2=Sigma,
        F=F,
        K_per_chi0=K,
        mass=mass,
        r500=overdensity_radius(r, M_hse, 500, rho_c, cluster.r_min),
        r2500=overdensity_radius(r, M_hse, 2500, rho_c, cluster.r_min),
        rho_crit=rho_c,
        cmsi_error=err,
    )


def mass_ratio_rows(
    params: Params = Params(), options: ClusterOptions = ClusterOptions(), clusters: dict | None = None
) -> list[dict]:
    """One row per cluster and model: M_model/M_hse at r2500 and r500, with r500, r2500 [kpc] and whether
    r500 lies beyond the data (r_det). Models: MODELS (hydrostatic gives 1 by construction)."""
    clusters = clusters or load_clusters(options)
    return _rows({name: cluster_profiles(cl, params, options) for name, cl in clusters.items()})


def _rows(profiles: dict[str, ClusterProfiles]) -> list[dict]:
    rows = []
    for name, p in profiles.items():
        cl = p.cluster
        for m in MODELS:
            rows.append(
                {
                    "cluster": name,
                    "model": m,
                    "mass_ratio_r500": p.ratio(m, p.r500),
                    "mass_ratio_r2500": p.ratio(m, p.r2500),
                    "r500_kpc": p.r500,
                    "r2500_kpc": p.r2500,
                    "M_hse_r500_Msun": p.at("hydrostatic", p.r500),
                    "r500_beyond_data": bool(p.r500 > cl.r_det),
                    "z": cl.z,
                }
            )
    return rows


# --------------------------------------------------------------------------- the analysis entry point
@dataclasses.dataclass(frozen=True)
class ClusterAnalysis:
    """Everything the clusters chapter and ``cmsi clusters`` show, at one set of CMSI parameters.

    Profiles are keyed by cluster name. Mass ratios M_model/M_hse are dimensionless; chi0 dimensionless;
    g_dagger in m/s^2. ``median_ratio[column][radius]`` with radius "r2500" or "r500" and column one of
    MODELS (at ``params``), "cmsi_median" (CMSI at chi0 = ``chi0_median``) and, when ``survey_params`` is
    given, "cmsi_survey".
    """

    params: Params
    options: ClusterOptions
    profiles: dict
    chi0_needed: dict  # per cluster: chi0 for F M_bar = M_hse at r500 (baryonic v_c)
    chi0_median: float
    profiles_median: dict  # at chi0 = chi0_median
    survey_params: Params | None
    profiles_survey: dict | None  # at survey_params (None without them)
    median_ratio: dict
    rows: list  # mass_ratio_rows at params
    F_max_self_consistent: float  # largest F the self-consistent v_c mode can give
    chi0_self_consistent: dict  # per cluster: largest chi0 with a self-consistent solution at every radius
    g_dagger_needed: dict  # per cluster: g_dagger [m/s^2] for M_RAR = M_hse at r500
    rar_deficit_r500: float  # 1 / median M_RAR/M_hse at r500
    rar_deficit_r2500: float


def _medians(profiles: dict, model: str) -> dict:
    return {
        rad: float(np.median([q.ratio(model, getattr(q, rad)) for q in profiles.values()])) for rad in ("r2500", "r500")
    }


def _g_dagger_needed(p: ClusterProfiles) -> float:
    """g_dagger [m/s^2] for which the RAR mass equals M_hse at r500."""
    r = p.r500
    g_bar = G_KPC_KMS2_MSUN * p.at("newton", r) / r**2 * ACCEL_SI_PER_KMS2_KPC
    g_obs = G_KPC_KMS2_MSUN * p.at("hydrostatic", r) / r**2 * ACCEL_SI_PER_KMS2_KPC
    return rar.g_dagger_needed(g_bar, g_obs)


def analyse(
    params: Params = Params(),
    options: ClusterOptions = ClusterOptions(),
    clusters: dict | None = None,
    survey_params: Params | None = None,
) -> ClusterAnalysis:
    """The cluster analysis at ``params``: profiles, mass ratios and their medians, the chi0 each cluster
    needs at r500 (and CMSI at their median), the self-consistent mode's limits and the g_dagger the RAR
    would need. ``clusters`` (default: all, from ``load_clusters(options)``) restricts the sample;
    ``survey_params`` adds CMSI at those parameters (the SPARC global fit) as column "cmsi_survey"."""
    clusters = clusters or load_clusters(options)
    prof = {n: cluster_profiles(c, params, options) for n, c in clusters.items()}
    chi_need = {n: p.chi0_needed(p.r500) for n, p in prof.items()}
    chi_med = float(np.median(list(chi_need.values())))
    prof_med = {n: cluster_profiles(c, dataclasses.replace(params, chi0=chi_med), options) for n, c in clusters.items()}
    prof_survey = (
        None if survey_params is None else {n: cluster_profiles(c, survey_params, options) for n, c in clusters.items()}
    )
    med = {m: _medians(prof, m) for m in MODELS}
    med["cmsi_median"] = _medians(prof_med, "cmsi")
    if prof_survey is not None:
        med["cmsi_survey"] = _medians(prof_survey, "cmsi")
    chi_sc = {
        n: kernel.self_consistent_chi0_limit(p.r_kpc, p.v_bar_kms, p.sigma_v_kms, p.Sigma_bar_Msun_pc2, params)
        for n, p in prof.items()
    }
    return ClusterAnalysis(
        params=params,
        options=options,
        profiles=prof,
        chi0_needed=chi_need,
        chi0_median=chi_med,
        profiles_median=prof_med,
        survey_params=survey_params,
        profiles_survey=prof_survey,
        median_ratio=med,
        rows=_rows(prof),
        F_max_self_consistent=kernel.self_consistent_F_max(params),
        chi0_self_consistent=chi_sc,
        g_dagger_needed={n: _g_dagger_needed(p) for n, p in prof.items()},
        rar_deficit_r500=1 / med["rar"]["r500"],
        rar_deficit_r2500=1 / med["rar"]["r2500"],
    )


# --------------------------------------------------------------------------- verdicts from the numbers
def deficit_against(deficit: float, anchor: Anchor = CLUSTER_MOND_DEFICIT) -> str:
    """ "within", "below" or "above": where ``deficit`` (dimensionless) lies against ``anchor``'s value
    +- its tolerance (edges count as within)."""
    if not np.isfinite(deficit):
        raise ValueError(f"deficit = {deficit!r} is not a finite number")
    if anchor.holds(deficit):
        return "within"
    return "below" if deficit < anchor.value else "above"


def rar_deficit_verdict(deficits: dict[str, float], anchor: Anchor = CLUSTER_MOND_DEFICIT) -> str:
    """One sentence comparing the RAR's median mass deficit (M_hse/M_RAR, dimensionless) at each radius
    (label -> value, e.g. {"r2500": 2.43, "r500": 1.47}) with the published factor ``anchor``, the words
    chosen from the numbers: "reproduced" only where the value lies within the anchor's tolerance."""
    lo, hi = anchor.value - anchor.tol, anchor.value + anchor.tol
    parts = []
    for label, d in deficits.items():
        where = deficit_against(d, anchor)
        if where == "within":
            parts.append(f"at {label} the median deficit, {d:.3g}, is within that range: reproduced")
        else:
            side = "smaller" if where == "below" else "larger"
            parts.append(f"at {label} it is {d:.3g}, {side} than that range: not reproduced there")
    head = f"Against the published factor of about {anchor.value:g} (read as {lo:g} to {hi:g}): "
    return head + "; ".join(parts) + "."


def near_edges(deficits: dict[str, float], anchor: Anchor = CLUSTER_MOND_DEFICIT, frac: float = 0.1) -> list[str]:
    """Labels of the deficits lying within ``frac`` x the tolerance range's width (2 tol) of one of its edges
    (value +- tol): where a slightly different reading of the published factor would flip the verdict."""
    lo, hi = anchor.value - anchor.tol, anchor.value + anchor.tol
    width = frac * (hi - lo)
    return [k for k, d in deficits.items() if min(abs(d - lo), abs(d - hi)) <= width]
