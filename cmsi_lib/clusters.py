"""Galaxy clusters: the Vikhlinin et al. 2006 gas and temperature models, hydrostatic masses, and what
Newtonian baryons, CMSI and the RAR predict for them (dynamics and lensing).

Source: Vikhlinin, Kravtsov, Forman, Jones, Markevitch, Murray & Van Speybroeck 2006, ApJ 640, 691
(astro-ph/0507092), 13 relaxed Chandra clusters. Their parameter tables reach us as third-party
transcriptions (``../shared/data/clusters/PROVENANCE.md``); no parameter uncertainties.

The published forms (equation numbers of the paper):

* eq. 3, gas density (gamma = 3)::

      n_p n_e = n0^2 (r/rc)^-alpha / (1 + r^2/rc^2)^(3 beta - alpha/2) / (1 + r^gamma/rs^gamma)^(eps/gamma)
                + n02^2 / (1 + r^2/rc2^2)^(3 beta2)

  with rho_gas = 1.624 m_p sqrt(n_p n_e) (the conversion stated with the staged table; the third-party
  collection's rho_0 column equals 1.624 m_p n0, which the tests check for all 13 clusters).
* eqs. 4-6, 3D temperature: T(r) = T0 t_cool(r) t(r), t(r) = (r/rt)^-a / (1 + (r/rt)^b)^(c/b),
  t_cool(r) = (x + Tmin/T0) / (x + 1), x = (r/rcool)^acool.
* eq. 7, hydrostatic mass: M(<r) = -k T(r) r / (G mu m_p) (dln rho_gas/dln r + dln T/dln r).

Units: radii in kpc, masses in Msun, densities in Msun/kpc^3, surface densities in Msun/kpc^2 (the kernel
wants Msun/pc^2: divide by 1e6), temperatures in keV, speeds in km/s. Public functions accept astropy
Quantities for radii and temperatures.

Modelling choices (each an option of :class:`ClusterOptions`, documented there): stellar mass, mu, the
cosmology (and whether the profiles are rescaled to it), USGC S152's redshift, v_c mode of CMSI, the
truncation radius of the projections, and how the extra (non-baryonic) mass of a model lenses.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path

import astropy.constants as const
import astropy.units as u
import numpy as np
from scipy import integrate, optimize

from . import datafiles, kernel, rar
from .errors import ClusterDataError, InputError
from .params import Params
from .units import ACCEL_SI_PER_KMS2_KPC, G_KPC_KMS2_MSUN, as_value

__all__ = [
    "DENSITY_FILE",
    "TEMPERATURE_FILE",
    "RAW_COLLECTION_FILE",
    "MU_VIKHLININ",
    "RHO_GAS_FACTOR",
    "S152_REDSHIFTS",
    "COSMOLOGIES",
    "MODELS",
    "ClusterDataError",
    "ClusterOptions",
    "VikhlininCluster",
    "read_density_table",
    "read_temperature_table",
    "load_clusters",
    "cosmology",
    "sigma_v_from_temperature",
    "gas_density_from_npne",
    "abel_surface_density",
    "projected_mass",
    "overdensity_radius",
    "sigma_crit",
    "einstein_radius",
    "ClusterProfiles",
    "cluster_profiles",
    "mass_ratio_rows",
]

DENSITY_FILE = "clusters/vikhlinin2006/vikhlinin2006_gas_density_params.csv"
TEMPERATURE_FILE = "clusters/vikhlinin2006/vikhlinin2006_temperature_params.csv"
#: the third-party collection (cluster_generator @ a3ef54a) whose rho_0 column is 1.624 m_p n0
RAW_COLLECTION_FILE = "clusters/vikhlinin2006/raw/Vikhlinin06_cluster_generator_a3ef54a.csv"

#: mean molecular weight used for the hydrostatic mass and sigma_v (the value the brief names as the
#: paper's; not re-checked against the paper's text here)
MU_VIKHLININ = 0.5954
#: rho_gas = RHO_GAS_FACTOR m_p sqrt(n_p n_e)
RHO_GAS_FACTOR = 1.624
#: exponent gamma of eq. 3, fixed to 3 in the paper
GAMMA_DENSITY = 3.0
#: USGC S152's redshift in the two transcriptions (a digit transposition: one of them is a typo)
S152_REDSHIFTS = {"shazzyman": 0.0153, "cluster_generator": 0.0513}
#: "vikhlinin2006": flat LCDM H0 = 72, Om0 = 0.3 (the paper's); "planck18": astropy's Planck18
COSMOLOGIES = ("vikhlinin2006", "planck18")
#: the mass models compared (hydrostatic is the X-ray "truth")
MODELS = ("newton", "cmsi", "rar", "hydrostatic")

# constants in the module's units
#: Msun/kpc^3 per (m_p cm^-3)
_RHO_PER_MP_CM3 = (const.m_p / u.cm**3).to_value(u.Msun / u.kpc**3)
#: k T r / (G m_p) in Msun for T = 1 keV, r = 1 kpc
_HSE_MSUN_PER_KEV_KPC = (1 * u.keV * u.kpc / (const.G * const.m_p)).to_value(u.Msun)
#: (km/s)^2 per keV/m_p
_KMS2_PER_KEV_MP = (1 * u.keV / const.m_p).to_value(u.km**2 / u.s**2)
#: c^2 / (4 pi G) in Msun/kpc (Sigma_crit = this x D_s / (D_l D_ls), distances in kpc)
_C2_4PIG_MSUN_KPC = (const.c**2 / (4 * np.pi * const.G)).to_value(u.Msun / u.kpc)


# --------------------------------------------------------------------------- options
@dataclasses.dataclass(frozen=True)
class ClusterOptions:
    """The modelling choices of the cluster test, each exposed (defaults in brackets).

    stellar_fraction [0.1]  M_star = stellar_fraction x M_gas, stars distributed like the gas
                            (an assumed round value, not a measurement; 0 = gas only). A central
                            galaxy's concentrated light is NOT modelled.
    mu [0.5954]             mean molecular weight in M_hse and sigma_v^2 = kT/(mu m_p).
    cosmology ["vikhlinin2006"]  "vikhlinin2006" (flat, H0 = 72, Om0 = 0.3: the cosmology the profiles
                            were derived in) or "planck18" (astropy). Sets rho_crit(z) and the lensing
                            distances.
    rescale_profiles [True] with cosmology "planck18": rescale the profiles to it (radii x s,
                            densities x s^-1/2, s = D_A,new / D_A,paper at the cluster's z); no effect
                            for "vikhlinin2006".
    s152_z [0.0153]         USGC S152's redshift (0.0153 or 0.0513 in the two copies; see PROVENANCE).
    vc_mode ["baryonic"]    v_c in CMSI's F: "baryonic" (sqrt(G M_bar/r)), "self-consistent" (solve
                            v^2 = F(v) v_bar^2) or "observed" (v_c from the hydrostatic mass: circular).
    r_trunc_kpc [3000]      the 3D profiles are cut at this radius for projections (Sigma, lensing).
    lens_weight [1.0]       how a model's extra mass lenses: lens mass = M_bar + w (M_model - M_bar).
                            1: like ordinary mass (both metric potentials boosted); 0.5: only the
                            time-time potential boosted (light sees half the extra pull).
    """

    stellar_fraction: float = 0.1
    mu: float = MU_VIKHLININ
    cosmology: str = "vikhlinin2006"
    rescale_profiles: bool = True
    s152_z: float = S152_REDSHIFTS["shazzyman"]
    vc_mode: str = "baryonic"
    r_trunc_kpc: float = 3000.0
    lens_weight: float = 1.0

    def __post_init__(self):
        def num(name, ok, text):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)):
                raise InputError(f"cluster option {name} = {v!r} is not a number; valid range: {text}")
            if not (math.isfinite(v) and ok(v)):
                raise InputError(f"cluster option {name} = {v!r} is out of range; valid range: {text}")

        num("stellar_fraction", lambda v: v >= 0, "stellar_fraction >= 0")
        num("mu", lambda v: v > 0, "mu > 0")
        num("s152_z", lambda v: v > 0, "s152_z > 0")
        num("r_trunc_kpc", lambda v: v > 100, "r_trunc_kpc > 100 kpc")
        num("lens_weight", lambda v: 0 <= v <= 1, "0 <= lens_weight <= 1")
        if self.cosmology not in COSMOLOGIES:
            raise InputError(f"cluster option cosmology = {self.cosmology!r} is not one of {COSMOLOGIES}")
        if self.vc_mode not in kernel.VC_MODES:
            raise InputError(f"cluster option vc_mode = {self.vc_mode!r} is not one of {kernel.VC_MODES}")

    @classmethod
    def from_strings(cls, items) -> ClusterOptions:
        """Build from ``name=value`` strings (as given on the command line)."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values = {}
        for item in items:
            name, sep, value = str(item).partition("=")
            name = name.strip()
            if not sep or name not in fields:
                raise InputError(f"cluster option {item!r}: expected name=value with name in {sorted(fields)}")
            typ = type(getattr(cls(), name))
            if typ is bool:
                if value.strip().lower() not in ("true", "false", "1", "0"):
                    raise InputError(f"cluster option {name} = {value!r} must be true or false")
                values[name] = value.strip().lower() in ("true", "1")
            elif typ is str:
                values[name] = value.strip()
            else:
                try:
                    values[name] = float(value)
                except ValueError:
                    raise InputError(f"cluster option {name} = {value!r} is not a number") from None
        return cls(**values)


