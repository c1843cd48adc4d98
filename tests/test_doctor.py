"""`cmsi doctor`: a good mirror passes, a corrupted file and a missing mirror folder are named.

The expected checksums are read from data/registry.txt by this test itself and the files hashed
with hashlib here, so the doctor's verdicts are checked against facts computed another way.
"""

import hashlib
import json
import platform
import shutil
from pathlib import Path

import pytest

from cmsi_lib import doctor
from cmsi_lib.cli import main

REPO = Path(__file__).resolve().parent.parent
MIRROR = REPO.parent / "shared" / "data"

pytestmark = pytest.mark.skipif(not MIRROR.is_dir(), reason="needs the data mirror ../shared/data")


def registry_lines() -> dict[str, str]:
    """relative path -> sha256, parsed here from data/registry.txt."""
    out = {}
    for line in (REPO / "data" / "registry.txt").read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and not line.lstrip().startswith("#"):
            out[parts[0]] = parts[1]
    return out


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """An empty download cache, so only the mirror under test can supply files."""
    monkeypatch.setenv("CMSI_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def doctor_json(capsys) -> tuple[int, dict]:
    status = main(["doctor", "--json"])
    return status, json.loads(capsys.readouterr().out)


def test_good_mirror_every_file_ok(monkeypatch, isolated):
    monkeypatch.setenv("CMSI_DATA_DIR", str(MIRROR))
    found = {f.name: f for f in doctor.data_findings()}
    reg = registry_lines()
    assert found["data mirror"].status == "ok" and str(MIRROR.resolve()) in found["data mirror"].detail
    for name, expected in reg.items():
        f = found[name]
        assert f.status == "ok", f"{name}: {f.detail}"
        assert f.extra["sha256"] == expected == hashlib.sha256((MIRROR / name).read_bytes()).hexdigest()
    assert len(found) == len(reg) + 1  # the mirror line and one line per registered file


def test_corrupted_file_is_a_mismatch_and_exit_1(monkeypatch, isolated, capsys):
    mirror = isolated / "mirror"
    shutil.copytree(MIRROR, mirror)
    victim = "sparc/Rotmod_LTG.zip"
    with open(mirror / victim, "r+b") as fh:  # flip one byte in the middle
        fh.seek(1000)
        b = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([b[0] ^ 0xFF]))
    monkeypatch.setenv("CMSI_DATA_DIR", str(mirror))
    status, out = doctor_json(capsys)
    assert status == 1 and out["exit_status"] == 1
    data = {f["name"]: f for f in out["findings"] if f["section"] == "data"}
    bad = data[victim]
    assert bad["status"] == "fail" and bad["detail"].startswith("mismatch")
    assert bad["extra"]["sha256"] == hashlib.sha256((mirror / victim).read_bytes()).hexdigest()
    assert bad["extra"]["expected"] == registry_lines()[victim] != bad["extra"]["sha256"]
    assert "replace" in bad["fix"] and victim.split("/")[-1] in bad["fix"]
    others = [f for name, f in data.items() if name not in (victim, "data mirror")]
    assert others and all(f["status"] == "ok" for f in others)


def test_missing_file_is_reported_with_what_to_do(monkeypatch, isolated):
    mirror = isolated / "mirror"
    shutil.copytree(MIRROR, mirror)
    no_url = next(n for n, e in doctor.datafiles.registry().items() if e.url is None)
    (mirror / no_url).unlink()
    monkeypatch.setenv("CMSI_DATA_DIR", str(mirror))
    f = next(f for f in doctor.data_findings() if f.name == no_url)
    assert f.status == "fail" and f.detail.startswith("missing") and str(mirror / no_url) in f.fix


def test_missing_mirror_folder_is_named_and_exit_1(monkeypatch, isolated, capsys):
    gone = isolated / "no-such-mirror"
    monkeypatch.setenv("CMSI_DATA_DIR", str(gone))
    status = main(["doctor"])
    text = capsys.readouterr().out
    assert status == 1
    assert f"CMSI_DATA_DIR names {gone}, which does not exist" in text
    assert "what to do: point CMSI_DATA_DIR at the data mirror" in text


def test_places_and_tools_are_reported(monkeypatch, isolated, capsys):
    monkeypatch.setenv("CMSI_DATA_DIR", str(MIRROR))
    results = isolated / "results"
    monkeypatch.setenv("CMSI_RESULTS_DIR", str(results))
    _, out = doctor_json(capsys)
    by = {(f["section"], f["name"]): f for f in out["findings"]}
    assert str(results) in by[("places", "results")]["detail"]
    assert by[("places", "current run")]["status"] == "info"  # a fresh results folder has no run
    assert ("tools", "chromium") in by and ("tools", "npm") in by
    want = {"python", "numpy", "scipy", "sympy", "astropy", "matplotlib", "papermill", "jupytext", "jupyter-book"}
    want |= {"dask", "galpy", "emcee", "sphinx"}
    assert want <= {name for section, name in by if section == "versions"}
    assert by[("versions", "python")]["detail"].startswith(platform.python_version())


def test_recorded_mirror_that_is_gone_is_named(monkeypatch, isolated):
    monkeypatch.delenv("CMSI_DATA_DIR", raising=False)
    results = isolated / "results"
    results.mkdir()
    gone = isolated / "old-mirror"
    (results / "config.json").write_text(json.dumps({"data_dir": str(gone)}))
    monkeypatch.setenv("CMSI_RESULTS_DIR", str(results))
    found = doctor.data_findings()
    assert found[0].status == "fail" and str(gone) in found[0].detail and "config.json" in found[0].detail
    assert doctor.exit_status(found) == 1
