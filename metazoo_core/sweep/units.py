"""What a worker does for each kind of unit. Every kind writes into the unit's work folder and returns the
paths of the `record.json` files it wrote (one row each in `metazoo collect`).

Options common to all kinds (a group's `options:`): `pretrained` (default true), `weights` (checkpoint overriding
the registry's), `device` ("auto", the default, = the best available: cuda, mps, else cpu).

- activations: the stage activation of one input (`activations.safetensors`, key "activation", shape = the stage's
  per-example shape) and `record.json` (schema metazoo.activations/1) with its shape and summary statistics.
- metamer: `metazoo_core.metamer.generate_metamers` for one (model, input, stage, seed); options `recipe`,
  `iterations`, `blocks`, the recipe's constants `init_step`, `step_decay`, `noise_mean`, `noise_std` (as
  `metazoo generate --init-step` etc.; default: the recipe's or the model's), `null` (path of a saved null
  distribution), `optimise` (as `metazoo generate --optimise`;
  a worker reuses its model, so folding and compiling happen once per model and stage). Files as the engine lays them
  out: `<model>/<input>/<stage>/record.json` etc.
- null_distribution: `metazoo_core.metamer.build_null` over the group's inputs; options `pairs` (default 1000),
  `augment` (default true), `batch_size` (pairs per forward pass, default 16), `pairing` (independent, the default,
  or blocked; as `metazoo null --pairing`). Writes `null.safetensors` (the
  engine's format) and `record.json` (schema metazoo.null/1) with the maximum of every measure at every stage.
- robustness: accuracy vs ε under untargeted white-box PGD at the input (`metazoo_core.robustness.evaluate`,
  as `metazoo robustness` does it) over the group's inputs, labelled by the model's clean prediction (or by class
  subfolders when the inputs are one such folder); options `norm` (required: l1, l2, linf), `eps` (list),
  `steps` (64), `step_ratio` (0.25), `subsets` (5), `n` (1024), `batch_size` (16); the unit's seed draws the
  subsets. Writes `record.json` (schema metazoo.robustness/1, the same fields as `metazoo robustness`).
- readout: the per-stage linear readout of one stage (`metazoo_core.readout.readout_stages`, as `metazoo readout`
  does it) trained on the unit's input, a labelled folder; options: the fields of `ReadoutConfig` (units, epochs,
  batch_size, max_lr, …) plus `val_fraction` and `max_per_class`. Writes `record.json` (schema metazoo.readout/1)
  and the layer (`<stage>.safetensors`).
- ood: generated ImageNet-C accuracy (`metazoo_core.ood.imagenet_c`, as `metazoo ood --benchmark imagenet-c` does
  it) over the group's inputs; options `corruptions`, `severities` (default: all generated, 1–5), `batch_size`,
  `max_per_class`; the unit's seed draws the corruptions. Writes `record.json` (schema metazoo.ood/1).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from ..errors import MetazooError
from ..fileio import save_tensors, write_json
from ..metamer.runs import versions
from .plan import RECIPE_CONSTANTS, Unit, input_label

_model_cache: dict[tuple, Any] = {}


def resolve_device(requested: str | None) -> str:
    """The unit's device: `auto` (the default) is the best available; see metazoo_core.devices."""
    from ..devices import resolve_device as resolve

    return resolve(requested or "auto")[0]


def cached_model(unit: Unit, device: str):
    """The unit's `StagedModel`, reused across the units of one worker (keeps only the latest model)."""
    from ..models import load_model

    key = (unit.model, bool(unit.options.get("pretrained", True)), unit.options.get("weights"), device)
    if key not in _model_cache:
        _model_cache.clear()
        _model_cache[key] = load_model(unit.model, pretrained=key[1], weights=key[2], device=device)
    return _model_cache[key]


def _utc() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _load(source: str, model):
    from ..inputs import load_input

    return load_input(source, model.spec)


def run_activations(unit: Unit, out: Path) -> list[Path]:
    import torch

    start = time.perf_counter()
    device = resolve_device(unit.options.get("device"))
    model = cached_model(unit, device)
    item = _load(unit.input, model)
    torch.manual_seed(unit.seed)
    with torch.no_grad():
        act = model(item.tensor.unsqueeze(0).to(device), [unit.stage])[unit.stage][0].float().cpu()
    if not torch.isfinite(act).all():
        raise MetazooError(f"stage {unit.stage} of {unit.model} gave non-finite activations for {unit.input}")
    save_tensors(out / "activations.safetensors", {"activation": act})
    record = {
        "schema": "metazoo.activations/1", "model": unit.model, "family": model.spec.family,
        "modality": model.spec.modality, "weights_sha256": model.weights_sha256,
        "weights_source": model.weights_source, "stage": unit.stage,
        "input": {"name": item.name, "source": unit.input}, "seed": unit.seed,
        "shape": list(act.shape),
        "stats": {"mean": act.mean().item(), "std": act.std().item(), "min": act.min().item(),
                  "max": act.max().item(), "l2": act.norm().item(), "fraction_zero": (act == 0).float().mean().item()},
        "notices": list(item.notices), "files": {"tensor": "activations.safetensors"},
        "versions": versions(), "wall_time_s": round(time.perf_counter() - start, 3), "device": device,
        "completed": _utc(),
    }
    path = out / "record.json"
    write_json(path, record)
    return [path]


def _engine():
    try:
        from .. import metamer
        return metamer
    except ImportError as e:  # pragma: no cover - the engine is part of the package
        raise MetazooError(f"the metamer engine cannot be imported ({e}); reinstall metazoo") from None


