"""The atlas page's figure as data: four panels of curves, drawn in the reader's browser or as a PNG.

    panels = page_panels(page)                          # what the figure shows (numbers, labels, styles)
    display(browser_figure(panels, "../../..", "NGC3198"))   # default: plotly.js draws it in the page
    fig = draw_png(panels); plt.show()                  # figures="png": matplotlib, the inline PNG

One description, two renderers, so both show the same curves. The panels: the rotation curve
[km/s] against R [kpc] (data, baryonic components, Newton, RAR, CMSI, the survey's fits), the
enhancement (required V_obs^2/V_bar^2 and CMSI's F, dimensionless, log axis), the residuals
V_obs - V_model [km/s], and the surface density [Msun/pc^2, log axis] with Sigma_ref.

Why in the browser by default (issue 11): matplotlib takes about 0.5 s to draw and encode the four
panels with their legends, which was nearly all of a page's time and so of the parameter loop
(`cmsi run --set ...`: 175 pages). A page now writes its numbers (a few kB of JSON) and plotly.js
(plotly.js-basic-dist-min, MIT; `make book` installs it from npm into ``_plotly/``, served at the
site root by ``html_extra_path``, nothing from a CDN) draws them when the page is opened: vector
graphics at any resolution, values on hover, curves toggled from the legend. ``figures="png"``
(``cmsi run --figures png``) gives the static 144 dpi PNG instead, e.g. for print.
"""

from __future__ import annotations

import dataclasses
import html
import json
import math
from collections.abc import Sequence

import numpy as np

from .errors import InputError

__all__ = [
    "FIGURES",
    "PLOTLY_JS",
    "Series",
    "Panel",
    "page_panels",
    "figure_spec",
    "browser_figure",
    "draw_png",
    "check_figures",
]

#: the page figure's renderers: in the browser (plotly.js, default) or a PNG drawn by matplotlib
FIGURES = ("browser", "png")
#: the plotting library, relative to the site root (the Makefile's `plotly` target)
PLOTLY_JS = "plotly/plotly-basic.min.js"

#: matplotlib's tab10 colours by name, as both renderers take them
COLOURS = {
    "black": "#000000", "blue": "#1f77b4", "orange": "#ff7f0e", "green": "#2ca02c", "red": "#d62728",
    "purple": "#9467bd", "gray": "#7f7f7f", "cyan": "#17becf", "brown": "#8c564b", "pink": "#e377c2",
    "olive": "#bcbd22",
}  # fmt: skip
#: line dashes in plotly's names, and the matplotlib line style of each
DASHES = {
    "solid": "-", "dot": ":", "dash": "--", "dashdot": "-.",
    "longdash": (0, (5, 2)), "longdashdot": (0, (3, 1, 1, 1)),
}  # fmt: skip
#: the dashes and colours of the survey's fitted curves, in turn
FIT_STYLES = (("dashdot", "brown"), ("longdashdot", "pink"), ("longdash", "olive"), ("dot", "black"))


@dataclasses.dataclass(frozen=True)
class Series:
    """One curve or set of points: ``x`` [kpc], ``y`` in the panel's unit, optional error bars ``err``.

    ``label`` is HTML (``V<sub>obs</sub>``) for the browser, ``tex`` matplotlib's mathtext (default:
    ``label``). ``mode`` is "lines", "markers" or "lines+markers"; ``dash`` a key of :data:`DASHES`;
    ``colour`` a key of :data:`COLOURS`; ``width`` the line width [pt]. ``span``: a horizontal
    reference line across the panel (``y`` holds one value); ``legend``: listed in the legend.
    """

    label: str
    x: np.ndarray
    y: np.ndarray
    err: np.ndarray | None = None
    mode: str = "lines"
    dash: str = "solid"
    colour: str = "black"
    width: float = 1.5
    tex: str = ""
    span: bool = False
    legend: bool = True


@dataclasses.dataclass(frozen=True)
class Panel:
    """One panel: its title, axis labels (HTML and mathtext) and series; ``ylog`` for a log y axis."""

    title: str
    xlabel: str
    ylabel: str
    series: tuple[Series, ...]
    ylog: bool = False
    ylabel_tex: str = ""
    legend_columns: int = 3


def check_figures(figures: str) -> str:
    """``figures`` if it is one of :data:`FIGURES`, else an InputError naming the valid values."""
    if figures not in FIGURES:
        raise InputError(f"figures = {figures!r} is not valid; it must be one of {', '.join(FIGURES)}")
    return figures


