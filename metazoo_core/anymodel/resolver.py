"""Resolve `SOURCE:NAME[@REV]` into a validated ModelSpec: from the cache when fresh, else from upstream metadata
(imports the source library and torch), then cached."""
from __future__ import annotations

from typing import Any

from ..registry import ModelSpec, parse_specs
from . import cache
from .ids import parse_id


def resolve_entry(model_id: str) -> dict[str, Any]:
    """The cache entry {id, versions, spec, check} for `model_id`, resolved and stored when absent or stale."""
    mid = parse_id(model_id)
    entry = cache.read(mid)
    if entry is None:
        from .build import source_module

        raw = source_module(mid.source).describe(mid)
        spec = parse_specs([raw], f"resolved id '{model_id}'")[0]
        entry = {"id": model_id, "spec": spec.model_dump(mode="json"), "check": None}
        cache.write(mid, entry)
    return entry


def resolve(model_id: str) -> ModelSpec:
    """The ModelSpec (family `anymodel`, group `resolved`) for `model_id`."""
    return ModelSpec.model_validate(resolve_entry(model_id)["spec"])
