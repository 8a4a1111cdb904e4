"""What the `eigendistort`, `mad` and `principal-distortions` commands do after parsing: load the models with the
true ReLU gradient (fake_relu=False, see the package docstring), load the inputs for them, run the method on all
inputs as one batch and write each input's result folder with its pictures or sounds.

Layouts: OUT/<model>/<input>/<stage>/ (eigendistortions), OUT/<model A>__<model B>/<input>/ (MAD),
OUT/principal/<input>/ (principal distortions); each holds tensors.safetensors, record.json and the media.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import InputError
from ..metamer.runs import safe_name, unique_names

DTYPES = {"float32": torch.float32, "float64": torch.float64}
AUDIO_CAVEAT = ("the cochleagram's hand-written backward clips the power compression's derivative and passes a fake "
                "ReLU (ClippedGradPower, docs/fidelity.md), so the Fisher matrix is that of the study's "
                "backward-defined Jacobian, not of the forward map's")


def caveats(model: Any) -> list[str]:
    """What a synthesis record must say about the gradients it used."""
    return [AUDIO_CAVEAT] if model.spec.modality == "audio" else []


@dataclass
class Loaded:
    """A model for synthesis: the `StagedModel` (fake_relu off, in `dtype`) and its notices."""

    model: Any
    notices: list[str]


def load_for_synthesis(model_id: str, stages: list[str], random_weights: bool, weights: str | None,
                       device: str, dtype: str) -> Loaded:
    """`load_model` with the true ReLU gradient, cast to `dtype` ("float32" or "float64"); the stages are checked."""
    from ..models import load_model
    from ..plugins import get_spec

    if dtype not in DTYPES:
        raise InputError(f"--dtype {dtype!r}: choose float32 or float64")
    spec = get_spec(model_id)
    model = load_model(spec, pretrained=not random_weights, weights=weights, device=device, fake_relu=False,
                       stages=stages)
    model.check_stages(stages)
    notices = [model.weights_notice] if model.weights_notice else []
    if model.random_weights:
        notices.append(f"'{spec.id}' runs with RANDOM weights (--random-weights): results describe an untrained "
                       "network")
    return Loaded(model.to(DTYPES[dtype]), notices)


def same_input(models: list[Any]) -> None:
    """One-line InputError unless all models take the same input (shape, range, sample rate)."""
    first = models[0].spec
    for m in models[1:]:
        a, b = first.input, m.spec.input
        if (a.shape, tuple(a.range), a.sample_rate) != (b.shape, tuple(b.range), b.sample_rate):
            raise InputError(f"models '{first.id}' and '{m.spec.id}' take different inputs ({a.shape} in {a.range} "
                             f"vs {b.shape} in {b.range}); compare models with the same input")


def batch(items: list[Any], device: str, dtype: str) -> tuple[torch.Tensor, list[str]]:
    """Loaded inputs → ((B, *input shape) on `device` in `dtype`, unique folder names)."""
    x = torch.stack([it.tensor for it in items]).to(device=device, dtype=DTYPES[dtype])
    return x, unique_names([it.name for it in items])


def save_media(x: torch.Tensor, path_stem: Path, spec: Any) -> Path:
    """A PNG (images: values truncated to the range, as the study's PNGs) or a float WAV (sounds, not clipped)."""
    if spec.modality == "audio":
        from ..io.audio import save_wav

        path = path_stem.with_suffix(".wav")
        save_wav(x.float(), path, spec.input.sample_rate)
    else:
        from ..io.images import save_png

        path = path_stem.with_suffix(".png")
        save_png(x.float(), path, spec.input)
    return path


def write_eigendistortions(results: list[Any], model: Any, stage: str, names: list[str], out: Path) -> list[dict]:
    """Each result's folder with x ± α·v for every eigendistortion; returns the records (with their folder)."""
    rows = []
    for res, name in zip(results, names):
        folder = out / safe_name(model.spec.id) / name / safe_name(stage)
        alpha = res.alpha(model.input_range)
        save_media(res.original, folder / "original", model.spec)
        for v, idx in zip(res.distortions, res.eigenindex.tolist()):
            for sign, tag in ((1, "plus"), (-1, "minus")):
                save_media(res.original + sign * alpha * v, folder / f"eigen{idx}_{tag}", model.spec)
        res.record.update(alpha=alpha, caveats=caveats(model))
        res.save(folder)
        rows.append({**res.record, "folder": str(folder)})
    return rows


def write_mad(results: list[Any], model_a: Any, model_b: Any, names: list[str], out: Path) -> list[dict]:
    rows = []
    for res, name in zip(results, names):
        folder = out / f"{safe_name(model_a.spec.id)}__{safe_name(model_b.spec.id)}" / name
        save_media(res.original, folder / "original", model_a.spec)
        for img, direction in zip(res.images, res.record["directions"]):
            save_media(img, folder / direction, model_a.spec)
        res.record["caveats"] = caveats(model_a) + caveats(model_b)
        res.save(folder)
        rows.append({**res.record, "folder": str(folder)})
    return rows


def write_principal(results: list[Any], model: Any, names: list[str], out: Path, scales: tuple[int, ...]) -> list[dict]:
    """Each result's folder with x + s·εᵢ for every display scale s (the authors show 100 and 200)."""
    rows = []
    for res, name in zip(results, names):
        folder = out / "principal" / name
        save_media(res.original, folder / "original", model.spec)
        for i, eps in enumerate(res.distortions, start=1):
            for s in scales:
                save_media(res.original + s * eps, folder / f"eps{i}_x{s}", model.spec)
        res.record.update(display_scales=list(scales), caveats=caveats(model))
        res.save(folder)
        rows.append({**res.record, "folder": str(folder)})
    return rows
