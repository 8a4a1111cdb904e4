"""Top-k class predictions of a loaded model for natural inputs (`metazoo predict`)."""
from __future__ import annotations

from typing import Any, Sequence

import torch

from .errors import InputError
from .labels import audio_output_names, category16_source, imagenet_names, out_of_category_notice, predict_labels


def predict(net, items: Sequence[Any], top: int = 5, device: str = "cpu") -> tuple[list[dict[str, Any]], list[str]]:
    """Classify loaded inputs (LoadedImage/LoadedSound: .name, .tensor in the model's input shape and range).

    Returns (rows, notices). Each row: {"input": name, "category16": the study's 16-way category for ImageNet
    classifiers (else None), "out_of_category": whether the top-1 class is in none of the 16 categories (None
    when not an ImageNet classifier), "category16_source": `labels.category16_source` of the input (or None),
    "random_weights": bool, "top": [{"index", "label", "p"}, …]} with the `top` largest
    softmax probabilities (rounded to 4 decimals), at most the model's number of outputs. Audio outputs are named
    as the study's words when the output count allows (`labels.audio_output_names`). Notices: one line per
    input whose top-1 class is outside the 16 categories (`labels.out_of_category_notice`).
    """
    if top < 1:
        raise InputError(f"--top {top}: give at least 1 class")
    spec = net.spec
    imagenet = spec.classifier in ("imagenet1000", "zeroshot_imagenet")
    names = imagenet_names() if imagenet else None
    notices: list[str] = []
    rows = []
    for item in items:
        with torch.no_grad():
            logits = net.logits(item.tensor.unsqueeze(0).to(device)).cpu()
        if names is None and spec.modality == "audio":
            names = audio_output_names(logits.shape[1])
        probs = logits.softmax(dim=1)[0]
        if top > probs.numel():
            notices.append(f"--top {top}: {spec.id} has {probs.numel()} classes; showing all of them")
            top = probs.numel()
        values, idx = probs.topk(top)
        category = predict_labels(logits, spec.classifier)[0] if imagenet else None
        source = category16_source(logits)[0] if imagenet else None
        line = out_of_category_notice(item.name, source, category)
        if line:
            notices.append(line)
        rows.append({
            "input": item.name,
            "category16": category,
            "out_of_category": None if source is None else not source["in_category"],
            "category16_source": source,
            "random_weights": net.random_weights,
            "top": [{"index": int(i), "label": names[int(i)] if names else str(int(i)), "p": round(float(v), 4)}
                    for v, i in zip(values, idx)],
        })
    return rows, notices
