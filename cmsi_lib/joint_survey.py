"""The joint fit as a cached stage ("joint_fit"): CMSI's best joint MAP (``jointfit``) on a galaxy sample
(SPARC after the standard cuts by default), with the nuisance parameters free under Li et al.'s priors
and no box, against Newton on the identical points; with the nuisance fixed; on the Milky Way; on both
together; and its robustness (an error floor, leave-one-out of the highest-S/N galaxies, how far the
nuisance parameters move from their priors).

Starts (multi-start takes 15-25 min, too slow for a build; benchmarks/jointfit.md has it). Every CMSI
fit of the stage is the better of (except SPARC + Milky Way: one start, the Milky Way's MAP, from which
the multi-start's best optimum of the two together is reached, as from each of its 7 starts)

  * "seed": ``jointfit.joint_map`` from the seed's defaults (``Params()``), and
  * "corner": the limit F = 1 + A (v_c/c)^2 (gamma alpha = 0 and eps = 0 on their bounds, ell0 =
    ``CORNER_ELL0``, beyond ``jointfit.LIMIT_FACTOR`` times every radius), where the multi-start's best
    SPARC optimum lies: first log10_A alone (with every nuisance parameter) from each value of a ladder
    (``CORNER_LADDER``, the amplitudes of ``jointfit.STARTS``), then all four globals from the best.

The robustness fits (error floors, leave-one-out) fit the corner only (log10_A and the nuisance) and
check that it is a first-order optimum of the full problem (``corner_gradient``): the objective grows
along gamma_alpha and eps off their bounds (a positive gradient) and does not fall as ell0 decreases.

Error floor (``with_error_floor``): e_V -> sqrt(e_V^2 + s^2), with s [km/s] fixed at each of
``FLOORS_KMS`` (s is added to SPARC's tabulated e_V, at the table's inclination; the deprojection
sin(Inc_SPARC)/sin(Inc) then scales both, as it scales e_V in ``models.observables``). At fixed s the
Gaussian normalisation sum ln(2 pi (e_V^2 + s^2)) (``log_normalisation``) is a constant, so the MAP
is unchanged by it; objective + normalisation compares the values of s (a grid profile of s).

S/N of a galaxy (``signal_to_noise``): sqrt(sum over its fitted points of (V_obs / e_V)^2).

Per galaxy (``per_galaxy``): the record of the sample with the nuisance free (result["galaxies"]) holds
"per_galaxy", each galaxy's chi^2 (data), chi^2 (its nuisance priors), points, free nuisance parameters
and fitted radii at CMSI's MAP, and its "newton" entry the same (without the radii) at Newton's, so that
the comparison chapter can total the joint fits over its common sample (``comparison.joint_totals``).

Units: speeds km/s, R kpc, ell0 kpc; objective = chi^2 (data) + chi^2 (nuisance priors).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import time
from pathlib import Path

import numpy as np

from . import jointfit as jf
from . import rotmod, sparc, stages
from .errors import InputError
from .milky_way_data import EILERS_FILES
from .options import SparcOptions
from .params import Params

__all__ = [
    "STAGE",
    "MODULES",
    "FLOORS_KMS",
    "N_LOO",
    "CORNER",
    "CORNER_ELL0",
    "with_error_floor",
    "log_normalisation",
    "signal_to_noise",
    "highest_sn",
    "leave_out",
    "nuisance_pulls",
    "per_galaxy",
    "params_of",
    "corner_fit",
    "corner_gradient",
    "best_cmsi",
    "compute_joint_fit",
    "sample_descriptor",
    "joint_fit_stage",
    "cached_stage",
    "json_entry",
    "verdict",
    "survey_box_counts",
    "EPS_OFF",
    "zero_sigma_points",
    "eps_continuity",
]

#: the stage's name (results/stages/joint_fit/)
STAGE = "joint_fit"
#: the modules whose code (with what they import) enters the stage's key
MODULES = ("cmsi_lib.joint_survey",)
#: error floors s [km/s] of the robustness fits (s = 0 is the main fit)
FLOORS_KMS = (3.0, 6.0)
#: how many of the highest-S/N galaxies are left out, one at a time
N_LOO = 10
#: ell0 [kpc] of the corner F = 1 + A (v_c/c)^2: f(R/ell0) in its limit at every radius
CORNER_ELL0 = 1e9
#: the corner's fixed globals (gamma alpha = 0, eps = 0, ell0 = CORNER_ELL0; n = 2 as everywhere)
CORNER = Params(eps=0.0, alpha=0.0, ell0=CORNER_ELL0)
#: log10_A [dex] of the corner's starts: the seed's amplitude and 2, 4, 6 dex above it (the ladder of
#: ``jointfit.STARTS``; F - 1 spans ~1e-6 to ~1 on SPARC across it)
CORNER_LADDER = tuple(jf.identifiable(Params())["log10_A"] + k for k in (0.0, 2.0, 4.0, 6.0))
#: objectives within this [chi^2] of each other count as equal (as in ``jointfit.distinct_optima``)
SAME = 0.01
#: the starts of every CMSI fit of the stage
STARTS_NOTE = ("seed (Params()) and the corner F = 1 + A (v_c/c)^2 (log10_A alone from the seed's amplitude and "
               "2, 4, 6 dex above it, then all four globals from the best); Milky Way + sample: one start, "
               "the Milky Way's MAP (benchmarks/jointfit.md: all 7 starts of its multi-start agree)")  # fmt: skip
#: gradient [chi^2 per dex] below which the objective counts as flat along log10 ell0
FLAT = 1e-3
#: eps of the continuity check (``eps_continuity``): the corner refitted just off eps = 0, where
#: (Sigma/Sigma_ref)^eps = 0 at Sigma = 0 (``kernel.source_density_term``) but ~1 at every Sigma > 0
EPS_OFF = 1e-6


# --------------------------------------------------------------------------- blocks
def with_error_floor(blocks, s: float) -> list[jf.Block]:
    """``blocks`` with every e_V replaced by sqrt(e_V^2 + s^2); s [km/s] >= 0 (s = 0: the blocks as given)."""
    s = float(s)
    if not (math.isfinite(s) and s >= 0):
        raise InputError(f"error floor s = {s!r} km/s: must be finite and >= 0")
    if s == 0:
        return list(blocks)
    return [dataclasses.replace(b, e_v_obs=np.sqrt(b.e_v_obs**2 + s**2)) for b in blocks]


def log_normalisation(blocks) -> float:
    """sum over every point of ln(2 pi e_V^2) (e_V [km/s] of the blocks, floor included): the Gaussian
    normalisation -2 ln L - chi^2 at the table's inclination (its Inc dependence is left out, as the
    chi^2 fits leave it out)."""
    return float(sum(np.sum(np.log(2 * np.pi * b.e_v_obs**2)) for b in blocks))


def signal_to_noise(block: jf.Block) -> float:
    """S/N of a galaxy's curve: sqrt(sum over its fitted points of (V_obs / e_V)^2)."""
    return float(np.sqrt(np.sum((block.v_obs / block.e_v_obs) ** 2)))


