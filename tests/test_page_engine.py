"""The page engines (cmsi_lib.page_engine): parameters injected, pages isolated, errors reported,
figures as image/png, timeouts stopped; the warm kernel's outputs match papermill's."""

from __future__ import annotations

import importlib.util

import pytest
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from cmsi_lib import page_engine
from cmsi_lib.page_engine import execute_page_notebook

#: "inprocess" needs ploomber-engine, which the project does not install (the benchmark's engine (c))
HAS_PLOOMBER = importlib.util.find_spec("ploomber_engine") is not None
ENGINES = ["warm", pytest.param("inprocess", marks=pytest.mark.skipif(not HAS_PLOOMBER, reason="no ploomber-engine"))]


def tiny_template(*extra_cells: str):
    """A page template: a parameters cell, a computing cell, a plotting cell, a display cell."""
    nb = new_notebook(
        cells=[
            new_markdown_cell("# A page"),
            new_code_cell("x = 1\nfail = False", metadata={"tags": ["parameters"]}),
            new_code_cell(
                "%matplotlib inline\nimport os\nimport matplotlib.pyplot as plt\n"
                "from IPython.display import Markdown, display\n"
                "seen_before = sorted(k for k in ('leak', 'y') if k in dir())",
                metadata={"tags": ["remove-cell"]},
            ),
            new_code_cell("y = 7 * x\nleak = 'set by a page'\ny"),
            new_code_cell(
                "fig, ax = plt.subplots()\nax.plot([0, 1], [0, y])\nplt.show()", metadata={"tags": ["remove-input"]}
            ),
            new_code_cell(
                "display(Markdown(f'**y** = {y}'))\nif fail:\n    raise ValueError(f'page with x = {x} fails')"
            ),
            *[new_code_cell(src) for src in extra_cells],
        ]
    )
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def outputs(nb, index):
    return nb.cells[index].outputs


def text_of(nb, index):
    """The text/plain result of cell ``index`` (its execute_result)."""
    (result,) = [o for o in outputs(nb, index) if o.output_type == "execute_result"]
    return result["data"]["text/plain"]


@pytest.fixture(scope="module", autouse=True)
def _stop_warm_kernel():
    yield
    page_engine.shutdown_warm_kernel()


@pytest.mark.parametrize("engine", ENGINES)
def test_parameters_are_injected_after_the_parameters_cell(engine, tmp_path):
    out = execute_page_notebook(tiny_template(), {"x": 3}, tmp_path, 60, engine=engine)
    tags = [c.metadata.get("tags", []) for c in out.cells]
    assert tags[1] == ["parameters"] and tags[2] == ["injected-parameters"]
    assert "x = 3" in out.cells[2].source
    assert text_of(out, 4) == "21"  # 7 * 3


@pytest.mark.parametrize("engine", ENGINES)
def test_a_page_does_not_see_the_previous_pages_variables_or_state(engine, tmp_path):
    probe = (
        "import matplotlib as mpl, warnings, sys\n"
        "state = (seen_before, len(plt.get_fignums()), mpl.rcParams['lines.linewidth'], "
        "sum(f[0] == 'error' for f in warnings.filters), 'page-path' in sys.path, os.getcwd())\n"
        "mpl.rcParams['lines.linewidth'] = 9.0\nwarnings.simplefilter('error')\nsys.path.append('page-path')\n"
        "plt.figure()\nos.chdir('/')\nstate"
    )
    first = execute_page_notebook(tiny_template(probe), {"x": 1}, tmp_path, 60, engine=engine)
    second = execute_page_notebook(tiny_template(probe), {"x": 2}, tmp_path, 60, engine=engine)
    assert text_of(first, 7) == text_of(second, 7)  # the second page sees what the first one did
    seen, figures, _lw, _errors, path, cwd = eval(text_of(second, 7))  # noqa: S307 - our own repr of a tuple
    assert (seen, figures, path, cwd) == ([], 0, False, str(tmp_path))


@pytest.mark.parametrize("engine", ENGINES)
def test_an_error_names_the_cell_and_the_next_page_runs(engine, tmp_path):
    with pytest.raises(CellExecutionError) as err:
        execute_page_notebook(tiny_template(), {"x": 5, "fail": True}, tmp_path, 60, engine=engine)
    assert err.value.ename == "ValueError" and err.value.evalue == "page with x = 5 fails"
    message = str(err.value)
    assert message.startswith("cell 5 of the page raised ValueError: page with x = 5 fails")
    assert "display(Markdown(f'**y** = {y}'))" in message  # the cell's source
    out = execute_page_notebook(tiny_template(), {"x": 6}, tmp_path, 60, engine=engine)
    assert text_of(out, 4) == "42"


