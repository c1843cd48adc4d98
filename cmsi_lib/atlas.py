"""One atlas page: everything a galaxy's page of the SPARC atlas draws and tabulates, as typed records.

    page = atlas_page("NGC3198", Params(), SparcOptions())
    page.curves["CMSI"], page.stats["RAR"].chi2n, page.row.as_dict()

The page compares, at the data radii of one SPARC galaxy and SPARC's distance and inclination:
CMSI at the global parameters (nothing fitted to this galaxy; :func:`cmsi_lib.models.cmsi_curve`),
Newtonian baryons and the RAR at the standard mass-to-light ratios, and the survey's per-galaxy fits
(read from the survey's results, ``results.survey_galaxy_fits``, not refitted: NFW, Burkert and CMSI
with its own chi0 by default, on the survey's points; galaxies outside the survey's sample have none).
Speeds in km/s, radii in kpc, chi^2 dimensionless. The runner writes ``page.row`` as the galaxy's row.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from . import rar, results, sparc
from .curves import required_enhancement
from .errors import NoSelfConsistentSolution
from .fitting import FitResult
from .models import CmsiCurve, cmsi_curve
from .options import SparcOptions
from .params import Params

__all__ = ["FIT_MODELS", "ModelStats", "AtlasRow", "AtlasPage", "atlas_page"]

#: the survey fits an atlas page shows by default
FIT_MODELS = ("nfw", "burkert", "cmsi_chi0")
#: the row's tag of each unfitted model curve
_TAGS = {"CMSI": "cmsi", "Newton (baryons)": "newton", "RAR": "rar"}


@dataclasses.dataclass(frozen=True)
class ModelStats:
    """An unfitted curve against V_obs: chi^2, chi^2/N (N points: nothing fitted) and rms [km/s]."""

    chi2: float
    chi2n: float
    rms_kms: float

    @classmethod
    def of(cls, v_obs, e_v_obs, v_model) -> ModelStats:
        r = np.asarray(v_obs, float) - np.asarray(v_model, float)
        chi2 = float(np.sum((r / e_v_obs) ** 2))
        return cls(chi2, chi2 / r.size, float(np.sqrt(np.mean(r**2))))


@dataclasses.dataclass(frozen=True)
class AtlasRow:
    """One galaxy's row of the atlas table (``atlas.csv``): properties, CMSI's F, and each model's fit quality.

    ``stats`` maps a model tag (cmsi, newton, rar) to its :class:`ModelStats`; ``fit_chi2n`` maps a fitted
    model to its chi^2 per degree of freedom. D [Mpc], inc [deg], Vflat [km/s] (None: not measured).
    """

    T: int
    D_Mpc: float
    inc_deg: float
    Q: int
    n_points: int
    Vflat_kms: float | None
    default_cuts: bool
    median_F_minus_1: float | None
    max_F_minus_1: float | None
    median_required_minus_1: float | None
    cmsi_error: str
    stats: dict[str, ModelStats]
    fit_chi2n: dict[str, float]
    fit_chi0: float | None

    def as_dict(self) -> dict:
        """The flat row the runner writes (the columns of ``atlas.csv``, in their order)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)[:11]}
        for tag, s in self.stats.items():
            d.update({f"chi2_{tag}": s.chi2, f"chi2n_{tag}": s.chi2n, f"rms_{tag}_kms": s.rms_kms})
        d.update({f"chi2n_fit_{m}": v for m, v in self.fit_chi2n.items()})
        if self.fit_chi0 is not None:
            d["fit_chi0"] = self.fit_chi0
        return d


@dataclasses.dataclass(frozen=True)
class AtlasPage:
    """What one galaxy's atlas page shows. ``curves`` and ``stats`` are keyed by the page's model labels."""

    galaxy: sparc.Galaxy
    params: Params
    options: SparcOptions
    v_bar: np.ndarray  # signed baryonic speed at the options' mass-to-light ratios [km/s]
    v_rar: np.ndarray  # the RAR at the standard mass-to-light ratios [km/s]
    cmsi: CmsiCurve | None  # None where CMSI has no prediction (see cmsi_error)
    cmsi_error: str
    required: np.ndarray  # F the data require, v_obs^2 / v_bar^2, where v_bar > 0 (NaN elsewhere)
    curves: dict[str, np.ndarray]
    stats: dict[str, ModelStats]
    fitted: dict[str, FitResult]
    fit_notes: tuple[str, ...]
    row: AtlasRow