# --------------------------------------------------------------------------- the cluster model
@dataclasses.dataclass(frozen=True)
class VikhlininCluster:
    """One cluster's eq. 3 density and eq. 4-6 temperature parameters (radii kpc, n0/n02 cm^-3, T keV)."""

    name: str
    z: float
    n0: float
    rc: float
    rs: float
    alpha: float
    beta: float
    eps: float
    n02: float
    rc2: float
    beta2: float
    T0: float
    rt: float
    a: float
    b: float
    c: float
    Tmin: float
    rcool: float
    acool: float
    r_det: float  # outermost radius of the Chandra data [kpc]
    r_min: float  # innermost radius of the fit [kpc]
    gamma: float = GAMMA_DENSITY

    # ---------------------------------------------------------------- eq. 3
    def _terms(self, r):
        """(A, B, dlnA/dlnr, dlnB/dlnr) for n_p n_e = A + B [cm^-6]."""
        x = r / self.rc
        q = (r / self.rs) ** self.gamma
        with np.errstate(divide="ignore"):
            A = (
                self.n0**2
                * x ** (-self.alpha)
                / (1 + x**2) ** (3 * self.beta - self.alpha / 2)
                / (1 + q) ** (self.eps / self.gamma)
            )
        dA = -self.alpha - (3 * self.beta - self.alpha / 2) * 2 * x**2 / (1 + x**2) - self.eps * q / (1 + q)
        if self.n02 > 0:
            y2 = (r / self.rc2) ** 2
            B = self.n02**2 / (1 + y2) ** (3 * self.beta2)
            dB = -3 * self.beta2 * 2 * y2 / (1 + y2)
        else:
            B = np.zeros_like(A)
            dB = np.zeros_like(A)
        return A, B, dA, dB

    def npne(self, r):
        """n_p n_e [cm^-6] at 3D radius r [kpc] (eq. 3)."""
        r = _radius(r)
        A, B, _, _ = self._terms(r)
        return (A + B) * u.cm**-6

    def gas_density(self, r):
        """rho_gas = 1.624 m_p sqrt(n_p n_e) [Msun/kpc^3]."""
        return gas_density_from_npne(self.npne(r))

    def dln_rho_dln_r(self, r):
        """d ln rho_gas / d ln r = (1/2) d ln(n_p n_e)/d ln r (analytic)."""
        A, B, dA, dB = self._terms(_radius(r))
        return 0.5 * (A * dA + B * dB) / (A + B)

    # ---------------------------------------------------------------- eqs. 4-6
    def temperature(self, r):
        """3D temperature T(r) = T0 t_cool(r) t(r) [keV] (eq. 6)."""
        r = _radius(r)
        return self._temperature(r) * u.keV

    def _temperature(self, r):
        y = r / self.rt
        with np.errstate(divide="ignore"):
            t = y ** (-self.a) / (1 + y**self.b) ** (self.c / self.b)
        x = (r / self.rcool) ** self.acool
        tcool = (x + self.Tmin / self.T0) / (x + 1)
        return self.T0 * tcool * t

    def dln_T_dln_r(self, r):
        """d ln T / d ln r (analytic)."""
        r = _radius(r)
        yb = (r / self.rt) ** self.b
        x = (r / self.rcool) ** self.acool
        tm = self.Tmin / self.T0
        return -self.a - self.c * yb / (1 + yb) + self.acool * x * (1 / (x + tm) - 1 / (x + 1))

    # ---------------------------------------------------------------- masses
    def gas_mass(self, r, r_inner: float = 1e-4, n_grid: int = 4097):
        """Gas mass inside r [Msun]: 4 pi int_0^r rho_gas r'^2 dr' (Simpson in ln r from r_inner kpc)."""
        r = _radius(r)
        rr = np.geomspace(r_inner, max(float(np.max(r)), 2 * r_inner), n_grid)
        lnr = np.log(rr)
        f = 4 * np.pi * rr**3 * self.gas_density(rr).value
        M = integrate.cumulative_simpson(f, x=lnr, initial=0.0)
        return np.interp(np.log(r), lnr, M) * u.Msun

    def hydrostatic_mass(self, r, mu: float = MU_VIKHLININ):
        """M(<r) = -k T r / (G mu m_p) (dln rho_gas/dln r + dln T/dln r) [Msun] (eq. 7)."""
        r = _radius(r)
        slope = self.dln_rho_dln_r(r) + self.dln_T_dln_r(r)
        return -_HSE_MSUN_PER_KEV_KPC / mu * self._temperature(r) * r * slope * u.Msun

    def rescaled(self, s: float) -> VikhlininCluster:
        """The same cluster seen in a cosmology whose D_A is s times larger: radii x s, n x s^-1/2."""
        radii = ("rc", "rs", "rc2", "rt", "rcool", "r_det", "r_min")
        return dataclasses.replace(
            self, **{k: getattr(self, k) * s for k in radii}, n0=self.n0 / math.sqrt(s), n02=self.n02 / math.sqrt(s)
        )


