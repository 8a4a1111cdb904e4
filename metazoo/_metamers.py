"""Metamers and nulls: the twins of `metazoo generate` and `metazoo null`, and the run result that shows itself in
a notebook (originals beside metamers, with the measures and the verdict)."""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Sequence

from metazoo_core.caveats import DEFAULT_NULL_PAIRS, null_note
from metazoo_core.metamer import MetamerResult, NullDistribution, Recipe
from metazoo_core.metamer.generate import MetamerRun as _CoreRun

from ._display import audio_tag, png_tag, table
from ._models import device_of, load_inputs, load_model, spec_of

__all__ = ["MetamerResult", "MetamerRun", "NullDistribution", "Recipe", "build_null", "generate", "read_run"]


def _name(record: dict[str, Any]) -> str:
    """The input's name in a record (record["input"] is {name, source, index, folder})."""
    return record["input"]["name"]


def _verdict(record: dict[str, Any]) -> str:
    passed = record.get("passed")
    word = {True: "passed", False: "failed", None: "not evaluated (no null)"}[passed]
    pairs = (record.get("null") or {}).get("pairs")
    if pairs:
        word += f" · null {pairs} pairs" + (" (loose)" if null_note(pairs) else "")
    return word


class MetamerRun(_CoreRun):
    """What `generate` returns: a list of `metazoo.metamer/1` records (dicts, input-major), `.results` (one
    `MetamerResult` per record: `.record`, `.metamer` tensor in input space, (C, H, W) images in the model's range or
    (samples,) sounds), `.originals` ({input name: tensor}, same space), `.spec` and `.folder` (the run folder, or
    None for a run kept in memory). In a notebook it shows each original beside its metamers with the measures at
    the matched stage (Spearman ρ, Pearson r, SNR in dB) and the verdict; sounds as cochleagrams with audio
    players. `.plot()` returns the same as a matplotlib Figure."""

    def __init__(self, results: Sequence[Any], spec: Any, originals: dict[str, Any], folder: Path | None = None):
        super().__init__(list(results))
        self.spec, self.originals, self.folder = spec, originals, folder

    def _media(self, x: Any, title: str) -> str:
        if self.spec.modality == "audio":
            from ._sounds import cochleagram_picture

            return cochleagram_picture(x, title, small=True) + "<br>" + audio_tag(x, self.spec.input.sample_rate)
        from metazoo_core.io.images import to_uint8

        return png_tag(to_uint8(x, self.spec.input), title, 160)

    def _repr_html_(self) -> str:
        rows = []
        for r in self.results:
            rec = r.record
            m = rec["measures"].get(rec["stage"], {})
            pred = rec.get("prediction") or {}
            decision = f"{pred.get('original')} → {pred.get('metamer')}" if pred else "—"
            name = _name(rec)
            measures = (f"<div>Spearman ρ {m.get('spearman', float('nan')):.3f}<br>Pearson r "
                        f"{m.get('pearson', float('nan')):.3f}<br>SNR {m.get('snr_db', float('nan')):.2f} dB<br>"
                        f"decision: {html.escape(decision)}<br><b>{html.escape(_verdict(rec))}</b></div>")
            rows.append([f"<div>{html.escape(name)}<br>{html.escape(rec['stage'])}</div>",
                         self._media(self.originals[name], f"{name} (original)"),
                         self._media(r.metamer, f"{name} metamer at {rec['stage']}"), measures])
        model = self.spec.id + (" (random weights)" if self and self[0].get("random_weights") else "")
        return ('<div style="overflow-x:auto">'
                + table(["input, stage", "original", "metamer", "measures at the stage (original → metamer)"], rows,
                        f"{model}: {len(self)} metamers")
                + "</div>")

    def plot(self) -> Any:
        """A matplotlib Figure: one row per input, its original then one column per stage (images, or cochleagrams
        for sounds), each metamer titled with its stage, Spearman ρ and verdict."""
        import matplotlib.pyplot as plt

        names = list(dict.fromkeys(_name(r.record) for r in self.results))
        stages = list(dict.fromkeys(r.record["stage"] for r in self.results))
        fig, axes = plt.subplots(len(names), 1 + len(stages), figsize=(2.6 * (1 + len(stages)), 2.7 * len(names)),
                                 squeeze=False)
        for i, name in enumerate(names):
            self._show(axes[i][0], self.originals[name], f"{name}\n(original)")
        for r in self.results:
            rec = r.record
            i, j = names.index(_name(rec)), 1 + stages.index(rec["stage"])
            rho = rec["measures"].get(rec["stage"], {}).get("spearman", float("nan"))
            self._show(axes[i][j], r.metamer, f"{rec['stage']}\nρ = {rho:.2f}, {_verdict(rec).split(' · ')[0]}")
        for ax in axes.flat:
            ax.set_axis_off()
        fig.tight_layout()
        return fig

    def _show(self, ax: Any, x: Any, title: str) -> None:
        if self.spec.modality == "audio":
            from ._sounds import cochleagram_of

            ax.imshow(cochleagram_of(x)[0], origin="lower", aspect="auto", cmap="Blues")
        else:
            from metazoo_core.io.images import to_uint8

            ax.imshow(to_uint8(x, self.spec.input), cmap="gray")
        ax.set_title(title, fontsize=8)


