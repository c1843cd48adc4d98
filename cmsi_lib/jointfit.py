"""The joint maximum a posteriori (MAP) fit: CMSI's identifiable global parameters together with every
galaxy's nuisance parameters, as one sparse least-squares problem.

In F the parameters enter only through five combinations (the assembly chapter derives this in SymPy):

    F - 1 = A (v_c/c)^2 Sigma^eps (v_c/sigma_v)^(gamma alpha) f(R/ell0; n),   A = chi0 Sigma_ref^(-eps)

with Sigma in Msun/pc^2 (so A carries the unit (Msun/pc^2)^(-eps)). The global parameters of the fit
(``GLOBAL_NAMES``) are therefore

    log10_A       log10 of A (dex); chi0 at a chosen Sigma_ref is derived: chi0 = A Sigma_ref^eps
    gamma_alpha   the coherence exponent gamma alpha (>= 0); gamma and alpha apart are not identifiable
    ell0          coherence length [kpc] (fitted as log10 ell0: positive, no box)
    eps           source-density exponent (>= 0, the domain of ``Params``)
    n             shape index of f (fitted as log10 n; fixed at 2 unless freed)

Each SPARC galaxy brings its nuisance parameters with the priors of Li, Lelli, McGaugh & Schombert 2018
(``fitting.UPS_DISK_PRIOR``, ``fitting.UPS_BUL_PRIOR``; D ~ N(D_SPARC, e_D); Inc ~ N(Inc_SPARC, e_Inc)),
acting as in ``models.observables``. The residual vector stacks every galaxy's data residuals
(V_obs - V_model)/e_V and the prior pseudo-residuals, so the MAP is the least-squares minimum of

    objective = chi2 (data) + chi2_prior   (= -2 ln posterior + const).

There is no hard box: Ups and D are fitted as log10 (positive); Inc only needs sin(Inc) > 0
(``INC_BOUNDS``: no edge at 90 deg, where sin is flat, since the MAP lies in (0, 90] by symmetry);
gamma_alpha and eps >= 0 (the domain of ``Params``). Each galaxy's rows depend only on its own
nuisance parameters and the globals: the Jacobian's sparsity pattern (``JointProblem.pattern``).

Solvers (``joint_map(method=...)``). "newton" (default): damped Newton on a finite-difference Hessian
of the objective, built from each galaxy's share of the objective (the block structure makes it cost
129 residual evaluations), the nuisance of every galaxy first solved at the starting globals. It is
used because the residuals are large (Newton's chi2 is ~27 per point): Gauss-Newton methods, which
drop the second-order terms, then converge slowly. "scipy": ``scipy.optimize.least_squares`` (trf) with
``jac_sparsity``, kept for comparison (benchmarks/jointfit.md).

The covariance (J^T J)^-1 at the MAP, restricted to the globals, is the Laplace approximation of their
posterior with every nuisance parameter marginalised; its percentiles are labelled "laplace" wherever
they are reported, and are meaningless for a parameter on a bound.

A Milky Way curve enters as a block with fixed baryons (McMillan 2017) and no nuisance parameter
(``milky_way_block``). Units: R kpc, speeds km/s, Sigma Msun/pc^2, D Mpc, Inc deg.

Independent fits (several starts, a ladder of amplitudes, leave-one-out rows) run on ``WORKERS`` forked
processes (``joint_maps``, ``map_in_processes``; one machine's cores: each fit takes seconds, too short
for a Dask cluster to pay), one after another where forking is unsafe (JAX imported, a daemonic
process). Every fit computes exactly what it computes alone, so the numbers do not depend on it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import multiprocessing
import os
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from scipy import linalg, optimize, sparse
from threadpoolctl import threadpool_limits

from . import kernel, models, sparc
from .curves import signed_sqrt, signed_square
from .errors import InputError, NoSelfConsistentSolution
from .fitting import NUISANCE_MODES, UPS_BUL_PRIOR, UPS_DISK_PRIOR
from .milky_way_baryons import baryon_grid
from .milky_way_data import load_eilers
from .milky_way_fit import inputs_at
from .options import SparcOptions
from .params import Params

__all__ = [
    "GLOBAL_NAMES",
    "DEFAULT_FREE",
    "NUISANCE_NAMES",
    "INC_BOUNDS",
    "BOUND_TOL",
    "STARTS",
    "Block",
    "sparc_blocks",
    "curve_block",
    "milky_way_block",
    "identifiable",
    "JointProblem",
    "JointFit",
    "joint_map",
    "joint_maps",
    "map_in_processes",
    "parallel_ok",
    "WORKERS",
    "multi_start",
    "distinct_optima",
    "joint_fit_record",
]

#: the identifiable global parameters, in this order
GLOBAL_NAMES = ("log10_A", "gamma_alpha", "ell0", "eps", "n")
#: the globals fitted by default (n stays at the seed's 2)
DEFAULT_FREE = ("log10_A", "gamma_alpha", "ell0", "eps")
#: the nuisance parameters of a SPARC galaxy
NUISANCE_NAMES = ("ups_disk", "ups_bul", "D", "inc")
#: inclination bounds [deg]: sin(Inc) > 0 (the lower edge as in ``fitting``). No edge at 90 deg: the model
#: depends on sin(Inc), symmetric about 90, and the prior centre is <= 90, so 180 - Inc is always better
#: than an Inc > 90 and the MAP lies in (0, 90]; an edge there would stall the optimiser where sin is flat
INC_BOUNDS = (1.0, 179.0)
#: a parameter within this distance (fit space) of a bound is reported as on it
BOUND_TOL = 1e-6
#: ell0 beyond this factor of every radius of the data (or below every radius over it): f is in a limit
LIMIT_FACTOR = 1e3
#: Sigma_ref [Msun/pc^2] at which chi0 is derived from A (the seed's)
SIGMA_REF_REPORT = 50.0
#: the starting points of ``multi_start``: the seed's defaults and its shape at amplitudes 1e2, 1e4 and
#: 1e6 times larger (F - 1 spans ~1e-6 to ~1 on SPARC across that ladder), a weak one, an intermediate
#: shape, and "reversal", the fixed-nuisance optimum of issue 13 (eps = 0, alpha = 0, ell0 = 1000 kpc)
STARTS = {
    "seed": Params(),
    "seed_x1e2": Params(chi0=8e4),
    "seed_x1e4": Params(chi0=8e6),
    "seed_x1e6": Params(chi0=8e8),
    "weak": Params(chi0=1.0),
    "intermediate": Params(chi0=1e4, eps=0.25, alpha=0.3, ell0=10.0),
    "reversal": Params(chi0=1.8e6, eps=0.0, alpha=0.0, ell0=1000.0),
}
_LOG_GLOBALS = ("ell0", "n")  # fitted as log10
#: the amplitude is fitted at a pivot: a = log10_A + eps log10(PIVOT_SIGMA) + gamma_alpha log10(PIVOT_COHERENCE),
#: log10 of (F - 1)/((v_c/c)^2 f) at Sigma = 50 Msun/pc^2 and v_c/sigma_v = 10, typical of the data; it
#: takes most of the correlation of log10_A with eps and gamma_alpha out of the fit's coordinates
PIVOT_SIGMA, PIVOT_COHERENCE = 50.0, 10.0
_PIVOT = (math.log10(PIVOT_SIGMA), math.log10(PIVOT_COHERENCE))
_LOWER = {"gamma_alpha": 0.0, "eps": 0.0}
_PENALTY = 1e4  # data residual where the model has no value (as in ``fitting``)
#: BLAS threads in a joint fit: its dense matrices are at most a few hundred square, where one thread is
#: as fast as several on an idle machine and several times faster on a busy one (the threads of
#: OpenBLAS spin against the other processes; benchmarks/jointfit.md)
BLAS_THREADS = 1


def identifiable(p: Params) -> dict[str, float]:
    """The identifiable combinations of a ``Params``: log10_A = log10(chi0 Sigma_ref^-eps) (chi0 > 0),
    gamma_alpha = gamma alpha, and ell0 [kpc], eps, n as they are."""
    if p.chi0 <= 0:
        raise InputError(f"chi0 = {p.chi0!r}: log10_A needs chi0 > 0 (use model='newton' for F = 1)")
    return {
        "log10_A": math.log10(p.chi0) - p.eps * math.log10(p.sigma_ref),
        "gamma_alpha": p.gamma * p.alpha,
        "ell0": p.ell0,
        "eps": p.eps,
        "n": p.n,
    }


def _kernel_params(g: Mapping[str, float]) -> Params:
    """A ``Params`` giving the same F as the identifiable values ``g`` (Sigma_ref = 1, alpha = 1)."""
    return _params_at(g["log10_A"], g["eps"], g["gamma_alpha"], g["ell0"], g["n"])


@functools.lru_cache(maxsize=256)
def _params_at(log10_A: float, eps: float, gamma_alpha: float, ell0: float, n: float) -> Params:
    # cached: the nuisance solves evaluate F 10^4-10^5 times at the same globals (Params is frozen)
    return Params(chi0=10.0**log10_A, sigma_ref=1.0, eps=eps, gamma=gamma_alpha, alpha=1.0, ell0=ell0, n=n)


# --------------------------------------------------------------------------- data blocks
@dataclasses.dataclass(frozen=True)
class Block:
    """One galaxy's (or curve's) fitted points and what the model needs there.

    R [kpc] at the reference distance D0 [Mpc]; v_obs, e_v_obs [km/s] at the reference inclination
    inc0 [deg]; g2, d2, b2 [(km/s)^2]: signed squares of the gas, disk (Ups = 1) and bulge (Ups = 1)
    speeds, so v_bar^2 = (D/D0) (g2 + Ups_d d2 + Ups_b b2); Sigma = S0 + Ups_d Sd + Ups_b Sb
    [Msun/pc^2]; sigma_v [km/s]; e_D [Mpc], e_inc [deg]: prior widths; free: the nuisance parameters
    fitted (a subset of ``NUISANCE_NAMES``; none for a fixed-baryon curve).
    """

    name: str
    R: np.ndarray
    v_obs: np.ndarray
    e_v_obs: np.ndarray
    g2: np.ndarray
    d2: np.ndarray
    b2: np.ndarray
    S0: np.ndarray
    Sd: np.ndarray
    Sb: np.ndarray
    sigma_v: np.ndarray
    D0: float = 1.0
    e_D: float = 0.0
    inc0: float = 90.0
    e_inc: float = 0.0
    free: tuple[str, ...] = ()

    @property
    def n_points(self) -> int:
        return int(self.R.size)


def _free_nuisance(g, nuisance: str) -> tuple[str, ...]:
    """The nuisance parameters ``fitting.fit_galaxy`` frees for galaxy g in mode ``nuisance``."""
    out = []
    if nuisance in ("full", "ups"):
        out += ["ups_disk"] if np.any(g.v_disk != 0) else []
        out += ["ups_bul"] if np.any(g.v_bul != 0) else []
    if nuisance == "full":
        out += ["D"] if g.e_D > 0 else []
        out += ["inc"] if g.e_inc > 0 else []
    return tuple(out)


def sparc_blocks(sample=None, options: SparcOptions | None = None, nuisance: str = "full") -> list[Block]:
    """One ``Block`` per galaxy of ``sample`` (name -> (Galaxy, mask), as ``sparc.apply_cuts`` returns;
    default: SPARC after the standard cuts), with sigma_v and the Sigma decomposition of
    ``models.CMSI(options=options).inputs`` and the nuisance parameters of ``fitting`` in mode
    ``nuisance`` ("full", "ups" or "none")."""
    if nuisance not in NUISANCE_MODES:
        raise InputError(f"nuisance = {nuisance!r} is not one of {NUISANCE_MODES}")
    options = SparcOptions() if options is None else options
    if sample is None:
        sample, _counts = sparc.apply_cuts(sparc.load_galaxies(), sparc.QualityCuts())
    cmsi = models.CMSI(options=options)
    blocks = []
    for name, item in sample.items():
        g, m = item if isinstance(item, tuple) else (item, np.ones(item.n_points, bool))
        m = np.asarray(m, bool)
        if not m.any():
            continue
        inp = cmsi.inputs(g)
        blocks.append(Block(
            name, g.R[m], g.v_obs[m], g.e_v_obs[m], signed_square(g.v_gas[m]), signed_square(g.v_disk[m]),
            signed_square(g.v_bul[m]), inp.S0[m], inp.Sd[m], inp.Sb[m], inp.sigma_v[m], g.D, g.e_D, g.inc,
            g.e_inc, _free_nuisance(g, nuisance),
        ))  # fmt: skip
    return blocks


def curve_block(name: str, R, v_obs, e_v_obs, v_bar, Sigma, sigma_v) -> Block:
    """A curve with fixed baryons and no nuisance parameter: R [kpc], v_obs, e_v_obs, signed v_bar,
    sigma_v [km/s], Sigma [Msun/pc^2] (arrays of one length)."""
    arrs = [np.asarray(a, float) for a in (R, v_obs, e_v_obs, v_bar, Sigma, sigma_v)]
    if len({a.shape for a in arrs}) != 1 or arrs[0].ndim != 1:
        raise InputError(f"curve {name}: R, v_obs, e_v_obs, v_bar, Sigma, sigma_v must be 1-D of one length")
    if np.any(arrs[2] <= 0):
        raise InputError(f"curve {name}: e_v_obs must be > 0 km/s")
    R, vo, e, vb, S, sv = arrs
    z = np.zeros_like(R)
    return Block(name, R, vo, e, signed_square(vb), z, z, S, z, z, sv)


def milky_way_block(errors: str = "symmetric", sigma_v="stellar-radial", sigma_components: str = "baryons"):
    """The Milky Way as a ``Block``: Eilers et al. 2019 (``errors``: how the error columns are read,
    symmetric errors used) against McMillan 2017's baryons, sigma_v and Sigma from
    ``milky_way_fit.inputs_at`` (defaults: the Milky Way chapter's). No nuisance parameter."""
    curve = load_eilers(errors=errors)
    inp = inputs_at(curve.R_kpc, baryon_grid(), sigma_v=sigma_v, sigma_components=sigma_components)
    return curve_block("Milky Way", curve.R_kpc, curve.v_kms, curve.err_kms, inp.v_bar, inp.Sigma, inp.sigma_v)


# --------------------------------------------------------------------------- the problem
def _check_choices(free, model: str, vc_mode: str) -> tuple[str, ...]:
    free = tuple(free)
    bad = [f for f in free if f not in GLOBAL_NAMES]
    if bad or len(set(free)) != len(free):
        raise InputError(f"free = {free!r}: each must be one of {GLOBAL_NAMES}, given once")
    if model not in ("cmsi", "newton"):
        raise InputError(f"model = {model!r} is not one of ('cmsi', 'newton')")
    if model == "newton" and free:
        raise InputError("model 'newton' (F = 1) has no global parameter: pass free=()")
    if vc_mode not in kernel.VC_MODES:
        raise InputError(f"vc_mode = {vc_mode!r} is not one of {kernel.VC_MODES}")
    return free


class JointProblem:
    """The stacked residual vector of ``blocks`` over x = [free globals (fit space), nuisance (fit space)].

    Fit space: log10_A, gamma_alpha, eps as they are; log10 ell0, log10 n; log10 Ups_disk, log10 Ups_bul,
    log10 D; Inc [deg]. ``names`` labels the columns ("NGC3198:inc" for a nuisance parameter);
    ``lb``/``ub`` are the bounds; ``pattern`` the Jacobian's sparsity (rows: data points, then one prior
    row per nuisance column). ``fixed``: the globals not fitted (a ``Params``; its identifiable values).
    """

    def __init__(self, blocks: Sequence[Block], free=DEFAULT_FREE, fixed: Params = Params(), model: str = "cmsi",
                 vc_mode: str = "baryonic"):  # fmt: skip
        self.free, self.model, self.vc_mode = _check_choices(free, model, vc_mode), model, vc_mode
        self._fixed_params = fixed
        if not blocks:
            raise InputError("joint fit: no galaxy (empty list of blocks)")
        self.blocks = list(blocks)
        self.fixed = identifiable(dataclasses.replace(fixed, chi0=max(fixed.chi0, 1e-300)))
        sizes = np.array([b.n_points for b in self.blocks])
        self.gi = np.repeat(np.arange(len(self.blocks)), sizes)
        for f in ("R", "v_obs", "e_v_obs", "g2", "d2", "b2", "S0", "Sd", "Sb", "sigma_v"):
            setattr(self, f, np.concatenate([getattr(b, f) for b in self.blocks]))
        self.D0 = np.array([b.D0 for b in self.blocks])
        self.inc0 = np.array([b.inc0 for b in self.blocks])
        self.sin0 = np.sin(np.radians(self.inc0))
        self._sigma_v_ok = bool(np.all(np.isfinite(self.sigma_v)) and np.all(self.sigma_v > 0))
        self._layout()

    # ----------------------------------------------------------------- layout
    def _layout(self):
        ng = len(self.free)
        self.names = list(self.free)
        lb = [_LOWER.get(f, -np.inf) for f in self.free]
        ub = [np.inf] * ng
        self.col = {p: np.full(len(self.blocks), -1) for p in NUISANCE_NAMES}
        priors = []  # (centre, width, kind, lower, upper) of each nuisance column; kind 0 log10, 1 D, 2 inc
        for i, b in enumerate(self.blocks):
            for p in b.free:
                self.col[p][i] = len(self.names)
                self.names.append(f"{b.name}:{p}")
                if p in ("ups_disk", "ups_bul"):
                    med, dex = UPS_DISK_PRIOR if p == "ups_disk" else UPS_BUL_PRIOR
                    priors.append((math.log10(med), dex, 0, -np.inf, np.inf))
                elif p == "D":
                    priors.append((b.D0, b.e_D, 1, -np.inf, np.inf))
                else:
                    priors.append((b.inc0, b.e_inc, 2, *INC_BOUNDS))
        centre, width, kind, lo, hi = (list(c) for c in zip(*priors, strict=True)) if priors else ([],) * 5
        lb, ub = lb + lo, ub + hi
        self.lb, self.ub = np.array(lb, float), np.array(ub, float)
        self.prior_centre, self.prior_width = np.array(centre, float), np.array(width, float)
        self.prior_kind = np.array(kind, int)
        self.n_global, self.n_data = ng, int(self.gi.size)
        self.slots = np.stack([self.col[p] for p in NUISANCE_NAMES], axis=1)  # (n_blocks, 4): column or -1
        self.owner = np.concatenate([np.full(len(b.free), i) for i, b in enumerate(self.blocks)]).astype(int)
        fixed = {"ups_disk": np.full(len(self.blocks), UPS_DISK_PRIOR[0]), "D": self.D0,
                 "ups_bul": np.full(len(self.blocks), UPS_BUL_PRIOR[0]), "inc": self.inc0}  # fmt: skip
        # per nuisance parameter: its values where fixed, the blocks where free, and their columns
        self._nuisance_slots = {p: (fixed[p], c >= 0, c[c >= 0]) for p, c in self.col.items()}
        self.pattern, self.groups = self._sparsity()
        self._csc, self._entry_cache = self.pattern.tocsc(), {}
        self.nuisance_groups = self.groups[ng:]

    def _sparsity(self):
        """The Jacobian's non-zero pattern (CSR of 0/1) and column groups with disjoint rows: each
        global alone; the k-th nuisance slot of every galaxy together."""
        nd, ng, nx = self.n_data, self.n_global, len(self.names)
        rows, cols = [], []
        if ng:
            rows.append(np.repeat(np.arange(nd), ng)), cols.append(np.tile(np.arange(ng), nd))
        groups = [[j] for j in range(ng)]
        for p in NUISANCE_NAMES:
            c = self.col[p][self.gi]
            on = c >= 0
            rows.append(np.flatnonzero(on)), cols.append(c[on])
            members = self.col[p][self.col[p] >= 0]
            if members.size:
                groups.append(list(members))
        prior_cols = np.arange(ng, nx)
        rows.append(nd + prior_cols - ng), cols.append(prior_cols)
        r, c = np.concatenate(rows), np.concatenate(cols)
        pat = sparse.csr_matrix((np.ones(r.size), (r, c)), shape=(nd + nx - ng, nx))
        return pat, groups

    def restrict(self, keep) -> tuple[JointProblem, np.ndarray]:
        """The same problem on the blocks where ``keep`` (one bool per block) holds, and the columns of
        this problem's x that it uses, in its order (the globals, then each kept block's nuisance).
        Every block's residuals depend on the globals and its own nuisance only, so the sub-problem's
        values are this problem's, bit for bit, on fewer points."""
        keep = np.asarray(keep, bool)
        sub = JointProblem([b for b, k in zip(self.blocks, keep, strict=True) if k], self.free, self._fixed_params,
                           self.model, self.vc_mode)  # fmt: skip
        cols = np.concatenate([np.arange(self.n_global), self.n_global + np.flatnonzero(keep[self.owner])])
        return sub, cols

    # ----------------------------------------------------------------- values
    def start(self, params: Params = Params()) -> np.ndarray:
        """x at the identifiable values of ``params`` (free globals) and the nuisance priors' centres."""
        g = identifiable(params)
        g["log10_A"] += g["eps"] * _PIVOT[0] + g["gamma_alpha"] * _PIVOT[1]  # the pivot amplitude
        x = [math.log10(g[f]) if f in _LOG_GLOBALS else g[f] for f in self.free]
        x += [min(max(c, lo), hi) if k == 2 else (math.log10(c) if k == 1 else c)
              for c, k, lo, hi in zip(self.prior_centre, self.prior_kind, self.lb[self.n_global:],
                                      self.ub[self.n_global:], strict=True)]  # fmt: skip
        return np.array(x, float)

    def globals_at(self, x) -> dict[str, float]:
        """All five identifiable globals (free ones from x, physical units: ell0 kpc)."""
        g = dict(self.fixed)
        for f, v in zip(self.free, x[: self.n_global], strict=False):
            g[f] = 10.0**v if f in _LOG_GLOBALS else float(v)
        if "log10_A" in self.free:  # x holds the pivot amplitude
            g["log10_A"] -= g["eps"] * _PIVOT[0] + g["gamma_alpha"] * _PIVOT[1]
        return g

    def to_reported(self) -> np.ndarray:
        """The linear map from the free globals' fit coordinates to (log10_A, gamma_alpha, log10 ell0,
        eps, log10 n) (only the pivot amplitude differs)."""
        T = np.eye(self.n_global)
        if "log10_A" in self.free:
            ia = self.free.index("log10_A")
            for f, k in (("eps", 0), ("gamma_alpha", 1)):
                if f in self.free:
                    T[ia, self.free.index(f)] = -_PIVOT[k]
        return T

    def nuisance_at(self, x) -> dict[str, np.ndarray]:
        """Per block: ups_disk, ups_bul [Msun/Lsun], D [Mpc], inc [deg] (fixed ones at the prior centres)."""
        with np.errstate(over="ignore"):
            return self._nuisance_at(x)

    def _nuisance_at(self, x) -> dict[str, np.ndarray]:
        out = {}
        for p, (fixed, on, cols) in self._nuisance_slots.items():
            out[p] = fixed.copy()
            out[p][on] = x[cols] if p == "inc" else 10.0 ** x[cols]
        return out

    def point_values(self, x):
        """(v_obs, e_v_obs, v_model [km/s], F - 1) at every data point with the nuisance of x applied.
        Raises NoSelfConsistentSolution / ParameterError where the model has no value."""
        with np.errstate(over="ignore", invalid="ignore"):
            return self._point_values(x)

    def _point_values(self, x, with_boost: bool = True):
        # point_values without its floating-point error state; with_boost False: F - 1 is None
        nu = self._nuisance_at(x)
        s = (nu["D"] / self.D0)[self.gi]
        k = (self.sin0 / np.sin(np.radians(nu["inc"])))[self.gi]
        ud, ub = nu["ups_disk"][self.gi], nu["ups_bul"][self.gi]
        vb2 = s * (self.g2 + ud * self.d2 + ub * self.b2)
        vo, e = self.v_obs * k, self.e_v_obs * k
        if self.model == "newton":
            return vo, e, signed_sqrt(vb2), (np.zeros_like(vb2) if with_boost else None)
        p = _kernel_params(self.globals_at(x))
        Sigma = np.maximum(self.S0 + ud * self.Sd + ub * self.Sb, 0.0)
        if self.vc_mode == "baryonic" and self._sigma_v_ok:
            v = self._baryonic_speed(self.R * s, np.sqrt(np.abs(vb2)), Sigma, p)
        else:
            v = kernel.circular_speed(self.R * s, signed_sqrt(vb2), self.sigma_v, Sigma, p, self.vc_mode,
                                      v_obs=vo if self.vc_mode == "observed" else None)  # fmt: skip
        boost = np.where(vb2 != 0, v**2 / np.where(vb2 != 0, np.abs(vb2), 1.0) - 1.0, 0.0) if with_boost else None
        return vo, e, np.where(vb2 < 0, -v, v), boost

    def _baryonic_speed(self, R, vb, Sigma, p: Params) -> np.ndarray:
        """``kernel.circular_speed`` in the "baryonic" mode, sqrt(F) |v_bar| [km/s] from vb = |v_bar|
        (= sqrt|v_bar^2|, bit for bit |signed_sqrt(v_bar^2)|), with the kernel's input checks done here
        once per array (R, v_bar, Sigma finite; R >= 0 and Sigma >= 0 hold by construction; sigma_v
        checked when the problem was built): the same numbers, and the same InputError where an input
        is not finite."""
        for name, a in (("v_bar", vb), ("Sigma", Sigma), ("R", R)):
            if not np.isfinite(a).all():
                raise InputError(f"{name} contains NaN or infinite values; it must be finite")
        return np.sqrt(1.0 + kernel.boost_unchecked(R, vb, self.sigma_v, Sigma, p)) * vb

    # The public residual functions set numpy's floating-point error state once per call (overflow
    # and invalid values are handled: a model without a value gives the penalty residual); the private
    # ones assume it set. Entering the state costs tens of microseconds, a tenth of an evaluation.
    def prior_residuals(self, x) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            return self._prior_residuals(np.asarray(x, float))

    def data_residuals(self, x) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            return self._data_residuals(np.asarray(x, float))

    def residuals(self, x) -> np.ndarray:
        """[data residuals (V_obs - V_model)/e_V, prior pseudo-residuals]."""
        x = np.asarray(x, float)
        with np.errstate(over="ignore", invalid="ignore"):
            return np.concatenate([self._data_residuals(x), self._prior_residuals(x)])

    def _prior_residuals(self, x) -> np.ndarray:
        xn = x[self.n_global :]
        val = np.where(self.prior_kind == 1, 10.0 ** np.where(self.prior_kind == 1, xn, 0.0), xn)
        return (val - self.prior_centre) / self.prior_width

    def _data_residuals(self, x) -> np.ndarray:
        try:
            vo, e, vm, _b = self._point_values(x, with_boost=False)
            r = (vo - vm) / e
        except (NoSelfConsistentSolution, InputError, FloatingPointError):  # InputError: non-finite inputs
            return np.full(self.n_data, _PENALTY)
        return np.where(np.isfinite(r), r, _PENALTY)

    def _entries(self, grp: tuple) -> tuple[np.ndarray, np.ndarray]:
        """The positions of the columns ``grp``'s stored entries in ``_csc``, and their count per column."""
        if grp not in self._entry_cache:
            ptr = self._csc.indptr
            pos = np.concatenate([np.arange(ptr[j], ptr[j + 1]) for j in grp])
            self._entry_cache[grp] = pos, np.array([ptr[j + 1] - ptr[j] for j in grp])
        return self._entry_cache[grp]

    def jacobian(self, x, rel_step: float = 1e-6, columns=None) -> sparse.csr_matrix:
        """Central-difference Jacobian on ``pattern`` (one-sided where a bound is within the step):
        2 residual evaluations per column group. columns: the groups to difference (default all; the
        other columns are 0)."""
        x = np.asarray(x, float)
        csc = self._csc
        vals = np.zeros(csc.nnz)
        for grp in self.groups if columns is None else columns:
            grp = np.asarray(grp)
            h = rel_step * np.maximum(1.0, np.abs(x[grp]))
            xp, xm = x.copy(), x.copy()
            xp[grp] = np.minimum(x[grp] + h, self.ub[grp])
            xm[grp] = np.maximum(x[grp] - h, self.lb[grp])
            dr = self.residuals(xp) - self.residuals(xm)
            # every stored entry of the group's columns: its row's difference over its column's step
            pos, counts = self._entries(tuple(grp))
            vals[pos] = dr[csc.indices[pos]] / np.repeat(xp[grp] - xm[grp], counts)
        return sparse.csc_matrix((vals, csc.indices, csc.indptr), shape=csc.shape).tocsr()


# --------------------------------------------------------------------------- the fit
@dataclasses.dataclass
class JointFit:
    """The joint MAP of a ``JointProblem`` (``joint_map``).

    values: the free globals at the MAP (log10_A [dex], gamma_alpha, ell0 [kpc], eps, n); globals: all
    five (fixed ones included); start: the identifiable values started from. chi2: data only;
    chi2_prior: the nuisance priors; objective = chi2 + chi2_prior. nuisance: galaxy -> {ups_disk,
    ups_bul [Msun/Lsun], D [Mpc], inc [deg]}. at_bound: the parameters (``names``) within ``BOUND_TOL``
    of a bound; in_limit: the globals the data cannot determine there (``_in_limit``), held like those
    on a bound in the Laplace approximation. covariance: the Laplace covariance (J^T J)^-1 of the free
    globals (log10_A, gamma_alpha, log10 ell0, eps, log10 n), nuisance marginalised; laplace: name ->
    (p16, p50, p84) in the units of ``values`` from it (Laplace approximation, not a sampled
    posterior); laplace_hessian_sigma: the standard deviations in those coordinates from 2 H^-1 instead
    (H: the full Hessian of the objective, which keeps the second-order terms J^T J drops: they matter
    for large residuals); derived: log10 chi0 at Sigma_ref = 50 Msun/pc^2 with its Laplace
    percentiles. max_boost, median_boost: F - 1 over the data
    points at the MAP. status > 0: converged (``message`` says how); nfev: residual evaluations.
    """

    model: str
    vc_mode: str
    method: str
    free: tuple
    start: dict
    values: dict
    globals: dict
    chi2: float
    chi2_prior: float
    n_points: int
    n_galaxies: int
    galaxies: list
    n_params: int
    nuisance: dict
    at_bound: list
    in_limit: list
    success: bool
    status: int
    message: str
    nfev: int
    seconds: float
    covariance: np.ndarray
    laplace: dict
    laplace_hessian_sigma: dict
    derived: dict
    max_boost: float
    median_boost: float
    x: np.ndarray = dataclasses.field(repr=False, default=None)

    @property
    def objective(self) -> float:
        """-2 ln(posterior) up to a constant: chi2 + chi2_prior."""
        return self.chi2 + self.chi2_prior

    @property
    def n_at_bound(self) -> int:
        return len(self.at_bound)


def _per_block_objective(prob: JointProblem, r: np.ndarray) -> np.ndarray:
    """Each block's share of the objective: its data residuals and its nuisance priors, squared."""
    nb = len(prob.blocks)
    out = np.bincount(prob.gi, r[: prob.n_data] ** 2, nb)
    return out + np.bincount(prob.owner, r[prob.n_data :] ** 2, nb)


#: _nuisance_newton goes on with the blocks still moving alone once they are at most this fraction
SHRINK = 0.5


def _nuisance_newton(prob: JointProblem, x: np.ndarray, tol: float, max_iter: int = 200, state=None):
    """Every block's nuisance parameters at fixed globals by damped Newton (``_hessian``, nuisance
    only) with one damping per block, all blocks in each residual evaluation: at fixed globals the
    blocks are independent, so each accepts or rejects its own step. A parameter on a bound whose
    gradient points outward is held. A block stops when an accepted step lowers its objective by less
    than ``tol`` times it, or no step does. Once at most ``SHRINK`` of the blocks are still moving, the
    iteration goes on with those alone (``JointProblem.restrict``: the same numbers, on fewer points;
    ``state``: their (objective, damping) carried over). Returns (x, nfev)."""
    ng, nb, idx = prob.n_global, len(prob.blocks), prob.slots  # idx: (n_blocks, 4) column or -1
    if len(prob.names) == ng:
        return x, 0
    on = idx >= 0
    cols = np.where(on, idx, ng)
    x = np.clip(np.asarray(x, float), prob.lb, prob.ub)
    if state is None:
        f, lam, nfev = _per_block_objective(prob, prob.residuals(x)), np.full(nb, 1e-3), 1
    else:
        (f, lam), nfev = (np.array(a, float) for a in state), 0
    live = np.ones(nb, bool)
    eye = np.eye(len(NUISANCE_NAMES))
    for it in range(max_iter):
        if not live.any():
            break
        if live.sum() <= SHRINK * nb:
            sub, sub_cols = prob.restrict(live)
            xs, n = _nuisance_newton(sub, x[sub_cols], tol, max_iter - it, (f[live], lam[live]))
            x[sub_cols] = xs
            return x, nfev + n
        _f, g, H = _hessian(prob, x, nuisance_only=True)
        nfev += 2 + 2 * len(prob.nuisance_groups) * (1 + len(prob.nuisance_groups))
        Hb, gb, xb = H[cols[:, :, None], cols[:, None, :]], g[cols], x[cols]
        hold = ~on | ((xb <= prob.lb[cols]) & (gb > 0)) | ((xb >= prob.ub[cols]) & (gb < 0))
        keep = ~hold[:, :, None] & ~hold[:, None, :]
        d = np.maximum(np.abs(np.diagonal(Hb, axis1=1, axis2=2)), 1e-300)
        tried = live.copy()
        while tried.any():
            A = np.where(keep, Hb, 0.0) + eye * np.where(hold, 1.0, lam[:, None] * d)[:, :, None]
            ok = np.all(np.linalg.eigvalsh(A) > 0, axis=1)
            lam[tried & ~ok] *= 4.0
            step = np.linalg.solve(np.where(ok[:, None, None], A, eye), np.where(hold, 0.0, -gb)[:, :, None])[:, :, 0]
            sel = on & (tried & ok)[:, None]
            x_new = x.copy()
            x_new[idx[sel]] = np.clip(xb[sel] + step[sel], prob.lb[idx[sel]], prob.ub[idx[sel]])
            nfev += 1
            f_new = _per_block_objective(prob, prob.residuals(x_new))
            better = tried & ok & (f_new < f)
            x[ng:] = np.where(better[prob.owner], x_new[ng:], x[ng:])
            gain = np.where(better, f - f_new, 0.0)
            f = np.where(better, f_new, f)
            lam[better] = np.maximum(lam[better] / 3.0, 1e-12)
            live &= ~(better & (gain <= tol * f))
            lam[tried & ok & ~better] *= 4.0
            live &= lam < 1e12
            tried &= ~better & live
    return x, nfev


def _directions(prob: JointProblem) -> list[np.ndarray]:
    """The columns moved together in the finite differences of ``_hessian``, as one column per block
    (-1: none): each global alone (the same column for every block), then the k-th nuisance slot of
    every block at once (blocks are independent in their nuisance parameters)."""
    nb = len(prob.blocks)
    out = [np.full(nb, j) for j in range(prob.n_global)]
    return out + [prob.slots[:, k] for k in range(len(NUISANCE_NAMES)) if (prob.slots[:, k] >= 0).any()]


def _hessian(prob: JointProblem, x: np.ndarray, rel_step: float = 1e-4, nuisance_only: bool = False):
    """Gradient and Hessian of the objective at x by central second differences of each block's
    objective (1 + 2 d^2 residual evaluations for d directions: 129 for 4 globals and 4 nuisance slots).
    The stencil is centred at x moved at least one step inside the bounds. The gradient is 2 J^T r with
    J from ``JointProblem.jacobian`` (2 more evaluations per column group). nuisance_only: leave the
    globals' rows and columns 0 (33 + 8 evaluations).
    Returns (objective, gradient, Hessian) with the Hessian dense (n_params square)."""
    h = rel_step * np.maximum(1.0, np.abs(x))
    c = np.clip(x, prob.lb + h, prob.ub - h)
    ng = prob.n_global
    dirs = _directions(prob)[ng if nuisance_only else 0 :]
    nd, ng = len(dirs), 0 if nuisance_only else ng
    steps = [np.where(d >= 0, h[np.maximum(d, 0)], 1.0) for d in dirs]  # per block

    moved = [np.unique(d[d >= 0]) for d in dirs]  # the columns each direction moves

    def fb(*moves):  # per-block objective at c + sum of sign * h along the given directions
        y = c.copy()
        for d, sign in moves:
            y[moved[d]] += sign * h[moved[d]]
        return _per_block_objective(prob, prob.residuals(y))

    f0 = fb()
    plus, minus = [fb((d, 1)) for d in range(nd)], [fb((d, -1)) for d in range(nd)]
    H = np.zeros((len(x), len(x)))

    def put(d, e, per_block):  # a per-block mixed second derivative along directions d, e
        if d < ng and e < ng:
            H[dirs[d][0], dirs[e][0]] = H[dirs[e][0], dirs[d][0]] = per_block.sum()
            return
        on = (dirs[d] >= 0) & (dirs[e] >= 0)
        H[dirs[d][on], dirs[e][on]] = H[dirs[e][on], dirs[d][on]] = per_block[on]

    for d in range(nd):
        put(d, d, (plus[d] - 2 * f0 + minus[d]) / steps[d] ** 2)
        for e in range(d):
            mixed = fb((d, 1), (e, 1)) - fb((d, 1), (e, -1)) - fb((d, -1), (e, 1)) + fb((d, -1), (e, -1))
            put(d, e, mixed / (4 * steps[d] * steps[e]))
    # the gradient from the Jacobian (steps of 1e-6): second differences need larger steps, whose
    # truncation error spoils first derivatives where the objective is stiff (e.g. v_bar^2 near 0)
    r = prob.residuals(x)
    cols = None if not nuisance_only else prob.nuisance_groups
    g = 2.0 * (prob.jacobian(x, columns=cols).T @ r)
    return float(r @ r), g, H


def _step_caps(prob: JointProblem) -> np.ndarray:
    """Largest change of each parameter in one Newton step (fit space): 1 for a global (1 dex for
    log10_A, ell0, n), 0.3 dex for Ups and D, 5 deg for Inc. Keeps a step inside the region where the
    quadratic model holds and makes a walk towards a limit at infinity (ell0 -> 0 or infinity) finite."""
    caps = np.full(len(prob.names), 0.3)
    caps[: prob.n_global] = 1.0
    for k in np.flatnonzero(prob.prior_kind == 2):
        caps[prob.n_global + k] = 5.0
    return caps


def _newton(prob: JointProblem, x0: np.ndarray, tol: float, max_iter: int, atol: float = 1e-4, trace=None):
    """Damped Newton on the objective with the finite-difference Hessian of ``_hessian``: steps solve
    (H + lam diag|H|) dx = -g, each component capped (``_step_caps``); lam is raised until the matrix
    is positive definite and the step lowers the objective, and adapted to the ratio of the actual to
    the predicted decrease. A parameter on a bound whose gradient points outward is held. Stops when two
    accepted steps in a row each lower the objective by at most max(tol objective, atol) (so a walk
    towards a limit at infinity ends), or when no step does at lam = 1e12 (at the minimum, to
    finite-difference precision). ``trace``: a list to append (objective, lam) per step to.
    Returns (x, status, message, nfev, n_hessians, H) with H the last Hessian."""
    x = np.clip(np.asarray(x0, float), prob.lb, prob.ub)
    f = float(np.sum(prob.residuals(x) ** 2))
    lam, nfev, small, n_h, caps = 1e-3, 1, 0, 0, _step_caps(prob)
    per_h = 2 + 2 * len(_directions(prob)) * (1 + len(_directions(prob)))
    for _ in range(max_iter):
        _f, g, H = _hessian(prob, x)
        nfev, n_h = nfev + per_h, n_h + 1
        move = ~(((x <= prob.lb) & (g > 0)) | ((x >= prob.ub) & (g < 0)))
        Hm, gm = H[np.ix_(move, move)], g[move]
        dm = np.maximum(np.abs(np.diag(Hm)), 1e-12 * max(float(np.max(np.abs(np.diag(Hm)))), 1e-300))
        while True:
            try:
                L = np.linalg.cholesky(Hm + lam * np.diag(dm))
            except np.linalg.LinAlgError:
                lam *= 4.0
                continue
            step = np.clip(-linalg.cho_solve((L, True), gm, check_finite=False), -caps[move], caps[move])
            x_new = x.copy()
            x_new[move] += step
            x_new = np.clip(x_new, prob.lb, prob.ub)
            f_new = float(np.sum(prob.residuals(x_new) ** 2))
            nfev += 1
            if f_new < f:
                break
            lam *= 4.0
            if lam > 1e12:
                return x, 2, "no step lowers the objective (lam > 1e12)", nfev, n_h, H
        dx = (x_new - x)[move]
        predicted = -(gm @ dx + 0.5 * dx @ Hm @ dx)
        gain, x, f = f - f_new, x_new, f_new
        ratio = gain / predicted if predicted > 0 else 0.0
        lam = max(lam / 3.0, 1e-12) if ratio > 0.75 else (lam * 2.0 if ratio < 0.25 else lam)
        if trace is not None:
            trace.append((f, lam))
        small = small + 1 if gain <= max(tol * f, atol) else 0
        if small >= 2:
            return x, 1, f"two steps in a row lowered the objective by <= max({tol:g} of it, {atol:g})", nfev, n_h, H
    return x, 0, f"max_iter = {max_iter} reached", nfev, n_h, H


def _globals_block(M: np.ndarray, ng: int) -> np.ndarray:
    """The globals' block of M^-1 for a symmetric M (NaN when M is not positive definite or its
    condition number exceeds 1e14): the inverse of the Schur complement of the nuisance block."""
    w = np.linalg.eigvalsh(M)
    if not (w[0] > 0 and w[-1] / w[0] < 1e14):
        return np.full((ng, ng), np.nan)
    Mgg, Mgn, Mnn = M[:ng, :ng], M[:ng, ng:], M[ng:, ng:]
    return np.linalg.inv(Mgg - Mgn @ np.linalg.solve(Mnn, Mgn.T) if Mnn.size else Mgg)


def _laplace(prob: JointProblem, x: np.ndarray, interior: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Laplace covariances of the free globals (fit space), every nuisance parameter marginalised:
    (J^T J)^-1 (Gauss-Newton, J the central-difference Jacobian) and 2 H^-1 (H the Hessian of the
    objective = -2 ln posterior). Taken over the parameters off the bounds (``interior``), with those
    on a bound held (their rows and columns NaN): a Gaussian about a maximum on a bound means nothing."""
    ng = prob.n_global
    out = np.full((ng, ng), np.nan), np.full((ng, ng), np.nan)
    gi = np.flatnonzero(interior[:ng])
    if gi.size == 0:
        return out
    keep = np.concatenate([gi, ng + np.flatnonzero(interior[ng:])])
    J = prob.jacobian(x)[:, keep]
    H = _hessian(prob, x)[2][np.ix_(keep, keep)]
    for dst, M, scale in ((out[0], (J.T @ J).toarray(), 1.0), (out[1], H, 2.0)):
        dst[np.ix_(gi, gi)] = scale * _globals_block(M, gi.size)
    return out


def _percentiles(prob: JointProblem, x, cov) -> tuple[np.ndarray, dict, dict]:
    """The Laplace covariance in reported coordinates (``JointProblem.to_reported``; rows of parameters
    held on a bound NaN) and the 16/50/84 percentiles of the free globals (units of ``values``) and of
    log10 chi0 at Sigma_ref = SIGMA_REF_REPORT."""
    from scipy.special import ndtri  # imported here: only for the Laplace percentiles

    z, ng = float(ndtri(0.84)), prob.n_global
    held = ~np.isfinite(np.diag(cov)) if ng else np.zeros(0, bool)
    T = prob.to_reported()
    cov = T @ np.where(np.isfinite(cov), cov, 0.0) @ T.T
    cov[held, :] = cov[:, held] = np.nan
    g = prob.globals_at(x)
    mid = np.array([math.log10(g[f]) if f in _LOG_GLOBALS else g[f] for f in prob.free])
    out = {}
    for i, f in enumerate(prob.free):
        s = math.sqrt(cov[i, i]) if np.isfinite(cov[i, i]) and cov[i, i] >= 0 else math.nan
        out[f] = tuple(10.0**v if f in _LOG_GLOBALS else float(v) for v in (mid[i] - z * s, mid[i], mid[i] + z * s))
    derived = {}
    if "log10_A" in prob.free:
        grad = np.zeros(ng)
        grad[prob.free.index("log10_A")] = 1.0
        if "eps" in prob.free and not held[prob.free.index("eps")]:
            grad[prob.free.index("eps")] = math.log10(SIGMA_REF_REPORT)
        on = grad != 0
        sub = cov[np.ix_(on, on)]
        s = float(np.sqrt(grad[on] @ sub @ grad[on])) if np.all(np.isfinite(sub)) else math.nan
        m = g["log10_A"] + g["eps"] * math.log10(SIGMA_REF_REPORT)
        derived = {"log10_chi0_at_sigma_ref_50": (m - z * s, m, m + z * s)}
    return cov, out, derived


def _as_blocks(galaxies, options, nuisance) -> list[Block]:
    if isinstance(galaxies, Mapping):
        return sparc_blocks(galaxies, options, nuisance)
    blocks = list(galaxies)
    if not all(isinstance(b, Block) for b in blocks):
        raise InputError("galaxies must be a sample (name -> (Galaxy, mask)) or a list of jointfit.Block")
    return blocks


def _pick_nuisance(prob: JointProblem, x: np.ndarray, starts: Sequence[np.ndarray], tol: float):
    """At the globals of x, each block's nuisance solved (``_nuisance_newton``) from x's own values and
    from each of ``starts`` (nuisance vectors); each block keeps its best. The blocks are independent at
    fixed globals, so this picks the best of several local optima galaxy by galaxy. A start equal to
    x's nuisance or to an earlier start is skipped: it would give the same solution, which a block
    keeps only if strictly better. Returns (x, nfev)."""
    ng = prob.n_global
    best, nfev = _nuisance_newton(prob, x, tol)
    f_best = _per_block_objective(prob, prob.residuals(best))
    seen = [np.asarray(x, float)[ng:]]
    for nu in starts:
        if any(np.array_equal(nu, s) for s in seen):
            continue
        seen.append(np.asarray(nu, float))
        y = x.copy()
        y[ng:] = nu
        y, n = _nuisance_newton(prob, y, tol)
        f_y = _per_block_objective(prob, prob.residuals(y))
        better = f_y < f_best
        best[ng:] = np.where(better[prob.owner], y[ng:], best[ng:])
        f_best, nfev = np.where(better, f_y, f_best), nfev + n + 2
    return best, nfev


def _solve(prob: JointProblem, x0: np.ndarray, method: str, tol: float, max_iter: int, nuisance_starts=()):
    """Minimise the objective from x0. "newton": every block's nuisance at the starting globals, the
    best per block of the solutions from x0's nuisance, the priors' centres and ``nuisance_starts``
    (``_pick_nuisance``), then the joint damped Newton (``_newton``); repeated (at most 3 times) while
    re-picking the nuisance at the new globals lowers the objective by more than 1e-4. "scipy": one
    ``least_squares`` (trf, lsmr) with scipy's 2-point Jacobian on the ``jac_sparsity`` pattern.
    Returns (x, status, message, nfev)."""
    if method == "scipy":
        sol = optimize.least_squares(
            prob.residuals, x0, bounds=(prob.lb, prob.ub), method="trf", x_scale="jac", tr_solver="lsmr",
            jac="2-point", jac_sparsity=prob.pattern, ftol=tol, xtol=tol, gtol=tol, max_nfev=max_iter * 10,
        )  # fmt: skip
        return sol.x, int(sol.status), str(sol.message), int(sol.nfev)
    ng = prob.n_global
    starts = [prob.start()[ng:], np.asarray(x0, float)[ng:], *[np.asarray(s, float) for s in nuisance_starts]]
    x, nfev = _pick_nuisance(prob, np.asarray(x0, float), starts, tol)
    status, message = 1, "nuisance of every block converged at fixed globals"
    for _round in range(3 if ng else 0):
        x, status, message, n, _n_h, _H = _newton(prob, x, tol, max_iter)
        f = float(np.sum(prob.residuals(x) ** 2))
        x_new, n2 = _pick_nuisance(prob, x, starts, tol)
        nfev += n + n2
        if float(np.sum(prob.residuals(x_new) ** 2)) >= f - 1e-4:
            break
        x = x_new
    return x, status, message, nfev


def joint_map(
    galaxies=None,
    free=DEFAULT_FREE,
    start: Params = Params(),
    fixed: Params = Params(),
    model: str = "cmsi",
    options: SparcOptions | None = None,
    nuisance: str = "full",
    nuisance_starts: Sequence[JointFit] = (),
    method: str = "newton",
    tol: float = 1e-10,
    max_iter: int = 1500,
    laplace: bool = True,
) -> JointFit:
    """The joint MAP of CMSI's identifiable globals ``free`` (``GLOBAL_NAMES``) and every galaxy's
    nuisance parameters, one sparse problem (``JointProblem``).

    galaxies: a sample (name -> (Galaxy, mask); default SPARC after the standard cuts) turned into
    blocks with ``options`` and ``nuisance`` (see ``sparc_blocks``), or a list of ``Block`` (e.g. with
    ``milky_way_block()``). start: where the free globals start (a ``Params``; its identifiable values);
    fixed: the values of the globals not fitted. model "newton": F = 1 with the same nuisance machinery.
    nuisance_starts: ``JointFit``s on the same blocks whose nuisance values are tried as further
    starting points, galaxy by galaxy (e.g. the Newton MAP); the priors' centres are always tried.
    method: "newton" (default: damped Newton on the finite-difference Hessian, block by block for the
    nuisance first) or "scipy" (``least_squares`` with ``jac_sparsity``); see ``_solve``. tol, max_iter:
    the convergence tolerance and the iteration limit of the solver. The v_c mode is ``options.vc_mode``.
    """
    t0 = time.perf_counter()
    options = SparcOptions() if options is None else options
    blocks = _as_blocks(sparc_blocks(None, options, nuisance) if galaxies is None else galaxies, options, nuisance)
    if method not in ("newton", "scipy"):
        raise InputError(f"method = {method!r} is not one of ('newton', 'scipy')")
    prob = JointProblem(blocks, free if model == "cmsi" else (), fixed, model, options.vc_mode)
    x0 = prob.start(start)
    nus = []
    for fit in nuisance_starts:
        if fit.galaxies != [b.name for b in blocks] or len(fit.x) - len(fit.free) != len(prob.names) - prob.n_global:
            raise InputError("nuisance_starts must be JointFits on the same blocks with the same nuisance parameters")
        nus.append(fit.x[len(fit.free) :])
    with threadpool_limits(limits=BLAS_THREADS, user_api="blas"):
        x, status, message, nfev = _solve(prob, x0, method, tol, max_iter, nus)
        return _result(prob, x, status, message, nfev, start, method, laplace, time.perf_counter() - t0)


#: processes for independent joint fits (``joint_maps``: the starts of ``joint_survey.best_cmsi``, the
#: injections' starts); 1: one after another
WORKERS = 2


def joint_maps(blocks, calls: list[dict], workers: int | None = None) -> list[JointFit]:
    """``joint_map(blocks, **kw)`` for each kw of ``calls``, in that order, on ``workers`` processes
    (``map_in_processes``). Each fit is the same computation either way: the results are identical."""
    return map_in_processes(functools.partial(_joint_map_kw, blocks), calls, workers)


def _joint_map_kw(blocks, kw: dict) -> JointFit:  # a picklable function of the calls (worker side)
    return joint_map(blocks, **kw)


def map_in_processes(fn, items: Sequence, workers: int | None = None) -> list:
    """[fn(item) for item in items], in that order, in up to ``workers`` (default ``WORKERS``) forked
    processes when that is safe (``parallel_ok``), else one after another. For independent fits: fn and
    its results must pickle; fn must not rely on state it changes in this process."""
    workers = WORKERS if workers is None else workers
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise InputError(f"workers = {workers!r} must be an integer >= 1 (1: one after another)")
    n = min(workers, len(items), os.cpu_count() or 1)
    if n < 2 or not parallel_ok():
        return [fn(item) for item in items]
    with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(fn, items))


def parallel_ok() -> bool:
    """Whether ``map_in_processes`` may fork: on Linux (fork is the cheap start: no re-import), not inside a
    daemonic process (a pool's worker cannot have children), and with JAX not imported (forking a
    process in which JAX's threads run can deadlock; the posterior stage imports JAX)."""
    return (sys.platform.startswith("linux") and not multiprocessing.current_process().daemon
            and "jax" not in sys.modules)  # fmt: skip


def _in_limit(prob: JointProblem, x) -> np.ndarray:
    """The free globals a fit cannot determine at x because the profile is in a limit: ell0 more than
    LIMIT_FACTOR times every radius of the data (f = 1: ell0 and n drop out) or less than every radius
    over LIMIT_FACTOR (f = ell0/R: only A ell0 remains, so n drops out and ell0 is held)."""
    out = np.zeros(len(x), bool)
    g = prob.globals_at(x)
    R = prob.R[prob.R > 0]
    far = g["ell0"] > LIMIT_FACTOR * R.max() or g["ell0"] < R.min() / LIMIT_FACTOR
    for f in ("ell0", "n"):
        if far and f in prob.free:
            out[prob.free.index(f)] = True
    return out


def _result(prob: JointProblem, x, status, message, nfev, start, method, laplace, seconds) -> JointFit:
    rd, rp = prob.data_residuals(x), prob.prior_residuals(x)
    near = (x - prob.lb <= BOUND_TOL) | (prob.ub - x <= BOUND_TOL)
    limit = _in_limit(prob, x) if prob.model == "cmsi" else np.zeros(len(x), bool)
    ng = prob.n_global
    cov, cov_h = _laplace(prob, x, ~near & ~limit) if laplace else (np.full((ng, ng), np.nan),) * 2
    cov, pct, derived = _percentiles(prob, x, cov)
    sigma_h = np.sqrt(np.diag(_percentiles(prob, x, cov_h)[0]))
    try:
        boost = prob.point_values(x)[3]
    except (NoSelfConsistentSolution, InputError):
        boost = np.full(prob.n_data, np.nan)
    nu, g = prob.nuisance_at(x), prob.globals_at(x)
    cmsi = prob.model == "cmsi"
    return JointFit(
        model=prob.model, vc_mode=prob.vc_mode, method=method, free=prob.free,
        start={f: v for f, v in identifiable(start).items() if f in prob.free} if cmsi else {},
        values={f: g[f] for f in prob.free}, globals=g if cmsi else {},
        chi2=float(rd @ rd), chi2_prior=float(rp @ rp), n_points=prob.n_data, n_galaxies=len(prob.blocks),
        galaxies=[b.name for b in prob.blocks], n_params=len(prob.names),
        nuisance={b.name: {p: float(nu[p][i]) for p in NUISANCE_NAMES} for i, b in enumerate(prob.blocks)},
        at_bound=[nm for nm, on in zip(prob.names, near, strict=True) if on], success=status > 0,
        in_limit=[nm for nm, on in zip(prob.names, limit, strict=True) if on],
        status=int(status), message=message, nfev=int(nfev), seconds=seconds, covariance=cov, laplace=pct,
        laplace_hessian_sigma=dict(zip(prob.free, sigma_h.tolist(), strict=True)),
        derived=derived, max_boost=float(np.nanmax(boost)), median_boost=float(np.nanmedian(boost)), x=x,
    )  # fmt: skip


def multi_start(galaxies=None, starts: Mapping[str, Params] | None = None, **kw) -> dict[str, JointFit]:
    """``joint_map`` from each starting point of ``starts`` (default ``STARTS``), blocks built once.
    Other keywords go to ``joint_map`` (``workers``: to ``joint_maps``, which runs the starts in
    parallel). Returns start name -> JointFit."""
    workers = kw.pop("workers", None)
    options = kw.get("options") or SparcOptions()
    nuisance = kw.get("nuisance", "full")
    blocks = _as_blocks(sparc_blocks(None, options, nuisance) if galaxies is None else galaxies, options, nuisance)
    starts = starts or STARTS
    return dict(zip(starts, joint_maps(blocks, [dict(start=p, **kw) for p in starts.values()], workers), strict=True))


def distinct_optima(fits: Mapping[str, JointFit], atol: float = 0.01) -> list[dict]:
    """The distinct local optima among ``fits`` (start name -> JointFit): fits whose objectives lie
    within ``atol`` (chi^2 units) of each other count as one. Sorted by objective; each entry holds
    the objective, chi2, the starts that reached it and the values of the best of them."""
    out: list[dict] = []
    for name, f in sorted(fits.items(), key=lambda kv: kv[1].objective):
        if out and abs(f.objective - out[-1]["objective"]) <= atol:
            out[-1]["starts"].append(name)
            continue
        out.append({"objective": f.objective, "chi2": f.chi2, "starts": [name], "values": dict(f.values),
                    "at_bound": [a for a in f.at_bound if ":" not in a], "max_boost": f.max_boost})  # fmt: skip
    return out


def _num(v) -> float | None:
    """A float for JSON: None where not finite (strict JSON has no NaN)."""
    v = float(v)
    return v if math.isfinite(v) else None


def joint_fit_record(fit: JointFit, newton: JointFit | None = None) -> dict:
    """A plain dict for ``cmsi survey --json`` (key ``joint_fit``): free parameters, MAP values, 16/50/84
    percentiles (Laplace approximation, labelled so), chi^2, n_points, n_galaxies; with ``newton`` (the
    Newton-only joint MAP on the same blocks) also its chi^2 and objective on the identical points.
    Numbers that are not finite (a percentile of a held parameter) are None."""
    rec = {
        "model": fit.model,
        "vc_mode": fit.vc_mode,
        "free": list(fit.free),
        "map": {k: float(v) for k, v in fit.values.items()},
        "globals": {k: float(v) for k, v in fit.globals.items()},
        "percentiles": {
            "method": "laplace",
            "note": "Laplace approximation (J^T J)^-1 at the MAP, nuisance marginalised; not a sampled posterior; "
            "parameters on a bound or in a limit (at_bound, in_limit) are held and have none",
            "levels": [16, 50, 84],
            "values": {k: [_num(q) for q in v] for k, v in {**fit.laplace, **fit.derived}.items()},
        },
        "chi2": fit.chi2,
        "chi2_prior": fit.chi2_prior,
        "objective": fit.objective,
        "n_points": fit.n_points,
        "n_galaxies": fit.n_galaxies,
        "n_params": fit.n_params,
        "at_bound": list(fit.at_bound),
        "in_limit": list(fit.in_limit),
        "max_boost": _num(fit.max_boost),
        "success": fit.success,
        "nfev": fit.nfev,
        "seconds": fit.seconds,
    }
    if newton is not None:
        if newton.n_points != fit.n_points or newton.galaxies != fit.galaxies:
            raise InputError("joint_fit_record: the Newton fit must be on the same galaxies and points")
        rec["newton"] = {"chi2": newton.chi2, "objective": newton.objective, "n_at_bound": newton.n_at_bound}
    return rec
