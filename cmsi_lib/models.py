"""Rotation-curve models of the SPARC survey, all behind one interface.

    model = get_model("nfw")
    v = model.v_model(R, galaxy, Nuisance(ups_disk=0.6), {"V200": 150.0, "c200": 8.0})

Every model gives the circular speed [km/s] at radii R from a SPARC galaxy (``cmsi_lib.sparc.Galaxy``),
the nuisance parameters (``Nuisance``: stellar mass-to-light ratios, distance, inclination) and its
own parameters:

    newton     v^2 = v_bar^2 (no parameters)
    rar        the radial acceleration relation (McGaugh, Lelli & Schombert 2016), g_dagger fixed
               at ``rar.G_DAGGER_SI`` = 1.20e-10 m/s^2 (no parameters)
    rar_free   the same with g_dagger [m/s^2] free
    nfw        v^2 = v_bar^2 + v_NFW^2, parameters V200 [km/s] and c200 (r200 = V200 / (10 H0))
    burkert    v^2 = v_bar^2 + v_Burkert^2, parameters rho0 [Msun/kpc^3] and r0 [kpc]
    cmsi       v^2 = F v_bar^2 with CMSI's F (``kernel.circular_speed``), parameters a ``Params``;
               options vc_mode, sigma_v model and Sigma definition (``cmsi_lib.sparc``)
    cmsi_chi0  CMSI with chi0 fitted per galaxy (a diagnostic: does one chi0 fit all galaxies?)

The nuisance parameters act as in Li, Lelli, McGaugh & Schombert 2018 (A&A 615, A3): a distance D
scales the radii by D/D_SPARC and the squared baryonic speeds by D/D_SPARC; an inclination Inc
rescales V_obs and e_V_obs by sin(Inc_SPARC)/sin(Inc) (``observables``).

The fitting code (``cmsi_lib.fitting``) calls ``Model.speed`` on pre-scaled arrays (no data look-up per
call); ``Model.v_model`` is the public, galaxy-level entry point built on the same function.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import astropy.units as u
import numpy as np

from . import kernel, rar, sparc
from .curves import signed_sqrt, v_bar2
from .kernel import InputError
from .options import SparcOptions
from .params import Params
from .units import G_KPC_KMS2_MSUN, as_value

__all__ = [
    "MODEL_NAMES",
    "H0_KMS_MPC",
    "Nuisance",
    "Observables",
    "observables",
    "Model",
    "BoundModel",
    "BoundCMSI",
    "get_model",
    "nfw_halo_speed2",
    "burkert_halo_speed2",
    "CmsiCurve",
    "cmsi_curve",
]

#: every model name ``get_model`` accepts
MODEL_NAMES = ("newton", "rar", "rar_free", "nfw", "burkert", "cmsi", "cmsi_chi0")

#: Hubble constant [km/s/Mpc] defining r200 of the NFW halo; SPARC's Hubble-flow distances assume 73
H0_KMS_MPC = 73.0
_H0_KMS_KPC = H0_KMS_MPC / 1000.0


# --------------------------------------------------------------------------- nuisance parameters
@dataclasses.dataclass(frozen=True)
class Nuisance:
    """Per-galaxy nuisance parameters. ``None`` for D or inc means SPARC's Table-1 value.

    ups_disk, ups_bul: stellar mass-to-light ratios at 3.6 um [Msun/Lsun]; D [Mpc]; inc [deg].
    """

    ups_disk: float = 0.5
    ups_bul: float = 0.7
    D: float | None = None
    inc: float | None = None

    def resolved(self, galaxy) -> tuple[float, float, float, float]:
        """(ups_disk, ups_bul, D, inc) with SPARC's D and Inc filled in; checked for range."""
        D = galaxy.D if self.D is None else float(self.D)
        inc = galaxy.inc if self.inc is None else float(self.inc)
        for name, val in (("ups_disk", self.ups_disk), ("ups_bul", self.ups_bul)):
            if not (math.isfinite(val) and val >= 0):
                raise InputError(f"nuisance parameter {name} = {val!r} must be finite and >= 0")
        if not (math.isfinite(D) and D > 0):
            raise InputError(f"nuisance parameter D = {D!r} Mpc must be finite and > 0")
        if not (math.isfinite(inc) and 0.0 < inc <= 90.0):
            raise InputError(f"nuisance parameter inc = {inc!r} deg must be in (0, 90]")
        return float(self.ups_disk), float(self.ups_bul), D, inc


