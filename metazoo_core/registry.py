"""Model specs: validated, torch-free descriptions of every model (registry.yaml plus plugin-registered specs).

A `ModelSpec` says what a model is (family, modality), what it takes (input shape, value range, sample rate,
normalisation), which stages it exposes (ordered names, per-example shapes, feature counts), where its weights
come from, and where it comes from scientifically (provenance). Building the network is the family plugin's job.
"""
from __future__ import annotations

import re

import fnmatch
import math
from pathlib import Path
from typing import Any, Iterable, Literal, NamedTuple

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import RegistryError, UnknownModelError, UnknownStageError, suggest

DEFAULT_REGISTRY = Path(__file__).parent / "data" / "registry.yaml"
IMPLICIT_STAGE = "input_after_preproc"
"""Every model also exposes this stage: the input after the model's own normalisation (the study's name)."""
ADD_A_MODEL = ("To add your own: list it in a registry file and set METAZOO_REGISTRY=my.yaml (added to the built-in "
               "models), or write a plugin; both are in docs/plugin-guide.md (\"Adding a model\"). Ids such as "
               "timm:NAME are planned, not available yet")
"""How to add a model, told with every unknown id."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSpec(_Strict):
    shape: list[int] = Field(description="per-example input shape, e.g. [3, 224, 224] or [40000]")
    range: tuple[float, float] = Field(description="valid input values (clamp bounds), e.g. (0, 1), (0, 255), (-1, 1)")
    sample_rate: int | None = Field(None, description="Hz, audio only")
    colour: Literal["rgb", "grey"] | None = Field(None, description="images only")
    rms: float | None = Field(None, description="audio only: waveforms are scaled to this RMS")

    @model_validator(mode="after")
    def _check(self) -> "InputSpec":
        if self.range[0] >= self.range[1]:
            raise ValueError(f"range {self.range} must be increasing")
        return self


class Normalization(_Strict):
    mean: list[float]
    std: list[float]

    @model_validator(mode="after")
    def _check(self) -> "Normalization":
        if len(self.mean) != len(self.std) or any(s <= 0 for s in self.std):
            raise ValueError("mean and std must have equal length and std > 0")
        return self


class StageSpec(_Strict):
    name: str
    shape: list[int] = Field(description="per-example output shape (no batch dimension)")
    n_features: int
    relu: bool = Field(False, description="taken after a ReLU: fake-ReLU gradients apply (facts §3)")
    needs_weights: bool = Field(True, description="False when no learned weight reaches this stage (fixed front "
                                "ends: cochleagram, HMAX S1/C1, Spectemp filters), so it runs without the checkpoint")
    needs_readout: bool = Field(False, description="reached by the separately stored readout (`build.readout_"
                                "weights`); stages without it run from the main checkpoint alone")

    @model_validator(mode="before")
    @classmethod
    def _fill_features(cls, data: Any) -> Any:
        if isinstance(data, dict) and "n_features" not in data and "shape" in data:
            data = {**data, "n_features": math.prod(data["shape"])}
        return data

    @model_validator(mode="after")
    def _check(self) -> "StageSpec":
        if math.prod(self.shape) != self.n_features:
            raise ValueError(f"n_features {self.n_features} != product of shape {self.shape}")
        return self


class ArchiveSpec(_Strict):
    """One archive that holds several models' checkpoints (the registry's top-level `archives:` table)."""

    url: str = Field(description="https://… (or http://) address of the archive; stated once for all its members")
    sha256: str | None = Field(None, description="sha256 of the whole archive, checked after download when given")
    notes: str | None = None

    @model_validator(mode="after")
    def _check(self) -> "ArchiveSpec":
        if not self.url.startswith(("https://", "http://")):
            raise ValueError(f"archive url '{self.url}' must start with https:// or http://")
        if self.sha256 is not None and not _is_sha256(self.sha256):
            raise ValueError(f"sha256 '{self.sha256}' is not 64 hex digits")
        return self


class ManualSpec(_Strict):
    """A checkpoint that can only be downloaded by hand (e.g. from a Google-Drive folder)."""

    where: str = Field(description="where a person gets the file, e.g. 'Google Drive folder 1W2zGH…'")
    file: str = Field(description="the file name to download there")


def _is_sha256(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text)


class WeightsSpec(_Strict):
    source: str | None = Field(None, description="hf://ORG/REPO/FILE[@REV], https://URL, pkg://MODULE:ATTR, or None")
    sha256: str | None = Field(None, description="sha256 of the checkpoint file (the member, for archives)")
    sha256_prefix: str | None = Field(None, description="the start of the file's sha256 as its publisher gives it "
                                      "(torch.hub cache names, checked with check_hash); 8–63 hex digits")
    archive: str | None = Field(None, description="key of the registry's `archives:` table holding the checkpoint")
    member: str | None = Field(None, description="file inside the archive (exact name, ./name or unique basename)")
    fallbacks: list[str] = Field([], description="further sources tried in order after `source`")
    manual: ManualSpec | None = Field(None, description="the checkpoint is a manual download only")
    unverified: list[str] = Field([], description="facts about these weights that could not be verified")
    mirror: str | None = Field(None, description="hf://ORG/REPO of a metazoo export of this model")
    format: str | None = Field(None, description="checkpoint layout, passed to the family's converter")
    notes: str | None = None

    @model_validator(mode="after")
    def _check(self) -> "WeightsSpec":
        if self.archive is not None and not self.member:
            raise ValueError(f"archive '{self.archive}' needs a `member` (the file inside it)")
        if self.archive is not None and self.source and self.source.startswith(("https://", "http://")):
            raise ValueError("give either `archive:` or an https `source:`, not both (the archive table has the URL)")
        if self.mirror is not None and (not self.mirror.startswith("hf://") or self.mirror.count("/") != 3):
            raise ValueError(f"mirror '{self.mirror}' must be hf://ORG/REPO")
        if self.sha256 is not None and not _is_sha256(self.sha256):
            raise ValueError(f"sha256 '{self.sha256}' is not 64 hex digits")
        if self.sha256_prefix is not None and not re.fullmatch(r"[0-9a-f]{8,63}", self.sha256_prefix):
            raise ValueError(f"sha256_prefix '{self.sha256_prefix}' is not 8–63 lower-case hex digits")
        return self


class Provenance(_Strict):
    paper: str | None = None
    table: str | None = None
    row: str | None = None
    top1: float | None = None
    top5: float | None = None
    training: str | None = None
    license: str | None = None
    url: str | None = None


class MetamerDefaults(_Strict):
    noise_mean: float = 0.5
    noise_std: float = 0.05
    init_step: float = 1.0
    schedule: str | None = Field(None, description="name of a unit schedule the family provides (e.g. hmax_units)")
    criteria: list[Literal["spearman", "pearson", "snr"]] = ["spearman", "pearson", "snr"]


class ModelSpec(_Strict):
    id: str
    family: str
    modality: Literal["vision", "audio"]
    group: str = "study"
    groups: list[str] = []
    description: str = ""
    input: InputSpec
    normalization: Normalization | None = None
    stages: list[StageSpec]
    classifier: Literal["imagenet1000", "words794", "zeroshot_imagenet", "none"] = "imagenet1000"
    weights: WeightsSpec = WeightsSpec()
    provenance: Provenance = Provenance()
    metamer: MetamerDefaults = MetamerDefaults()
    build: dict[str, Any] = {}

    @model_validator(mode="after")
    def _check(self) -> "ModelSpec":
        names = [s.name for s in self.stages]
        if not names:
            raise ValueError("needs at least one stage")
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate stage names in {names}")
        return self

    @property
    def all_groups(self) -> list[str]:
        return [self.group, *[g for g in self.groups if g != self.group]]

    @property
    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages]

    def stage(self, name: str) -> StageSpec:
        for s in self.stages:
            if s.name == name:
                return s
        raise UnknownStageError(
            f"model '{self.id}' has no stage '{name}'{suggest(name, self.stage_names)}; "
            f"valid stages: {', '.join([*self.stage_names, IMPLICIT_STAGE])}"
        )

    def weights_free(self, names: Iterable[str]) -> bool:
        """Whether every stage in `names` (input_after_preproc included) is reached by no learned weight."""
        return all(n == IMPLICIT_STAGE or not self.stage(n).needs_weights for n in names)

    def readout_free(self, names: Iterable[str]) -> bool:
        """Whether the entry has a separate readout checkpoint and no stage in `names` is reached by it."""
        return bool(self.build.get("readout_weights")) and all(
            n == IMPLICIT_STAGE or not self.stage(n).needs_readout for n in names)

    def expand_stages(self, names: Iterable[str]) -> list[str]:
        """`names` with 'all' replaced by every registered stage (as `stages: all` in plans) and 'auto' by the
        entry's cheap default subset (`build.auto_stages`, else all), duplicates dropped."""
        pick = {"all": self.stage_names, "auto": self.build.get("auto_stages", self.stage_names)}
        return list(dict.fromkeys(s for n in names for s in pick.get(n, [n])))

    def check_stages(self, names: Iterable[str]) -> list[str]:
        """Validate stage names (the implicit input_after_preproc included); returns them as a list."""
        out = []
        for n in names:
            if n != IMPLICIT_STAGE:
                self.stage(n)
            out.append(n)
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "family": self.family,
            "modality": self.modality,
            "group": self.group,
            "groups": self.all_groups,
            "n_stages": len(self.stages),
            "stages": self.stage_names,
            "description": self.description,
        }


