"""The joint-fit stage (cmsi_lib.joint_survey): the error floor and its normalisation by hand, S/N and
leave-one-out, the stage's cache (reused when unchanged, its key free of the survey's code), and the
`joint_fit` entry of `cmsi survey --json` on a small subset (fields, identical points across models)."""

import dataclasses
import json
import math

import numpy as np
import pytest

from cmsi_lib import joint_survey as js
from cmsi_lib import jointfit, sparc, stages
from cmsi_lib.errors import InputError
from cmsi_lib.options import SparcOptions

THREE = ("NGC3198", "NGC7331", "DDO154")
TWO = ("NGC3198", "DDO154")  # the small joint fit: a spiral and a dwarf


def _block(name="toy", e=(3.0, 4.0, 12.0)):
    R = np.array([1.0, 2.0, 4.0])
    return jointfit.curve_block(name, R, [50.0, 80.0, 90.0], list(e), [40.0, 60.0, 70.0], [100.0, 50.0, 10.0],
                                [10.0, 10.0, 10.0])  # fmt: skip


def _sample(names):
    kept, _counts = sparc.apply_cuts(sparc.load_galaxies(), sparc.QualityCuts())
    return {n: kept[n] for n in names}


# --------------------------------------------------------------------------- error floor
def test_error_floor_and_its_normalisation_by_hand():
    """e_V = (3, 4, 12) km/s with s = 4 km/s: (5, sqrt 32, sqrt 160); sum ln(2 pi e^2) by hand; Newton's
    residuals (V_obs - V_bar)/e at those errors; s = 0 gives the old residuals exactly."""
    b = _block()
    (f,) = js.with_error_floor([b], 4.0)
    np.testing.assert_allclose(f.e_v_obs, [5.0, math.sqrt(32.0), math.sqrt(160.0)], rtol=1e-15)
    by_hand = 3 * math.log(2 * math.pi) + math.log(25.0) + math.log(32.0) + math.log(160.0)
    assert js.log_normalisation([f]) == pytest.approx(by_hand, rel=1e-14)
    assert js.log_normalisation([b]) == pytest.approx(3 * math.log(2 * math.pi) + math.log(9 * 16 * 144), rel=1e-14)
    r = jointfit.JointProblem([f], free=(), model="newton").residuals(np.zeros(0))
    np.testing.assert_allclose(r, [10 / 5.0, 20 / math.sqrt(32.0), 20 / math.sqrt(160.0)], rtol=1e-12)
    # s = 0: the objective is the old one, for CMSI too
    p0, p1 = jointfit.JointProblem([b]), jointfit.JointProblem(js.with_error_floor([b], 0.0))
    x = p0.start()
    np.testing.assert_array_equal(p1.residuals(x), p0.residuals(x))
    assert np.sum(p0.residuals(x) ** 2) != np.sum(jointfit.JointProblem([f]).residuals(x) ** 2)  # the control


@pytest.mark.parametrize("s", [-1.0, math.nan, math.inf])
def test_error_floor_rejects_bad_values(s):
    with pytest.raises(InputError, match="error floor"):
        js.with_error_floor([_block()], s)


# --------------------------------------------------------------------------- S/N and leave-one-out
def test_signal_to_noise_by_hand_and_the_ranking():
    b = _block()  # V/e = 50/3, 80/4, 90/12
    assert js.signal_to_noise(b) == pytest.approx(math.sqrt((50 / 3) ** 2 + 20**2 + 7.5**2), rel=1e-14)
    lo, hi = _block("lo", (30.0, 40.0, 120.0)), _block("hi", (1.0, 1.0, 1.0))
    assert js.highest_sn([lo, b, hi], 2) == ["hi", "toy"]
    with pytest.raises(InputError, match="k = 4"):
        js.highest_sn([lo, b, hi], 4)


