"""The posterior of CMSI's identifiable global parameters on SPARC, every galaxy's nuisance parameters
sampled jointly and so marginalised: a JAX log-density sampled by NumPyro's No-U-Turn sampler (NUTS).

The data, points and nuisance priors are exactly those of the joint MAP (``jointfit.sparc_blocks``):
SPARC after the standard cuts, v_c = v_bar ("baryonic"), a constant sigma_v, stellar Sigma
(``SparcOptions()``), and per galaxy the nuisance parameters of Li, Lelli, McGaugh & Schombert 2018,
each only where ``jointfit`` frees it:

    log10 Ups_disk ~ N(log10 0.5, 0.1 dex),  log10 Ups_bul ~ N(log10 0.7, 0.1 dex)   [Ups: Msun/Lsun]
    D ~ N(D_SPARC, e_D) [Mpc], truncated to D > 0;  Inc ~ N(Inc_SPARC, e_Inc) [deg] on (1, 179) deg

(``jointfit.INC_BOUNDS``). They act as in ``models.observables``: R -> R D/D_SPARC, v_bar^2 ->
v_bar^2 D/D_SPARC, V_obs and e_V -> (.) sin(Inc_SPARC)/sin(Inc). The likelihood is Gaussian in V_obs:
with k = sin(Inc_SPARC)/sin(Inc) the residual (k V_obs - V_model)/(k e_V) equals
(V_obs - V_model/k)/e_V, so the normalisation (e_V: SPARC's errors) does not depend on the parameters
and

    -2 ln p(theta | data) = objective(theta) + const,   objective = chi2 + chi2_prior of ``jointfit``,

when theta holds log10 Ups, D [Mpc] and Inc [deg] (the density is taken with respect to those
coordinates, in which ``jointfit``'s prior pseudo-residuals are Gaussian) and the globals lie inside
their prior box. The constant is derived in ``objective_constant`` and checked in tests/test_posterior.py.

Global parameters (``jointfit.GLOBAL_NAMES``; n fixed, default 2) with uniform priors on a box
(``CMSI_PRIORS``, an option): log10_A [dex; A in (Msun/pc^2)^-eps], gamma_alpha (>= 0), log10 ell0
[log10 kpc], eps (>= 0). A box is a prior here, not a fitting device: a posterior piling on an edge is
reported as such (``summary``: the fraction of samples within 1 % of the box width of each edge).

The RAR with a free acceleration scale, log10 g_dagger [log10 m/s^2] uniform on ``RAR_PRIOR``, uses the
same data, nuisance priors and sampler with g_obs = g_bar / (1 - exp(-sqrt(g_bar/g_dagger)))
(``rar.rar_g_obs``; g_obs = g_bar where g_bar <= 0).

Three posteriors (``RUNS``): "cmsi" with the options' Sigma (default stellar) from dispersed starts;
"cmsi_gas", the same with Sigma including an exponential gas disk ("stellar+gas", positive at every
radius), its chains started at the corner MAP F = 1 + A (v_c/c)^2 (``corner_start``); "rar", its chains
started at its MAP (``map_values``, from the published g_dagger and Newton's nuisance). Why the
second: with stellar Sigma, Sigma = 0 beyond the starlight, (Sigma/Sigma_ref)^eps vanishes there for
every eps > 0, and the corner's gain exists only at eps = 0 exactly, a set a continuous prior gives no
weight (``joint_survey.eps_continuity``); with the gas disk the corner is continuous in eps, and a
chain started there shows the posterior of that mode.

NUTS settings (``PosteriorOptions``): "cmsi" chains from dispersed starts (``init_to_uniform``: each
unconstrained coordinate uniform in (-radius, radius), i.e. the globals spread over their boxes) with an
adapted diagonal mass matrix; "cmsi_gas" and "rar" with a fixed dense Laplace one
(``laplace_inverse_mass``); warmup and samples per chain; chains run in parallel on the host devices
when there are enough (``XLA_FLAGS=--xla_force_host_platform_device_count``, set here before jax is
first imported), else in sequence. Diagnostics by arviz: split R-hat (rank-normalised), bulk and tail
effective sample sizes, and NUTS' divergent transitions. Units: R kpc, speeds km/s, Sigma Msun/pc^2, D Mpc, Inc deg.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time

import numpy as np

from . import joint_survey, jointfit, rar, stages
from .errors import InputError
from .fitting import UPS_BUL_PRIOR, UPS_DISK_PRIOR
from .options import SparcOptions
from .params import Params
from .posterior_stage import (
    CMSI_PRIORS,
    DATA_FILES,
    ESS_MIN,
    GAS_SIGMA,
    MODULES,
    R_HAT_MAX,
    RAR_PRIOR,
    RUNS,
    STAGE,
    PosteriorOptions,
    cached_stage,
    converged,
    globals_converged,
    json_entry,
    stage_inputs,
)
from .units import ACCEL_SI_PER_KMS2_KPC, C_KMS

#: host devices requested from XLA when this module imports jax first: one per chain of the default
#: ``PosteriorOptions`` (4), so the chains run in parallel threads sharing the machine's cores
HOST_DEVICES = 4
if "jax" not in sys.modules:  # must precede the first import of jax to take effect
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={HOST_DEVICES}"
    ).strip()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpyro  # noqa: E402
import numpyro.distributions as dist  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402
from numpyro.infer import MCMC, NUTS, init_to_uniform, init_to_value  # noqa: E402
from numpyro.infer.util import constrain_fn, log_density, potential_energy, unconstrain_fn  # noqa: E402

jax.config.update("jax_enable_x64", True)  # F - 1 spans ~1e-10..10: float32 keeps too few digits

__all__ = [
    "CMSI_PRIORS",
    "RAR_PRIOR",
    "PosteriorOptions",
    "SparcData",
    "sparc_data",
    "nuisance_values",
    "cmsi_speed",
    "rar_speed",
    "cmsi_model",
    "rar_model",
    "log_joint",
    "objective_constant",
    "run_nuts",
    "RUNS",
    "nuisance_z",
    "corner_start",
    "laplace_inverse_mass",
    "map_values",
    "summary",
    "samples_table",
    "MODULES",
    "DATA_FILES",
    "posterior_stage",
    "cached_stage",
    "R_HAT_MAX",
    "ESS_MIN",
    "converged",
    "globals_converged",
    "json_entry",
    "load_samples",
    "load_posterior",
]

_NUISANCE_SITES = ("z_ups_disk", "z_ups_bul", "z_D", "z_inc")
#: where a corner start puts gamma_alpha and eps: this fraction of their box above its low edge (the
#: corner has them on it, where the sampler's unconstrained coordinate is -infinity)
EDGE_START = 1e-4
_EDGE = 0.01  # a sample within this fraction of the box width of an edge counts as "at the edge"


# --------------------------------------------------------------------------- data
@dataclasses.dataclass(frozen=True)
class SparcData:
    """The joint problem's arrays (``jointfit.Block``s stacked), as JAX arrays.

    Per point: R [kpc], v_obs, e_v_obs [km/s], g2, d2, b2 [(km/s)^2] (signed squares of gas, disk and
    bulge speeds at Ups = 1), S0, Sd, Sb [Msun/pc^2] (Sigma = S0 + Ups_d Sd + Ups_b Sb), sigma_v [km/s],
    gi (the galaxy of the point). Per galaxy: D0, e_D [Mpc], inc0, e_inc [deg]. free: nuisance name ->
    indices of the galaxies in which ``jointfit`` frees it (the others keep the prior centre / SPARC's
    value). names: the galaxies."""

    R: jnp.ndarray
    v_obs: jnp.ndarray
    e_v_obs: jnp.ndarray
    g2: jnp.ndarray
    d2: jnp.ndarray
    b2: jnp.ndarray
    S0: jnp.ndarray
    Sd: jnp.ndarray
    Sb: jnp.ndarray
    sigma_v: jnp.ndarray
    gi: jnp.ndarray
    D0: jnp.ndarray
    e_D: jnp.ndarray
    inc0: jnp.ndarray
    e_inc: jnp.ndarray
    free: dict
    names: tuple

    @property
    def n_points(self) -> int:
        return int(self.R.size)

    @property
    def n_galaxies(self) -> int:
        return len(self.names)

    @property
    def n_nuisance(self) -> int:
        return int(sum(len(v) for v in self.free.values()))


def sparc_data(blocks=None, options: SparcOptions | None = None) -> SparcData:
    """``SparcData`` of ``blocks`` (a list of ``jointfit.Block``; default ``jointfit.sparc_blocks()``:
    SPARC after the standard cuts with ``options``, nuisance "full")."""
    blocks = jointfit.sparc_blocks(None, options, "full") if blocks is None else list(blocks)
    if not blocks:
        raise InputError("posterior: no galaxy (empty list of blocks)")
    cat = {f: jnp.asarray(np.concatenate([getattr(b, f) for b in blocks]), float)
           for f in ("R", "v_obs", "e_v_obs", "g2", "d2", "b2", "S0", "Sd", "Sb", "sigma_v")}  # fmt: skip
    gi = np.repeat(np.arange(len(blocks)), [b.n_points for b in blocks])
    per = {f: jnp.asarray([getattr(b, f) for b in blocks], float) for f in ("D0", "e_D", "inc0", "e_inc")}
    free = {p: jnp.asarray([i for i, b in enumerate(blocks) if p in b.free], int) for p in jointfit.NUISANCE_NAMES}
    if np.any(np.asarray(cat["e_v_obs"]) <= 0):
        raise InputError("posterior: every e_v_obs must be > 0 km/s")
    return SparcData(**cat, gi=jnp.asarray(gi), **per, free=free, names=tuple(b.name for b in blocks))


def _trunc_bounds(data: SparcData) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
    """Standardised truncation points: D > 0 (z_D > -D0/e_D); Inc in ``jointfit.INC_BOUNDS``."""
    iD, ii = data.free["D"], data.free["inc"]
    lo_inc, hi_inc = jointfit.INC_BOUNDS
    zD = -data.D0[iD] / data.e_D[iD]
    return zD, (lo_inc - data.inc0[ii]) / data.e_inc[ii], (hi_inc - data.inc0[ii]) / data.e_inc[ii]


def nuisance_values(data: SparcData, z: dict) -> dict:
    """Per galaxy ups_disk, ups_bul [Msun/Lsun], D [Mpc], inc [deg] from the standardised nuisance
    coordinates ``z`` (site -> array over the galaxies that free it): log10 Ups = log10 median + dex z,
    D = D0 + e_D z, Inc = inc0 + e_inc z; the others at the prior centres / SPARC's values."""
    ng = data.n_galaxies
    out = {
        "ups_disk": jnp.full(ng, UPS_DISK_PRIOR[0]),
        "ups_bul": jnp.full(ng, UPS_BUL_PRIOR[0]),
        "D": data.D0,
        "inc": data.inc0,
    }
    for p, (med, dex) in (("ups_disk", UPS_DISK_PRIOR), ("ups_bul", UPS_BUL_PRIOR)):
        i = data.free[p]
        out[p] = out[p].at[i].set(10.0 ** (math.log10(med) + dex * z["z_" + p]))
    for p, e in (("D", data.e_D), ("inc", data.e_inc)):
        i = data.free[p]
        out[p] = out[p].at[i].set(out[p][i] + e[i] * z["z_" + p])
    return out


