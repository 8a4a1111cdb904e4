"""Train and evaluate per-stage linear readouts of a frozen model: `readout_stages`.

All pending stages are trained together on the same batches (one forward of the backbone per batch serves every
stage), each with its own layer, optimiser and schedule. Without augmentation the features are computed once and
cached. Results are written per stage, atomically, to OUT/<stage>.json (+ <stage>.safetensors with the layer and
the unit indices); a stage whose result exists is skipped, so an interrupted run resumes where it stopped.
"""
from __future__ import annotations

import math
import platform
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor, nn

from ..errors import InputError
from ..fileio import save_tensors, write_json
from ..robustness.data import LabelledSet
from .augment import augment_batch
from .config import ReadoutConfig
from .data import check_disjoint
from .subsample import indices_digest, unit_indices

SCHEMA = "metazoo.readout/1"
Say = Callable[[str], None]


def result_path(out_dir: Path, stage: str) -> Path:
    return Path(out_dir) / f"{stage}.json"


def _features(model, x: Tensor, stages: list[str], index: dict[str, Tensor], device: str,
              batch_size: int) -> dict[str, Tensor]:
    """{stage: (N, n_kept)} float32 on cpu: the kept units of each stage for inputs x (no gradient)."""
    parts: dict[str, list[Tensor]] = {s: [] for s in stages}
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            acts = model(x[i:i + batch_size].to(device), stages)
            for s in stages:
                parts[s].append(acts[s].flatten(1)[:, index[s].to(acts[s].device)].float().cpu())
    return {s: torch.cat(v) for s, v in parts.items()}


