"""The Rotmod reader and writer (cmsi_lib.rotmod): a hand-written file read with its known values;
every bad input named by file and line; SPARC's own Rotmod files (Rotmod_LTG.zip) read back equal to
SPARC's Table 2, a sample written and read back equal to Tables 1 and 2; without galaxies.csv
e_D = 10% of D and the inclination is not a nuisance parameter of the fits."""

import math
import os
from pathlib import Path

import numpy as np
import pytest

from cmsi_lib import jointfit, rotmod, sparc
from cmsi_lib.errors import DataFormatError

HAND = """# Distance = 7.5 Mpc
# Rad\tVobs\terrV\tVgas\tVdisk\tVbul\tSBdisk\tSBbul
# kpc\tkm/s\tkm/s\tkm/s\tkm/s\tkm/s\tL/pc^2\tL/pc^2
0.50\t30.0\t5.0\t-2.5\t40.0\t10.0\t500.0\t80.0

1.50\t60.0\t4.0\t10.0\t55.0\t5.0\t200.0\t0.0
"""
TABLE = "name,D,e_D,Inc,e_Inc,Q\nHand1,7.5,0.8,55.0,4.0,2\n"


def _write(folder: Path, text: str = HAND, name: str = "Hand1", table: str | None = TABLE) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / f"{name}_rotmod.dat").write_text(text)
    if table is not None:
        (folder / "galaxies.csv").write_text(table)
    return folder


def test_hand_written_file(tmp_path):
    g = rotmod.load_sample(_write(tmp_path / "s"))["Hand1"]
    assert isinstance(g, sparc.Galaxy) and g.n_points == 2
    assert (g.D, g.e_D, g.inc, g.e_inc, g.Q) == (7.5, 0.8, 55.0, 4.0, 2)
    np.testing.assert_array_equal(g.R, [0.5, 1.5])
    np.testing.assert_array_equal(g.v_obs, [30.0, 60.0])
    np.testing.assert_array_equal(g.e_v_obs, [5.0, 4.0])
    np.testing.assert_array_equal(g.v_gas, [-2.5, 10.0])
    np.testing.assert_array_equal(g.sb_bul, [80.0, 0.0])
    # v_bar^2 by hand at the first point: -2.5^2 + 0.5 * 40^2 + 0.7 * 10^2 = -6.25 + 800 + 70
    assert g.v_bar_squared()[0] == pytest.approx(863.75, rel=1e-14)
    assert math.isnan(g.Vflat) and math.isnan(g.Rdisk) and g.T == -1
    with pytest.raises(ValueError):
        g.R[0] = 1.0  # read-only, as SPARC's records


def _error(tmp_path, text=HAND, table=TABLE) -> str:
    folder = _write(tmp_path / "bad", text, table=table)
    with pytest.raises(DataFormatError) as info:
        rotmod.load_sample(folder)
    return str(info.value)


@pytest.mark.parametrize(
    "edit, where, words",
    [
        (lambda t: t.replace("# Distance = 7.5 Mpc\n", ""), "line 3", "before the '# Distance"),
        (lambda t: t.replace("\t0.0\n", "\n"), "line 6", "expected 8 columns"),
        (lambda t: t.replace("60.0", "6o.0"), "line 6", "Vobs = '6o.0' is not a number"),
        (lambda t: t.replace("60.0", "nan"), "line 6", "Vobs = 'nan' is not finite"),
        (lambda t: t.replace("\t4.0\t", "\t-4.0\t"), "line 6", "errV = -4.0 km/s must be > 0"),
        (lambda t: t.replace("Vbul\tSBdisk", "SBdisk"), "line 2", "missing: Vbul"),
        (lambda t: t.replace("# kpc", "# pc"), "line 3", "units 'pc km/s"),
    ],
)
def test_bad_rotmod_names_file_and_line(tmp_path, edit, where, words):
    msg = _error(tmp_path, edit(HAND))
    assert "Hand1_rotmod.dat" in msg and where in msg and words in msg, msg


def test_missing_distance_header(tmp_path):
    text = "\n".join(ln for ln in HAND.splitlines() if not ln[0:1].isdigit() and "Distance" not in ln)
    msg = _error(tmp_path, text + "\n")
    assert "Hand1_rotmod.dat" in msg and "no '# Distance = D Mpc' header" in msg


@pytest.mark.parametrize(
    "table, where, words",
    [
        (TABLE + "Ghost,5,0.5,60,3,1\n", "line 3", "'Ghost' has no file"),
        (TABLE + "Hand1,7.5,0.8,55.0,4.0,2\n", "line 3", "'Hand1' is given twice (first on line 2)"),
        ("name,D,e_D,Inc,Q\nHand1,7.5,0.8,55.0,2\n", "line 1", "missing column(s) e_Inc"),
        ("name,D,e_D,Inc,e_Inc,Q\nHand1,7.5,0.8,95.0,4.0,2\n", "line 2", "Inc = '95.0' is out of range"),
        ("name,D,e_D,Inc,e_Inc,Q\nHand1,7.5,x,55.0,4.0,2\n", "line 2", "e_D = 'x' is not a number"),
        ("name,D,e_D,Inc,e_Inc,Q\nHand1,8.0,0.8,55.0,4.0,2\n", "line 2", "differs from the header distance"),
        ("name,D,e_D,Inc,e_Inc,Q\nOther,7.5,0.8,55.0,4.0,2\n", "galaxies.csv", "no file Other_rotmod.dat"),
    ],
)
def test_bad_table_names_file_and_line(tmp_path, table, where, words):
    msg = _error(tmp_path, table=table)
    assert "galaxies.csv" in msg and where in msg and words in msg, msg