def highest_sn(blocks, k: int) -> list[str]:
    """Names of the k blocks of highest ``signal_to_noise``, highest first (ties by name)."""
    if not (isinstance(k, int) and 0 <= k <= len(blocks)):
        raise InputError(f"k = {k!r}: must be an integer in [0, {len(blocks)}] (the number of galaxies)")
    return [b.name for b in sorted(blocks, key=lambda b: (-signal_to_noise(b), b.name))[:k]]


def leave_out(blocks, name: str) -> list[jf.Block]:
    """``blocks`` without the block called ``name`` (which must be there, once)."""
    names = [b.name for b in blocks]
    if names.count(name) != 1:
        raise InputError(f"leave_out: galaxy {name!r} is in the blocks {names.count(name)} times, expected once")
    return [b for b in blocks if b.name != name]


def _problem(fit: jf.JointFit, blocks) -> jf.JointProblem:
    """The ``jointfit.JointProblem`` of ``fit`` on ``blocks`` (its free and fixed globals, model, v_c mode)."""
    return jf.JointProblem(blocks, free=fit.free, fixed=params_of(fit.globals) if fit.globals else Params(),
                           model=fit.model, vc_mode=fit.vc_mode)  # fmt: skip


def nuisance_pulls(fit: jf.JointFit, blocks) -> np.ndarray:
    """Each fitted nuisance parameter's distance from its prior centre in prior widths (the prior
    pseudo-residuals at the MAP; log10 Ups in dex widths, D and Inc in their own)."""
    return _problem(fit, blocks).prior_residuals(fit.x)


