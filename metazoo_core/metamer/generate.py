"""`generate_metamers`: many inputs × many stages → metamers, acceptance records and the run folder.

Items are (input, stage) pairs. Each input gets ONE initial noise, drawn from a CPU generator seeded by
(seed, input index), reused for all its stages (facts §1.1 item 4), so batching never changes an item's start.
Items are grouped by stage (and by progress, after a resume) into batches of `batch_size`; each batch runs
`optimise_stage`, then a no-grad forward per metamer (one input at a time, so a record does not depend on which
items shared its batch) through every stage measures the metamers against their originals.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Collection, Sequence

import numpy as np
import torch

from ..errors import InputError, MetazooError
from ..fileio import save_tensors, write_json
from .acceptance import assess, category_fields, measure_stages, null_summary
from .frozen import freeze, parse_optimisations
from .null import NullDistribution
from .optimise import ItemState, ProgressEvent, optimise_stage
from .recipes import Recipe, get_recipe
from .runs import (RECORD_FILE, SCHEMA, STATE_FILE, fingerprint, holds_other, load_record, load_state, safe_name,
                   save_state, tensor_sha256, unique_names, versions, weights_identity)


def noise_seed(seed: int, index: int) -> int:
    """The initial-noise generator seed of input `index` (independent streams per (seed, index))."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1, np.uint64)[0])


def initial_noise(shape: Sequence[int], mean: float, std: float, seed: int, index: int,
                  clamp: tuple[float, float] | None) -> torch.Tensor:
    """N(mean, std²) of `shape` (float32, CPU) from the (seed, index) generator; clamped for images."""
    g = torch.Generator().manual_seed(noise_seed(seed, index))
    x = torch.randn(tuple(shape), generator=g) * std + mean
    return x.clamp(*clamp) if clamp is not None else x


def _check_input(item: Any, spec) -> torch.Tensor:
    t = item.tensor
    if not isinstance(t, torch.Tensor):
        t = torch.as_tensor(np.asarray(t))
    t = t.detach().float().cpu()
    if list(t.shape) != list(spec.input.shape):
        raise InputError(f"{item.name}: input shape {list(t.shape)} does not match the model input {spec.input.shape}")
    if not torch.isfinite(t).all():
        raise InputError(f"{item.name}: input contains NaN or infinite values")
    return t


def _host(plugin_host):
    from ..plugins import host

    return plugin_host or host()


def _schedule(spec, stage: str, recipe: Recipe, seed: int, plugin_host, name: str | None) -> Any:
    options = {"name": name, "seed": seed, "iterations": recipe.iterations, "blocks": recipe.blocks}
    return _host(plugin_host).schedule(spec, stage, options)


def _save_signal(x: torch.Tensor, path_stem: Path, spec) -> str:
    """The input-space tensor as a lossless PNG or a float WAV; returns the file name."""
    if spec.modality == "audio":
        from ..io.audio import save_wav

        path = path_stem.with_suffix(".wav")
        save_wav(x, path, spec.input.sample_rate)
    else:
        from ..io.images import save_png

        path = path_stem.with_suffix(".png")
        save_png(x, path, spec.input)
    return path.name


def item_fingerprint(model, weights_id: str, stage: str, r: Recipe, schedule_name: str | None, seed: int,
                     input_index: int, input_sha256: str) -> str:
    """The fingerprint of one (input, stage) item: everything that determines its result (see `runs`)."""
    return fingerprint(model=model.spec.id, weights=weights_id, fake_relu=model.fake_relu, stage=stage,
                       recipe=r.as_record(), schedule=schedule_name, seed=seed, input_index=input_index,
                       input_sha256=input_sha256)


class _Item:
    def __init__(self, index: int, input_index: int, name: str, folder_name: str, source: str, stage: str):
        self.index, self.input_index, self.name, self.folder_name = index, input_index, name, folder_name
        self.source, self.stage = source, stage
        self.fp = ""
        self.state: ItemState | None = None
        self.record: dict[str, Any] | None = None
        self.metamer: torch.Tensor | None = None


@dataclass(frozen=True)
class MetamerResult:
    """One (input, stage) metamer in memory.

    record: record.json's fields. metamer: the metamer in input space, float32 on the CPU, the model's input shape
    (C, H, W) in its input range, or (samples,) for sounds. losses: the loss curve, [[step, relative loss], …].
    """

    record: dict[str, Any]
    metamer: torch.Tensor

    @property
    def losses(self) -> list[list[float]]:
        return self.record["loss_curve"]