def run_metamer(unit: Unit, out: Path) -> list[Path]:
    from ..metamer.recipes import tuned_recipe

    engine = _engine()
    opts = unit.options
    device = resolve_device(opts.get("device"))
    model = cached_model(unit, device)
    item = _load(unit.input, model)
    null = engine.NullDistribution.load(Path(opts["null"])) if opts.get("null") else None
    recipe = tuned_recipe(opts.get("recipe", "feather2023"), **{k: opts.get(k) for k in RECIPE_CONSTANTS})
    records = engine.generate_metamers(
        model, [item], [unit.stage], recipe=recipe,
        iterations=opts.get("iterations"), blocks=opts.get("blocks"), seed=unit.seed,
        batch_size=1, out_dir=out, null=null, device=device, resume=True, optimise=opts.get("optimise"))
    paths = sorted(out.rglob("record.json"))
    if len(paths) != len(records):
        raise MetazooError(f"the engine returned {len(records)} records but wrote {len(paths)} record.json files "
                           f"under {out}")
    return paths


def run_null(unit: Unit, out: Path) -> list[Path]:
    engine = _engine()
    start = time.perf_counter()
    opts = unit.options
    device = resolve_device(opts.get("device"))
    model = cached_model(unit, device)
    items = [_load(src, model) for src in unit.inputs]
    pairs = int(opts.get("pairs", 1000))
    null = engine.build_null(model, items, pairs=pairs, seed=unit.seed, augment=bool(opts.get("augment", True)),
                             batch_size=int(opts.get("batch_size", 16)), device=device,
                             pairing=opts.get("pairing", "independent"))
    null.save(out / "null.safetensors")
    record = {
        "schema": "metazoo.null/1", "model": unit.model, "family": model.spec.family,
        "modality": model.spec.modality, "weights_sha256": model.weights_sha256, "seed": unit.seed,
        "pairs": pairs, "inputs": [{"name": input_label(s), "source": s} for s in unit.inputs],
        "max": {s: null.max(s) for s in null.stages}, "files": {"null": "null.safetensors"},
        "versions": versions(), "wall_time_s": round(time.perf_counter() - start, 3), "device": device,
        "completed": _utc(),
    }
    path = out / "record.json"
    write_json(path, record)
    return [path]


def run_robustness(unit: Unit, out: Path) -> list[Path]:
    from ..robustness.run import RobustnessSettings, evaluate_robustness, load_labelled

    opts = unit.options
    if "norm" not in opts or "eps" not in opts:
        raise MetazooError(f"robustness unit {unit.id} needs options `norm` (l1, l2, linf) and `eps` (a list)")
    device = resolve_device(opts.get("device"))
    model = cached_model(unit, device)
    settings = RobustnessSettings(
        norm=opts["norm"], eps=[float(e) for e in opts["eps"]], subsets=int(opts.get("subsets", 5)),
        n=int(opts.get("n", 1024)), steps=opts.get("steps"), step_ratio=opts.get("step_ratio"),
        batch_size=int(opts.get("batch_size", 16)), seed=unit.seed).checked(model.spec)
    record = evaluate_robustness(model, load_labelled(list(unit.inputs), model.spec, settings), settings, device)
    path = out / "record.json"
    write_json(path, record)
    return [path]


def run_readout(unit: Unit, out: Path) -> list[Path]:
    from ..readout import ReadoutConfig, readout_stages
    from ..readout.data import load_readout_data

    opts = dict(unit.options)
    device = resolve_device(opts.pop("device", None))
    model = cached_model(unit, device)
    data = {k: opts.pop(k) for k in ("val_fraction", "max_per_class") if k in opts}
    for key in ("pretrained", "weights"):
        opts.pop(key, None)
    config = ReadoutConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in opts.items()})
    train, val, layout = load_readout_data(unit.input, model.spec, **data)
    readout_stages(model, train, val, [unit.stage], out, config=config, seed=unit.seed, device=device,
                   meta={"data": unit.input, "layout": layout, "weights_source": model.weights_source})
    path = out / "record.json"
    (out / f"{unit.stage}.json").replace(path)
    return [path]


def run_ood(unit: Unit, out: Path) -> list[Path]:
    from ..ood.imagenet_c import check_selection, imagenet_c_from_sources

    start = time.perf_counter()
    opts = unit.options
    device = resolve_device(opts.get("device"))
    model = cached_model(unit, device)
    chosen, sev = check_selection(opts.get("corruptions"), opts.get("severities"), tree=False)
    result, problems = imagenet_c_from_sources(model, list(unit.inputs), chosen, sev, seed=unit.seed,
                                               batch_size=int(opts.get("batch_size", 16)),
                                               max_per_class=opts.get("max_per_class"), device=device)
    record = {"schema": "metazoo.ood/1", "model": unit.model, "benchmark": "imagenet-c",
              "weights_sha256": model.weights_sha256, "inputs": list(unit.inputs), **result, "notices": problems,
              "versions": versions(), "wall_time_s": round(time.perf_counter() - start, 3), "device": device,
              "completed": _utc()}
    path = out / "record.json"
    write_json(path, record)
    return [path]


RUNNERS: dict[str, Callable[[Unit, Path], list[Path]]] = {
    "activations": run_activations, "metamer": run_metamer, "null_distribution": run_null,
    "robustness": run_robustness, "readout": run_readout, "ood": run_ood}
