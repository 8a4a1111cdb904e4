"""`metazoo demo`: the main job on the embedded default (efficientnet_lite0, bundled photo), offline."""
from __future__ import annotations

from pathlib import Path

import typer

from ..console import out

DEMO_MODEL = "efficientnet_lite0"
DEMO_INPUT = "builtin:chelsea"


def _demo(out_dir: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="results folder")) -> None:
    """Show the embedded default model's stages and its top-5 classes for a bundled photo."""
    from metazoo_core.fileio import check_writable, write_json
    from metazoo_core.plugins import get_spec

    from .predict import predict_inputs

    spec = get_spec(DEMO_MODEL)
    out.print(f"[bold]{spec.id}[/]: {len(spec.stages)} stages")
    for s in spec.stages:
        out.print(f"  {s.name:10s} {'×'.join(map(str, s.shape)):>14s}  {s.n_features:>9,d} features")
    rows, _ = predict_inputs(DEMO_MODEL, [DEMO_INPUT])
    for r in rows:
        out.print(f"{r['input']} [16-way: {r['category16']}]: "
                  + ", ".join(f"{t['label']} {t['p']:.3f}" for t in r["top"]), highlight=False)
    check_writable(out_dir)
    write_json(out_dir / "predictions.json", rows)
    out.print(f"results in {out_dir.resolve()}")


def register(app: typer.Typer) -> None:
    app.command("demo")(_demo)
