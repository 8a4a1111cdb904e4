"""`metazoo predict`: a model's top classes (and 16-way category) for natural inputs."""
from __future__ import annotations

from typing import Optional

import typer

from metazoo_core.caveats import RANDOM_WEIGHTS

from ..console import load_inputs, notice, out, pick_device, print_json


def predict_inputs(model: str, inputs: list[str], top: int = 5, weights: Optional[str] = None,
                   random_weights: bool = False, device: str = "cpu") -> tuple[list[dict], int]:
    """Load, classify, print notices; returns (rows, number of inputs that failed)."""
    from metazoo_core.errors import InputError
    from metazoo_core.models import load_model
    from metazoo_core.plugins import get_spec
    from metazoo_core.predict import predict

    if top < 1:  # before anything loads
        raise InputError(f"--top {top}: give at least 1 class")
    spec = get_spec(model)
    device = pick_device(device)
    net = load_model(spec, pretrained=not random_weights, weights=weights, device=device)
    if net.weights_notice:
        notice(net.weights_notice)
    items, failed = load_inputs(inputs, spec)
    rows, notices = predict(net, items, top, device)
    for line in notices:
        notice(line)
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
    """Classify natural inputs: top-k classes with probabilities (and the study's 16-way category).

    Python: metazoo.predict.
    """
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
