"""The stage cache (cmsi_lib.stages): what a key covers, reuse, and that every bad entry is recomputed."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

from cmsi_lib import datafiles, stages
from cmsi_lib.errors import DataFileError, InputError

SPARC = "sparc/SPARC_Lelli2016c.mrt"


class Counter:
    """A compute function that counts its calls and returns a result with JSON-unfriendly types."""

    def __init__(self, value=1.5):
        self.calls = 0
        self.value = value

    def __call__(self):
        self.calls += 1
        return {"x": np.float64(self.value), "pair": (1, 2), "n": np.int64(3), "by_int": {7: "seven"}}


def run(compute, inputs=None, **kw):
    return stages.run_stage("demo", inputs or {"chi0": 1e6}, compute, ["cmsi_lib.solar_system"], [SPARC], **kw)


# --------------------------------------------------------------------------- what the key covers
def _fake_package(root):
    """cmsi_lib/{__init__, a, b, unrelated, sub/__init__, sub/c}.py under ``root``: a imports b at the top
    and sub.c inside a function; sub.c imports b two levels up; unrelated is imported by nobody; a
    also imports stages (the cache, left out of every key)."""
    files = {
        "__init__.py": "",
        "a.py": "import numpy\nfrom . import b, stages\n\ndef f():\n    from .sub import c\n",
        "b.py": "X = 1\n",
        "stages.py": "",  # the cache itself: never in a key
        "unrelated.py": "from . import a\n",
        "sub/__init__.py": "",
        "sub/c.py": "from ..b import X\n",
    }
    for rel, text in files.items():
        f = root / "cmsi_lib" / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(textwrap.dedent(text))
    return root / "cmsi_lib"


def test_module_closure_follows_relative_and_function_level_imports(tmp_path, monkeypatch):
    _fake_package(tmp_path)
    monkeypatch.setattr("cmsi_lib.paths.repo_root", lambda: tmp_path)
    assert list(stages.module_files(["cmsi_lib.a"])) == [
        "cmsi_lib",
        "cmsi_lib.a",
        "cmsi_lib.b",
        "cmsi_lib.sub",
        "cmsi_lib.sub.c",
    ]
    assert list(stages.module_files(["cmsi_lib.sub.c"])) == ["cmsi_lib", "cmsi_lib.b", "cmsi_lib.sub", "cmsi_lib.sub.c"]
    with pytest.raises(InputError, match="cmsi_lib.nope"):
        stages.module_files(["cmsi_lib.nope"])


def test_code_hash_changes_with_a_used_module_only(tmp_path, monkeypatch):
    pkg = _fake_package(tmp_path)
    monkeypatch.setattr("cmsi_lib.paths.repo_root", lambda: tmp_path)
    before = stages.code_hash(["cmsi_lib.a"])
    (pkg / "unrelated.py").write_text("from . import a\nY = 2\n")
    assert stages.code_hash(["cmsi_lib.a"]) == before
    (pkg / "sub" / "c.py").write_text("from ..b import X\nZ = X + 1\n")
    assert stages.code_hash(["cmsi_lib.a"]) != before


def test_key_depends_on_inputs_data_checksums_and_code_not_on_dict_order(monkeypatch):
    mods, data = ["cmsi_lib.solar_system"], [SPARC]
    key = stages.stage_key("demo", {"chi0": 1e6, "alpha": 1.0}, mods, data)
    assert len(key) == 64 and int(key, 16) >= 0
    assert stages.stage_key("demo", {"alpha": 1.0, "chi0": 1e6}, mods, data) == key
    assert stages.stage_key("demo", {"chi0": 1e6, "alpha": 1.0}, mods, data + data) == key
    assert stages.stage_key("other", {"chi0": 1e6, "alpha": 1.0}, mods, data) != key
    assert stages.stage_key("demo", {"chi0": 1.000000000000001e6, "alpha": 1.0}, mods, data) != key
    assert stages.stage_key("demo", {"chi0": 1e6, "alpha": 1.0}, ["cmsi_lib.clusters"], data) != key
    assert stages.stage_key("demo", {"chi0": 1e6, "alpha": 1.0}, mods, []) != key
    reg = dict(datafiles.registry())
    reg[SPARC] = datafiles.RegistryEntry(SPARC, "0" * 64, reg[SPARC].url)  # a new version of the table
    monkeypatch.setattr(datafiles, "registry", lambda: reg)
    assert stages.stage_key("demo", {"chi0": 1e6, "alpha": 1.0}, mods, data) != key


def test_a_data_file_outside_the_registry_is_named():
    with pytest.raises(DataFileError, match="sparc/nope.mrt"):
        stages.stage_key("demo", {}, ["cmsi_lib.kernel"], ["sparc/nope.mrt"])


@pytest.mark.parametrize("name", ["", "../escape", "a/b", ".hidden", "has space"])
def test_a_stage_name_that_is_not_a_file_name_is_refused(name):
    with pytest.raises(InputError, match="stage name"):
        stages.stage_key(name, {}, ["cmsi_lib.kernel"], [])


# --------------------------------------------------------------------------- reuse
def test_second_run_reads_the_entry_and_force_recomputes(results):
    compute = Counter()
    fresh, was_cached = run(compute)
    assert (compute.calls, was_cached) == (1, False)
    # the result as JSON reads it back: tuples are lists, numpy scalars Python numbers, keys strings
    assert fresh == {"x": 1.5, "pair": [1, 2], "n": 3, "by_int": {"7": "seven"}}
    again, was_cached = run(compute)
    assert (compute.calls, was_cached, again) == (1, True, fresh)
    assert run(compute, force=True)[1] is False and compute.calls == 2
    assert run(compute, inputs={"chi0": 2e6})[1] is False and compute.calls == 3
    assert len(list((results / "stages" / "demo").glob("*.json"))) == 2


def test_a_failed_compute_leaves_no_entry(results):
    def boom():
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        run(boom)
    assert not list(results.rglob("*.json"))
    assert run(Counter())[1] is False


def test_tables_are_stored_beside_the_entry_and_checked(results, caplog):
    text = "# %ECSV 1.0\n---\na b\n1 2\n"
    compute = Counter()
    result, _ = run(lambda: (compute(), {"rows.ecsv": text}))
    key = stages.stage_key("demo", {"chi0": 1e6}, ["cmsi_lib.solar_system"], [SPARC])
    table = stages.table_file("demo", key, "rows.ecsv")
    assert table.read_text() == text and stages.cached("demo", key) == result
    table.write_text(text + "3 4\n")  # a table changed after the entry was written
    with caplog.at_level("WARNING", logger="cmsi_lib.stages"):
        assert stages.cached("demo", key) is None
    assert "rows.ecsv" in caplog.text and not table.exists()


def test_outputs_rewritten_by_another_run_make_the_entry_stale(results):
    out = results / "survey"
    out.mkdir()

    def compute(value):
        def f():
            (out / "summary.json").write_text(json.dumps({"value": value}))
            return {"value": value}

        return f

    assert run(compute(1), outputs=[out])[1] is False
    assert run(compute(1), outputs=[out]) == ({"value": 1}, True)
    run(compute(2), inputs={"chi0": 2.0}, outputs=[out])  # another run overwrites the folder
    assert run(compute(1), outputs=[out]) == ({"value": 1}, False)
    (out / "summary.json").unlink()
    assert run(compute(1), outputs=[out])[1] is False


# --------------------------------------------------------------------------- bad entries: recomputed, never raised
def _corrupt(entry: dict, how: str):
    if how == "truncated":
        return json.dumps(entry)[:-10]
    if how == "not an object":
        return "[1, 2, 3]"
    if how == "empty":
        return ""
    changed = dict(entry)
    if how == "incomplete":
        changed["complete"] = False
    elif how == "other key":
        changed["key"] = "f" * 64
    elif how == "other stage":
        changed["stage"] = "elsewhere"
    elif how == "old schema":
        changed["schema"] = stages.SCHEMA - 1
    elif how == "no result":
        del changed["result"]
    elif how == "tables not a dict":
        changed["tables"] = ["rows.ecsv"]
    elif how == "table name escapes":
        changed["tables"] = {"../../x": "0" * 64}
    return json.dumps(changed)


@pytest.mark.parametrize(
    "how",
    [
        "truncated",
        "not an object",
        "empty",
        "incomplete",
        "other key",
        "other stage",
        "old schema",
        "no result",
        "tables not a dict",
        "table name escapes",
    ],
)
def test_a_bad_entry_is_logged_removed_and_recomputed(results, caplog, how):
    compute = Counter()
    first, _ = run(compute)
    key = stages.stage_key("demo", {"chi0": 1e6}, ["cmsi_lib.solar_system"], [SPARC])
    f = stages.entry_file("demo", key)
    bad = _corrupt(json.loads(f.read_text()), how)
    f.write_text(bad)
    with caplog.at_level("WARNING", logger="cmsi_lib.stages"):
        assert stages.cached("demo", key) is None
    assert str(f) in caplog.text and not f.exists()
    f.write_text(bad)  # and through run_stage: recomputed, stored again
    again, was_cached = run(compute)
    assert (again, was_cached, compute.calls) == (first, False, 2)
    assert run(compute) == (first, True)


def test_an_entry_records_the_sha256_of_each_module_and_data_file_its_key_covers(results):
    import hashlib

    run(Counter())
    (f,) = (results / "stages" / "demo").glob("*.json")
    prov = json.loads(f.read_text())["provenance"]
    src = stages.module_files(["cmsi_lib.solar_system"])["cmsi_lib.solar_system"]
    assert prov["modules"]["cmsi_lib.solar_system"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert "cmsi_lib.units" in prov["modules"] and "cmsi_lib.clusters" not in prov["modules"]
    assert prov["data"] == {SPARC: "5aa0501f6b0d881fa579030e315e7b5b6ef561a5bd3a07472f9929c7e5728243"}
