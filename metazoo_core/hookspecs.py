"""The plugin interface (pluggy project name and entry-point group: `metazoo`).

A plugin is a module (or object) with `@hookimpl` functions. Registration hooks must stay cheap: they run at
`metazoo list` time, so a plugin module must not import torch or model code at import time — do it inside
`metazoo_build_model` and friends.

    from metazoo_core.hookspecs import hookimpl

    @hookimpl
    def metazoo_register_families(register):
        register("mynet", "My networks (paper, year)")

    @hookimpl
    def metazoo_register_specs(register):
        register({"id": "mynet_small", "family": "mynet", ...})      # same fields as registry.yaml

    @hookimpl
    def metazoo_build_model(spec, options):
        if spec.family != "mynet":
            return None
        from .model import build          # torch imported here, not at module import
        return build(spec, options)        # a metazoo_core.stages.StageNetwork
"""
from __future__ import annotations

from typing import Any, Callable

import pluggy

PROJECT = "metazoo"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def metazoo_register_families(register: Callable[[str, str], None]) -> None:
    """Declare model families: `register(name, description)`. Cheap; no torch."""


@hookspec
def metazoo_register_specs(register: Callable[[dict[str, Any]], None]) -> None:
    """Add model specs (dicts with registry.yaml's fields) beyond registry.yaml. Cheap; no torch."""


@hookspec(firstresult=True)
def metazoo_build_model(spec: Any, options: dict[str, Any]) -> Any:
    """Build the network for `spec` (a ModelSpec) if it belongs to this plugin's family.

    Return a `metazoo_core.stages.StageNetwork` with random or constructed weights (the core loads checkpoints
    afterwards through `metazoo_convert_checkpoint`), or None when the spec is not this plugin's.
    `options` holds build switches, e.g. {"device": "meta"}.
    """


@hookspec(firstresult=True)
def metazoo_convert_checkpoint(spec: Any, state_dict: dict[str, Any], network: Any) -> Any:
    """Map an original checkpoint's state dict (already loaded safely) onto `network.net`'s keys.

    Return the converted dict, or None when `spec` is not this plugin's (the core then loads it as it is).
    """


@hookspec(firstresult=True)
def metazoo_stage_schedule(spec: Any, stage: str, options: dict[str, Any]) -> Any:
    """A unit schedule for metamer optimisation at `stage` (which units count in the loss at each step).

    Return a `metazoo_core.metamer.schedules.UnitSchedule`, or None for the default (all units, every step).
    """
