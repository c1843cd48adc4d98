"""Injection and recovery: could the joint fit see CMSI if it were there, and what does it make of a
world where the radial acceleration relation (RAR) is true? (issue 13, item 8)

Mock samples keep the real SPARC sample's radii, errors, baryonic components and priors. For every
galaxy (all 175) the true nuisance parameters are drawn from the priors of the fits
(``fitting.UPS_DISK_PRIOR``, ``fitting.UPS_BUL_PRIOR``; D ~ N(D_SPARC, e_D), redrawn until > 0;
Inc ~ N(Inc_SPARC, e_Inc), folded into (0, 90] deg by Inc -> 180 - Inc, which leaves sin Inc
unchanged), the true speed V_true at the true distance is made by a world model, and the mock
records what SPARC would tabulate: V_obs = V_true sin(Inc)/sin(Inc_SPARC) + e_V N(0, 1), with e_V
SPARC's errV, at SPARC's radii, distance and inclination (the inverse of ``models.observables``).
The mocks are written in Rotmod format with a galaxies.csv (``rotmod.write_sample``) and read back
with ``rotmod.load_sample``, the reader of ``cmsi survey --sample``.

Worlds (``WORLDS``):

* "cmsi": CMSI at the seed's shape (``TRUTH_SHAPE``: eps 0.5, gamma alpha 0.825, n 2, ell0 5 kpc)
  with the amplitude chi0 set from the data so that F - 1 = ``BOOST_TARGET`` (1) at the median of the
  flat parts of the curves: the outer half (by radius) of each galaxy's fitted points, at the priors'
  centres (``cmsi_truth``). F - 1 is linear in chi0 for v_c baryonic, so this is one division.
* "rar": the RAR with g_dagger = ``rar.G_DAGGER_SI`` = 1.2e-10 m/s^2 (``models`` "rar").

Each mock is fitted on exactly the points of the real sample after the standard cuts (the same
galaxies and points as the survey's joint fit; the noise does not choose the points) by
``jointfit.joint_map``: the Newton-only joint MAP, then CMSI's four default globals (log10_A,
gamma_alpha, ell0, eps; n = 2 fixed) from each of ``STARTS``: by default the injected CMSI parameters
only (for both worlds: in the RAR world it is just a starting point near F - 1 ~ 1), also trying the
Newton MAP's nuisance per galaxy; ``fit_mock(starts=("injected", "seed"))`` adds the seed's defaults
(too slow for the stage). The best objective is the MAP. A start at the truth tests whether the truth
is a (local) optimum with honest intervals, not whether a blind search would find it. Recovery rows compare
the injected identifiable values with the MAP and its Laplace 16/50/84 percentiles (not a sampled
posterior; ``jointfit``). The whole run is a cached stage (``run_injections``, stage "injections").

Seeds: ``SEED`` (default 0) -> numpy ``default_rng([seed, k])`` with k = ``WORLDS.index(world)``.
Units: R kpc, speeds km/s, D Mpc, Inc deg, accelerations m/s^2, Sigma Msun/pc^2.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np
from scipy.stats import chi2 as chi2_dist

from . import jointfit, models, paths, rar, rotmod, sparc, stages
from .errors import InputError
from .fitting import UPS_BUL_PRIOR, UPS_DISK_PRIOR
from .options import SparcOptions
from .params import Params
from .units import ACCEL_SI_PER_KMS2_KPC

__all__ = [
    "WORLDS",
    "SEED",
    "BOOST_TARGET",
    "TRUTH_SHAPE",
    "STAGE",
    "real_sample",
    "detection",
    "cmsi_truth",
    "draw_nuisance",
    "mock_galaxy",
    "make_mock",
    "fit_mock",
    "recovery_rows",
    "run_injections",
    "injections_dir",
]

WORLDS = ("cmsi", "rar")
SEED = 0
#: F - 1 of the injected CMSI at the median of the curves' flat parts
BOOST_TARGET = 1.0
#: the injected CMSI's shape (the seed's, with ell0 = 5 kpc: within the radii, so f is not in a limit)
TRUTH_SHAPE = Params(ell0=5.0)
STAGE = "injections"
MODULES = ("cmsi_lib.injection",)
DATA_FILES = (sparc.TABLE1_FILE, sparc.TABLE2_FILE)


def injections_dir() -> Path:
    """results/injections/: the mock samples, one Rotmod folder per world."""
    return paths.results_dir() / "injections"


def real_sample(cuts: sparc.QualityCuts = sparc.QualityCuts()) -> dict:
    """The real SPARC sample after ``cuts``: name -> (Galaxy, mask of the points kept)."""
    kept, _counts = sparc.apply_cuts(sparc.load_galaxies(), cuts)
    return kept


def cmsi_truth(sample: dict, options: SparcOptions = SparcOptions(), shape: Params = TRUTH_SHAPE,
               target: float = BOOST_TARGET) -> tuple[Params, dict]:  # fmt: skip
    """The injected CMSI: ``shape`` with chi0 such that the median of F - 1 over the flat parts (the outer
    half by radius of each galaxy's points kept in ``sample``; v_c baryonic, mass-to-light ratios of
    ``options``, SPARC's D and Inc) equals ``target``. Returns (Params, how: the numbers of the rule)."""
    if not (math.isfinite(target) and target > 0):
        raise InputError(f"target = {target!r}: F - 1 on the flat parts must be > 0")
    if options.vc_mode != "baryonic":
        raise InputError("cmsi_truth scales chi0 linearly: it needs vc_mode 'baryonic'")
    unit = dataclasses.replace(shape, chi0=1.0)
    outer = []
    for gal, mask in sample.values():
        b = models.cmsi_curve(gal, unit, options).F - 1.0
        idx = np.flatnonzero(mask)
        idx = idx[np.argsort(gal.R[idx])]
        outer.append(b[idx[idx.size // 2 :]])
    per_chi0 = float(np.median(np.concatenate(outer)))
    chi0 = target / per_chi0
    how = {"target_boost": target, "median_boost_per_unit_chi0": per_chi0, "chi0": chi0,
           "n_points_flat": int(sum(o.size for o in outer)), "n_galaxies": len(outer)}  # fmt: skip
    return dataclasses.replace(shape, chi0=chi0), how


def draw_nuisance(galaxy: sparc.Galaxy, rng: np.random.Generator) -> models.Nuisance:
    """True nuisance parameters drawn from the fits' priors (the module docstring): log-normal Ups_disk,
    Ups_bul; D ~ N(D, e_D) > 0 [Mpc]; Inc ~ N(Inc, e_Inc) folded into (0, 90] [deg]. Always 4 + draws."""
    ud = 10 ** rng.normal(math.log10(UPS_DISK_PRIOR[0]), UPS_DISK_PRIOR[1])
    ub = 10 ** rng.normal(math.log10(UPS_BUL_PRIOR[0]), UPS_BUL_PRIOR[1])
    D = galaxy.D + galaxy.e_D * rng.normal()
    while D <= 0:
        D = galaxy.D + galaxy.e_D * rng.normal()
    inc = galaxy.inc + galaxy.e_inc * rng.normal()
    inc = abs(inc) % 180.0
    inc = 180.0 - inc if inc > 90.0 else inc
    return models.Nuisance(float(ud), float(ub), float(D), float(max(inc, 1e-3)))


def _world_model(world: str, truth: Params, options: SparcOptions) -> models.Model:
    if world not in WORLDS:
        raise InputError(f"world = {world!r} is not one of {WORLDS}")
    return models.CMSI(truth, options) if world == "cmsi" else models.get_model("rar")


def mock_galaxy(galaxy: sparc.Galaxy, model: models.Model, nuisance: models.Nuisance, rng: np.random.Generator):
    """(mock Galaxy, V_true [km/s] as tabulated): ``model``'s speed at the true nuisance, seen at
    SPARC's D and Inc (V_true sin Inc / sin Inc_SPARC) plus Gaussian noise of SPARC's errV; every other
    field is the galaxy's."""
    v_true = model.v_model(None, galaxy, nuisance, None)
    k = math.sin(math.radians(galaxy.inc)) / math.sin(math.radians(nuisance.resolved(galaxy)[3]))
    v_tab = np.asarray(v_true, float) / k
    v_obs = v_tab + galaxy.e_v_obs * rng.standard_normal(galaxy.n_points)
    return dataclasses.replace(galaxy, v_obs=sparc._frozen(v_obs)), v_tab


def make_mock(world: str, folder: Path, truth: Params, seed: int = SEED, options: SparcOptions = SparcOptions(),
              galaxies: dict | None = None) -> dict:  # fmt: skip
    """Write the mock of ``world`` for ``galaxies`` (default all of SPARC) into ``folder`` (Rotmod +
    galaxies.csv; other *_rotmod.dat files there are removed). Returns name -> {"nuisance": the true
    (ups_disk, ups_bul, D, inc), "v_true": V_true as tabulated [km/s]}."""
    galaxies = sparc.load_galaxies() if galaxies is None else galaxies
    rng = np.random.default_rng([seed, WORLDS.index(world) if world in WORLDS else 99])
    model = _world_model(world, truth, options)
    mocks, info = {}, {}
    for name, g in galaxies.items():
        nz = draw_nuisance(g, rng)
        mocks[name], v_tab = mock_galaxy(g, model, nz, rng)
        info[name] = {"nuisance": dataclasses.astuple(nz), "v_true": v_tab}
    folder = Path(folder)
    for old in folder.glob(f"*{rotmod.SUFFIX}"):
        if old.name[: -len(rotmod.SUFFIX)] not in mocks:
            old.unlink()
    rotmod.write_sample(mocks, folder)
    return info


def _on_real_points(mock: dict, real: dict) -> dict:
    """The mock galaxies on the real sample's points (name -> (mock Galaxy, real mask)), radii checked."""
    out = {}
    for name, (g, mask) in real.items():
        m = mock.get(name)
        if m is None or m.n_points != g.n_points or not np.allclose(m.R, g.R, rtol=1e-12, atol=0):
            raise InputError(f"mock galaxy {name}: missing or not on SPARC's radii")
        out[name] = (m, mask)
    return out


#: the starting points ``fit_mock`` knows: "injected" (the CMSI world's truth) and "seed" (the seed's defaults)
START_NAMES = ("injected", "seed")
#: those the stage uses: the injected start only. With the seed's start as well, the CMSI world alone took
#: more than 16 CPU minutes (2 cores shared by ~6 sessions, 2026-12-02), past the stage's budget of minutes
STARTS = ("injected",)


def fit_mock(sample: dict, truth: Params, options: SparcOptions = SparcOptions(), starts=STARTS) -> dict:
    """The Newton joint MAP and CMSI's from each of ``starts`` (names in ``STARTS``) on ``sample``; returns
    {"newton": JointFit, "fits": start -> JointFit, "best": the start with the lowest objective}."""
    blocks = jointfit.sparc_blocks(sample, options)
    newton = jointfit.joint_map(blocks, model="newton", options=options)
    at = {"seed": Params(), "injected": truth}
    bad = [s for s in starts if s not in at]
    if bad or not starts:
        raise InputError(f"starts = {starts!r}: each must be one of {START_NAMES}")
    calls = [dict(start=at[s], options=options, nuisance_starts=[newton]) for s in starts]
    fits = dict(zip(starts, jointfit.joint_maps(blocks, calls), strict=True))  # independent: on jointfit.WORKERS
    best = min(fits, key=lambda s: fits[s].objective)
    return {"newton": newton, "fits": fits, "best": best, "blocks": blocks}


def _truth_chi2(sample: dict, info: dict) -> float:
    """chi^2 of V_true against the mock on the fitted points: sum ((V_obs - V_true)/errV)^2 (as tabulated)."""
    return float(sum(np.sum(((g.v_obs - info[n]["v_true"]) / g.e_v_obs)[m] ** 2) for n, (g, m) in sample.items()))


def _fit_space(f: str, v: float) -> float:
    return math.log10(v) if f in ("ell0", "n") else v


def recovery_table(fit: jointfit.JointFit, truth: Params) -> list[dict]:
    """One row per free global of ``fit`` (and log10 chi0 at Sigma_ref = 50 Msun/pc^2): the injected
    identifiable value, the MAP, the Laplace 16/50/84 percentiles, whether the injected value lies in
    [p16, p84], and the pull (MAP - injected)/sigma (sigma from the percentiles; log10 for ell0)."""
    want = jointfit.identifiable(truth)
    want["log10_chi0_at_sigma_ref_50"] = want["log10_A"] + want["eps"] * math.log10(jointfit.SIGMA_REF_REPORT)
    pct = {**fit.laplace, **fit.derived}
    rows = []
    for f in [*fit.free, *fit.derived]:
        p16, p50, p84 = pct.get(f, (math.nan,) * 3)
        got = fit.values[f] if f in fit.values else p50
        sigma = (_fit_space(f, p84) - _fit_space(f, p16)) / 2 if math.isfinite(p16) and math.isfinite(p84) else math.nan
        pull = (_fit_space(f, got) - _fit_space(f, want[f])) / sigma if sigma > 0 else math.nan
        rows.append({"parameter": f, "injected": want[f], "map": got, "p16": p16, "p50": p50, "p84": p84,
                     "inside_16_84": bool(p16 <= want[f] <= p84) if math.isfinite(sigma) else None,
                     "pull": pull})  # fmt: skip
    return rows


def _rar_points(out: dict, sample: dict, info: dict) -> dict:
    """Per fitted point of the RAR world: g_bar [m/s^2] at the true nuisance, the true boost g_obs/g_bar - 1
    of the RAR there, and F - 1 of CMSI's MAP at its own nuisance (with its g_bar)."""
    fit = out["fits"][out["best"]]
    prob = jointfit.JointProblem(out["blocks"], fit.free)
    vo, _e, vm, boost = prob.point_values(fit.x)
    nu = prob.nuisance_at(fit.x)
    s = (nu["D"] / prob.D0)[prob.gi]
    vb2 = s * (prob.g2 + nu["ups_disk"][prob.gi] * prob.d2 + nu["ups_bul"][prob.gi] * prob.b2)
    gbar_map = vb2 / (prob.R * s) * ACCEL_SI_PER_KMS2_KPC
    gbar_true = []
    for name, (g, m) in sample.items():
        ud, ub, D, _inc = info[name]["nuisance"]
        obs = models.observables(g, models.Nuisance(ud, ub, D, None))
        gbar_true.append((obs.v_bar2 / obs.R)[m] * ACCEL_SI_PER_KMS2_KPC)
    gt = np.concatenate(gbar_true)
    rar_boost = rar.rar_g_obs(gt, rar.G_DAGGER_SI) / np.where(gt != 0, gt, 1.0) - 1.0
    keep = (gt > 0) & (gbar_map > 0)
    cols = {"g_bar_true": gt, "rar_boost": rar_boost, "g_bar_map": gbar_map, "cmsi_boost_map": boost}
    return {k: np.asarray(v, float)[keep].tolist() for k, v in cols.items()}


def _fit_summary(f: jointfit.JointFit) -> dict:
    return {"objective": f.objective, "chi2": f.chi2, "values": dict(f.values), "laplace": dict(f.laplace),
            "derived": dict(f.derived), "at_bound": [a for a in f.at_bound if ":" not in a],
            "n_nuisance_at_bound": sum(":" in a for a in f.at_bound), "in_limit": list(f.in_limit),
            "success": f.success, "message": f.message, "seconds": f.seconds, "max_boost": f.max_boost,
            "median_boost": f.median_boost}  # fmt: skip


def _world(world: str, truth: Params, real: dict, seed: int, options: SparcOptions) -> dict:
    """Mock, read back, fit and summarise one world (the stage's work for it)."""
    t0 = time.perf_counter()
    folder = injections_dir() / world
    info = make_mock(world, folder, truth, seed, options)
    sample = _on_real_points(rotmod.load_sample(folder), real)
    out = fit_mock(sample, truth, options)
    best, newton = out["fits"][out["best"]], out["newton"]
    res = {
        "folder": str(folder.relative_to(paths.results_dir())),
        "n_galaxies": len(sample), "n_points": int(sum(m.sum() for _g, m in sample.values())),
        "chi2_truth": _truth_chi2(sample, info),
        "newton": {"objective": newton.objective, "chi2": newton.chi2, "seconds": newton.seconds},
        "fits": {s: _fit_summary(f) for s, f in out["fits"].items()}, "best": out["best"],
        "record": jointfit.joint_fit_record(best, newton), "recovery": recovery_table(best, truth),
    }  # fmt: skip
    if world == "rar":
        res["points"] = _rar_points(out, sample, info)
    res["seconds"] = time.perf_counter() - t0
    return res


def run_injections(seed: int = SEED, options: SparcOptions = SparcOptions(), force: bool = False) -> tuple[dict, bool]:
    """The stage "injections": both worlds (``WORLDS``) mocked with ``seed``, written under
    results/injections/<world>/ and fitted (``fit_mock``). Cached (``stages.run_stage``): keyed by the seed,
    the options, the injected shape and target, the starts, the data and the code. Returns (result, cached)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed = {seed!r}: an integer >= 0")
    inputs = {"seed": int(seed), "options": options.as_dict(), "shape": TRUTH_SHAPE.as_dict(),
              "target": BOOST_TARGET, "starts": list(STARTS), "worlds": list(WORLDS), "cuts": "standard"}  # fmt: skip

    def compute() -> dict:
        real = real_sample()
        truth, how = cmsi_truth(real, options)
        out = {"seed": int(seed), "truth": truth.as_dict(), "truth_identifiable": jointfit.identifiable(truth),
               "amplitude": how, "g_dagger": rar.G_DAGGER_SI, "starts": list(STARTS)}  # fmt: skip
        for w in WORLDS:
            out[w] = _world(w, truth, real, int(seed), options)
        return out

    folders = [injections_dir() / w for w in WORLDS]
    return stages.run_stage(STAGE, inputs, compute, MODULES, DATA_FILES, force=force, outputs=folders)


def detection(result: dict, level: float = 0.01) -> dict:
    """Whether the joint fit sees the CMSI world of a ``run_injections`` result: d_objective, the drop of
    the objective [chi^2] from Newton's joint MAP to CMSI's best on the mock; n_free, the free globals
    with a recovery row; threshold, the (1 - level) point of chi^2 with n_free degrees of freedom;
    seen, d_objective > threshold."""
    C = result["cmsi"]
    d_objective = C["newton"]["objective"] - C["fits"][C["best"]]["objective"]
    n_free = sum(r["parameter"] in C["record"]["free"] for r in C["recovery"])
    threshold = float(chi2_dist.isf(level, n_free))
    return {"d_objective": d_objective, "n_free": n_free, "threshold": threshold, "seen": d_objective > threshold}


def recovery_rows(result: dict) -> list[dict]:
    """The CMSI world's recovery rows of a ``run_injections`` result (for a compact table): parameter,
    injected, map, p16, p50, p84 (Laplace), inside_16_84, pull."""
    return list(result["cmsi"]["recovery"])