class MetamerRun(list):
    """What `generate_metamers` returns: its records, input-major (a list of dicts, as written to record.json),
    plus `results`, one `MetamerResult` per record (same order) carrying the metamer tensor."""

    def __init__(self, results: list[MetamerResult]):
        super().__init__(r.record for r in results)
        self.results = results

    @property
    def metamers(self) -> list[torch.Tensor]:
        return [r.metamer for r in self.results]


def generate_metamers(model, inputs: Sequence[Any], stages: Sequence[str], recipe: "str | Recipe" = "feather2023",
                      iterations: int | None = None, blocks: int | None = None, seed: int = 0,
                      batch_size: int = 8, out_dir: Path | str | None = None,
                      null: NullDistribution | None = None, device: str = "cpu",
                      progress: Callable[[ProgressEvent], None] | None = None, resume: bool = True, *,
                      log_every: int = 50, gather_every: int = 50, checkpoint_every: int = 200,
                      stop_loss: float | None = None, schedule: str | None = None,
                      plugin_host=None, overwrite: bool = True, optimise: "str | Sequence[str] | None" = None,
                      notify: Callable[[str], None] | None = None,
                      only: Collection[tuple[int, str]] | None = None) -> MetamerRun:
    """Metamers of `inputs` (LoadedImage/LoadedSound: .name, .tensor in the model's range) at `stages`.

    Returns one record per (input, stage), input-major, in the order given (record.json's fields), as a
    `MetamerRun` whose `.results` also carry each metamer tensor. With `out_dir`, writes the run folder (see
    `runs`) and resumes finished or checkpointed items of the same command; without it (the default), writes nothing.
    `schedule` names the unit schedule (default: the spec's, e.g. hmax_units; "hmax_units_code" or
    "spectemp_coarse_to_fine_code" for the released code's variants; "none" for every unit at every step).
    `overwrite=False` refuses (MetazooError, one line, nothing written) when an item's folder holds results of a
    different command (other settings, or another input of the same name); the CLI's default.
    `optimise`: frozen-model optimisations for the steps ("fold-bn", "channels-last", "compile"; see `frozen`; None:
    the default set, which falls back silently); targets and steps use the optimised copy, the measures the model
    as given. `notify` receives one line per optimisation asked for that does not apply (the run continues
    eagerly).
    `only`: run (and return) just these (input index, stage) items — indices into `inputs`, so each item's initial
    noise and fingerprint are those of the whole run (how `workers` splits a run over processes); the overwrite
    check still covers every item.
    """
    spec = model.spec
    schedule_name = schedule or spec.metamer.schedule
    _host(plugin_host).check_schedule(spec, schedule_name)
    if any(p.device != torch.device(device) for p in model.net.parameters()):
        model = model.to(device)
    stages = model.check_stages(list(dict.fromkeys(stages)))
    optimisations = parse_optimisations(optimise)
    r = get_recipe(recipe).resolved(spec, iterations, blocks)
    if seed < 0:
        raise MetazooError(f"--seed must be ≥ 0 (got {seed})")
    if batch_size < 1:
        raise MetazooError(f"--batch-size must be ≥ 1 (got {batch_size})")
    if null is not None:
        null.check_model(model)
    originals = [_check_input(item, spec) for item in inputs]
    folders = unique_names([item.name for item in inputs])
    out = Path(out_dir) if out_dir is not None else None
    model_dir = out / safe_name(spec.id) if out is not None else None
    clamp = None if spec.modality == "audio" else model.input_range
    input_sha = [tensor_sha256(t) for t in originals]
    weights_id = weights_identity(model)

    items: list[_Item] = []
    for i, item in enumerate(inputs):
        for stage in stages:
            it = _Item(len(items), i, item.name, folders[i], getattr(item, "source", "") or item.name, stage)
            it.fp = item_fingerprint(model, weights_id, stage, r, schedule_name, seed, i, input_sha[i])
            items.append(it)

    def folder(it: _Item) -> Path:
        return model_dir / it.folder_name / safe_name(it.stage)

    if model_dir is not None and not overwrite and resume:
        taken = [folder(it) for it in items if holds_other(folder(it), it.fp)]
        if taken:
            more = f" (and {len(taken) - 1} more)" if len(taken) > 1 else ""
            raise MetazooError(f"{taken[0]}{more} holds results of a different command (other settings or another "
                               "input of the same name); pass --overwrite to replace them, or choose another --out")
    if only is not None:
        keep = set(only)
        items = [it for it in items if (it.input_index, it.stage) in keep]
    if model_dir is not None:
        for i in dict.fromkeys(it.input_index for it in items):
            t, d = originals[i], model_dir / folders[i]
            _save_signal(t, d / "original", spec)
            save_tensors(d / "original.safetensors", {"original": t})
    for it in items:
        if model_dir is not None and resume:
            it.record = load_record(folder(it), it.fp)
            if it.record is None:
                it.state = load_state(folder(it), it.fp)
        if it.record is None and it.state is None:
            it.state = ItemState(x=initial_noise(spec.input.shape, r.noise_mean, r.noise_std, seed,
                                                 it.input_index, clamp))

    groups: dict[tuple[str, int], list[_Item]] = {}
    for it in items:
        if it.record is None:
            groups.setdefault((it.stage, it.state.step), []).append(it)
    reference_cache: dict[int, dict[str, torch.Tensor]] = {}
    quiet = optimise is None  # the default set falls back silently; a set asked for says what it dropped
    frozen = (freeze(model, sorted({s for s, _ in groups}), optimisations, None if quiet else notify)
              if groups else None)
    for (stage, _), members in groups.items():
        unit_schedule = _schedule(spec, stage, r, seed, plugin_host, schedule_name)
        for start in range(0, len(members), batch_size):
            batch = members[start:start + batch_size]
            _run_batch(model, stage, batch, originals, r, unit_schedule, device, progress, log_every, gather_every,
                       checkpoint_every, stop_loss, folder if model_dir is not None else None, reference_cache,
                       null, seed, batch_size, schedule_name, frozen)
    stale = [it for it in items if it.record is not None and _null_path(it.record) != (null.path if null else None)]
    if stale:
        _reassess(model, stale, originals, null, folder, device, reference_cache)
    for it in items:
        if it.metamer is None:  # finished in an earlier run: the saved tensor
            it.metamer = _load_metamer(folder(it))
    return MetamerRun([MetamerResult(it.record, it.metamer) for it in items])


