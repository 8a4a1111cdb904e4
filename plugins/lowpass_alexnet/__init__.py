"""LowpassAlexNet: AlexNet with Hann-window (anti-aliasing) pooling and a stride-1 first convolution, from
Feather et al. 2023. Registration imports nothing heavy."""
from metazoo_core.hookspecs import hookimpl

FAMILY = "lowpass_alexnet"


@hookimpl
def metazoo_register_families(register):
    register(FAMILY, "LowpassAlexNet: AlexNet with HannPooling2d anti-aliasing instead of max-pooling (Feather et al. 2023)")


@hookimpl
def metazoo_build_model(spec, options):
    if spec.family != FAMILY:
        return None
    from .model import build

    return build(spec, options)


@hookimpl
def metazoo_convert_checkpoint(spec, state_dict, network):
    if spec.family != FAMILY:
        return None
    from .model import convert_checkpoint

    return convert_checkpoint(state_dict)
