"""The modelling options CMSI needs on a SPARC galaxy and the seed leaves open (one frozen record).

The data layer (:mod:`cmsi_lib.sparc`) knows no model; these options choose which v_c enters F and how
sigma_v and Sigma are estimated from SPARC's tables (see the data chapter).
"""

from __future__ import annotations

import dataclasses
import math

from .errors import InputError
from .kernel import VC_MODES
from .sparc import (
    GAS_SCALE_DEFAULT,
    SIGMA_DEFINITIONS,
    SIGMA_V_DEFAULT,
    SIGMA_V_MODELS,
    UPS_BUL,
    UPS_DISK,
    check_ups,
)

__all__ = ["SparcOptions"]


@dataclasses.dataclass(frozen=True)
class SparcOptions:
    """The modelling choices CMSI needs on SPARC and the seed leaves open (see the data chapter).

    vc_mode: the v_c in F, one of :data:`cmsi_lib.VC_MODES` ("baryonic" is not circular).
    sigma_v_model, sigma_v_value [km/s]: see :func:`cmsi_lib.sparc.sigma_v`.
    sigma_definition, gas_scale [Rdisk]: see :func:`cmsi_lib.sparc.surface_density`.
    ups_disk, ups_bul [Msun/Lsun]: the 3.6 um mass-to-light ratios.
    """

    vc_mode: str = "baryonic"
    sigma_v_model: str = "constant"
    sigma_v_value: float = SIGMA_V_DEFAULT
    sigma_definition: str = "stellar"
    ups_disk: float = UPS_DISK
    ups_bul: float = UPS_BUL
    gas_scale: float = GAS_SCALE_DEFAULT

    def __post_init__(self):
        choices = (
            ("vc_mode", VC_MODES),
            ("sigma_v_model", SIGMA_V_MODELS),
            ("sigma_definition", SIGMA_DEFINITIONS),
        )
        for name, valid in choices:
            if getattr(self, name) not in valid:
                raise InputError(f"option {name} = {getattr(self, name)!r} is not valid; choose one of {valid}")
        for name, text in (("sigma_v_value", "> 0 km/s"), ("gas_scale", "> 0 (units of Rdisk)")):
            v = getattr(self, name)
            try:
                ok = math.isfinite(float(v)) and float(v) > 0
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise InputError(f"option {name} = {v!r} is not valid; valid range: {text}")
            object.__setattr__(self, name, float(v))
        check_ups(float(self.ups_disk), float(self.ups_bul))
        object.__setattr__(self, "ups_disk", float(self.ups_disk))
        object.__setattr__(self, "ups_bul", float(self.ups_bul))

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def differs_from_defaults(self) -> dict:
        d = SparcOptions()
        return {k: v for k, v in self.as_dict().items() if getattr(d, k) != v}