def _fit_series(page, R) -> list[Series]:
    """The survey's fitted curves, mapped back to SPARC's inclination (the fit moved D and inc)."""
    g, out = page.galaxy, []
    for i, (model, res) in enumerate(page.fitted.items()):
        dash, colour = FIT_STYLES[i % len(FIT_STYLES)]
        scale = np.sin(np.radians(res.best.get("inc", g.inc))) / np.sin(np.radians(g.inc))
        out.append(Series(f"{model} (fit)", R, res.v_model * scale, dash=dash, colour=colour, width=1.4))
    return out


def _rotation_curve(page) -> Panel:
    g, opt, cm, R = page.galaxy, page.options, page.cmsi, page.galaxy.R
    v_disk, v_bul = np.sqrt(opt.ups_disk) * g.v_disk, np.sqrt(opt.ups_bul) * g.v_bul
    s = [
        Series("V<sub>obs</sub>", R, g.v_obs, g.e_v_obs, mode="markers", tex=r"$V_{\rm obs}$"),
        Series("V<sub>gas</sub>", R, g.v_gas, dash="dot", colour="cyan", tex=r"$V_{\rm gas}$"),
        Series("V<sub>disk</sub>", R, v_disk, dash="dot", colour="orange", tex=r"$V_{\rm disk}$"),
    ]
    if g.has_bulge:
        s.append(Series("V<sub>bul</sub>", R, v_bul, dash="dot", colour="red", tex=r"$V_{\rm bul}$"))
    tex = r"$V_{\rm bar}$ (Newton)"
    s.append(Series("V<sub>bar</sub> (Newton)", R, page.v_bar, dash="dash", colour="gray", tex=tex))
    s.append(Series("RAR", R, page.v_rar, colour="green"))
    if cm is not None:
        s.append(Series("CMSI", R, cm.v, colour="blue", width=2.0))
    s += _fit_series(page, R)
    return Panel("rotation curve", "R [kpc]", "V [km/s]", tuple(s))


def _enhancement(page) -> Panel:
    R, cm = page.galaxy.R, page.cmsi
    s = [Series("required V<sub>obs</sub><sup>2</sup>/V<sub>bar</sub><sup>2</sup>", R, page.required, mode="markers",
                tex=r"required $V_{\rm obs}^2/V_{\rm bar}^2$")]  # fmt: skip
    if cm is not None:
        s.append(Series("CMSI F(R)", R, cm.F, colour="blue", width=2.0, tex="CMSI $F(R)$"))
    s.append(Series("F = 1", R, np.array([1.0]), colour="gray", width=0.8, span=True, legend=False))
    return Panel("enhancement", "R [kpc]", "enhancement (dimensionless)", tuple(s), ylog=True, legend_columns=2)


def _residuals(page) -> Panel:
    g = page.galaxy
    colours = ("blue", "gray", "green") if page.cmsi is not None else ("gray", "green")
    s = [
        Series(k, g.R, g.v_obs - v, mode="lines+markers", colour=c, width=0.8)
        for (k, v), c in zip(page.curves.items(), colours, strict=True)
    ]
    s.append(Series("zero", g.R, np.array([0.0]), width=0.8, span=True, legend=False))
    ylabel = "V<sub>obs</sub> - V<sub>model</sub> [km/s]"
    return Panel("residuals", "R [kpc]", ylabel, tuple(s), ylabel_tex=r"$V_{\rm obs} - V_{\rm model}$ [km/s]")


def _surface_density(page) -> Panel:
    g, opt, cm, P = page.galaxy, page.options, page.cmsi, page.params
    sig = g.sigma_stellar(opt.ups_disk, opt.ups_bul)
    tex = r"stellar $\Sigma_\star$"
    s = [Series("stellar Σ<sub>★</sub>", g.R, np.where(sig > 0, sig, np.nan), colour="orange", tex=tex)]
    if cm is not None and opt.sigma_definition != "stellar":
        s.append(Series(f"Σ used ({opt.sigma_definition})", g.R, cm.Sigma, dash="dash", colour="purple",
                        tex=rf"$\Sigma$ used ({opt.sigma_definition})"))  # fmt: skip
    s.append(Series("Σ<sub>ref</sub>", g.R, np.array([P.sigma_ref]), dash="dot", colour="gray", width=0.8,
                    tex=r"$\Sigma_{\rm ref}$", span=True))  # fmt: skip
    ylabel, tex = "Σ [M<sub>⊙</sub>/pc<sup>2</sup>]", r"$\Sigma$ [M$_\odot$/pc$^2$]"
    return Panel("surface density", "R [kpc]", ylabel, tuple(s), ylog=True, ylabel_tex=tex)


