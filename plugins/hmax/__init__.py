"""HMAX (Riesenhuber & Poggio 1999; Serre et al. 2007) as the study built it: S1, C1, S2, C2 and a linear readout.

Hand-built filters (S1 Gabors, the S2 patch set) are constructed when the model is built; only the readout is
learned (random unless a checkpoint is given). The patch set: see `patches.py` (METAZOO_HMAX_PATCH_SET points to
the original universal_patch_set.mat). The metamer schedule `hmax_units`: see `schedule.py`.
Registration imports nothing heavy.
"""
from metazoo_core.hookspecs import hookimpl

FAMILY = "hmax"


@hookimpl
def metazoo_register_families(register):
    register(FAMILY, "HMAX (S1/C1/S2/C2, Gaussian S2) with a linear ImageNet readout on C2, as in Feather et al. 2023")


@hookimpl
def metazoo_build_model(spec, options):
    if spec.family != FAMILY:
        return None
    from .network import build

    return build(spec, options)


@hookimpl
def metazoo_convert_checkpoint(spec, state_dict, network):
    if spec.family != FAMILY:
        return None
    from .model import convert_checkpoint

    return convert_checkpoint(state_dict, network.net)


@hookimpl
def metazoo_stage_schedule(spec, stage, options):
    if spec.family != FAMILY:
        return None
    from . import layout
    from .schedule import for_stage

    sizes = tuple(spec.build.get("patch_sizes", layout.DEFAULT_PATCH_SIZES))
    return for_stage(stage, options or {}, sizes, spec.input.shape[-1])
