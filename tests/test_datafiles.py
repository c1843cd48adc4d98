"""The data layer's registry and checksum verification (pooch / the CMSI_DATA_DIR mirror)."""

import hashlib
import json
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


# --------------------------------------------------------------------------- the recorded mirror (issue 11 item 6)
MIRRORED = "sparc/SPARC_Lelli2016c.mrt"


def _mirror_with(folder, name=MIRRORED):
    """A mirror folder holding a verbatim copy of registry file ``name``."""
    src = datafiles.fetch(name)
    (folder / name).parent.mkdir(parents=True)
    shutil.copy(src, folder / name)
    return folder


def test_a_valid_env_mirror_is_recorded_and_used_once_env_is_unset(results, tmp_path, monkeypatch):
    mirror = _mirror_with(tmp_path / "mirror")
    monkeypatch.setenv("CMSI_DATA_DIR", str(mirror))
    assert datafiles.record_mirror() == mirror.resolve()
    assert json.loads((results / "config.json").read_text()) == {"data_dir": str(mirror.resolve())}
    monkeypatch.delenv("CMSI_DATA_DIR")
    assert datafiles.mirror_dir() == mirror.resolve()
    assert datafiles.fetch(MIRRORED) == mirror.resolve() / MIRRORED


def test_an_explicit_env_mirror_wins_over_the_recorded_one(results, tmp_path, monkeypatch):
    recorded = _mirror_with(tmp_path / "recorded")
    (results / "config.json").write_text(json.dumps({"data_dir": str(recorded.resolve())}))
    explicit = _mirror_with(tmp_path / "explicit")
    monkeypatch.setenv("CMSI_DATA_DIR", str(explicit))
    assert datafiles.fetch(MIRRORED) == explicit.resolve() / MIRRORED
    # and a recorded folder that is gone does not matter while CMSI_DATA_DIR is set
    shutil.rmtree(recorded)
    assert datafiles.fetch(MIRRORED) == explicit.resolve() / MIRRORED


def test_a_recorded_folder_that_is_gone_names_the_config_file_and_the_folder(results, tmp_path, monkeypatch):
    gone = tmp_path / "moved-away"
    (results / "config.json").write_text(json.dumps({"data_dir": str(gone)}))
    monkeypatch.delenv("CMSI_DATA_DIR", raising=False)
    with pytest.raises(datafiles.DataFileError) as exc:
        datafiles.fetch(MIRRORED)
    msg = str(exc.value)
    assert str(results / "config.json") in msg and str(gone) in msg and "no longer exists" in msg


def test_nothing_is_recorded_without_a_valid_env_mirror(results, tmp_path, monkeypatch):
    monkeypatch.delenv("CMSI_DATA_DIR", raising=False)
    assert datafiles.record_mirror() is None
    monkeypatch.setenv("CMSI_DATA_DIR", str(tmp_path / "no-such-folder"))
    assert datafiles.record_mirror() is None
    assert not (results / "config.json").exists()


def test_recording_keeps_other_members_and_rewrites_only_on_change(results, tmp_path, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    (results / "config.json").write_text(json.dumps({"other": 1, "data_dir": str(first.resolve())}))
    monkeypatch.setenv("CMSI_DATA_DIR", str(first))
    before = (results / "config.json").stat().st_ino
    datafiles.record_mirror()
    assert (results / "config.json").stat().st_ino == before
    monkeypatch.setenv("CMSI_DATA_DIR", str(second))
    datafiles.record_mirror()
    assert json.loads((results / "config.json").read_text()) == {"other": 1, "data_dir": str(second.resolve())}


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"data_dir": "relative/path"}', '{"data_dir": 3}'])
def test_a_malformed_config_is_ignored_with_a_warning(results, monkeypatch, caplog, text):
    (results / "config.json").write_text(text)
    monkeypatch.delenv("CMSI_DATA_DIR", raising=False)
    with caplog.at_level("WARNING", logger="cmsi_lib.datafiles"):
        assert datafiles.mirror_dir() is None
    assert "config.json" in caplog.text
