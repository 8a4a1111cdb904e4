"""Model specs: validated, torch-free descriptions of every model (registry.yaml plus plugin-registered specs).

A `ModelSpec` says what a model is (family, modality), what it takes (input shape, value range, sample rate,
normalisation), which stages it exposes (ordered names, per-example shapes, feature counts), where its weights
come from, and where it comes from scientifically (provenance). Building the network is the family plugin's job.
"""
from __future__ import annotations

import fnmatch
import math
from pathlib import Path
from typing import Any, Iterable, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import RegistryError, UnknownModelError, UnknownStageError, suggest

DEFAULT_REGISTRY = Path(__file__).parent / "data" / "registry.yaml"
IMPLICIT_STAGE = "input_after_preproc"
"""Every model also exposes this stage: the input after the model's own normalisation (the study's name)."""


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


class WeightsSpec(_Strict):
    source: str | None = Field(None, description="hf://ORG/REPO/FILE[@REV], https://URL, pkg://MODULE:ATTR, or None")
    sha256: str | None = None
    member: str | None = Field(None, description="file inside an archive source")
    format: str | None = Field(None, description="checkpoint layout, passed to the family's converter")
    notes: str | None = None


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
            raise RegistryError(f"{origin}: entry {name} is not a mapping; each entry needs id, family, modality, input, stages")
        try:
            specs.append(ModelSpec.model_validate(raw))
        except ValidationError as e:
            raise RegistryError(f"{origin}: entry '{name}': {_describe_error(e)}; fix the entry and retry") from None
    return specs


def load_registry_file(path: Path | str = DEFAULT_REGISTRY) -> list[ModelSpec]:
    """Read and validate a registry YAML file (top-level key `models:`, a list of entries)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise RegistryError(f"cannot read registry file {path}: {e.strerror}") from None
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise RegistryError(f"{path}:{where}: malformed YAML ({getattr(e, 'problem', e)}); fix the syntax and retry") from None
    if not isinstance(data, dict) or "models" not in data:
        raise RegistryError(f"{path}: expected a mapping with a 'models:' list at the top level")
    return parse_specs(data["models"], str(path))


class Registry:
    """All known model specs by id, with timm-style queries."""

    def __init__(self, specs: Iterable[ModelSpec]):
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
            raise UnknownModelError(
                f"unknown model '{model_id}'{suggest(model_id, self.ids())}; `metazoo list` shows all ids"
            ) from None

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