def _null_of(null: Any) -> NullDistribution | None:
    return NullDistribution.load(null) if isinstance(null, (str, Path)) else null


def generate(model: Any, inputs: Any, stages: Sequence[str] | str, iterations: int | None = None,
             blocks: int | None = None, init_step: float | None = None, null: Any = None,
             recipe: str | Recipe = "feather2023", seed: int = 0, batch_size: int = 8, out: Path | str | None = None,
             step_decay: float | None = None, noise_mean: float | None = None, noise_std: float | None = None,
             pretrained: bool = True, weights: str | None = None, device: str = "cpu",
             stop_loss: float | None = None, schedule: str | None = None, optimise: str | None = None,
             overwrite: bool = False) -> MetamerRun:
    """Model metamers of `inputs` at `stages` (the twin of `metazoo generate`, same names and defaults).

    model: id, spec or loaded model; inputs: what `load_inputs` accepts; stages: names, or "all".
    iterations × blocks: the schedule (study: 3000 steps per block × 8 blocks, step size halved each block);
    init_step: the first step size in input units (study: 1; a short schedule needs a larger one, e.g. 8);
    step_decay, noise_mean, noise_std: the recipe's other constants (study: 0.5; noise N(0.5, 0.05²) for images,
    N(0, 1e-14) for audio); null: a `NullDistribution` or its file, for the acceptance verdict (None: not
    evaluated); out: the run folder (resumable, readable by `recognise` and `build_report`; None keeps the run in
    memory only); pretrained=False: random weights (the CLI's `--random-weights`).
    Returns a `MetamerRun` (records, metamer tensors, originals; shows itself in a notebook).
    """
    from metazoo_core.metamer import generate_metamers
    from metazoo_core.metamer.recipes import tuned_recipe

    tuned = tuned_recipe(recipe, init_step=init_step, step_decay=step_decay, noise_mean=noise_mean,
                         noise_std=noise_std)
    wanted = spec_of(model).expand_stages([stages] if isinstance(stages, str) else list(stages))
    net = load_model(model, pretrained=pretrained, weights=weights, device=device, stages=wanted)
    items = load_inputs(inputs, net)
    core = generate_metamers(net, items, wanted, recipe=tuned, iterations=iterations, blocks=blocks, seed=seed,
                             batch_size=batch_size, out_dir=out, null=_null_of(null), device=device_of(net),
                             stop_loss=stop_loss, schedule=schedule, optimise=optimise, overwrite=overwrite)
    originals = {item.name: item.tensor for item in items}
    return MetamerRun(core.results, net.spec, originals, Path(out) if out is not None else None)


def build_null(model: Any, inputs: Any = "builtin", pairs: int = DEFAULT_NULL_PAIRS, seed: int = 0,
               augment: bool = True, batch_size: int = 16, stages: Sequence[str] | None = None,
               pairing: str = "auto", out: Path | str | None = None, pretrained: bool = True,
               weights: str | None = None, device: str = "cpu") -> NullDistribution:
    """A null distribution (the twin of `metazoo null`): Spearman ρ, Pearson r and SNR (dB) between the stage
    activations of `pairs` pairs of different natural inputs, every stage (or `stages`); its per-stage maxima are
    the acceptance thresholds of `generate`. `.values[stage][measure]` is a (pairs,) float64 tensor; `.max(stage)`
    the thresholds. pairing: "independent" (the study's), "blocked" (matrix products) or "auto" (blocked from 10,000
    pairs on). Nulls under 100 pairs are flagged as loose in every verdict (study: ~10⁶ pairs). With `out`, saved
    as .safetensors (reload with `NullDistribution.load`)."""
    from metazoo_core.metamer import build_null as _build

    net = load_model(model, pretrained=pretrained, weights=weights, device=device,
                     stages=list(stages) if stages else None)
    items = load_inputs(inputs, net)
    if pairing == "auto":
        pairing = "blocked" if pairs >= 10_000 else "independent"
    null = _build(net, items, pairs=pairs, seed=seed, augment=augment, batch_size=batch_size,
                  device=device_of(net), stages=stages, pairing=pairing)
    if out is not None:
        null.save(out)
    return null


def read_run(folder: Path | str) -> MetamerRun:
    """A run folder written by `generate(…, out=…)` or `metazoo generate` as a `MetamerRun` (tensors read from
    its .safetensors files: (C, H, W) images in the model's input range, (samples,) sounds; one model per run
    object — the first model of the folder)."""
    from safetensors.torch import load_file

    from metazoo_core.analysis.runs import read_run as _read
    from metazoo_core.errors import InputError
    from metazoo_core.plugins import get_spec

    run = _read(folder)
    if not run.items:
        raise InputError(f"{folder}: no metamer records found; generate some with `metazoo generate … --out`")
    model = run.models()[0]
    results, originals = [], {}
    for item in run.for_model(model):
        metamer = load_file(str(item.folder / item.record["files"]["tensor"]))["metamer"]
        results.append(MetamerResult(item.record, metamer))
        original = item.folder.parent / "original.safetensors"
        originals.setdefault(_name(item.record), load_file(str(original))["original"])
    return MetamerRun(results, get_spec(model), originals, Path(folder))