def per_galaxy(fit: jf.JointFit, blocks, radii: bool = False) -> dict:
    """Each galaxy's share of the joint MAP ``fit`` on ``blocks`` (the blocks it was fitted on), as JSON
    columns in block order: galaxy, n_points, n_nuisance (its free nuisance parameters, ``Block.free``),
    chi2 (its data residuals (V_obs - V_model)/e_V squared and summed, at the fit's x) and chi2_prior (its
    nuisance priors' pseudo-residuals squared and summed: ``jointfit.JointProblem.gi`` and ``owner`` assign
    the rows); with ``radii`` also R_kpc, its fitted radii at SPARC's distance [kpc]. Summed over the
    galaxies, chi2 and chi2_prior are the fit's (up to rounding)."""
    if fit.galaxies != [b.name for b in blocks]:
        raise InputError("per_galaxy: the fit was not made on these blocks (its galaxies differ)")
    prob = _problem(fit, blocks)
    r, nb, nd = prob.residuals(fit.x), len(prob.blocks), prob.n_data
    out = {
        "galaxy": [b.name for b in prob.blocks],
        "n_points": [b.n_points for b in prob.blocks],
        "n_nuisance": [len(b.free) for b in prob.blocks],
        "chi2": np.bincount(prob.gi, r[:nd] ** 2, nb).tolist(),
        "chi2_prior": np.bincount(prob.owner, r[nd:] ** 2, nb).tolist(),
    }
    if radii:
        out["R_kpc"] = [b.R.tolist() for b in prob.blocks]
    return out


def params_of(g: dict) -> Params:
    """A ``Params`` with the identifiable values ``g`` (log10_A, gamma_alpha, ell0 [kpc], eps, n):
    Sigma_ref = 1 Msun/pc^2 and alpha = 1, so chi0 = A and gamma = gamma alpha."""
    return Params(chi0=10.0 ** g["log10_A"], sigma_ref=1.0, eps=g["eps"], gamma=g["gamma_alpha"], alpha=1.0,
                  ell0=g["ell0"], n=g["n"])  # fmt: skip


# --------------------------------------------------------------------------- fits
def _corner_calls(newton: jf.JointFit, options: SparcOptions, ladder, laplace: bool) -> list[dict]:
    return [dict(free=("log10_A",), start=dataclasses.replace(CORNER, chi0=10.0**a), fixed=CORNER, options=options,
                 nuisance_starts=[newton], laplace=laplace) for a in ladder]  # fmt: skip


def corner_fit(blocks, newton: jf.JointFit, options: SparcOptions, log10_A: float | None = None,
               laplace: bool = False, workers: int | None = None) -> jf.JointFit:  # fmt: skip
    """The joint MAP at the corner F = 1 + A (v_c/c)^2: log10_A and every nuisance parameter, from
    ``log10_A``, or (None) the best of the fits from each value of ``CORNER_LADDER`` (the first of equal
    ones; the fits run in ``workers`` processes, see ``jointfit.joint_maps``); nuisance also tried from
    ``newton``'s."""
    ladder = CORNER_LADDER if log10_A is None else (float(log10_A),)
    fits = jf.joint_maps(blocks, _corner_calls(newton, options, ladder, laplace), workers)
    return min(fits, key=lambda f: f.objective)


def corner_gradient(blocks, fit: jf.JointFit, options: SparcOptions) -> dict:
    """The gradient of the full problem's objective (``jointfit.DEFAULT_FREE``) at the corner fit ``fit``:
    d objective / d (pivot log10_A, gamma_alpha, log10 ell0, eps) [chi^2 per unit], and ``holds``: the
    corner is a first-order optimum (gamma_alpha and eps gradients > 0 on their bounds, log10 ell0's <= FLAT)."""
    prob = jf.JointProblem(blocks, vc_mode=options.vc_mode)
    x = np.concatenate([prob.start(params_of(fit.globals))[: prob.n_global], fit.x[len(fit.free) :]])
    g = 2.0 * (prob.jacobian(x).T @ prob.residuals(x))[: prob.n_global]
    grad = dict(zip(jf.DEFAULT_FREE, (float(v) for v in g), strict=True))
    holds = grad["gamma_alpha"] > 0 and grad["eps"] > 0 and grad["ell0"] <= FLAT
    return {"gradient": grad, "holds": bool(holds)}


def best_cmsi(blocks, newton: jf.JointFit, options: SparcOptions, corner: bool = True, seed: bool = True,
              extra: dict[str, Params] | None = None,
              workers: int | None = None) -> tuple[jf.JointFit, dict]:  # fmt: skip
    """CMSI's joint MAP: the best of the full fit from the corner (module docstring; unless ``corner`` is
    False), the fit from the seed (unless ``seed`` is False) and the fits from ``extra`` (name -> start).
    The fits from the seed, from ``extra`` and from each rung of the corner's ladder are independent:
    they run on ``workers`` processes (``jointfit.joint_maps``); the full fit from the corner follows.
    Returns (fit, {"objectives": start -> objective, "best_start", "corner_only_objective", "seconds":
    start -> its fits' own seconds (summed over the corner's), "wall_seconds": the whole call's})."""
    t0 = time.perf_counter()
    starts = ({"seed": Params()} if seed else {}) | (extra or {})
    calls = [dict(start=p, options=options, nuisance_starts=[newton]) for p in starts.values()]
    rungs = _corner_calls(newton, options, CORNER_LADDER, False) if corner else []
    done = jf.joint_maps(blocks, calls + rungs, workers)  # the independent fits, on ``workers`` processes
    fits, info = dict(zip(starts, done, strict=False)), {}
    t = {k: f.seconds for k, f in fits.items()}
    if corner:
        c = min(done[len(calls) :], key=lambda f: f.objective)  # as corner_fit
        fits["corner"] = jf.joint_map(blocks, start=params_of(c.globals), options=options, nuisance_starts=[newton, c])
        t["corner"] = sum(f.seconds for f in done[len(calls) :]) + fits["corner"].seconds
        info["corner_only_objective"] = c.objective
    name = min(fits, key=lambda k: fits[k].objective)
    return fits[name], info | {
        "objectives": {k: f.objective for k, f in fits.items()},
        "best_start": name,
        "seconds": t,
        "wall_seconds": time.perf_counter() - t0,
    }


