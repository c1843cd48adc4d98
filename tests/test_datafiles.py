"""The data layer's registry and checksum verification (pooch / the CMSI_DATA_DIR mirror)."""

import hashlib
import shutil

import pytest

from cmsi_lib import datafiles


def test_registry_lists_the_provenance_files():
    reg = datafiles.registry()
    assert "sparc/SPARC_Lelli2016c.mrt" in reg and "sparc/MassModels_Lelli2016c.mrt" in reg
    # the hash typed in PROVENANCE.md for Table 1
    assert reg["sparc/SPARC_Lelli2016c.mrt"].sha256.startswith("5aa0501f6b0d881f")
    assert all(e.url is None or e.url.startswith("https://") for e in reg.values())


def test_fetch_verifies_a_mirrored_file():
    path = datafiles.fetch("sparc/SPARC_Lelli2016c.mrt")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == datafiles.registry()["sparc/SPARC_Lelli2016c.mrt"].sha256


def test_corrupted_mirror_file_names_file_and_both_hashes(tmp_path, monkeypatch):
    name = "sparc/SPARC_Lelli2016c.mrt"
    src = datafiles.fetch(name)
    (tmp_path / "sparc").mkdir()
    bad = tmp_path / name
    shutil.copy(src, bad)
    with open(bad, "ab") as fh:
        fh.write(b"tampered\n")
    monkeypatch.setenv("CMSI_DATA_DIR", str(tmp_path))
    with pytest.raises(datafiles.DataFileError) as exc:
        datafiles.fetch(name)
    msg = str(exc.value)
    assert str(bad) in msg and datafiles.registry()[name].sha256 in msg
    assert hashlib.sha256(bad.read_bytes()).hexdigest() in msg


def test_missing_mirror_only_file_says_how_to_provide_it(tmp_path, monkeypatch):
    monkeypatch.setenv("CMSI_DATA_DIR", str(tmp_path))
    with pytest.raises(datafiles.DataFileError, match="milky_way/eilers2019_vc.csv was not found.*CMSI_DATA_DIR"):
        datafiles.fetch("milky_way/eilers2019_vc.csv")


def test_unreachable_download_says_how_to_provide_it(tmp_path, monkeypatch):
    monkeypatch.setenv("CMSI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CMSI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr("pooch.retrieve", _offline)
    with pytest.raises(datafiles.DataFileError, match="could not be downloaded.*astroweb.case.edu"):
        datafiles.fetch("sparc/MassModels_Lelli2016c.mrt")


def _offline(*args, **kwargs):
    raise ConnectionError("network unreachable")


def test_unknown_name():
    with pytest.raises(datafiles.DataFileError, match="not in the data registry"):
        datafiles.fetch("sparc/nope.mrt")


def test_mirror_folder_that_does_not_exist_is_named(tmp_path, monkeypatch):
    missing = tmp_path / "no-such-mirror"
    monkeypatch.setenv("CMSI_DATA_DIR", str(missing))
    with pytest.raises(datafiles.DataFileError, match="no-such-mirror.*not a folder"):
        datafiles.fetch("sparc/SPARC_Lelli2016c.mrt")