def test_row_missing_for_a_file(tmp_path):
    folder = _write(tmp_path / "s")
    _write(folder, name="Hand2", table=None)
    with pytest.raises(DataFormatError, match=r"galaxies.csv: no row for galaxy 'Hand2' \(file Hand2_rotmod.dat\)"):
        rotmod.load_sample(folder)


def test_empty_or_missing_folder(tmp_path):
    with pytest.raises(DataFormatError, match="not a folder"):
        rotmod.load_sample(tmp_path / "nowhere")
    with pytest.raises(DataFormatError, match="no <name>_rotmod.dat file"):
        rotmod.load_sample(tmp_path)


def test_sparc_rotmod_files_equal_table2():
    """SPARC's own Rotmod_LTG files (an independent product of the SPARC team) read by load_sample give
    Table 2's arrays and Table 1's distances for all 175 galaxies."""
    folder = Path(os.environ.get("CMSI_DATA_DIR", "/work/shared/data")) / "sparc" / "Rotmod_LTG"
    if not folder.is_dir():
        pytest.skip("Rotmod_LTG not unpacked under CMSI_DATA_DIR/sparc")
    got, t2 = rotmod.load_sample(folder), sparc.load_table2()
    t1 = {str(r["Galaxy"]): r for r in sparc.load_table1()}
    assert sorted(got) == sorted(t1) and len(got) == 175
    ids = np.asarray(t2["ID"]).astype(str)
    for name, g in got.items():
        m = ids == name
        assert g.D == float(t1[name]["D"]) and g.e_D == pytest.approx(0.1 * g.D, rel=1e-14)
        for field, col in zip(
            rotmod._ARRAYS, ("R", "Vobs", "e_Vobs", "Vgas", "Vdisk", "Vbul", "SBdisk", "SBbul"), strict=True
        ):
            np.testing.assert_allclose(getattr(g, field), np.asarray(t2[col][m], float), atol=0.0051, err_msg=name)


def test_sparc_sample_round_trip_equals_the_tables(tmp_path):
    """Write SPARC (with galaxies.csv), read back: each field equals the value in SPARC's Tables 1 and 2."""
    names = ("NGC3198", "NGC7331", "DDO154", "UGC02885")
    gals = {n: sparc.get_galaxy(n) for n in names}
    rotmod.write_sample(gals, tmp_path)
    back = rotmod.load_sample(tmp_path)
    t1 = {str(r["Galaxy"]): r for r in sparc.load_table1()}
    t2 = sparc.load_table2()
    ids = np.asarray(t2["ID"]).astype(str)
    for n in names:
        g, r, m = back[n], t1[n], ids == n
        assert (g.D, g.e_D, g.inc, g.e_inc, g.Q, g.T) == (r["D"], r["e_D"], r["Inc"], r["e_Inc"], r["Q"], r["T"])
        assert (g.L36, g.Rdisk, g.MHI, g.refs) == (r["L[3.6]"], r["Rdisk"], r["MHI"], r["Ref."])
        assert math.isnan(g.Vflat) if r["Vflat"] == 0 else g.Vflat == r["Vflat"]  # NaN where Table 1 has 0
        np.testing.assert_array_equal(g.v_obs, np.asarray(t2["Vobs"][m], float))
        np.testing.assert_array_equal(g.v_bul, np.asarray(t2["Vbul"][m], float))


def test_without_table_ten_percent_distance_and_inclination_fixed(tmp_path):
    g0 = sparc.get_galaxy("NGC3198")
    rotmod.write_sample({"NGC3198": g0}, tmp_path, with_table=False)
    assert not (tmp_path / "galaxies.csv").exists()
    g = rotmod.load_sample(tmp_path)["NGC3198"]
    assert g.D == 13.8 and g.e_D == pytest.approx(1.38, rel=1e-14) and g.e_inc == 0.0
    kept, _ = sparc.apply_cuts({"NGC3198": g}, sparc.QualityCuts())
    (block,) = jointfit.sparc_blocks(kept)
    assert block.free == ("ups_disk", "D")  # no bulge; Inc held
    fit = jointfit.joint_map([block], model="newton")
    assert fit.nuisance["NGC3198"]["inc"] == g.inc and block.e_D == g.e_D
    # the same galaxy from SPARC frees its inclination (e_Inc = 3 deg in Table 1): the control
    (ref,) = jointfit.sparc_blocks({"NGC3198": (g0, kept["NGC3198"][1])})
    assert ref.free == ("ups_disk", "D", "inc")