def _optimizer(layer: nn.Module, cfg: ReadoutConfig, steps: int):
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(layer.parameters(), lr=cfg.initial_lr, momentum=cfg.momentum,
                              weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.Adam(layer.parameters(), lr=cfg.initial_lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.max_lr, total_steps=steps, pct_start=cfg.warmup_fraction,
        anneal_strategy="cos", cycle_momentum=False, div_factor=cfg.max_lr / cfg.initial_lr,
        final_div_factor=cfg.initial_lr / cfg.final_lr)
    return opt, sched


def topk_accuracy(logits: Tensor, y: Tensor, k: int) -> float:
    """Fraction of rows whose label is among the k largest logits (k capped at the number of classes)."""
    k = min(k, logits.shape[1])
    return float((logits.topk(k, dim=1).indices == y[:, None]).any(dim=1).float().mean())


def check_classes(train: LabelledSet) -> None:
    """InputError unless the training labels hold at least 2 classes: with one, every answer is right (top-1 = 1)."""
    present = int(train.y.unique().numel()) if len(train) else 0
    if present < 2:
        raise InputError(f"a readout needs images of at least 2 classes to tell apart; the training set holds "
                         f"{present} ({', '.join(map(str, train.classes)) or 'none'}): add a folder per class")


def format_top5(top5: float | None) -> str:
    """The top-5 accuracy as shown: 3 decimals, or 'n/a (≤ 5 classes)' when it is trivially 1."""
    return "n/a (≤ 5 classes)" if top5 is None else f"{top5:.3f}"


def readout_stages(model, train: LabelledSet, val: LabelledSet, stages: list[str], out_dir: Path | str, *,
                   config: ReadoutConfig = ReadoutConfig(), seed: int = 0, device: str = "cpu",
                   say: Say = lambda _m: None, meta: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """{stage: record} for `stages` of the frozen StagedModel `model`, trained on `train`, scored on `val`.

    train.x / val.x: (N, *input shape) in the model's input range; y: int64 labels in [0, n_classes). The number
    of classes is max(label) + 1 over both sets; `train` must hold at least 2 (InputError otherwise). Records hold
    top1 / top5 (fractions in [0, 1]) on `val` — top5 is None with ≤ 5 classes, where every label is among the
    top 5 — the subsample (n_features, n_units, units_sha256), the settings and the per-epoch training loss.
    InputError when a held-out item is also in the training set by content (`data.check_disjoint`).
    """
    out_dir = Path(out_dir)
    model.check_stages(stages)
    check_classes(train)
    check_disjoint(train, val)
    cfg = config
    records: dict[str, dict[str, Any]] = {}
    pending = []
    for s in stages:
        path = result_path(out_dir, s)
        if path.exists():
            import json

            records[s] = json.loads(path.read_text())
            say(f"{s}: done earlier (top-1 {records[s]['top1']:.3f}), skipped")
        else:
            pending.append(s)
    if not pending:
        return records
    augment = cfg.augment and model.spec.modality == "vision" and train.x.dim() == 4
    n_classes = int(max(int(train.y.max()), int(val.y.max())) + 1)
    with torch.no_grad():
        probe = model(train.x[:1].to(device), pending)
    n_feat = {s: probe[s][0].numel() for s in pending}
    index = {s: unit_indices(model.spec.id, s, n_feat[s], cfg.units, seed) for s in pending}
    start = time.perf_counter()
    fixed_train = _features(model, train.x, pending, index, device, cfg.batch_size)
    val_feat = _features(model, val.x, pending, index, device, cfg.batch_size)
    shift = {s: fixed_train[s].mean(0) if cfg.standardize else torch.zeros(len(index[s])) for s in pending}
    scale = {s: fixed_train[s].std(0).clamp_min(1e-8) if cfg.standardize else torch.ones(len(index[s]))
             for s in pending}
    steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
    g = torch.Generator().manual_seed(seed)
    layers, opts = {}, {}
    for s in pending:
        layers[s] = nn.Linear(len(index[s]), n_classes)
        init = torch.Generator().manual_seed(int(indices_digest(torch.tensor([seed]))[:15], 16) ^ len(s))
        with torch.no_grad():  # torch's default init range, drawn per stage: a stage redone alone gets the same
            bound = 1 / math.sqrt(len(index[s]))
            layers[s].weight.uniform_(-bound, bound, generator=init)
            layers[s].bias.uniform_(-bound, bound, generator=init)
        opts[s] = _optimizer(layers[s], cfg, cfg.epochs * steps_per_epoch)
    history: dict[str, list[float]] = {s: [] for s in pending}
    for epoch in range(cfg.epochs):
        order = torch.randperm(len(train), generator=g)
        totals = {s: 0.0 for s in pending}
        for b in range(steps_per_epoch):
            idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            if augment:
                xb = augment_batch(train.x[idx], cfg.crop_scale, cfg.crop_ratio, cfg.flip_p, g)
                feats = _features(model, xb, pending, index, device, cfg.batch_size)
            else:
                feats = {s: fixed_train[s][idx] for s in pending}
            for s in pending:
                opt, sched = opts[s]
                loss = nn.functional.cross_entropy(layers[s]((feats[s] - shift[s]) / scale[s]), train.y[idx])
                if not torch.isfinite(loss):
                    raise InputError(f"readout of stage {s} diverged (loss {float(loss)}) at epoch {epoch + 1}; "
                                     "lower --max-lr or use --standardize")
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                totals[s] += float(loss.detach()) * len(idx)
        for s in pending:
            history[s].append(totals[s] / len(train))
        say(f"epoch {epoch + 1}/{cfg.epochs}: " + ", ".join(f"{s} {history[s][-1]:.3f}" for s in pending))
    for s in pending:
        with torch.no_grad():
            logits = layers[s]((val_feat[s] - shift[s]) / scale[s])
            train_logits = layers[s]((fixed_train[s] - shift[s]) / scale[s])
        record = {
            "schema": SCHEMA, **(meta or {}), "model": model.spec.id, "stage": s, "seed": seed,
            "top1": topk_accuracy(logits, val.y, 1), "top5": topk_accuracy(logits, val.y, 5) if n_classes > 5 else None,
            "train_top1": topk_accuracy(train_logits, train.y, 1),
            "n_train": len(train), "n_val": len(val), "n_classes": n_classes, "classes": list(train.classes),
            "n_features": n_feat[s], "n_units": len(index[s]), "units_sha256": indices_digest(index[s]),
            "augmented": augment, "config": asdict(cfg), "config_digest": cfg.digest(), "loss": history[s],
            "weights_sha256": getattr(model, "weights_sha256", None),
            "files": {"layer": f"{s}.safetensors"},
            "versions": {"torch": torch.__version__, "python": platform.python_version()},
            "wall_time_s": round(time.perf_counter() - start, 3),
            "completed": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        save_tensors(out_dir / f"{s}.safetensors",
                     {"weight": layers[s].weight.detach().contiguous(), "bias": layers[s].bias.detach().contiguous(),
                      "units": index[s].contiguous(), "shift": shift[s].contiguous(), "scale": scale[s].contiguous()})
        write_json(result_path(out_dir, s), record)
        records[s] = record
        say(f"{s}: top-1 {record['top1']:.3f}, top-5 {format_top5(record['top5'])} ({record['n_units']} of "
            f"{record['n_features']} units)")
    return {s: records[s] for s in stages}


def readout_dir(root: Path | str, model_id: str, seed: int, config: ReadoutConfig) -> Path:
    """Where one (model, seed, settings) readout lives: ROOT/<model>/s<seed>-<settings digest>."""
    return Path(root) / model_id / f"s{seed}-{config.digest()}"