def _radius(r) -> np.ndarray:
    r = np.asarray(as_value(r, u.kpc, "r"), dtype=float)
    if not np.all(np.isfinite(r)) or np.any(r <= 0):
        raise InputError("radius r must be finite and > 0 kpc")
    return r


def gas_density_from_npne(npne) -> u.Quantity:
    """rho_gas = 1.624 m_p sqrt(n_p n_e) [Msun/kpc^3]; n_p n_e in cm^-6 (Quantity or number)."""
    n2 = as_value(npne, u.cm**-6, "npne")
    return RHO_GAS_FACTOR * _RHO_PER_MP_CM3 * np.sqrt(n2) * u.Msun / u.kpc**3


def sigma_v_from_temperature(T, mu: float = MU_VIKHLININ) -> u.Quantity:
    """One-dimensional velocity dispersion sigma = sqrt(k T / (mu m_p)) [km/s]; T in keV (or a Quantity
    in keV or K)."""
    if isinstance(T, u.Quantity):
        T = T.to_value(u.keV, equivalencies=u.temperature_energy())
    T = np.asarray(T, float)
    if not np.all(np.isfinite(T)) or np.any(T < 0):
        raise InputError("temperature T must be finite and >= 0 keV")
    if not (math.isfinite(mu) and mu > 0):
        raise InputError(f"mu = {mu!r} must be > 0")
    return np.sqrt(T * _KMS2_PER_KEV_MP / mu) * u.km / u.s


