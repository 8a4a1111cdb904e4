"""The plugin interface (pluggy project name and entry-point group: `metazoo`).

A plugin declares its model families as `metazoo_core.family.Family` records and may add model specs and CLI
commands. Every hook here is a broadcast ("register what you have"); no hook asks "is this spec yours?" — the host
keeps families by name and looks them up. Registration hooks run at `metazoo list` and `metazoo --help` time, so a
plugin module must not import torch or model code at import time (`Family` names its code lazily).

    from metazoo_core.family import Family, lazy, registers

    FAMILY = Family(name="mynet", description="My networks (paper, year)", build=lazy("mynet.model:build", "spec"))
    metazoo_register_families = registers(FAMILY)
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import pluggy

if TYPE_CHECKING:
    import typer

    from .family import Family

PROJECT = "metazoo"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def metazoo_register_families(register: "Callable[[Family], None]") -> None:
    """Declare model families: `register(Family(...))`. A family name claimed twice is refused. Cheap; no torch."""


@hookspec
def metazoo_register_specs(register: Callable[[dict[str, Any]], None]) -> None:
    """Add model specs (dicts with registry.yaml's fields) beyond registry.yaml. Cheap; no torch."""


@hookspec
def metazoo_register_archives(register: Callable[[str, dict[str, Any]], None]) -> None:
    """Declare archives that hold several checkpoints, as registry.yaml's `archives:` table does:
    `register(NAME, {"url": "https://…", "sha256": …, "notes": …})`; the plugin's specs then name them with
    `weights: {archive: NAME, member: FILE}`. A name already taken is refused (that plugin fails). Cheap; no torch."""


@hookspec
def metazoo_register_commands(cli: "typer.Typer") -> None:
    """Add commands to the `metazoo` command line (`@cli.command()`); runs at every start, so no torch here."""
