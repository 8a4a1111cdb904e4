"""Sweep plans: a YAML file naming models × stages × inputs × seeds, expanded into units of work.

A plan is a mapping with optional `name`, `retries` (extra attempts after a failure, default 2), `slurm:` options
and either one group inline or a list `groups:`. A group is

    kind: metamer            # metamer | activations | null_distribution | robustness | readout | ood
    models: [efficientnet_lite0]
    stages: [blocks_1, blocks_3, head]     # or "all", or {model_id: [stages]}; not used by the set kinds
    inputs: [builtin, builtin:chelsea, photos/, cat.png]   # `builtin` = the default set; folders = their files
    seeds: [0]
    options: {recipe: feather2023, iterations: 3000, blocks: 8, init_step: 1}   # passed to the unit kind

Expansion (deterministic: groups in order, then models, inputs, stages, seeds in the order given):
- metamer, activations: one unit per (model, input, stage, seed);
- readout: one unit per (model, input, stage, seed), where each input is a labelled folder (not expanded);
- null_distribution, robustness, ood: one unit per (model, seed) over all the group's inputs.

A unit's id is `<kind>-<model>-<input>-<stage>-s<seed>-<hash>`, where the hash (10 hex digits of SHA-256) covers
every parameter of the unit, so the same work always gets the same id and folder, and changing any option (e.g.
iterations) gives new units rather than overwriting old results.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, ValidationError
from pydantic import field_validator
from typing_extensions import Annotated

from ..caveats import DEFAULT_NULL_PAIRS
from ..errors import MetazooError
from ..options import MAX_SEED

RECIPE_CONSTANTS = ("init_step", "step_decay", "noise_mean", "noise_std")
"""The recipe's constants a metamer group may set, as `metazoo generate --init-step` etc. (None: the recipe's or the
model's value; `metazoo_core.metamer.recipes.tuned_recipe`)."""
SET_KINDS = ("null_distribution", "robustness", "ood")
"""Kinds whose unit uses all of a group's inputs at once (one unit per model and seed)."""
COMMON_OPTIONS = ("pretrained", "weights", "device")
OPTIONS = {
    "metamer": ("recipe", "iterations", "blocks", *RECIPE_CONSTANTS, "null", "optimise"),
    "activations": (),
    "null_distribution": ("pairs", "augment", "batch_size", "pairing"),
    "robustness": ("norm", "eps", "steps", "step_ratio", "subsets", "n", "batch_size"),
    "ood": ("corruptions", "severities", "batch_size", "max_per_class"),
    "readout": ("units", "epochs", "batch_size", "max_lr", "initial_lr", "final_lr", "warmup_fraction", "optimizer",
                "momentum", "weight_decay", "augment", "crop_scale", "crop_ratio", "flip_p", "standardize",
                "val_fraction", "max_per_class"),
}
"""Options each kind understands (besides COMMON_OPTIONS); see metazoo_core.sweep.units for their meaning."""
REQUIRED_OPTIONS = {"robustness": ("norm", "eps")}
READABLE_ID_CHARS = 150
"""Unit ids stay well below file-name limits: the readable part is cut here, the hash keeps ids unique."""
MAX_PLAN_BYTES = 1_000_000
"""Largest plan file read (a plan is a few lines; a bigger file is a mistake)."""
MAX_YAML_NODES = 100_000
"""Most YAML nodes a plan may expand to, aliases counted at every use: bounds "billion laughs" alias bombs, which
a 450-byte plan used to inflate the manifest to 61 MB (six alias levels; each more ×10)."""
PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
"""A plan name: one folder name under runs/ (letters, digits, `_`, `.`, `-`), never a path."""


