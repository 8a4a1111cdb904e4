"""`metazoo predict`: a model's top classes (and 16-way category) for natural inputs."""
from __future__ import annotations

from typing import Optional

import typer

from metazoo_core.caveats import RANDOM_WEIGHTS

from ..console import load_inputs, notice, out, pick_device, print_json


def predict_inputs(model: str, inputs: list[str], top: int = 5, weights: Optional[str] = None,
                   random_weights: bool = False, device: str = "cpu") -> tuple[list[dict], int]:
    """Top-k predictions per input; returns (rows, number of inputs that failed)."""
    import torch

    from metazoo_core.errors import InputError
    from metazoo_core.labels import WORD_ORDER_NOTE, audio_output_names, imagenet_names, predict_labels
    from metazoo_core.models import load_model
    from metazoo_core.plugins import get_spec

    if top < 1:
        raise InputError(f"--top {top}: give at least 1 class")
    spec = get_spec(model)
    device = pick_device(device)
    net = load_model(spec, pretrained=not random_weights, weights=weights, device=device)
    if net.weights_notice:
        notice(net.weights_notice)
    imagenet = spec.classifier in ("imagenet1000", "zeroshot_imagenet")
    names = imagenet_names() if imagenet else None
    items, failed = load_inputs(inputs, spec)
    rows = []
    for item in items:
        with torch.no_grad():
            logits = net.logits(item.tensor.unsqueeze(0).to(device)).cpu()
        if names is None and spec.modality == "audio":
            names = audio_output_names(logits.shape[1])
            if names is not None:
                notice(WORD_ORDER_NOTE)
        probs = logits.softmax(dim=1)[0]
        if top > probs.numel():
            notice(f"--top {top}: {model} has {probs.numel()} classes; showing all of them")
            top = probs.numel()
        values, idx = probs.topk(top)
        rows.append({
            "input": item.name,
            "category16": predict_labels(logits, spec.classifier)[0] if imagenet else None,
            "random_weights": net.random_weights,
            "top": [{"index": int(i), "label": names[int(i)] if names else str(int(i)), "p": round(float(v), 4)}
                    for v, i in zip(values, idx)],
        })
    return rows, failed


def _predict(
    model: str = typer.Argument(..., help="model id"),
    inputs: list[str] = typer.Argument(..., help="files, folders, builtin:NAME or builtin"),
    top: int = typer.Option(5, "--top", help="how many classes (at least 1; capped at the model's classes)"),
    weights: Optional[str] = typer.Option(None, "--weights", help="checkpoint overriding the registry's"),
    random_weights: bool = typer.Option(False, "--random-weights",
                                        help="skip loading trained weights (every line then says RANDOM weights)"),
    device: str = typer.Option("cpu", "--device", help="auto (best available), cpu, cuda, cuda:N or mps"),
    as_json: bool = typer.Option(False, "--json", help="print the predictions as JSON on stdout"),
) -> None:
    """Classify natural inputs: top-k classes with probabilities (and the study's 16-way category)."""
    rows, failed = predict_inputs(model, inputs, top, weights, random_weights, device)
    if as_json:
        print_json(rows)
    else:
        for r in rows:
            cat = f" [16-way: {r['category16']}]" if r["category16"] else ""
            random = f" [{RANDOM_WEIGHTS}]" if r["random_weights"] else ""
            out.print(f"{r['input']}{cat}: " + ", ".join(f"{t['label']} {t['p']:.3f}" for t in r["top"]) + random,
                      highlight=False, markup=False)
    if failed:
        raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    app.command("predict")(_predict)
