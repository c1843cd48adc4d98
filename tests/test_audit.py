"""`cmsi audit`: the derivation chapters pass, and failing checks or broken chapters are reported."""

import json
import subprocess
import sys
import textwrap

import pytest

from cmsi_lib.audit import AUDIT_LOG_ENV, AuditFailure, check, check_close, derivation_chapters

HEADER = textwrap.dedent("""\
    ---
    jupytext:
      text_representation:
        extension: .md
        format_name: myst
        format_version: 0.13
        jupytext_version: 1.19.6
    kernelspec:
      display_name: Python 3
      language: python
      name: python3
    ---

    # A test notebook

    """)


def cmsi(*args):
    return subprocess.run(
        [sys.executable, "-m", "cmsi_lib", "audit", *args], capture_output=True, text=True, timeout=600
    )


def write_notebook(path, code):
    path.write_text(HEADER + "```{code-cell} ipython3\n" + textwrap.dedent(code) + "```\n")
    return path


def test_check_records_and_raises(tmp_path, monkeypatch):
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv(AUDIT_LOG_ENV, str(log))
    check("two plus two", 2 + 2 == 4, "4 vs 4")  # passes silently
    with pytest.raises(AuditFailure, match="pi is three"):
        check("pi is three", abs(3.141592653589793 - 3) < 1e-3, "3.14159 vs 3")
    recs = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["name"], r["passed"]) for r in recs] == [("two plus two", True), ("pi is three", False)]
    assert recs[1]["quantity"] == "3.14159 vs 3"


def test_check_close_tolerance(monkeypatch):
    monkeypatch.delenv(AUDIT_LOG_ENV, raising=False)
    check_close("sqrt(2)^2 = 2 to 1e-15", 2**0.5 * 2**0.5, 2.0, rtol=1e-15)
    with pytest.raises(AuditFailure):
        check_close("1.001 vs 1 at rtol 1e-4", 1.001, 1.0, rtol=1e-4)
    with pytest.raises(AuditFailure):
        check_close("NaN never agrees", float("nan"), 1.0, rtol=1.0)


def test_failing_check_is_reported_with_nonzero_exit(tmp_path):
    nb = write_notebook(
        tmp_path / "failing.md",
        """\
        from cmsi_lib.audit import check
        check("one equals one", 1 == 1, "1 vs 1")
        check("sum of 1..10 is 56", sum(range(1, 11)) == 56, f"{sum(range(1, 11))} vs 56")
        """,
    )
    res = cmsi("--json", str(nb))
    assert res.returncode == 1, res.stderr
    recs = json.loads(res.stdout)
    by_name = {r["name"]: r for r in recs}
    assert by_name["one equals one"]["passed"] is True
    assert by_name["sum of 1..10 is 56"]["passed"] is False
    assert by_name["sum of 1..10 is 56"]["quantity"] == "55 vs 56"
    # the text form prints one FAIL line for it
    text = cmsi(str(nb))
    assert text.returncode == 1
    assert any("FAIL" in line and "sum of 1..10 is 56" in line for line in text.stdout.splitlines())


def test_chapter_error_is_a_failure(tmp_path):
    nb = write_notebook(tmp_path / "broken.md", "1 / 0\n")
    res = cmsi("--json", str(nb))
    assert res.returncode == 1
    recs = json.loads(res.stdout)
    assert any(r["name"] == "<execution>" and not r["passed"] and "ZeroDivisionError" in r["quantity"] for r in recs)


def test_parameters_are_refused():
    res = cmsi("--set", "chi0=1e6")
    assert res.returncode == 2 and "defaults" in res.stderr


@pytest.mark.slow
def test_derivation_chapters_pass_with_checks_for_every_factor():
    chapters = {p.stem for p in derivation_chapters()}
    factors = {"velocity_term", "source_density", "phase_coherence", "radial_profile", "assembly"}
    assert factors <= chapters
    res = cmsi("--json")
    recs = json.loads(res.stdout)
    failed = [r for r in recs if not r["passed"]]
    assert res.returncode == 0 and not failed, failed or res.stderr[-2000:]
    for rec in recs:
        assert {"chapter", "name", "passed", "quantity"} <= set(rec)
    checks_per_chapter = {}
    for rec in recs:
        if rec["name"] != "<execution>":
            stem = rec["chapter"].split("/")[-1]
            checks_per_chapter[stem] = checks_per_chapter.get(stem, 0) + 1
    for f in factors:
        assert checks_per_chapter.get(f, 0) >= 1, f"no check recorded by {f}"
