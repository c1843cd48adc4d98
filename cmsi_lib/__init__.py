"""cmsi_lib: the thin library behind the CMSI book.

    from cmsi_lib import Params, enhancement
    F = enhancement(R_kpc, v_c_kms, sigma_v_kms, Sigma_Msun_pc2, Params(chi0=800))

Modules (one concern each):
    params     Params: the CMSI parameters, validated and hashable
    kernel     the factors of F, F itself (and F - 1 as `boost`), the v_c modes
    units      constants in kpc, km/s, Msun (from astropy)
    datafiles  checksum-verified input files (pooch, or the CMSI_DATA_DIR mirror)
    paths      where the repository, results and caches are
    cli        the ``cmsi`` command
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
