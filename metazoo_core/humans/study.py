"""The study's published per-participant human data (shipped in `study_data/`, MIT, see NOTICE.md there) and the
study's analyses of them: recognition per stage with SEM across participants, SI Table 1 (observer × stage) for
every generating model, and the SI Table 2 model comparisons of each experiment.

Experiment ids follow the study's folders: `VisionBehavioralExperiments/EXP1_ANALYSIS` → `vision-exp1`,
`AuditoryBehavioralExperiments/EXPERIMENT_3` → `audio-exp3`. Model names are the ones in the study's file names
(`…_datamatrix_<model>_public.mat`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from ..errors import InputError, suggest
from .anova import comparison_permutation_p, model_comparison, observer_stage

_FILE = re.compile(r"^(Vision|Audio)Experiment(\d+)_network_vs_humans_datamatrix_(.+)_public\.mat$")

EXCLUDED_STAGES: dict[tuple[str, str], tuple[str, ...]] = {
    ("vision-exp12", "CLIP_resnet50"): ("final",),
}
"""Stages the study left out of SI Table 1's ANOVA. CLIP ResNet50: the study's analysis of experiment 12 reports
F(6,240) for the interaction (7 of the file's 8 conditions) and its F values are reproduced exactly when the
`final` stage is left out; the SI (Supplementary Modeling Note 1) says metamers could not be synthesised from
CLIP's classifier, so only visual-encoder stages were analysed."""

COMPARISONS: dict[str, list[tuple[str, str]]] = {
    "vision-exp3": [("resnet50_l2_3_robust", "resnet50"),
                    ("resnet50_l2_3_robust", "resnet50_random_l2_perturb"),
                    ("resnet50_linf_8_robust", "resnet50"),
                    ("resnet50_linf_8_robust", "resnet50_random_linf8_perturb"),
                    ("resnet50_linf_4_robust", "resnet50")],
    "vision-exp4": [("alexnet_l2_3_robust", "alexnet"),
                    ("alexnet_l2_3_robust", "alexnet_random_l2_3_perturb"),
                    ("alexnet_linf_8_robust", "alexnet"),
                    ("alexnet_linf_8_robust", "alexnet_random_linf8_perturb")],
    "audio-exp4": [("kell2018_l2_1_robust_waveform", "kell2018"),
                   ("kell2018_l2_1_robust_waveform", "kell2018_l2_1_random_step_waveform"),
                   ("kell2018_linf_p002_robust_waveform", "kell2018"),
                   ("kell2018_linf_p002_robust_waveform", "kell2018_linf_p002_random_step_waveform")],
    "audio-exp3": [("cochresnet50_l2_p5_robust_waveform", "cochresnet50"),
                   ("cochresnet50_l2_1_robust_waveform", "cochresnet50"),
                   ("cochresnet50_l2_1_robust_waveform", "cochresnet50_l2_1_random_step_waveform"),
                   ("cochresnet50_linf_p002_robust_waveform", "cochresnet50_linf_p002_random_step_waveform"),
                   ("cochresnet50_linf_p002_robust_waveform", "cochresnet50")],
    "audio-exp8": [("kell2018_l2_p5_robust_cochleagram", "kell2018"),
                   ("kell2018_l2_1_robust_cochleagram", "kell2018"),
                   ("kell2018_l2_1_robust_cochleagram", "kell2018_l2_1_random_step_cochleagram"),
                   ("kell2018_l2_1_robust_cochleagram", "kell2018_l2_1_robust_waveform")],
    "audio-exp7": [("cochresnet50_l2_p5_robust_cochleagram", "cochresnet50"),
                   ("cochresnet50_l2_1_robust_cochleagram", "cochresnet50"),
                   ("cochresnet50_l2_1_robust_cochleagram", "cochresnet50_l2_1_random_step_cochleagram"),
                   ("cochresnet50_l2_1_robust_cochleagram", "cochresnet50_l2_1_robust_waveform")],
}
"""SI Table 2's pairs (Model 1, Model 2), by experiment, in the table's order. The study's per-comparison outputs
(e.g. AuditoryBehavioralExperiments/EXPERIMENT_8/STATS-12-Apr-2022/…-ANOVA_HUMAN_RESULTS.txt, "MODELS_INCLUDED_IN_
ANOVA: kell2018, kell2018_l2_1_robust_cochleagram") name the files; the SI's rows "CochCNN9 cochleagram … vs
CochResNet50 Standard" are the CochCNN9 (kell2018) standard model of that experiment — the F values match it."""


@dataclass(frozen=True)
class StudyModel:
    """One generating model of one experiment: scores (participants, conditions) for humans and the network."""

    experiment: str
    model: str
    stages: tuple[str, ...]
    participants: tuple[str, ...]
    human: np.ndarray
    network: np.ndarray

    def analysed(self) -> np.ndarray:
        """Indices of the conditions SI Table 1 analysed (all but EXCLUDED_STAGES)."""
        skip = EXCLUDED_STAGES.get((self.experiment, self.model), ())
        return np.array([i for i, s in enumerate(self.stages) if s not in skip])


def _strings(values: Any) -> tuple[str, ...]:
    return tuple(str(np.ravel(v)[0] if np.ndim(v) else v).strip() for v in np.ravel(values))


@lru_cache(maxsize=1)
def _index() -> dict[str, dict[str, str]]:
    """{experiment id: {model: file name}} over the shipped files, experiments in the study's order."""
    found: dict[str, dict[str, str]] = {}
    for entry in resources.files(__package__).joinpath("study_data").iterdir():
        m = _FILE.match(entry.name)
        if m:
            found.setdefault(f"{m[1].lower()}-exp{m[2]}", {})[m[3]] = entry.name
    return {k: dict(sorted(found[k].items())) for k in sorted(found, key=lambda k: (k.split("-")[0] != "vision",
                                                                                    int(k.rsplit("exp", 1)[1])))}


def experiments() -> dict[str, list[str]]:
    """{experiment id: [model, …]} for every shipped experiment."""
    return {k: list(v) for k, v in _index().items()}


def load(experiment: str) -> list[StudyModel]:
    """The experiment's models with their per-participant scores; unknown ids raise InputError."""
    from scipy.io import loadmat

    index = _index()
    if experiment not in index:
        raise InputError(f"unknown study experiment '{experiment}'{suggest(experiment, list(index))}; "
                         f"run `metazoo humans study` to list them")
    out = []
    for model, name in index[experiment].items():
        with resources.files(__package__).joinpath("study_data", name).open("rb") as fh:
            mat = loadmat(fh)
        data = np.asarray(mat["participant_data_matrix"], dtype=float)  # (participants, conditions, [human, net])
        out.append(StudyModel(experiment=experiment, model=model, stages=_strings(mat["model_layers"]),
                              participants=_strings(mat["participants"]), human=data[:, :, 0],
                              network=data[:, :, 1]))
    return out


def _mean_sem(x: np.ndarray) -> dict[str, list[float]]:
    n = x.shape[0]
    return {"mean": x.mean(axis=0).tolist(), "sem": (x.std(axis=0, ddof=1) / np.sqrt(n)).tolist()}


def _effects(effects: dict) -> dict[str, dict[str, float]]:
    return {k: {"F": e.F, "df1": e.df1, "df2": e.df2, "p": e.p, "np2": e.np2} for k, e in effects.items()}


def analyse(experiment: str, permutations: int = 0, seed: int = 0) -> dict[str, Any]:
    """The experiment's tables in the `metazoo humans study --json` structure (see docs/user-guide.md).

    permutations > 0: the comparisons' p is the permutation p of that many random relabellings (the study used
    10,000); otherwise every p is parametric."""
    models = {m.model: m for m in load(experiment)}
    rows = []
    for m in models.values():
        keep = m.analysed()
        rows.append({"model": m.model, "stages": list(m.stages), "participants": len(m.participants),
                     "human": _mean_sem(m.human), "network": _mean_sem(m.network),
                     "observer_stage": _effects(observer_stage(m.human[:, keep], m.network[:, keep]))})
    comparisons = []
    for m1, m2 in COMPARISONS.get(experiment, []):
        a, b = models[m1], models[m2]
        if a.stages != b.stages or a.participants != b.participants:
            raise InputError(f"{experiment}: {m1} and {m2} do not share participants and stages")
        effects = _effects(model_comparison(a.human, b.human))
        if permutations:
            for key in effects:
                effects[key]["p"] = comparison_permutation_p(a.human, b.human, key, permutations, seed)
        comparisons.append({"model_1": m1, "model_2": m2, **effects})
    return {"experiment": experiment, "models": rows, "comparisons": comparisons}
