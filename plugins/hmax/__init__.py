"""HMAX (Riesenhuber & Poggio 1999; Serre et al. 2007) as the study built it: S1, C1, S2, C2 and a linear readout.

Hand-built filters are constructed at build time; only the readout is learned. Patch set: `patches.py`;
the metamer schedules hmax_units (SI text) and hmax_units_code (released code): `schedule.py`."""
from metazoo_core.family import Family, lazy, registers

FAMILY = Family("hmax", __doc__, lazy(f"{__name__}.network:build"),
                lazy(f"{__name__}.model:convert_checkpoint", "state_dict", "net"),
                formats=("robustness",),
                schedules=dict.fromkeys(("hmax_units", "hmax_units_code"), lazy(f"{__name__}.schedule:unit_schedule")))
metazoo_register_families = registers(FAMILY)
