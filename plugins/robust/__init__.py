"""The 25 adversarially robust ImageNet models the study used only at their final stage (SI, Fig. 6b).

Twenty-two have entries here; the three MadryLab ResNet50s are the torchvision family's (group robust_final_stage)."""
from metazoo_core.family import Family, lazy, registers

FAMILY = Family("robust", __doc__, lazy(f"{__name__}.model:build", "spec"),
                lazy(f"{__name__}.model:convert", "spec", "state_dict"),
                formats=("robustness", "timm", "fast_adversarial"))
metazoo_register_families = registers(FAMILY)