def _newton(blocks, options, fits=()) -> jf.JointFit:
    """Newton's joint MAP, redone with the nuisance of ``fits`` as further starts (so the reference is as
    good as the machinery makes it on the identical points); the better of the two."""
    n0 = jf.joint_map(blocks, model="newton", options=options)
    if not fits or n0.n_params == 0:
        return n0
    n1 = jf.joint_map(blocks, model="newton", options=options, nuisance_starts=list(fits))
    return n1 if n1.objective < n0.objective else n0


def _record(fit: jf.JointFit, newton: jf.JointFit, extra: dict | None = None) -> dict:
    rec = jf.joint_fit_record(fit, newton)
    rec["newton"].update(chi2_prior=newton.chi2_prior, n_points=newton.n_points, n_galaxies=newton.n_galaxies)
    rec["d_objective"] = fit.objective - newton.objective
    rec["d_chi2"] = fit.chi2 - newton.chi2
    rec["d_chi2_prior"] = fit.chi2_prior - newton.chi2_prior
    rec["median_boost"] = jf._num(fit.median_boost)
    return rec | (extra or {})


def _pull_counts(fit, blocks) -> dict:
    p = np.abs(nuisance_pulls(fit, blocks)) if fit.n_params > len(fit.free) else np.zeros(0)
    return {"n_nuisance": int(p.size), "over_3_sigma": int(np.sum(p > 3)), "over_5_sigma": int(np.sum(p > 5)),
            "max_sigma": float(p.max()) if p.size else 0.0}  # fmt: skip


def _galaxy_fits(sample, options) -> tuple[dict, dict]:
    """The sample with the nuisance free (no box) and fixed at the table's values: records, and the fits
    the robustness part reuses."""
    blocks = jf.sparc_blocks(sample, options, "full")
    newton0 = jf.joint_map(blocks, model="newton", options=options)
    cmsi, info = best_cmsi(blocks, newton0, options)
    corner = corner_fit(blocks, newton0, options, log10_A=cmsi.globals["log10_A"])
    newton = _newton(blocks, options, [cmsi, corner])
    pulls = {"cmsi": _pull_counts(cmsi, blocks), "newton": _pull_counts(newton, blocks)}
    out = {"galaxies": _record(cmsi, newton, {"starts": info, "pulls": pulls})}
    out["galaxies"]["per_galaxy"] = per_galaxy(cmsi, blocks, radii=True)
    out["galaxies"]["newton"]["per_galaxy"] = per_galaxy(newton, blocks)
    out["eps_continuity"] = eps_continuity(sample, blocks, newton, options, corner.globals["log10_A"])
    fixed_blocks = jf.sparc_blocks(sample, options, "none")
    newton_f = jf.joint_map(fixed_blocks, model="newton", options=options)
    cmsi_f, info_f = best_cmsi(fixed_blocks, newton_f, options)
    out["galaxies_fixed_nuisance"] = _record(cmsi_f, newton_f, {"starts": info_f})
    return out, {"blocks": blocks, "cmsi": cmsi, "newton": newton, "corner": corner}


def _milky_way_fits(galaxy_blocks, options, galaxies_fit: jf.JointFit) -> dict:
    """The Milky Way alone and with the sample: records; the joint one also against the two fitted apart."""
    mw = [jf.milky_way_block()]
    newton = jf.joint_map(mw, model="newton", options=options)
    cmsi, info = best_cmsi(mw, newton, options)
    out = {"milky_way": _record(cmsi, newton, {"starts": info})}
    both = galaxy_blocks + mw
    newton_b = jf.joint_map(both, model="newton", options=options)
    cmsi_b, info_b = best_cmsi(both, newton_b, options, corner=False, seed=False,
                               extra={"milky_way_map": params_of(cmsi.globals)})  # fmt: skip
    apart = galaxies_fit.objective + cmsi.objective
    out["galaxies_milky_way"] = _record(cmsi_b, newton_b, {"starts": info_b, "apart_objective": apart,
                                                            "cost_of_one_set": cmsi_b.objective - apart})  # fmt: skip
    return out


