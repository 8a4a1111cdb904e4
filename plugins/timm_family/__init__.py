"""timm architectures of the study: SWSL ResNet50 and ResNeXt101-32x8d, ViT-L/16 (IN-21k → IN-1k).

Weights are timm's own Hub files (safetensors, timm keys)."""
from metazoo_core.family import Family, lazy, registers

FAMILY = Family("timm", __doc__, lazy(f"{__name__}.model:build", "spec"),
                lazy("metazoo_core.converters:strip_module", "state_dict"), formats=("timm",))
metazoo_register_families = registers(FAMILY)
