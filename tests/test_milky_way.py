"""The Milky Way layer: the Eilers/Mroz loaders, the McMillan 2017 baryons from galpy, and the
chi0 fit, checked against facts computed independently of the code under test.

The galpy tests build McMillan17 once (~8 s) and its split stellar/gas disks once (~12 s); the closed-form
surface densities are tested in tests/test_milky_way_baryons.py.
"""

import hashlib
import io
import json
import math
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from cmsi_lib import datafiles
from cmsi_lib import milky_way as mw
from cmsi_lib.errors import DataFileError, InputError, MilkyWayDataError
from cmsi_lib.kernel import enhancement
from cmsi_lib.milky_way_data import _scan_numeric
from cmsi_lib.params import Params

# galpy's SCF code warns about numpy.divide(where=...) on every evaluation; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:'where' used without 'out'")

C_KMS = 299792.458
G_PC = 4.300917e-3  # Newton's G in pc (km/s)^2 / Msun (IAU nominal GM_sun / 1 pc)

# McMillan 2017 (MNRAS 465, 76), best-fitting model, Table 3 and section 2 (gas disks fixed):
#   Sigma0 [Msun/pc^2], R_d [kpc], R_hole [kpc], z_d [kpc]
MCMILLAN_PAPER = {
    "thin": (896.0, 2.50, None, 0.300),
    "thick": (183.0, 3.02, None, 0.900),
    "HI": (53.1, 7.0, 4.0, 0.085),
    "H2": (2180.0, 1.5, 12.0, 0.045),
}


# --------------------------------------------------------------------------- data
def test_eilers_38_rows_radii_and_checksum():
    c = mw.load_eilers()
    assert len(c) == 38
    assert c.R_kpc.min() == pytest.approx(5.27) and c.R_kpc.max() == pytest.approx(24.82)
    assert np.all(np.diff(c.R_kpc) > 0)
    # the file read is the one whose sha256 PROVENANCE.md lists (hashed here with hashlib, not pooch)
    assert hashlib.sha256(Path(c.source).read_bytes()).hexdigest() == (
        "185fb78c524dbd1b5cb5c8dce023c15df82a2afe6d14b3b8f52d279e84b40fdb"
    )
    # first row of the published table as staged: 5.27 226.83 1.91 1.90
    assert (c.v_kms[0], c.err_kms[0]) == pytest.approx((226.83, 0.5 * (1.91 + 1.90)))


def test_both_eilers_copies_give_the_same_values():
    a, b = mw.load_eilers(copy="gala"), mw.load_eilers(copy="csv")
    for x in ("R_kpc", "v_kms", "err_lo_kms", "err_hi_kms"):
        assert np.array_equal(getattr(a, x), getattr(b, x))


def test_error_conventions_swap_columns():
    lo3 = mw.load_eilers(errors="col3-lower")
    up3 = mw.load_eilers(errors="col3-upper")
    # row 3 (R = 6.23): columns 1.70 and 1.10
    assert (lo3.err_lo_kms[2], lo3.err_hi_kms[2]) == (1.70, 1.10)
    assert (up3.err_lo_kms[2], up3.err_hi_kms[2]) == (1.10, 1.70)
    with pytest.raises(InputError, match="errors"):
        mw.load_eilers(errors="upper")


def test_corrupted_eilers_copy_fails_its_checksum(tmp_path, monkeypatch):
    name = mw.EILERS_FILES["gala"]
    good = datafiles.fetch(name).read_bytes()
    bad = tmp_path / name
    bad.parent.mkdir(parents=True)
    bad.write_bytes(good.replace(b"226.83", b"226.84", 1))
    monkeypatch.setenv("CMSI_DATA_DIR", str(tmp_path))
    with pytest.raises(DataFileError, match="checksum mismatch"):
        mw.load_eilers()


