"""Read a run folder written by the metamer engine (`metazoo_core.metamer.generate_metamers`).

Layout: RUN/<model>/<input>/original.{png,wav}, RUN/<model>/<input>/<stage>/{metamer.png|wav, metamer.safetensors,
record.json}. A record.json is written last, so its presence means the metamer is complete. Records that cannot be
read or that lack what the analysis needs are skipped with a one-line warning each; the rest are used.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ..errors import InputError
from ..registry import IMPLICIT_STAGE

SCHEMA_PREFIX = "metazoo.metamer/"
NATURAL = "natural"
"""The condition name for the unmodified natural input (the study's "Natural" point on each curve)."""


@dataclass(frozen=True)
class MetamerItem:
    """One finished metamer: the model and stage that made it, its natural input, and its record.json."""

    model: str
    modality: str
    stage: str
    input: str
    folder: Path
    record: dict[str, Any] = field(compare=False, repr=False)

    @property
    def metamer_file(self) -> Path:
        return (self.folder / self.record["files"]["metamer"]).resolve()

    @property
    def original_file(self) -> Path:
        return (self.folder / self.record["files"]["original"]).resolve()

    @property
    def passed(self) -> bool | None:
        """True/False from the acceptance criteria; None when they were not evaluated (no null distribution)."""
        return self.record.get("passed")

    @property
    def label(self) -> str | None:
        """The generating model's decision on the natural input (16-way category, or the argmax unit for audio);
        None for a model without a classifier."""
        value = (self.record.get("prediction") or {}).get("original")
        return None if value is None else str(value)


def _source(rec: dict[str, Any]) -> dict[str, Any] | None:
    """The record's `category16_source` when it has the fields a notice shows (records are data from disk)."""
    value = rec.get("category16_source")
    types = {"in_category": bool, "top1_label": str, "rank": int, "p": (int, float)}
    if isinstance(value, dict) and all(isinstance(value.get(k), t) for k, t in types.items()):
        return value
    return None


def out_of_category(records: Iterable[dict[str, Any]]) -> list[str]:
    """One notice per (model, input) whose natural input's top-1 ImageNet class is in none of the 16 categories, from
    the records' `category16_source` (records without it, or of other rules, give none). Inputs are named
    "input", or "model/input" when the records come from several models."""
    from ..labels import out_of_category_notice

    first: dict[tuple[str, str], dict[str, Any]] = {}
    for rec in records:
        first.setdefault((str(rec.get("model")), str((rec.get("input") or {}).get("name"))), rec)
    several = len({m for m, _ in first}) > 1
    lines = []
    for (model, name), rec in first.items():
        answer = (rec.get("prediction") or {}).get("original")
        line = out_of_category_notice(f"{model}/{name}" if several else name, _source(rec), str(answer))
        if line:
            lines.append(line)
    return lines


@dataclass
class Run:
    root: Path
    items: list[MetamerItem]
    warnings: list[str] = field(default_factory=list)

    def models(self) -> list[str]:
        return sorted({i.model for i in self.items})

    def modality(self, model: str) -> str:
        return next(i.modality for i in self.items if i.model == model)

    def inputs(self, model: str) -> list[str]:
        return sorted({i.input for i in self.items if i.model == model})

    def stages(self, model: str) -> list[str]:
        """The model's stages present in the run, shallow to deep (input_after_preproc first)."""
        present = {i.stage for i in self.items if i.model == model}
        order = _stage_order(model, next(i.record for i in self.items if i.model == model))
        return sorted(present, key=lambda s: (order.index(s) if s in order else len(order), s))

    def for_model(self, model: str) -> list[MetamerItem]:
        return [i for i in self.items if i.model == model]

    def get(self, model: str, input_name: str, stage: str) -> MetamerItem | None:
        for i in self.items:
            if (i.model, i.input, i.stage) == (model, input_name, stage):
                return i
        return None

    def originals(self, model: str) -> dict[str, tuple[Path, str | None]]:
        """{input: (original file, label)} for a model: the natural condition."""
        out: dict[str, tuple[Path, str | None]] = {}
        for i in self.for_model(model):
            out.setdefault(i.input, (i.original_file, i.label))
        return dict(sorted(out.items()))


def _stage_order(model: str, record: dict[str, Any]) -> list[str]:
    from ..errors import MetazooError

    try:
        from ..plugins import get_spec

        names = get_spec(model).stage_names
    except MetazooError:
        names = [s for s in record.get("measures") or {} if s != IMPLICIT_STAGE]
    return [IMPLICIT_STAGE, *names]


MEDIA_SUFFIXES = {"vision": ".png", "audio": ".wav"}
"""The file type a record's metamer and original must have, by modality (what the engine writes)."""


def inside(path: Path, root: Path) -> bool:
    """Whether `path`, links followed, lies inside the folder `root`."""
    return path.resolve().is_relative_to(root.resolve())


def _plain_name(value: Any) -> bool:
    """A name usable as one path component: a non-empty string without '/', NUL, or '.'/'..'."""
    return isinstance(value, str) and value not in ("", ".", "..") and "/" not in value and "\0" not in value


def _check_record(rec: Any, folder: Path, root: Path) -> str | None:
    """Why a record cannot be used, or None when it can. Its media must be files of the modality's type inside
    the run folder `root` (a shared record naming a file elsewhere would copy that file into the page)."""
    if not isinstance(rec, dict):
        return "not a JSON object"
    if not str(rec.get("schema", "")).startswith(SCHEMA_PREFIX):
        return f"schema {rec.get('schema')!r} is not {SCHEMA_PREFIX}*"
    for key in ("model", "modality", "stage", "input", "files"):
        if key not in rec:
            return f"field '{key}' missing"
    if not isinstance(rec["input"], dict) or "name" not in rec["input"]:
        return "field 'input.name' missing"
    for key, value in (("model", rec["model"]), ("stage", rec["stage"]), ("input.name", rec["input"]["name"])):
        if not _plain_name(value):
            return f"field '{key}' is not a plain name"
    if rec["modality"] not in MEDIA_SUFFIXES:
        return f"field 'modality' is not one of {', '.join(MEDIA_SUFFIXES)}"
    if rec.get("prediction") is not None and not isinstance(rec["prediction"], dict):
        return "field 'prediction' is not an object"
    files = rec["files"]
    if not isinstance(files, dict) or "metamer" not in files or "original" not in files:
        return "field 'files.metamer' or 'files.original' missing"
    for key in ("metamer", "original"):
        if not isinstance(files[key], str):
            return f"field 'files.{key}' is not a path"
        path = folder / files[key]
        if not inside(path, root):
            return f"{key} file {files[key]} is outside the run folder; refused"
        if path.suffix.lower() != MEDIA_SUFFIXES[rec["modality"]]:
            return f"{key} file {files[key]} is not a {MEDIA_SUFFIXES[rec['modality']]} file; refused"
        if not path.is_file():
            return f"{key} file {files[key]} is missing"
    return None


def read_run(root: Path | str) -> Run:
    """All usable records under `root`; raises InputError for a missing folder or one with no records."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: no such run folder; give the folder the metamer run wrote (its --out)")
    items: list[MetamerItem] = []
    warnings: list[str] = []
    pattern = "units/*/*/*/*/record.json" if (root / "manifest.json").is_file() else "*/*/*/record.json"
    for path in sorted(root.glob(pattern)):
        folder = path.parent
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            warnings.append(f"skipped {path}: unreadable record ({e})")
            continue
        why = _check_record(rec, folder, root)
        if why:
            warnings.append(f"skipped {path}: {why}")
            continue
        items.append(MetamerItem(model=rec["model"], modality=rec["modality"], stage=rec["stage"],
                                 input=rec["input"]["name"], folder=folder, record=rec))
    if not items:
        extra = f" ({len(warnings)} unusable: {warnings[0]})" if warnings else ""
        raise InputError(f"{root}: no usable metamer records (<model>/<input>/<stage>/record.json){extra}; "
                         "generate metamers into this folder first")
    return Run(root=root, items=items, warnings=warnings)
