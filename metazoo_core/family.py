"""A model family, declared once: what builds its networks, converts its checkpoints and schedules its units.

A plugin registers `Family` records through the `metazoo_register_families` hook; the plugin host keeps them by
name, so building a model, converting a checkpoint and looking up a unit schedule are dictionary lookups with one
signature each:

    build(spec, options)                → a metazoo_core.stages.StageNetwork (random or constructed weights)
    convert(spec, state_dict, network)  → the state dict in `network.net`'s keys
    schedule(spec, stage, options)      → a metazoo_core.metamer.schedules.UnitSchedule, or None at that stage

Code is named by lazy references ("module:attr", imported on first call), so declaring a family imports no torch
and `metazoo list` stays fast (a plain callable with the uniform signature also works, for in-process families).
A target whose own signature differs names the arguments it takes, in order, from
`spec`, `options`, `state_dict`, `network`, `net` (= network.net) and `stage`:

    Family(name="toy", description="Tiny CNNs", build=lazy("metazoo_toy.model:build", "spec"),
           convert=lazy("metazoo_toy.model:convert", "state_dict"), formats=("toy",),
           schedules={"toy_units": lazy("metazoo_toy.schedule:for_stage")})
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .errors import MetazooError, RegistryError

NO_SCHEDULE = "none"
"""The schedule name every family accepts: every unit counts at every step."""

UNIFORM = {"build": ("spec", "options"), "convert": ("spec", "state_dict", "network"),
           "schedule": ("spec", "stage", "options")}
"""The arguments each kind of reference is called with."""

_DERIVED = {"net": lambda args: args["network"].net}


@dataclass(frozen=True)
class LazyRef:
    """A callable named "module:attr", imported on first call and called with the arguments `takes` names."""

    target: str
    takes: tuple[str, ...] = ()

    def load(self) -> Callable[..., Any]:
        module, _, attr = self.target.partition(":")
        if not module or not attr:
            raise MetazooError(f"bad reference '{self.target}'; write it as 'package.module:function'")
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        return obj

    def call(self, kind: str, *args: Any) -> Any:
        """Call the target for `kind` (build, convert or schedule) with that kind's uniform arguments."""
        given = dict(zip(UNIFORM[kind], args))
        names = self.takes or UNIFORM[kind]
        return self.load()(*[_DERIVED[n](given) if n in _DERIVED else given[n] for n in names])


@dataclass(frozen=True)
class DirectRef:
    """An in-process callable with the uniform signature of its kind (for notebooks and tests)."""

    function: Callable[..., Any]

    def call(self, kind: str, *args: Any) -> Any:
        return self.function(*args)


def lazy(target: str, *takes: str) -> LazyRef:
    """A lazy reference to `target` ("module:attr"); `takes` lists its arguments when they differ from the uniform
    ones of its kind."""
    allowed = {n for names in UNIFORM.values() for n in names} | set(_DERIVED)
    unknown = [n for n in takes if n not in allowed]
    if unknown:
        raise MetazooError(f"lazy('{target}'): unknown argument name(s) {', '.join(unknown)}; "
                           f"choose from {', '.join(sorted(allowed))}")
    return LazyRef(target, tuple(takes))


def _ref(value: "str | LazyRef | DirectRef | Callable[..., Any]") -> "LazyRef | DirectRef":
    if isinstance(value, (LazyRef, DirectRef)):
        return value
    return DirectRef(value) if callable(value) else LazyRef(str(value))


@dataclass(frozen=True)
class Family:
    """One model family (see the module docstring).

    name: the `family` value of registry entries. description: one line (the first paragraph of the text given, so
    a plugin may pass its module docstring). formats: the accepted `weights.format` values (checkpoint
    layouts the converter understands; an entry without a format is always accepted). schedules: unit schedule
    name → reference; "none" is always accepted and means no schedule.
    """

    name: str
    description: str
    build: "str | LazyRef"
    convert: "str | LazyRef | None" = None
    formats: tuple[str, ...] = ()
    schedules: Mapping[str, "str | LazyRef"] = field(default_factory=dict)

    def __post_init__(self) -> None:
        first_paragraph = str(self.description).strip().split("\n\n")[0]
        object.__setattr__(self, "description", " ".join(first_paragraph.split()))
        object.__setattr__(self, "build", _ref(self.build))
        if self.convert is not None:
            object.__setattr__(self, "convert", _ref(self.convert))
        object.__setattr__(self, "formats", tuple(self.formats))
        object.__setattr__(self, "schedules", {str(k): _ref(v) for k, v in dict(self.schedules).items()})

    @property
    def schedule_names(self) -> list[str]:
        """Every schedule name this family accepts, "none" included."""
        return [*self.schedules, NO_SCHEDULE]

    def build_network(self, spec: Any, options: dict[str, Any]) -> Any:
        """The family's StageNetwork for `spec`."""
        return self.build.call("build", spec, options)

    def convert_state(self, spec: Any, state_dict: dict[str, Any], network: Any) -> dict[str, Any]:
        """`state_dict` in `network.net`'s keys (unchanged when the family has no converter)."""
        if self.convert is None:
            return state_dict
        return self.convert.call("convert", spec, state_dict, network)

    def check_schedule(self, name: str | None, model_id: str = "") -> None:
        """Raise one line listing the valid names when `name` is not one of this family's schedules."""
        if name is not None and name not in self.schedule_names:
            of = f" of '{model_id}'" if model_id else ""
            raise MetazooError(f"unknown schedule '{name}' for family {self.name}{of}; "
                               f"choose {', '.join(self.schedule_names)}")

    def schedule(self, spec: Any, stage: str, options: dict[str, Any]) -> Any:
        """The unit schedule named options["name"] (default: the spec's) at `stage`, or None (every unit)."""
        name = options.get("name") or spec.metamer.schedule
        self.check_schedule(name, spec.id)
        if name is None or name == NO_SCHEDULE:
            return None
        return self.schedules[name].call("schedule", spec, stage, {**options, "name": name})

    def check_spec(self, spec: Any, origin: str) -> None:
        """Raise one RegistryError line when `spec`'s weights.format or metamer.schedule is not this family's."""
        fmt = spec.weights.format
        if fmt is not None and fmt not in self.formats:
            choices = ", ".join(self.formats) or "none (leave weights.format out)"
            raise RegistryError(f"{origin}: entry '{spec.id}': unknown weights.format '{fmt}' for family "
                                f"{self.name}; choose {choices}")
        name = spec.metamer.schedule
        if name is not None and name not in self.schedule_names:
            raise RegistryError(f"{origin}: entry '{spec.id}': unknown metamer.schedule '{name}' for family "
                                f"{self.name}; choose {', '.join(self.schedule_names)}")


def check_family(spec: Any, families: Mapping[str, Family], origin: str) -> None:
    """Raise one RegistryError line when `spec.family` is unknown or its format/schedule is not the family's."""
    family = families.get(spec.family)
    if family is None:
        raise RegistryError(f"{origin}: entry '{spec.id}': unknown family '{spec.family}'; "
                            f"choose {', '.join(sorted(families)) or '(no families registered)'}")
    family.check_spec(spec, origin)


def registers(*families: Family) -> Callable[[Callable[[Family], None]], None]:
    """A `metazoo_register_families` hook implementation that registers `families`; in a plugin module:

        metazoo_register_families = registers(FAMILY)
    """
    from .hookspecs import hookimpl

    @hookimpl
    def metazoo_register_families(register: Callable[[Family], None]) -> None:
        for family in families:
            register(family)

    return metazoo_register_families