def _scaled(data: SparcData, nu: dict):
    """(R [kpc], v_bar^2 [(km/s)^2, signed], Sigma [Msun/pc^2], k = sin Inc0 / sin Inc) per point."""
    s = (nu["D"] / data.D0)[data.gi]
    ud, ub = nu["ups_disk"][data.gi], nu["ups_bul"][data.gi]
    vb2 = s * (data.g2 + ud * data.d2 + ub * data.b2)
    Sigma = jnp.maximum(data.S0 + ud * data.Sd + ub * data.Sb, 0.0)
    k = (jnp.sin(jnp.radians(data.inc0)) / jnp.sin(jnp.radians(nu["inc"])))[data.gi]
    return data.R * s, vb2, Sigma, k


def _safe_pow(x, p):
    """x^p for x >= 0 with 0^0 = 1 and finite gradients at x = 0 (JAX's x**p has NaN ones there)."""
    pos = x > 0
    return jnp.where(pos, jnp.exp(p * jnp.log(jnp.where(pos, x, 1.0))), jnp.where(p == 0, 1.0, 0.0))


def cmsi_speed(data: SparcData, g: dict, nu: dict):
    """CMSI's model speed [km/s] (signed as v_bar^2) at every point, v_c = |v_bar| ("baryonic"), and k.

    g: log10_A [dex], gamma_alpha, log10_ell0 [log10 kpc], eps, n; nu: ``nuisance_values``.
    F - 1 = A (|v_bar|/c)^2 Sigma^eps (|v_bar|/sigma_v)^gamma_alpha f(R/ell0), f = (1 + x^n)^(-1/n),
    with ln f = -softplus(n ln x)/n (no overflow for x far from 1). Returns (v_model, k)."""
    R, vb2, Sigma, k = _scaled(data, nu)
    a = jnp.abs(vb2)
    lnx = jnp.log(R) - g["log10_ell0"] * math.log(10.0)
    f = jnp.exp(-jax.nn.softplus(g["n"] * lnx) / g["n"])
    boost = 10.0 ** g["log10_A"] * (a / C_KMS**2) * _safe_pow(Sigma, g["eps"])
    boost = boost * _safe_pow(jnp.sqrt(a) / data.sigma_v, g["gamma_alpha"]) * f
    v = jnp.sqrt((1.0 + boost) * a)
    return jnp.where(vb2 < 0, -v, v), k