@dataclasses.dataclass(frozen=True)
class Observables:
    """A galaxy's data after applying nuisance parameters (arrays at the data radii).

    R [kpc], v_obs, e_v_obs [km/s], v_bar2 [(km/s)^2, signed: g_bar R], Sigma-independent.
    """

    R: np.ndarray
    v_obs: np.ndarray
    e_v_obs: np.ndarray
    v_bar2: np.ndarray

    @property
    def v_bar(self) -> np.ndarray:
        """Signed baryonic speed sign(v_bar^2) sqrt|v_bar^2| [km/s]."""
        return signed_sqrt(self.v_bar2)


def observables(galaxy, nuisance: Nuisance = Nuisance()) -> Observables:
    """Apply the nuisance parameters to a galaxy's data (Li et al. 2018 scalings)."""
    ups_d, ups_b, D, inc = nuisance.resolved(galaxy)
    s = D / galaxy.D
    k = math.sin(math.radians(galaxy.inc)) / math.sin(math.radians(inc))
    vb2 = s * v_bar2(galaxy.v_gas, galaxy.v_disk, galaxy.v_bul, ups_d, ups_b)
    return Observables(
        R=np.asarray(galaxy.R, float) * s,
        v_obs=np.asarray(galaxy.v_obs, float) * k,
        e_v_obs=np.asarray(galaxy.e_v_obs, float) * k,
        v_bar2=vb2,
    )


# --------------------------------------------------------------------------- halo formulas
def nfw_halo_speed2(R, V200, c200) -> np.ndarray:
    """NFW halo v^2 [(km/s)^2] at R [kpc]: V200^2 [ln(1+cx) - cx/(1+cx)] / {x [ln(1+c) - c/(1+c)]},

    x = R/r200, r200 = V200 / (10 H0) [kpc] with H0 = ``H0_KMS_MPC``. V200 [km/s], c200 > 0.
    """
    R = np.asarray(R, float)
    r200 = V200 / (10.0 * _H0_KMS_KPC)
    cx = c200 * R / r200
    m = np.log1p(cx) - cx / (1.0 + cx)
    mc = math.log1p(c200) - c200 / (1.0 + c200)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(R > 0, V200**2 * m / (R / r200 * mc), 0.0)


def burkert_halo_speed2(R, rho0, r0) -> np.ndarray:
    """Burkert halo v^2 = G M(R)/R [(km/s)^2] at R [kpc]; rho0 [Msun/kpc^3], r0 [kpc].

    rho(r) = rho0 r0^3 / ((r + r0)(r^2 + r0^2));  M(r) = pi rho0 r0^3 [ln(1+x^2) + 2 ln(1+x) - 2 arctan x].
    """
    R = np.asarray(R, float)
    x = R / r0
    M = math.pi * rho0 * r0**3 * (np.log1p(x * x) + 2.0 * np.log1p(x) - 2.0 * np.arctan(x))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(R > 0, G_KPC_KMS2_MSUN * M / R, 0.0)


# --------------------------------------------------------------------------- the models
@dataclasses.dataclass(frozen=True)
class ParamSpec:
    """One model parameter: name, unit, bounds (physical units) and whether it is fitted in log10."""

    name: str
    unit: str
    lo: float
    hi: float
    log: bool = True