def page_panels(page) -> tuple[Panel, ...]:
    """The four panels of an :class:`cmsi_lib.atlas.AtlasPage`'s figure (row by row)."""
    return (_rotation_curve(page), _enhancement(page), _residuals(page), _surface_density(page))


# --------------------------------------------------------------------------- the browser (plotly.js)
def _numbers(a) -> list[float | None]:
    """A JSON list: non-finite values as null (a gap), floats rounded to 6 significant digits."""
    return [float(f"{v:.6g}") if math.isfinite(v) else None for v in np.asarray(a, float).ravel().tolist()]


#: panel i's axes: x domain, y domain (fractions of the figure); its legend sits under it
_DOMAINS = (
    ((0.0, 0.45), (0.71, 1.0)), ((0.55, 1.0), (0.71, 1.0)), ((0.0, 0.45), (0.17, 0.46)), ((0.55, 1.0), (0.17, 0.46)),
)  # fmt: skip
#: columns of each panel's legend in the browser: plotly wraps a horizontal legend only at the
#: figure's full width, so each column is a legend group (its entries stacked) and a legend stays
#: under its own panel
_BROWSER_COLUMNS = (2, 1, 1, 1)


def _trace(s: Series, axis: int, legend: str, column: int, x_range: tuple[float, float]) -> dict:
    suffix = "" if axis == 1 else str(axis)
    x, y = (list(x_range), [s.y[0]] * 2) if s.span else (s.x, s.y)
    t = {
        "type": "scatter", "name": s.label, "x": _numbers(x), "y": _numbers(y), "mode": s.mode,
        "xaxis": "x" + suffix, "yaxis": "y" + suffix, "legend": legend,
        "line": {"color": COLOURS[s.colour], "width": s.width, "dash": s.dash},
        "marker": {"color": COLOURS[s.colour], "size": 5 if s.mode == "markers" else 4},
        "showlegend": s.legend, "legendgroup": f"{legend}-{column}",
    }  # fmt: skip
    if s.err is not None:
        t["error_y"] = {"type": "data", "array": _numbers(s.err), "visible": True, "thickness": 1, "width": 0}
    if s.span:
        t["hoverinfo"] = "skip"
    else:
        t["hovertemplate"] = "R = %{x:.3g} kpc<br>%{y:.4g}<extra>" + s.label + "</extra>"
    return t


