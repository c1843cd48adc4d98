"""Commands reuse their results (issue 11 item 5) and find the data the build used (item 6).

`cmsi solar`, `clusters`, `milky-way` and `survey` print a cached result when their inputs are
unchanged, identical to the fresh one; `--force`, a changed parameter, option, or a rewritten
output recomputes. Every test runs in a temporary results folder.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from cmsi_lib import clusters as C
from cmsi_lib import milky_way as mw
from cmsi_lib import solar_system as ss
from cmsi_lib.cli import build_parser, main
from cmsi_lib.cli import survey as survey_cli


def counting(monkeypatch, module, name):
    """Replace ``module.name`` by a wrapper that counts its calls; returns the list of calls."""
    calls = []
    real = getattr(module, name)

    def wrapper(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


def cli(capsys, *argv) -> tuple[int, str, str]:
    status = main(list(argv))
    out = capsys.readouterr()
    return status, out.out, out.err


# --------------------------------------------------------------------------- solar: the real computation
def test_solar_json_is_identical_cached_or_not_and_force_recomputes(results, capsys, monkeypatch):
    calls = counting(monkeypatch, ss, "analyse")
    status, fresh, err = cli(capsys, "solar", "--json", "--set", "chi0=1e6")
    assert (status, len(calls), "cached" in err) == (0, 1, False)
    status, again, err = cli(capsys, "solar", "--json", "--set", "chi0=1e6")
    assert (status, len(calls), "cached" in err) == (0, 1, True)
    assert again == fresh
    # the printed document is the analysis itself (not a stale or partial copy)
    direct = json.loads(json.dumps(ss.analyse(ss.Params(chi0=1e6), list(ss.SIGMA_DEFINITIONS), "orbit-ei").as_dict()))
    assert json.loads(fresh) == direct
    del calls[:]
    assert cli(capsys, "solar", "--json", "--set", "chi0=1e6", "--force")[1] == fresh and len(calls) == 1
    assert json.loads(cli(capsys, "solar", "--json", "--set", "chi0=2e6")[1])["params"]["chi0"] == 2e6
    assert len(calls) == 2
    # the text report reads the cached result as well
    status, text, err = cli(capsys, "solar", "--set", "chi0=1e6")
    assert status == 0 and "cached" in err and "Sigma definition" in text and len(calls) == 2


def test_solar_sigma_v_choice_is_part_of_the_key(results, capsys, monkeypatch):
    calls = counting(monkeypatch, ss, "analyse")
    a = cli(capsys, "solar", "--json", "--sigma-def", "point-mass")[1]
    b = cli(capsys, "solar", "--json", "--sigma-def", "point-mass", "--sigma-v", "unity")[1]
    assert len(calls) == 2 and a != b


# --------------------------------------------------------------------------- clusters
def test_clusters_json_is_identical_cached_or_not(results, capsys, monkeypatch):
    calls = counting(monkeypatch, C, "analyse")
    argv = ("clusters", "--json", "--cluster", "A2029", "--set", "chi0=1e3")
    status, fresh, _ = cli(capsys, *argv)
    assert status == 0 and len(calls) == 1
    assert cli(capsys, *argv)[1] == fresh and len(calls) == 1
    rows = json.loads(fresh)
    assert [r["model"] for r in rows] == list(C.MODELS) and rows[-1]["mass_ratio_r500"] == 1.0
    cli(capsys, *argv, "--option", "stellar_fraction=0")  # another option: recomputed
    cli(capsys, "clusters", "--json", "--cluster", "A2029", "--cluster", "A133", "--set", "chi0=1e3")
    assert len(calls) == 3
    cli(capsys, *argv, "--force")
    assert len(calls) == 4


# --------------------------------------------------------------------------- milky way (a fake baryon grid: no galpy)
def _fake_grid(zmax=10.0):
    R = mw.GRID_R
    vb = 190 * np.exp(-R / 40)
    return mw.BaryonGrid(
        R,
        10.0,
        {"baryons": vb, "full model": np.full_like(R, 225.0)},
        {"bulge": 0 * R + 1e-3, "stellar disks": 900 * np.exp(-R / 2.5), "gas disks": 10 + 0 * R},
        {"parameters": {"thin": {"R_d": 2.5, "z_d": 0.3}, "units": {"ro_kpc": 8.21}}},
    )


def test_milky_way_json_and_text_cached_and_survey_fit_in_the_key(results, capsys, monkeypatch):
    monkeypatch.setattr(mw, "baryon_grid", _fake_grid)
    calls = counting(monkeypatch, mw, "analyse")
    status, fresh, _ = cli(capsys, "milky-way", "--json")
    assert status == 0 and len(calls) == 1
    assert cli(capsys, "milky-way", "--json")[1] == fresh and len(calls) == 1
    text_cached = cli(capsys, "milky-way")[1]
    assert len(calls) == 1
    text_fresh = cli(capsys, "milky-way", "--force")[1]
    assert text_fresh == text_cached and len(calls) == 2
    assert "SPARC survey global fit: not available" in text_cached
    # a SPARC survey fit appears: the Milky Way result that shows it must be recomputed
    gf = results / "survey" / "global_fit.json"
    gf.parent.mkdir()
    gf.write_text(json.dumps({"params": {"chi0": 3e5}, "options": {}}))
    with_survey = json.loads(cli(capsys, "milky-way", "--json")[1])
    assert len(calls) == 3 and with_survey["sparc_survey_params"]["chi0"] == 3e5


# --------------------------------------------------------------------------- survey (a counting fake of run_survey)
def _fake_summary(params, k_folds) -> dict:
    model = {
        k: 1.0
        for k in ("n_galaxies", "n_failed", "n_skipped", "n_points", "median_chi2_red", "frac_acceptable")
        + ("aic_total", "bic_total", "rar_rms_dex")
    }
    return {
        "models": [dict(model, model="newton")],
        "common_sample": {"n_galaxies": 1, "n_points": 7, "excluded": {}, "models": [dict(model, model="newton")]},
        "global_fit": {"free": ["chi0"], "params": params.as_dict(), "k_folds": k_folds},
        "counts": {"galaxies": 1},
        "rar_fixed_nuisance": {"rar_rms_dex": np.float64(0.13)},
        "variants": [{"option": "vc_mode", "value": "observed", "profile": [1, 2], "best": {"chi0": 1.0}}],
        "timings_s": {"total_s": np.float64(0.25)},
    }


@pytest.fixture
def fake_survey(monkeypatch):
    """run_survey replaced by a fake that writes results/survey/summary.json and counts its calls."""
    calls = []

    def run_survey(params, k_folds, write, n_workers, **kw):
        calls.append(dict(kw, params=params, k_folds=k_folds, write=write, n_workers=n_workers))
        summary = _fake_summary(params, k_folds)
        if write:
            out = survey_cli.survey_dir()
            out.mkdir(parents=True, exist_ok=True)
            (out / "summary.json").write_text(json.dumps(summary, default=float))
        return summary

    monkeypatch.setattr(survey_cli, "run_survey", run_survey)
    return calls


def test_survey_reuses_results_survey_when_its_key_matches(results, capsys, fake_survey):
    status, fresh, _ = cli(capsys, "survey", "--json")
    assert status == 0 and len(fake_survey) == 1 and fake_survey[0]["write"]
    status, again, err = cli(capsys, "survey", "--json", "--workers", "1")  # Dask settings: same result
    assert (status, again, len(fake_survey)) == (0, fresh, 1) and "results/survey/ holds" in err
    assert json.loads(fresh)["rar_fixed_nuisance_rms_dex"] == 0.13
    assert json.loads(fresh)["common_sample"]["n_points"] == 7  # the models' totals on identical points
    cli(capsys, "survey", "--json", "--k-folds", "3")  # another setting: recomputed, overwrites results/survey
    assert len(fake_survey) == 2
    # results/survey/ now holds the k=3 survey: the default one must be recomputed, not printed
    assert cli(capsys, "survey", "--json")[1] == fresh and len(fake_survey) == 3
    assert cli(capsys, "survey", "--json", "--force")[1] == fresh and len(fake_survey) == 4
    assert cli(capsys, "survey", "--json", "--no-write")[1] == fresh and len(fake_survey) == 4  # a hit
    (results / "survey" / "summary.json").write_text("{}")  # someone rewrote the output
    assert cli(capsys, "survey", "--json")[1] == fresh and len(fake_survey) == 5


def test_survey_no_write_miss_computes_and_stores_nothing(results, capsys, fake_survey):
    status, out, _ = cli(capsys, "survey", "--json", "--no-write", "--set", "chi0=1e6")
    assert status == 0 and len(fake_survey) == 1 and not fake_survey[0]["write"]
    assert not (results / "stages").exists() and not (results / "survey").exists()
    assert cli(capsys, "survey", "--json", "--no-write", "--set", "chi0=1e6")[1] == out and len(fake_survey) == 2


def test_survey_text_report_from_the_cache(results, capsys, fake_survey, monkeypatch):
    printed = []
    monkeypatch.setattr(survey_cli, "_print_summary", printed.append)
    cli(capsys, "survey")
    cli(capsys, "survey")
    assert len(fake_survey) == 1 and printed[0] == printed[1]


# --------------------------------------------------------------------------- --help and the data mirror
@pytest.mark.parametrize("command", ["survey", "milky-way", "clusters", "solar"])
def test_force_is_documented_in_each_commands_help(command):
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[command]
    assert "--force" in sub.format_help() and "recompute" in sub.format_help()


def test_a_command_records_the_mirror_and_a_later_one_finds_it(results, capsys, monkeypatch, tmp_path):
    import os

    mirror = os.environ["CMSI_DATA_DIR"]
    assert cli(capsys, "solar", "--json", "--sigma-def", "point-mass")[0] == 0
    assert json.loads((results / "config.json").read_text())["data_dir"] == str(mirror)
    monkeypatch.delenv("CMSI_DATA_DIR")
    assert cli(capsys, "clusters", "--json", "--cluster", "A2029")[0] == 0  # reads the mirror recorded
    (results / "config.json").write_text(json.dumps({"data_dir": str(tmp_path / "gone")}))
    status, _, err = cli(capsys, "clusters", "--json", "--cluster", "A2029", "--force")
    assert status == 2 and "config.json" in err and str(tmp_path / "gone") in err
