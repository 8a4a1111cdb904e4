"""`metazoo robustness` (accuracy vs ε under PGD) and `metazoo train` (standard, adversarial or random-perturbation
training of a registered model on a labelled folder)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import typer

from metazoo_core.caveats import RANDOM_WEIGHTS

from ..console import PlainProgress, err, notice, out, pick_device, print_json, problem

NORM_HELP = "l1, l2 or linf"


def parse_eps(text: str) -> list[float]:
    """'0,0.5,1' or 'log:LOW:HIGH[:PER_DECADE]' ({0} ∪ log-spaced, the seed's grids) → list of ε."""
    from metazoo_core.errors import InputError

    text = text.strip()
    if text.startswith("log:"):
        parts = text[4:].split(":")
        try:
            low, high = float(parts[0]), float(parts[1])
            per = int(parts[2]) if len(parts) > 2 else 2
        except (ValueError, IndexError):
            raise InputError(f"--eps '{text}': write log:LOW:HIGH[:PER_DECADE], e.g. log:1e-3:1e1:2") from None
        from metazoo_core.robustness.grids import log_grid

        return log_grid(low, high, per)
    values = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        try:
            values.append(float(part))
        except ValueError:
            raise InputError(f"--eps: '{part}' is not a number; give e.g. 0,0.5,1 or log:1e-3:1e1") from None
    return values


def _robustness(
    model: str = typer.Argument(..., help="model id"),
    norm: str = typer.Option("linf", "--norm", help=NORM_HELP),
    eps: str = typer.Option(..., "--eps", help="ε grid: numbers '0,0.001,0.004' or log:LOW:HIGH[:PER_DECADE]"),
    inputs: list[str] = typer.Option(
        ["builtin"], "--inputs", "-i",
        help="builtin, files, a flat folder, or a folder of class subfolders (repeatable)"),
    attack: str = typer.Option("untargeted", "--attack",
                               help="untargeted (accuracy), fooling (images from noise) or feature (adversaries)"),
    stage: Optional[str] = typer.Option(None, "--stage", help="stage whose activations feature adversaries match"),
    subsets: int = typer.Option(5, "--subsets", help="random subsets for the SEM (study: 5)"),
    n: int = typer.Option(1024, "--n", help="examples per subset (study: 1024; capped at what is available)"),
    steps: Optional[int] = typer.Option(None, "--steps", help="PGD steps (study: 64; feature adversaries 128)"),
    step_ratio: Optional[float] = typer.Option(None, "--step-ratio",
                                               help="step size as a fraction of ε (study: 1/4; feature 1/16)"),
    labels: str = typer.Option("auto", "--labels",
                               help="auto, predicted (the model's clean decision) or folder (class subfolders)"),
    where: str = typer.Option("input", "--where", help="input (image/waveform) or cochleagram (audio)"),
    batch_size: int = typer.Option(16, "--batch-size", help="examples attacked together (memory, not results)"),
    seed: int = typer.Option(0, "--seed", help="seed of the subset draws"),
    out_dir: Path = typer.Option(Path("runs/robustness"), "--out", "-o", help="folder for JSON and plot"),
    weights: Optional[str] = typer.Option(None, "--weights", help="checkpoint overriding the registry's"),
    random_weights: bool = typer.Option(False, "--random-weights", help="skip loading trained weights"),
    device: str = typer.Option("cpu", "--device", help="auto (best available), cpu, cuda, cuda:N or mps"),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON on stdout"),
) -> None:
    """Accuracy vs ε under untargeted white-box PGD (study: 64 steps of ε/4, no random start, best iterate), or the
    success of fooling images / feature adversaries; mean ± SEM over random subsets; writes
    OUT/<model>_<attack>_<norm>.json and .png.

    Python: metazoo.robustness (one example: metazoo.adversarial).
    """
    from metazoo_core.fileio import check_writable, write_json
    from metazoo_core.plugins import get_spec
    from metazoo_core.robustness.run import RobustnessSettings, evaluate_robustness, load_labelled

    spec = get_spec(model)
    device = pick_device(device)
    settings = RobustnessSettings(norm=norm, eps=parse_eps(eps), attack=attack, stage=stage, subsets=subsets, n=n,
                                  steps=steps, step_ratio=step_ratio, labels=labels, where=where,
                                  batch_size=batch_size, seed=seed).checked(spec)
    for m in settings.notices:
        notice(m)
    check_writable(out_dir)

    data = load_labelled(inputs, spec, settings)
    for m in data.problems:
        problem(m)
    for m in data.notices:
        notice(m)

    from metazoo_core.models import load_model
    from metazoo_core.robustness.evaluate import plot_accuracy

    net = load_model(spec, pretrained=not random_weights, weights=weights, device=device)
    err.print(f"{spec.id}: {settings.describe()}, {len(settings.eps)} ε values", highlight=False)
    plain, done = PlainProgress(every_s=0), []
    result = evaluate_robustness(net, data, settings, device=device, progress=lambda e: (
        done.append(e), plain("  robustness", len(done), len(settings.eps), f"ε values, ε = {e:g} done")))
    for m in result["notices"][len(settings.notices) + len(data.notices) + len(data.problems):]:
        notice(m)
    stem = out_dir / f"{spec.id}_{settings.attack}_{settings.norm}"
    random = f" · {RANDOM_WEIGHTS.split(' (')[0]}" if net.random_weights else ""
    write_json(stem.with_suffix(".json"), result)
    title = f"{spec.id}: {settings.describe()} · {result['subsets']}×{result['n']} ({data.rule} labels){random}"
    plot_accuracy(result, stem.with_suffix(".png"), title)
    if as_json:
        print_json(result)
    else:
        from rich.table import Table

        metric = "accuracy %" if result["metric"] == "accuracy" else "success %"
        table = Table(title=f"{spec.id}: {settings.describe()} ({data.rule} labels){random}")
        for col in ("ε", metric, "SEM %", *(["weights"] if random else [])):
            table.add_column(col, justify="right")
        for r in result["results"]:
            table.add_row(f"{r['eps']:.4g}", f"{100 * r['mean']:.1f}", f"{100 * r['sem']:.1f}",
                          *(["RANDOM"] if random else []))
        out.print(table)
    if random:
        notice(f"computed with {RANDOM_WEIGHTS}")
    err.print(f"wrote {stem.with_suffix('.json')} and {stem.with_suffix('.png')}", highlight=False)


_STUDY_EPS = {("vision", "input", "l2"): 3.0, ("vision", "input", "linf"): 8 / 255,
              ("audio", "input", "l2"): 1.0, ("audio", "input", "linf"): 0.002, ("audio", "cochleagram", "l2"): 1.0}


def _train(
    model: str = typer.Argument(..., help="model id (built with random weights unless --pretrained/--weights)"),
    data_dir: Path = typer.Option(..., "--data", help="training folder: DIR/<class>/<image or sound file>"),
    eval_dir: Optional[Path] = typer.Option(None, "--eval-data", help="evaluation folder, same layout"),
    adversarial: Optional[str] = typer.Option(None, "--adversarial", help="adversarial training: l2 or linf"),
    random_pert: Optional[str] = typer.Option(None, "--random", help="random-perturbation training: l2 or linf"),
    eps: Optional[float] = typer.Option(None, "--eps", help="perturbation size (default: the study's for the norm)"),
    where: str = typer.Option("input", "--where", help="input, or cochleagram (audio)"),
    steps: Optional[int] = typer.Option(None, "--steps", help="attack steps (study: 7 vision, 5 audio)"),
    step_size: Optional[float] = typer.Option(None, "--step-size", help="attack step (study: ε/2)"),
    epochs: int = typer.Option(1, "--epochs", help="passes over the training data"),
    batch_size: int = typer.Option(32, "--batch-size", help="images per SGD step"),
    lr: float = typer.Option(0.1, "--lr", help="SGD learning rate at the start"),
    momentum: float = typer.Option(0.9, "--momentum", help="SGD momentum"),
    weight_decay: float = typer.Option(1e-4, "--weight-decay", help="SGD weight decay (L2 penalty)"),
    lr_step: int = typer.Option(50, "--lr-step", help="divide the learning rate by 10 every this many epochs"),
    checkpoint_every: int = typer.Option(100, "--checkpoint-every", help="steps between checkpoints (0 = epochs only)"),
    eval_steps: int = typer.Option(64, "--eval-steps", help="PGD steps of the final robustness evaluation"),
    max_per_class: Optional[int] = typer.Option(None, "--max-per-class", help="use at most this many files per class"),
    seed: int = typer.Option(0, "--seed", help="seeds the data order and every random draw (per epoch and batch)"),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="run folder (default runs/train/<model>)"),
    no_resume: bool = typer.Option(False, "--no-resume", help="ignore an existing checkpoint and start over"),
    pretrained: bool = typer.Option(False, "--pretrained", help="start from the registry's weights"),
    weights: Optional[str] = typer.Option(None, "--weights", help="start from this checkpoint"),
    device: str = typer.Option("cpu", "--device", help="auto (best available), cpu, cuda, cuda:N or mps"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON on stdout"),
) -> None:
    """Train a registered model on a labelled folder: standard, adversarial (PGD) or random-perturbation training,
    with progress, periodic safetensors checkpoints, resume, and a final evaluation.

    Python: metazoo_core.robustness.training.train (no facade twin yet).
    """
    from metazoo_core.errors import InputError
    from metazoo_core.fileio import check_writable
    from metazoo_core.plugins import get_spec

    spec = get_spec(model)
    device = pick_device(device)
    if adversarial and random_pert:
        raise InputError("choose one of --adversarial and --random")
    kind, norm = (("adversarial", adversarial) if adversarial
                  else ("random", random_pert) if random_pert else ("none", None))
    if kind == "none" and (eps is not None or steps is not None or step_size is not None):
        raise InputError("--eps/--steps/--step-size need --adversarial l2|linf or --random l2|linf")
    if epochs < 1 or batch_size < 1 or lr <= 0 or lr_step < 1 or checkpoint_every < 0:
        raise InputError("--epochs, --batch-size, --lr-step must be ≥ 1, --lr > 0 and --checkpoint-every ≥ 0")
    from metazoo_core.robustness.settings import TrainConfig, study_perturbation

    if kind != "none":
        norm = norm.lower()
        if norm not in ("l2", "linf"):
            raise InputError(f"--{'adversarial' if kind == 'adversarial' else 'random'} {norm}: training "
                             "perturbations are l2 or linf (the study's)")
        if eps is None:
            eps = _STUDY_EPS.get((spec.modality, where, norm))
            if eps is None:
                raise InputError(f"no study ε for {norm} at the {where} of a {spec.modality} model; pass --eps")
            notice(f"--eps not given: using the study's {eps:g} for {norm} at the {where}")
    pert = study_perturbation(kind, norm or "l2", eps or 0.0, spec.modality, where, steps, step_size)
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, momentum=momentum, weight_decay=weight_decay,
                         lr_step_epochs=lr_step, seed=seed, checkpoint_every=checkpoint_every, eval_steps=eval_steps,
                         perturbation=pert)
    from metazoo_core.robustness.data import class_folders, load_folder

    class_folders(data_dir)
    if eval_dir is not None:
        class_folders(eval_dir)
    out_dir = check_writable(out_dir or Path("runs/train") / spec.id)
    from metazoo_core.models import load_model
    from metazoo_core.robustness.training import train, trainee_from_model

    data = load_folder(data_dir, spec, max_per_class)
    for m in data.notices:
        notice(m)
    eval_data = None
    if eval_dir is not None:
        eval_data = load_folder(eval_dir, spec, max_per_class)
        for m in eval_data.notices:
            notice(m)
    net = load_model(spec, pretrained=pretrained or weights is not None, weights=weights, device=device)
    trainee = trainee_from_model(net)
    if pert.where == "cochleagram" and trainee.front is None:
        raise InputError(f"'{spec.id}' has no cochleagram front/back parts; use --where input")
    err.print(f"{spec.id}: {pert.describe()}, {len(data)} examples in {len(data.classes)} classes, "
              f"{epochs} epoch(s) of batch {batch_size} → {out_dir}", highlight=False)
    if (out_dir / "checkpoint.safetensors").exists() and not no_resume:
        err.print(f"resuming from {out_dir / 'checkpoint.safetensors'}", highlight=False)
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TextColumn("loss {task.fields[loss]:.3f} acc {task.fields[acc]:.2f}"), TimeElapsedColumn(),
                   console=err, transient=True, disable=not err.is_terminal)
    task = bar.add_task("train", total=math.ceil(len(data) / batch_size), epoch=0, loss=math.nan, acc=math.nan)
    plain = None if err.is_terminal else PlainProgress()

    def progress(info: dict) -> None:
        """A bar on a terminal, plain lines on a pipe; one line at the end of every epoch in both."""
        epoch = f"epoch {info['epoch'] + 1}/{epochs}"
        if plain:
            plain(epoch, info["batch"], info["batches"], f"batches, loss {info['loss']:.3f} acc {info['accuracy']:.2f}")
        else:
            bar.update(task, completed=info["batch"], total=info["batches"], epoch=info["epoch"] + 1,
                       loss=info["loss"], acc=info["accuracy"])
            if info["batch"] == info["batches"]:
                bar.console.print(f"{epoch} done: loss {info['loss']:.3f} acc {info['accuracy']:.2f}", highlight=False)

    try:
        with bar:
            summary = train(trainee, data, config, out_dir,
                            eval_data=eval_data if eval_data is not None else data, resume=not no_resume,
                            meta={"model": spec.id, "classes": data.classes,
                                  "evaluated_on": "eval-data" if eval_data is not None else "training data"},
                            progress=progress)
    except KeyboardInterrupt:
        problem(f"interrupted: progress saved in {out_dir / 'checkpoint.safetensors'}; "
                "run the same command again to resume")
        raise SystemExit(130) from None
    if summary["resumed_from"]:
        r = summary["resumed_from"]
        notice(f"resumed at epoch {r['epoch'] + 1}, batch {r['batch']} (step {r['step']})")
    if as_json:
        print_json(summary)
        return
    for h in summary["history"]:
        out.print(f"epoch {h['epoch'] + 1}: loss {h['loss']:.4f}, train accuracy {100 * h['train_accuracy']:.1f} %, "
                  f"lr {h['lr']:g}", highlight=False)
    ev = summary.get("evaluation", {})
    line = f"evaluation on {summary['evaluated_on']} ({ev.get('n')}): clean {100 * ev.get('clean_accuracy', 0):.1f} %"
    if "adversarial_accuracy" in ev:
        attack = ev["attack"]
        line += f", under {attack['norm']} PGD ε={attack['eps']:g}: {100 * ev['adversarial_accuracy']:.1f} %"
    out.print(line, highlight=False)
    err.print(f"weights: {out_dir / 'weights.safetensors'} (use with --weights); log: {out_dir / 'train.json'}",
              highlight=False)


def register(app: typer.Typer) -> None:
    app.command("robustness")(_robustness)
    app.command("train")(_train)
