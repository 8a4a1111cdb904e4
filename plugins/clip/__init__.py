"""CLIP visual encoders of the study (ResNet50 and ViT-B/32, OpenAI weights) through open_clip.

Recognition uses a zero-shot ImageNet head (80 prompt templates × 1000 class names through CLIP's text encoder),
computed once per set of weights and cached. No torch at import time.
"""
from metazoo_core.hookspecs import hookimpl

FAMILY = "clip"


@hookimpl
def metazoo_register_families(register):
    register(FAMILY, "CLIP ResNet50 / ViT-B/32 visual encoders (open_clip) with a zero-shot ImageNet head")


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
    from .model import convert

    return convert(state_dict)
