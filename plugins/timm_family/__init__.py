"""timm architectures of the study: SWSL ResNet50 and ResNeXt101-32x8d, ViT-L/16 (IN-21k → IN-1k).

Weights are timm's own Hub files (safetensors, timm keys). No torch at import time.
"""
from metazoo_core.hookspecs import hookimpl

FAMILY = "timm"


@hookimpl
def metazoo_register_families(register):
    register(FAMILY, "SWSL ResNet50 / ResNeXt101-32x8d and ViT-L/16 via timm")


@hookimpl
def metazoo_build_model(spec, options):
    if spec.family != FAMILY:
        return None
    from .model import build

    return build(spec)


@hookimpl
def metazoo_convert_checkpoint(spec, state_dict, network):
    if spec.family != FAMILY:
        return None
    from metazoo_core.converters import strip_module

    return strip_module(state_dict)
