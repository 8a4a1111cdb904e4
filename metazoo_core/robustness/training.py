"""Standard, adversarial and random-perturbation training with safetensors checkpoints and exact resume.

Perturbations (seed "Adversarial training"; facts §10):
    adversarial — untargeted PGD on the cross-entropy, computed with the network in eval mode (as the robustness
        library), then the step is taken on the perturbed batch. Vision: 7 steps of ε/2 (L2 ε=3 → 1.5,
        L∞ ε=8/255 → 4/255), no random start. Audio: 5 steps of ε/2 with a random start (facts §10).
    random — L2: a random point on the ε-sphere; L∞: a random corner of the ε-box (±ε on every value); drawn
        independently per example and epoch.
    Both act on the input (image or waveform; clipped to the valid range afterwards) or, for audio with
    where="cochleagram", on the output of the cochleagram stage, followed by a ReLU (seed).
Optimiser: SGD with momentum; lr × gamma every `lr_step_epochs` epochs (the study: ÷10 every 50 epochs).

Checkpoints (OUT/checkpoint.safetensors, atomic, every `checkpoint_every` steps, at each epoch end and on
interruption): network state ("net/…"), optimiser momentum ("opt/…"), and metadata (position, config, history).
The data order of each epoch and every random draw of a batch are seeded from (seed, epoch, batch), so a run
resumed from a checkpoint continues exactly as the uninterrupted run would. OUT/weights.safetensors holds the
network state alone (loadable with `--weights`), OUT/train.json the history and evaluation.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import InputError
from ..fileio import save_tensors, write_json
from .attacks import Bounds, pgd, random_l2_sphere, random_linf_corners, untargeted
from .data import LabelledSet
from .settings import Perturbation, TrainConfig, study_perturbation  # noqa: F401  (re-exported)

SCHEMA = "metazoo.train/1"


@dataclass
class Trainee:
    """A classifier to train.

    module: holds every trainable parameter (its state dict is what checkpoints store).
    logits: input (B, ...) in `bounds` → logits (B, classes); normalisation inside.
    front/back: for cochleagram perturbations, input → cochleagram and cochleagram → logits.
    """

    module: nn.Module
    logits: Callable[[Tensor], Tensor]
    bounds: Bounds = (0.0, 1.0)
    front: Callable[[Tensor], Tensor] | None = None
    back: Callable[[Tensor], Tensor] | None = None


def trainee_from_model(model) -> Trainee:
    """A registry `StagedModel` made trainable: its network's parameters unfrozen (StagedModel freezes them)."""
    model.net.requires_grad_(True)
    front = back = None
    if "front" in model.parts and "back" in model.parts:
        front = lambda x: model.parts["front"](model.preprocess(x))  # noqa: E731
        back = model.parts["back"]
    return Trainee(module=model.net, logits=model.logits, bounds=model.input_range, front=front, back=back)


def _batch_seed(seed: int, epoch: int, batch: int) -> int:
    """A distinct generator seed per (seed, epoch, batch); batch −1 seeds the epoch's data order."""
    return (((seed * 1_000_003 + epoch) << 32) + batch + 1) % (2**63 - 1)


def epoch_order(n: int, seed: int, epoch: int) -> Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(_batch_seed(seed, epoch, -1)))


def perturbed_logits(trainee: Trainee, x: Tensor, y: Tensor, p: Perturbation, generator: torch.Generator) -> Tensor:
    """Logits of the perturbed batch (graph kept for the parameter update)."""
    if p.where == "cochleagram":
        if trainee.front is None or trainee.back is None:
            raise InputError("this model has no cochleagram front/back parts; perturb the input instead")
        with torch.no_grad():
            rep = trainee.front(x)
        forward: Callable[[Tensor], Tensor] = lambda c: trainee.back(torch.relu(c))  # noqa: E731
        bounds: Bounds = None
    else:
        rep, forward, bounds = x, trainee.logits, trainee.bounds
    if p.kind == "random":
        rep = (random_l2_sphere if p.norm == "l2" else random_linf_corners)(rep, p.eps, bounds, generator)
    elif p.kind == "adversarial":
        was_training = trainee.module.training
        trainee.module.eval()
        rep = pgd(forward, rep, untargeted(y), norm=p.norm, eps=p.eps, steps=p.steps, step_size=p.step_size,
                  bounds=bounds, use_best=False, start_random=p.random_start, generator=generator)
        trainee.module.train(was_training)
    return forward(rep)


