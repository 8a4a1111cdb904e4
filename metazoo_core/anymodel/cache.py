"""The resolved-spec cache: one JSON file per id under `<metazoo cache>/resolved/`, keyed by the library
versions it was resolved with (a version change makes it stale). Reading it imports no torch."""
from __future__ import annotations

import json
import urllib.parse
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from ..fileio import write_json
from ..weights import cache_dir
from .ids import ModelId

RESOLVER_VERSION = "2"
"""Bumped when discovery changes what a resolved spec holds, so older cached specs go stale."""
LIBRARIES = {"timm": ("timm", "torch"), "torchvision": ("torchvision", "torch"),
             "open_clip": ("open_clip_torch", "timm", "torch")}
"""Distributions whose versions key a source's resolved specs."""


def versions(source: str) -> dict[str, str | None]:
    """Installed versions of the libraries a source resolves with (from package metadata, no import)."""
    out: dict[str, str | None] = {"resolver": RESOLVER_VERSION}
    for dist in ("metazoo", *LIBRARIES[source]):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    return out


def entry_path(mid: ModelId) -> Path:
    """`<cache>/resolved/<source>/<name[@rev], percent-quoted>.json`."""
    key = mid.name + (f"@{mid.rev}" if mid.rev else "")
    return cache_dir() / "resolved" / mid.source / f"{urllib.parse.quote(key, safe='')}.json"


def read(mid: ModelId) -> dict[str, Any] | None:
    """The cached entry {id, versions, spec, check}, or None when absent, unreadable or stale."""
    path = entry_path(mid)
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("versions") != versions(mid.source):
        return None
    return entry


def write(mid: ModelId, entry: dict[str, Any]) -> None:
    """Store an entry atomically, stamped with the current library versions."""
    write_json(entry_path(mid), {**entry, "versions": versions(mid.source)})


def cached_specs(**query: str | None) -> list[Any]:
    """The cached resolved specs matching a `Registry.query` (modality, family, pattern, group)."""
    from ..registry import Registry, parse_specs

    specs = parse_specs([e["spec"] for e in cached_entries()], "the resolved-spec cache")
    return Registry(specs).query(**query)


def cached_entries() -> list[dict[str, Any]]:
    """Every fresh cached entry (for `metazoo list --resolved`); stale and unreadable files are skipped."""
    root = cache_dir() / "resolved"
    out = []
    for path in sorted(root.glob("*/*.json")):
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(entry, dict) and path.parent.name in LIBRARIES \
                and entry.get("versions") == versions(path.parent.name):
            out.append(entry)
    return out
