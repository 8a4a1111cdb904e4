"""CLIP visual encoders of the study (ResNet50 and ViT-B/32, OpenAI weights) through open_clip; recognition
uses a zero-shot ImageNet head (80 prompt templates × 1000 class names), computed once per set of weights."""
from metazoo_core.family import Family, lazy, registers

FAMILY = Family("clip", __doc__, lazy(f"{__name__}.model:build", "spec"),
                lazy(f"{__name__}.model:convert", "state_dict"), formats=("open_clip",))
metazoo_register_families = registers(FAMILY)