class PlanError(MetazooError):
    """A plan file that cannot be read or does not validate."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SlurmOptions(_Strict):
    """SLURM resources per array task (one task runs `units_per_task` units one after another)."""

    partition: str | None = None
    time_min: int = Field(60, ge=1, description="wall-clock limit of one array task, minutes")
    gpus_per_node: int = Field(0, ge=0)
    cpus_per_task: int = Field(2, ge=1)
    mem_gb: float | None = Field(None, gt=0)
    units_per_task: int = Field(1, ge=1, description="units chunked into one array task")
    array_parallelism: int = Field(256, ge=1, description="array tasks running at once (%N of --array)")
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    setup: list[str] = Field(default_factory=list, description="shell lines run before the worker, e.g. module load")
    additional: dict[str, Any] = Field(default_factory=dict, description="extra #SBATCH options, e.g. {exclude: node3}")


Seed = Annotated[StrictInt, Field(ge=0, le=MAX_SEED)]
Count = Annotated[StrictInt, Field(ge=1)]
Number = StrictInt | StrictFloat


class CommonOptions(_Strict):
    pretrained: StrictBool = True
    weights: StrictStr | None = None
    device: StrictStr | None = None


class MetamerOptions(CommonOptions):
    recipe: StrictStr = "feather2023"
    iterations: Count | None = None
    blocks: Count | None = None
    init_step: Annotated[Number, Field(gt=0)] | None = None
    step_decay: Annotated[Number, Field(gt=0)] | None = None
    noise_mean: Number | None = None
    noise_std: Annotated[Number, Field(ge=0)] | None = None
    null: StrictStr | None = None
    optimise: StrictStr | None = None


class NullOptions(CommonOptions):
    pairs: Count = DEFAULT_NULL_PAIRS
    augment: StrictBool = True
    batch_size: Count = 16
    pairing: Literal["independent", "blocked"] = "independent"


class RobustnessOptions(CommonOptions):
    norm: Literal["l1", "l2", "linf"]
    eps: list[Annotated[Number, Field(ge=0)]] = Field(min_length=1)
    steps: Count = 64
    step_ratio: Annotated[Number, Field(gt=0)] = 0.25
    subsets: Count = 5
    n: Count = 1024
    batch_size: Count = 16


class ReadoutOptions(CommonOptions):
    """The common options typed; the training options are checked by the readout's own config."""

    model_config = ConfigDict(extra="allow", frozen=True)


class OodOptions(CommonOptions):
    corruptions: list[StrictStr] | None = None
    severities: list[Annotated[StrictInt, Field(ge=1, le=5)]] | None = None
    batch_size: Count = 16
    max_per_class: Count | None = None


OPTION_MODELS = {"metamer": MetamerOptions, "activations": CommonOptions, "null_distribution": NullOptions,
                 "robustness": RobustnessOptions, "readout": ReadoutOptions, "ood": OodOptions}
"""The typed options of each kind, checked when the plan loads (before any model does)."""


