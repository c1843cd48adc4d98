"""The SPARC data layer: loader counts against the published sample, signed v_bar by hand,
the CMSI inputs SPARC lacks, and bad input (checksum, malformed rows, unknown names)."""

import dataclasses
import json
import math
import shutil
from fractions import Fraction

import numpy as np
import pytest

from cmsi_lib import datafiles, models, sparc
from cmsi_lib.options import SparcOptions
from cmsi_lib.params import Params

PUBLISHED_RAR_POINTS = 2693  # McGaugh, Lelli & Schombert 2016 (PRL 117, 201101): 2693 points
PUBLISHED_RAR_GALAXIES = 153  # ... in 153 galaxies (Q < 3, Inc >= 30 deg)


def test_tables_have_the_published_size():
    t1, t2 = sparc.load_table1(), sparc.load_table2()
    assert len(t1) == 175 and len(t2) == 3391
    assert len(set(t1["Galaxy"])) == 175
    assert str(t1["D"].unit) == "Mpc" and str(t2["Vobs"].unit) == "km / s"


def test_ngc3198_matches_lelli_2016():
    g = sparc.get_galaxy("NGC3198")
    assert (g.n_points, g.D, g.Q, g.T, g.Vflat) == (43, 13.8, 1, 5, 150.1)
    assert g.R[0] == pytest.approx(0.32) and g.R[-1] == pytest.approx(44.08)


def test_table1_and_table2_agree_on_distances():
    t2 = sparc.load_table2()
    d2 = {str(n): float(d) for n, d in zip(t2["ID"], t2["D"], strict=False)}
    for row in sparc.load_table1():
        assert d2[str(row["Galaxy"])] == pytest.approx(float(row["D"]), abs=0.005), row["Galaxy"]


def test_zero_means_not_measured():
    g = sparc.get_galaxy("CamB")  # Table 1: Vflat 0.0, e_Vflat 0.0
    assert math.isnan(g.Vflat) and math.isnan(g.e_Vflat)
    assert sum(math.isnan(x.Vflat) for x in sparc.load_galaxies().values()) == 175 - 135


def test_default_cuts_reproduce_the_published_rar_sample():
    kept, counts = sparc.apply_cuts()
    steps = {s.cut: s for s in counts.steps}
    assert (steps["all"].galaxies, steps["all"].points) == (175, 3391)
    # galaxy cuts Q < 3 and Inc >= 30 deg: exactly the published 153 galaxies
    assert steps["inclination"].galaxies == PUBLISHED_RAR_GALAXIES
    # point cut e_V/V < 0.1 (exact): within 0.5% of the published 2693 points (we get 2694)
    assert abs(counts.final.points - PUBLISHED_RAR_POINTS) <= 0.005 * PUBLISHED_RAR_POINTS
    assert counts.final.points == sum(int(m.sum()) for _, m in kept.values())
    pts = [s.points for s in counts.steps]
    assert pts == sorted(pts, reverse=True)


def _table2_decimals(name):
    """(e_Vobs, Vobs) of ``name`` as exact Fractions of the decimal strings in the MRT file (bytes 27-38)."""
    raw = datafiles.fetch(sparc.TABLE2_FILE).read_text().splitlines()
    rows = [ln for ln in raw if ln[:11].strip() == name]
    return [(Fraction(ln[33:38].strip()), Fraction(ln[26:32].strip())) for ln in rows]


def test_exact_cut_excludes_f568_3s_two_points_at_exactly_ten_percent():
    # MassModels rows of F568-3 (Q = 1, Inc = 40 deg): 10.70/107.00 and 11.70/117.00 are 0.1 exactly
    # (in floats, 10.7/107.0 and 11.7/117.0 are 0.09999999999999999 and passed e/V < 0.1)
    rows = _table2_decimals("F568-3")
    at_boundary = [i for i, (e, v) in enumerate(rows) if e == v / 10]
    assert [rows[i] for i in at_boundary] == [(Fraction(107, 10), 107), (Fraction(117, 10), 117), (12, 120)]
    kept, _ = sparc.apply_cuts()
    g, mask = kept["F568-3"]
    assert not mask[at_boundary].any()
    # by hand from the 18 rows: e < V/10 at R = 1.80, 3.64, 4.60, 5.14, 5.39, 10.17 kpc (6 points)
    by_hand = [e < v / 10 for e, v in rows]
    assert mask.tolist() == by_hand and [i for i, ok in enumerate(by_hand) if ok] == [2, 6, 8, 9, 10, 13]
    # float rounding would have let two through
    assert int(np.sum(g.e_v_obs[at_boundary] / g.v_obs[at_boundary] < 0.1)) == 2