def rar_speed(data: SparcData, log10_g_dagger, nu: dict):
    """The RAR's model speed [km/s] at every point (g_dagger = 10^log10_g_dagger m/s^2), and k:
    g_obs = g_bar / (1 - exp(-sqrt(g_bar/g_dagger))) for g_bar > 0, g_bar otherwise (``rar.rar_g_obs``)."""
    R, vb2, _Sigma, k = _scaled(data, nu)
    g_bar = vb2 / R  # (km/s)^2/kpc, signed
    gd = 10.0**log10_g_dagger / ACCEL_SI_PER_KMS2_KPC
    pos = g_bar > 0
    x = jnp.sqrt(jnp.where(pos, g_bar, 1.0) / gd)
    g_obs = jnp.where(pos, g_bar / -jnp.expm1(-x), g_bar)
    v = jnp.sqrt(jnp.abs(g_obs) * R)
    return jnp.where(g_obs < 0, -v, v), k


# --------------------------------------------------------------------------- the NumPyro models
def _nuisance_sites(data: SparcData) -> dict:
    """Sample the standardised nuisance coordinates (N(0, 1), truncated where D or Inc must stay in range)."""
    zD, lo_i, hi_i = _trunc_bounds(data)
    z = {}
    for site, p in zip(_NUISANCE_SITES, jointfit.NUISANCE_NAMES, strict=True):
        m = int(data.free[p].size)
        if p in ("ups_disk", "ups_bul"):
            d = dist.Normal(jnp.zeros(m), 1.0)
        elif p == "D":
            d = dist.TruncatedNormal(jnp.zeros(m), 1.0, low=zD)
        else:
            d = dist.TruncatedNormal(jnp.zeros(m), 1.0, low=lo_i, high=hi_i)
        z[site] = numpyro.sample(site, d.to_event(1)) if m else jnp.zeros(0)
    return z


