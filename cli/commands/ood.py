"""`metazoo ood`: out-of-distribution accuracy (ImageNet-C corruptions) and error consistency with humans
(model-vs-human), as in the study's Methods, "Out of distribution evaluation – visual models"."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from ..console import err, notice, out, pick_device, print_json


def _ood(
    model: str = typer.Argument(..., help="model id (an ImageNet classifier)"),
    benchmark: str = typer.Option(..., "--benchmark", help="imagenet-c or model-vs-human"),
    data: Optional[list[str]] = typer.Option(None, "--data", help="imagenet-c: clean images (builtin, files, a folder "
                                             "of ImageNet-index class folders) or a downloaded ImageNet-C tree; "
                                             "model-vs-human: the release folder (datasets/, raw-data/)"),
    corruptions: Optional[list[str]] = typer.Option(None, "--corruption", help="repeatable (default: all available "
                                                    "of the study's 15)"),
    severities: Optional[list[int]] = typer.Option(None, "--severity", help="repeatable, 1–5 (default: all)"),
    sets: Optional[list[str]] = typer.Option(None, "--set", help="model-vs-human data set (repeatable; default: all)"),
    max_per_class: Optional[int] = typer.Option(None, "--max-per-class", help="images per class folder at most"),
    seed: int = typer.Option(0, "--seed", help="seeds the random corruptions"),
    batch_size: int = typer.Option(16, "--batch-size", help="images per forward pass (memory, not results)"),
    out_dir: Path = typer.Option(Path("runs/ood"), "--out", "-o", help="writes OUT/<model>_<benchmark>.json"),
    weights: Optional[str] = typer.Option(None, "--weights", help="checkpoint overriding the registry's"),
    device: str = typer.Option("cpu", "--device", help="auto (best available), cpu, cuda, cuda:N or mps"),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON on stdout"),
) -> None:
    """ImageNet-C: top-1 accuracy per corruption and severity and the mean (the study's ImageNet-C score).
    model-vs-human: 16-way accuracy and error consistency (Cohen's κ) with each human observer, per data set.

    Python: metazoo.imagenet_c (model-vs-human: metazoo_core.ood.model_vs_human).
    """
    from metazoo_core.errors import InputError
    from metazoo_core.fileio import check_writable, write_json
    from metazoo_core.plugins import get_spec

    spec = get_spec(model)
    if benchmark not in ("imagenet-c", "model-vs-human"):
        raise InputError(f"--benchmark must be imagenet-c or model-vs-human, not '{benchmark}'")
    if spec.modality != "vision" or spec.classifier not in ("imagenet1000", "zeroshot_imagenet"):
        raise InputError(f"'{model}' is not an ImageNet image classifier (classifier: {spec.classifier}); "
                         "OOD benchmarks score ImageNet decisions")
    if batch_size < 1:
        raise InputError("--batch-size must be ≥ 1")
    check_writable(out_dir)
    device = pick_device(device)
    failed = None
    if benchmark == "model-vs-human":
        from metazoo_core.ood.model_vs_human import DOWNLOAD_HINT, data_sets

        if not data or len(data) != 1:
            raise InputError(f"--benchmark model-vs-human needs one --data DIR; {DOWNLOAD_HINT}")
        data_sets(Path(data[0]))  # layout check before loading torch
    else:
        from metazoo_core.ood.imagenet_c import check_selection, is_imagenet_c_tree, without_missing_frost

        tree = bool(data) and len(data) == 1 and Path(data[0]).is_dir() and is_imagenet_c_tree(Path(data[0]))
        chosen, sev = check_selection(corruptions, severities, tree)
        if not tree:  # frost without its photographs: one line; the other corruptions still run
            chosen, frost_problem = without_missing_frost(chosen)
            if frost_problem and not chosen:
                raise InputError(frost_problem)

    import torch

    from metazoo_core.models import load_model

    device = pick_device(device)
    net = load_model(spec, weights=weights, device=device)

    def logits_of(x):
        return net.logits(x.to(device)).float().cpu()

    say = lambda m: err.print(m, highlight=False)  # noqa: E731
    if benchmark == "model-vs-human":
        from metazoo_core.inputs import load_input
        from metazoo_core.labels import categories16, category16_index
        from metazoo_core.ood.model_vs_human import model_vs_human

        cats = categories16()

        def decide(files):
            out_cats = []
            for i in range(0, len(files), batch_size):
                x = torch.stack([load_input(f, spec).tensor.float() for f in files[i:i + batch_size]])
                with torch.no_grad():
                    out_cats += [cats[j] for j in category16_index(logits_of(x)).tolist()]
            return out_cats

        result = model_vs_human(decide, Path(data[0]), sets, say)
    elif tree:
        from metazoo_core.ood.imagenet_c import tree_imagenet_c

        result = tree_imagenet_c(logits_of, Path(data[0]), spec, chosen, sev, max_per_class, batch_size)
        result["source"] = "tree"
        for a in result["absent"]:
            notice(f"{a} is not in the tree; left out of the mean")
        for line in result["skipped"]:
            notice(line)
    else:
        from metazoo_core.ood.imagenet_c import imagenet_c_from_sources

        t0 = time.monotonic()
        result, problems = imagenet_c_from_sources(
            net, list(data or ["builtin"]), chosen, sev, seed=seed, batch_size=batch_size, max_per_class=max_per_class,
            device=device, on_corruption=lambda c, done, total: say(
                f"  {c} ({done}/{total} corruptions, {len(sev)} severities) done, {time.monotonic() - t0:.0f} s"))
        for p in problems:
            notice(p)
        if frost_problem and not corruptions:
            notice(f"{frost_problem}; the mean covers the other {len(chosen)}")
        elif frost_problem:  # asked for by name: reported as an error once the others are written
            failed = frost_problem
    record = {"schema": "metazoo.ood/1", "model": spec.id, "benchmark": benchmark,
              "weights_sha256": net.weights_sha256, **result}
    path = out_dir / f"{spec.id}_{benchmark}.json"
    write_json(path, record)
    if as_json:
        print_json(record)
        if failed:
            raise InputError(f"{failed} (the other corruptions are in {path})")
        return
    from rich.table import Table

    if benchmark == "model-vs-human":
        table = Table(title=f"{spec.id}: model-vs-human")
        for col in ("data set", "accuracy", "human accuracy", "error consistency κ"):
            table.add_column(col, justify="left" if col == "data set" else "right")
        for name, r in result["sets"].items():
            table.add_row(name, f"{r['accuracy']:.3f}", f"{r['human_accuracy']:.3f}", f"{r['error_consistency']:.3f}")
    else:
        table = Table(title=f"{spec.id}: ImageNet-C top-1 ({result['n']} images, mean {result['mean']:.3f})")
        table.add_column("corruption")
        levels = sorted({s for v in result["accuracy"].values() for s in v}, key=int)
        for s in levels:
            table.add_column(f"severity {s}", justify="right")
        for c, v in result["accuracy"].items():
            table.add_row(c, *(f"{v[s]:.3f}" if s in v else "–" for s in levels))
    out.print(table)
    err.print(f"wrote {path}", highlight=False)
    if failed:
        raise InputError(f"{failed} (the other corruptions are in {path})")


def register(app: typer.Typer) -> None:
    app.command("ood")(_ood)