def test_sample_after_cuts_counted_by_hand_from_the_file():
    # every row of Table 2 read as decimal strings; Q and Inc from Table 1; cut e < V/10 exactly
    t1 = {str(r["Galaxy"]): (int(r["Q"]), float(r["Inc"])) for r in sparc.load_table1()}
    raw = datafiles.fetch(sparc.TABLE2_FILE).read_text().splitlines()[25:]
    galaxies, points = set(), 0
    for ln in raw:
        name = ln[:11].strip()
        e, v = Fraction(ln[33:38].strip()), Fraction(ln[26:32].strip())
        q, inc = t1[name]
        if q <= 2 and inc >= 30 and v > 0 and e < v / 10:
            galaxies.add(name)
            points += 1
    _, counts = sparc.apply_cuts()
    assert (counts.final.galaxies, counts.final.points) == (len(galaxies), points) == (147, 2694)


def test_exact_decimal_and_relative_error_below():
    assert sparc.exact_decimal(11.7) == Fraction(117, 10) and sparc.exact_decimal(0.1) == Fraction(1, 10)
    m = sparc.relative_error_below([11.7, 11.69, 1.0, 1.0, float("nan")], [117.0, 117.0, 0.0, -5.0, 10.0], 0.1)
    assert m.tolist() == [False, True, False, False, False]
    assert sparc.relative_error_below([3.0], [10.0], 0.3).tolist() == [False]  # 3/10 = 0.3: not below
    with pytest.raises(ValueError, match="shape"):
        sparc.relative_error_below([1.0, 2.0], [1.0], 0.1)


def test_cuts_can_be_disabled_and_are_validated():
    _, counts = sparc.apply_cuts(cuts=sparc.QualityCuts(None, None, None))
    assert (counts.final.galaxies, counts.final.points) == (175, 3391)
    with pytest.raises(ValueError, match="inc_min"):
        sparc.QualityCuts(inc_min=120)


def _with_rows(**arrays):
    g = sparc.get_galaxy("NGC3198")
    n = len(next(iter(arrays.values())))
    base = {k: np.zeros(n) for k in ("R", "v_obs", "e_v_obs", "v_gas", "v_disk", "v_bul", "sb_disk", "sb_bul")}
    return dataclasses.replace(g, **{**base, **{k: np.asarray(v, float) for k, v in arrays.items()}})


def test_v_bar_uses_signed_squares():
    # row 1: Vgas = -3, Vdisk = 4:  v^2 = -9 + 0.5*16 = -1  -> v_bar = -1 (net outward pull)
    # row 2: Vgas = -10, Vdisk = 20, Vbul = 10: v^2 = -100 + 200 + 70 = 170 -> sqrt(170)
    g = _with_rows(v_gas=[-3.0, -10.0], v_disk=[4.0, 20.0], v_bul=[0.0, 10.0])
    np.testing.assert_allclose(g.v_bar(), [-1.0, math.sqrt(170.0)], rtol=1e-12)
    np.testing.assert_allclose(g.v_bar(ups_disk=1.0, ups_bul=0.0), [math.sqrt(7.0), math.sqrt(300.0)], rtol=1e-12)


def test_v_bar_of_a_real_row_with_negative_gas():
    # MassModels line 61: DDO064 R=0.10 Vgas=-1.13 Vdisk=1.96 Vbul=0 -> -1.2769 + 0.5*3.8416 = 0.6439
    g = sparc.get_galaxy("DDO064")
    assert g.v_gas[0] == -1.13
    assert g.v_bar()[0] == pytest.approx(math.sqrt(0.6439), rel=1e-9)


def test_stellar_surface_density_and_disk_dispersion_by_hand():
    g = _with_rows(sb_disk=[100.0, 0.0], sb_bul=[10.0, 0.0])
    np.testing.assert_allclose(g.sigma_stellar(), [0.5 * 100 + 0.7 * 10, 0.0])
    # Bershady et al. 2010: h_z = 0.196 kpc at h_R = 1 kpc (10**-0.708)
    assert sparc.disk_scale_height(1.0) == pytest.approx(0.1959, abs=2e-4)
    hz_pc = sparc.disk_scale_height(g.Rdisk) * 1e3
    G_pc = 4.3009e-3  # pc (km/s)^2 / Msun
    expected = math.sqrt(2 * math.pi * G_pc * 57.0 * hz_pc + 10.0**2)
    s = sparc.sigma_v(g, "stellar-disk", 10.0)
    assert s[0] == pytest.approx(expected, rel=1e-4)
    assert s[1] == pytest.approx(10.0)  # no stars: the gas floor
    np.testing.assert_array_equal(sparc.sigma_v(g, "constant", 12.0), [12.0, 12.0])