# --------------------------------------------------------------------------- reading the tables
_DENSITY_COLUMNS = [
    "cluster",
    "n0_1e-3cm-3",
    "rc_kpc",
    "rs_kpc",
    "alpha",
    "beta",
    "epsilon",
    "n02_1e-1cm-3",
    "rc2_kpc",
    "beta2",
]
_TEMPERATURE_COLUMNS = [
    "cluster",
    "z",
    "r_det_kpc",
    "r_min_kpc",
    "T0_keV",
    "rt_kpc",
    "a",
    "b",
    "c",
    "Tmin_keV",
    "rcool_kpc",
    "acool",
]
#: columns that must be > 0 (others may be any finite number; n02, rc2, beta2 may be 0)
_POSITIVE = {
    "n0_1e-3cm-3",
    "rc_kpc",
    "rs_kpc",
    "beta",
    "z",
    "r_det_kpc",
    "r_min_kpc",
    "T0_keV",
    "rt_kpc",
    "b",
    "Tmin_keV",
    "rcool_kpc",
}
_NONNEG = {"n02_1e-1cm-3", "rc2_kpc", "beta2", "alpha", "epsilon"}


def _read_table(path: Path, columns: list[str]) -> dict[str, dict[str, float]]:
    """Rows of a '#'-commented CSV with the given header, by cluster name; errors name file and line."""
    path = Path(path)
    rows: dict[str, dict[str, float]] = {}
    header = None
    with open(path, newline="") as fh:
        for lineno, line in enumerate(fh, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            fields = [f.strip() for f in next(csv.reader([text]))]
            if header is None:
                if fields != columns:
                    raise ClusterDataError(f"{path}, line {lineno}: header {fields} is not the expected {columns}")
                header = fields
                continue
            if len(fields) != len(columns):
                raise ClusterDataError(
                    f"{path}, line {lineno}: {len(fields)} fields, expected {len(columns)} ({', '.join(columns)})"
                )
            name, values = fields[0], {}
            if not name:
                raise ClusterDataError(f"{path}, line {lineno}: empty cluster name")
            if name in rows:
                raise ClusterDataError(f"{path}, line {lineno}: cluster {name!r} appears twice")
            for col, tok in zip(columns[1:], fields[1:], strict=True):
                try:
                    v = float(tok)
                except ValueError:
                    raise ClusterDataError(f"{path}, line {lineno}, column {col}: {tok!r} is not a number") from None
                if not math.isfinite(v):
                    raise ClusterDataError(f"{path}, line {lineno}, column {col}: {tok!r} is not finite")
                if col in _POSITIVE and v <= 0:
                    raise ClusterDataError(f"{path}, line {lineno}, column {col}: {tok} must be > 0")
                if col in _NONNEG and v < 0:
                    raise ClusterDataError(f"{path}, line {lineno}, column {col}: {tok} must be >= 0")
                values[col] = v
            rows[name] = values
    if header is None:
        raise ClusterDataError(f"{path}: no header line {columns}")
    if not rows:
        raise ClusterDataError(f"{path}: no data rows")
    return rows


def read_density_table(path: Path | None = None) -> dict[str, dict[str, float]]:
    """Table 2 (eq. 3 parameters) by cluster, values as in the file's units."""
    return _read_table(path or datafiles.fetch(DENSITY_FILE), _DENSITY_COLUMNS)


def read_temperature_table(path: Path | None = None) -> dict[str, dict[str, float]]:
    """Table 3 (eq. 4-6 parameters; rt in kpc and Tmin absolute keV in this copy) by cluster."""
    return _read_table(path or datafiles.fetch(TEMPERATURE_FILE), _TEMPERATURE_COLUMNS)


def cosmology(name: str = "vikhlinin2006"):
    """The astropy cosmology named ``name`` (one of COSMOLOGIES)."""
    # lazy: astropy.cosmology adds ~0.4 s to the import, and every `cmsi` command imports this module
    from astropy.cosmology import FlatLambdaCDM, Planck18

    if name == "vikhlinin2006":
        return FlatLambdaCDM(H0=72, Om0=0.3, name="Vikhlinin2006 (flat, H0=72, Om0=0.3)")
    if name == "planck18":
        return Planck18
    raise InputError(f"cosmology {name!r} is not one of {COSMOLOGIES}")


def load_clusters(
    options: ClusterOptions = ClusterOptions(), density_path: Path | None = None, temperature_path: Path | None = None
) -> dict[str, VikhlininCluster]:
    """All 13 clusters, in the table's order, as VikhlininCluster (rescaled to the chosen cosmology)."""
    dens = read_density_table(density_path)
    temp = read_temperature_table(temperature_path)
    if set(dens) != set(temp):
        raise ClusterDataError(
            f"the density and temperature tables list different clusters: {sorted(set(dens) ^ set(temp))}"
        )
    out = {}
    paper = cosmology("vikhlinin2006")
    cosmo = cosmology(options.cosmology)
    for name, d in dens.items():
        t = temp[name]
        z = options.s152_z if name == "USGC S152" else t["z"]
        cl = VikhlininCluster(
            name=name,
            z=z,
            n0=d["n0_1e-3cm-3"] * 1e-3,
            rc=d["rc_kpc"],
            rs=d["rs_kpc"],
            alpha=d["alpha"],
            beta=d["beta"],
            eps=d["epsilon"],
            n02=d["n02_1e-1cm-3"] * 1e-1,
            rc2=d["rc2_kpc"],
            beta2=d["beta2"],
            T0=t["T0_keV"],
            rt=t["rt_kpc"],
            a=t["a"],
            b=t["b"],
            c=t["c"],
            Tmin=t["Tmin_keV"],
            rcool=t["rcool_kpc"],
            acool=t["acool"],
            r_det=t["r_det_kpc"],
            r_min=t["r_min_kpc"],
        )
        if cl.n02 > 0 and (cl.rc2 <= 0 or cl.beta2 <= 0):
            raise ClusterDataError(f"{name}: n02 > 0 needs rc2 > 0 and beta2 > 0")
        if options.cosmology != "vikhlinin2006" and options.rescale_profiles:
            s = (cosmo.angular_diameter_distance(z) / paper.angular_diameter_distance(z)).to_value(u.one)
            cl = cl.rescaled(s)
        out[name] = cl
    return out


# --------------------------------------------------------------------------- projections
def _simpson_u(R, r_trunc, n_u):
    """Nodes u in [0, arccosh(r_trunc/R)] per R (shape (len(R), n_u)) for r = R cosh u."""
    ut = np.arccosh(np.maximum(r_trunc / R, 1.0))
    t = np.linspace(0.0, 1.0, n_u)
    return ut, ut[:, None] * t[None, :]


def abel_surface_density(rho, R, r_trunc: float, n_u: int = 801) -> np.ndarray:
    """Sigma(R) = 2 int_R^r_trunc rho(r) r dr / sqrt(r^2 - R^2), by r = R cosh u (Simpson in u).

    ``rho`` is a callable of r [kpc] returning a density (any unit per kpc^3, as plain numbers); R [kpc]
    (array, each < r_trunc); the result is in that unit x kpc (Msun/kpc^3 -> Msun/kpc^2).
    """
    R = np.atleast_1d(np.asarray(as_value(R, u.kpc, "R"), float))
    if np.any(R <= 0) or np.any(R >= r_trunc):
        raise InputError(f"projected radii R must lie in (0, r_trunc = {r_trunc} kpc)")
    ut, uu = _simpson_u(R, r_trunc, n_u)
    r = R[:, None] * np.cosh(uu)
    f = np.asarray(rho(r.ravel()), float).reshape(r.shape) * r
    return 2 * integrate.simpson(f, x=uu, axis=1)


def projected_mass(r_grid, M_grid, R, r_trunc: float, n_u: int = 801) -> np.ndarray:
    """Mass inside the cylinder of radius R for a spherical body with enclosed mass M(r), cut at r_trunc.

    M_2D(R) = M(r_t) (1 - sqrt(1 - R^2/r_t^2)) + int_R^r_t M(r) R^2 / (r^2 sqrt(r^2 - R^2)) dr
            = M(r_t) (1 - tanh u_t) + int_0^u_t M(R cosh u) / cosh^2 u du        (r = R cosh u)

    (integration by parts of the shell weights; needs M only, not its derivative). M is interpolated
    linearly in ln r from (r_grid [kpc], M_grid [Msun]); R [kpc] < r_trunc <= r_grid[-1].
    """
    r_grid = np.asarray(r_grid, float)
    M_grid = np.asarray(M_grid, float)
    R = np.atleast_1d(np.asarray(as_value(R, u.kpc, "R"), float))
    if r_trunc > r_grid[-1] * (1 + 1e-12):
        raise InputError(f"r_trunc = {r_trunc} kpc is beyond the mass grid (ends at {r_grid[-1]} kpc)")
    if np.any(R <= 0) or np.any(R >= r_trunc):
        raise InputError(f"projected radii R must lie in (0, r_trunc = {r_trunc} kpc)")
    ut, uu = _simpson_u(R, r_trunc, n_u)
    M_of = lambda r: np.interp(np.log(r), np.log(r_grid), M_grid)  # noqa: E731
    Mt = M_of(np.array([r_trunc]))[0]
    f = M_of(R[:, None] * np.cosh(uu)) / np.cosh(uu) ** 2
    return Mt * (1 - np.tanh(ut)) + integrate.simpson(f, x=uu, axis=1)


def overdensity_radius(r, M, delta: float, rho_crit, r_from: float = 0.0) -> float:
    """Radius [kpc] where the mean enclosed density M(<r)/(4/3 pi r^3) first falls to delta x rho_crit,
    searching outward from r_from [kpc] (e.g. a fit's innermost radius, inside which M is extrapolated).

    r [kpc], M [Msun] on a grid (increasing r); rho_crit in Msun/kpc^3 (or a Quantity). Returns nan when
    the mean density never crosses (e.g. the grid is too short).
    """
    r = np.asarray(as_value(r, u.kpc, "r"), float)
    M = np.asarray(as_value(M, u.Msun, "M"), float)
    keep = r >= r_from
    r, M = r[keep], M[keep]
    rc = float(as_value(rho_crit, u.Msun / u.kpc**3, "rho_crit"))
    g = np.log(np.maximum(M, 1e-300) / (4 / 3 * np.pi * r**3) / (delta * rc))
    below = np.flatnonzero((g[1:] <= 0) & (g[:-1] > 0))
    if below.size == 0:
        return float("nan")
    i = below[0]
    lr = np.log(r)
    fn = lambda x: np.interp(x, lr[i : i + 2], g[i : i + 2])  # noqa: E731
    return float(np.exp(optimize.brentq(fn, lr[i], lr[i + 1])))


def sigma_crit(z_l: float, z_s: float, cosmo) -> float:
    """Critical surface density c^2 D_s / (4 pi G D_l D_ls) [Msun/kpc^2] (angular-diameter distances)."""
    if not z_s > z_l:
        raise InputError(f"source redshift z_s = {z_s} must exceed the lens redshift z_l = {z_l}")
    Dl = cosmo.angular_diameter_distance(z_l).to_value(u.kpc)
    Ds = cosmo.angular_diameter_distance(z_s).to_value(u.kpc)
    Dls = cosmo.angular_diameter_distance(z_l, z_s).to_value(u.kpc)
    return _C2_4PIG_MSUN_KPC * Ds / (Dl * Dls)


def einstein_radius(R, kappa_bar, R_min: float) -> float:
    """Largest R >= R_min [kpc] where the mean convergence inside R is >= 1; 0.0 when there is none."""
    R = np.asarray(R, float)
    k = np.asarray(kappa_bar, float)
    sel = R >= R_min
    R, k = R[sel], k[sel]
    above = np.flatnonzero(k >= 1)
    if above.size == 0:
        return 0.0
    i = above[-1]
    if i == R.size - 1:
        return float(R[-1])
    # interpolate ln kappa_bar between R[i] (>= 1) and R[i+1] (< 1)
    lk = np.log(k[i : i + 2])
    return float(np.exp(np.interp(0.0, lk[::-1], np.log(R[i : i + 2])[::-1])))


# --------------------------------------------------------------------------- per-cluster profiles
@dataclasses.dataclass
class ClusterProfiles:
    """Every profile of one cluster on a radial grid r [kpc] (arrays; units in the names)."""

    cluster: VikhlininCluster
    params: Params
    options: ClusterOptions
    r_kpc: np.ndarray
    M_gas: np.ndarray  # Msun
    M_star: np.ndarray  # Msun
    M_bar: np.ndarray  # Msun
    M_hse: np.ndarray  # Msun
    T_keV: np.ndarray
    sigma_v_kms: np.ndarray
    v_bar_kms: np.ndarray
    Sigma_bar_Msun_pc2: np.ndarray
    F: np.ndarray  # CMSI enhancement (nan where the self-consistent mode has no solution)
    K_per_chi0: np.ndarray  # (F - 1)/chi0 with v_c = v_bar (the baryonic mode's linear coefficient)
    mass: dict  # model -> enclosed mass [Msun]
    r500: float  # kpc, from M_hse
    r2500: float  # kpc, from M_hse
    rho_crit: float  # Msun/kpc^3 at the cluster's z
    cmsi_error: str = ""  # where the CMSI mass is missing (self-consistent runaway), if anywhere

    def at(self, model: str, r: float) -> float:
        """Enclosed mass of ``model`` at r [kpc] (interpolated linearly in ln r; nan when r is nan)."""
        if not np.isfinite(r):
            return float("nan")
        return float(np.interp(np.log(r), np.log(self.r_kpc), self.mass[model]))

    def interp(self, values, r: float) -> float:
        """A profile ``values`` (an array on ``r_kpc``, any unit) at r [kpc], linearly in ln r."""
        return float(np.interp(np.log(r), np.log(self.r_kpc), values))

    def ratio(self, model: str, r: float) -> float:
        """M_model / M_hse at r [kpc]."""
        return self.at(model, r) / self.at("hydrostatic", r)

    def chi0_needed(self, r: float) -> float:
        """chi0 for which F x M_bar = M_hse at r [kpc] in the baryonic v_c mode (F - 1 is linear in chi0)."""
        if not np.isfinite(r):
            return float("nan")
        K = float(np.interp(np.log(r), np.log(self.r_kpc), self.K_per_chi0))
        return float(kernel.chi0_for_enhancement(self.at("hydrostatic", r) / self.at("newton", r), K))

    def lensing(self, z_s: float, R_kpc=None, model_names=MODELS, n_u: int = 801) -> dict:
        """Projected mass, mean convergence and Einstein radius for a source at z_s, per model.

        Each model's lens mass is M_bar + lens_weight (M_model - M_bar) (hydrostatic: taken as the true
        total mass, lens_weight not applied). A lens mass must not decrease outward (that is a negative
        density): where a profile does (eq. 7 does in places for some clusters, and is negative inside
        A1795's r_min), its running maximum, floored at 0, is used. Einstein radii are sought only at
        R >= the cluster's r_min (inside it the density law is an extrapolation); 0.0 means "none".
        """
        rt = self.options.r_trunc_kpc
        R = (
            np.geomspace(max(1.0, 0.5 * self.cluster.r_min), 0.999 * rt, 240)
            if R_kpc is None
            else np.asarray(as_value(R_kpc, u.kpc, "R"), float)
        )
        cosmo = cosmology(self.options.cosmology)
        sc = sigma_crit(self.cluster.z, z_s, cosmo)
        Dl = cosmo.angular_diameter_distance(self.cluster.z).to_value(u.kpc)
        out = {"R_kpc": R, "Sigma_crit_Msun_kpc2": sc, "D_l_kpc": Dl, "models": {}}
        w = self.options.lens_weight
        for m in model_names:
            M = self.mass[m]
            if m not in ("hydrostatic", "newton"):
                M = self.M_bar + w * (M - self.M_bar)
            if not np.all(np.isfinite(M)):
                out["models"][m] = None
                continue
            M = np.maximum.accumulate(np.clip(M, 0.0, None))
            M2 = projected_mass(self.r_kpc, M, R, rt, n_u)
            kb = M2 / (np.pi * R**2 * sc)
            RE = einstein_radius(R, kb, self.cluster.r_min)
            out["models"][m] = {
                "M2D_Msun": M2,
                "kappa_bar": kb,
                "R_E_kpc": RE,
                "theta_E_arcsec": RE / Dl * 206264.80624709636,
                "kappa_bar_max": float(np.max(kb[R >= self.cluster.r_min])),
            }
        return out


def cluster_profiles(
    cluster: VikhlininCluster, params: Params = Params(), options: ClusterOptions = ClusterOptions(), n_r: int = 300
) -> ClusterProfiles:
    """Compute every profile of ``cluster`` on a log grid from 1 kpc to options.r_trunc_kpc."""
    rt = options.r_trunc_kpc
    r = np.geomspace(1.0, rt, n_r)
    M_gas = cluster.gas_mass(r).to_value(u.Msun)
    M_star = options.stellar_fraction * M_gas
    M_bar = M_gas + M_star
    M_hse = cluster.hydrostatic_mass(r, options.mu).to_value(u.Msun)
    T = cluster.temperature(r).to_value(u.keV)
    sig = sigma_v_from_temperature(T, options.mu).to_value(u.km / u.s)
    v_bar = np.sqrt(G_KPC_KMS2_MSUN * M_bar / r)
    fb = 1 + options.stellar_fraction
    Sigma = abel_surface_density(lambda x: fb * cluster.gas_density(x).value, r[:-1], rt)
    Sigma = np.append(Sigma, 0.0) / 1e6  # Msun/pc^2; zero at the truncation radius
    K = kernel.enhancement(r, v_bar, sig, Sigma, dataclasses.replace(params, chi0=1.0)) - 1
    err = ""
    if options.vc_mode == "baryonic":
        F = kernel.enhancement(r, v_bar, sig, Sigma, params)
    else:
        v_hse = np.sqrt(G_KPC_KMS2_MSUN * np.clip(M_hse, 0, None) / r)
        try:
            v = kernel.circular_speed(r, v_bar, sig, Sigma, params, options.vc_mode, v_obs=v_hse)
        except kernel.NoSelfConsistentSolution:
            # solve radius by radius: nan where v^2 = F(v) v_bar^2 has no solution (the boost runs away)
            v = np.full_like(r, np.nan)
            for i in range(r.size):
                try:
                    v[i] = kernel.self_consistent_speed(r[i], v_bar[i], sig[i], Sigma[i], params)
                except kernel.NoSelfConsistentSolution:
                    pass
            bad = ~np.isfinite(v)
            err = (
                f"no self-consistent solution at {bad.sum()} of {r.size} radii "
                f"(r = {r[bad].min():.3g} to {r[bad].max():.3g} kpc)"
            )
        F = (v / v_bar) ** 2
    g_bar = G_KPC_KMS2_MSUN * M_bar / r**2  # (km/s)^2/kpc
    g_rar = rar.rar_g_obs(g_bar, rar.G_DAGGER_KMS2_KPC)
    mass = {"newton": M_bar, "cmsi": F * M_bar, "rar": g_rar * r**2 / G_KPC_KMS2_MSUN, "hydrostatic": M_hse}
    cosmo = cosmology(options.cosmology)
    rho_c = cosmo.critical_density(cluster.z).to_value(u.Msun / u.kpc**3)
    return ClusterProfiles(
        cluster=cluster,
        params=params,
        options=options,
        r_kpc=r,
        M_gas=M_gas,
        M_star=M_star,
        M_bar=M_bar,
        M_hse=M_hse,
        T_keV=T,
        sigma_v_kms=sig,
        v_bar_kms=v_bar,
        Sigma_bar_Msun_pc2=Sigma,
        F=F,
        K_per_chi0=K,
        mass=mass,
        r500=overdensity_radius(r, M_hse, 500, rho_c, cluster.r_min),
        r2500=overdensity_radius(r, M_hse, 2500, rho_c, cluster.r_min),
        rho_crit=rho_c,
        cmsi_error=err,
    )


def mass_ratio_rows(
    params: Params = Params(), options: ClusterOptions = ClusterOptions(), clusters: dict | None = None
) -> list[dict]:
    """One row per cluster and model: M_model/M_hse at r2500 and r500, with r500, r2500 [kpc] and whether
    r500 lies beyond the data (r_det). Models: MODELS (hydrostatic gives 1 by construction)."""
    clusters = clusters or load_clusters(options)
    return _rows({name: cluster_profiles(cl, params, options) for name, cl in clusters.items()})


def _rows(profiles: dict[str, ClusterProfiles]) -> list[dict]:
    rows = []
    for name, p in profiles.items():
        cl = p.cluster
        for m in MODELS:
            rows.append(
                {
                    "cluster": name,
                    "model": m,
                    "mass_ratio_r500": p.ratio(m, p.r500),
                    "mass_ratio_r2500": p.ratio(m, p.r2500),
                    "r500_kpc": p.r500,
                    "r2500_kpc": p.r2500,
                    "M_hse_r500_Msun": p.at("hydrostatic", p.r500),
                    "r500_beyond_data": bool(p.r500 > cl.r_det),
                    "z": cl.z,
                }
            )
    return rows


# --------------------------------------------------------------------------- the analysis entry point
@dataclasses.dataclass(frozen=True)
class ClusterAnalysis:
    """Everything the clusters chapter and ``cmsi clusters`` show, at one set of CMSI parameters.

    Profiles are keyed by cluster name. Mass ratios M_model/M_hse are dimensionless; chi0 dimensionless;
    g_dagger in m/s^2. ``median_ratio[column][radius]`` with radius "r2500" or "r500" and column one of
    MODELS (at ``params``), "cmsi_median" (CMSI at chi0 = ``chi0_median``) and, when ``survey_params`` is
    given, "cmsi_survey".
    """

    params: Params
    options: ClusterOptions
    profiles: dict
    chi0_needed: dict  # per cluster: chi0 for F M_bar = M_hse at r500 (baryonic v_c)
    chi0_median: float
    profiles_median: dict  # at chi0 = chi0_median
    survey_params: Params | None
    profiles_survey: dict | None  # at survey_params (None without them)
    median_ratio: dict
    rows: list  # mass_ratio_rows at params
    F_max_self_consistent: float  # largest F the self-consistent v_c mode can give
    chi0_self_consistent: dict  # per cluster: largest chi0 with a self-consistent solution at every radius
    g_dagger_needed: dict  # per cluster: g_dagger [m/s^2] for M_RAR = M_hse at r500
    rar_deficit_r500: float  # 1 / median M_RAR/M_hse at r500
    rar_deficit_r2500: float


def _medians(profiles: dict, model: str) -> dict:
    return {
        rad: float(np.median([q.ratio(model, getattr(q, rad)) for q in profiles.values()])) for rad in ("r2500", "r500")
    }


def _g_dagger_needed(p: ClusterProfiles) -> float:
    """g_dagger [m/s^2] for which the RAR mass equals M_hse at r500."""
    r = p.r500
    g_bar = G_KPC_KMS2_MSUN * p.at("newton", r) / r**2 * ACCEL_SI_PER_KMS2_KPC
    g_obs = G_KPC_KMS2_MSUN * p.at("hydrostatic", r) / r**2 * ACCEL_SI_PER_KMS2_KPC
    return rar.g_dagger_needed(g_bar, g_obs)


def analyse(
    params: Params = Params(),
    options: ClusterOptions = ClusterOptions(),
    clusters: dict | None = None,
    survey_params: Params | None = None,
) -> ClusterAnalysis:
    """The cluster analysis at ``params``: profiles, mass ratios and their medians, the chi0 each cluster
    needs at r500 (and CMSI at their median), the self-consistent mode's limits and the g_dagger the RAR
    would need. ``clusters`` (default: all, from ``load_clusters(options)``) restricts the sample;
    ``survey_params`` adds CMSI at those parameters (the SPARC global fit) as column "cmsi_survey"."""
    clusters = clusters or load_clusters(options)
    prof = {n: cluster_profiles(c, params, options) for n, c in clusters.items()}
    chi_need = {n: p.chi0_needed(p.r500) for n, p in prof.items()}
    chi_med = float(np.median(list(chi_need.values())))
    prof_med = {n: cluster_profiles(c, dataclasses.replace(params, chi0=chi_med), options) for n, c in clusters.items()}
    prof_survey = (
        None if survey_params is None else {n: cluster_profiles(c, survey_params, options) for n, c in clusters.items()}
    )
    med = {m: _medians(prof, m) for m in MODELS}
    med["cmsi_median"] = _medians(prof_med, "cmsi")
    if prof_survey is not None:
        med["cmsi_survey"] = _medians(prof_survey, "cmsi")
    chi_sc = {
        n: kernel.self_consistent_chi0_limit(p.r_kpc, p.v_bar_kms, p.sigma_v_kms, p.Sigma_bar_Msun_pc2, params)
        for n, p in prof.items()
    }
    return ClusterAnalysis(
        params=params,
        options=options,
        profiles=prof,
        chi0_needed=chi_need,
        chi0_median=chi_med,
        profiles_median=prof_med,
        survey_params=survey_params,
        profiles_survey=prof_survey,
        median_ratio=med,
        rows=_rows(prof),
        F_max_self_consistent=kernel.self_consistent_F_max(params),
        chi0_self_consistent=chi_sc,
        g_dagger_needed={n: _g_dagger_needed(p) for n, p in prof.items()},
        rar_deficit_r500=1 / med["rar"]["r500"],
        rar_deficit_r2500=1 / med["rar"]["r2500"],
    )