class Model:
    """Base class: a model's name, its own parameters and ``speed``/``v_model``."""

    name: str = ""
    specs: tuple[ParamSpec, ...] = ()

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.specs)

    def check_params(self, params: Mapping[str, float] | None) -> dict[str, float]:
        """Validate a mapping of this model's parameters (names and bounds); returns floats."""
        params = dict(params or {})
        unknown = set(params) - set(self.param_names)
        if unknown:
            raise InputError(
                f"model {self.name!r} has no parameter(s) {sorted(unknown)}; "
                f"its parameters are {list(self.param_names) or 'none'}"
            )
        out = {}
        for s in self.specs:
            if s.name not in params:
                raise InputError(f"model {self.name!r} needs parameter {s.name} [{s.unit}] in [{s.lo:g}, {s.hi:g}]")
            v = float(params[s.name])
            if not (math.isfinite(v) and s.lo <= v <= s.hi):
                raise InputError(f"model {self.name!r}: {s.name} = {v!r} {s.unit} is outside [{s.lo:g}, {s.hi:g}]")
            out[s.name] = v
        return out

    def initial(self, obs: Observables, galaxy) -> np.ndarray:
        """Starting values of the model's parameters (physical units) for a fit."""
        return np.array([], float)

    def speed(self, obs: Observables, theta: np.ndarray) -> np.ndarray:
        """Signed model speed [km/s] at obs.R from the scaled data and parameters ``theta``
        (physical units, in the order of ``specs``)."""
        raise NotImplementedError

    def bind(self, galaxy, mask=None) -> BoundModel:
        """This model on ``galaxy``'s points (``mask``: the points kept; default all), holding
        whatever per-point inputs the model needs beyond the scaled data."""
        return BoundModel(self)

    def v_model(self, R, galaxy, nuisance: Nuisance = Nuisance(), params=None) -> np.ndarray:
        """Model circular speed [km/s] of ``galaxy`` at radii R.

        R [kpc] are radii as tabulated by SPARC (at SPARC's distance; None = the data radii); the
        speed returned is at the physical radius R * D/D_SPARC of the nuisance distance. Between
        data radii the baryonic components (and sigma_v, Sigma) are interpolated linearly in R;
        outside the data range the result is NaN.
        """
        obs = observables(galaxy, nuisance)
        theta = self._theta(params)
        ups = nuisance.resolved(galaxy)[:2]
        bound = self.bind(galaxy)
        if R is None:
            return bound.speed(obs, theta, ups)
        R = np.atleast_1d(as_value(R, u.kpc, "R"))
        R0 = np.asarray(galaxy.R, float)
        order = np.argsort(R0)

        def at(y):
            return np.interp(R, R0[order], np.asarray(y, float)[order], left=np.nan, right=np.nan)

        s = nuisance.resolved(galaxy)[2] / galaxy.D
        obs_R = Observables(R=R * s, v_obs=at(obs.v_obs), e_v_obs=at(obs.e_v_obs), v_bar2=at(obs.v_bar2))
        bound = bound.map_points(at)
        ok = np.isfinite(obs_R.v_bar2)
        out = np.full(R.shape, np.nan)
        if ok.any():
            sub = Observables(obs_R.R[ok], obs_R.v_obs[ok], obs_R.e_v_obs[ok], obs_R.v_bar2[ok])
            out[ok] = bound.map_points(lambda a: a[ok]).speed(sub, theta, ups)
        return out

    def _theta(self, params) -> np.ndarray:
        p = self.check_params(params)
        return np.array([p[s.name] for s in self.specs], float)

    def __repr__(self) -> str:
        return f"<model {self.name}>"


@dataclasses.dataclass(frozen=True)
class BoundModel:
    """A model bound to one galaxy's points: ``speed`` needs only the scaled data.

    speed(obs, theta, ups): signed speed [km/s]; ups = (Ups_disk, Ups_bul) [Msun/Lsun], used by
    models whose inputs depend on the mass-to-light ratios. map_points(f): the same binding at
    other points, ``f`` mapping each per-point input array (a selection or an interpolation).
    """

    model: Model

    def speed(self, obs: Observables, theta, ups: tuple[float, float] = (0.5, 0.7)) -> np.ndarray:
        return self.model.speed(obs, theta)

    def map_points(self, f) -> BoundModel:
        return self


class Newton(Model):
    """Newtonian baryons only: v^2 = v_bar^2 (F = 1)."""

    name = "newton"

    def speed(self, obs, theta):
        return signed_sqrt(obs.v_bar2)


