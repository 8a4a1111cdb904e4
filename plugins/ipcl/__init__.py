"""IPCL AlexNetGN (Konkle & Alvarez 2022) and its category-supervised twin, in the study's layout.

The IPCL model's recognition readout is the study's linear layer on fc7, a second file (`build.readout_weights`)
merged in by the converter. No torch at import time.
"""
from metazoo_core.hookspecs import hookimpl

FAMILY = "ipcl"


@hookimpl
def metazoo_register_families(register):
    register(FAMILY, "AlexNetGN trained with IPCL (self-supervised, + linear readout) or category supervision")


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
