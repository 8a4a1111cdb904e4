"""Plugin discovery and the combined registry.

Plugins come from the `metazoo` entry-point group (built-in families are registered there by metazoo's own
pyproject, exactly as third-party ones). Each plugin is imported and called inside its own guard: a plugin that
fails to import or to register is recorded in `failures` and everything else keeps working.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Callable

import pluggy

from . import hookspecs
from .errors import MetazooError, RegistryError
from .registry import DEFAULT_REGISTRY, ModelSpec, Registry, load_registry, parse_specs

ENTRY_POINT_GROUP = "metazoo"


@dataclass
class PluginInfo:
    name: str
    source: str
    families: dict[str, str] = field(default_factory=dict)
    n_specs: int = 0
    error: str | None = None


@dataclass
class PluginHost:
    manager: pluggy.PluginManager
    plugins: dict[str, PluginInfo]
    registry: Registry

    @property
    def failures(self) -> list[PluginInfo]:
        return [p for p in self.plugins.values() if p.error]

    def family_plugin(self, family: str) -> str | None:
        for p in self.plugins.values():
            if family in p.families and not p.error:
                return p.name
        return None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}"


def _guarded_call(host_plugins: dict[str, PluginInfo], pm: pluggy.PluginManager, hook_name: str,
                  make_register: Callable[[PluginInfo], Callable]) -> None:
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        info = host_plugins[impl.plugin_name]
        if info.error:
            continue
        try:
            impl.function(register=make_register(info))
        except Exception as exc:  # a broken plugin must not break the others
            info.error = f"{hook_name} failed: {_one_line(exc)}"
            info.families.clear()


def build_host(extra_plugins: dict[str, Any] | None = None, registry_file=DEFAULT_REGISTRY,
               use_entry_points: bool = True) -> PluginHost:
    """Discover plugins, collect their families and specs, and build the combined registry."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    plugins: dict[str, PluginInfo] = {}
    candidates: list[tuple[str, str, Callable[[], Any]]] = []
    if use_entry_points:
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = getattr(ep, "dist", None)
            source = f"{dist.name} {dist.version}" if dist else ep.value
            candidates.append((ep.name, source, ep.load))
    for name, obj in (extra_plugins or {}).items():
        candidates.append((name, "in-process", lambda obj=obj: obj))
    for name, source, load in candidates:
        info = PluginInfo(name=name, source=source)
        plugins[name] = info
        try:
            pm.register(load(), name=name)
        except Exception as exc:
            info.error = f"failed to load: {_one_line(exc)}"

    def family_register(info: PluginInfo):
        def register(name: str, description: str = "") -> None:
            info.families[str(name)] = str(description)
        return register

    _guarded_call(plugins, pm, "metazoo_register_families", family_register)

    loaded = load_registry(registry_file)
    specs = list(loaded.specs)
    known = {s.id for s in specs}
    plugin_specs: list[tuple[PluginInfo, list[dict]]] = []

    def spec_register(info: PluginInfo):
        collected: list[dict] = []
        plugin_specs.append((info, collected))
        return lambda entry: collected.append(entry)

    _guarded_call(plugins, pm, "metazoo_register_specs", spec_register)
    for info, entries in plugin_specs:
        if info.error:
            continue
        try:
            new = parse_specs(entries, f"plugin '{info.name}'")
            clash = [s.id for s in new if s.id in known]
            if clash:
                raise RegistryError(f"plugin '{info.name}' re-registers existing id(s) {', '.join(clash)}")
        except MetazooError as exc:
            info.error = str(exc)
            continue
        known.update(s.id for s in new)
        info.n_specs = len(new)
        specs.extend(new)
    return PluginHost(manager=pm, plugins=plugins, registry=Registry(specs, loaded.archives, loaded.weight_packages))


REGISTRY_ENV = "METAZOO_REGISTRY"


@functools.lru_cache(maxsize=1)
def host() -> PluginHost:
    """The process-wide plugin host (discovered once); `METAZOO_REGISTRY` may point to another registry file."""
    return build_host(registry_file=os.environ.get(REGISTRY_ENV) or DEFAULT_REGISTRY)


def registry() -> Registry:
    return host().registry


def get_spec(model_id: str) -> ModelSpec:
    return registry().get(model_id)