class RAR(Model):
    """The radial acceleration relation g_obs = g_bar / (1 - exp(-sqrt(g_bar/g_dagger))) (``cmsi_lib.rar``)."""

    def __init__(self, free_g_dagger: bool = False):
        self.free = free_g_dagger
        self.name = "rar_free" if free_g_dagger else "rar"
        self.specs = (ParamSpec("g_dagger", "m/s^2", 1e-12, 1e-8),) if free_g_dagger else ()

    def initial(self, obs, galaxy):
        return np.array([rar.G_DAGGER_SI]) if self.free else np.array([], float)

    def speed(self, obs, theta):
        g_dag = theta[0] if self.free else rar.G_DAGGER_SI
        return rar.rar_speed(obs.R, signed_sqrt(obs.v_bar2), g_dag)


def _vmax_obs(obs) -> float:
    return float(np.max(obs.v_obs)) if obs.v_obs.size else 100.0


class NFW(Model):
    """Baryons plus an NFW halo (V200 [km/s], c200); bounds as wide as Li et al. 2020 allow."""

    name = "nfw"
    specs = (ParamSpec("V200", "km/s", 5.0, 1000.0), ParamSpec("c200", "", 1.0, 100.0))

    def initial(self, obs, galaxy):
        return np.array([float(np.clip(_vmax_obs(obs), 10.0, 500.0)), 10.0])

    def speed(self, obs, theta):
        return signed_sqrt(obs.v_bar2 + nfw_halo_speed2(obs.R, theta[0], theta[1]))


class Burkert(Model):
    """Baryons plus a cored Burkert halo (rho0 [Msun/kpc^3], r0 [kpc])."""

    name = "burkert"
    specs = (ParamSpec("rho0", "Msun/kpc^3", 1e4, 1e11), ParamSpec("r0", "kpc", 0.1, 200.0))

    def initial(self, obs, galaxy):
        Rmax = float(np.max(obs.R))
        r0 = float(np.clip(0.5 * Rmax, 0.2, 100.0))
        need = max(obs.v_obs[-1] ** 2 - obs.v_bar2[-1], (0.3 * obs.v_obs[-1]) ** 2)
        unit = burkert_halo_speed2(np.array([obs.R[-1]]), 1.0, r0)[0]
        rho0 = float(np.clip(need / unit, 2e4, 5e10)) if unit > 0 else 1e7
        return np.array([rho0, r0])

    def speed(self, obs, theta):
        return signed_sqrt(obs.v_bar2 + burkert_halo_speed2(obs.R, theta[0], theta[1]))


@dataclasses.dataclass(frozen=True)
class CMSIInputs:
    """What CMSI needs beyond v_bar, at the data radii: sigma_v [km/s] and Sigma = S0 + ups_d Sd + ups_b Sb
    [Msun/pc^2] (Sigma is linear in the mass-to-light ratios for every SPARC definition)."""

    sigma_v: np.ndarray
    S0: np.ndarray
    Sd: np.ndarray
    Sb: np.ndarray

    def Sigma(self, ups_disk: float, ups_bul: float) -> np.ndarray:
        return np.maximum(self.S0 + ups_disk * self.Sd + ups_bul * self.Sb, 0.0)


