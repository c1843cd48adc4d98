"""Where computed results live, and how chapters read them back.

Results travel as data files, never as rendered output:

    results/runs/<params-hash>/...       one folder per CMSI parameter set (the atlas rows, tables)
    results/CURRENT                      the parameter hash the book shows (set by `cmsi run`)
    results/survey/global_fit.json       the SPARC survey's global CMSI fit (written by `cmsi survey`)

Writers replace files atomically (write a temporary file in the same folder, then rename), so an
interrupted run never leaves a half-written result.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from . import paths
from .params import Params


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (same-folder temporary file + os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def survey_global_fit_file() -> Path:
    return paths.results_dir() / "survey" / "global_fit.json"


def survey_global_params() -> Params | None:
    """The CMSI parameters of the SPARC survey's best global fit, or None if the survey has not run.

    The file holds a JSON object whose ``"params"`` member maps parameter names to values.
    """
    f = survey_global_fit_file()
    if not f.exists():
        return None
    return Params.from_mapping(json.loads(f.read_text())["params"])
