"""Null distributions (facts §2.2): the measures between pairs of different natural inputs, per stage.

A metamer passes only if its Spearman ρ, Pearson r and dB SNR at its stage reach the null's MAXIMUM (facts §2.3).
`build_null` draws `pairs` pairs of two different inputs, augments each independently (training-style, see
`augment`), and measures every stage (and `input_after_preproc`) with `metazoo_core.measures` (pairing
"independent": two forwards per pair, the study's procedure). Pairing "blocked" (`null_blocked`) computes M
augmented views once and measures all pairs of views from different inputs by blocked matrix products: the same
marginal per pair, views reused across pairs, minutes instead of days for 10⁶ pairs. The file is one
safetensors: float64 tensors "<stage>/<measure>" of shape (pairs,), metadata "json" with the model id, weights hash,
and every parameter (no pickle).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ..errors import MetazooError
from ..fileio import save_tensors
from ..measures import MEASURES, all_measures
from ..registry import IMPLICIT_STAGE
from .augment import augment as augment_input

SCHEMA = "metazoo.null/1"


class NullError(MetazooError):
    pass


@dataclass
class NullDistribution:
    """Per-stage null values: `values[stage][measure]` is a (pairs,) float64 tensor of Spearman ρ, Pearson r (both in
    [-1, 1]) or SNR (dB) between the activations of two different natural inputs. `max(stage)` gives the acceptance
    thresholds; `save(path)` / `NullDistribution.load(path)` use .safetensors."""

    model: str
    weights_sha256: str | None
    """the checkpoint's sha256, or "params:<sha256>" of the parameters for random or constructed weights"""
    values: dict[str, dict[str, torch.Tensor]]
    params: dict[str, Any] = field(default_factory=dict)
    path: str | None = None

    @property
    def pairs(self) -> int:
        first = next(iter(self.values.values()))
        return int(first["spearman"].numel())

    @property
    def stages(self) -> list[str]:
        return list(self.values)

    def max(self, stage: str) -> dict[str, float]:
        """{"spearman", "pearson", "snr_db"}: the null's maximum at `stage` (the acceptance thresholds)."""
        if stage not in self.values:
            raise NullError(f"null distribution for '{self.model}' has no stage '{stage}'; "
                            f"it has {', '.join(self.values)}")
        return {m: float(self.values[stage][m].max()) for m in MEASURES}

    def check_model(self, model) -> None:
        """Raise NullError unless this null was built for `model` (same id and weights hash)."""
        if self.model != model.spec.id:
            raise NullError(f"null {self.path or ''} was built for '{self.model}', not '{model.spec.id}'; "
                            f"build one with `metazoo null {model.spec.id}`")
        from .runs import weights_identity

        mine = weights_identity(model)
        if self.weights_sha256 != mine:
            raise NullError(f"null {self.path or ''} was built with weights {str(self.weights_sha256)[:19]}, the "
                            f"model has {mine[:19]}; rebuild it with the same weights")

    def save(self, path: Path | str) -> Path:
        path = Path(path)
        tensors = {f"{s}/{m}": v.to(torch.float64) for s, per in self.values.items() for m, v in per.items()}
        meta = {"schema": SCHEMA, "model": self.model, "weights_sha256": self.weights_sha256, "params": self.params,
                "stages": self.stages}
        save_tensors(path, tensors, metadata={"schema": SCHEMA, "json": json.dumps(meta)})
        self.path = str(path)
        return path

    @classmethod
    def load(cls, path: Path | str) -> "NullDistribution":
        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise NullError(f"{path}: no such null file; build one with `metazoo null MODEL --out {path}`")
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = json.loads((f.metadata() or {}).get("json", "{}"))
                tensors = {k: f.get_tensor(k) for k in f.keys()}
        except Exception as e:
            raise NullError(f"{path}: not a readable null file ({' '.join(str(e).split())})") from None
        if meta.get("schema") != SCHEMA:
            raise NullError(f"{path}: not a metazoo null file (schema {meta.get('schema')!r})")
        values: dict[str, dict[str, torch.Tensor]] = {}
        for key, v in tensors.items():
            stage, _, measure = key.rpartition("/")
            values.setdefault(stage, {})[measure] = v
        ordered = {s: values[s] for s in meta.get("stages", values) if s in values}
        return cls(model=meta["model"], weights_sha256=meta.get("weights_sha256"), values=ordered,
                   params=meta.get("params", {}), path=str(path))


def all_stage_names(model) -> list[str]:
    """Every stage of the model in order, `input_after_preproc` first."""
    return [IMPLICIT_STAGE, *model.spec.stage_names]


