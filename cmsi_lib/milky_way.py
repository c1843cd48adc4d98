"""The Milky Way's one analysis entry point: ``analyse(params, options) -> MilkyWayResult``.

    from cmsi_lib import milky_way as mw
    res = mw.analyse(Params(), mw.MilkyWayOptions())   # Eilers et al. 2019, McMillan 2017 baryons
    res.fit.chi0, res.chi2["rar"], res.enhancement.F_req, res.seed_cases

The chapter, the introduction and ``cmsi milky-way`` call it. The pieces live in three modules,
re-exported here: :mod:`cmsi_lib.milky_way_data` (the measured curves),
:mod:`cmsi_lib.milky_way_baryons` (galpy's McMillan17, the cached grid, sigma_v) and
:mod:`cmsi_lib.milky_way_fit` (inputs at the data radii, chi^2 tables, the chi0 fit).

Units: R in kpc, speeds in km/s, Sigma in Msun/pc^2; chi0, F and chi^2 dimensionless.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass

import numpy as np

from .curves import required_enhancement
from .errors import InputError, MilkyWayDataError
from .kernel import VC_MODES
from .milky_way_baryons import (
    GAS_SIGMA,
    GRID_R,
    SIGMA_COMPONENTS,
    SIGMA_V_CHOICES,
    THIN_DISK_SIGMA_R_SUN,
    THIN_DISK_SIGMA_Z_SUN,
    ZMAX_DEFAULT,
    BaryonGrid,
    baryon_grid,
    baryonic_components,
    interpolation_error,
    mcmillan17,
    mcmillan17_parameters,
    sigma_v_profile,
    signed_speed,
    surface_density_direct,
    v_bar_direct,
)
from .milky_way_data import (
    EILERS_FILES,
    ERROR_CONVENTIONS,
    MROZ_FILE,
    RotationCurve,
    load_eilers,
    load_mroz,
)
from .milky_way_fit import (
    Chi0Fit,
    MilkyWayInputs,
    ModelChi2,
    boost_per_chi0,
    cmsi_speed,
    fit_chi0,
    inputs_at,
    model_chi2_table,
    runaway_chi0,
    single_factor_requirements,
)
from .params import Params
from .results import survey_global_fit_file, survey_global_params

__all__ = [
    # the entry point
    "MilkyWayOptions", "MilkyWayResult", "Enhancement", "SigmaVCase", "ErrorVariant", "SeedCase", "analyse",
    "SYSTEMATIC_EXAMPLE", "SEED_PROFILE",
    # re-exported pieces
    "EILERS_FILES", "MROZ_FILE", "ERROR_CONVENTIONS", "RotationCurve", "load_eilers", "load_mroz",
    "SIGMA_V_CHOICES", "SIGMA_COMPONENTS", "THIN_DISK_SIGMA_R_SUN", "THIN_DISK_SIGMA_Z_SUN", "GAS_SIGMA",
    "ZMAX_DEFAULT", "GRID_R", "mcmillan17", "mcmillan17_parameters", "baryonic_components", "signed_speed",
    "v_bar_direct", "surface_density_direct", "BaryonGrid", "baryon_grid", "interpolation_error",
    "sigma_v_profile", "MilkyWayInputs", "inputs_at", "cmsi_speed", "boost_per_chi0", "Chi0Fit", "fit_chi0",
    "runaway_chi0", "required_enhancement", "single_factor_requirements", "ModelChi2", "model_chi2_table",
    "MilkyWayDataError",
]  # fmt: skip

#: the fractional systematic error of the error-convention study (within Eilers et al.'s quoted 2-5 %)
SYSTEMATIC_EXAMPLE = 0.03
#: the seed's "MW-like test profile": R [kpc], Sigma [Msun/pc^2], and (v_bar, v claimed) pairs [km/s]
SEED_PROFILE = {"R_kpc": 8.0, "Sigma": 50.0, "speeds": ((150.0, 225.0), (175.0, 260.0))}


@dataclass(frozen=True)
class MilkyWayOptions:
    """The choices of a Milky Way analysis (validated on construction; InputError names the option).

    errors: how the Eilers error columns are read (ERROR_CONVENTIONS); systematic: fractional
    systematic added in quadrature (>= 0); sigma_v: a SIGMA_V_CHOICES name or a constant [km/s];
    sigma_components: SIGMA_COMPONENTS whose Sigma enters F; zmax: |z| limit of Sigma [kpc];
    vc_mode: the v_c mode of the headline chi0 fit (``MilkyWayResult.fit``; all modes are fitted).
    """

    errors: str = "symmetric"
    systematic: float = 0.0
    sigma_v: str | float = "stellar-radial"
    sigma_components: str = "baryons"
    zmax: float = ZMAX_DEFAULT
    vc_mode: str = "baryonic"

    def __post_init__(self):
        if self.errors not in ERROR_CONVENTIONS:
            raise InputError(f"errors = {self.errors!r} is not one of {ERROR_CONVENTIONS}")
        if not (math.isfinite(self.systematic) and self.systematic >= 0):
            raise InputError(f"systematic must be >= 0 (finite), got {self.systematic!r}")
        sv = self.sigma_v
        if isinstance(sv, str) and sv not in SIGMA_V_CHOICES:
            raise InputError(f"sigma_v {sv!r} is not one of {SIGMA_V_CHOICES} or a number [km/s]")
        if not isinstance(sv, str) and not (math.isfinite(sv) and sv > 0):
            raise InputError(f"sigma_v must be > 0 km/s, got {sv!r}")
        if self.sigma_components not in SIGMA_COMPONENTS:
            raise InputError(f"sigma_components {self.sigma_components!r} is not one of {SIGMA_COMPONENTS}")
        if not (math.isfinite(self.zmax) and self.zmax > 0):
            raise InputError(f"zmax must be > 0 kpc (finite), got {self.zmax!r}")
        if self.vc_mode not in VC_MODES:
            raise InputError(f"vc_mode = {self.vc_mode!r} is not one of {VC_MODES}")


@dataclass(frozen=True)
class Enhancement:
    """The enhancement the data require against CMSI's, at the curve's radii (baryonic v_c).

    F_req = v_obs^2 / v_bar^2 and its error F_req_err (from the velocity errors); per_chi0 =
    (F - 1) / chi0; F_params, F_fit: CMSI's F at the given chi0 and at the baryonic fit;
    chi0_needed: the chi0 each point needs on its own to reach F_req. All dimensionless.
    """

    F_req: np.ndarray
    F_req_err: np.ndarray
    per_chi0: np.ndarray
    F_params: np.ndarray
    F_fit: np.ndarray
    chi0_needed: np.ndarray


@dataclass(frozen=True)
class SigmaVCase:
    """One sigma_v choice: its inputs at the curve's radii, the chi0 fit in each v_c mode, and the
    chi0 each point needs on its own (baryonic v_c)."""

    inputs: MilkyWayInputs
    fits: dict  # vc_mode -> Chi0Fit
    chi0_needed: np.ndarray


@dataclass(frozen=True)
class ErrorVariant:
    """One reading of the Eilers errors: the curve, chi^2 of the three baselines, the baryonic chi0 fit."""

    curve: RotationCurve
    chi2_newton: float
    chi2_halo: float
    chi2_rar: float
    fit: Chi0Fit


@dataclass(frozen=True)
class SeedCase:
    """One case of the seed's MW-like claim: inputs (R [kpc], v_bar and sigma_v [km/s], Sigma
    [Msun/pc^2]), the enhancement claimed or required, and ``single_factor_requirements``.
    kind: "seed" (v_claimed [km/s] given) or "milky way" (the solar bin, F from the data)."""

    kind: str
    R_kpc: float
    v_bar: float
    v_claimed: float | None
    sigma_v: float
    sigma_v_name: str
    Sigma: float
    F_target: float
    requirements: dict


@dataclass(frozen=True)
class MilkyWayResult:
    """What ``analyse`` returns: the data, the baryons, every chi^2, fit and requirement shown."""

    params: Params
    options: MilkyWayOptions
    curve: RotationCurve  # Eilers et al. 2019 as the options read it
    mroz: RotationCurve  # the Cepheids (secondary)
    grid: BaryonGrid
    grid_seconds: float  # time to load (or compute) the grid [s]
    inputs: MilkyWayInputs  # at the curve's radii
    fits: dict  # vc_mode -> Chi0Fit (chi0 alone fitted to the curve)
    survey: Params | None  # the SPARC survey's global fit, if it has run
    survey_options: dict | None
    model_params: dict  # label -> (Params, vc_mode) of each CMSI row
    models: tuple[ModelChi2, ...]  # chi^2 on the curve
    models_mroz: tuple[ModelChi2, ...]  # the same models on the Cepheids
    enhancement: Enhancement
    sigma_v_cases: dict  # SIGMA_V_CHOICES name -> SigmaVCase
    error_variants: dict  # label -> ErrorVariant
    seed_cases: tuple[SeedCase, ...]

    @property
    def fit(self) -> Chi0Fit:
        """The headline chi0 fit (options.vc_mode)."""
        return self.fits[self.options.vc_mode]

    @property
    def chi2(self) -> dict:
        """model label -> chi^2 on the curve (None for a runaway)."""
        return {r.model: r.chi2 for r in self.models}

    @property
    def i_sun(self) -> int:
        """Index of the data bin nearest McMillan's R0."""
        return int(np.argmin(np.abs(self.curve.R_kpc - self.grid.R0_kpc)))


