"""cmsi_lib: the thin library behind the CMSI book.

    from cmsi_lib import Params, enhancement
    F = enhancement(R_kpc, v_c_kms, sigma_v_kms, Sigma_Msun_pc2, Params(chi0=800))

Modules (one concern each):
    params        Params: the CMSI parameters, validated and hashable
    kernel        the factors of F, F itself (and F - 1 as `boost`), the v_c modes
    units         constants in kpc, km/s, Msun (from astropy)
    rar           the radial acceleration relation (the MOND-like baseline)
    datafiles     checksum-verified input files (pooch, or the CMSI_DATA_DIR mirror)
    sparc         SPARC Tables 1-2: galaxies, cuts, and the sigma_v / Sigma options CMSI needs
    models, fit   Newton, RAR, NFW, Burkert, CMSI; nuisance-prior fits, global fit with CV
    sweep         parameter sweeps through Dask (local cluster or a scheduler address)
    solar_system, milky_way, clusters   the other tests against data
    claims        the seed's quantitative claims recomputed (the claims ledger)
    audit         the derivation chapters' checks, and running them headless
    runner        the per-galaxy papermill pages: cached, parallel (Dask), atomic
    results, paths, book   where results live, atomic writes, the strict book build
    cli           the ``cmsi`` command (one module per subcommand)
"""

from .kernel import (
    VC_MODES,
    InputError,
    NoSelfConsistentSolution,
    boost,
    circular_speed,
    coherence_term,
    enhancement,
    radial_profile,
    self_consistent_speed,
    source_density_term,
    velocity_term,
)
from .params import ParameterError, Params

__all__ = [
    "Params",
    "ParameterError",
    "enhancement",
    "boost",
    "velocity_term",
    "source_density_term",
    "coherence_term",
    "radial_profile",
    "circular_speed",
    "self_consistent_speed",
    "VC_MODES",
    "InputError",
    "NoSelfConsistentSolution",
]
__version__ = "0.1.0"
