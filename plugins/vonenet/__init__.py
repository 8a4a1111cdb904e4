"""VOneAlexNet: a fixed, V1-like Gabor front end (VOneBlock, Dapello et al. 2020) on an AlexNet back end,
with the study's single fixed Gaussian noise sample (std 4)."""
from metazoo_core.family import Family, lazy, registers

FAMILY = Family("vonenet", __doc__, lazy(f"{__name__}.model:build"),
                lazy(f"{__name__}.model:convert_checkpoint", "state_dict"), formats=("robustness",))
metazoo_register_families = registers(FAMILY)