def _cmsi_models(params: Params, fits: dict, survey: Params | None) -> dict:
    given = "seed defaults" if params == Params() else "given parameters"
    models = {f"CMSI, {given} ({m})": (params, m) for m in VC_MODES}
    models.update({f"CMSI, chi0 fitted ({m})": (Params.from_mapping({"chi0": fits[m].chi0}, params), m)
                   for m in VC_MODES})  # fmt: skip
    if survey is not None:
        models.update({f"CMSI, SPARC survey fit ({m})": (survey, m) for m in VC_MODES})
    return models


def _enhancement(curve: RotationCurve, inp: MilkyWayInputs, params: Params, fit: Chi0Fit) -> Enhancement:
    F_req = required_enhancement(curve.v_kms, inp.v_bar)
    K = boost_per_chi0(inp, params)
    return Enhancement(F_req, 2 * F_req * curve.err_kms / curve.v_kms, K, 1 + params.chi0 * K, 1 + fit.chi0 * K,
                       (F_req - 1) / K)  # fmt: skip


def _sigma_v_cases(curve, grid, params, options, F_req) -> dict:
    cases = {}
    for ch in SIGMA_V_CHOICES:
        ii = inputs_at(curve.R_kpc, grid, sigma_v=ch, sigma_components=options.sigma_components)
        fits = {m: fit_chi0(curve, ii, params, m) for m in VC_MODES}
        cases[ch] = SigmaVCase(ii, fits, (F_req - 1) / boost_per_chi0(ii, params))
    return cases


