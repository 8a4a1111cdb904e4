"""`metazoo readout`: per-stage linear readouts of a model on a labelled image folder (the study's linear
evaluation, Supplementary Modeling Note 1)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..console import err, notice, out, pick_device, print_json


def _readout(
    model: str = typer.Argument(..., help="model id"),
    data: Path = typer.Option(..., "--data", help="DIR/<class>/<file>, or DIR/train/<class>/… and DIR/val/<class>/…"),
    stages: Optional[list[str]] = typer.Option(None, "--stage", "-s", help="stage (repeatable; default: every stage "
                                               "plus input_after_preproc)"),
    units: int = typer.Option(2048, "--units", help="activations kept per stage (study: 2048)"),
    epochs: int = typer.Option(10, "--epochs", help="study: 10"),
    batch_size: int = typer.Option(256, "--batch-size", help="study: 256"),
    max_lr: float = typer.Option(0.3, "--max-lr", help="peak of the one-cycle schedule (study: 0.3)"),
    initial_lr: float = typer.Option(3e-5, "--initial-lr", help="study: 3e-5"),
    final_lr: float = typer.Option(3e-9, "--final-lr", help="study: 3e-9"),
    warmup_fraction: float = typer.Option(0.3, "--warmup-fraction",
                                          help="fraction of training spent rising to the peak (study: 3 of 10 epochs)"),
    optimizer: str = typer.Option("sgd", "--optimizer", help="sgd or adam (not stated in the study; unverified)"),
    momentum: float = typer.Option(0.9, "--momentum", help="SGD momentum (unverified)"),
    weight_decay: float = typer.Option(0.0, "--weight-decay", help="(unverified)"),
    augment: bool = typer.Option(True, "--augment/--no-augment",
                                 help="random resized crop (0.08–1, ratio 3/4–4/3) + flip (study: on)"),
    crop_scale_low: float = typer.Option(0.08, "--crop-scale-low", help="study: 0.08"),
    flip_p: float = typer.Option(0.5, "--flip-p", help="study: 0.5"),
    standardize: bool = typer.Option(False, "--standardize", help="z-score the kept units (not in the study)"),
    val_fraction: float = typer.Option(0.2, "--val-fraction", help="held out per class when DIR has no train/val"),
    max_per_class: Optional[int] = typer.Option(None, "--max-per-class", help="use at most this many files per class"),
    seed: int = typer.Option(0, "--seed", help="seeds the unit subsample, the initialisation and the batch order"),
    out_dir: Path = typer.Option(Path("runs/readout"), "--out", "-o", help="results: OUT/<model>/s<seed>-<digest>/"),
    weights: Optional[str] = typer.Option(None, "--weights", help="checkpoint overriding the registry's"),
    random_weights: bool = typer.Option(False, "--random-weights", help="skip loading trained weights"),
    device: str = typer.Option("cpu", "--device", help="auto (best available), cpu, cuda, cuda:N or mps"),
    as_json: bool = typer.Option(False, "--json", help="print the records as JSON on stdout"),
) -> None:
    """Train a linear softmax readout on a random subsample of each stage's activations and report held-out
    top-1 / top-5 accuracy per stage. Resumable: stages with a result in the output folder are skipped.

    Python: metazoo.readout.
    """
    from metazoo_core.fileio import check_writable
    from metazoo_core.plugins import get_spec
    from metazoo_core.readout import ReadoutConfig
    from metazoo_core.registry import IMPLICIT_STAGE

    spec = get_spec(model)
    names = list(stages) if stages else [IMPLICIT_STAGE, *spec.stage_names]
    spec.check_stages(names)
    config = ReadoutConfig(units=units, epochs=epochs, batch_size=batch_size, max_lr=max_lr, initial_lr=initial_lr,
                           final_lr=final_lr, warmup_fraction=warmup_fraction, optimizer=optimizer, momentum=momentum,
                           weight_decay=weight_decay, augment=augment, crop_scale=(crop_scale_low, 1.0),
                           flip_p=flip_p, standardize=standardize)
    device = pick_device(device)
    check_writable(out_dir)
    device = pick_device(device)
    from metazoo_core.robustness.data import class_folders

    class_folders(data / "train" if (data / "train").is_dir() else data)  # layout mistakes: one line, before torch

    from metazoo_core.models import load_model
    from metazoo_core.readout.data import load_readout_data
    from metazoo_core.readout.run import format_top5, readout_dir, readout_stages

    train, val, layout = load_readout_data(data, spec, val_fraction, max_per_class)
    for m in train.notices:
        notice(m)
    net = load_model(spec, pretrained=not random_weights, weights=weights, device=device)
    folder = readout_dir(out_dir, spec.id, seed, config)
    err.print(f"{spec.id}: {len(train)} training and {len(val)} held-out images ({layout}), "
              f"{len(train.classes)} classes → {folder}", highlight=False)
    records = readout_stages(net, train, val, names, folder, config=config, seed=seed, device=device,
                             say=lambda m: err.print(m, highlight=False), meta={"data": str(data), "layout": layout})
    if as_json:
        print_json(list(records.values()))
        return
    from rich.table import Table

    table = Table(title=f"linear readout of {spec.id} ({len(val)} held-out images)")
    for col in ("stage", "units", "top-1", "top-5"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for s, r in records.items():
        table.add_row(s, f"{r['n_units']}/{r['n_features']}", f"{r['top1']:.3f}", format_top5(r.get("top5")))
    out.print(table)


def register(app: typer.Typer) -> None:
    app.command("readout")(_readout)
