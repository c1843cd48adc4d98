"""The atlas page's entry point: facts computed another way (by hand, or a limit of the model)."""

import numpy as np
import pytest

from cmsi_lib import fitting, results, sparc
from cmsi_lib.atlas import AtlasRow, ModelStats, atlas_page
from cmsi_lib.options import SparcOptions
from cmsi_lib.params import Params


def test_model_stats_by_hand():
    # residuals 1, -2, 2 km/s with errors 1, 2, 1: chi^2 = 1 + 1 + 4 = 6, rms = sqrt(9/3)
    s = ModelStats.of([11.0, 8.0, 12.0], [1.0, 2.0, 1.0], [10.0, 10.0, 10.0])
    assert (s.chi2, s.chi2n, s.rms_kms) == pytest.approx((6.0, 2.0, np.sqrt(3.0)))


@pytest.fixture(scope="module")
def page_off():
    try:
        return atlas_page("NGC3198", Params(chi0=0.0), fit_models=())
    except Exception as exc:  # no data mirror and no network
        pytest.skip(f"SPARC data not available: {exc}")


def test_chi0_zero_is_newton(page_off):
    # with chi0 = 0, F = 1 everywhere and CMSI's curve is Newton's (NGC3198 has v_bar > 0 at every radius)
    assert np.all(page_off.v_bar > 0)
    np.testing.assert_allclose(page_off.curves["CMSI"], page_off.curves["Newton (baryons)"], rtol=1e-12)
    assert page_off.row.stats["cmsi"].chi2 == pytest.approx(page_off.row.stats["newton"].chi2, rel=1e-12)
    assert page_off.row.median_F_minus_1 == 0.0 and page_off.row.max_F_minus_1 == 0.0


def test_row_flat_columns_and_required(page_off):
    row = page_off.row.as_dict()
    assert isinstance(page_off.row, AtlasRow)
    # NGC3198: Q = 1, inc = 73 deg, 43 points in SPARC's Table 2 (Lelli et al. 2016)
    assert (row["Q"], row["inc_deg"], row["n_points"], row["default_cuts"]) == (1, 73.0, 43, True)
    assert {"chi2_cmsi", "chi2n_newton", "rms_rar_kms"} <= row.keys() and "fit_chi0" not in row
    # the required enhancement times v_bar^2 gives back v_obs^2
    g = page_off.galaxy
    np.testing.assert_allclose(page_off.required * page_off.v_bar**2, g.v_obs**2, rtol=1e-12)


# --------------------------------------------------------------------------- the survey's fits on a page
@pytest.fixture(scope="module")
def nfw_fit():
    """The survey's NFW fit of NGC3198 on the survey's points (the default cuts)."""
    g = sparc.get_galaxy("NGC3198")
    sample, _ = sparc.apply_cuts({"NGC3198": g}, sparc.QualityCuts())
    return fitting.fit_galaxy(g, "nfw", mask=sample["NGC3198"][1])


def _write(nfw_fit, params=Params(), options=SparcOptions()):
    summary = {"global_fit": {}, "params": params.as_dict(), "options": options.as_dict()}
    results.write_survey(summary, {}, {"nfw": [nfw_fit]})


def test_page_without_survey_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("CMSI_RESULTS_DIR", str(tmp_path))
    page = atlas_page("NGC3198", Params(), fit_models=("nfw",))
    assert page.fitted == {} and "the survey has not run" in page.fit_notes[0]


def test_page_reads_the_survey_fit(tmp_path, monkeypatch, nfw_fit):
    monkeypatch.setenv("CMSI_RESULTS_DIR", str(tmp_path))
    _write(nfw_fit)
    res = atlas_page("NGC3198", Params(), fit_models=("nfw",)).fitted["nfw"]
    # the stored chi^2 is the data chi^2 of the stored curve on the survey's points (recomputed here)
    m = res.mask
    assert m.sum() == res.n_points < m.size  # the cuts drop points: the page shows the survey's sample
    assert np.sum(((res.v_obs[m] - res.v_model[m]) / res.e_v_obs[m]) ** 2) == pytest.approx(res.chi2, rel=1e-9)
    assert res.best == pytest.approx(nfw_fit.best, rel=1e-12)


def test_page_names_what_differs_from_the_survey(tmp_path, monkeypatch, nfw_fit):
    monkeypatch.setenv("CMSI_RESULTS_DIR", str(tmp_path))
    _write(nfw_fit)
    notes = atlas_page("NGC3198", Params(), SparcOptions(ups_disk=0.6), fit_models=("nfw",)).fit_notes
    assert any("ups_disk" in n for n in notes)
    # a galaxy outside the survey's sample, and a damaged record: no fit, a note, no traceback
    assert "not in the survey's sample" in atlas_page("D512-2", Params(), fit_models=("nfw",)).fit_notes[0]
    f = results.survey_dir() / "galaxies" / "NGC3198.json"
    f.write_text(f.read_text()[:100])
    assert atlas_page("NGC3198", Params(), fit_models=("nfw",)).fitted == {}
