"""The posterior stage's identity and its results, without the sampler: what the stage is keyed by
(``stage_inputs``: the sampling options ``PosteriorOptions``, the modelling options, the cuts, the
versions of JAX and NumPyro), reading a cached result (``cached_stage``), the convergence criterion
(``converged``) and the ``cmsi survey --json`` entry (``json_entry``). ``cmsi_lib.posterior`` samples
(JAX, NumPyro: seconds to import) and runs the stage; this module imports neither, so the command line
can read the stage's result without them.

Units: log10_A [dex, A in (Msun/pc^2)^-eps], log10_ell0 [log10 kpc], log10 g_dagger [log10 m/s^2].
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import math

from . import sparc, stages
from .errors import InputError
from .options import SparcOptions

__all__ = [
    "CMSI_PRIORS",
    "RAR_PRIOR",
    "RUNS",
    "GAS_SIGMA",
    "PosteriorOptions",
    "STAGE",
    "MODULES",
    "DATA_FILES",
    "stage_inputs",
    "cached_stage",
    "R_HAT_MAX",
    "ESS_MIN",
    "converged",
    "globals_converged",
    "json_entry",
]

#: uniform priors of the CMSI globals: name -> (low, high). log10_A [dex, A in (Msun/pc^2)^-eps]: F - 1
#: from ~1e-20 to far above 1 at SPARC's v_c/c ~ 1e-4..1e-3; gamma_alpha and eps >= 0 (the domain of
#: ``Params``) up to beyond the joint MAP's largest local optimum (4.2, 3.8); log10 ell0 [log10 kpc]:
#: from 1e-4 kpc (f = ell0/R everywhere) to 1e12 kpc (f = 1 everywhere)
CMSI_PRIORS = {"log10_A": (-15.0, 15.0), "gamma_alpha": (0.0, 6.0), "log10_ell0": (-4.0, 12.0), "eps": (0.0, 5.0)}
#: uniform prior of log10 g_dagger [log10 m/s^2] (the bounds of ``models.RAR``: 1e-12..1e-8 m/s^2)
RAR_PRIOR = (-12.0, -8.0)
#: the posteriors of the stage (module docstring)
RUNS = ("cmsi", "cmsi_gas", "rar")
#: the Sigma definition of the "cmsi_gas" run (``sparc.SIGMA_DEFINITIONS``)
GAS_SIGMA = "stellar+gas"


@dataclasses.dataclass(frozen=True)
class PosteriorOptions:
    """How the posterior is sampled. chains: number of chains (dispersed starts); warmup, samples: NUTS
    iterations per chain (adaptation, then kept); seed: PRNG seed; target_accept: NUTS' target
    acceptance probability; max_tree_depth: at most 2^depth leapfrog steps per iteration; init_radius:
    starts uniform in (-r, r) in unconstrained space; thin: keep every thin-th sample in the stored
    table; n: the fixed shape index of f; priors: the CMSI box (tuple of (name, low, high), see
    ``CMSI_PRIORS``); rar_prior: (low, high) of log10 g_dagger [log10 m/s^2]."""

    chains: int = 4
    warmup: int = 400
    samples: int = 400
    seed: int = 0
    target_accept: float = 0.8
    max_tree_depth: int = 8
    init_radius: float = 2.0
    thin: int = 4
    n: float = 2.0
    priors: tuple = tuple((k, *v) for k, v in CMSI_PRIORS.items())
    rar_prior: tuple = RAR_PRIOR

    def __post_init__(self):
        for name, lo in (("chains", 1), ("warmup", 1), ("samples", 1), ("max_tree_depth", 1), ("thin", 1)):
            v = getattr(self, name)
            if not (isinstance(v, int) and v >= lo):
                raise InputError(f"posterior option {name} = {v!r}: must be an integer >= {lo}")
        if not 0.0 < self.target_accept < 1.0:
            raise InputError(f"posterior option target_accept = {self.target_accept!r}: must be in (0, 1)")
        if not (math.isfinite(self.n) and self.n > 0) or not self.init_radius > 0:
            raise InputError(f"posterior options n = {self.n!r}, init_radius = {self.init_radius!r}: must be > 0")
        names = [p[0] for p in self.priors]
        if sorted(names) != sorted(CMSI_PRIORS):
            raise InputError(f"posterior option priors names {names}: must be exactly {list(CMSI_PRIORS)}")
        for name, lo, hi in self.priors:
            floor = 0.0 if name in ("gamma_alpha", "eps") else -math.inf
            if not (math.isfinite(lo) and math.isfinite(hi) and floor <= lo < hi):
                raise InputError(f"prior of {name}: ({lo!r}, {hi!r}) must be finite with {floor} <= low < high")
        lo, hi = self.rar_prior
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise InputError(f"rar_prior = {self.rar_prior!r}: must be finite (low, high), low < high")

    def prior(self, name: str) -> tuple[float, float]:
        return next((lo, hi) for n, lo, hi in self.priors if n == name)

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["priors"] = [list(p) for p in self.priors]
        d["rar_prior"] = list(self.rar_prior)
        return d


# --------------------------------------------------------------------------- the stage's identity
#: the stage, the modules it runs (their sources enter its key) and the data files it reads
STAGE = "posterior"
MODULES = ("cmsi_lib.posterior",)
DATA_FILES = (sparc.TABLE1_FILE, sparc.TABLE2_FILE)


def stage_inputs(opts: PosteriorOptions, options: SparcOptions) -> dict:
    """The stage key's inputs: the sampling and modelling options, the cuts (the standard ones), and the
    installed versions of JAX and NumPyro (read from the package metadata, without importing them)."""
    return {"posterior": opts.as_dict(), "options": options.as_dict(), "cuts": dataclasses.asdict(sparc.QualityCuts()),
            "versions": {"jax": importlib.metadata.version("jax"),
                         "numpyro": importlib.metadata.version("numpyro")}}  # fmt: skip


def cached_stage(opts: PosteriorOptions = PosteriorOptions(), options: SparcOptions | None = None) -> dict | None:
    """The stage's result when its cache holds it for these settings (as ``posterior_stage`` would read
    it), else None; computes nothing and writes nothing."""
    options = SparcOptions() if options is None else options
    return stages.cached(STAGE, stages.stage_key(STAGE, stage_inputs(opts, options), MODULES, DATA_FILES))


#: the convergence criterion (Vehtari et al. 2021): R-hat below this and bulk ESS above ESS_MIN
R_HAT_MAX, ESS_MIN = 1.01, 400


def converged(run: dict) -> bool:
    """R-hat < ``R_HAT_MAX`` and bulk ESS > ``ESS_MIN`` for every global and every nuisance coordinate
    of a run's summary (``summary``)."""
    a = run["all_parameters"]
    return a["r_hat_max"] < R_HAT_MAX and a["ess_bulk_min"] > ESS_MIN