def _corner_row(label: str, blocks, newton, options, log10_A: float, **extra) -> dict:
    """One robustness row: Newton's joint MAP and CMSI's corner fit on ``blocks``, with the corner's check."""
    t0 = time.perf_counter()
    n = jf.joint_map(blocks, model="newton", options=options) if newton is None else newton
    c = corner_fit(blocks, n, options, log10_A=log10_A)
    chk = corner_gradient(blocks, c, options)
    return {"label": label, **extra, "n_galaxies": c.n_galaxies, "n_points": c.n_points,
            "newton_objective": n.objective, "newton_chi2": n.chi2, "cmsi_objective": c.objective, "cmsi_chi2": c.chi2,
            "d_objective": c.objective - n.objective, "d_chi2": c.chi2 - n.chi2, "log10_A": c.globals["log10_A"],
            "corner_holds": chk["holds"], "corner_gradient": chk["gradient"],
            "seconds": time.perf_counter() - t0}  # fmt: skip


def _corner_job(job: tuple, options, log10_A: float) -> dict:  # _corner_row of (label, blocks, newton, extra)
    label, blocks, newton, extra = job
    return _corner_row(label, blocks, newton, options, log10_A, **extra)


def zero_sigma_points(blocks) -> dict:
    """Where CMSI's Sigma [Msun/pc^2] is 0 (SPARC's SBdisk = SBbul = 0 beyond the photometry): the number
    of points and galaxies, and in how many of those galaxies every such point lies beyond the last
    radius with Sigma > 0 (the outer curve)."""
    n, gal, outer = 0, 0, 0
    for b in blocks:
        zero = (b.S0 + b.Sd + b.Sb) <= 0
        if zero.any():
            n, gal = n + int(zero.sum()), gal + 1
            r_last = b.R[~zero].max() if (~zero).any() else -np.inf
            outer += bool(np.all(b.R[zero] > r_last))
    return {"n_points": n, "n_galaxies": gal, "n_galaxies_outer_only": outer}


def eps_continuity(sample, blocks, newton: jf.JointFit, options: SparcOptions, log10_A: float) -> dict:
    """Is the corner's gain continuous in eps at eps = 0? At eps = 0 F - 1 = A (v_c/c)^2 at every point;
    at any eps > 0 the factor (Sigma/Sigma_ref)^eps is ~1 where Sigma > 0 but 0 where Sigma = 0, so those
    points fall back to Newton. The corner refitted at eps = ``EPS_OFF`` (log10_A from every value of
    ``CORNER_LADDER`` and from ``log10_A``, nuisance free), with ``options``' Sigma and, when that is
    "stellar", with "stellar+gas" (an exponential gas disk: Sigma > 0 at every radius; skipped where a
    galaxy of ``sample`` lacks the disk scale length it needs). ``blocks``: ``sample``'s under ``options``.
    Returns the
    zero-Sigma counts (``zero_sigma_points``) and per Sigma definition the best refit's objective, data
    chi^2, log10_A and their differences from Newton's joint MAP on the identical points."""
    t0 = time.perf_counter()
    off = dataclasses.replace(CORNER, eps=EPS_OFF)
    out = {"eps_off": EPS_OFF, "zero_sigma": zero_sigma_points(blocks), "fits": {}}
    defs = [options.sigma_definition] + (["stellar+gas"] if options.sigma_definition == "stellar" else [])
    for d in defs:
        o = dataclasses.replace(options, sigma_definition=d)
        bl = blocks if d == options.sigma_definition else jf.sparc_blocks(sample, o, "full")
        if not all(np.all(np.isfinite(b.S0)) for b in bl):
            out["fits"][d] = None  # e.g. a Rotmod sample without R_disk: no gas disk
            continue
        ladder = (*CORNER_LADDER, float(log10_A)) if d == options.sigma_definition else (float(log10_A),)
        calls = [dict(free=("log10_A",), start=dataclasses.replace(off, chi0=10.0**a), fixed=off, options=o,
                      nuisance_starts=[newton], laplace=False) for a in ladder]  # fmt: skip
        fits = jf.joint_maps(bl, calls)  # independent: on jointfit.WORKERS processes
        f = min(fits, key=lambda x: x.objective)
        out["fits"][d] = {"objective": f.objective, "chi2": f.chi2, "log10_A": f.globals["log10_A"],
                          "d_objective": f.objective - newton.objective, "d_chi2": f.chi2 - newton.chi2,
                          "zero_sigma": zero_sigma_points(bl)}  # fmt: skip
    out["seconds"] = time.perf_counter() - t0
    return out


