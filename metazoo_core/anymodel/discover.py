"""Stage discovery shared by the sources: which candidate modules fire, in what order, with what output shape
(one forward on the meta device), and the cheap default subset for `--stage auto`."""
from __future__ import annotations

import math
from typing import Any, Iterable

import torch
from torch import Tensor, nn

MIN_BLOCKS = 3
"""A Sequential/ModuleList child with at least this many children is split into one stage per child."""
FINAL = "final"
"""The stage holding the network's own output (Tap on the root module)."""


def stage_name(path: str) -> str:
    """A stage name from a module path: dots become underscores (`stages.0` → `stages_0`); "" is `final`."""
    return path.replace(".", "_") if path else FINAL


def candidates(net: nn.Module, prefix: str = "") -> list[str]:
    """Module paths to tap: each child, split into its blocks when it is a Sequential/ModuleList of ≥ MIN_BLOCKS,
    or descended into when it holds such a container (torchvision ViT's `encoder.layers`)."""
    out = []
    for name, child in net.named_children():
        path = f"{prefix}{name}"
        if isinstance(child, (nn.Sequential, nn.ModuleList)) and len(child) >= MIN_BLOCKS:
            out += [f"{path}.{n}" for n, _ in child.named_children()]
        elif any(isinstance(g, (nn.Sequential, nn.ModuleList)) and len(g) >= MIN_BLOCKS for g in child.children()):
            out += candidates(child, f"{path}.")
        else:
            out.append(path)
    return out


def fired_shapes(net: nn.Module, input_shape: Iterable[int], paths: Iterable[str],
                 points: dict[str, str] | None = None, device: str = "meta") -> list[tuple[str, tuple[int, ...]]]:
    """(path, per-example output shape) of the candidate modules whose output (or first input, where `points`
    says "input") is a tensor, in the order they first fire in one forward of a batch of 1 on `device`.

    net: built on `device` (meta, unless the builder cannot); put in eval mode (as StagedModel runs it).
    Modules that never fire or give a non-tensor are left out.
    """
    net.eval()
    modules = dict(net.named_modules())
    points = points or {}
    seen: dict[str, tuple[int, ...]] = {}
    handles = []

    def remember(path: str, value: Any) -> None:
        if path not in seen and isinstance(value, Tensor):
            seen[path] = tuple(value.shape[1:])

    for path in dict.fromkeys(paths):
        if points.get(path) == "input":
            handles.append(modules[path].register_forward_pre_hook(
                lambda m, args, path=path: remember(path, args[0] if args else None)))
        else:
            handles.append(modules[path].register_forward_hook(
                lambda m, args, out, path=path: remember(path, out)))
    try:
        with torch.no_grad():
            net(torch.zeros(1, *input_shape, device=device))
    finally:
        for h in handles:
            h.remove()
    return list(seen.items())


def auto_subset(names: list[str], n: int = 4) -> list[str]:
    """A cheap default subset of the ordered stage names (the last is `final`): `n` stages spread evenly over
    the others (early, middle, late…, the last one included) plus `final`."""
    body = [s for s in names if s != FINAL]
    if len(body) <= n:
        return names
    picks = {round(k * (len(body) - 1) / (n - 1)) for k in range(n)}
    return [body[i] for i in sorted(picks)] + [FINAL]


def stage_entries(shapes: list[tuple[str, tuple[int, ...]]]) -> list[dict[str, Any]]:
    """Registry stage entries ({name, shape, n_features}) for discovered (path, shape) pairs."""
    return [{"name": stage_name(p), "shape": list(s), "n_features": math.prod(s)} for p, s in shapes]
