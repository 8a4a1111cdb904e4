"""The 25 adversarially robust ImageNet models the study used only at their final stage (SI, Fig. 6b).

Twenty-two have their own entries here (dedeswim/vits-robustness-torch, microsoft/robust-models-transfer,
locuslab/fast_adversarial); the three MadryLab ResNet50s are the torchvision family's resnet50_l2_eps3 /
resnet50_linf_eps4 / resnet50_linf_eps8 (group robust_final_stage). No torch at import time.
"""
from metazoo_core.hookspecs import hookimpl

FAMILY = "robust"


@hookimpl
def metazoo_register_families(register):
    register(FAMILY, "adversarially trained ImageNet models (XCiT, ConvNeXt, ResNets, …), final stage only")


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
