"""Resolved-model ids: `SOURCE:NAME[@REV]` (no registry id contains a colon)."""
from __future__ import annotations

from typing import NamedTuple

from ..errors import UnknownModelError

SOURCES = ("timm", "torchvision", "open_clip")
"""Sources this version resolves; `hf:` is not implemented yet."""


class ModelId(NamedTuple):
    """source: a name of SOURCES. name: the library's model name (timm: `arch[.tag]`; open_clip: `MODEL[/TAG]`).
    rev: timm, open_clip — a Hub revision of the weights file; torchvision — a weights-enum member (e.g.
    IMAGENET1K_V1); None = default."""

    source: str
    name: str
    rev: str | None


def is_resolved_id(model_id: str) -> bool:
    return ":" in model_id


def parse_id(model_id: str) -> ModelId:
    """Split `SOURCE:NAME[@REV]`; an unknown source or an empty name is one line."""
    source, _, rest = model_id.partition(":")
    name, _, rev = rest.partition("@")
    if source not in SOURCES:
        raise UnknownModelError(f"unknown model source '{source}' in '{model_id}'; resolvable sources: "
                                f"{', '.join(SOURCES)} (write SOURCE:NAME[@REV], e.g. timm:resnet18)")
    if not name or (rest.count("@") and not rev):
        raise UnknownModelError(f"model id '{model_id}' needs a name after '{source}:' (and a revision after '@' "
                                "when '@' is given), e.g. timm:resnet18 or torchvision:resnet50@IMAGENET1K_V1")
    return ModelId(source, name, rev or None)
