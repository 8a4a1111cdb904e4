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
from .family import Family, check_family
from .registry import (DEFAULT_REGISTRY, ArchiveSpec, ModelSpec, Registry, add_registry, check_archive_refs,
                       load_registry, parse_archives, parse_specs)

ENTRY_POINT_GROUP = "metazoo"
BUILTIN_DIST = "metazoo"
"""The distribution whose entry points are the built-in families; they are registered first and keep their names."""


@dataclass
class PluginInfo:
    name: str
    source: str
    families: dict[str, Family] = field(default_factory=dict)
    n_specs: int = 0
    error: str | None = None


@dataclass
class PluginHost:
    """The discovered plugins, their families by name and the combined registry."""

    manager: pluggy.PluginManager
    plugins: dict[str, PluginInfo]
    registry: Registry
    families: dict[str, Family] = field(default_factory=dict)
    builtin_specs: dict[str, ModelSpec] = field(default_factory=dict)
    """The entries of the built-in registry file (their stage shapes are checked by the contract test)."""

    @property
    def failures(self) -> list[PluginInfo]:
        return [p for p in self.plugins.values() if p.error]

    def family_plugin(self, family: str) -> str | None:
        """The name of the plugin that provides `family`, or None."""
        for p in self.plugins.values():
            if family in p.families and not p.error:
                return p.name
        return None

    def family(self, spec: ModelSpec) -> Family:
        """The family of `spec`; one line naming the known families (and any broken plugin) when there is none."""
        family = self.families.get(spec.family)
        if family is None:
            broken = [p.name for p in self.failures]
            hint = f"; broken plugins: {', '.join(broken)} (see `metazoo plugins`)" if broken else ""
            raise MetazooError(f"no plugin provides family '{spec.family}' of model '{spec.id}'; known families: "
                               f"{', '.join(sorted(self.families))}{hint}")
        return family

    def check_schedule(self, spec: ModelSpec, name: str | None) -> None:
        """One line listing the valid schedules when `name` is not a schedule of `spec`'s family.

        A network built outside the registry (e.g. the replication's digit CNNs, whose family no plugin provides)
        may ask for no schedule ("none" or None): nothing to look up."""
        if name in (None, "none") and spec.family not in self.families:
            return
        self.family(spec).check_schedule(name, spec.id)

    def schedule(self, spec: ModelSpec, stage: str, options: dict[str, Any]) -> Any:
        """The unit schedule named options["name"] (default: the spec's) at `stage`, or None (every unit)."""
        if options.get("name") in (None, "none") and spec.family not in self.families:
            return None
        return self.family(spec).schedule(spec, stage, options)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}"


def _guarded_call(host_plugins: dict[str, PluginInfo], pm: pluggy.PluginManager, hook_name: str,
                  make_register: Callable[[PluginInfo], Callable]) -> None:
    for impl in getattr(pm.hook, hook_name).get_hookimpls():  # in registration order
        info = host_plugins[impl.plugin_name]
        if info.error:
            continue
        try:
            impl.function(register=make_register(info))
        except Exception as exc:  # a broken plugin must not break the others
            info.error = f"{hook_name} failed: {_one_line(exc)}"
            info.families.clear()


def _builtin_first(ep) -> tuple[bool, str]:
    dist = getattr(ep, "dist", None)
    return (getattr(dist, "name", None) != BUILTIN_DIST, ep.name)


