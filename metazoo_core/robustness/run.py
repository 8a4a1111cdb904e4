"""The robustness use case, once for the CLI (`metazoo robustness`) and the sweep runner (robustness units):
settings with the study's attack defaults, the label rule, the attack space, and the `metazoo.robustness/1` record.

    settings = RobustnessSettings(norm="linf", eps=[0, 0.001]).checked(spec)     # no torch
    data = load_labelled(sources, spec, settings)                              # x (N, *input shape), rule
    record = evaluate_robustness(model, data, settings, device="cpu")          # the record (plain JSON types)

The label rule ("auto"): one folder of class subfolders → the folders' labels ("folder"); otherwise the model's
clean decision on each input ("predicted"). Fooling images need no inputs ("random-target").
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from ..errors import InputError

SCHEMA = "metazoo.robustness/1"
ATTACK_DEFAULTS = {"untargeted": (64, 0.25), "fooling": (64, 0.25), "feature": (128, 1 / 16)}
"""The study's PGD: untargeted and fooling images 64 steps of ε/4; feature adversaries 128 steps of ε/16."""
LABEL_RULES = ("auto", "predicted", "folder")


@dataclass(frozen=True)
class RobustnessSettings:
    """What to measure. norm: l1, l2 or linf. eps: the ε grid (input units). attack: untargeted (accuracy),
    fooling (images from noise) or feature (adversaries matching `stage`). steps/step_ratio: PGD steps and step
    size as a fraction of ε (None: the study's, ATTACK_DEFAULTS). subsets × n: random subsets for mean ± SEM,
    drawn with `seed`. labels: auto, predicted or folder. where: input, or cochleagram (audio models)."""

    norm: str
    eps: list[float]
    attack: str = "untargeted"
    stage: str | None = None
    subsets: int = 5
    n: int = 1024
    steps: int | None = None
    step_ratio: float | None = None
    labels: str = "auto"
    where: str = "input"
    batch_size: int = 16
    seed: int = 0
    notices: list[str] = field(default_factory=list)

    def checked(self, spec: Any) -> "RobustnessSettings":
        """Validated, with the study's defaults filled in; one InputError line per mistake (no torch)."""
        from .grids import check_eps, check_norm

        norm = check_norm(self.norm)
        grid, notices = check_eps(list(self.eps))
        if self.attack not in ATTACK_DEFAULTS:
            raise InputError(f"--attack must be untargeted, fooling or feature, not '{self.attack}'")
        steps = ATTACK_DEFAULTS[self.attack][0] if self.steps is None else int(self.steps)
        ratio = ATTACK_DEFAULTS[self.attack][1] if self.step_ratio is None else float(self.step_ratio)
        if self.subsets < 1 or self.n < 1 or steps < 0 or not (0 < ratio <= 1) or self.batch_size < 1:
            raise InputError("--subsets, --n and --batch-size must be ≥ 1, --steps ≥ 0 and 0 < --step-ratio ≤ 1")
        if self.labels not in LABEL_RULES:
            raise InputError(f"--labels must be auto, predicted or folder, not '{self.labels}'")
        if self.where not in ("input", "cochleagram"):
            raise InputError(f"--where must be input or cochleagram, not '{self.where}'")
        if self.attack == "feature":
            if self.stage is None:
                raise InputError(f"--attack feature needs --stage (one of {', '.join(spec.stage_names)})")
            spec.check_stages([self.stage])
            if self.where != "input":
                raise InputError("feature adversaries perturb the input; drop --where")
        if self.attack == "fooling" and self.where != "input":
            raise InputError("fooling images start from input noise; drop --where")
        return replace(self, norm=norm, eps=grid, steps=steps, step_ratio=ratio, notices=notices)

    def describe(self) -> str:
        what = {"untargeted": "untargeted PGD", "fooling": "fooling images",
                "feature": f"feature adversaries at {self.stage}"}[self.attack]
        return f"{self.norm} {what} ({self.steps} steps of ε·{self.step_ratio:g}) at the {self.where}"


