"""Spectemp (Feather et al. 2023): a hand-engineered spectro-temporal modulation filter bank on the study's
cochleagram, time-averaged power and a linear word readout; coarse-to-fine unit schedules in `schedule.py`."""
from metazoo_core.family import Family, lazy, registers

FAMILY = Family("spectemp", __doc__, lazy(f"{__name__}.model:build", "spec"),
                lazy(f"{__name__}.model:convert_robustness", "state_dict"),
                formats=("robustness_audio",),
                schedules=dict.fromkeys(("spectemp_coarse_to_fine", "spectemp_coarse_to_fine_code"),
                                        lazy(f"{__name__}.schedule:unit_schedule")))
metazoo_register_families = registers(FAMILY)