def _load_metamer(folder: Path) -> torch.Tensor:
    from safetensors.torch import load_file

    return load_file(str(folder / "metamer.safetensors"))["metamer"]


def _null_path(record: dict[str, Any]) -> str | None:
    return (record.get("null") or {}).get("path")


def _reassess(model, items: list["_Item"], originals, null, folder, device, reference_cache) -> None:
    """Finished items judged against another null than now: re-measure the saved metamers, rewrite the records."""
    for it in items:
        it.metamer = _load_metamer(folder(it))
        x = it.metamer.to(device)
        if it.input_index not in reference_cache:
            acts = measure_stages(model, originals[it.input_index][None].to(device))
            reference_cache[it.input_index] = {k: v.cpu() for k, v in acts.items()}
        met = {k: v.cpu() for k, v in measure_stages(model, x[None]).items()}
        verdict = assess(model, it.stage, reference_cache[it.input_index], met, null)[0]
        it.record.update(measures=verdict["measures"], criteria=verdict["criteria"], passed=verdict["passed"],
                         prediction=verdict["prediction"], **category_fields(verdict),
                         null=None if null is None else null_summary(null, verdict["threshold"]))
        write_json(folder(it) / RECORD_FILE, it.record)


def _measure_rows(model, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """`measure_stages` one row at a time (CPU results): a matrix product's summation order can depend on the
    batch size, and a record must not depend on which items shared its batch (--batch-size, workers)."""
    rows = [measure_stages(model, x[b:b + 1]) for b in range(x.shape[0])]
    return {k: torch.cat([r[k] for r in rows]).cpu() for k in rows[0]}


def _run_batch(model, stage, batch: list[_Item], originals, r: Recipe, schedule, device, progress, log_every,
               gather_every, checkpoint_every, stop_loss, folder, reference_cache, null, seed, batch_size,
               schedule_name, frozen) -> None:
    spec = model.spec
    stepper = frozen.model
    x0 = torch.stack([originals[it.input_index] for it in batch]).to(device)
    with torch.no_grad():
        targets = stepper(x0, [stage])[stage].detach()

    def checkpoint(active: list[int], states: list[ItemState]) -> None:
        if folder is not None:
            for i in active:
                save_state(folder(batch[i]), states[i], batch[i].fp)

    states = optimise_stage(stepper, stage, targets, [it.state for it in batch], r, schedule,
                            names=[it.name for it in batch], log_every=log_every, gather_every=gather_every,
                            checkpoint_every=checkpoint_every, stop_loss=stop_loss, on_checkpoint=checkpoint,
                            progress=progress)
    t0 = time.perf_counter()
    lo, hi = model.input_range
    metamers = torch.stack([s.x.to(device) for s in states]).detach().clamp(lo, hi)
    for i in dict.fromkeys(it.input_index for it in batch if it.input_index not in reference_cache):
        reference_cache[i] = _measure_rows(model, originals[i][None].to(device))
    original_acts = {k: torch.cat([reference_cache[it.input_index][k] for it in batch]) for k in
                     reference_cache[batch[0].input_index]}
    metamer_acts = _measure_rows(model, metamers)
    verdicts = assess(model, stage, original_acts, metamer_acts, null)
    share = (time.perf_counter() - t0) / len(batch)
    final_losses = [float((a - t).norm() / t.norm()) for a, t in zip(metamer_acts[stage], original_acts[stage])]
    if progress is not None:  # the bar ends on the loss the table and record report (of the kept, clamped iterate)
        progress(ProgressEvent(stage, [it.name for it in batch], r.total_steps, r.total_steps,
                               sum(final_losses) / len(final_losses), kind="done"))
    for row, (it, state, verdict) in enumerate(zip(batch, states, verdicts)):
        final_loss = final_losses[row]
        curve = list(state.losses)
        if not curve or curve[-1][0] != state.step:
            curve.append([float(state.step), final_loss])
        it.record = _record(model, it, r, seed, curve, verdict, null, state, share, device, batch_size,
                            log_every, checkpoint_every, stop_loss, final_loss, schedule_name)
        it.record["optimisations"] = list(frozen.applied)  # frozen-model optimisations the steps ran with
        it.metamer = x = metamers[row].cpu()
        if folder is not None:
            d = folder(it)
            save_tensors(d / "metamer.safetensors", {"metamer": x})
            signal = _save_signal(x, d / "metamer", spec)
            original_file = "original.wav" if spec.modality == "audio" else "original.png"
            it.record["files"] = {"metamer": signal, "tensor": "metamer.safetensors",
                                  "original": f"../{original_file}"}
            write_json(d / RECORD_FILE, it.record)
            (d / STATE_FILE).unlink(missing_ok=True)


def _record(model, it: _Item, r: Recipe, seed: int, curve, verdict, null, state: ItemState, share: float,
            device: str, batch_size: int, log_every: int, checkpoint_every: int, stop_loss, final_loss: float,
            schedule_name: str | None):
    spec = model.spec
    null_info = None
    if null is not None:
        null_info = null_summary(null, verdict["threshold"])
    recipe = {**r.as_record(), "schedule": schedule_name, "total_steps": r.total_steps,
              "log_every": log_every, "checkpoint_every": checkpoint_every, "stop_loss": stop_loss,
              "batch_size": batch_size, "noise_seed": noise_seed(seed, it.input_index),
              "step_sizes": [r.step_size(b) for b in range(r.blocks)] if r.method != "adam" else None}
    return {
        "schema": SCHEMA, "model": spec.id, "family": spec.family, "modality": spec.modality,
        "weights_sha256": model.weights_sha256, "weights_source": model.weights_source,
        "random_weights": model.random_weights, "stage": it.stage,
        "input": {"name": it.name, "source": it.source, "index": it.input_index, "folder": it.folder_name},
        "recipe": recipe, "seed": seed, "versions": versions(), "loss_curve": curve, "final_loss": final_loss,
        "steps_done": state.step, "stopped_early": state.stopped_early,
        "measures": verdict["measures"], "null": null_info, "criteria": verdict["criteria"],
        "passed": verdict["passed"], "prediction": verdict["prediction"], **category_fields(verdict), "files": None,
        "wall_time_s": round(state.wall_time_s + share, 3), "device": str(device),
        "completed": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "fingerprint": it.fp,
    }