class CMSI(Model):
    """CMSI: v^2 = F v_bar^2 (g = F g_bar), F from ``kernel.circular_speed``.

    params: a ``Params`` (the global CMSI parameters).
    options: a ``SparcOptions`` giving vc_mode ("baryonic" default, "self-consistent", or the
      circular "observed"), the sigma_v model and value, the Sigma definition and gas scale. Its
      mass-to-light ratios are NOT used: those are nuisance parameters here.
    free: CMSI parameters fitted per galaxy (e.g. ("chi0",) for model "cmsi_chi0"), in log10
      between the bounds ``FREE_BOUNDS``.
    sigma_v is evaluated once per galaxy at the standard mass-to-light ratios (0.5, 0.7) and is
    not changed by the nuisance parameters; Sigma follows the fitted ratios; neither follows a
    change of distance or inclination (surface brightness does not depend on distance; the
    inclination correction of SPARC's face-on profiles is not redone).
    Where v_bar^2 < 0 the model returns -sqrt(F |v_bar^2|) (g = F g_bar keeps the sign).
    """

    FREE_BOUNDS = {
        "chi0": (1.0, 1e13),
        "alpha": (1e-3, 3.0),
        "ell0": (0.01, 1e3),
        "eps": (1e-3, 3.0),
        "gamma": (1e-3, 5.0),
        "sigma_ref": (0.1, 1e4),
        "n": (0.1, 10.0),
    }
    _UNITS = {"ell0": "kpc", "sigma_ref": "Msun/pc^2"}

    def __init__(self, params: Params = Params(), options=None, free: tuple[str, ...] = ()):
        options = SparcOptions() if options is None else options
        if not isinstance(options, SparcOptions):
            raise InputError(f"CMSI options must be a cmsi_lib.SparcOptions, got {type(options).__name__}")
        for f in free:
            if f not in self.FREE_BOUNDS:
                raise InputError(f"free = {f!r} is not a CMSI parameter; valid: {list(self.FREE_BOUNDS)}")
        if not isinstance(params, Params):
            raise InputError(f"CMSI params must be a cmsi_lib.Params, got {type(params).__name__}")
        self.params = params
        self.options = options
        self.vc_mode = options.vc_mode
        self.free = tuple(free)
        self.name = "cmsi_" + "_".join(free) if free else "cmsi"
        self.specs = tuple(ParamSpec(f, self._UNITS.get(f, ""), *self.FREE_BOUNDS[f]) for f in free)

    def bind(self, galaxy, mask=None) -> BoundCMSI:
        """CMSI on ``galaxy``: sigma_v and the Sigma decomposition at its points (``mask``: kept)."""
        bound = BoundCMSI(self, self.inputs(galaxy))
        return bound if mask is None else bound.map_points(lambda a: a[mask])

    def inputs(self, galaxy) -> CMSIInputs:
        """sigma_v [km/s] and Sigma = S0 + Ups_d Sd + Ups_b Sb [Msun/pc^2] at the data radii."""
        o = self.options
        sv = np.asarray(sparc.sigma_v(galaxy, o.sigma_v_model, o.sigma_v_value), float)

        def S(ud, ub):
            return np.asarray(sparc.surface_density(galaxy, o.sigma_definition, ud, ub, o.gas_scale), float)

        S0 = S(0.0, 0.0)
        out = CMSIInputs(np.broadcast_to(sv, S0.shape).astype(float), S0, S(1.0, 0.0) - S0, S(0.0, 1.0) - S0)
        # Sigma must be linear in the ratios for the decomposition to hold: check at the standard ones
        if not np.allclose(out.Sigma(0.5, 0.7), S(0.5, 0.7), rtol=1e-9, atol=1e-9):
            raise InputError(
                f"Sigma definition {o.sigma_definition!r} is not linear in the mass-to-light "
                "ratios; the CMSI model cannot decompose it"
            )
        return out

    def initial(self, obs, galaxy):
        return np.array(
            [getattr(self.params, f) if f != "chi0" else max(self.params.chi0, 1e4) for f in self.free], float
        )

    def params_with(self, theta) -> Params:
        if not self.free:
            return self.params
        return dataclasses.replace(self.params, **dict(zip(self.free, map(float, theta), strict=False)))

    def speed(self, obs, theta):
        raise InputError("the CMSI model needs sigma_v and Sigma: bind it to a galaxy (CMSI.bind) or use v_model")

    def speed_with(self, obs, theta, extra: CMSIInputs, ups=(0.5, 0.7)) -> np.ndarray:
        """Signed speed [km/s] from the scaled data, sigma_v and Sigma (``extra``) at ``ups``."""
        p = self.params_with(theta)
        vb = signed_sqrt(obs.v_bar2)
        v = kernel.circular_speed(
            obs.R,
            vb,
            extra.sigma_v,
            extra.Sigma(*ups),
            p,
            vc_mode=self.vc_mode,
            v_obs=obs.v_obs if self.vc_mode == "observed" else None,
        )
        return np.where(obs.v_bar2 < 0, -v, v)

    def _theta(self, params) -> np.ndarray:
        if isinstance(params, Params):
            return np.array([getattr(params, f) for f in self.free], float)
        return super()._theta(params)

    def v_model(self, R, galaxy, nuisance: Nuisance = Nuisance(), params=None) -> np.ndarray:
        """As ``Model.v_model``; ``params`` may be a ``Params`` (replacing the model's) or, for
        models with free parameters, a mapping of them."""
        if isinstance(params, Params):
            m = CMSI(params, self.options)
            return Model.v_model(m, R, galaxy, nuisance, None)
        return Model.v_model(self, R, galaxy, nuisance, params)