def _likelihood(data: SparcData, v_model, k):
    """Gaussian likelihood of V_obs [km/s]: N(V_obs; V_model / k, e_V) (see the module docstring)."""
    numpyro.sample("v_obs", dist.Normal(v_model / k, data.e_v_obs).to_event(1), obs=data.v_obs)


def cmsi_model(data: SparcData, priors: dict, n: float = 2.0):
    """NumPyro model: CMSI's globals uniform on ``priors`` (name -> (low, high), ``CMSI_PRIORS``), n
    fixed, every galaxy's nuisance parameters with Li et al. 2018's priors, the Gaussian likelihood."""
    g = {name: numpyro.sample(name, dist.Uniform(*priors[name])) for name in CMSI_PRIORS}
    g["n"] = n
    nu = nuisance_values(data, _nuisance_sites(data))
    v, k = cmsi_speed(data, g, nu)
    _likelihood(data, v, k)


def rar_model(data: SparcData, prior=RAR_PRIOR):
    """NumPyro model: the RAR with log10 g_dagger [log10 m/s^2] uniform on ``prior`` and the nuisance."""
    lg = numpyro.sample("log10_g_dagger", dist.Uniform(*prior))
    nu = nuisance_values(data, _nuisance_sites(data))
    v, k = rar_speed(data, lg, nu)
    _likelihood(data, v, k)


def log_joint(model, data: SparcData, values: dict, **kw) -> float:
    """ln p(data, theta) of ``model`` at ``values`` (site -> value, constrained space; the density is
    with respect to the globals and the standardised nuisance coordinates z)."""
    return float(log_density(model, (data,), kw, values)[0])


def objective_constant(data: SparcData, priors: dict | None = None) -> float:
    """C with ln p(data, theta) = -objective/2 + C (``jointfit``'s objective; theta inside the prior box),
    for ``cmsi_model`` with ``priors`` (``rar_model``: pass {"log10_g_dagger": RAR_PRIOR}).

    Data: -sum ln(sqrt(2 pi) e_V). Each freed nuisance parameter: the standard normal's -ln sqrt(2 pi),
    minus ln Z of its truncation (Z = Phi(hi) - Phi(lo)); the Jacobian from z to the parameter is not
    included (the density is in z). Globals: -ln(high - low) each."""
    from scipy.special import log_ndtr  # only here: the truncation normalisers

    e = np.asarray(data.e_v_obs)
    c = -float(np.sum(np.log(np.sqrt(2 * np.pi) * e)))
    c -= data.n_nuisance * 0.5 * math.log(2 * math.pi)
    zD, lo_i, hi_i = (np.asarray(a) for a in _trunc_bounds(data))
    c -= float(np.sum(np.log1p(-np.exp(log_ndtr(zD)))))
    c -= float(np.sum(np.log(np.exp(log_ndtr(hi_i)) - np.exp(log_ndtr(lo_i)))))
    priors = CMSI_PRIORS if priors is None else priors
    return c - sum(math.log(hi - lo) for lo, hi in priors.values())


def nuisance_z(data: SparcData, fit: jointfit.JointFit, blocks) -> dict:
    """The standardised nuisance coordinates (site -> array, as ``cmsi_model`` samples them) of the joint
    MAP ``fit`` on ``blocks`` (the blocks ``data`` was made from): its prior pseudo-residuals."""
    fixed = joint_survey.params_of(fit.globals) if fit.globals else Params()
    prob = jointfit.JointProblem(blocks, free=fit.free, fixed=fixed, model=fit.model, vc_mode=fit.vc_mode)
    r = prob.prior_residuals(fit.x)
    return {site: jnp.asarray(r[prob.col[p][np.asarray(data.free[p], int)] - prob.n_global])
            for site, p in zip(_NUISANCE_SITES, jointfit.NUISANCE_NAMES, strict=True)}  # fmt: skip


