"""The field's published SPARC anchors, reproduced on the real data (needs the SPARC files).

* McGaugh, Lelli & Schombert 2016 (PRL 117, 201101): with Ups_disk = 0.5, Ups_bul = 0.7 and the
  standard cuts (Q < 3, Inc >= 30 deg, e_V/V < 10%), 2693 points in 153 galaxies, observed scatter
  about the RAR 0.13 dex.
* Li, Lelli, McGaugh & Schombert 2018 (A&A 615, A3): fitting Ups, D and Inc per galaxy with their
  priors tightens the residual scatter about the RAR to 0.057 dex.
Tolerances are stated per assertion, with the reason.
"""

import numpy as np
import pytest

from cmsi_lib import fitting, sparc
from cmsi_lib.anchors import (
    RAR_SCATTER_FITTED_DEX,
    RAR_SCATTER_FIXED_DEX,
    SPARC_STANDARD_GALAXIES,
    SPARC_STANDARD_POINTS,
)


@pytest.fixture(scope="module")
def standard_sample():
    try:
        return sparc.apply_cuts(sparc.load_galaxies(), sparc.QualityCuts())
    except Exception as exc:  # no data mirror and no network
        pytest.skip(f"SPARC data not available: {exc}")


def test_standard_cuts_counts(standard_sample):
    kept, counts = standard_sample
    steps = counts.as_dict()
    # 153 galaxies survive the galaxy-level cuts (Q, Inc), as in McGaugh et al. 2016
    assert SPARC_STANDARD_GALAXIES.holds(steps["inclination"]["galaxies"])
    # points: 2693 published; within 0.5% (the exact cut e_V/V < 0.1 gives 2694; the published rows differ in detail)
    n_points = sum(int(m.sum()) for _g, m in kept.values())
    assert SPARC_STANDARD_POINTS.holds(n_points)
    # a few galaxies lose every point to the 10% error cut: 153 minus at most 10
    n_gal = SPARC_STANDARD_GALAXIES.value
    assert n_gal - 10 <= len(kept) <= n_gal


def test_rar_scatter_with_fixed_nuisance(standard_sample):
    kept, _ = standard_sample
    s = fitting.summarize(fitting.fit_sample(kept, "rar", nuisance="none"))
    # 0.13 dex published ("about"); +-0.01 dex covers the two-decimal rounding and the point count
    assert RAR_SCATTER_FIXED_DEX.holds(s["rar_rms_dex"])


def test_rar_scatter_with_nuisance_fits(standard_sample):
    kept, _ = standard_sample
    rs = fitting.fit_sample(kept, "rar")
    s = fitting.summarize(rs)
    assert s["n_failed"] == 0 and s["n_skipped"] == 0
    # 0.057 dex published (Li et al. 2018); +-0.008 dex: their sample and optimiser (MCMC posterior
    # means, not maxima) differ from ours in detail
    assert RAR_SCATTER_FITTED_DEX.holds(s["rar_rms_dex"])
    # the fitted mass-to-light ratios stay near their priors: median Ups_disk within 0.1 dex of 0.5
    ups = np.array([r.best["ups_disk"] for r in rs if r.success])
    assert abs(np.log10(np.median(ups) / 0.5)) < 0.1
