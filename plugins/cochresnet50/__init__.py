"""CochResNet50 (Feather et al. 2023): ResNet-50 word recognition on the cochleagram, with
every training variant of SI Table 4. Registration imports nothing heavy.
"""
from metazoo_core.hookspecs import hookimpl

FAMILY = "cochresnet50"


@hookimpl
def metazoo_register_families(register):
    register(FAMILY, "CochResNet50 word recognition (794 classes) on the study's cochleagram (Feather et al. 2023)")


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
    from metazoo_core.audio.network import convert_robustness_audio

    return convert_robustness_audio(state_dict)