def _error_variants(inp: MilkyWayInputs, params: Params) -> dict:
    sym = load_eilers()
    curves = {
        "symmetric (mean), statistical only": sym,
        "column 3 = lower error": load_eilers(errors="col3-lower"),
        "column 3 = upper error": load_eilers(errors="col3-upper"),
        f"symmetric + {100 * SYSTEMATIC_EXAMPLE:g}% systematic": sym.with_systematic(SYSTEMATIC_EXAMPLE),
    }
    return {
        label: ErrorVariant(cv, cv.chi2(inp.v_bar), cv.chi2(inp.v_full), cv.chi2(inp.v_rar),
                            fit_chi0(cv, inp, params, "baryonic"))
        for label, cv in curves.items()
    }  # fmt: skip


def _seed_cases(grid, inp, params, options, F_req, i_sun) -> tuple[SeedCase, ...]:
    R8, S50 = SEED_PROFILE["R_kpc"], SEED_PROFILE["Sigma"]
    sv8 = float(sigma_v_profile([R8], options.sigma_v, Sigma=S50, disk=grid.meta["parameters"])[0])
    cases = []
    for vb, vt in SEED_PROFILE["speeds"]:
        for sv, name in ((GAS_SIGMA, "gas"), (sv8, str(options.sigma_v))):
            Ft = (vt / vb) ** 2
            cases.append(SeedCase("seed", R8, vb, vt, sv, name, S50, Ft,
                                  single_factor_requirements(R8, vb, sv, S50, Ft, params)))  # fmt: skip
    i = i_sun
    R, vb, sv, S, Ft = inp.R_kpc[i], inp.v_bar[i], inp.sigma_v[i], inp.Sigma[i], F_req[i]
    req = single_factor_requirements(R, vb, sv, S, Ft, params)
    cases.append(SeedCase("milky way", R, vb, None, sv, str(options.sigma_v), S, Ft, req))
    return tuple(cases)


