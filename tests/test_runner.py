"""The atlas runner: file names, cache keys, validation before any page starts, and (slow) a
real papermill + Dask run on three galaxies in temporary results and pages folders."""

import json

import pytest

from cmsi_lib import runner, sparc
from cmsi_lib.cli import main
from cmsi_lib.options import SparcOptions
from cmsi_lib.params import Params


def test_page_file_names_are_safe_and_documented():
    assert runner.page_stem("NGC3198") == "NGC3198"
    assert runner.page_stem("ESO079-G014") == "ESO079-G014"
    assert runner.page_stem("KK98+251") == "KK98p251"
    assert runner.page_stem("A B/C") == "A_B_C"
    assert runner.page_label("F563-V1") == "atlas-f563-v1"
    stems = [runner.page_stem(n) for n in sparc.galaxy_names()]
    assert len(set(stems)) == 175  # the mapping is one-to-one on SPARC


def test_run_id_separates_parameter_sets_and_options():
    p = Params()
    assert runner.run_id(p, SparcOptions()) == p.hash
    assert runner.run_id(Params(chi0=1e6), SparcOptions()) != p.hash
    other = runner.run_id(p, SparcOptions(sigma_v_model="stellar-disk"))
    assert other.startswith(p.hash + "-") and other != p.hash


def test_imported_modules_follow_absolute_and_relative_imports():
    src = (
        "%matplotlib inline\nimport cmsi_lib.rar\nfrom cmsi_lib import sparc, kernel\n"
        "from cmsi_lib.params import Params\nimport numpy"
    )
    assert runner._imported_modules(src) == {"__init__", "rar", "sparc", "kernel", "params"}
    assert runner._imported_modules("from . import paths\nfrom .units import C_KMS") == {"__init__", "paths", "units"}


def test_unknown_galaxy_starts_no_page(tmp_path, monkeypatch):
    monkeypatch.setenv("CMSI_RESULTS_DIR", str(tmp_path / "results"))
    pages = tmp_path / "pages"
    with pytest.raises(sparc.UnknownGalaxyError, match="NGC3198"):
        runner.run_atlas(Params(), SparcOptions(), ["NGC3198", "NGC 3198x"], pages=pages, progress=False)
    assert not pages.exists() and not (tmp_path / "results" / "runs").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--set", "chi0=-1"], "chi0"),
        (["--galaxies", "NGC3198", "NOPE"], "NOPE"),
        (["--vc-mode", "observed", "--sigma-v-value", "0"], "sigma_v_value"),
    ],
)
def test_cli_run_validates_before_any_page(argv, message, monkeypatch, capsys):
    def must_not_run(*a, **k):
        raise AssertionError("a page was started despite invalid input")

    monkeypatch.setattr(runner, "run_atlas", must_not_run)
    assert main(["run", "--no-book", *argv]) == 2
    assert message in capsys.readouterr().err


FAIL_CELL = """
```{code-cell} ipython3
if galaxy == "D564-8":
    raise RuntimeError("made to fail for the test")
```
"""


@pytest.mark.slow
def test_runner_pages_rows_cache_and_failures(tmp_path, monkeypatch):
    monkeypatch.setenv("CMSI_RESULTS_DIR", str(tmp_path / "results"))
    pages = tmp_path / "pages"
    text = runner.TEMPLATE.read_text()
    anchor = "## Rotation curve"
    template = tmp_path / "template.md"
    template.write_text(text.replace(anchor, FAIL_CELL + "\n" + anchor, 1))
    names = ["NGC3198", "D564-8", "UGC02885"]

    first = runner.run_atlas(
        Params(), None, names, workers=2, pages=pages, template=template, progress=False, publish=True
    )
    status = {r.galaxy: r.status for r in first.results}
    assert status == {"NGC3198": "executed", "D564-8": "failed", "UGC02885": "executed"}
    assert "made to fail for the test" in first.failed[0].error
    assert sorted(p.name for p in pages.glob("*.ipynb")) == ["NGC3198.ipynb", "UGC02885.ipynb"]
    rows = {json.loads(f.read_text())["galaxy"] for f in (first.run_dir / "rows").glob("*.json")}
    assert rows == {"NGC3198", "UGC02885"}
    atlas = runner.read_atlas()
    assert list(atlas["galaxy"]) == ["NGC3198", "UGC02885"]  # Table-1 order
    assert runner.current_run_id() == Params().hash
    page = json.loads((pages / "NGC3198.ipynb").read_text())
    assert "".join(page["cells"][0]["source"]).startswith("(atlas-ngc3198)=\n# NGC3198\n")

    good = ["NGC3198", "UGC02885"]
    again = runner.run_atlas(Params(), None, good, workers=0, pages=pages, template=template, progress=False)
    assert (len(again.executed), len(again.cached)) == (0, 2)

    changed = runner.run_atlas(
        Params(chi0=1e6), None, good, workers=0, pages=pages, template=template, progress=False, publish=True
    )
    assert len(changed.executed) == 2 and changed.run_id != first.run_id
    assert runner.current_run_id() == Params(chi0=1e6).hash
    f_minus_1 = {r["galaxy"]: r["median_F_minus_1"] for r in runner.read_atlas()}
    assert all(v > 1e-3 for v in f_minus_1.values())  # chi0 = 1e6 reached the pages


def test_page_key_follows_the_survey_record(tmp_path, monkeypatch):
    """A page shows the survey's fits: its key changes when the galaxy's survey record does."""
    monkeypatch.setenv("CMSI_RESULTS_DIR", str(tmp_path))
    assert runner.survey_record_hash("NGC3198") == "in-no-survey"
    (tmp_path / "survey" / "galaxies").mkdir(parents=True)
    (tmp_path / "survey" / "summary.json").write_text("{}")
    assert runner.survey_record_hash("NGC3198") == "not-in-sample"
    rec = tmp_path / "survey" / "galaxies" / "NGC3198.json"
    rec.write_text('{"galaxy": "NGC3198", "fits": {}}')
    first = runner.survey_record_hash("NGC3198")
    rec.write_text('{"galaxy": "NGC3198", "fits": {"nfw": {}}}')
    assert first != runner.survey_record_hash("NGC3198") and len(first) == 64