def corner_start(blocks, data: SparcData, options: SparcOptions, priors: dict, newton=None):
    """Initial values (site -> value) at the corner MAP of ``blocks`` (``joint_survey.corner_fit``: log10_A
    and every nuisance parameter, F = 1 + A (v_c/c)^2): gamma_alpha and eps ``EDGE_START`` of their box
    above its low edge, log10 ell0 the corner's, clipped 1 % of the box inside. Returns (values, corner fit)."""
    newton = jointfit.joint_map(blocks, model="newton", laplace=False) if newton is None else newton
    c = joint_survey.corner_fit(blocks, newton, options)
    lo, hi = priors["log10_ell0"]
    values = {k: priors[k][0] + EDGE_START * (priors[k][1] - priors[k][0]) for k in ("gamma_alpha", "eps")}
    values["log10_A"] = c.globals["log10_A"]
    values["log10_ell0"] = min(max(math.log10(c.globals["ell0"]), lo + _EDGE * (hi - lo)), hi - _EDGE * (hi - lo))
    return values | nuisance_z(data, c, blocks), c


#: the globals a Laplace mass matrix leaves out of the Hessian (unit curvature, uncorrelated): a corner
#: start has gamma_alpha and eps next to their low edge and ell0 where the data do not constrain it, so
#: the curvature there says nothing about the width the chains need
DECOUPLED = ("gamma_alpha", "eps", "log10_ell0")
#: eigenvalues of the Hessian below this (in magnitude) are raised to it before inverting
CURVATURE_FLOOR = 1e-2


def _unconstrained(model, data: SparcData, values: dict, model_kw: dict):
    """``values`` (site -> constrained value, every latent site) in NumPyro's unconstrained coordinates,
    flattened (``ravel_pytree``: sites sorted by name), the inverse of that flattening, and the potential
    energy -ln p as a function of the flat vector. What ``numpyro.infer.util.initialize_model`` gives
    with ``init_to_value``, but traced once under ``jax.jit``: op by op it compiles each of the model's
    few hundred operations separately (some 20 s on 2 cores, once per process)."""
    latent = _latent_sites(model, data, model_kw)
    missing = sorted(set(latent) - set(values))
    if missing:
        raise InputError(f"values lack the latent sites {missing} of {model.__name__}")
    values = {k: values[k] for k in latent}  # others (e.g. a nuisance site the sample does not free) ignored
    z = jax.jit(lambda v: unconstrain_fn(model, (data,), model_kw, v))(values)
    flat, unravel = ravel_pytree(z)
    return flat, unravel, lambda v: potential_energy(model, (data,), model_kw, unravel(v))


def _latent_sites(model, data: SparcData, model_kw: dict) -> list[str]:
    """The names of ``model``'s latent sample sites (traced abstractly: nothing is computed)."""

    def latent():
        tr = numpyro.handlers.trace(numpyro.handlers.seed(model, jax.random.PRNGKey(0))).get_trace(data, **model_kw)
        return {k: v["value"] for k, v in tr.items() if v["type"] == "sample" and not v["is_observed"]}

    return list(jax.eval_shape(latent))


def laplace_inverse_mass(model, data: SparcData, values: dict, decoupled=DECOUPLED, **model_kw) -> np.ndarray:
    """A dense inverse mass matrix for NUTS from the Hessian H of the potential (-ln p) at ``values``
    (site -> constrained value) in NumPyro's unconstrained coordinates, flattened in its order (sites
    sorted by name): the rows and columns of ``decoupled`` replaced by a unit diagonal, eigenvalues
    mirrored (|lambda|) and raised to ``CURVATURE_FLOOR``, then inverted. Near a mode this is the
    Laplace covariance, which removes the nuisance parameters' correlations (with each other in a
    galaxy and with log10_A) that a diagonal mass matrix leaves."""
    flat, unravel, potential = _unconstrained(model, data, values, model_kw)
    H = np.array(jax.jit(jax.hessian(potential))(flat))  # jitted: 3 s, not 25 s op by op
    start = 0
    for name, z in unravel(flat).items():  # ravel_pytree's order (sites sorted by name)
        size = int(np.size(z))
        if name in decoupled:
            H[start : start + size, :] = H[:, start : start + size] = 0.0
            H[start : start + size, start : start + size] = np.eye(size)
        start += size
    lam, V = np.linalg.eigh(0.5 * (H + H.T))
    return (V / np.maximum(np.abs(lam), CURVATURE_FLOOR)) @ V.T


def map_values(model, data: SparcData, start: dict, **model_kw) -> dict:
    """The maximum of ln p (site -> constrained value) reached from ``start`` by L-BFGS (scipy) on
    NumPyro's unconstrained coordinates, with JAX's exact gradient. A local optimum: the start matters."""
    from scipy.optimize import minimize  # only here: one optimisation per corner-free start

    flat, unravel, potential = _unconstrained(model, data, start, model_kw)
    vg = jax.jit(jax.value_and_grad(potential))

    def fun(v):
        f, g = vg(jnp.asarray(v))
        return float(f), np.asarray(g, float)

    opt = minimize(fun, np.asarray(flat, float), jac=True, method="L-BFGS-B", options={"maxiter": 5000})
    return jax.jit(lambda z: constrain_fn(model, (data,), model_kw, z))(unravel(jnp.asarray(opt.x)))  # one compile