class Group(_Strict):
    kind: Literal["metamer", "activations", "null_distribution", "robustness", "readout", "ood"] = "metamer"
    models: list[str] = Field(min_length=1)
    stages: list[str] | dict[str, list[str]] | Literal["all"] | None = None
    inputs: list[str] = Field(min_length=1)
    seeds: list[Seed] = Field(default_factory=lambda: [0], min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("models", "inputs", mode="before")
    @classmethod
    def _listify(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("seeds", mode="before")
    @classmethod
    def _listify_seed(cls, v: Any) -> Any:
        return [v] if isinstance(v, int) else v


class PlanFile(_Strict):
    name: str | None = None
    store: str | None = Field(None, description="result folder; `metazoo sweep --out` overrides it")

    @field_validator("name")
    @classmethod
    def _plain(cls, v: str | None) -> str | None:
        if v is not None and not PLAIN_NAME.match(v):
            raise ValueError("a plan name is one folder name (letters, digits, '_', '.', '-'; at most 100), "
                             "not a path; use `store:` or --out to choose where results go")
        return v

    @field_validator("store")
    @classmethod
    def _no_climbing(cls, v: str | None) -> str | None:
        if v is not None and ".." in Path(v).parts:
            raise ValueError("`store:` may not contain '..'; give a folder path without it (or use --out)")
        return v
    retries: int = Field(2, ge=0, le=100)
    slurm: SlurmOptions = SlurmOptions()
    groups: list[Group] = Field(min_length=1)


@dataclass(frozen=True)
class Unit:
    """One unit of work: everything a worker needs, with a deterministic id."""

    kind: str
    model: str
    input: str | None            # source (metamer / activations); None for the set kinds
    stage: str | None            # None for the set kinds
    seed: int
    inputs: tuple[str, ...] = ()  # set kinds (null_distribution, robustness): all inputs of the group
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        digest = hashlib.sha256(_canonical(self.params()).encode()).hexdigest()[:10]
        parts = [self.kind, self.model]
        if self.input is not None:
            parts.append(input_label(self.input))
        if self.stage is not None:
            parts.append(self.stage)
        parts.append(f"s{self.seed}")
        return "-".join(_safe(p) for p in parts)[:READABLE_ID_CHARS] + "-" + digest

    def params(self) -> dict[str, Any]:
        d = asdict(self)
        d["inputs"] = list(self.inputs)
        return d

    @classmethod
    def from_params(cls, d: dict[str, Any]) -> "Unit":
        return cls(**{**d, "inputs": tuple(d.get("inputs", ()))})


@dataclass(frozen=True)
class Plan:
    name: str
    store: str | None
    retries: int
    slurm: SlurmOptions
    units: tuple[Unit, ...]
    source: dict[str, Any]  # the plan as written (for the manifest)


def input_label(source: str) -> str:
    """Short name of an input source: `builtin:chelsea` → `chelsea`, `photos/cat.png` → `cat`."""
    if source.startswith("builtin:"):
        return source.split(":", 1)[1]
    return Path(source).stem or source


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]+", "_", text).strip("_") or "x"


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def _describe(err: ValidationError, inline: bool) -> str:
    first = err.errors()[0]
    loc = [str(p) for p in first["loc"]]
    if inline and loc[:2] == ["groups", "0"]:  # the plan was written without `groups:`
        loc = loc[2:]
    return f"field '{'.'.join(loc) or '(top level)'}': {first['msg']}"


def _check_options(group: Group, where: str) -> None:
    from ..errors import suggest

    known = [*OPTIONS[group.kind], *COMMON_OPTIONS]
    for key in group.options:
        if key not in known:
            raise PlanError(f"{where}: unknown option '{key}'{suggest(key, known)}; "
                            f"{group.kind} units take {', '.join(known)}")
    missing = [k for k in REQUIRED_OPTIONS.get(group.kind, ()) if k not in group.options]
    if missing:
        raise PlanError(f"{where}: a {group.kind} group needs options {', '.join(missing)}")
    try:
        OPTION_MODELS[group.kind].model_validate(group.options)
    except ValidationError as e:
        first = e.errors()[0]
        loc = [str(p) for i, p in enumerate(first["loc"]) if i == 0 or isinstance(p, int)]  # no union member tags
        what = "Input should be a number" if len(loc) < len(first["loc"]) else first["msg"]  # int | float
        raise PlanError(f"{where}: option '{'.'.join(loc)}': {what}") from None
    _check_option_values(group, where)


def _check_option_values(group: Group, where: str) -> None:
    """Names the typed check cannot know: the recipe (and which constants it uses), the optimisations, the device's
    form."""
    opts = group.options
    if "recipe" in opts:
        from ..metamer.recipes import RECIPES

        if opts["recipe"] not in RECIPES:
            raise PlanError(f"{where}: option 'recipe': unknown recipe {opts['recipe']!r}; "
                            f"choose from {', '.join(RECIPES)}")
    if group.kind == "metamer":
        from ..metamer.recipes import tuned_recipe

        given = {k: opts[k] for k in RECIPE_CONSTANTS if opts.get(k) is not None}
        try:
            tuned_recipe(opts.get("recipe", "feather2023"), **given)
        except MetazooError as e:
            raise PlanError(f"{where}: option{'s' if len(given) > 1 else ''} {', '.join(given)}: {e}") from None
    if opts.get("optimise") is not None:
        from ..options import parse_optimisations

        try:
            parse_optimisations(opts["optimise"], where="option 'optimise'")
        except MetazooError as e:
            raise PlanError(f"{where}: {e}") from None
    if opts.get("device") is not None:
        from ..devices import check_form

        try:
            check_form(opts["device"])
        except MetazooError as e:
            raise PlanError(f"{where}: option 'device': {e}") from None


def _group_stages(group: Group, spec, where: str) -> list[str]:
    from ..errors import UnknownStageError

    if group.kind in SET_KINDS:
        return []
    stages = group.stages
    if stages is None:
        raise PlanError(f"{where}: a {group.kind} group needs `stages:` (a list, `all`, or {{model: [stages]}})")
    if stages == "all":
        return spec.stage_names
    if isinstance(stages, dict):
        if spec.id not in stages:
            raise PlanError(f"{where}: `stages:` has no entry for model '{spec.id}'; add `{spec.id}: [stage, …]`")
        stages = stages[spec.id]
    try:
        return spec.check_stages(stages)
    except UnknownStageError as e:
        raise PlanError(f"{where}: {e}") from None


def expand(plan: PlanFile, base: Path, origin: str = "plan", registry=None) -> list[Unit]:
    """All units of `plan`, in plan order, without duplicates. Model ids and stages are checked (no torch)."""
    from ..inputs import expand_sources
    from ..plugins import registry as default_registry

    reg = registry or default_registry()
    units: dict[str, Unit] = {}
    for gi, group in enumerate(plan.groups):
        where = f"{origin}: group {gi + 1} ({group.kind})"
        _check_options(group, where)
        for model in group.models:
            try:
                spec = reg.get(model)
            except MetazooError as e:
                raise PlanError(f"{where}: {e}") from None
            sources = [s if s.startswith("builtin") else str((base / s).resolve()) for s in group.inputs]
            if group.kind != "readout":  # a readout's input is one labelled folder, kept whole
                # the same file under two spellings (a/../a/x.png, a symlink) is one input, hence one unit
                sources = list(dict.fromkeys(s if s.startswith("builtin") else str(Path(s).resolve())
                                             for s in expand_sources(sources, spec.modality)))
            if not sources:
                raise PlanError(f"{where}: `inputs:` expands to no files for model '{model}'")
            stages = _group_stages(group, spec, where)
            if group.kind not in SET_KINDS and not stages:
                raise PlanError(f"{where}: `stages:` is empty for model '{model}'; name at least one stage or `all`")
            if group.kind in SET_KINDS:
                new = [Unit(group.kind, model, None, None, seed, tuple(sources), dict(group.options))
                       for seed in group.seeds]
            else:
                new = [Unit(group.kind, model, src, stage, seed, (), dict(group.options))
                       for src in sources for stage in stages for seed in group.seeds]
            for u in new:
                units.setdefault(u.id, u)
    return list(units.values())


def parse_plan(data: Any, origin: str, base: Path, registry=None) -> Plan:
    """Validate a plan mapping (as read from YAML); `base` resolves relative input paths."""
    if not isinstance(data, dict):
        raise PlanError(f"{origin}: a plan is a mapping (models:, stages:, inputs:, … or groups:), "
                        f"got {type(data).__name__}")
    top = {k: data[k] for k in ("name", "store", "retries", "slurm") if k in data}
    if "groups" in data:
        extra = set(data) - set(top) - {"groups"}
        if extra:
            raise PlanError(f"{origin}: keys {sorted(extra)} belong inside a group when `groups:` is used")
        raw = {**top, "groups": data["groups"]}
    else:
        raw = {**top, "groups": [{k: v for k, v in data.items() if k not in top}]}
    try:
        parsed = PlanFile.model_validate(raw)
    except ValidationError as e:
        raise PlanError(f"{origin}: {_describe(e, 'groups' not in data)}; "
                        "see docs/cluster.md for the plan format") from None
    units = expand(parsed, base, origin, registry)
    name = parsed.name or Path(origin).stem
    return Plan(name=name, store=parsed.store, retries=parsed.retries, slurm=parsed.slurm, units=tuple(units),
                source=data)


def _expanded_size(node: yaml.Node, memo: dict[int, int], open_: set[int]) -> int:
    """Nodes of the YAML graph with every alias expanded (memoised, so a bomb is measured without expanding it)."""
    key = id(node)
    if key in memo:
        return memo[key]
    if key in open_:
        raise PlanError("recursive YAML alias")
    open_.add(key)
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo, open_) + _expanded_size(v, memo, open_) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(v, memo, open_) for v in node.value)
    else:
        size = 1
    open_.discard(key)
    memo[key] = min(size, 2 * MAX_YAML_NODES)  # past the bound the exact count no longer matters
    return memo[key]