# -- checkpoints -----------------------------------------------------------------------------------------------
def _versions() -> dict[str, str]:
    import platform

    from .. import __version__

    return {"metazoo": __version__, "torch": torch.__version__, "python": platform.python_version()}


def save_checkpoint(path: Path, module: nn.Module, opt: torch.optim.Optimizer, meta: dict[str, Any]) -> None:
    tensors = {f"net/{k}": v for k, v in module.state_dict().items()}
    state = opt.state_dict()
    for idx, buffers in state["state"].items():
        for key, value in buffers.items():
            if isinstance(value, Tensor):
                tensors[f"opt/{idx}/{key}"] = value
    meta = {**meta, "param_groups": state["param_groups"]}
    save_tensors(path, tensors, {"schema": SCHEMA, "meta": json.dumps(meta)})


def read_checkpoint(path: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), "pt") as f:
            header = f.metadata() or {}
        tensors = load_file(str(path))
    except Exception as e:
        raise InputError(f"{path}: unreadable checkpoint ({e}); delete it to start over") from None
    if header.get("schema") != SCHEMA:
        raise InputError(f"{path}: not a metazoo training checkpoint (schema {header.get('schema')!r})")
    return tensors, json.loads(header["meta"])


def restore(tensors: dict[str, Tensor], meta: dict[str, Any], module: nn.Module, opt: torch.optim.Optimizer) -> None:
    module.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net/")}, strict=True)
    state: dict[int, dict[str, Tensor]] = {}
    for k, v in tensors.items():
        if k.startswith("opt/"):
            _, idx, key = k.split("/", 2)
            state.setdefault(int(idx), {})[key] = v
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


# -- training --------------------------------------------------------------------------------------------------
def accuracy(forward: Callable[[Tensor], Tensor], data: LabelledSet, batch_size: int = 64,
             device: torch.device | str = "cpu") -> float:
    """Fraction of `data` that `forward` classifies as labelled (batches moved to `device`)."""
    with torch.no_grad():
        hits = sum(int((forward(data.x[i:i + batch_size].to(device)).argmax(1).cpu() == data.y[i:i + batch_size]).sum())
                   for i in range(0, len(data), batch_size))
    return hits / max(len(data), 1)


def robust_accuracy(trainee: Trainee, data: LabelledSet, norm: str, eps: float, steps: int = 64,
                    batch_size: int = 64, device: torch.device | str = "cpu") -> float:
    """Accuracy under untargeted PGD at the input (steps of ε/4, best iterate), as the study's evaluation."""
    hits = 0
    for i in range(0, len(data), batch_size):
        x, y = data.x[i:i + batch_size].to(device), data.y[i:i + batch_size].to(device)
        adv = pgd(trainee.logits, x, untargeted(y), norm=norm, eps=eps, steps=steps, bounds=trainee.bounds)
        with torch.no_grad():
            hits += int((trainee.logits(adv).argmax(1) == y).sum())
    return hits / max(len(data), 1)


