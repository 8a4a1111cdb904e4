"""CLIP's zero-shot ImageNet classifier (Radford et al. 2021; the study's `zeroshot_weights.pt`, facts §9).

W[c] = normalise(mean over the 80 templates t of normalise(text_encoder(t(classname_c)))), shape (1000, D);
logits = 100 · normalise(image embedding) · Wᵀ. W depends only on the text tower, so it is computed once per
set of weights and cached as safetensors under the metazoo cache, keyed by a fingerprint of the text tower.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from metazoo_core import fileio
from metazoo_core.weights import cache_dir

LOGIT_SCALE = 100.0
_TEXT_PREFIXES = ("token_embedding.", "positional_embedding", "transformer.", "ln_final.", "text_projection")


class ZeroShotHead(nn.Module):
    """logits (B, n_classes) = 100 · normalise(embedding (B, D)) · Wᵀ, W (n_classes, D) with unit rows."""

    def __init__(self, n_classes: int, dim: int):
        super().__init__()
        self.register_buffer("weight", torch.zeros(n_classes, dim), persistent=False)
        self.ready = False

    def set_weight(self, weight: Tensor) -> None:
        self.weight = weight.to(device=self.weight.device, dtype=self.weight.dtype)
        self.ready = True

    def forward(self, embedding: Tensor) -> Tensor:
        return LOGIT_SCALE * F.normalize(embedding, dim=-1) @ self.weight.T


def encode_prompts(clip: nn.Module, tokens: Tensor) -> Tensor:
    """`clip.encode_text(tokens)` (B, D), computed on the context up to the longest prompt's end token.

    CLIP's text transformer is causal and pools at the end-of-text token (the largest token id), so positions
    after it never influence the result: cutting the 77-token context to the longest prompt gives the same
    embedding at a fraction of the cost. Other text towers fall back to `encode_text`.
    """
    if getattr(clip, "text_pool_type", None) != "argmax" or getattr(clip, "attn_mask", None) is None:
        return clip.encode_text(tokens)
    length = int(tokens.argmax(dim=-1).max()) + 1
    tokens = tokens[:, :length]
    cast = clip.transformer.get_cast_dtype()
    x = clip.token_embedding(tokens).to(cast) + clip.positional_embedding[:length].to(cast)
    x = clip.ln_final(clip.transformer(x, attn_mask=clip.attn_mask[:length, :length]))
    x = x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)]
    return x @ clip.text_projection


@torch.no_grad()
def zeroshot_weights(clip: nn.Module, tokenize: Callable[[list[str]], Tensor], classnames: Sequence[str],
                     templates: Sequence[Callable[[str], str]]) -> Tensor:
    """(len(classnames), D) unit-norm class embeddings averaged over the prompt templates."""
    device = next(clip.parameters()).device
    rows = []
    for name in classnames:
        tokens = tokenize([t(name) for t in templates]).to(device)
        emb = F.normalize(encode_prompts(clip, tokens), dim=-1).mean(dim=0)
        rows.append(F.normalize(emb, dim=0))
    return torch.stack(rows)


def text_fingerprint(clip: nn.Module) -> str:
    """sha256 over the text tower's tensors (names and bytes): identifies the weights W is computed from."""
    h = hashlib.sha256()
    for name, t in sorted(clip.state_dict().items()):
        if name.startswith(_TEXT_PREFIXES):
            h.update(name.encode())
            h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def cache_path(model_name: str, fingerprint: str) -> Path:
    return cache_dir() / "clip_zeroshot" / f"{model_name}-{fingerprint[:16]}.safetensors"


def cached_imagenet_weights(clip: nn.Module, model_name: str) -> Tensor:
    """The ImageNet zero-shot W for this CLIP's text tower: from the cache, or computed (slow on CPU) and cached."""
    import open_clip
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES, OPENAI_IMAGENET_TEMPLATES
    from safetensors.torch import load_file

    path = cache_path(model_name, text_fingerprint(clip))
    if path.is_file():
        return load_file(str(path))["weight"]
    weight = zeroshot_weights(clip, open_clip.get_tokenizer(model_name), IMAGENET_CLASSNAMES,
                              OPENAI_IMAGENET_TEMPLATES)
    fileio.save_tensors(path, {"weight": weight.cpu().contiguous()},
                        metadata={"model": model_name, "templates": str(len(OPENAI_IMAGENET_TEMPLATES))})
    return weight