def _robustness(fits: dict, options, floors, n_loo: int) -> dict:
    """Error floors and leave-one-out of the ``n_loo`` highest-S/N galaxies, at the corner."""
    blocks, a0 = fits["blocks"], fits["corner"].globals["log10_A"]
    sn = {b.name: signal_to_noise(b) for b in blocks}
    # every row is independent: they run on jointfit.WORKERS processes (jointfit.map_in_processes)
    jobs = [("s = 0", blocks, fits["newton"], {"floor_kms": 0.0})]
    jobs += [(f"s = {s:g} km/s", with_error_floor(blocks, s), None, {"floor_kms": float(s)}) for s in floors]
    jobs += [(f"without {name}", leave_out(blocks, name), None, {"left_out": name, "sn": sn[name]})
             for name in highest_sn(blocks, n_loo)]  # fmt: skip
    done = jf.map_in_processes(functools.partial(_corner_job, options=options, log10_A=a0), jobs)
    rows, loo = done[: 1 + len(floors)], done[1 + len(floors) :]
    for r, job in zip(rows, jobs, strict=False):
        r["normalisation"] = log_normalisation(job[1])
        r["newton_objective_norm"] = r["newton_objective"] + r["normalisation"]
        r["cmsi_objective_norm"] = r["cmsi_objective"] + r["normalisation"]
    return {"floors": rows, "loo": loo, "sn_definition": "sqrt(sum over the fitted points of (V_obs / e_V)^2)",
            "full_corner": {"objective": fits["corner"].objective, "chi2": fits["corner"].chi2}}  # fmt: skip


def compute_joint_fit(sample, options: SparcOptions | None = None, floors=FLOORS_KMS, n_loo: int = N_LOO,
                      milky_way: bool = True, sample_name: str = "SPARC") -> dict:  # fmt: skip
    """The stage's result (JSON types): the joint fits of ``sample`` (name -> (Galaxy, mask), e.g.
    ``sparc.apply_cuts``'s) with the nuisance free and fixed, the Milky Way alone and with the sample
    (``milky_way``), and the robustness fits (``floors`` [km/s], ``n_loo``). Every CMSI record compares
    with the Newton joint MAP on the identical points (``jointfit.joint_fit_record``, key "newton")."""
    options = SparcOptions() if options is None else options
    bad = [s for s in floors if not (math.isfinite(float(s)) and float(s) > 0)]
    if bad:
        raise InputError(
            f"floors = {tuple(floors)!r}: each error floor must be finite and > 0 km/s (0 is the main fit)"
        )
    if not sample:
        raise InputError("joint fit: the sample has no galaxy with a point left after the cuts")
    t, t0 = {}, time.perf_counter()
    out, fits = _galaxy_fits(sample, options)
    t["galaxies_s"] = time.perf_counter() - t0
    if milky_way:
        t1 = time.perf_counter()
        out |= _milky_way_fits(fits["blocks"], options, fits["cmsi"])
        t["milky_way_s"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    out["robustness"] = _robustness(fits, options, floors, min(n_loo, len(fits["blocks"]) - 1))
    t["robustness_s"] = time.perf_counter() - t1
    out["settings"] = {"sample": sample_name, "options": options.as_dict(), "floors_kms": [float(s) for s in floors],
                       "n_loo": n_loo, "corner": {"gamma_alpha": 0.0, "eps": 0.0, "ell0_kpc": CORNER_ELL0, "n": 2.0},
                       "starts": STARTS_NOTE}  # fmt: skip
    out["timings_s"] = t | {"total_s": time.perf_counter() - t0}
    return out


# --------------------------------------------------------------------------- the stage
def sample_descriptor(sample_dir: str | Path | None) -> dict | None:
    """What a sample folder contributes to the stage's key: its name and the sha256 of each of its files
    (None for SPARC, whose files enter the key through the data registry)."""
    if sample_dir is None:
        return None
    d = Path(sample_dir)
    if not d.is_dir():
        raise InputError(f"sample folder {d}: not a folder (give a folder of SPARC Rotmod files)")
    files = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(d.iterdir()) if f.is_file()}
    return {"name": d.resolve().name, "files": files}