def test_leave_out_drops_exactly_that_galaxy():
    blocks = jointfit.sparc_blocks(_sample(THREE))
    for name in THREE:
        rest = js.leave_out(blocks, name)
        assert [b.name for b in rest] == [n for n in THREE if n != name]
        assert all(b is next(c for c in blocks if c.name == b.name) for b in rest)  # the others untouched
        gone = next(b for b in blocks if b.name == name)
        assert sum(b.n_points for b in rest) == sum(b.n_points for b in blocks) - gone.n_points
    with pytest.raises(InputError, match="'NGC0000'"):
        js.leave_out(blocks, "NGC0000")


# --------------------------------------------------------------------------- the stage's cache
def test_stage_reused_when_unchanged(results, monkeypatch):
    """Computed once, then read back; other options or cuts recompute."""
    calls = []

    def fake(sample, options, floors, n_loo, sample_name):
        calls.append(sample_name)
        return {"n": len(sample), "vc_mode": options.vc_mode}

    monkeypatch.setattr(js, "compute_joint_fit", fake)
    first, hit = js.joint_fit_stage()
    assert (len(calls), hit, first["n"]) == (1, False, 147)
    again, hit = js.joint_fit_stage()
    assert (len(calls), hit, again) == (1, True, first)
    assert js.joint_fit_stage(options=SparcOptions(vc_mode="observed"))[1] is False and len(calls) == 2
    assert js.joint_fit_stage(cuts=sparc.QualityCuts(None, None, None))[1] is False and len(calls) == 3
    assert js.joint_fit_stage()[1] is True and len(calls) == 3


def test_stage_key_leaves_out_the_survey():
    """The survey's modules (and their settings) are not in the joint fit's key: a survey rerun at other
    settings, or an edit of the survey's code, does not recompute the joint fit; jointfit is in it."""
    mods = stages.module_files(js.MODULES)
    assert "cmsi_lib.jointfit" in mods and "cmsi_lib.joint_survey" in mods
    assert not {"cmsi_lib.survey", "cmsi_lib.cli.survey", "cmsi_lib.globalfit"} & set(mods)


def test_sample_folder_enters_the_key(tmp_path):
    d = tmp_path / "mysample"
    d.mkdir()
    (d / "A_rotmod.dat").write_text("# Distance = 1 Mpc\n1 2 3 4 5 6 7 8\n")
    one = js.sample_descriptor(d)
    (d / "A_rotmod.dat").write_text("# Distance = 1 Mpc\n1 2 3 4 5 6 7 9\n")
    assert one["name"] == "mysample" and js.sample_descriptor(d) != one
    with pytest.raises(InputError, match="not a folder"):
        js.sample_descriptor(tmp_path / "missing")


# --------------------------------------------------------------------------- the result and its JSON entry
@pytest.fixture(scope="module")
def small():
    return js.compute_joint_fit(_sample(TWO), floors=(3.0,), n_loo=1, sample_name="two")


@pytest.mark.slow
def test_json_entry_fields_and_identical_points(small):
    e = js.json_entry(small)
    assert "per_galaxy" in small["galaxies"] and "per_galaxy" not in e["galaxies"]  # the stage keeps them
    assert "per_galaxy" not in e["galaxies"]["newton"]
    n_two = sum(b.n_points for b in jointfit.sparc_blocks(_sample(TWO)))
    n_mw = jointfit.milky_way_block().n_points
    expect = {"galaxies": (n_two, 2), "galaxies_fixed_nuisance": (n_two, 2), "milky_way": (n_mw, 1),
              "galaxies_milky_way": (n_two + n_mw, 3)}  # fmt: skip
    for key, (n_points, n_gal) in expect.items():
        r = e[key]
        assert set(r["free"]) == set(r["map"]) == {"log10_A", "gamma_alpha", "ell0", "eps"}
        p = r["percentiles"]
        assert p["method"] == "laplace" and p["levels"] == [16, 50, 84]
        assert all(len(v) == 3 and v[1] is not None for v in p["values"].values())
        assert r["objective"] == pytest.approx(r["chi2"] + r["chi2_prior"], rel=1e-12)
        assert (r["n_points"], r["n_galaxies"]) == (n_points, n_gal)
        assert (r["newton"]["n_points"], r["newton"]["n_galaxies"]) == (n_points, n_gal)  # identical points
        assert r["d_objective"] == pytest.approx(r["objective"] - r["newton"]["objective"], abs=1e-9)
    assert e["galaxies_fixed_nuisance"]["chi2_prior"] == 0.0 and e["milky_way"]["chi2_prior"] == 0.0
    floors = e["robustness"]["floors"]
    assert [r["floor_kms"] for r in floors] == [0.0, 3.0] and {r["n_points"] for r in floors} == {n_two}
    (loo,) = e["robustness"]["loo"]
    left = next(b for b in jointfit.sparc_blocks(_sample(TWO)) if b.name == loo["left_out"])
    assert (loo["n_points"], loo["n_galaxies"]) == (n_two - left.n_points, 1)
    assert loo["left_out"] == js.highest_sn(jointfit.sparc_blocks(_sample(TWO)), 1)[0]
    assert e["verdict"] == js.verdict(small) and "2 galaxies" in e["verdict"]