def read_yaml(path: Path, what: str = "plan", max_bytes: int = MAX_PLAN_BYTES) -> Any:
    """A YAML file's data (safe loader), refusing files too big, not UTF-8, malformed, or whose aliases expand
    past `MAX_YAML_NODES`. Raises PlanError with one line."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise PlanError(f"{path}: {size} bytes is too big for a {what} (at most {max_bytes}); check the file")
        text = path.read_bytes().decode("utf-8")
    except OSError as e:
        raise PlanError(f"cannot read {what} {path}: {e.strerror}; check the path") from None
    except UnicodeDecodeError as e:
        raise PlanError(f"{path}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start}); "
                        "save the file as UTF-8") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None and _expanded_size(node, {}, set()) > MAX_YAML_NODES:
            raise PlanError(f"{path}: YAML aliases expand to more than {MAX_YAML_NODES} nodes (an alias bomb?); "
                            f"write the {what} out without nested aliases")
        return yaml.safe_load(text)
    except PlanError as e:
        if str(e) == "recursive YAML alias":
            raise PlanError(f"{path}: a YAML alias refers to itself; remove the recursion") from None
        raise
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        reason = " ".join(str(getattr(e, "problem", None) or e).split())
        raise PlanError(f"{path}:{where}: malformed YAML ({reason}); fix the syntax") from None


def load_plan(path: Path | str, registry=None) -> Plan:
    """Read, validate and expand a plan file. Raises PlanError with one line."""
    path = Path(path)
    data = read_yaml(path)
    return parse_plan(data, str(path), path.resolve().parent, registry)