@pytest.mark.parametrize("engine", ENGINES)
def test_figures_are_png_and_displays_markdown(engine, tmp_path):
    out = execute_page_notebook(tiny_template(), {"x": 1}, tmp_path, 60, engine=engine)
    (fig,) = outputs(out, 5)
    assert fig.output_type == "display_data" and fig.data["image/png"]
    (md,) = outputs(out, 6)
    assert md.data["text/markdown"] == "**y** = 7"
    assert out.cells[5].metadata["tags"] == ["remove-input"] and out.cells[3].metadata["tags"] == ["remove-cell"]


@pytest.mark.parametrize("engine", ENGINES)
def test_the_inputs_are_not_changed(engine, tmp_path):
    nb = tiny_template()
    before = nb.cells[1].source, len(nb.cells)
    execute_page_notebook(nb, {"x": 4}, tmp_path, 60, engine=engine)
    assert (nb.cells[1].source, len(nb.cells)) == before and "outputs" not in nb.cells[0]


@pytest.mark.parametrize("bad", [{"engine": "kernel"}, {"timeout": 0}, {"timeout": -1.0}])
def test_bad_engine_or_timeout_is_refused(bad, tmp_path):
    kw = {"engine": "warm", "timeout": 10, **bad}
    with pytest.raises(ValueError, match="engine|timeout"):
        execute_page_notebook(tiny_template(), {"x": 1}, tmp_path, kw["timeout"], engine=kw["engine"])


PID = "import os\nos.getpid()"


@pytest.mark.slow
def test_warm_kernel_stops_a_cell_over_the_timeout_and_the_next_page_runs(tmp_path):
    first = execute_page_notebook(tiny_template(PID), {"x": 1}, tmp_path, 60, engine="warm")
    with pytest.raises(CellTimeoutError):
        execute_page_notebook(tiny_template("import time\ntime.sleep(600)"), {"x": 1}, tmp_path, 2, engine="warm")
    after = execute_page_notebook(tiny_template(PID), {"x": 1}, tmp_path, 60, engine="warm")
    assert text_of(after, 7) != text_of(first, 7)  # a new kernel (the old one was still busy)


@pytest.mark.slow
def test_warm_kernel_that_dies_is_reported_and_replaced(tmp_path):
    with pytest.raises(DeadKernelError):
        execute_page_notebook(tiny_template("import os\nos._exit(3)"), {"x": 1}, tmp_path, 60, engine="warm")
    out = execute_page_notebook(tiny_template(), {"x": 2}, tmp_path, 60, engine="warm")
    assert text_of(out, 4) == "14"


def _shape(nb):
    """Each cell's type, tags and outputs (type and mime types): what the book renders."""
    return [
        (
            c.cell_type,
            sorted(c.metadata.get("tags", [])),
            [(o.output_type, sorted(o.get("data", {}))) for o in c.get("outputs", [])],
        )
        for c in nb.cells
    ]


@pytest.mark.slow
def test_warm_kernel_renders_what_papermill_renders(tmp_path):
    reference = execute_page_notebook(tiny_template(), {"x": 2}, tmp_path, 60, engine="papermill")
    warm = execute_page_notebook(tiny_template(), {"x": 2}, tmp_path, 60, engine="warm")
    assert _shape(warm) == _shape(reference)
    assert [c.get("execution_count") for c in warm.cells] == [c.get("execution_count") for c in reference.cells]
    assert [c.source for c in warm.cells] == [c.source for c in reference.cells]


@pytest.mark.slow
def test_atlas_png_figure_is_144_dpi_shown_at_the_figures_size(tmp_path):
    """The real template, one galaxy, figures = "png" (cmsi run --figures png): the PNG has twice the
    pixels of its display width (retina), and the display width is the figure's 9 in at 72 px/in."""
    import base64
    import struct

    import jupytext

    from cmsi_lib import runner
    from cmsi_lib.options import SparcOptions
    from cmsi_lib.params import Params

    nb = jupytext.reads(runner.TEMPLATE.read_text(), fmt="md:myst")
    parameters = {"galaxy": "DDO154", "params": Params().as_dict(), "options": SparcOptions().as_dict()}
    parameters |= {"figures": "png", "results_folder": ""}
    out = execute_page_notebook(nb, parameters, tmp_path, 300, engine="warm")
    (fig,) = [o for c in out.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    png = base64.b64decode(fig.data["image/png"])
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert fig.metadata["image/png"] == {"width": width // 2, "height": height // 2}
    assert width == 2 * 9 * 72
