"""`metazoo demo`: the main job on the embedded default, offline — efficientnet_lite0 metamers of a bundled photo at
an early, a middle and the final stage, judged against a small null from the other bundled photos."""
from __future__ import annotations

from pathlib import Path

import typer

from ..console import err, notice, out, pick_device

DEMO_MODEL = "efficientnet_lite0"
DEMO_INPUT = "builtin:chelsea"
DEMO_STAGES = ["blocks_1", "blocks_3", "final"]
NULL_INPUTS = ["chelsea", "coffee", "rocket", "astronaut", "camera", "motorcycle", "clock"]
NULL_PAIRS = 24


def _demo(
    out_dir: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="results folder"),
    iterations: int = typer.Option(100, "--iterations", help="steps per block (study: 3000)"),
    blocks: int = typer.Option(3, "--blocks", help="step-size blocks (study: 8)"),
    device: str = typer.Option("cpu", "--device", help="auto (best available), cpu, cuda, cuda:N or mps"),
) -> None:
    """Generate efficientnet_lite0 metamers of a bundled photo at three stages (a short schedule, a few minutes).

    Python: metazoo.generate (README, "From Python").
    """
    from metazoo_core.fileio import check_writable
    from metazoo_core.inputs import load_input
    from metazoo_core.metamer import build_null, generate_metamers
    from metazoo_core.models import load_model
    from metazoo_core.plugins import get_spec

    from .generate import ProgressDisplay, summary_table

    spec = get_spec(DEMO_MODEL)
    check_writable(out_dir)
    device = pick_device(device)
    model = load_model(spec, device=device)
    err.print(f"[bold]{spec.id}[/]: metamers of {DEMO_INPUT} at {', '.join(DEMO_STAGES)} — {blocks} blocks × "
              f"{iterations} steps (the study: 8 × 3000)", highlight=False)
    photos = [load_input(f"builtin:{n}", spec) for n in NULL_INPUTS]
    null = build_null(model, photos, pairs=NULL_PAIRS, seed=0, device=device)
    null.save(out_dir / f"{spec.id}.null.safetensors")
    notice(f"demo null: {NULL_PAIRS} augmented pairs of {len(photos)} bundled photos "
           "(the study used ~10⁶ pairs of training images, so its thresholds are stricter)")
    with ProgressDisplay() as display:
        records = generate_metamers(model, [photos[0]], DEMO_STAGES, iterations=iterations, blocks=blocks,
                                    out_dir=out_dir, null=null, progress=display, device=device)
    out.print(summary_table(records))
    out.print(f"metamers, records and the null in {out_dir.resolve()}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("demo")(_demo)