@pytest.mark.slow
def test_cmsi_is_never_worse_than_its_corner_or_newton_limit(small):
    """Invariants of the MAP: the chosen CMSI fit is the best of its starts; CMSI contains Newton (A -> 0),
    so its objective is at most Newton's (to the fits' tolerance); the corner fit of the robustness table
    at s = 0 is the corner of the full problem, never below the full fit."""
    g = small["galaxies"]
    assert g["objective"] == pytest.approx(min(g["starts"]["objectives"].values()), rel=1e-12)
    for key in ("galaxies", "galaxies_fixed_nuisance", "milky_way", "galaxies_milky_way"):
        assert small[key]["d_objective"] <= 1e-3 * small[key]["newton"]["objective"]
    assert small["robustness"]["floors"][0]["cmsi_objective"] >= g["objective"] - 1e-6 * g["objective"]


def test_zero_sigma_points_counted_by_hand():
    """Three toy curves: Sigma = 0 at the two outer radii of one, at an inner radius of another, nowhere
    in the third: 3 points in 2 galaxies, only the first of which has them all beyond its last Sigma > 0."""
    outer = jointfit.curve_block("outer", [1.0, 2.0, 4.0], [50.0] * 3, [3.0] * 3, [40.0] * 3, [100.0, 0.0, 0.0],
                                 [10.0] * 3)  # fmt: skip
    inner = jointfit.curve_block("inner", [1.0, 2.0, 4.0], [50.0] * 3, [3.0] * 3, [40.0] * 3, [0.0, 5.0, 1.0],
                                 [10.0] * 3)  # fmt: skip
    assert js.zero_sigma_points([outer, inner, _block()]) == {"n_points": 3, "n_galaxies": 2,
                                                               "n_galaxies_outer_only": 1}  # fmt: skip


@pytest.mark.slow
def test_eps_continuity_refits_contain_newton_and_count_zero_sigma(small):
    """The refits just off eps = 0 contain Newton (A -> 0), so none is worse than Newton's joint MAP; the
    zero-Sigma count is that of the blocks, and the stellar+gas Sigma (a gas disk) is positive everywhere."""
    ec = small["eps_continuity"]
    blocks = jointfit.sparc_blocks(_sample(TWO))
    n_zero = int(sum(np.sum(b.S0 + b.Sd + b.Sb <= 0) for b in blocks))
    assert ec["zero_sigma"]["n_points"] == n_zero and ec["eps_off"] == js.EPS_OFF
    assert set(ec["fits"]) == {"stellar", "stellar+gas"}
    newton = small["galaxies"]["newton"]["objective"]
    for f in ec["fits"].values():
        assert f["d_objective"] <= 1e-6 * newton
        assert f["d_objective"] == pytest.approx(f["objective"] - newton, abs=1e-9)
    assert ec["fits"]["stellar+gas"]["zero_sigma"]["n_points"] == 0


