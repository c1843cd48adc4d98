"""cmsi_lib: the thin library behind the CMSI book.

    from cmsi_lib import Params, enhancement
    F = enhancement(R_kpc, v_c_kms, sigma_v_kms, Sigma_Msun_pc2, Params(chi0=800))

Modules (one concern each; imports run one way, from the top of this list down):
    errors        every exception, under one root class (CMSIError)
    params        Params: the CMSI parameters, validated and hashable
    units, curves constants in kpc, km/s, Msun (astropy); signed v_bar^2 and the required F
    kernel        the factors of F, F itself (and F - 1 as `boost`), the v_c modes, inversions
    rar           the radial acceleration relation (the MOND-like baseline)
    anchors       published numbers the book is checked against (read by chapters and tests)
    datafiles     checksum-verified input files (pooch, or the CMSI_DATA_DIR mirror)
    data          sparc (Tables 1-2, galaxies, cuts, sigma_v/Sigma estimates), milky_way_data,
                  milky_way_baryons (McMillan17 via galpy), cluster_data, solar_bodies, solar_bounds
    options       SparcOptions: the CMSI modelling choices on a SPARC galaxy
    models        Newton, RAR, NFW, Burkert, CMSI; a model bound to a galaxy; the unfitted CMSI curve
    fitting       per-galaxy nuisance-prior fits (and emcee); sweep: Dask; globalfit: global fit with CV
    systems       one entry point each, returning a typed result: solar_system.analyse,
                  milky_way.analyse, survey.run_survey (read back as results.SurveyResult),
                  atlas.atlas_page, clusters.analyse
                  (milky_way_fit, projection: their numerics)
    jointfit      the joint MAP of CMSI's globals with every galaxy's nuisance; joint_survey: it as a
                  stage; posterior: NUTS (JAX, NumPyro), posterior_stage: that stage's key and results
                  read without JAX; injection, comparison, log_slope: power, fair comparison, slopes
    claims        the seed's quantitative claims recomputed (a registry over one Assumptions record)
    audit         the derivation chapters' checks, and running them headless
    runner        the per-galaxy papermill pages: cached, parallel (Dask), atomic. Knows no physics.
    results, paths, book, page   where results live (atomic writes); the strict book build; page helpers
    cli           the ``cmsi`` command (one module per subcommand)
"""

from .errors import CMSIError, InputError, NoSelfConsistentSolution, ParameterError
from .kernel import (
    VC_MODES,
    boost,
    circular_speed,
    coherence_term,
    enhancement,
    radial_profile,
    self_consistent_speed,
    source_density_term,
    velocity_term,
)
from .params import Params

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
    "CMSIError",
]
__version__ = "0.1.0"
