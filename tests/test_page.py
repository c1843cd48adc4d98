"""cmsi_lib.page's downloads and sortable tables: files a reader can open, with their units."""

import csv
import io
import math

import astropy.units as u
import pytest
from astropy.table import Table

from cmsi_lib import page, paths
from cmsi_lib.errors import InputError

ROWS = [
    {"galaxy": "NGC3198", "rms_cmsi_kms": 12.5, "n_points": 43, "ok": True, "D_Mpc": 13.8},
    {"galaxy": "DDO154", "rms_cmsi_kms": None, "n_points": 12, "ok": False, "D_Mpc": 4.04},
    {"galaxy": "UGC00128", "n_points": 22, "ok": True, "D_Mpc": 64.5, "note": "only here"},
]


@pytest.fixture
def book_root(monkeypatch, tmp_path):
    """A stand-in repository: downloads go to tmp_path/chapters/downloads."""
    monkeypatch.setattr(paths, "repo_root", lambda: tmp_path)
    monkeypatch.setattr(paths, "chapters_dir", lambda: tmp_path / "chapters")
    return tmp_path


def test_download_writes_csv_with_a_header_and_ecsv_with_units(book_root):
    md = page.download(ROWS, "demo", units={"D_Mpc": "Mpc"}, description="three galaxies")
    csv_path = book_root / "chapters" / "downloads" / "demo.csv"
    ecsv_path = csv_path.with_suffix(".ecsv")
    rows = list(csv.reader(io.StringIO(csv_path.read_text())))
    assert rows[0] == ["galaxy", "rms_cmsi_kms", "n_points", "ok", "D_Mpc", "note"]  # first-seen order
    assert len(rows) == 1 + len(ROWS)
    assert rows[2][1] == "" and rows[1][5] == "" and rows[3][5] == "only here"  # missing values are blank
    assert float(rows[1][1]) == 12.5 and int(rows[3][2]) == 22
    t = Table.read(ecsv_path, format="ascii.ecsv")
    assert ecsv_path.read_text().startswith("# %ECSV")
    assert t["rms_cmsi_kms"].unit == u.km / u.s  # from the name's suffix
    assert t["D_Mpc"].unit == u.Mpc and t["n_points"].unit is None
    assert list(t["galaxy"]) == ["NGC3198", "DDO154", "UGC00128"]
    assert t["rms_cmsi_kms"].mask[1] and not t["rms_cmsi_kms"].mask[0]
    assert t["n_points"].dtype.kind == "i" and t["ok"].dtype.kind == "b"
    assert t.meta["description"] == "three galaxies"
    # the links: MyST download roles with the files' paths from the source root
    assert "{download}`demo.csv </chapters/downloads/demo.csv>`" in md.data
    assert "{download}`demo.ecsv </chapters/downloads/demo.ecsv>`" in md.data
    assert "3 rows, 6 columns" in md.data


def test_download_of_a_table_keeps_its_units_and_adds_declared_ones(book_root):
    t = Table({"R_kpc": [1.0, 2.0], "v": [100.0, 150.0]})
    t["v"].unit = u.km / u.s
    page.download(t, "tab", units={"R_kpc": "pc"})  # an explicit unit wins over the name's suffix
    back = Table.read(book_root / "chapters" / "downloads" / "tab.ecsv", format="ascii.ecsv")
    assert back["v"].unit == u.km / u.s and back["R_kpc"].unit == u.pc
    assert back["v"][1] == 150.0


def test_download_rewrites_only_what_changed(book_root):
    page.download(ROWS, "same")
    f = book_root / "chapters" / "downloads" / "same.csv"
    before = f.stat().st_mtime_ns
    page.download(ROWS, "same")
    assert f.stat().st_mtime_ns == before
    page.download(ROWS[:2], "same")
    assert len(f.read_text().splitlines()) == 3


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"name": "../evil"}, "download name"),
        ({"name": ""}, "download name"),
        ({"name": "ok", "formats": ("xlsx",)}, "formats"),
        ({"name": "ok", "units": {"nope": "km"}}, "not in the table"),
        ({"name": "ok", "units": {"D_Mpc": "parsecs-ish"}}, "'D_Mpc'"),
    ],
)
def test_download_refuses_bad_input_by_name(book_root, kwargs, needle):
    with pytest.raises(InputError, match=needle):
        page.download(ROWS, **kwargs)
    assert not (book_root / "chapters" / "downloads" / "ok.csv").exists()


def test_unit_suffixes():
    assert u.Unit(page.unit_from_name("Sigma_Msun_pc2")) == u.solMass / u.pc**2  # the longer suffix wins
    assert u.Unit(page.unit_from_name("M_hse_r500_Msun")) == u.solMass
    assert u.Unit(page.unit_from_name("a_au")) == u.AU
    assert page.unit_from_name("chi2n_cmsi") is None


def test_as_table_float_column_with_ints_and_floats():
    t = page.as_table([{"x": 1}, {"x": 2.5}, {"x": None}])
    assert t["x"].dtype.kind == "f" and t["x"][1] == 2.5 and t["x"].mask[2]
    assert math.isnan(t["x"].filled()[2])


def test_sortable_loads_the_library_relative_to_the_site_root():
    html = page.sortable([1, 3], site_root="../..").data
    assert '<script src="../../simple-datatables/simple-datatables.js">' in html
    assert "[1, 3]" in html and "cdn" not in html.lower() and "http" not in html
    with pytest.raises(InputError, match="0-based"):
        page.sortable([-1], site_root="..")