@dataclass
class LabelledInputs:
    """Inputs for an attack: x (N, *input shape) in the model's range, y (N,) labels or None (= the model's clean
    decision, computed by `evaluate_robustness`), the label rule, notices, and per-input problems."""

    sources: list[str]
    x: Any = None
    y: Any = None
    rule: str = "predicted"
    notices: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def load_labelled(sources: list[str], spec: Any, settings: RobustnessSettings) -> LabelledInputs:
    """The inputs and the label rule (see the module docstring); raises one line when nothing is usable."""
    import torch

    from ..inputs import load_many
    from .data import has_class_folders, load_folder

    if settings.attack == "fooling":
        return LabelledInputs(sources, rule="random-target")
    folder = len(sources) == 1 and has_class_folders(sources[0])
    if settings.labels == "folder" and not folder:
        raise InputError("--labels folder needs one --inputs folder with class subfolders")
    if folder and settings.labels != "predicted":
        data = load_folder(sources[0], spec)
        notices = list(data.notices)
        if not all(c.isdigit() for c in data.classes):
            shown = ", ".join(data.classes[:3]) + (", …" if len(data.classes) > 3 else "")
            notices.append(f"class folders ({shown}) are not output indices, so labels are their positions "
                           "0…K-1; name folders by output index (e.g. 281) or use --labels predicted")
        return LabelledInputs(sources, data.x, data.y, "folder", notices)
    items, problems = load_many(sources, spec)
    if not items:
        raise InputError(f"no usable inputs among {', '.join(sources)}"
                         + (f" ({problems[0]})" if problems else ""))
    notices = [m for item in items for m in item.notices]
    return LabelledInputs(sources, torch.stack([it.tensor.float() for it in items]), None, "predicted", notices,
                          problems)


def attack_space(net: Any, where: str) -> tuple[Callable, Any, Callable]:
    """(forward, bounds, to_space) for attacks at the input, or at the cochleagram (a ReLU after it, as the study's
    audio models apply one to the cochleagram)."""
    import torch

    if where == "input":
        return net.logits, net.input_range, lambda x: x
    if net.spec.modality != "audio" or "front" not in net.parts or "back" not in net.parts:
        raise InputError(f"'{net.spec.id}' has no cochleagram front/back parts; attack the input (--where input)")
    front, back = net.parts["front"], net.parts["back"]
    return (lambda c: back(torch.relu(c))), None, (lambda x: front(net.preprocess(x)))


def evaluate_robustness(net: Any, data: LabelledInputs, settings: RobustnessSettings, device: str = "cpu",
                        progress: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Run the attack of `settings` (already `checked`) on `data` and return the `metazoo.robustness/1` record:
    the evaluation's fields (metric, results [{eps, mean, sem, per_subset}], subsets, n, …) plus model, weights,
    where, labels, stage, inputs, notices, versions, device, wall_time_s and completed."""
    import torch

    from . import evaluate

    start = time.perf_counter()
    s = settings
    common = dict(norm=s.norm, eps=s.eps, subsets=s.subsets, n=s.n, seed=s.seed, steps=s.steps,
                  step_ratio=s.step_ratio, batch_size=s.batch_size, progress=progress)
    x = y = None
    if data.x is not None:
        x = data.x.to(device)
        y = data.y
        if y is None:
            with torch.no_grad():
                y = torch.cat([net.logits(x[i:i + s.batch_size]).argmax(1) for i in range(0, len(x), s.batch_size)])
        y = y.to(device)
    if s.attack == "untargeted":
        forward, bounds, to_space = attack_space(net, s.where)
        with torch.no_grad():
            x = torch.cat([to_space(x[i:i + s.batch_size]) for i in range(0, len(x), s.batch_size)])
        result = evaluate.accuracy_vs_eps(forward, x, y, bounds=bounds, **common)
    elif s.attack == "fooling":
        n_out = net.logits(torch.full(net.input_shape(1), sum(net.input_range) / 2, device=device)).shape[1]
        result = evaluate.fooling_vs_eps(net.logits, net.spec.input.shape, n_out, bounds=net.input_range,
                                         noise_mean=net.spec.metamer.noise_mean, noise_std=net.spec.metamer.noise_std,
                                         device=device, **common)
    else:
        result = evaluate.feature_adversaries_vs_eps(lambda z: net(z, [s.stage])[s.stage], net.logits, x, y,
                                                     bounds=net.input_range, **common)
    return robustness_record(net, data, s, result, device, time.perf_counter() - start)


def robustness_record(net: Any, data: LabelledInputs, settings: RobustnessSettings, result: dict[str, Any],
                      device: str, wall_time_s: float) -> dict[str, Any]:
    """The one builder of `metazoo.robustness/1` records."""
    from ..metamer.runs import versions

    return {"schema": SCHEMA, "model": net.spec.id, "weights_sha256": net.weights_sha256,
            "weights_source": net.weights_source, "random_weights": net.random_weights,
            "where": settings.where,
            "labels": data.rule, "stage": settings.stage,
            "inputs": data.sources if settings.attack != "fooling" else None, **result,
            "notices": [*settings.notices, *data.notices, *data.problems, *result.get("notices", [])],
            "versions": versions(), "device": device, "wall_time_s": round(wall_time_s, 3),
            "completed": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
