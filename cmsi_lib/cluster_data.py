"""Galaxy-cluster data: the Vikhlinin et al. 2006 gas and temperature models (read from the staged tables),
the options that choose among their readings, and hydrostatic masses. Knows no CMSI.

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
from scipy import integrate

from . import datafiles, kernel
from .errors import ClusterDataError, InputError
from .projection import radius_kpc
from .units import as_value

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
        r = radius_kpc(r)
        A, B, _, _ = self._terms(r)
        return (A + B) * u.cm**-6

    def gas_density(self, r):
        """rho_gas = 1.624 m_p sqrt(n_p n_e) [Msun/kpc^3]."""
        return gas_density_from_npne(self.npne(r))

    def dln_rho_dln_r(self, r):
        """d ln rho_gas / d ln r = (1/2) d ln(n_p n_e)/d ln r (analytic)."""
        A, B, dA, dB = self._terms(radius_kpc(r))
        return 0.5 * (A * dA + B * dB) / (A + B)

    # ---------------------------------------------------------------- eqs. 4-6
    def temperature(self, r):
        """3D temperature T(r) = T0 t_cool(r) t(r) [keV] (eq. 6)."""
        r = radius_kpc(r)
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
        r = radius_kpc(r)
        yb = (r / self.rt) ** self.b
        x = (r / self.rcool) ** self.acool
        tm = self.Tmin / self.T0
        return -self.a - self.c * yb / (1 + yb) + self.acool * x * (1 / (x + tm) - 1 / (x + 1))

    # ---------------------------------------------------------------- masses
    def gas_mass(self, r, r_inner: float = 1e-4, n_grid: int = 4097):
        """Gas mass inside r [Msun]: 4 pi int_0^r rho_gas r'^2 dr' (Simpson in ln r from r_inner kpc)."""
        r = radius_kpc(r)
        rr = np.geomspace(r_inner, max(float(np.max(r)), 2 * r_inner), n_grid)
        lnr = np.log(rr)
        f = 4 * np.pi * rr**3 * self.gas_density(rr).value
        M = integrate.cumulative_simpson(f, x=lnr, initial=0.0)
        return np.interp(np.log(r), lnr, M) * u.Msun

    def hydrostatic_mass(self, r, mu: float = MU_VIKHLININ):
        """M(<r) = -k T r / (G mu m_p) (dln rho_gas/dln r + dln T/dln r) [Msun] (eq. 7)."""
        r = radius_kpc(r)
        slope = self.dln_rho_dln_r(r) + self.dln_T_dln_r(r)
        return -_HSE_MSUN_PER_KEV_KPC / mu * self._temperature(r) * r * slope * u.Msun

    def rescaled(self, s: float) -> VikhlininCluster:
        """The same cluster seen in a cosmology whose D_A is s times larger: radii x s, n x s^-1/2."""
        radii = ("rc", "rs", "rc2", "rt", "rcool", "r_det", "r_min")
        return dataclasses.replace(
            self, **{k: getattr(self, k) * s for k in radii}, n0=self.n0 / math.sqrt(s), n02=self.n02 / math.sqrt(s)
        )


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