# --------------------------------------------------------------------------- sampling
def run_nuts(model, data: SparcData, opts: PosteriorOptions, init_values: dict | None = None, dense=(),
             inverse_mass=None, **model_kw):  # fmt: skip
    """Sample ``model`` with NUTS: ``opts.chains`` chains of ``opts.warmup`` + ``opts.samples`` iterations,
    from dispersed starts (``init_to_uniform(opts.init_radius)``; ``init_values``: start every chain there
    instead). Mass matrix: diagonal and adapted; ``dense``: sites given one adapted dense block;
    ``inverse_mass``: a fixed dense inverse mass matrix over every unconstrained coordinate
    (``laplace_inverse_mass``), not adapted (only the step size is). Chains run in parallel when there
    are as many host devices as chains, else in sequence.

    Returns {"samples": site -> array (chains, samples[, ...]), "diverging": (chains, samples) bool,
    "num_steps": (chains, samples) leapfrog steps, "seconds" (wall time of the sampling, compilation
    included), "chain_method"}."""
    init = init_to_value(values=init_values) if init_values else init_to_uniform(radius=opts.init_radius)
    if inverse_mass is not None:
        kernel = NUTS(model, target_accept_prob=opts.target_accept, max_tree_depth=opts.max_tree_depth,
                      init_strategy=init, dense_mass=True, inverse_mass_matrix=jnp.asarray(inverse_mass),
                      adapt_mass_matrix=False)  # fmt: skip
    else:
        kernel = NUTS(model, target_accept_prob=opts.target_accept, max_tree_depth=opts.max_tree_depth,
                      init_strategy=init, dense_mass=[tuple(dense)] if dense else False)  # fmt: skip
    method = "parallel" if jax.local_device_count() >= opts.chains else "sequential"
    mcmc = MCMC(kernel, num_warmup=opts.warmup, num_samples=opts.samples, num_chains=opts.chains,
                chain_method=method, progress_bar=False)  # fmt: skip
    t0 = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(opts.seed), data, extra_fields=("diverging", "num_steps"), **model_kw)
    jax.block_until_ready(mcmc.get_samples(group_by_chain=True))  # run() returns before the chains finish
    seconds = time.perf_counter() - t0
    s = mcmc.get_samples(group_by_chain=True)
    extra = mcmc.get_extra_fields(group_by_chain=True)
    return {
        "samples": {k: np.asarray(v) for k, v in s.items()},
        "diverging": np.asarray(extra["diverging"]),
        "num_steps": np.asarray(extra["num_steps"]),
        "seconds": seconds,
        "chain_method": method,
    }


def _thinned(run: dict, thin: int) -> dict:
    """Every thin-th draw of every chain, flattened chain-major: site -> (n_draws, ...) arrays."""
    return {k: v[:, ::thin].reshape((-1, *v.shape[2:])) for k, v in run["samples"].items()}


def _fit_quantities(data: SparcData, draws: dict, model: str, n: float):
    """Per draw: chi2 (data), objective = chi2 + sum z^2 (``jointfit``'s objective), and for CMSI the
    median and maximum of F - 1 over the points. Returns a dict of (n_draws,) arrays."""

    def one(d):
        z = {s: d[s] if s in d else jnp.zeros(0) for s in _NUISANCE_SITES}
        nu = nuisance_values(data, z)
        if model == "cmsi":
            g = {k: d[k] for k in CMSI_PRIORS} | {"n": n}
            v, k = cmsi_speed(data, g, nu)
            a = jnp.abs(_scaled(data, nu)[1])
            boost = jnp.where(a > 0, v**2 / jnp.where(a > 0, a, 1.0) - 1.0, 0.0)
        else:
            v, k = rar_speed(data, d["log10_g_dagger"], nu)
            boost = jnp.zeros_like(v)
        chi2 = jnp.sum(((data.v_obs - v / k) / data.e_v_obs) ** 2)
        zz = sum(jnp.sum(z[s] ** 2) for s in _NUISANCE_SITES)
        return chi2, chi2 + zz, jnp.median(boost), jnp.max(boost)

    chi2, obj, med, mx = jax.jit(jax.vmap(one))({k: jnp.asarray(v) for k, v in draws.items()})
    out = {"chi2": np.asarray(chi2), "objective": np.asarray(obj)}
    return out | ({"median_boost": np.asarray(med), "max_boost": np.asarray(mx)} if model == "cmsi" else {})


