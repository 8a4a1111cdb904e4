"""Like with like: whether a measurement found on disk was made with the settings a profile asks for.

Each function returns the settings that differ, one short text each ("steps 8, asked 4"); an empty list means the
record may be reused. What counts, per kind:
- robustness (untargeted PGD, one norm): the ε grid, steps, step ratio, inputs, subsets and examples per subset
  (subsets and n may be below what was asked only when the inputs are the same: capped by what is available);
- ImageNet-C: the corruptions, severities and inputs;
- metamers: the recipe and its schedule as the engine resolved it for the model (iterations, blocks, init_step,
  step_decay, noise mean and std; `metazoo_core.metamer.recipes.Recipe.resolved`).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..registry import ModelSpec

SCHEDULE_FIELDS = ("name", "iterations", "blocks", "init_step", "step_decay", "noise_mean", "noise_std")
"""The recipe fields (as a metamer record's `recipe` holds them) that make two metamers comparable."""


def input_set(sources: list[str] | None, modality: str) -> frozenset[str] | None:
    """The inputs `sources` expand to (`builtin:NAME` or resolved paths); None when they cannot be expanded."""
    from ..errors import MetazooError
    from ..inputs import expand_sources

    if not sources:
        return None
    try:
        return frozenset(s if s.startswith("builtin") else str(Path(s).resolve())
                         for s in expand_sources(list(sources), modality))
    except (MetazooError, OSError):
        return frozenset(sources)


def _same_numbers(a: Any, b: Any) -> bool:
    try:
        return len(a) == len(b) and all(math.isclose(float(x), float(y), rel_tol=1e-9, abs_tol=0.0)
                                        for x, y in zip(sorted(a), sorted(b)))
    except (TypeError, ValueError):
        return False


def _capped(what: str, got: Any, asked: int, same_inputs: bool) -> list[str]:
    """`got` equals `asked`, or is below it because the same inputs hold fewer examples."""
    if got == asked or isinstance(got, int) and got < asked and same_inputs:
        return []
    return [f"{what} {got}, asked {asked}"]


def robustness_differences(record: dict[str, Any], asked: dict[str, Any], inputs: frozenset[str] | None,
                           modality: str) -> list[str]:
    """asked: {"eps": [ε], "steps", "step_ratio", "subsets", "n"} of one norm (the record's norm is that norm)."""
    out = []
    eps = [r.get("eps") for r in record.get("results") or []]
    if not _same_numbers(eps, asked["eps"]):
        out.append(f"ε {', '.join(f'{e:g}' for e in eps)}, asked {', '.join(f'{e:g}' for e in asked['eps'])}")
    for key in ("steps", "step_ratio"):
        if not _same_numbers([record.get(key)], [asked[key]]):
            out.append(f"{key.replace('_', ' ')} {record.get(key)}, asked {asked[key]}")
    same = input_set(record.get("inputs"), modality) == inputs
    if not same:
        out.append("other inputs")
    out += _capped("subsets", record.get("subsets"), asked["subsets"], same)
    out += _capped("n", record.get("n"), asked["n"], same)
    return out


def ood_differences(record: dict[str, Any], corruptions: list[str], severities: list[int],
                    inputs: frozenset[str] | None, modality: str) -> list[str]:
    """An ImageNet-C record against the corruptions × severities asked for (as `check_selection` resolves them)."""
    table = record.get("accuracy") or {}
    out = []
    if sorted(table) != sorted(corruptions):
        out.append(f"{len(table)} corruptions, asked {len(corruptions)}")
    got = sorted({int(s) for by in table.values() for s in by})
    if got != sorted(severities):
        out.append(f"severities {','.join(map(str, got))}, asked {','.join(map(str, sorted(severities)))}")
    if input_set(record.get("inputs"), modality) != inputs:
        out.append("other inputs")
    return out


def asked_schedule(spec: ModelSpec, recipe: str, iterations: int | None, blocks: int | None,
                   constants: dict[str, float | None]) -> dict[str, Any]:
    """The schedule a metamer of `spec` is made with: {field: value} over SCHEDULE_FIELDS."""
    from dataclasses import asdict

    from ..metamer.recipes import tuned_recipe

    r = asdict(tuned_recipe(recipe, **constants).resolved(spec, iterations, blocks))
    return {k: r[k] for k in SCHEDULE_FIELDS}


def schedule_differences(record: dict[str, Any], asked: dict[str, Any]) -> list[str]:
    """A metamer record's recipe against `asked_schedule`."""
    got = record.get("recipe") or {}
    out = []
    for key in SCHEDULE_FIELDS:
        same = got.get(key) == asked[key] if key == "name" else _same_numbers([got.get(key)], [asked[key]])
        if not same:
            out.append(f"{'recipe' if key == 'name' else key.replace('_', ' ')} {got.get(key)}, asked {asked[key]}")
    return out