def test_malformed_line_is_named(tmp_path):
    f = tmp_path / "vc.csv"
    f.write_text("# comment\nR_kpc,vc_kms,a,b\n5.0,220,1,1\n6.0,abc,1,1\n")
    with pytest.raises(MilkyWayDataError, match=r"vc.csv, line 4: non-numeric"):
        _scan_numeric(f, 4, ",", "R_kpc")
    f.write_text("R_kpc,vc_kms,a,b\n5.0,220,1\n")
    with pytest.raises(MilkyWayDataError, match=r"line 2: expected 4 fields, got 3"):
        _scan_numeric(f, 4, ",", "R_kpc")


def test_mroz_rows():
    m = mw.load_mroz()
    assert len(m) == 773  # PROVENANCE.md
    assert m.R_kpc.min() == pytest.approx(4.251) and m.R_kpc.max() == pytest.approx(19.530)


def test_asymmetric_chi2_by_hand():
    c = mw.RotationCurve(
        "t", np.array([1.0, 2.0]), np.array([100.0, 100.0]), np.array([1.0, 1.0]), np.array([2.0, 2.0]), Path("x")
    )
    # model above the data uses the upper error (2), below uses the lower (1)
    assert c.chi2([104.0, 97.0]) == pytest.approx((4 / 2) ** 2 + (3 / 1) ** 2)
    assert c.with_systematic(0.03).err_lo_kms[0] == pytest.approx(math.hypot(1.0, 3.0))


# --------------------------------------------------------------------------- baryons (galpy)
@pytest.fixture(scope="module")
def galpy_model():
    module, (disk, halo, bulge) = mw.mcmillan17()
    return module, disk, halo, bulge, mw.baryonic_components()


def test_mcmillan_parameters_match_the_paper(galpy_model):
    p = mw.mcmillan17_parameters()
    for name, (S0, Rd, Rm, zd) in MCMILLAN_PAPER.items():
        assert p[name]["Sigma0"] == pytest.approx(S0, rel=1e-9)
        assert p[name]["R_d"] == pytest.approx(Rd, rel=1e-9)
        assert p[name]["z_d"] == pytest.approx(zd, rel=1e-9)
        if Rm:
            assert p[name]["R_hole"] == pytest.approx(Rm, rel=1e-9)


def test_component_speeds_square_sum_to_total_baryonic_speed(galpy_model):
    from galpy.potential import vcirc

    module, disk, _halo, bulge, comps = galpy_model
    R = np.array([5.0, 8.21, 15.0, 25.0])
    v2 = sum(mw.signed_speed(p, R) * np.abs(mw.signed_speed(p, R)) for p in comps.values())
    # total from galpy's own vcirc on the combined potential list (natural units * vo)
    total = np.array([vcirc(disk + bulge, r / module.ro, use_physical=False) for r in R]) * module.vo
    assert np.sqrt(v2) == pytest.approx(total, rel=1e-6)
    assert mw.v_bar_direct(R) == pytest.approx(total, rel=1e-6)
    # the gas disk's central hole: net outward pull at 3 kpc (negative v^2), where vcirc gives NaN
    assert mw.signed_speed(comps["gas disks"], 3.0)[0] < 0


def test_full_model_has_the_published_local_circular_speed(galpy_model):
    # McMillan 2017: v_0 = 232.8 +- 3.0 km/s at R_0 = 8.21 kpc (abstract)
    _, disk, halo, bulge, _ = galpy_model
    assert mw.signed_speed([disk, halo, bulge], 8.21)[0] == pytest.approx(232.8, abs=3.0)


