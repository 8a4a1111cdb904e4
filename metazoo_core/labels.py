"""Class labels: ImageNet names, the study's 16-way ImageNet categories (facts §2.4), and the decision rule.

The 16-way rule (`force_16_choice`): walk down the 1000 logits in descending order until a class belongs to one of
the 16 categories; that category is the answer — equivalently, the category with the largest per-category
maximum logit. 208 ImageNet classes map to a category; index 544 ("Dutch oven") counts as oven, as in the study.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

_DATA = Path(__file__).parent / "data"


@functools.lru_cache(maxsize=1)
def imagenet16() -> dict[str, list[int]]:
    """{category: [ImageNet indices]} for the 16 categories, in the study's order (alphabetical)."""
    return json.loads((_DATA / "imagenet16.json").read_text())["categories"]


def categories16() -> list[str]:
    return list(imagenet16())


@functools.lru_cache(maxsize=1)
def imagenet_names() -> list[str]:
    """The 1000 ImageNet class names (torchvision's list; available offline)."""
    from torchvision.models import ResNet50_Weights

    return list(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


WORD_ORDER_NOTE = ("audio outputs named as words assuming the 794 outputs are a null class then the study's 793 "
                   "words in alphabetical order (unverified until a study checkpoint confirms it)")
"""Shown wherever an audio output index is printed as a word."""


def audio_output_names(n_outputs: int) -> list[str] | None:
    """Names of a word network's outputs: '(null)' for index 0, then the study's 793 words (alphabetical: the
    order is unverified, see `WORD_ORDER_NOTE`); None when the network does not have 794 outputs."""
    from .humans.design import vocabulary

    words = vocabulary()
    return ["(null)", *words] if n_outputs == len(words) + 1 else None


def decision_text(label: str | None, modality: str | None) -> str:
    """A model's decision as people read it: an audio network's output index as the study's word ('380' →
    'latin (380)', order unverified as `audio_output_names`); other labels (16-way categories) as they are."""
    if modality != "audio" or not str(label).isdigit():
        return str(label)
    names = audio_output_names(794)
    i = int(label)
    return f"{names[i]} ({i})" if names and i < len(names) else str(label)


def category16_index(logits):
    """(B, 1000) logits → (B,) index into `categories16()` by the max-logit rule."""
    import torch

    cats = imagenet16()
    per_cat = torch.stack([logits[:, idx].max(dim=1).values for idx in cats.values()], dim=1)
    return per_cat.argmax(dim=1)


def predict_labels(logits, classifier: str) -> list[str]:
    """Human-readable decision per item: 16-way category for ImageNet classifiers, else the argmax index."""
    if classifier in ("imagenet1000", "zeroshot_imagenet"):
        cats = categories16()
        return [cats[i] for i in category16_index(logits).tolist()]
    return [str(i) for i in logits.argmax(dim=1).tolist()]
