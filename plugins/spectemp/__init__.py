"""Spectemp (Feather et al. 2023): a hand-engineered spectro-temporal modulation filter bank on the study's
cochleagram, time-averaged power and a linear word readout. Registration imports nothing heavy.
"""
from metazoo_core.hookspecs import hookimpl

FAMILY = "spectemp"
SCHEDULE = "spectemp_coarse_to_fine"


@hookimpl
def metazoo_register_families(register):
    register(FAMILY, "Spectemp: 111 spectro-temporal modulation filters on the cochleagram (Feather et al. 2023)")


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
    from .model import convert_robustness

    return convert_robustness(state_dict)


@hookimpl
def metazoo_stage_schedule(spec, stage, options):
    """Coarse-to-fine filter sets when the schedule named in options["name"] (default: the spec's) is ours.

    options: name "spectemp_coarse_to_fine" (seed text, default) | "spectemp_coarse_to_fine_code" (released
    code, facts §1.5) | "none"; iterations, blocks (the recipe's).
    """
    name = options.get("name") or spec.metamer.schedule
    if spec.family != FAMILY or name not in (SCHEDULE, SCHEDULE + "_code"):
        return None
    from .schedule import STAGES, CoarseToFine

    variant = "code" if name.endswith("_code") else "seed"
    if stage not in STAGES[variant]:
        return None
    return CoarseToFine(iterations=int(options.get("iterations") or 3000), blocks=int(options.get("blocks") or 8),
                        variant=variant)