def build_null(model, inputs: Sequence[Any], pairs: int, seed: int = 0, augment: bool = True,
               batch_size: int = 16, device: str = "cpu",
               progress: Callable[[int, int], None] | None = None,
               stages: Sequence[str] | None = None, pairing: str = "independent") -> NullDistribution:
    """Null distribution of `model` from `pairs` pairs of different natural inputs (LoadedImage/LoadedSound).

    `stages`: measure only these (plus input_after_preproc); default every stage. Pairs: two distinct inputs drawn
    uniformly; with `augment`, each member is augmented independently, so a
    small input set still yields many different pairs. Deterministic for a seed (CPU generator).
    `pairing`: "independent" (two fresh views per pair) or "blocked" (views computed once and reused across
    pairs, see `null_blocked`; `progress` then counts forwards, then stages).
    """
    if len(inputs) < 2:
        raise NullError(f"a null needs at least 2 different natural inputs, got {len(inputs)}")
    if pairs < 1:
        raise NullError(f"--pairs must be ≥ 1 (got {pairs})")
    spec = model.spec
    g = torch.Generator().manual_seed(int(seed))
    stages = (all_stage_names(model) if stages is None else
              [IMPLICIT_STAGE, *[s for s in model.check_stages(stages) if s != IMPLICIT_STAGE]])
    if pairing not in PAIRINGS:
        raise NullError(f"pairing must be one of {', '.join(PAIRINGS)} (got {pairing!r})")
    if pairing == "blocked":
        return _build_blocked(model, inputs, pairs, g, augment, batch_size, device, progress, stages, seed)
    chunks: dict[str, dict[str, list[torch.Tensor]]] = {s: {m: [] for m in MEASURES} for s in stages}
    drawn: list[list[int]] = []
    done = 0
    while done < pairs:
        n = min(batch_size, pairs - done)
        first, second = [], []
        for _ in range(n):
            i, j = torch.randperm(len(inputs), generator=g)[:2].tolist()
            drawn.append([i, j])
            a, b = inputs[i].tensor, inputs[j].tensor
            if augment:
                a = _augment(a, g, spec, model.input_range)
                b = _augment(b, g, spec, model.input_range)
            first.append(a)
            second.append(b)
        batch = torch.stack(first + second).to(device)
        with torch.no_grad():
            acts = model(batch, stages)
        for s in stages:
            flat = acts[s].reshape(2 * n, -1)
            for m, v in all_measures(flat[:n], flat[n:]).items():
                chunks[s][m].append(v.cpu())
        done += n
        if progress is not None:
            progress(done, pairs)
    values = {s: {m: torch.cat(v) for m, v in per.items()} for s, per in chunks.items()}
    params = {**_params(model, inputs, pairs, seed, augment), "pairing": "independent", "pair_indices": drawn}
    from .runs import weights_identity

    return NullDistribution(model=spec.id, weights_sha256=weights_identity(model), values=values, params=params)


PAIRINGS = ("independent", "blocked")


def _params(model, inputs, pairs: int, seed: int, augment: bool) -> dict[str, Any]:
    return {"pairs": pairs, "seed": seed, "augment": augment, "n_inputs": len(inputs),
            "inputs": [getattr(x, "source", "") or getattr(x, "name", "") for x in inputs],
            "augmentation": ("images: RandomResizedCrop(0.08-1, 3/4-4/3), flip, ColorJitter(0.1,0.1,0.1), "
                             "PCA lighting 0.05; audio: circular shift, gain U(-10,10) dB") if augment else None,
            "weights_source": model.weights_source}


def _build_blocked(model, inputs, pairs: int, g: torch.Generator, augment: bool, batch_size: int, device: str,
                   progress, stages: list[str], seed: int) -> NullDistribution:
    """Pairing "blocked": view v is input v mod K, augmented independently, drawn in order from `g`."""
    from .null_blocked import blocked_values, pair_count, views_for
    from .runs import weights_identity

    k = len(inputs)
    n_views = views_for(pairs, k)

    def view(v: int) -> torch.Tensor:
        x = inputs[v % k].tensor
        return _augment(x, g, model.spec, model.input_range) if augment else x.float()

    values = blocked_values(model, view, n_views, k, pairs, stages, device=device, batch_size=batch_size,
                            progress=progress)
    params = {**_params(model, inputs, pairs, seed, augment), "pairing": "blocked", "views": n_views,
              "pairs_available": pair_count(n_views, k),
              "view_inputs": "view v is input v mod n_inputs; pairs (v < w, different inputs) numbered row by row, "
                             "the first `pairs` kept; orig = view v"}
    return NullDistribution(model=model.spec.id, weights_sha256=weights_identity(model), values=values, params=params)


def _augment(x: torch.Tensor, g: torch.Generator, spec, value_range) -> torch.Tensor:
    return augment_input(x.float(), g, spec.modality, value_range)