def test_gas_disk_holds_the_helium_corrected_hi_mass():
    g = sparc.get_galaxy("NGC3198")
    rg_pc = 2.0 * g.Rdisk * 1e3
    central = sparc.gas_surface_density(_with_rows(R=[0.0]))[0]
    assert central == pytest.approx(1.33 * g.MHI * 1e9 / (2 * math.pi * rg_pc**2), rel=1e-12)
    stellar = sparc.surface_density(g, "stellar")
    both = sparc.surface_density(g, "stellar+gas")
    assert np.all(both > stellar)


def test_cmsi_curve_limits():
    g = sparc.get_galaxy("NGC3198")
    off = models.cmsi_curve(g, Params(chi0=0.0))
    np.testing.assert_allclose(off.F, 1.0)
    np.testing.assert_allclose(off.v, np.abs(g.v_bar()))
    strong = models.cmsi_curve(g, Params(chi0=1e6))
    assert np.all(strong.F >= off.F) and np.any(strong.F > 1.01)


def test_unknown_galaxy_lists_the_closest_names():
    with pytest.raises(sparc.UnknownGalaxyError, match="NGC3198") as err:
        sparc.get_galaxy("NGC 3198")
    assert isinstance(err.value, KeyError) and isinstance(err.value, ValueError)


def test_invalid_options_are_rejected():
    with pytest.raises(ValueError, match="vc_mode"):
        SparcOptions(vc_mode="fastest")
    with pytest.raises(ValueError, match="sigma_v_value"):
        SparcOptions(sigma_v_value=float("nan"))
    with pytest.raises(ValueError, match="ups_disk"):
        sparc.get_galaxy("NGC3198").v_bar(ups_disk=-0.5)


# --------------------------------------------------------------------------- bad files
def test_malformed_row_in_table1_names_file_and_line(tmp_path):
    src = datafiles.fetch(sparc.TABLE1_FILE)
    lines = src.read_text().splitlines(keepends=True)
    i = next(k for k, ln in enumerate(lines) if ln.split()[:1] == ["NGC3198"])
    lines[i] = lines[i].replace(" 13.80 ", " 13.8x ")
    bad = tmp_path / "table1.mrt"
    bad.write_text("".join(lines))
    with pytest.raises(sparc.SparcFormatError, match=rf"table1\.mrt, line {i + 1}: field 3 = '13.8x'"):
        sparc.read_table1(bad)
    lines[i] = " ".join(lines[i].split()[:10]) + "\n"  # a truncated row
    bad.write_text("".join(lines))
    with pytest.raises(sparc.SparcFormatError, match=rf"line {i + 1}: expected 19 .* found 10"):
        sparc.read_table1(bad)


def test_malformed_row_in_table2_names_file_and_line(tmp_path):
    raw = datafiles.fetch(sparc.TABLE2_FILE).read_bytes().split(b"\r\n")
    i = next(k for k, ln in enumerate(raw) if ln.startswith(b"NGC3198"))
    raw[i] = raw[i][:30] + b"?" + raw[i][31:]
    bad = tmp_path / "table2.mrt"
    bad.write_bytes(b"\r\n".join(raw))
    with pytest.raises(sparc.SparcFormatError, match=rf"table2\.mrt, line {i + 1}"):
        sparc.read_table2(bad)


@pytest.fixture
def fresh_caches():
    sparc._table1_cached.cache_clear(), sparc._table2_cached.cache_clear(), sparc._galaxies.cache_clear()
    yield
    sparc._table1_cached.cache_clear(), sparc._table2_cached.cache_clear(), sparc._galaxies.cache_clear()


def test_corrupted_file_fails_its_checksum(tmp_path, monkeypatch, fresh_caches):
    mirror = tmp_path / "mirror"
    (mirror / "sparc").mkdir(parents=True)
    good = datafiles.fetch(sparc.TABLE1_FILE)
    data = bytearray(good.read_bytes())
    data[-5] ^= 1
    (mirror / sparc.TABLE1_FILE).write_bytes(bytes(data))
    shutil.copy(datafiles.fetch(sparc.TABLE2_FILE), mirror / sparc.TABLE2_FILE)
    monkeypatch.setenv("CMSI_DATA_DIR", str(mirror))
    expected = datafiles.registry()[sparc.TABLE1_FILE].sha256
    got = datafiles.sha256(mirror / sparc.TABLE1_FILE)
    with pytest.raises(datafiles.DataFileError) as err:
        sparc.load_table1()
    msg = str(err.value)
    assert "SPARC_Lelli2016c.mrt" in msg and expected in msg and got in msg


def test_cli_data_summary_json(capsys):
    from cmsi_lib.cli import main

    assert main(["data", "summary", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["galaxies"], out["points"]) == (175, 3391)
    assert out["after_cuts"]["inclination"]["galaxies"] == PUBLISHED_RAR_GALAXIES
    assert main(["data", "galaxy", "NGC 3198"]) == 2
    assert "NGC3198" in capsys.readouterr().err
