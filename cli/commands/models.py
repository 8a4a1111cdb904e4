"""Registry commands: list, info, plugins, fetch, export, push, activations."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from metazoo_core.caveats import RANDOM_WEIGHTS

from ..console import err, load_inputs, notice, out, pick_device, print_json, problem


def _list(
    modality: Optional[str] = typer.Option(None, "--modality", help="vision or audio"),
    family: Optional[str] = typer.Option(None, "--family", "-f", help="plugin family, e.g. torchvision"),
    query: Optional[str] = typer.Option(None, "--query", "-q", help="glob on ids, e.g. '*resnet50*'"),
    group: Optional[str] = typer.Option(None, "--group", "-g", help="e.g. study, robust_final_stage, extra"),
    available: bool = typer.Option(False, "--available", help="only models that run offline here (weights cached "
                                   "or shipped in a package, or none needed)"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable array on stdout"),
    resolved: bool = typer.Option(False, "--resolved", help="also the resolved ids (timm:…, torchvision:…) cached "
                                  "here by an earlier `info`/`check`"),
) -> None:
    """List registered models and whether each runs offline here (never imports torch, never uses the network).

    Python: metazoo.list_models.
    """
    from metazoo_core.availability import availability
    from metazoo_core.plugins import registry

    specs = registry().query(modality=modality, family=family, pattern=query, group=group)
    if resolved:
        from metazoo_core.anymodel.cache import cached_specs

        specs += cached_specs(modality=modality, family=family, pattern=query, group=group)
    found = {s.id: availability(s) for s in specs}
    if available:
        specs = [s for s in specs if found[s.id].runs]
    if as_json:
        print_json([{**s.summary(), "offline": found[s.id].why, "offline_stages": list(found[s.id].stages)}
                    for s in specs])
        return
    from rich.table import Table

    title = f"{len(specs)} models" + (" that run offline here" if available else "")
    table = Table(title=title, show_lines=False)
    for col in ("id", "family", "modality", "group", "offline here", "stages"):
        table.add_column(col)
    for s in specs:
        names = s.stage_names
        shown = ", ".join(names) if len(names) <= 6 else ", ".join(names[:3] + ["…"] + names[-2:])
        a = found[s.id]
        here = ("yes" if a.runs else f"{', '.join(a.stages)} only" if a.stages else "no") + f" ({a.why})"
        table.add_row(s.id, s.family, s.modality, s.group, here, f"{len(names)}: {shown}")
    out.print(table)


def _info(model: str = typer.Argument(..., help="model id"),
          as_json: bool = typer.Option(False, "--json", help="machine-readable object on stdout")) -> None:
    """Show a model's input, normalisation, stages (shapes, feature counts), weights and provenance.

    Python: metazoo.get_spec.
    """
    import dataclasses
    import math

    from metazoo_core import weights
    from metazoo_core.availability import availability
    from metazoo_core.plugins import get_spec
    from metazoo_core.registry import IMPLICIT_STAGE

    spec = get_spec(model)
    info = {
        "id": spec.id,
        "family": spec.family,
        "modality": spec.modality,
        "group": spec.group,
        "groups": spec.all_groups,
        "description": spec.description,
        "input": spec.input.model_dump(),
        "normalization": spec.normalization.model_dump() if spec.normalization else None,
        "classifier": spec.classifier,
        "stages": [{"name": s.name, "shape": s.shape, "n_features": s.n_features, "relu": s.relu} for s in spec.stages],
        "implicit_stage": {"name": IMPLICIT_STAGE, "shape": list(spec.input.shape),
                           "n_features": math.prod(spec.input.shape)},
        "weights": weights.describe(spec),
        "offline": dataclasses.asdict(availability(spec)),
        "provenance": spec.provenance.model_dump(exclude_none=True),
        "metamer": spec.metamer.model_dump(),
        "contract": contract_verdict(spec.id),
    }
    if as_json:
        print_json(info)
        return
    from rich.table import Table

    out.print(f"[bold]{spec.id}[/] — {spec.description}")
    out.print(f"family {spec.family} · {spec.modality} · group {', '.join(spec.all_groups)} · "
              f"classifier {spec.classifier}")
    inp = spec.input
    out.print(f"input {inp.shape} in {list(inp.range)}" + (f" at {inp.sample_rate} Hz" if inp.sample_rate else ""))
    out.print(f"normalisation {info['normalization'] or 'none'}")
    w = info["weights"]
    out.print(f"weights {w['source'] or 'none'} ({'cached' if w['cached'] else 'not cached'}"
              + (f", member {w['member']}" if w["member"] else "") + ")", highlight=False, markup=False)
    here = info["offline"]
    out.print(f"offline here: {'yes' if here['runs'] else 'no'} ({here['why']}"
              + (f": {', '.join(here['stages'])}" if here["stages"] and not here["runs"] else "") + ")",
              highlight=False, markup=False)
    for extra in w["tried_after"]:
        out.print(f"  then {extra}", highlight=False, markup=False)
    if w["manual"]:
        out.print(f"  manual download: '{w['manual']['file']}' from {w['manual']['where']}",
                  highlight=False, markup=False)
    for src, entry in w["lock"].items():
        out.print(f"  locked sha256 {entry['sha256']} ({src}, recorded {entry['recorded']})",
                  highlight=False, markup=False)
    for item in w["unverified"]:
        out.print(f"  unverified: {item}", highlight=False, markup=False)
    prov = spec.provenance
    if prov.table:
        out.print(f"provenance {prov.table}, row '{prov.row}': top-1 {prov.top1}, top-5 {prov.top5}")
    table = Table(title="stages", caption=f"{IMPLICIT_STAGE}: the input after the model's own preprocessing "
                  "(clamped to its range, normalised); every model has it")
    for col in ("stage", "shape", "features", "fake-ReLU"):
        table.add_column(col)
    implicit = info["implicit_stage"]
    table.add_row(IMPLICIT_STAGE, "×".join(map(str, implicit["shape"])), f"{implicit['n_features']:,}", "")
    for s in spec.stages:
        table.add_row(s.name, "×".join(map(str, s.shape)), f"{s.n_features:,}", "yes" if s.relu else "")
    out.print(table)
    if info["contract"] is not None:
        v = info["contract"]
        out.print(f"contract check ({v['date']}, random weights): {'passed' if v['passed'] else 'FAILED'}; "
                  + "; ".join(f"{k} {r}" for k, r in v["checks"].items() if r != "ok")
                  + "".join(f"; stage {s} not usable for metamers ({r})" for s, r in v["unusable"].items()),
                  highlight=False, markup=False)


def contract_verdict(model_id: str) -> dict | None:
    """The cached contract verdict of a resolved id (None for registry ids or before `metazoo check`)."""
    from metazoo_core.anymodel import is_resolved_id, parse_id
    from metazoo_core.anymodel.cache import read

    entry = read(parse_id(model_id)) if is_resolved_id(model_id) else None
    return entry.get("check") if entry else None


def _plugins(as_json: bool = typer.Option(False, "--json", help="machine-readable array on stdout")) -> None:
    """Show discovered plugins, their families (weight formats, metamer schedules), and any that failed to load.

    Python: metazoo_core.plugins.host (no facade twin).
    """
    from metazoo_core.plugins import host

    h = host()
    rows = [{"name": p.name, "source": p.source, "families": sorted(p.families), "specs": p.n_specs,
             "formats": {n: list(f.formats) for n, f in p.families.items()},
             "schedules": {n: f.schedule_names for n, f in p.families.items()},
             "status": "ok" if not p.error else "failed", "error": p.error} for p in h.plugins.values()]
    if as_json:
        print_json(rows)
        return
    out.print(f"{len(rows)} plugins, {len(h.failures)} failed", highlight=False)
    for r in rows:
        families = ", ".join(f"{n} (formats: {', '.join(r['formats'][n]) or '-'}; schedules: "
                             f"{', '.join(r['schedules'][n])})" for n in r["families"]) or "-"
        extra = f", {r['specs']} extra specs" if r["specs"] else ""
        status = "ok" if r["status"] == "ok" else f"FAILED: {r['error']}"
        out.print(f"{r['name']} ({r['source']}): families {families}{extra} — {status}", highlight=False, markup=False)


def _fetch(
    models: Optional[list[str]] = typer.Argument(None, help="model ids"),
    archive: Optional[Path] = typer.Option(None, "--archive", help="a local copy of a checkpoint archive (.tar): "
                                           "extract every member the registry names, no network"),
    relock: bool = typer.Option(False, "--relock", help="accept the current files: record their sha256 afresh"),
) -> None:
    """Download (or locate) the weights of each model into the local cache, checked against the lockfile.

    Python: metazoo_core.weights.resolve (no facade twin yet).
    """
    from metazoo_core import lockfile, weights
    from metazoo_core.errors import MetazooError
    from metazoo_core.plugins import get_spec

    if not models and archive is None:
        problem("name model ids to fetch, or --archive PATH with a downloaded checkpoint archive")
        raise typer.Exit(2)
    failed = 0
    if archive is not None:
        try:
            for url, members in weights.import_archive(archive).items():
                out.print(f"{archive}: {len(members)} members for {url}", highlight=False, markup=False)
        except MetazooError as e:
            problem(str(e))
            failed += 1
    for model in models or []:
        try:
            spec = get_spec(model)
            if relock:
                lockfile.forget(weights.cache_dir(), spec.id)
            path, ref = weights.resolve(spec)
            out.print(f"{model}: {path} (sha256 {weights.sha256_file(path)[:16]}…)", highlight=False, markup=False)
        except MetazooError as e:
            problem(str(e))
            failed += 1
    if failed:
        raise typer.Exit(2)


def _export(
    model: str = typer.Argument(..., help="model id"),
    out_dir: Path = typer.Option(..., "--out", "-o",
                                 help="folder to write (model.safetensors, config.json, README.md)"),
    weights_path: Optional[str] = typer.Option(None, "--weights", help="checkpoint overriding the registry's"),
) -> None:
    """Write a Hugging Face model-repo folder for MODEL: converted weights, registry entry and model card.

    Python: metazoo_core.hubexport.export_model (no facade twin yet).
    """
    from metazoo_core.fileio import check_writable
    from metazoo_core.hubexport import export_model
    from metazoo_core.plugins import get_spec

    spec = get_spec(model)
    check_writable(out_dir)
    result = export_model(spec, out_dir, weights_path)
    out.print(f"{model}: exported to {out_dir} (model.safetensors sha256 {result.sha256[:16]}…; original "
              f"{result.original_source})", highlight=False, markup=False)


def _push(
    model: str = typer.Argument(..., help="model id"),
    repo: str = typer.Option(..., "--repo", help="Hub repo ORG/NAME (use ORG/MODEL_ID for METAZOO_HUB_MIRROR=ORG)"),
    folder: Optional[Path] = typer.Option(None, "--from", help="an existing `metazoo export` folder"),
    private: bool = typer.Option(False, "--private", help="create the repo as private"),
) -> None:
    """Upload MODEL's export to the Hugging Face Hub (exporting it first unless --from is given).

    Python: metazoo_core.hubexport.push_folder (no facade twin yet).
    """
    import tempfile

    from metazoo_core.hubexport import check_push, export_model, push_folder
    from metazoo_core.plugins import get_spec, registry

    spec = get_spec(model)
    ids = {s.id for s in registry().query()}
    if folder is not None:
        check_push(folder, spec.id, repo, ids)
        url = push_folder(folder, repo, private)
    else:
        with tempfile.TemporaryDirectory(prefix="metazoo-export-") as tmp:
            export_model(spec, Path(tmp))
            check_push(Path(tmp), spec.id, repo, ids)
            url = push_folder(Path(tmp), repo, private)
    out.print(f"{model}: pushed to {repo} ({url})", highlight=False, markup=False)


def _activations(
    model: str = typer.Argument(..., help="model id"),
    inputs: list[str] = typer.Argument(..., help="image/audio files or builtin:NAME"),
    stage: list[str] = typer.Option(..., "--stage", "-s", help="stage name (repeatable), or all"),
    out_dir: Path = typer.Option(Path("activations"), "--out", "-o", help="output folder"),
    weights_path: Optional[str] = typer.Option(None, "--weights", help="checkpoint overriding the registry's"),
    random_weights: bool = typer.Option(False, "--random-weights", help="skip loading trained weights"),
    device: str = typer.Option("cpu", "--device", help="auto (best available), cpu, cuda, cuda:N or mps"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace existing files in --out (without it the run "
                                   "is refused before anything is written)"),
) -> None:
    """Save stage activations, one `<input>__<stage>.npy` per input and stage (shape without batch); inputs that
    share a file name are told apart by their folders (`cat/0.png`, `cup/0.png` → cat_0__…, cup_0__…).

    Python: metazoo.activations.
    """
    from metazoo_core.errors import InputError
    from metazoo_core.fileio import check_writable, save_npy
    from metazoo_core.metamer.runs import unique_names
    from metazoo_core.plugins import get_spec

    spec = get_spec(model)
    stage = spec.check_stages(spec.expand_stages(stage))
    device = pick_device(device)
    check_writable(out_dir)
    items, failed = load_inputs(inputs, spec)
    files = [[out_dir / f"{name}__{s}.npy" for s in stage] for name in unique_names([i.name for i in items])]
    existing = [p for row in files for p in row if p.exists()]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise InputError(f"{existing[0]}{more} already exists; pass --overwrite to replace, or choose another --out")
    import torch

    from metazoo_core.models import load_model

    net = load_model(spec, pretrained=not random_weights, weights=weights_path, device=device, stages=stage)
    if net.weights_notice:
        notice(net.weights_notice)
    for item, row in zip(items, files):
        with torch.no_grad():
            acts = net(item.tensor.unsqueeze(0).to(device), stage)
        for s, path in zip(stage, row):
            array = acts[s][0].cpu().numpy()
            save_npy(path, array)
            random = f" [{RANDOM_WEIGHTS.split(' (')[0]}]" if net.random_weights else ""
            out.print(f"{item.name} {s}: {path} {'×'.join(map(str, array.shape))}{random}", highlight=False,
                      markup=False)
    err.print(f"activations written to {out_dir}")
    if failed:
        raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    app.command("list")(_list)
    app.command("info")(_info)
    app.command("plugins")(_plugins)
    app.command("fetch")(_fetch)
    app.command("export")(_export)
    app.command("push")(_push)
    app.command("activations")(_activations)
