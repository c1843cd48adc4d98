"""CMSI model parameters: one frozen, validated, hashable record.

The defaults are the seed document's (``../shared/seed/CMSI-derivation.md``)::

    chi0 = 800        nonlinear-GR coupling (dimensionless)
    gamma = 1.5       phase-coherence exponent, N_coh = (v_c/sigma_v)**gamma
    alpha = 0.55      coherent-addition exponent, factor N_coh**alpha
    ell0 = 2.2        coherence length of the radial profile [kpc]
    sigma_ref = 50    reference surface density [Msun/pc^2]
    eps = 0.5         source-density exponent, factor (Sigma/sigma_ref)**eps
    n = 2             shape index of f(x) = (1 + x**n)**(-1/n)

``Params.from_sources(yaml_path, ["chi0=1e3", ...])`` is how every command line and
notebook builds one; ``params.hash`` names a run's results.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml

from .errors import ParameterError

__all__ = ["Params", "ParameterError", "PARAMETER_RANGES"]


#: name -> (lower bound, lower bound inclusive?, human-readable range, unit)
PARAMETER_RANGES: dict[str, tuple[float, bool, str, str]] = {
    "chi0": (0.0, True, "chi0 >= 0 (finite)", ""),
    "gamma": (0.0, True, "gamma >= 0 (finite)", ""),
    "alpha": (0.0, True, "alpha >= 0 (finite)", ""),
    "ell0": (0.0, False, "ell0 > 0 (finite)", "kpc"),
    "sigma_ref": (0.0, False, "sigma_ref > 0 (finite)", "Msun/pc^2"),
    "eps": (0.0, True, "eps >= 0 (finite)", ""),
    "n": (0.0, False, "n > 0 (finite)", ""),
}


def _check(name: str, value) -> float:
    if name not in PARAMETER_RANGES:
        valid = ", ".join(PARAMETER_RANGES)
        raise ParameterError(f"unknown CMSI parameter {name!r}; valid names are: {valid}")
    lo, inclusive, text, unit = PARAMETER_RANGES[name]
    if isinstance(value, bool):
        raise ParameterError(f"parameter {name} = {value!r} is not a number; valid range: {text}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"parameter {name} = {value!r} is not a number; valid range: {text}") from None
    ok = math.isfinite(x) and (x >= lo if inclusive else x > lo)
    if not ok:
        raise ParameterError(f"parameter {name} = {value!r} is out of range; valid range: {text}")
    return x


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a mapping key given twice (PyYAML keeps the last one silently)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[object, int] = {}
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ParameterError(f"line {line}: {key!r} is given twice (first on line {seen[key]}); give it once")
            seen[key] = line
        return super().construct_mapping(node, deep)


@dataclasses.dataclass(frozen=True)
class Params:
    """The global CMSI parameters (validated on construction; immutable)."""

    chi0: float = 800.0
    gamma: float = 1.5
    alpha: float = 0.55
    ell0: float = 2.2  # kpc
    sigma_ref: float = 50.0  # Msun / pc^2
    eps: float = 0.5
    n: float = 2.0

    def __post_init__(self):
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _check(f.name, getattr(self, f.name)))

    # ----------------------------------------------------------------- constructors
    @classmethod
    def from_mapping(cls, values: Mapping[str, object], base: Params | None = None) -> Params:
        """Build from a mapping of name -> value on top of ``base`` (default: the seed's defaults)."""
        base = base or cls()
        for name in values:
            if name not in PARAMETER_RANGES:
                _check(name, None)  # raises the unknown-name error
        return dataclasses.replace(base, **{k: values[k] for k in values})

    @classmethod
    def from_yaml(cls, path: str | Path, base: Params | None = None) -> Params:
        """Read a YAML mapping ``name: value`` (unknown names and bad values are errors naming the file)."""
        path = Path(path)
        try:
            data = yaml.load(path.read_text(), Loader=_UniqueKeyLoader) or {}
        except ParameterError as exc:  # a key given twice (_UniqueKeyLoader)
            raise ParameterError(f"parameter file {path}, {exc}") from None
        except FileNotFoundError:
            raise ParameterError(f"parameter file {path} does not exist") from None
        except yaml.YAMLError as exc:
            raise ParameterError(f"parameter file {path} is not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ParameterError(f"parameter file {path} must hold a mapping 'name: value', got {type(data).__name__}")
        try:
            return cls.from_mapping(data, base)
        except ParameterError as exc:
            raise ParameterError(f"{path}: {exc}") from None

    @classmethod
    def from_overrides(cls, overrides: Iterable[str], base: Params | None = None) -> Params:
        """Apply ``name=value`` strings (as given to ``--set``) on top of ``base``."""
        values: dict[str, object] = {}
        for item in overrides:
            name, sep, value = str(item).partition("=")
            if not sep or not name.strip():
                raise ParameterError(f"override {item!r} is not of the form name=value")
            values[name.strip()] = value.strip()
        return cls.from_mapping(values, base)

    @classmethod
    def from_sources(cls, yaml_path: str | Path | None = None, overrides: Iterable[str] = ()) -> Params:
        """Defaults, then the YAML file (if any), then the ``name=value`` overrides."""
        p = cls.from_yaml(yaml_path) if yaml_path else cls()
        return cls.from_overrides(overrides, p)

    # ----------------------------------------------------------------- identity
    def as_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)

    @property
    def hash(self) -> str:
        """Stable 12-hex-digit content hash (same values -> same hash, across sessions and machines)."""
        canon = json.dumps({k: float(v).hex() for k, v in sorted(self.as_dict().items())})
        return hashlib.sha256(canon.encode()).hexdigest()[:12]

    def differs_from_defaults(self) -> dict[str, float]:
        d = Params()
        return {k: v for k, v in self.as_dict().items() if getattr(d, k) != v}
