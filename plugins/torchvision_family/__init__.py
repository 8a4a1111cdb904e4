"""torchvision architectures of the study: AlexNet, VGG-19, ResNet50/101 and their trained variants, which share
the architecture and differ only in their checkpoint, whose layout `weights.format` names."""
from metazoo_core.family import Family, lazy, registers

FAMILY = Family("torchvision", __doc__, lazy(f"{__name__}.model:build", "spec"),
                lazy(f"{__name__}.model:convert", "spec", "state_dict"),
                formats=("torchvision", "robustness", "stylized", "openselfsup"))
metazoo_register_families = registers(FAMILY)
