"""VOneAlexNet: a fixed, V1-like Gabor front end (VOneBlock, Dapello et al. 2020) on an AlexNet back end,
with the study's single fixed Gaussian noise sample (std 4). Registration imports nothing heavy."""
from metazoo_core.hookspecs import hookimpl

FAMILY = "vonenet"


@hookimpl
def metazoo_register_families(register):
    register(FAMILY, "VOneAlexNet: fixed Gabor V1 block (256 simple + 256 complex), fixed Gaussian noise, AlexNet back end")


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