# --------------------------------------------------------------------------- cmsi survey --sample
def _cli(capsys, *argv):
    from cmsi_lib.cli import main

    status = main(list(argv))
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.mark.slow
def test_survey_sample_folder_goes_to_its_own_results(tmp_path, monkeypatch, capsys):
    """`cmsi survey --sample DIR` fits DIR's galaxies (rotmod.load_sample), joint fit included, and writes
    results/samples/<DIR's name>/, not results/survey/; the joint fit gets exactly the sample's galaxies."""
    from cmsi_lib import rotmod

    d = tmp_path / "two_gal"
    rotmod.write_sample({n: sparc.load_galaxies()[n] for n in ("NGC3198", "DDO154")}, d)
    res = tmp_path / "results"
    monkeypatch.setenv("CMSI_RESULTS_DIR", str(res))
    seen = []

    def fake(sample, options, floors, n_loo, sample_name):
        seen.append((sorted(sample), sample_name))
        return {"fake": True}

    monkeypatch.setattr(js, "compute_joint_fit", fake)
    monkeypatch.setattr(js, "json_entry", lambda r: r)
    argv = ("survey", "--sample", str(d), "--models", "newton", "--k-folds", "0", "--no-variants",
            "--scheduler", "serial", "--json", "--joint")  # fmt: skip
    status, out, _err = _cli(capsys, *argv)
    doc = json.loads(out)
    assert status == 0 and doc["joint_fit"]["fake"] is True
    assert "standard cuts only" in doc["joint_fit"]["posterior"]["note"]  # never sampled for a --sample
    assert seen == [(["DDO154", "NGC3198"], "two_gal")]
    summary = json.loads((res / "samples" / "two_gal" / "survey" / "summary.json").read_text())
    assert (summary["sample"], summary["n_galaxies"]) == ("two_gal", 2)
    assert not (res / "survey").exists()
    assert list((res / "samples" / "two_gal" / "stages").glob("joint_fit/*.json"))
    # unchanged: both stages read back; a changed file recomputes the joint fit
    assert _cli(capsys, *argv)[0] == 0 and len(seen) == 1
    (d / "NGC3198_rotmod.dat").write_text((d / "NGC3198_rotmod.dat").read_text() + "\n")
    assert _cli(capsys, *argv)[0] == 0 and len(seen) == 2
    # without --joint: read from the cache (here: the entry of the changed folder), never computed
    status, out, _err = _cli(capsys, *argv[:-1])
    assert status == 0 and json.loads(out)["joint_fit"]["fake"] is True and len(seen) == 2
    (d / "DDO154_rotmod.dat").write_text((d / "DDO154_rotmod.dat").read_text() + "\n")
    status, out, _err = _cli(capsys, *argv[:-1])
    assert status == 0 and "joint_fit" not in json.loads(out) and len(seen) == 2


def test_survey_sample_must_be_a_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CMSI_RESULTS_DIR", str(tmp_path / "results"))
    status, _out, err = _cli(capsys, "survey", "--sample", str(tmp_path / "nope"))
    assert status != 0 and "--sample" in err and "not a folder" in err


# --------------------------------------------------------------------------- per-galaxy shares of a joint MAP
@pytest.fixture(scope="module")
def newton_two():
    blocks = jointfit.sparc_blocks(_sample(TWO))
    return blocks, jointfit.joint_map(blocks, model="newton", laplace=False)


