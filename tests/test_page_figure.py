"""The atlas page's figure (cmsi_lib.page_figure): the browser's figure carries SPARC's numbers,
as strict JSON, and both renderers draw the same curves."""

import json
import re

import numpy as np
import pytest
from astropy.io import ascii

from cmsi_lib import datafiles, page_figure, runner
from cmsi_lib.atlas import atlas_page
from cmsi_lib.errors import InputError
from cmsi_lib.params import Params

#: a galaxy without and one with a bulge (SPARC's Vbul column all zero or not)
GALAXIES = ("NGC3198", "NGC7814")


@pytest.fixture(scope="module")
def mass_models():
    """SPARC's Table 2 read here with astropy's MRT reader (not through cmsi_lib.sparc)."""
    return ascii.read(datafiles.fetch("sparc/MassModels_Lelli2016c.mrt"), format="mrt")


def spec_of(html: str) -> dict:
    """The figure the page's script hands to plotly, parsed as strict JSON (NaN refused)."""
    (text,) = re.findall(r"var fig = (\{.*?\});\n", html, flags=re.S)
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c} in the figure"))


def figure(name: str) -> tuple[dict, tuple]:
    panels = page_figure.page_panels(atlas_page(name, Params(), fit_models=()))
    return spec_of(page_figure.browser_figure(panels, "../../..", name).data), panels


@pytest.mark.parametrize("name", GALAXIES)
def test_the_figure_shows_sparcs_rotation_curve(mass_models, name):
    rows = mass_models[mass_models["ID"] == name]
    spec, _ = figure(name)
    traces = {t["name"]: t for t in spec["data"]}
    obs = traces["V<sub>obs</sub>"]
    np.testing.assert_allclose(obs["x"], rows["R"], rtol=1e-6)
    np.testing.assert_allclose(obs["y"], rows["Vobs"], rtol=1e-6)
    np.testing.assert_allclose(obs["error_y"]["array"], rows["e_Vobs"], rtol=1e-6)
    assert ("V<sub>bul</sub>" in traces) == bool(np.any(rows["Vbul"] > 0))
    # the enhancement the data require, V_obs^2 / V_bar^2 at Ups_disk = 0.5, Ups_bul = 0.7, by hand;
    # a gap (null) where V_bar^2 <= 0
    vbar2 = sum(k * v * np.abs(v) for k, v in ((1.0, rows["Vgas"]), (0.5, rows["Vdisk"]), (0.7, rows["Vbul"])))
    want = np.where(vbar2 > 0, np.asarray(rows["Vobs"]) ** 2 / np.where(vbar2 > 0, vbar2, 1.0), np.nan)
    required = traces["required V<sub>obs</sub><sup>2</sup>/V<sub>bar</sub><sup>2</sup>"]["y"]
    got = np.array([np.nan if v is None else v for v in required], float)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert np.array_equal(np.isnan(got), np.isnan(want))


def test_every_trace_is_on_an_axis_and_a_legend_the_layout_has():
    spec, panels = figure("NGC3198")
    layout = spec["layout"]
    for t in spec["data"]:
        assert "xaxis" + t["xaxis"][1:] in layout and "yaxis" + t["yaxis"][1:] in layout
        assert t["legend"] in layout
    logs = [k for k, v in layout.items() if k.startswith("yaxis") and v["type"] == "log"]
    assert sorted(logs) == ["yaxis2", "yaxis4"]  # the enhancement and the surface density
    assert len(spec["data"]) == sum(len(p.series) for p in panels)


def test_png_draws_what_the_browser_draws():
    """The same curves in both renderers: per panel, the legend's entries and the lines drawn."""
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    spec, panels = figure("NGC7814")
    fig = page_figure.draw_png(panels)
    try:
        for a, axis in zip(fig.axes, ("x", "x2", "x3", "x4"), strict=True):
            browser = [t for t in spec["data"] if t["xaxis"] == axis and t["showlegend"]]
            labels = a.get_legend_handles_labels()[1]
            assert len(labels) == len(browser)
        assert [a.get_yscale() for a in fig.axes] == ["linear", "log", "linear", "log"]
    finally:
        plt.close(fig)


def test_a_panel_without_legend_entries_is_drawn():
    s = page_figure.Series("ref", np.array([1.0, 2.0]), np.array([3.0]), span=True, legend=False)
    spec = page_figure.figure_spec((page_figure.Panel("t", "R [kpc]", "V [km/s]", (s,)),) * 4)
    assert len(spec["data"]) == 4 and not any(t["showlegend"] for t in spec["data"])  # no division by zero


def test_a_label_cannot_close_the_script():
    s = page_figure.Series("</script><b>x", np.array([1.0]), np.array([2.0]))
    panel = page_figure.Panel("t", "R [kpc]", "V [km/s]", (s,))
    html = page_figure.browser_figure((panel,) * 4, "..", "X").data
    assert "</script><b>" not in html
    assert spec_of(html)["data"][0]["name"] == "</script><b>x"


def test_an_unknown_figures_value_is_named_before_any_page_runs(tmp_path):
    with pytest.raises(InputError, match=r"figures = 'svg'.*browser, png"):
        page_figure.check_figures("svg")
    with pytest.raises(InputError, match=r"figures = 'svg'"):
        runner.run_atlas(Params(), None, ["NGC3198"], pages=tmp_path, progress=False, figures="svg")
    assert not any(tmp_path.iterdir())
