"""`metazoo check ID` for resolved ids: build with random weights, run the contract against the source
library's oracle, store the verdict (with the date) in the resolved-spec cache."""
from __future__ import annotations

import datetime
from typing import Any

from .build import source_module
from . import cache
from .ids import parse_id
from .resolver import resolve_entry


def check(model_id: str) -> dict[str, Any]:
    """The contract verdict for a resolved id (see contract.contract), cached with its spec."""
    from ..models import load_model
    from ..registry import ModelSpec
    from .contract import contract

    entry = resolve_entry(model_id)
    spec = ModelSpec.model_validate(entry["spec"])
    model = load_model(spec, pretrained=False)
    source = source_module(spec.build["source"])
    stages = spec.build["oracle"]
    paths = [spec.build["taps"][s]["module"] for s in stages or []]
    oracle = (lambda z: source.intermediates(model.net, z, paths)) if stages else None
    verdict = contract(model, oracle, stages or [])
    verdict["date"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    cache.write(parse_id(model_id), {**entry, "check": verdict})
    return verdict