def globals_converged(run: dict) -> bool:
    """The same criterion for the run's global parameters only (its ``params``)."""
    return all(p["r_hat"] < R_HAT_MAX and p["ess_bulk"] > ESS_MIN for p in run["params"].values())


def json_entry(result: dict, options: SparcOptions | None = None) -> dict:
    """The posterior part of ``cmsi survey --json``'s ``joint_fit`` entry (``result``: the stage's, run with
    the modelling ``options``, default ``SparcOptions()``): per run (``RUNS``) the 16/50/84
    percentiles of each global (units of ``CMSI_PRIORS`` / ``RAR_PRIOR``), R-hat, bulk ESS, the
    fractions of draws at the prior box's edges, the derived quantities, the convergence verdicts
    (``converged``, ``globals_converged``), divergences and the start; n_points and n_galaxies."""
    keep = ("p16_50_84", "r_hat", "ess_bulk", "prior", "frac_at_low_edge", "frac_at_high_edge")
    sigma = {"cmsi": (SparcOptions() if options is None else options).sigma_definition, "cmsi_gas": GAS_SIGMA}
    runs = {}
    for w in RUNS:
        run = result[w]
        runs[w] = {
            "free": list(run["params"]),
            "percentiles": {k: {a: p[a] for a in keep} for k, p in run["params"].items()},
            "derived": run.get("derived", {}),
            "converged": converged(run),
            "globals_converged": globals_converged(run),
            "all_parameters": run["all_parameters"],
            "n_divergent": run["n_divergent"],
            "start": run["start"],
            "sigma_definition": sigma.get(w),  # None for the RAR (no Sigma)
        }
    return {"method": "NUTS (NumPyro), every nuisance parameter sampled", "n_points": result["n_points"],
            "n_galaxies": result["n_galaxies"], "criterion": {"r_hat_below": R_HAT_MAX, "ess_bulk_above": ESS_MIN},
            "runs": runs}  # fmt: skip