def _stage_inputs(options, cuts, sample_dir, floors, n_loo) -> tuple[SparcOptions, sparc.QualityCuts, dict, list]:
    """The defaults filled in, the stage's inputs (its key's parameters) and its registry data files."""
    options = SparcOptions() if options is None else options
    cuts = sparc.QualityCuts() if cuts is None else cuts
    desc = sample_descriptor(sample_dir)
    inputs = {"options": options.as_dict(), "cuts": dataclasses.asdict(cuts), "sample": desc,
              "floors_kms": [float(s) for s in floors], "n_loo": int(n_loo)}  # fmt: skip
    data = [EILERS_FILES["gala"]] + ([sparc.TABLE1_FILE, sparc.TABLE2_FILE] if desc is None else [])
    return options, cuts, inputs, data


def joint_fit_stage(options: SparcOptions | None = None, cuts: sparc.QualityCuts | None = None, galaxies=None,
                    sample_dir: str | Path | None = None, floors=FLOORS_KMS, n_loo: int = N_LOO,
                    force: bool = False) -> tuple[dict, bool]:  # fmt: skip
    """The "joint_fit" stage (``stages.run_stage``): ``compute_joint_fit`` on ``galaxies`` (name ->
    ``sparc.Galaxy``; default: SPARC, or ``rotmod.load_sample(sample_dir)``) after ``cuts`` (default the
    standard cuts). Its key covers the options, the cuts, the floors, n_loo, the data (SPARC's registry
    sha256, or every file of ``sample_dir``; the Milky Way's) and the code of this module and what it
    imports; nothing of the survey's own settings. Returns (result, was_cached)."""
    options, cuts, inputs, data = _stage_inputs(options, cuts, sample_dir, floors, n_loo)
    if galaxies is not None and sample_dir is None:
        raise InputError(
            "joint_fit_stage: galaxies given without sample_dir (the folder they come from enters the key)"
        )
    if galaxies is None:
        galaxies = sparc.load_galaxies() if sample_dir is None else rotmod.load_sample(sample_dir)

    def compute():
        sample, _counts = sparc.apply_cuts(galaxies, cuts)
        name = "SPARC" if inputs["sample"] is None else inputs["sample"]["name"]
        return compute_joint_fit(sample, options, floors, n_loo, sample_name=name)

    return stages.run_stage(STAGE, inputs, compute, MODULES, data, force=force)


def cached_stage(options: SparcOptions | None = None, cuts: sparc.QualityCuts | None = None,
                 sample_dir: str | Path | None = None, floors=FLOORS_KMS, n_loo: int = N_LOO):  # fmt: skip
    """The stage's result when its cache holds it for these inputs (as ``joint_fit_stage`` would read
    it, a dict), else None; computes nothing and writes nothing."""
    _o, _c, inputs, data = _stage_inputs(options, cuts, sample_dir, floors, n_loo)
    return stages.cached(STAGE, stages.stage_key(STAGE, inputs, MODULES, data))


_RECORD_KEYS = ("galaxies", "galaxies_fixed_nuisance", "milky_way", "galaxies_milky_way")


def json_entry(result: dict) -> dict:
    """The ``joint_fit`` entry of ``cmsi survey --json``: each joint MAP's record (free parameters, MAP,
    Laplace 16/50/84 percentiles, chi2 (data), chi2_prior, objective, n_points, n_galaxies, and the
    Newton reference on the same points), the robustness rows without their gradients, and the verdict.
    The per-galaxy tables of the stage (``per_galaxy``: thousands of numbers, for the comparison chapter)
    are left out."""
    out = {k: _without_per_galaxy(result[k]) for k in _RECORD_KEYS if k in result}
    rob = result["robustness"]
    out["robustness"] = {k: [{a: b for a, b in r.items() if a != "corner_gradient"} for r in rob[k]]
                         for k in ("floors", "loo")}  # fmt: skip
    out["settings"], out["timings_s"], out["verdict"] = result["settings"], result["timings_s"], verdict(result)
    return out


def _without_per_galaxy(record: dict) -> dict:
    out = {k: v for k, v in record.items() if k != "per_galaxy"}
    if isinstance(out.get("newton"), dict):
        out["newton"] = {k: v for k, v in out["newton"].items() if k != "per_galaxy"}
    return out


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _robustness_clause(rob: dict, floors, d_obj: float, d_chi2: float) -> str:
    """Which robustness variants (corner fits) change the sign of the objective or data chi^2 difference."""
    rows = rob["floors"][1:] + rob["loo"]
    if not rows:
        return ""

    def lab(r):
        return f"an error floor of {r['floor_kms']:g} km/s" if "floor_kms" in r else f"{r['left_out']} left out"

    tried = (f"variants tried, as corner fits: error floors of {', '.join(f'{x:g}' for x in floors)} km/s and each "
             f"of the {len(rob['loo'])} highest-S/N galaxies left out")  # fmt: skip
    obj = [r for r in rows if (r["d_objective"] < -SAME) != (d_obj < -SAME)]
    chi = [r for r in rows if (r["d_chi2"] > 0) != (d_chi2 > 0)]
    if not obj and not chi:
        return f"; both signs hold in every robustness variant ({tried})"
    parts = []
    if obj:
        parts.append("the objective difference changes sign with " + ", ".join(
            f"{lab(r)} ({r['d_objective']:+,.0f})" for r in obj))  # fmt: skip
    if chi:
        parts.append("the data chi^2 difference changes sign with " + ", ".join(
            f"{lab(r)} ({r['d_chi2']:+,.0f})" for r in chi))  # fmt: skip
    return "; " + " and ".join(parts) + f" ({tried})"


