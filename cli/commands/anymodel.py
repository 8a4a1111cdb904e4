"""Resolved-model commands: `stages ID` (discovered stages with shapes) and `check ID` (the contract)."""
from __future__ import annotations

import typer

from ..console import out, print_json


def _stages(model: str = typer.Argument(..., help="model id, e.g. timm:convnext_tiny or torchvision:resnet50"),
            as_json: bool = typer.Option(False, "--json", help="machine-readable array on stdout")) -> None:
    """Show a model's stages with per-example shapes (from a meta-device forward) and the `--stage auto` subset.

    Python: metazoo.get_spec (its stages).
    """
    from metazoo_core.plugins import get_spec

    spec = get_spec(model)
    auto = set(spec.build.get("auto_stages", spec.stage_names))
    rows = [{"name": s.name, "shape": s.shape, "n_features": s.n_features, "auto": s.name in auto,
             "module": spec.build.get("taps", {}).get(s.name, {}).get("module")} for s in spec.stages]
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table(title=f"{spec.id}: {len(rows)} stages (auto = the `--stage auto` subset)")
    for col in ("stage", "module", "shape", "features", "auto"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], r["module"] if r["module"] is not None else "", "×".join(map(str, r["shape"])),
                      f"{r['n_features']:,}", "auto" if r["auto"] else "")
    out.print(table)


def _check(model: str = typer.Argument(..., help="a resolved id SOURCE:NAME[@REV], e.g. timm:resnet18"),
           as_json: bool = typer.Option(False, "--json", help="machine-readable verdict on stdout")) -> None:
    """Run the contract a discovered model must pass (random weights): stages fire and truncate, shapes, upstream
    intermediates, gradients to the input per stage, determinism, frozen parameters. Exit 1 when it fails.

    Python: metazoo_core.anymodel.check.check (no facade twin yet).
    """
    from metazoo_core.anymodel.check import check
    from metazoo_core.anymodel.ids import parse_id

    parse_id(model)
    verdict = check(model)
    if as_json:
        print_json(verdict)
    else:
        for name, result in verdict["checks"].items():
            out.print(f"{name}: {result}", highlight=False, markup=False)
        for stage, reason in verdict["unusable"].items():
            out.print(f"stage {stage}: not usable for metamers ({reason})", highlight=False, markup=False)
        out.print(f"{model}: contract {'passed' if verdict['passed'] else 'FAILED'} (random weights)",
                  highlight=False, markup=False)
    if not verdict["passed"]:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("stages")(_stages)
    app.command("check")(_check)
