"""Recognition, reports and the study's human data: the twins of `metazoo recognize`, `metazoo report` and
`metazoo humans study`, with results that show themselves in a notebook."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from metazoo_core.analysis.recognition import Recognition as _CoreRecognition

from ._display import figure_tag, table
from ._notices import notice

__all__ = ["HumanStudy", "Recognition", "build_report", "human_study", "recognise"]


def _folder(run: Any) -> Path:
    from metazoo_core.errors import InputError

    folder = getattr(run, "folder", run)
    if folder is None:
        raise InputError("this run was kept in memory only; generate it with out='runs/NAME' so that it can be "
                         "read back")
    return Path(folder)


class Recognition(_CoreRecognition):
    """What `recognise` returns: `.table` rows {generator, stage, recogniser, n, n_correct, accuracy in [0, 1],
    sem (bootstrap SEM over items; for the recogniser "mean" rows the SEM across recognisers), self}, `.trials`
    (one row per item and recogniser: label, decision, correct), `.failed` (recognisers that could not load).
    Shows itself as the table and the recognition curves (SI Fig. 3/4 form); `.plot()` returns the Figure."""

    def plot(self) -> Any:
        """Proportion recognised by stage per generating model: grey lines per recognising model, black their
        mean, dashed chance (1/16 for images): a matplotlib Figure."""
        from metazoo_core.analysis.plots import CHANCE_16, draw_recognition_curves

        audio = any(r["label"] and not str(r["label"]).isalpha() for r in self.trials[:1])
        return draw_recognition_curves(self.table, None if audio else CHANCE_16)

    def _repr_html_(self) -> str:
        rows = [[r["generator"], r["stage"], r["recogniser"], r["n"], r["accuracy"],
                 "—" if r["sem"] is None else r["sem"]] for r in self.table]
        return (table(["generator", "stage", "recogniser", "n", "recognised", "SEM"], rows,
                      "proportion recognised (bootstrap SEM; mean: SEM across recognising models)")
                + figure_tag(self.plot(), "recognition curves", 520))


def recognise(run: Any, models: Sequence[str] | str, include_failed: bool = False, bootstrap: int = 1000,
              seed: int = 0, device: str = "cpu") -> Recognition:
    """Classify every metamer of `run` (a `MetamerRun` generated with `out=`, or a run folder) with each of `models`
    (ids, or "all-vision"/"all-audio"); the twin of `metazoo recognize`. A metamer is recognised when a model's
    decision (16-way category for images, word for sounds) equals the generating model's decision on the original.
    Metamers that failed the acceptance criteria are left out unless `include_failed` (as in the study).
    Returns a `Recognition` whose proportions recognised are fractions in [0, 1] with bootstrap SEMs.
    Recognisers that cannot load offline are listed in `.failed` with a warning."""
    from metazoo_core.analysis.recognition import recognise as _recognise
    from metazoo_core.analysis.recognition import resolve_recognisers
    from metazoo_core.analysis.runs import read_run

    core_run = read_run(_folder(run))
    names = resolve_recognisers(models if isinstance(models, str) else ",".join(models),
                                {core_run.modality(m) for m in core_run.models()})
    result = _recognise(core_run, names, include_failed, n_boot=bootstrap, seed=seed, device=device,
                        on_problem=notice)
    return Recognition(result.trials, result.table, result.failed, result.skipped)


def build_report(run: Any, out: Path | str | None = None, link_media: bool = False) -> Path:
    """Write the self-contained HTML report of a run (a `MetamerRun` generated with `out=`, or a run folder) to
    `out` (default RUN/report.html), the page `metazoo report` writes: originals and metamers inline (images as
    PNG, sounds as WAV at the model's rate, 20000 Hz for the study's audio models), measures, verdicts and loss
    curves. Returns its path."""
    from metazoo_core.report.page import build_report as _build

    path, skipped = _build(_folder(run), out, link_media=link_media)
    for line in skipped:
        notice(line)
    return path


@dataclass
class HumanStudy:
    """One experiment of the study's published human data (MIT, Feather et al. 2023) with the SI Table 1 and 2
    analyses, as `metazoo humans study EXP --json` prints it: `.result["models"]` (per generating model: stages,
    participants, human and network proportion correct per stage, mean and SEM, in [0, 1]; observer × stage
    ANOVA), `.result["comparisons"]` (SI Table 2's model pairs: F, df, p, partial η²). Shows itself as the tables
    and the curves (humans black, the network in colour); `.plot()` returns the Figure."""

    result: dict[str, Any]

    def plot(self) -> Any:
        """Human and network recognition curves, one panel per generating model: a matplotlib Figure."""
        from metazoo_core.humans.plots import curves_figure

        return curves_figure(self.result)

    def _repr_html_(self) -> str:
        def effect(e: dict[str, Any]) -> str:
            return f"F({e['df1']:g}, {e['df2']:g}) = {e['F']:.2f}, p = {e['p']:.3g}, ηp² = {e['np2']:.2f}"

        models = [[m["model"], m["participants"], len(m["stages"]),
                   f"{m['human']['mean'][0]:.2f} → {m['human']['mean'][-1]:.2f}",
                   f"{m['network']['mean'][0]:.2f} → {m['network']['mean'][-1]:.2f}",
                   effect(m["observer_stage"]["interaction"])] for m in self.result["models"]]
        pairs = [[c["model_1"], c["model_2"], effect(c["main"]), effect(c["interaction"])]
                 for c in self.result["comparisons"]]
        exp = self.result["experiment"]
        return (table(["model", "participants", "stages", "humans, natural → deepest", "network, natural → deepest",
                       "observer × stage"], models, f"{exp}: humans vs generating models (SI Table 1 form)")
                + (table(["model 1", "model 2", "model main effect", "model × stage"], pairs,
                         f"{exp}: human recognition, model 1 vs model 2 (SI Table 2 form)") if pairs else "")
                + figure_tag(self.plot(), f"{exp} recognition curves", 760))


def human_study(experiment: str | None = None, permutations: int = 0) -> "HumanStudy | dict[str, list[str]]":
    """The study's human data for `experiment` ("vision-exp1", …, "audio-exp1", …) as a `HumanStudy`; without an
    experiment, {experiment: [generating models]} for every shipped one. Proportions correct are in [0, 1].
    permutations > 0: SI Table 2 p-values from that many random relabellings (the study: 10,000); default
    parametric. The twin of `metazoo humans study`."""
    from metazoo_core.humans import study

    if experiment is None:
        return study.experiments()
    return HumanStudy(study.analyse(experiment, permutations))