def verdict(result: dict) -> str:
    """One sentence, computed from the stage's result, stating CMSI's best joint fit against Newton on
    identical points and the conditions it holds under (nuisance free under Li et al.'s priors, no box;
    the starts; and whether the sign survives the error floors and leave-one-out)."""
    g = result["galaxies"]
    s = result["settings"]
    d_obj, d_chi2 = g["d_objective"], g["d_chi2"]
    cond = (f"With every galaxy's nuisance parameters free under Li et al.'s priors and no box ({s['sample']}, "
            f"{g['n_galaxies']} galaxies, {g['n_points']} points, v_c {g['vc_mode']}, n = 2, starts: the seed and "
            f"the corner F = 1 + A (v_c/c)^2)")  # fmt: skip
    if d_obj > -SAME:
        what = f"CMSI's best joint fit does no better than Newton (objective {_fmt(d_obj)} against it)"
    elif d_chi2 > 0:
        what = (f"CMSI's best joint fit lowers the objective (chi^2 + prior chi^2) by {_fmt(-d_obj)} against "
                f"Newton on the identical points but raises the data chi^2 by {_fmt(d_chi2)}: "
                "its gain is entirely in the priors")  # fmt: skip
    else:
        what = (f"CMSI's best joint fit lowers the objective by {_fmt(-d_obj)} and the data chi^2 by {_fmt(-d_chi2)} "
                f"against Newton on the identical points")  # fmt: skip
    at = [a for a in g["at_bound"] + g["in_limit"] if ":" not in a]
    where = f", with {', '.join(at)} on a bound or in a limit" if at else ""
    tail = _robustness_clause(result["robustness"], s["floors_kms"], d_obj, d_chi2)
    fixed = result.get("galaxies_fixed_nuisance")
    ec = _continuity_clause(result.get("eps_continuity"), s["options"]["sigma_definition"], d_obj)
    fx = ""
    if fixed:
        pct = 100 * fixed["d_objective"] / fixed["newton"]["objective"]
        fx = f"; with the nuisance fixed at the table's values, CMSI changes chi^2 by {pct:+.1f}%"
    return f"{cond}, {what}{where}{ec}{tail}{fx}."


def _continuity_clause(ec: dict | None, sigma_definition: str, d_obj: float) -> str:
    """What the eps -> 0+ refit (``eps_continuity``) says about a gain at the corner."""
    if not ec or d_obj > -SAME or ec["fits"].get(sigma_definition) is None:
        return ""
    z, f = ec["zero_sigma"], ec["fits"][sigma_definition]
    if not z["n_points"]:
        return ""
    moved = "none of it remains" if f["d_objective"] > -SAME else f"{_fmt(-f['d_objective'])} of it remains"
    text = (
        f"; the gain needs eps = 0 exactly: at eps = {ec['eps_off']:g} the {z['n_points']} points of "
        f"{z['n_galaxies']} galaxies where Sigma ({sigma_definition}) is 0 lose their boost, and {moved}"
    )
    gas = ec["fits"].get("stellar+gas") if sigma_definition != "stellar+gas" else None
    if gas is not None:
        text += (
            " (with Sigma including a gas disk, positive at every radius, the objective difference there is "
            f"{_fmt(gas['d_objective'])})"
        )
    return text


def survey_box_counts(fits_table, models=("newton", "cmsi", "cmsi_global", "rar")) -> dict[str, dict]:
    """From the survey's fits.ecsv (``results.load_survey().fits``): per model, how many galaxies' fits
    have a parameter on the survey's +-5 sigma box (its ``at_bound`` column), and how many of those are
    nuisance parameters (ups_disk, ups_bul, D, inc)."""
    out = {}
    for m in models:
        rows = fits_table[fits_table["model"] == m]
        names = [[x for x in str(a).split(",") if x and x != "--"] for a in rows["at_bound"]]
        out[m] = {"n_fits": len(rows), "n_on_bound": sum(1 for n in names if n),
                  "n_nuisance_on_bound": sum(1 for n in names if set(n) & set(jf.NUISANCE_NAMES))}  # fmt: skip
    return out