def summary(run: dict, boxes: dict) -> dict:
    """Diagnostics and percentiles of the globals ``boxes`` (name -> prior (low, high)) of a ``run_nuts``
    result: per parameter the pooled 16/50/84 percentiles, each chain's median, split R-hat
    (rank-normalised) and bulk/tail ESS (arviz), and the fractions of draws within 1 % of the box width
    of the low and high edges; overall n_divergent, n_samples, chains, seconds, the mean number of
    leapfrog steps and the fraction of iterations that hit the maximal tree depth; all_parameters: the
    largest R-hat and smallest bulk ESS over every sampled coordinate (globals and nuisance)."""
    import arviz as az  # heavy (xarray); only the diagnostics need it

    post = {k: run["samples"][k] for k in boxes}
    idata = az.from_dict(posterior=post)
    rhat, bulk, tail = az.rhat(idata), az.ess(idata, method="bulk"), az.ess(idata, method="tail")
    params = {}
    for k, (lo, hi) in boxes.items():
        x = post[k]
        w = _EDGE * (hi - lo)
        params[k] = {
            "p16_50_84": [float(q) for q in np.percentile(x, [16, 50, 84])],
            "chain_medians": [float(q) for q in np.median(x, axis=1)],
            "r_hat": float(rhat[k]),
            "ess_bulk": float(bulk[k]),
            "ess_tail": float(tail[k]),
            "prior": [lo, hi],
            "frac_at_low_edge": float(np.mean(x <= lo + w)),
            "frac_at_high_edge": float(np.mean(x >= hi - w)),
        }
    steps = run["num_steps"]
    every = az.from_dict(posterior=run["samples"])  # the globals and every nuisance coordinate
    rh, es = az.rhat(every), az.ess(every, method="bulk")
    return {
        "params": params,
        "all_parameters": {
            "n": int(sum(np.prod(v.shape[2:], dtype=int) for v in run["samples"].values())),
            "r_hat_max": max(float(np.nanmax(rh[v].values)) for v in rh.data_vars),
            "ess_bulk_min": min(float(np.nanmin(es[v].values)) for v in es.data_vars),
        },  # fmt: skip
        "n_divergent": int(run["diverging"].sum()),
        "n_samples": int(steps.size),
        "chains": int(steps.shape[0]),
        "seconds": float(run["seconds"]),
        "chain_method": run["chain_method"],
        "mean_leapfrog_steps": float(steps.mean()),
    }


def samples_table(draws: dict, fit: dict, names) -> str:
    """CSV text of the thinned draws: columns chain-major draw index, ``names`` (the globals), then the
    per-draw quantities of ``fit`` (chi2, objective, F - 1 median/max)."""
    cols = {"draw": np.arange(len(next(iter(draws.values()))))} | {k: draws[k] for k in names} | fit
    head = ",".join(cols)
    rows = np.column_stack([np.asarray(v, float) for v in cols.values()])
    return head + "\n" + "\n".join(",".join(f"{x:.10g}" for x in r) for r in rows) + "\n"


def _sample_model(which: str, data: SparcData, opts: PosteriorOptions, init_values: dict | None = None,
                  inverse_mass=None):  # fmt: skip
    """One posterior (``which``: "cmsi"/"cmsi_gas" (CMSI on ``data``) or "rar"): NUTS (from
    ``init_values`` if given, else dispersed starts), the summary, the thinned draws as CSV."""
    model = "rar" if which == "rar" else "cmsi"
    if model == "cmsi":
        boxes = {k: opts.prior(k) for k in CMSI_PRIORS}
        run = run_nuts(cmsi_model, data, opts, init_values=init_values, inverse_mass=inverse_mass, priors=boxes,
                       n=opts.n)  # fmt: skip
    else:
        boxes = {"log10_g_dagger": tuple(opts.rar_prior)}
        run = run_nuts(rar_model, data, opts, init_values=init_values, inverse_mass=inverse_mass,
                       prior=tuple(opts.rar_prior))  # fmt: skip
    out = summary(run, boxes)
    r = opts.init_radius
    where = "the corner MAP" if model == "cmsi" else "the MAP"
    out["start"] = where if init_values else f"dispersed (uniform in (-{r:g}, {r:g}), unconstrained)"
    draws = _thinned(run, opts.thin)
    fit = _fit_quantities(data, draws, model, opts.n)
    per_chain = {k: v.reshape(opts.chains, -1) for k, v in fit.items()}
    out["fit"] = {k: {"p16_50_84": [float(q) for q in np.percentile(v, [16, 50, 84])],
                      "chain_medians": [float(q) for q in np.median(per_chain[k], axis=1)],
                      "r_hat": _rhat(per_chain[k])}
                  for k, v in fit.items()}  # fmt: skip
    if model == "cmsi":
        chi0 = draws["log10_A"] + draws["eps"] * math.log10(jointfit.SIGMA_REF_REPORT)
        out["derived"] = {"log10_chi0_at_sigma_ref_50": [float(q) for q in np.percentile(chi0, [16, 50, 84])]}
    else:
        g = 10.0 ** (draws["log10_g_dagger"] + 10.0)
        out["derived"] = {"g_dagger_1e10": [float(q) for q in np.percentile(g, [16, 50, 84])]}
    out["n_stored_draws"] = int(len(fit["chi2"]))
    return out, samples_table(draws, fit, list(boxes))


