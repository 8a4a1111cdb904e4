"""torchvision architectures of the study: AlexNet, VGG-19, ResNet50/101 and their trained variants.

The variants (adversarially trained, random-perturbation, early-checkpoint, Stylized-ImageNet, self-supervised
backbones with linear readouts) share the torchvision architecture and differ only in their checkpoint, whose
layout `weights.format` names: torchvision, robustness, stylized or openselfsup. No torch at import time.
"""
from metazoo_core.hookspecs import hookimpl

FAMILY = "torchvision"


@hookimpl
def metazoo_register_families(register):
    register(FAMILY, "AlexNet, VGG-19, ResNet50/101 (torchvision) and the study's retrained variants")


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

    return convert(spec, state_dict)