# --------------------------------------------------------------------------- sigma_v, F requirements
def test_sigma_v_profiles_by_hand():
    # McMillan's thin disk from the paper (R_d, z_d) and R0 = 8.21 kpc: no galpy needed
    disk = {"thin": {"R_d": MCMILLAN_PAPER["thin"][1], "z_d": MCMILLAN_PAPER["thin"][3]}, "units": {"ro_kpc": 8.21}}

    def sv(R, choice, **kw):
        return mw.sigma_v_profile(R, choice, disk=disk, **kw)

    assert sv([8.21], "stellar-radial")[0] == pytest.approx(35.0)
    assert sv([8.21 + 2 * 2.5], "stellar-radial")[0] == pytest.approx(35.0 / math.e)
    assert sv([8.21], "stellar-vertical")[0] == pytest.approx(16.0)
    assert sv([3.0, 20.0], "gas") == pytest.approx([10.0, 10.0])
    assert sv([3.0, 20.0], 12.5) == pytest.approx([12.5, 12.5])
    # isothermal sheet: sigma^2 = 2 pi G Sigma h_z = 2 pi * 4.3009e-3 * 50 * 300 (km/s)^2 -> 20.13 km/s
    assert sv([8.0], "isothermal", Sigma=50.0)[0] == pytest.approx(math.sqrt(2 * math.pi * G_PC * 50 * 300), rel=1e-4)
    with pytest.raises(InputError, match="sigma_v choice"):
        sv([8.0], "cold")
    with pytest.raises(InputError, match="needs Sigma"):
        sv([8.0], "isothermal")


def test_single_factor_requirements_restore_the_target():
    R, v, s, S = 8.0, 170.0, 20.0, 50.0
    req = mw.single_factor_requirements(R, v, s, S, 2.0)
    p = Params()
    assert enhancement(R, v, s, S, Params(chi0=req["chi0"])) == pytest.approx(2.0, rel=1e-9)
    assert enhancement(R, v, s, req["Sigma"], p) == pytest.approx(2.0, rel=1e-9)
    assert enhancement(R, v, req["sigma_v"], S, p) == pytest.approx(2.0, rel=1e-9)
    assert enhancement(R, req["v_c"], s, S, p) == pytest.approx(2.0, rel=1e-9)


# --------------------------------------------------------------------------- fitting chi0
def _synthetic(chi0_true=2e6, n=12):
    R = np.linspace(5, 20, n)
    vb = 200 * np.exp(-R / 40)
    S = 300 * np.exp(-R / 3)
    sv = np.full(n, 20.0)
    inp = mw.MilkyWayInputs(R, vb, S, sv, vb, vb, {})
    K = enhancement(R, vb, sv, S, Params(chi0=1.0)) - 1.0  # F - 1 per unit chi0
    v = vb * np.sqrt(1 + chi0_true * K)
    err = np.full(n, 2.0)
    return mw.RotationCurve("synthetic", R, v, err, err, Path("x")), inp, K


def test_fit_recovers_chi0_with_the_fisher_error():
    curve, inp, K = _synthetic()
    fit = mw.fit_chi0(curve, inp, Params(), "baryonic")
    assert fit.chi0 == pytest.approx(2e6, rel=1e-6)
    assert fit.chi2_min == pytest.approx(0.0, abs=1e-8)
    # delta chi^2 = 1 half-width = 1/sqrt(sum (dv/dchi0 / err)^2), dv/dchi0 = v_bar K / (2 sqrt(1 + chi0 K))
    dv = inp.v_bar * K / (2 * np.sqrt(1 + 2e6 * K))
    sig = 1 / math.sqrt(np.sum((dv / 2.0) ** 2))
    assert 0.5 * (fit.hi - fit.lo) == pytest.approx(sig, rel=1e-2)


def test_runaway_threshold_by_hand():
    # one point: F - 1 = A u^p with u = v^2, p = 1 + ga/2; with b = v_bar^2 a root exists iff
    # A <= A* = 1 / (b p (b p/(p-1))^(p-1))
    R, vb, s, S = np.array([8.0]), np.array([180.0]), np.array([20.0]), np.array([50.0])
    inp = mw.MilkyWayInputs(R, vb, S, s, vb, vb, {})
    p_ = Params()
    ga = p_.gamma * p_.alpha
    p = 1 + ga / 2
    b = 180.0**2
    A_star = 1 / (b * p * (b * p / (p - 1)) ** (p - 1))
    per_chi0 = (S[0] / 50) ** 0.5 * (1 + (8 / 2.2) ** 2) ** -0.5 / (C_KMS**2 * 20.0**ga)
    assert mw.runaway_chi0(inp, p_) == pytest.approx(A_star / per_chi0, rel=1e-5)


