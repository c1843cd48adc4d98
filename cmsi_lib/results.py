"""Where computed results live, and how chapters read them back.

Results travel as data files, never as rendered output:

    results/runs/<params-hash>/...       one folder per CMSI parameter set (the atlas rows, tables)
    results/CURRENT                      the parameter hash the book shows (set by `cmsi run`)
    results/survey/global_fit.json       the SPARC survey's global CMSI fit (written by `cmsi survey`)
    results/survey/fits.ecsv             one row per galaxy and model (``FitResult.row``)
    results/survey/points.ecsv           per point: data and every model's speed at its best fit
    results/survey/summary.json          the survey's summary (``survey.run_survey``)
    results/survey/galaxies/<NAME>.json  one galaxy's fits, every model, arrays included (what its
                                         atlas page reads: ``survey_galaxy_fits``)

Writers replace files atomically (write a temporary file in the same folder, then rename), so an
interrupted run never leaves a half-written result.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
from pathlib import Path

import numpy as np
from astropy.table import Table

from . import paths
from .fitting import FitResult
from .params import Params
from .paths import atomic_write_text
from .sparc import file_stem


def survey_dir() -> Path:
    """results/survey/: the SPARC survey's files."""
    return paths.results_dir() / "survey"


def survey_global_fit_file() -> Path:
    return survey_dir() / "global_fit.json"


def survey_global_params() -> Params | None:
    """The CMSI parameters of the SPARC survey's best global fit, or None if the survey has not run.

    The file holds a JSON object whose ``"params"`` member maps parameter names to values.
    """
    f = survey_global_fit_file()
    if not f.exists():
        return None
    return Params.from_mapping(json.loads(f.read_text())["params"])


def table_text(rows: list[dict]) -> str:
    """rows -> ECSV text (astropy), columns in first-seen order, missing values NaN/""."""
    cols: list[str] = []
    for r in rows:
        cols.extend(k for k in r if k not in cols)
    data = {}
    for c in cols:
        vals = [r.get(c) for r in rows]
        if any(isinstance(v, str) for v in vals):
            data[c] = ["" if v is None else str(v) for v in vals]
        elif all(isinstance(v, (bool, np.bool_)) or v is None for v in vals):
            data[c] = [bool(v) for v in vals]
        else:
            data[c] = [math.nan if v is None else float(v) for v in vals]
    buf = io.StringIO()
    Table(data, names=cols).write(buf, format="ascii.ecsv")
    return buf.getvalue()


def json_default(o):
    """``json.dumps(default=...)`` for numpy scalars and arrays and ``Params``."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Params):
        return o.as_dict()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _point_rows(fits: dict) -> list[dict]:
    pts = []
    for label, rs in fits.items():
        for r in rs:
            if r.v_model is None:
                continue
            for i in range(r.R.size):
                pts.append(
                    {
                        "model": label,
                        "galaxy": r.galaxy,
                        "fitted": bool(r.mask[i]),
                        "success": bool(r.success),
                        "R": r.R[i],
                        "v_obs": r.v_obs[i],
                        "e_v_obs": r.e_v_obs[i],
                        "v_bar": r.v_bar[i],
                        "v_model": r.v_model[i],
                    }
                )
    return pts


def write_survey(summary: dict, global_fit: dict, fits: dict) -> None:
    """Write the survey's files atomically: global_fit.json (``global_fit`` with the summary's
    "global_fit" member as its "summary"), fits.ecsv, points.ecsv (``fits``: model label -> list of
    ``fitting.FitResult``) and summary.json."""
    out = survey_dir()
    gdict = dict(global_fit)
    gdict["summary"] = summary["global_fit"]
    atomic_write_text(survey_global_fit_file(), json.dumps(gdict, indent=1, default=json_default))
    rows = [r.row() for rs in fits.values() for r in rs]
    atomic_write_text(out / "fits.ecsv", table_text(rows))
    atomic_write_text(out / "points.ecsv", table_text(_point_rows(fits)))
    by_galaxy: dict[str, dict] = {}
    for label, rs in fits.items():
        for r in rs:
            by_galaxy.setdefault(r.galaxy, {})[label] = r.record()
    gal_dir = out / "galaxies"
    for name, recs in by_galaxy.items():
        atomic_write_text(
            gal_dir / f"{file_stem(name)}.json",
            json.dumps(
                {"galaxy": name, "params": summary.get("params"), "options": summary.get("options"), "fits": recs}
            ),
        )
    stems = {file_stem(n) for n in by_galaxy}
    for f in gal_dir.glob("*.json"):  # a galaxy that left the sample (other cuts) keeps no stale record
        if f.stem not in stems:
            f.unlink()
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1, default=json_default))


@dataclasses.dataclass(frozen=True)
class SurveyResult:
    """The SPARC survey as written by ``survey.run_survey`` (``cmsi survey``).

    summary: the summary (sample counts, each model's summary statistics, the global fit, the option
    variants; what ``cmsi survey --json`` prints); global_fit: the global CMSI fit with its folds;
    fits: one row per galaxy and model (astropy Table); points: per point, data and every model's speed.
    """

    summary: dict
    global_fit: dict
    fits: Table
    points: Table

    @property
    def global_params(self) -> Params:
        """The global fit's best CMSI parameters."""
        return Params.from_mapping(self.global_fit["params"])


@dataclasses.dataclass(frozen=True)
class GalaxyFits:
    """The survey's fits of one galaxy: model -> FitResult (arrays at all its radii, ``mask`` = the
    survey's points), and the CMSI parameters the survey ran at (the base of its CMSI fits)."""

    galaxy: str
    params: Params | None
    options: dict | None  # ``SparcOptions.as_dict()`` of the survey
    fits: dict[str, FitResult]


def survey_has_run() -> bool:
    """Whether ``cmsi survey`` has written its summary."""
    return (survey_dir() / "summary.json").exists()


def survey_galaxy_fits(name: str) -> GalaxyFits | None:
    """The survey's fits of galaxy ``name``, or None when the galaxy is not in the survey's sample or
    the survey has not run (a record that does not parse, or names another galaxy, counts as absent)."""
    f = survey_dir() / "galaxies" / f"{file_stem(name)}.json"
    try:
        rec = json.loads(f.read_text())
        if rec.get("galaxy") != name:
            return None
        params = Params.from_mapping(rec["params"]) if rec.get("params") else None
        fits = {model: FitResult.from_record(r) for model, r in rec["fits"].items()}
        return GalaxyFits(name, params, rec.get("options"), fits)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def load_survey() -> SurveyResult | None:
    """The survey's results as written by ``survey.run_survey`` (``cmsi survey``), or None if absent."""
    d = survey_dir()
    files = {
        "summary": d / "summary.json",
        "global_fit": survey_global_fit_file(),
        "fits": d / "fits.ecsv",
        "points": d / "points.ecsv",
    }
    if not all(f.exists() for f in files.values()):
        return None
    return SurveyResult(
        summary=json.loads(files["summary"].read_text()),
        global_fit=json.loads(files["global_fit"].read_text()),
        fits=Table.read(files["fits"], format="ascii.ecsv"),
        points=Table.read(files["points"], format="ascii.ecsv"),
    )