@dataclasses.dataclass(frozen=True)
class BoundCMSI(BoundModel):
    """CMSI bound to a galaxy's points: its sigma_v and Sigma decomposition (``CMSIInputs``)."""

    inputs: CMSIInputs

    def speed(self, obs: Observables, theta, ups: tuple[float, float] = (0.5, 0.7)) -> np.ndarray:
        return self.model.speed_with(obs, theta, self.inputs, ups)

    def map_points(self, f) -> BoundCMSI:
        return BoundCMSI(self.model, CMSIInputs(*(f(a) for a in dataclasses.astuple(self.inputs))))


def get_model(name: str, **options) -> Model:
    """The model called ``name`` (one of ``MODEL_NAMES``). The CMSI models take ``params`` (a Params)
    and ``options`` (a ``SparcOptions``); see ``CMSI``."""
    if name not in MODEL_NAMES:
        raise InputError(f"unknown model {name!r}; valid models are {MODEL_NAMES}")
    if name.startswith("cmsi"):
        free = ("chi0",) if name == "cmsi_chi0" else ()
        return CMSI(free=free, **options)
    if options:
        raise InputError(f"model {name!r} takes no options (got {sorted(options)})")
    if name in ("rar", "rar_free"):
        return RAR(free_g_dagger=(name == "rar_free"))
    return {"newton": Newton, "nfw": NFW, "burkert": Burkert}[name]()


# --------------------------------------------------------------------------- the unfitted CMSI curve
@dataclasses.dataclass(frozen=True)
class CmsiCurve:
    """CMSI on one galaxy at the data radii: speed v [km/s], F, and the inputs used."""

    v: np.ndarray
    F: np.ndarray
    v_c: np.ndarray
    sigma_v: np.ndarray
    Sigma: np.ndarray


def cmsi_curve(galaxy, params: Params, options: SparcOptions = SparcOptions()) -> CmsiCurve:
    """CMSI's circular speed [km/s] and enhancement F on ``galaxy`` at the data radii, unfitted: the
    mass-to-light ratios of ``options``, SPARC's distance and inclination, |v| (no sign where v_bar^2 < 0).

    The pages and chapters draw this curve; the fits use :meth:`CMSI.bind` (nuisance parameters free).

    May raise :class:`cmsi_lib.kernel.NoSelfConsistentSolution` for vc_mode "self-consistent".
    """
    vb = galaxy.v_bar(options.ups_disk, options.ups_bul)
    sv = sparc.sigma_v(galaxy, options.sigma_v_model, options.sigma_v_value, options.ups_disk, options.ups_bul)
    S = sparc.surface_density(galaxy, options.sigma_definition, options.ups_disk, options.ups_bul, options.gas_scale)
    v = kernel.circular_speed(galaxy.R, vb, sv, S, params, options.vc_mode, v_obs=galaxy.v_obs)
    vc = {"baryonic": np.abs(vb), "self-consistent": v, "observed": galaxy.v_obs}[options.vc_mode]
    F = kernel.enhancement(galaxy.R, vc, sv, S, params)
    return CmsiCurve(v=v, F=F, v_c=vc, sigma_v=sv, Sigma=S)