# --------------------------------------------------------------------------- command line
def _fake_grid():
    R = mw.GRID_R
    vb = 190 * np.exp(-R / 40)
    return mw.BaryonGrid(
        R,
        10.0,
        {"baryons": vb, "full model": np.full_like(R, 225.0)},
        {"bulge": 0 * R + 1e-3, "stellar disks": 900 * np.exp(-R / 2.5), "gas disks": 10 + 0 * R},
        {"parameters": {"thin": {"R_d": 2.5, "z_d": 0.3}, "units": {"ro_kpc": 8.21}}},
    )


def test_cli_json_lists_each_model_chi2_and_chi0_fit(monkeypatch, tmp_path):
    from cmsi_lib.cli import main

    monkeypatch.setenv("CMSI_RESULTS_DIR", str(tmp_path))  # no survey result: its rows are absent
    monkeypatch.setattr(mw, "baryon_grid", lambda zmax=10.0: _fake_grid())
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert main(["milky-way", "--json", "--set", "chi0=1e6"]) == 0
    out = json.loads(buf.getvalue())
    names = [m["model"] for m in out["models"]]
    assert {"newton", "mcmillan17-halo", "rar"} <= set(names)
    assert all("chi2" in m for m in out["models"])
    assert out["params"]["chi0"] == 1e6 and out["chi0_fit"] > 0
    # the chi0-fit row is the minimum among the baryonic CMSI rows
    rows = {m["model"]: m["chi2"] for m in out["models"]}
    assert rows["CMSI, chi0 fitted (baryonic)"] <= rows["CMSI, given parameters (baryonic)"]
    assert out["sparc_survey_params"] is None and not any("SPARC" in n for n in names)


def test_cli_rejects_bad_sigma_v_before_work(capsys):
    from cmsi_lib.cli import main

    assert main(["milky-way", "--sigma-v", "-3"]) == 2
    assert "sigma-v" in capsys.readouterr().err


def test_cli_rejects_bad_zmax_and_systematic(capsys):
    from cmsi_lib.cli import main

    assert main(["milky-way", "--zmax", "0"]) == 2
    assert main(["milky-way", "--systematic", "-0.1"]) == 2
    err = capsys.readouterr().err
    assert "--zmax" in err and "--systematic" in err


# --------------------------------------------------------------------------- the entry point
def test_options_reject_bad_choices_naming_them():
    for kwargs, word in (({"errors": "upper"}, "errors"), ({"systematic": -1.0}, "systematic"),
                         ({"sigma_v": "cold"}, "sigma_v"), ({"sigma_v": 0.0}, "sigma_v"),
                         ({"sigma_components": "gas"}, "sigma_components"), ({"zmax": math.nan}, "zmax"),
                         ({"vc_mode": "dark"}, "vc_mode")):  # fmt: skip
        with pytest.raises(InputError, match=word):
            mw.MilkyWayOptions(**kwargs)