def train(trainee: Trainee, data: LabelledSet, config: TrainConfig, out_dir: Path | str, *,
          eval_data: LabelledSet | None = None, resume: bool = True, meta: dict[str, Any] | None = None,
          progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Train `trainee` on `data` for `config.epochs` epochs; returns the summary also written to OUT/train.json.

    progress(info) is called after every batch with epoch, batch, batches, step, loss, accuracy, lr.
    KeyboardInterrupt saves a checkpoint at the last finished batch and is re-raised.
    """
    out = Path(out_dir)
    ckpt = out / "checkpoint.safetensors"
    module = trainee.module
    params = [p for p in module.parameters() if p.requires_grad]
    device = params[0].device if params else torch.device("cpu")
    if not params:
        raise InputError("the model has no trainable parameters (hand-built filters cannot be trained)")
    opt = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    n = len(data)
    batches = math.ceil(n / config.batch_size)
    epoch, batch, step, history = 0, 0, 0, []
    resumed_from = None
    if resume and ckpt.exists():
        tensors, saved = read_checkpoint(ckpt)
        old = saved["config"]
        old_cfg = TrainConfig(**{**old, "perturbation": Perturbation(**old["perturbation"])})
        if not old_cfg.resumable_with(config):
            raise InputError(f"{ckpt} was written with other settings ({old_cfg.perturbation.describe()}, "
                             f"batch {old_cfg.batch_size}, lr {old_cfg.lr}, seed {old_cfg.seed}); "
                             "use another --out, the same settings, or --no-resume")
        if saved.get("n_examples") != n:
            raise InputError(f"{ckpt} was trained on {saved.get('n_examples')} examples, the data now has {n}; "
                             "use another --out or --no-resume")
        restore(tensors, saved, module, opt)
        epoch, batch, step, history = saved["epoch"], saved["batch"], saved["step"], saved["history"]
        resumed_from = {"epoch": epoch, "batch": batch, "step": step}

    def position() -> dict[str, Any]:
        return {"epoch": epoch, "batch": batch, "step": step, "history": history, "n_examples": n,
                "config": asdict(config), "meta": meta or {}, "versions": _versions()}

    started = time.time()
    try:
        while epoch < config.epochs:
            for group in opt.param_groups:
                group["lr"] = config.lr * config.lr_gamma ** (epoch // config.lr_step_epochs)
            order = epoch_order(n, config.seed, epoch)
            totals = [0.0, 0, 0]  # loss sum, correct, seen (this epoch, from `batch` on)
            while batch < batches:
                idx = order[batch * config.batch_size:(batch + 1) * config.batch_size]
                x, y = data.x[idx].to(device), data.y[idx].to(device)
                torch.manual_seed(_batch_seed(config.seed, epoch, batch))  # dropout etc.: reproducible on resume
                gen = torch.Generator().manual_seed(_batch_seed(config.seed, epoch, batch))
                module.train()
                logits = perturbed_logits(trainee, x, y, config.perturbation, gen)
                loss = F.cross_entropy(logits, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                batch += 1
                step += 1
                totals[0] += float(loss.detach()) * len(y)
                totals[1] += int((logits.argmax(1) == y).sum())
                totals[2] += len(y)
                if progress is not None:
                    progress({"epoch": epoch, "batch": batch, "batches": batches, "step": step,
                              "loss": float(loss.detach()), "accuracy": totals[1] / totals[2],
                              "lr": opt.param_groups[0]["lr"]})
                if config.checkpoint_every and step % config.checkpoint_every == 0:
                    save_checkpoint(ckpt, module, opt, position())
            history.append({"epoch": epoch, "loss": totals[0] / max(totals[2], 1),
                            "train_accuracy": totals[1] / max(totals[2], 1), "lr": opt.param_groups[0]["lr"]})
            epoch, batch = epoch + 1, 0
            save_checkpoint(ckpt, module, opt, position())
    except KeyboardInterrupt:
        save_checkpoint(ckpt, module, opt, position())
        raise
    module.eval()
    summary: dict[str, Any] = {"schema": SCHEMA, **(meta or {}), "config": asdict(config),
                               "perturbation": config.perturbation.describe(), "n_examples": n,
                               "epochs_done": epoch, "steps": step, "history": history, "resumed_from": resumed_from,
                               "wall_time_s": round(time.time() - started, 2), "versions": _versions()}
    if eval_data is not None:
        p = config.perturbation
        evaluation: dict[str, Any] = {"n": len(eval_data),
                                      "clean_accuracy": accuracy(trainee.logits, eval_data, device=device)}
        if p.kind != "none" and p.where == "input":
            evaluation["attack"] = {"norm": p.norm, "eps": p.eps, "steps": config.eval_steps, "step": "ε/4"}
            evaluation["adversarial_accuracy"] = robust_accuracy(trainee, eval_data, p.norm, p.eps,
                                                                 config.eval_steps, device=device)
        summary["evaluation"] = evaluation
    save_tensors(out / "weights.safetensors", module.state_dict(),
                 {"schema": SCHEMA, "meta": json.dumps({k: v for k, v in summary.items() if k != "history"})})
    write_json(out / "train.json", summary)
    return summary