def _survey() -> tuple[Params | None, dict | None]:
    survey = survey_global_params()
    if survey is None:
        return None, None
    return survey, json.loads(survey_global_fit_file().read_text()).get("options", {})


def analyse(params: Params = Params(), options: MilkyWayOptions = MilkyWayOptions()) -> MilkyWayResult:
    """CMSI on the Milky Way: Eilers et al. 2019 against McMillan 2017's baryons (galpy grid).

    Fits chi0 alone (other parameters from ``params``) in every v_c mode; lists chi^2 of Newton,
    McMillan17 with its halo, the RAR, CMSI at ``params``, at each fitted chi0 and at the SPARC
    survey's global fit (when it has run), on Eilers and on the Mroz Cepheids; the enhancement the
    data require; the fit for every sigma_v choice and every reading of the errors; and the seed's
    MW-like claim recomputed. Takes a few seconds once the galpy grid is cached.
    """
    curve = load_eilers(errors=options.errors)
    if options.systematic:
        curve = curve.with_systematic(options.systematic)
    mroz = load_mroz()
    t0 = time.perf_counter()
    grid = baryon_grid(zmax=options.zmax)
    grid_seconds = time.perf_counter() - t0
    inp = inputs_at(curve.R_kpc, grid, sigma_v=options.sigma_v, sigma_components=options.sigma_components)
    fits = {m: fit_chi0(curve, inp, params, m) for m in VC_MODES}
    survey, survey_options = _survey()
    cmsi = _cmsi_models(params, fits, survey)
    inp_mroz = inputs_at(mroz.R_kpc, grid, sigma_v=options.sigma_v, sigma_components=options.sigma_components)
    enh = _enhancement(curve, inp, params, fits["baryonic"])
    i_sun = int(np.argmin(np.abs(curve.R_kpc - grid.R0_kpc)))
    return MilkyWayResult(
        params=params,
        options=options,
        curve=curve,
        mroz=mroz,
        grid=grid,
        grid_seconds=grid_seconds,
        inputs=inp,
        fits=fits,
        survey=survey,
        survey_options=survey_options,
        model_params=cmsi,
        models=model_chi2_table(curve, inp, cmsi),
        models_mroz=model_chi2_table(mroz, inp_mroz, cmsi),
        enhancement=enh,
        sigma_v_cases=_sigma_v_cases(curve, grid, params, options, enh.F_req),
        error_variants=_error_variants(inp, params),
        seed_cases=_seed_cases(grid, inp, params, options, enh.F_req, i_sun),
    )
