"""Reading results back: the survey record, and atomic writes."""

import json

from astropy.table import Table

from cmsi_lib import results


def test_load_survey_absent_then_present(tmp_path, monkeypatch):
    monkeypatch.setenv("CMSI_RESULTS_DIR", str(tmp_path))
    assert results.load_survey() is None  # nothing written yet
    d = results.survey_dir()
    d.mkdir(parents=True, exist_ok=True)
    (d / "summary.json").write_text(json.dumps({"n_galaxies": 3}))
    results.survey_global_fit_file().write_text(json.dumps({"params": {"chi0": 0.0, "ell0": 5.0}}))
    for name in ("fits", "points"):
        Table({"galaxy": ["A", "B"]}).write(d / f"{name}.ecsv", format="ascii.ecsv")
    s = results.load_survey()
    assert s.summary["n_galaxies"] == 3 and len(s.fits) == 2
    # the global parameters: the fitted ones as written, the others at the seed's defaults (gamma = 1.5)
    assert (s.global_params.chi0, s.global_params.ell0, s.global_params.gamma) == (0.0, 5.0, 1.5)


def test_atomic_write_gives_an_ordinary_file_mode_and_leaves_no_temporary(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        f = tmp_path / "sub" / "x.json"
        results.atomic_write_text(f, "{}\n")
        assert f.read_text() == "{}\n"
        assert f.stat().st_mode & 0o777 == 0o644  # 0666 less the umask 022, not mkstemp's 0600
        assert [p.name for p in f.parent.iterdir()] == ["x.json"]
    finally:
        os.umask(old)