def _rhat(x: np.ndarray) -> float:
    """Rank-normalised split R-hat (arviz) of a derived quantity, x of shape (chains, draws)."""
    import arviz as az  # heavy (xarray); only the diagnostics need it

    return float(az.rhat(az.convert_to_dataset(x[None] if x.ndim == 1 else x))["x"])


def _compute(opts: PosteriorOptions, options: SparcOptions):
    """The stage's computation: data, the Newton-only joint MAP (the reference objective), the posteriors
    of ``RUNS``. "cmsi_gas": Sigma = ``GAS_SIGMA``, chains started at that problem's corner MAP."""
    t0 = time.perf_counter()
    blocks = jointfit.sparc_blocks(None, options, "full")
    data = sparc_data(blocks)
    newton = jointfit.joint_map(blocks, model="newton", laplace=False)
    result = {"n_galaxies": data.n_galaxies, "n_points": data.n_points, "n_nuisance": data.n_nuisance,
              "newton_objective": newton.objective, "newton_chi2": newton.chi2, "options": opts.as_dict()}  # fmt: skip
    tables = {}
    result["cmsi"], tables["cmsi_samples.csv"] = _sample_model("cmsi", data, opts)
    lo, hi = opts.rar_prior  # the RAR from its MAP, reached from the published g_dagger and Newton's nuisance
    g0 = min(max(math.log10(rar.G_DAGGER_SI), lo + _EDGE * (hi - lo)), hi - _EDGE * (hi - lo))
    start = map_values(rar_model, data, {"log10_g_dagger": g0} | nuisance_z(data, newton, blocks), prior=(lo, hi))
    minv = laplace_inverse_mass(rar_model, data, start, decoupled=(), prior=(lo, hi))
    result["rar"], tables["rar_samples.csv"] = _sample_model("rar", data, opts, start, minv)
    result["rar"]["mass_matrix"] = "Laplace (dense, fixed)"
    result["rar"]["map_log10_g_dagger"] = float(start["log10_g_dagger"])
    gas = dataclasses.replace(options, sigma_definition=GAS_SIGMA)
    gas_blocks = jointfit.sparc_blocks(None, gas, "full")
    gas_data = sparc_data(gas_blocks)
    boxes = {k: opts.prior(k) for k in CMSI_PRIORS}
    init, corner = corner_start(gas_blocks, gas_data, gas, boxes, newton)
    minv = laplace_inverse_mass(cmsi_model, gas_data, init, priors=boxes, n=opts.n)
    result["cmsi_gas"], tables["cmsi_gas_samples.csv"] = _sample_model("cmsi_gas", gas_data, opts, init, minv)
    result["cmsi_gas"]["mass_matrix"] = f"Laplace (dense, fixed; {', '.join(DECOUPLED)} decoupled)"
    cm = {"objective": corner.objective, "chi2": corner.chi2, "log10_A": corner.globals["log10_A"]}
    result["cmsi_gas"]["corner_map"] = cm | {"sigma_definition": GAS_SIGMA}
    result["seconds"] = time.perf_counter() - t0
    return result, tables


def posterior_stage(opts: PosteriorOptions = PosteriorOptions(), options: SparcOptions | None = None,
                    force: bool = False) -> tuple[dict, bool, str]:  # fmt: skip
    """The cached stage "posterior" (``stages.run_stage``): the CMSI and RAR posteriors on SPARC with
    ``opts`` and the modelling ``options`` (default ``SparcOptions()``). Returns (result, was_cached, key);
    the thinned draws are the stage's tables cmsi_samples.csv and rar_samples.csv (``load_samples``)."""
    options = SparcOptions() if options is None else options
    inputs = stage_inputs(opts, options)
    res, hit = stages.run_stage(STAGE, inputs, lambda: _compute(opts, options), MODULES, DATA_FILES, force=force)
    return res, hit, stages.stage_key(STAGE, inputs, MODULES, DATA_FILES)


def load_samples(key: str, which: str = "cmsi") -> np.ndarray:
    """The thinned draws of the stage entry ``key`` (``which``: one of ``RUNS``) as a numpy record array."""
    if which not in RUNS:
        raise InputError(f"which = {which!r}: one of {RUNS}")
    return np.genfromtxt(stages.table_file(STAGE, key, f"{which}_samples.csv"), delimiter=",", names=True)


def load_posterior(opts: PosteriorOptions = PosteriorOptions(), options: SparcOptions | None = None):
    """(result, {run: draws} for each of ``RUNS``, was_cached): the stage, computed if missing (minutes)."""
    res, hit, key = posterior_stage(opts, options)
    return res, {w: load_samples(key, w) for w in RUNS}, hit
