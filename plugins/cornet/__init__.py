"""CORnet-S (Kubilius et al. 2019), written from the block description in SI Modeling Note 2.

Checkpoints are the CORnet release's DataParallel state dicts (`module.V1.conv1.weight`, …). No torch at import.
"""
from metazoo_core.hookspecs import hookimpl

FAMILY = "cornet"


@hookimpl
def metazoo_register_families(register):
    register(FAMILY, "CORnet-S: recurrent V1-V2-V4-IT network (Kubilius et al. 2019)")


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
