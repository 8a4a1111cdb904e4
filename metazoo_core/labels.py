"""Class labels: ImageNet names, the study's 16-way ImageNet categories (facts §2.4), and the decision rule.

The 16-way rule (`force_16_choice`): walk down the 1000 logits in descending order until a class belongs to one of
the 16 categories; that category is the answer — equivalently, the category with the largest per-category
maximum logit. 208 ImageNet classes map to a category; index 544 ("Dutch oven") counts as oven, as in the study.
The study applied it to images of the 16 categories; for an input whose top-1 class is in none of them the answer
comes from a class far down the list, which `category16_source` / `out_of_category_notice` say (docs/fidelity.md,
"Inputs outside the 16 categories").
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


WORD_ORDER_SOURCE = ("output 0 is the null class, outputs 1–793 the study's words in alphabetical order: the "
                     "study's own label map (word_and_speaker_encodings_jsinv3.pckl, see docs/fidelity.md)")
"""Where the audio networks' output order comes from. Checked against the study's label map `word_idx_to_word` in
jenellefeather/model_metamers_pytorch (robustness/audio_functions/word_and_speaker_encodings_jsinv3.pckl, commit
f89cdad5c355081f97886863ed901fc9b34bce21): index 0 '__nullSignal__', then the 793 words of vocabulary793.json in
the same order; `tests/test_audio_models.py` pins index → word pairs read from that file."""


def audio_output_names(n_outputs: int) -> list[str] | None:
    """Names of a word network's outputs: '(null)' for index 0, then the study's 793 words (`WORD_ORDER_SOURCE`);
    None when the network does not have 794 outputs."""
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


def category16_source(logits) -> list[dict]:
    """Where each row's 16-way answer comes from. logits: (B, 1000) ImageNet logits.

    Per row: {"top1_index", "top1_label": the largest logit's class, "in_category": whether that class belongs to
    one of the 16 categories, "rank": the 1-based rank (by logit, descending) of the first class that does — the
    class the walk-down rule stops at, so 1 when in_category — "index", "label": that class, "p": its softmax
    probability over the 1000 classes (4 significant digits)}.
    """
    import torch

    member = torch.zeros(logits.shape[1], dtype=torch.bool)
    member[[i for idx in imagenet16().values() for i in idx]] = True
    order = logits.argsort(dim=1, descending=True, stable=True)
    probs = logits.float().softmax(dim=1)
    names = imagenet_names()
    out = []
    for row in range(logits.shape[0]):
        rank = int(torch.nonzero(member[order[row]])[0])
        top, hit = int(order[row, 0]), int(order[row, rank])
        out.append({"top1_index": top, "top1_label": names[top], "in_category": rank == 0, "rank": rank + 1,
                    "index": hit, "label": names[hit], "p": float(f"{float(probs[row, hit]):.4g}")})
    return out


def out_of_category_notice(name: str, source: dict | None, answer: str) -> str | None:
    """One line when the input's top-1 class lies outside the 16 categories (so its 16-way `answer` is a class far
    down the list); None otherwise. `source`: one row of `category16_source`."""
    if not source or source["in_category"]:
        return None
    return (f"{name}: top-1 '{source['top1_label']}' is not in the study's 16 categories; the 16-way answer "
            f"'{answer}' comes from rank {source['rank']} (p = {source['p']:.2g})")
