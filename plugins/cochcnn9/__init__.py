"""CochCNN9 (Feather et al. 2023; the study's `kell2018`): a 9-stage word-recognition CNN on the cochleagram, with
every training variant of SI Table 4."""
from metazoo_core.family import Family, lazy, registers

FAMILY = Family("cochcnn9", __doc__, lazy(f"{__name__}.model:build", "spec"),
                lazy("metazoo_core.audio.network:convert_robustness_audio", "state_dict"),
                formats=("robustness_audio",))
metazoo_register_families = registers(FAMILY)