def _describe_error(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(entry)"
    return f"field '{loc}': {first['msg']}"


def parse_specs(entries: Any, origin: str) -> list[ModelSpec]:
    """Validate a list of raw entries; the first bad entry raises one line naming origin, entry and field."""
    if not isinstance(entries, list):
        raise RegistryError(f"{origin}: expected a top-level list 'models:' of entries, got {type(entries).__name__}")
    specs = []
    for i, raw in enumerate(entries):
        name = raw.get("id", f"#{i}") if isinstance(raw, dict) else f"#{i}"
        if not isinstance(raw, dict):
            raise RegistryError(f"{origin}: entry {name} is not a mapping; "
                                "each entry needs id, family, modality, input, stages")
        try:
            specs.append(ModelSpec.model_validate(raw))
        except ValidationError as e:
            raise RegistryError(f"{origin}: entry '{name}': {_describe_error(e)}; fix the entry and retry") from None
    return specs


class RegistryFile(NamedTuple):
    """What one registry file declares."""

    specs: list[ModelSpec]
    archives: dict[str, ArchiveSpec]
    weight_packages: list[str]
    """Python modules allowed as `pkg://MODULE:CALLABLE` weight sources (top-level `weight_packages:`)."""


def load_registry(path: Path | str = DEFAULT_REGISTRY,
                  known_archives: dict[str, ArchiveSpec] | None = None) -> RegistryFile:
    """Read and validate a registry YAML file: `models:` (a list of entries), optional `archives:` and
    `weight_packages:`.

    Every `weights.archive` (and `build.readout_weights.archive`) must name a key of `archives:` (or of
    `known_archives`, the tables of registries read before this one).
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise RegistryError(f"cannot read registry file {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise RegistryError(f"registry file {path} is not UTF-8 text; save it as UTF-8 and retry") from None
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise RegistryError(f"{path}:{where}: malformed YAML ({getattr(e, 'problem', e)}); "
                            "fix the syntax and retry") from None
    if not isinstance(data, dict) or "models" not in data:
        raise RegistryError(f"{path}: expected a mapping with a 'models:' list at the top level")
    archives = parse_archives(data.get("archives") or {}, str(path))
    specs = parse_specs(data["models"], str(path))
    check_archive_refs(specs, {**(known_archives or {}), **archives}, str(path))
    packages = data.get("weight_packages") or []
    if not isinstance(packages, list) or not all(isinstance(p, str) and p.isidentifier() for p in packages):
        raise RegistryError(f"{path}: 'weight_packages:' must be a list of Python module names")
    return RegistryFile(specs, archives, packages)


def parse_archives(raw: Any, origin: str) -> dict[str, ArchiveSpec]:
    """The `archives:` table: {NAME: {url, sha256, notes}}; a bad entry raises one line."""
    if not isinstance(raw, dict):
        raise RegistryError(f"{origin}: 'archives:' must map names to {{url, sha256, notes}}")
    out = {}
    for name, entry in raw.items():
        try:
            out[str(name)] = ArchiveSpec.model_validate(entry)
        except ValidationError as e:
            raise RegistryError(f"{origin}: archive '{name}': {_describe_error(e)}; fix the entry and retry") from None
    return out


def check_archive_refs(specs: Iterable[ModelSpec], archives: dict[str, ArchiveSpec], origin: str) -> None:
    """Every archive a spec names must be in `archives`; raises one line naming the entry otherwise."""
    for s in specs:
        extra = s.build.get("readout_weights")
        names = [s.weights.archive, extra.get("archive") if isinstance(extra, dict) else None]
        for name in names:
            if name is not None and name not in archives:
                known = ", ".join(archives) or "none"
                raise RegistryError(f"{origin}: entry '{s.id}': weights archive '{name}' is not in the "
                                    f"'archives:' table{suggest(str(name), list(archives))} (known: {known})")


def add_registry(base: RegistryFile, path: Path | str) -> RegistryFile:
    """`base` with the entries, archives and weight packages of the registry file `path` added (a user's own models
    next to the built-in ones, `METAZOO_REGISTRY`). An id or archive name `base` already has: one line."""
    extra = load_registry(path, base.archives)
    for what, new, old in (("model id", [s.id for s in extra.specs], {s.id for s in base.specs}),
                           ("archive", list(extra.archives), set(base.archives))):
        clash = [name for name in new if name in old]
        if clash:
            raise RegistryError(f"{path}: {what} '{clash[0]}' is already built in; give your entry another name "
                                "(a registry file adds to the built-in registry, it cannot replace an entry)")
    return RegistryFile([*base.specs, *extra.specs], {**base.archives, **extra.archives},
                        list(dict.fromkeys([*base.weight_packages, *extra.weight_packages])))


def load_registry_file(path: Path | str = DEFAULT_REGISTRY) -> list[ModelSpec]:
    """The model specs of a registry YAML file (see `load_registry` for the archives table too)."""
    return load_registry(path).specs


class Registry:
    """All known model specs by id, with timm-style queries."""

    def __init__(self, specs: Iterable[ModelSpec], archives: dict[str, ArchiveSpec] | None = None,
                 weight_packages: Iterable[str] = ()):
        self.archives: dict[str, ArchiveSpec] = dict(archives or {})
        self.weight_packages: list[str] = list(weight_packages)
        self._specs: dict[str, ModelSpec] = {}
        for s in specs:
            if s.id in self._specs:
                raise RegistryError(f"model id '{s.id}' is registered twice; ids must be unique")
            self._specs[s.id] = s

    def __contains__(self, model_id: str) -> bool:
        return model_id in self._specs

    def __len__(self) -> int:
        return len(self._specs)

    def ids(self) -> list[str]:
        return list(self._specs)

    def get(self, model_id: str) -> ModelSpec:
        try:
            return self._specs[model_id]
        except KeyError:
            if ":" in model_id:  # SOURCE:NAME[@REV], resolved from upstream metadata
                from .anymodel import resolve
                return resolve(model_id)
            raise UnknownModelError(
                f"unknown model '{model_id}'{suggest(model_id, self.ids())}; `metazoo list` shows all ids. "
                f"{ADD_A_MODEL}") from None

    def query(
        self,
        modality: str | None = None,
        family: str | None = None,
        pattern: str | None = None,
        group: str | None = None,
    ) -> list[ModelSpec]:
        out = []
        for s in self._specs.values():
            if modality and s.modality != modality:
                continue
            if family and s.family != family:
                continue
            if group and group not in s.all_groups:
                continue
            if pattern and not fnmatch.fnmatch(s.id, pattern):
                continue
            out.append(s)
        return out
