"""LowpassAlexNet: AlexNet with Hann-window (anti-aliasing) pooling and a stride-1 first convolution, from
Feather et al. 2023."""
from metazoo_core.family import Family, lazy, registers

FAMILY = Family("lowpass_alexnet", __doc__, lazy(f"{__name__}.model:build"),
                lazy(f"{__name__}.model:convert_checkpoint", "state_dict"), formats=("robustness",))
metazoo_register_families = registers(FAMILY)