def discover(extra_plugins: dict[str, Any] | None = None,
             use_entry_points: bool = True) -> tuple[pluggy.PluginManager, dict[str, PluginInfo]]:
    """Import every plugin (built-in ones first) into a plugin manager; a plugin that fails to import is recorded."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    plugins: dict[str, PluginInfo] = {}
    candidates: list[tuple[str, str, Callable[[], Any]]] = []
    if use_entry_points:
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=_builtin_first):
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
    return pm, plugins


def _collect_families(pm: pluggy.PluginManager, plugins: dict[str, PluginInfo]) -> dict[str, Family]:
    """Families by name; a plugin claiming a name another plugin holds is refused (marked failed, one line)."""
    owners: dict[str, str] = {}

    def family_register(info: PluginInfo):
        def register(family: Family) -> None:
            if not isinstance(family, Family):
                raise TypeError(f"register() takes a metazoo_core.family.Family, got {type(family).__name__}")
            if family.name in owners or family.name in info.families:
                owner = owners.get(family.name, info.name)
                raise RegistryError(f"family '{family.name}' is already provided by plugin '{owner}'; plugin "
                                    f"'{info.name}' cannot claim it too (give its family another name)")
            info.families[family.name] = family
        return register

    for impl in pm.hook.metazoo_register_families.get_hookimpls():
        info = plugins[impl.plugin_name]
        if info.error:
            continue
        try:
            impl.function(register=family_register(info))
        except Exception as exc:  # a broken or clashing plugin must not break the others
            info.error = str(exc) if isinstance(exc, RegistryError) else \
                f"metazoo_register_families failed: {_one_line(exc)}"
            info.families.clear()
            continue
        owners.update({name: info.name for name in info.families})
    return {name: f for p in plugins.values() if not p.error for name, f in p.families.items()}


def build_host(extra_plugins: dict[str, Any] | None = None, registry_file=DEFAULT_REGISTRY,
               use_entry_points: bool = True, user_registry=None) -> PluginHost:
    """Discover plugins, collect their families and specs, and build the combined registry.

    `user_registry`: a registry file whose entries are added to `registry_file`'s (an id clash is one line).

    Every spec's family, weights.format and metamer.schedule are checked against the registered families here
    (no torch): a bad registry-file entry raises one RegistryError line listing the valid choices; a bad plugin
    spec marks that plugin failed. An unknown family is tolerated only while some plugin is broken (it may be
    that plugin's); building such a model then names the broken plugins.
    """
    pm, plugins = discover(extra_plugins, use_entry_points)
    families = _collect_families(pm, plugins)
    tolerate_unknown = any(p.error for p in plugins.values())

    def check(specs: list[ModelSpec], origin: str) -> None:
        for spec in specs:
            if spec.family in families or not tolerate_unknown:
                check_family(spec, families, origin)

    loaded = load_registry(registry_file)
    check(loaded.specs, str(registry_file))
    builtin = {s.id: s for s in loaded.specs} if registry_file == DEFAULT_REGISTRY else {}
    if user_registry:
        n_base = len(loaded.specs)
        loaded = add_registry(loaded, user_registry)
        check(loaded.specs[n_base:], str(user_registry))
    specs = list(loaded.specs)
    archives = dict(loaded.archives)
    plugin_archives: dict[str, dict[str, ArchiveSpec]] = {}

    def archive_register(info: PluginInfo):
        def register(name: str, entry: dict[str, Any]) -> None:
            if name in archives or name in plugin_archives.setdefault(info.name, {}):
                raise RegistryError(f"plugin '{info.name}' declares archive '{name}', which is already declared")
            plugin_archives[info.name].update(parse_archives({name: entry}, f"plugin '{info.name}'"))
        return register

    _guarded_call(plugins, pm, "metazoo_register_archives", archive_register)
    for name, declared in plugin_archives.items():
        if plugins[name].error:
            continue
        clash = [a for a in declared if a in archives]
        if clash:
            plugins[name].error = f"plugin '{name}' declares archive(s) {', '.join(clash)}, already declared"
            continue
        archives.update(declared)
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
            check(new, f"plugin '{info.name}'")
            check_archive_refs(new, archives, f"plugin '{info.name}'")
            clash = [s.id for s in new if s.id in known]
            if clash:
                raise RegistryError(f"plugin '{info.name}' re-registers existing id(s) {', '.join(clash)}")
        except MetazooError as exc:
            info.error = str(exc)
            continue
        known.update(s.id for s in new)
        info.n_specs = len(new)
        specs.extend(new)
    return PluginHost(manager=pm, plugins=plugins, registry=Registry(specs, archives, loaded.weight_packages),
                      families=families, builtin_specs=builtin)


def _command_name(command: Any) -> str:
    return command.name or command.callback.__name__.lower().replace("_", "-")


def register_commands(cli: Any, warn: Callable[[str], None] = print,
                      extra_plugins: dict[str, Any] | None = None, use_entry_points: bool = True) -> None:
    """Let every plugin add commands to `cli` (a Typer app) through `metazoo_register_commands`. A plugin whose hook
    fails, or whose command takes an existing name, is skipped with one warning line (built-in commands win)."""
    pm, _ = discover(extra_plugins, use_entry_points)
    for impl in pm.hook.metazoo_register_commands.get_hookimpls():
        before = list(cli.registered_commands)
        taken = {_command_name(c) for c in before} | {g.name for g in cli.registered_groups}
        try:
            impl.function(cli=cli)
            new = cli.registered_commands[len(before):]
            clash = sorted({_command_name(c) for c in new} & taken)
            if clash:
                raise MetazooError(f"command name(s) {', '.join(clash)} already taken")
        except Exception as exc:
            cli.registered_commands[:] = before
            warn(f"warning: plugin '{impl.plugin_name}' could not add its commands: {_one_line(exc)}")


REGISTRY_ENV = "METAZOO_REGISTRY"


_SESSION_PLUGINS: dict[str, Any] = {}
"""Plugins added in this process by `add_session_plugin` (name → module or object with hook implementations)."""


@functools.lru_cache(maxsize=1)
def host() -> PluginHost:
    """The process-wide plugin host (discovered once, plus this session's plugins); `METAZOO_REGISTRY` may name a
    registry file whose models are added to the built-in ones."""
    return build_host(extra_plugins=dict(_SESSION_PLUGINS), user_registry=os.environ.get(REGISTRY_ENV) or None)


def add_session_plugin(name: str, plugin: Any) -> PluginInfo:
    """Add `plugin` to this process's host as if it were installed (a notebook's family, no package needed); the
    host is rebuilt. Returns its PluginInfo (`.error` says why it failed, the other plugins keep working)."""
    _SESSION_PLUGINS[name] = plugin
    host.cache_clear()
    return host().plugins[name]


def registry() -> Registry:
    return host().registry


def get_spec(model_id: str) -> ModelSpec:
    return registry().get(model_id)