def test_grid_interpolation_is_exact_for_exponential_disks_and_linear_v2():
    # a cubic spline reproduces a straight line exactly: log Sigma linear in R (an exponential disk)
    # and v|v| linear in R are recovered between the grid points to round-off
    R = mw.GRID_R
    g = mw.BaryonGrid(R, 10.0, {"baryons": np.sqrt(1e4 + 1e3 * R)},
                      {"gas disks": 10 * np.exp(-R / 7), "stellar disks": 900 * np.exp(-R / 2.5), "bulge": 0 * R},
                      {"parameters": {"units": {"ro_kpc": 8.21}}})  # fmt: skip
    Rq = np.array([3.27, 8.19, 15.22, 29.9])
    assert g.surface_density(Rq, "gas disks") == pytest.approx(10 * np.exp(-Rq / 7), rel=1e-12)
    assert g.surface_density(Rq, "stellar-disks") == pytest.approx(900 * np.exp(-Rq / 2.5), rel=1e-12)
    assert g.speed("baryons", Rq) == pytest.approx(np.sqrt(1e4 + 1e3 * Rq), rel=1e-12)
    assert g.R0_kpc == 8.21 and g.step_kpc == 0.5
    with pytest.raises(InputError, match="tabulated range"):
        g.speed("baryons", [31.0])
    with pytest.raises(InputError, match="Sigma components"):
        g.surface_density(Rq, "dust")


@pytest.fixture(scope="module")
def fake_result():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mw, "baryon_grid", lambda zmax=10.0: _fake_grid())
        mp.setattr(mw, "survey_global_params", lambda: None)
        return mw.analyse(Params(), mw.MilkyWayOptions())


def test_analyse_required_enhancement_and_the_chi0_each_point_needs(fake_result):
    r, p = fake_result, Params()
    inp, e = r.inputs, r.enhancement
    # F_req v_bar^2 = v_obs^2 (Eilers' speeds, the fake baryons)
    assert e.F_req * inp.v_bar**2 == pytest.approx(r.curve.v_kms**2, rel=1e-12)
    # the chi0 each point needs, put back into the kernel's F at that point, gives F_req there
    for i in (0, 17, len(r.curve) - 1):
        q = Params(chi0=float(e.chi0_needed[i]))
        F = enhancement(inp.R_kpc[i], inp.v_bar[i], inp.sigma_v[i], inp.Sigma[i], q)
        assert F == pytest.approx(e.F_req[i], rel=1e-9)
    # F at the seed's chi0 is the kernel's F
    F_def = enhancement(inp.R_kpc, inp.v_bar, inp.sigma_v, inp.Sigma, p)
    assert e.F_params == pytest.approx(F_def, rel=1e-12)


def test_analyse_solar_bin_and_baseline_chi2_by_hand(fake_result):
    r = fake_result
    R = r.curve.R_kpc
    assert abs(R[r.i_sun] - 8.21) == np.min(np.abs(R - 8.21))
    # Newton's chi^2 with symmetric errors, summed here by hand
    v, err = r.curve.v_kms, 0.5 * (r.curve.err_lo_kms + r.curve.err_hi_kms)
    assert r.chi2["newton"] == pytest.approx(np.sum(((r.inputs.v_bar - v) / err) ** 2), rel=1e-12)
    sym = r.error_variants["symmetric (mean), statistical only"]
    assert sym.chi2_newton == pytest.approx(r.chi2["newton"], rel=1e-12)
    # the fitted rows are no worse than the seed's chi0 in the same v_c mode
    for m in ("baryonic", "observed"):
        assert r.chi2[f"CMSI, chi0 fitted ({m})"] <= r.chi2[f"CMSI, seed defaults ({m})"]
    assert r.fit is r.fits["baryonic"]
    assert set(r.sigma_v_cases) == set(mw.SIGMA_V_CHOICES)


def test_analyse_seed_cases_hold_the_claimed_enhancement(fake_result):
    seeds = [c for c in fake_result.seed_cases if c.kind == "seed"]
    # the seed's MW-like numbers: 150 -> 225 km/s needs F = 2.25, 175 -> 260 km/s F = (260/175)^2
    assert sorted({round(c.F_target, 12) for c in seeds}) == pytest.approx([2.2073469387755, 2.25])
    for c in seeds:
        q = Params(chi0=c.requirements["chi0"])
        assert enhancement(c.R_kpc, c.v_bar, c.sigma_v, c.Sigma, q) == pytest.approx(c.F_target, rel=1e-9)
    assert fake_result.seed_cases[-1].kind == "milky way"