def _fits(g: sparc.Galaxy, params: Params, options: SparcOptions, models) -> tuple[dict, list]:
    """The survey's fits of ``g`` for ``models`` (read, not refitted), and notes on what is missing."""
    if not models:
        return {}, []
    stored = results.survey_galaxy_fits(g.name)
    if stored is None:
        why = "not in the survey's sample" if results.survey_has_run() else "the survey has not run"
        return {}, [f"No survey fits for this galaxy: {why} (see the survey chapter for its cuts)."]
    fitted, notes = {}, []
    for model in models:
        res = stored.fits.get(model)
        if res is None:
            notes.append(f"{model}: not fitted by the survey")
        elif res.success and res.v_model is not None:
            fitted[model] = res
        else:
            notes.append(f"{model}: {res.reason}")
    survey_params = stored.params
    if "cmsi_chi0" in fitted and survey_params is not None:
        differ = {k for k, v in params.as_dict().items() if k != "chi0" and survey_params.as_dict().get(k) != v}
        if differ:
            notes.append(
                "cmsi_chi0: the survey fitted chi0 at its own values of " + ", ".join(sorted(differ)) + ", which "
                "differ from this run's; rerun `cmsi survey` with this run's parameters to compare like with like."
            )
    if fitted and stored.options is not None and stored.options != options.as_dict():
        changed = sorted(k for k, v in options.as_dict().items() if stored.options.get(k) != v)
        notes.append(f"The survey fitted at its own options ({', '.join(changed)} differ from this run's).")
    return fitted, notes


def _median(x) -> float | None:
    x = np.asarray(x, float)
    return float(np.nanmedian(x)) if np.isfinite(x).any() else None


def atlas_page(
    galaxy: str, params: Params = Params(), options: SparcOptions = SparcOptions(), fit_models=FIT_MODELS
) -> AtlasPage:
    """The atlas page of SPARC galaxy ``galaxy`` at the global CMSI ``params`` and ``options``."""
    g = sparc.get_galaxy(galaxy)
    v_bar = g.v_bar(options.ups_disk, options.ups_bul)
    v_rar = rar.rar_speed(g.R, g.v_bar(sparc.UPS_DISK, sparc.UPS_BUL))
    try:
        cm, err = cmsi_curve(g, params, options), ""
    except NoSelfConsistentSolution as exc:
        cm, err = None, str(exc)
    fitted, notes = _fits(g, params, options, fit_models)
    curves = {"Newton (baryons)": v_bar, "RAR": v_rar}
    if cm is not None:
        curves = {"CMSI": cm.v, **curves}
    stats = {k: ModelStats.of(g.v_obs, g.e_v_obs, v) for k, v in curves.items()}
    # signed (negative where v_bar^2 < 0); the page shows and summarises it where v_bar > 0
    required = np.where(v_bar > 0, required_enhancement(g.v_obs, v_bar), np.nan)
    cuts = sparc.QualityCuts()
    row = AtlasRow(
        T=g.T, D_Mpc=g.D, inc_deg=g.inc, Q=g.Q, n_points=g.n_points, Vflat_kms=g.Vflat,
        default_cuts=bool(g.Q <= cuts.q_max and g.inc >= cuts.inc_min),
        median_F_minus_1=float(np.median(cm.F - 1)) if cm is not None else None,
        max_F_minus_1=float(np.max(cm.F - 1)) if cm is not None else None,
        median_required_minus_1=_median(required - 1), cmsi_error=err,
        stats={_TAGS[k]: s for k, s in stats.items()},
        fit_chi2n={m: r.chi2_red for m, r in fitted.items()},
        fit_chi0=fitted["cmsi_chi0"].best.get("chi0") if "cmsi_chi0" in fitted else None,
    )  # fmt: skip
    return AtlasPage(g, params, options, v_bar, v_rar, cm, err, required, curves, stats, fitted, tuple(notes), row)