def figure_spec(panels: Sequence[Panel], height_px: int = 960) -> dict:
    """The plotly.js figure (``data``, ``layout``, ``config``) of ``panels``: 2 x 2 axes, a legend under each."""
    data, layout = [], {
        "height": height_px, "margin": {"l": 60, "r": 15, "t": 30, "b": 10}, "hovermode": "closest",
        "font": {"size": 12}, "annotations": [], "showlegend": True,
    }  # fmt: skip
    for i, (p, ((x0, x1), (y0, y1))) in enumerate(zip(panels, _DOMAINS, strict=True), start=1):
        suffix, legend = ("" if i == 1 else str(i)), ("legend" if i == 1 else f"legend{i}")
        xs = np.concatenate([np.asarray(s.x, float) for s in p.series if not s.span] or [np.zeros(1)])
        x_range = (float(np.nanmin(xs)), float(np.nanmax(xs)))
        per_column = max(1, -(-sum(s.legend for s in p.series) // _BROWSER_COLUMNS[i - 1]))
        columns = np.cumsum([s.legend for s in p.series]) - 1
        data += [_trace(s, i, legend, int(c) // per_column, x_range) for s, c in zip(p.series, columns, strict=True)]
        layout["xaxis" + suffix] = {"domain": [x0, x1], "anchor": "y" + suffix, "title": {"text": p.xlabel}}
        layout["yaxis" + suffix] = {
            "domain": [y0, y1], "anchor": "x" + suffix, "title": {"text": p.ylabel},
            "type": "log" if p.ylog else "linear", "exponentformat": "power",
        }  # fmt: skip
        layout[legend] = {
            "x": x0, "xanchor": "left", "y": y0 - 0.07, "yanchor": "top", "orientation": "h",
            "font": {"size": 11}, "bgcolor": "rgba(0,0,0,0)", "groupclick": "toggleitem", "tracegroupgap": 0,
            "itemwidth": 30,
        }  # fmt: skip
        layout["annotations"].append({
            "text": f"<b>{p.title}</b>", "x": (x0 + x1) / 2, "y": y1, "xref": "paper", "yref": "paper",
            "xanchor": "center", "yanchor": "bottom", "showarrow": False, "font": {"size": 13},
        })  # fmt: skip
    config = {"responsive": True, "displaylogo": False, "toImageButtonOptions": {"format": "svg"}}
    return {"data": data, "layout": layout, "config": config}


_SCRIPT = """
(function () {
  var div = document.getElementById(%(id)s);
  if (!window.Plotly) { div.textContent = "This figure needs %(js)s (make book installs it)."; return; }
  var fig = %(fig)s;
  Plotly.newPlot(div, fig.data, fig.layout, fig.config);
})();
"""


def browser_figure(panels: Sequence[Panel], site_root: str, name: str):
    """HTML that draws ``panels`` with plotly.js when the page is opened (an IPython ``HTML`` object).

    ``site_root`` is the page's relative path to the site root (``"../../.."`` for a galaxy page);
    ``name`` makes the figure's element id (``cmsi-figure-<name>``). The numbers are in the page
    (JSON, NaN as null); the library is the book's own copy (:data:`PLOTLY_JS`), loaded once per page.
    """
    from IPython.display import HTML  # lazy: the runner and the CLI import this module for FIGURES only

    spec = json.dumps(figure_spec(panels), separators=(",", ":"), allow_nan=False)
    div_id = "cmsi-figure-" + "".join(c if c.isalnum() else "-" for c in name)
    root = site_root.rstrip("/")
    script = _SCRIPT % {"id": json.dumps(div_id), "js": PLOTLY_JS, "fig": spec.replace("</", "<\\/")}
    return HTML(
        f'<div class="cmsi-figure" id="{html.escape(div_id)}" style="width:100%"></div>\n'
        '<p class="cmsi-figure-note">Hover over a curve for its values; click a legend entry to hide or show it; '
        "the camera icon saves the figure as SVG.</p>\n"
        "<noscript>The figure is drawn by JavaScript; <code>cmsi run --figures png</code> makes static PNGs."
        "</noscript>\n"
        f'<script src="{root}/{PLOTLY_JS}"></script>\n<script>{script}</script>'
    )


# --------------------------------------------------------------------------- matplotlib (figures="png")
def draw_png(panels: Sequence[Panel]):
    """The panels as a matplotlib figure (9 x 8.2 in; legends under each panel); the caller shows it."""
    import matplotlib.pyplot as plt  # lazy: only figures = "png" draws with matplotlib

    fig, ax = plt.subplots(2, 2, figsize=(9, 8.2), dpi=72)
    # a fixed layout with room for four legend rows under each panel: one draw, no layout engine
    fig.subplots_adjust(left=0.08, right=0.985, top=0.965, bottom=0.11, hspace=0.6, wspace=0.24)
    for a, p in zip(ax.flat, panels, strict=True):
        for s in p.series:
            label = (s.tex or s.label) if s.legend else "_nolegend_"
            style = {"color": COLOURS[s.colour], "lw": s.width, "ls": DASHES[s.dash], "label": label}
            if s.span:
                a.axhline(s.y[0], **style)
            elif s.err is not None:
                a.errorbar(s.x, s.y, s.err, fmt="o", ms=3, **{k: v for k, v in style.items() if k not in ("lw", "ls")})
            else:
                marker = {"markers": "o", "lines+markers": "o", "lines": None}[s.mode]
                ls = "none" if s.mode == "markers" else style.pop("ls")
                a.plot(s.x, s.y, marker=marker, ms=3 if marker else 0, **{**style, "ls": ls})
        a.set(xlabel=p.xlabel, ylabel=p.ylabel_tex or p.ylabel, title=p.title, yscale="log" if p.ylog else "linear")
        a.legend(fontsize=8, ncol=p.legend_columns, loc="upper center", bbox_to_anchor=(0.5, -0.17), frameon=False,
                 handlelength=2.5)  # fmt: skip
    return fig
