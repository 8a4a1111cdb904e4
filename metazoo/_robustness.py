"""Robustness: the twin of `metazoo robustness` (accuracy vs ε under PGD, a result that draws its curve) and single
adversarial examples to look at."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from ._display import figure_tag, table
from ._models import device_of, load_inputs, load_model

__all__ = ["RobustnessResult", "adversarial", "robustness"]


@dataclass
class RobustnessResult:
    """A `metazoo.robustness/1` record (`.record`, the JSON `metazoo robustness` writes) with its curve:
    `.curve` is [(ε in input units, mean, SEM)], mean and SEM as fractions in [0, 1] (accuracy for untargeted
    attacks, success for fooling images and feature adversaries) over `record["subsets"]` random subsets of
    `record["n"]` inputs. Shows itself as the curve and its table; `.plot()` returns the Figure."""

    record: dict[str, Any]

    @property
    def curve(self) -> list[tuple[float, float, float]]:
        return [(r["eps"], r["mean"], r["sem"]) for r in self.record["results"]]

    def _title(self) -> str:
        r = self.record
        return f"{r['model']}: {r['norm']} {r['attack']} · {r['subsets']}×{r['n']}"

    def plot(self) -> Any:
        """Accuracy (or attack success) in % vs ε (symlog axis, so ε = 0 shows) with SEM bars: a Figure."""
        from metazoo_core.robustness.evaluate import accuracy_figure

        return accuracy_figure(self.record, self._title())

    def _repr_html_(self) -> str:
        metric = "accuracy %" if self.record["metric"] == "accuracy" else "success %"
        rows = [[f"{e:.4g}", f"{100 * m:.1f}", f"{100 * s:.1f}"] for e, m, s in self.curve]
        return (figure_tag(self.plot(), f"robustness curve of {self._title()}", 420)
                + table(["ε", metric, "SEM %"], rows, self._title()))


def robustness(model: Any, eps: Sequence[float], norm: str = "linf", inputs: Any = "builtin",
               attack: str = "untargeted", stage: str | None = None, subsets: int = 5, n: int = 1024,
               steps: int | None = None, step_ratio: float | None = None, labels: str = "auto",
               where: str = "input", batch_size: int = 16, seed: int = 0, pretrained: bool = True,
               weights: str | None = None, device: str = "cpu") -> RobustnessResult:
    """Accuracy vs ε (the twin of `metazoo robustness`, same names and defaults): untargeted white-box PGD (study:
    64 steps of ε/4, no random start, best iterate), or fooling images / feature adversaries (`attack`);
    mean ± SEM over `subsets` random subsets of `n` inputs (study: 5 × 1024; capped at what `inputs` holds).
    eps: the ε grid in input units (images in [0, 1]: e.g. [0, 1/255, 4/255]; the study's L∞ training ε is 8/255);
    norm: "l1", "l2" or "linf"; labels: "auto", "predicted" (the model's clean decision) or "folder"."""
    from metazoo_core.plugins import get_spec
    from metazoo_core.robustness.run import RobustnessSettings, evaluate_robustness, load_labelled

    net = load_model(model, pretrained=pretrained, weights=weights, device=device)
    spec = get_spec(net.spec.id) if isinstance(model, str) else net.spec
    settings = RobustnessSettings(norm=norm, eps=list(eps), attack=attack, stage=stage, subsets=subsets, n=n,
                                  steps=steps, step_ratio=step_ratio, labels=labels, where=where,
                                  batch_size=batch_size, seed=seed).checked(spec)
    sources = [inputs] if isinstance(inputs, str) else [str(s) for s in inputs]
    data = load_labelled(sources, spec, settings)
    return RobustnessResult(evaluate_robustness(net, data, settings, device=device_of(net)))


@dataclass
class Adversarial:
    """Untargeted adversarial examples: `.original` and `.adversarial` (N, *input shape) in the model's range,
    `.eps` (input units), `.norm`, `.before` and `.after` (the model's top label per input). Shows originals beside
    adversarial examples and their amplified difference."""

    spec: Any = field(repr=False)
    names: list[str]
    original: Any = field(repr=False)
    adversarial: Any = field(repr=False)
    eps: float
    norm: str
    before: list[str]
    after: list[str]

    def _repr_html_(self) -> str:
        from metazoo_core.io.images import to_uint8

        from ._display import png_tag

        rows = []
        for i, name in enumerate(self.names):
            diff = self.adversarial[i] - self.original[i]
            scale = float(diff.abs().max()) or 1.0
            lo, hi = self.spec.input.range
            shown = (diff / (2 * scale)) * (hi - lo) + (lo + hi) / 2
            rows.append([name, png_tag(to_uint8(self.original[i], self.spec.input), f"{name}"), self.before[i],
                         png_tag(to_uint8(self.adversarial[i], self.spec.input), f"{name} adversarial"),
                         self.after[i], png_tag(to_uint8(shown, self.spec.input), f"{name} difference")])
        return table(["input", "original", "decision", f"adversarial ({self.norm} ε = {self.eps:g})", "decision",
                      "difference (amplified)"], rows, f"{self.spec.id}: untargeted PGD")


def adversarial(model: Any, inputs: Any, eps: float, norm: str = "linf", steps: int = 64,
                step_ratio: float = 0.25) -> Adversarial:
    """Untargeted PGD adversarial examples of images against the model's own clean decision (study: 64 steps of
    ε/4, best iterate): eps in input units (images in [0, 1], e.g. 4/255). Returns an `Adversarial` with the
    examples and the model's top ImageNet label before and after."""
    import torch

    from metazoo_core.labels import imagenet_names
    from metazoo_core.robustness.attacks import adversarial_examples

    net = load_model(model)
    items = load_inputs(inputs, net)
    x = torch.stack([it.tensor for it in items]).to(device_of(net))
    with torch.no_grad():
        y = net.logits(x).argmax(1)
    adv = adversarial_examples(net.logits, x, y, norm=norm, eps=[eps], steps=steps, step_ratio=step_ratio,
                               bounds=net.input_range)[eps]
    with torch.no_grad():
        y_adv = net.logits(adv).argmax(1)
    names = imagenet_names() if net.spec.classifier in ("imagenet1000", "zeroshot_imagenet") else None

    def label(i: Any) -> str:
        return names[int(i)] if names else str(int(i))

    return Adversarial(net.spec, [it.name for it in items], x.cpu(), adv.cpu(), eps, norm, [label(i) for i in y],
                       [label(i) for i in y_adv])