def test_per_galaxy_chi2_of_one_galaxy_by_hand(newton_two):
    """NGC3198's chi^2 and prior chi^2 at Newton's joint MAP, from its Block and the fit's nuisance values:
    v_bar^2 = (D/D0)(g2 + Ups_d d2 + Ups_b b2), V_obs and e_V scaled by sin(Inc0)/sin(Inc); priors
    log10 Ups ~ N(log10 0.5, 0.1) (0.7 for the bulge), D ~ N(D0, e_D), Inc ~ N(Inc0, e_Inc)."""
    blocks, fit = newton_two
    table = js.per_galaxy(fit, blocks, radii=True)
    i = table["galaxy"].index("NGC3198")
    b, nu = blocks[i], fit.nuisance["NGC3198"]
    vb2 = nu["D"] / b.D0 * (b.g2 + nu["ups_disk"] * b.d2 + nu["ups_bul"] * b.b2)
    k = math.sin(math.radians(b.inc0)) / math.sin(math.radians(nu["inc"]))
    chi2 = np.sum(((b.v_obs * k - np.sign(vb2) * np.sqrt(np.abs(vb2))) / (b.e_v_obs * k)) ** 2)
    prior = {"ups_disk": ((math.log10(nu["ups_disk"] / 0.5)) / 0.1) ** 2,
             "ups_bul": ((math.log10(nu["ups_bul"] / 0.7)) / 0.1) ** 2,
             "D": ((nu["D"] - b.D0) / b.e_D) ** 2 if b.e_D > 0 else 0.0,
             "inc": ((nu["inc"] - b.inc0) / b.e_inc) ** 2 if b.e_inc > 0 else 0.0}  # fmt: skip
    assert table["chi2"][i] == pytest.approx(chi2, rel=1e-10)
    assert table["chi2_prior"][i] == pytest.approx(sum(prior[p] for p in b.free), rel=1e-10)
    assert (table["n_points"][i], table["n_nuisance"][i]) == (b.n_points, len(b.free))
    assert table["R_kpc"][i] == b.R.tolist() and table["chi2"][i] > 0
    json.dumps(table)  # JSON types


def _assert_sums(fit, blocks):
    t = js.per_galaxy(fit, blocks)
    assert t["galaxy"] == [b.name for b in blocks] and "R_kpc" not in t
    assert sum(t["chi2"]) == pytest.approx(fit.chi2, rel=1e-12)
    assert sum(t["chi2_prior"]) == pytest.approx(fit.chi2_prior, rel=1e-12)
    assert sum(t["n_points"]) == fit.n_points and sum(t["n_nuisance"]) == fit.n_params - len(fit.free)
    return t


def test_per_galaxy_sums_to_the_fits_objective(newton_two):
    """An invariant: the galaxies' chi^2 and prior chi^2 add up to the fit's; blocks in another order are
    not the fit's."""
    blocks, newton = newton_two
    _assert_sums(newton, blocks)
    with pytest.raises(InputError, match="per_galaxy"):
        js.per_galaxy(newton, blocks[::-1])


@pytest.mark.slow
def test_per_galaxy_sums_for_a_cmsi_fit(newton_two):
    """The same invariant for a CMSI fit (the corner: log10_A free, the other globals fixed, so the table
    must rebuild the fit's problem with them; a few iterations only: the sums hold at any x it returns)."""
    blocks, newton = newton_two
    cmsi = jointfit.joint_map(blocks, free=("log10_A",), start=dataclasses.replace(js.CORNER, chi0=1e6),
                              fixed=js.CORNER, laplace=False, max_iter=2, tol=1e-6)  # fmt: skip
    t = _assert_sums(cmsi, blocks)
    assert sum(t["chi2"]) != pytest.approx(newton.chi2, rel=1e-6)  # the control: not Newton's residuals


@pytest.mark.slow
def test_stage_record_holds_the_per_galaxy_tables(small):
    """The nuisance-free record's tables (CMSI's with the radii, Newton's without) sum to its chi^2 and prior
    chi^2, over the sample's blocks; JSON types."""
    g, blocks = small["galaxies"], jointfit.sparc_blocks(_sample(TWO))
    for rec, t in ((g, g["per_galaxy"]), (g["newton"], g["newton"]["per_galaxy"])):
        assert t["galaxy"] == list(TWO) and t["n_points"] == [b.n_points for b in blocks]
        assert t["n_nuisance"] == [len(b.free) for b in blocks]
        assert sum(t["chi2"]) == pytest.approx(rec["chi2"], rel=1e-12)
        assert sum(t["chi2_prior"]) == pytest.approx(rec["chi2_prior"], rel=1e-12, abs=1e-12)
    assert g["per_galaxy"]["R_kpc"] == [b.R.tolist() for b in blocks] and "R_kpc" not in g["newton"]["per_galaxy"]
    json.dumps(g)
