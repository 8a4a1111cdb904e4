"""One entry point for natural inputs of either modality: `load_input(source, spec)` for one, `load_many(sources,
spec)` → (items, problems) for many (the CLI and the sweep runner both use it)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import InputError, MetazooError
from .registry import ModelSpec


def load_input(source: str | Path, spec: ModelSpec) -> Any:
    """An image (`LoadedImage`) or a sound (`LoadedSound`) prepared for `spec`'s input, with notices.

    Raises InputError with one line for anything unusable.
    """
    if spec.modality == "audio":
        from .io.audio import load_sound

        return load_sound(source, spec.input)
    from .io.images import load_image

    return load_image(source, spec.input)


def _is_dir(source: str) -> bool:
    try:
        return Path(source).is_dir()
    except OSError:  # e.g. a name longer than the file system allows: loading reports it per input
        return False


def expand_sources(sources: list[str], modality: str) -> list[str]:
    """Expand `builtin` (the default set), folders (their files, sorted) and plain paths into a list."""
    out: list[str] = []
    for s in sources:
        if s == "builtin":
            if modality == "audio":
                from .io.audio import builtin_sound_names

                out += [f"builtin:{n}" for n in builtin_sound_names()]
            else:
                from .io.images import DEFAULT_BUILTIN

                out += [f"builtin:{n}" for n in DEFAULT_BUILTIN]
        elif _is_dir(s):
            files = sorted(str(p) for p in Path(s).iterdir() if p.is_file() and not p.name.startswith("."))
            out += files or [s]  # an empty folder stays, so that loading reports it as one bad input
        else:
            out.append(s)
    return out


def skipped_folders(sources: list[str]) -> list[str]:
    """One notice line per folder among `sources` that holds sub-folders: those are not read (a folder input means
    its files), so the user learns how to include them."""
    lines = []
    for s in sources:
        if s != "builtin" and _is_dir(s):
            try:
                subs = sorted(p.name for p in Path(s).iterdir() if p.is_dir() and not p.name.startswith("."))
            except OSError:  # unreadable: load_many reports the folder itself
                continue
            if subs:
                shown = ", ".join(subs[:3]) + (f" +{len(subs) - 3}" if len(subs) > 3 else "")
                lines.append(f"{s}: {len(subs)} sub-folder{'s' if len(subs) > 1 else ''} not read ({shown}); a folder "
                             f"input means its files — give sub-folders as inputs of their own, e.g. "
                             f"{Path(s) / subs[0]}")
    return lines


def load_many(sources: list[str], spec: ModelSpec) -> tuple[list[Any], list[str]]:
    """Every source for `spec` (`builtin` and folders expanded): (loaded items with their notices, one problem line
    per source that could not be used). An unreadable folder raises one InputError line."""
    try:
        expanded = expand_sources(sources, spec.modality)
    except PermissionError as e:
        raise InputError(f"{e.filename}: folder is not readable (permission denied); fix its permissions") from None
    except OSError as e:
        raise InputError(f"{e.filename}: cannot list folder ({e.strerror})") from None
    items, problems = [], []
    for source in expanded:
        try:
            items.append(load_input(source, spec))
        except MetazooError as e:
            problems.append(str(e))
    for item, label in zip(items, distinct_labels([item.name for item in items],
                                                  [getattr(item, "source", "") or item.name for item in items])):
        if label != item.name:  # notices name the input as the label does
            item.notices = [label + n[len(item.name):] if n.startswith(f"{item.name}: ") else n
                            for n in item.notices]
            item.name = label
    return items, problems


def distinct_labels(names: list[str], sources: list[str]) -> list[str]:
    """Labels that tell inputs apart: each name as it is when no other input shares it, else the shortest path
    suffix (folders + file stem, joined by '/') that no other input of the same name has, e.g. `cat/0.png` and
    `cup/0.png` → 'cat/0', 'cup/0'. Inputs that share even their full path (one file given twice) keep the full
    path; callers that write files still make those unique (`metamer.runs.unique_names`)."""
    groups: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        groups.setdefault(n, []).append(i)
    labels = list(names)
    for members in (m for m in groups.values() if len(m) > 1):
        parts = {i: [*Path(sources[i]).parent.parts, names[i]] for i in members}
        for i in members:
            others = [parts[j] for j in members if j != i]
            k = len(parts[i])
            for k in range(2, len(parts[i]) + 1):
                if all(o[-k:] != parts[i][-k:] for o in others):
                    break
            labels[i] = "/".join(p for p in parts[i][-k:] if p not in ("/", ""))
    return labels
