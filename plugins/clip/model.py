"""CLIP visual encoders with the study's stage names (SI Modeling Note 2) and a zero-shot ImageNet head.

Built from open_clip's OpenAI configurations (`RN50-quickgelu`, `ViT-B-32-quickgelu`: QuickGELU activations).

The network maps the CLIP-normalised image (B, 3, 224, 224) to zero-shot logits (B, 1000); stages:
- RN50: stem 64×56×56 (after the stem's average pool), layer1 256×56², layer2 512×28², layer3 1024×14²,
  layer4 2048×7² (fake-ReLU of each layer's last block's final ReLU), attnpool 1024 (the image embedding).
- ViT-B/32: conv1 768×7×7, class_embedding 50×768 (class token concatenated to the 49 patch tokens, before the
  positional embedding), ln_pre 50×768, block_0/3/6/9 50×768, blocks_end 50×768 (block 11), linear_end 512
  (the image embedding: ln_post of the class token, projected).
- logits (not a metamer stage): the zero-shot head, 100 · normalise(embedding) · Wᵀ.
`build: {attnpool_l2_normalised: true}` reproduces the study's aliasing quirk (facts §3): its RN50 attnpool was the
L2-normalised embedding.
"""
from __future__ import annotations

from typing import Any

import open_clip
import torch
import torch.nn.functional as F
from open_clip.model import CLIP
from torch import Tensor, nn

from metazoo_core.registry import ModelSpec
from metazoo_core.stages import StageNetwork, Tap

from .zeroshot import ZeroShotHead, cached_imagenet_weights


class CLIPZeroShot(nn.Module):
    """open_clip `CLIP` (as `clip`, both towers, so OpenAI checkpoints load strictly) + the zero-shot head.

    forward: normalised image (B, 3, H, W) → logits (B, n_classes); W is computed (or read from the cache) on
    the first forward that reaches the head.
    """

    def __init__(self, model_name: str, n_classes: int = 1000):
        super().__init__()
        cfg = open_clip.get_model_config(model_name)
        if cfg is None:
            raise ValueError(f"open_clip has no model config '{model_name}' (see open_clip.list_models())")
        self.model_name = model_name
        self.clip = CLIP(**cfg)
        self.head = ZeroShotHead(n_classes, cfg["embed_dim"])

    def forward(self, x: Tensor) -> Tensor:
        embedding = self.clip.visual(x)
        if not self.head.ready:
            self.head.set_weight(cached_imagenet_weights(self.clip, self.model_name))
        return self.head(embedding)


class _ClassTokenCat:
    """conv1 output (B, D, g, g) → (B, 1 + g², D): the class token concatenated before the patch tokens."""

    def __init__(self, visual: nn.Module):
        self.visual = visual

    def __call__(self, t: Tensor) -> Tensor:
        tokens = t.reshape(t.shape[0], t.shape[1], -1).permute(0, 2, 1)
        cls = self.visual.class_embedding.to(tokens.dtype).view(1, 1, -1).expand(t.shape[0], -1, -1)
        return torch.cat([cls, tokens], dim=1)


def _resnet_taps(normalise_attnpool: bool) -> dict[str, Tap]:
    v = "clip.visual"
    taps = {"stem": Tap(f"{v}.avgpool")}
    for i, n_blocks in enumerate((3, 4, 6, 3), start=1):
        taps[f"layer{i}"] = Tap(f"{v}.layer{i}.{n_blocks - 1}.act3", point="input", relu=True, call="first",
                                done=f"{v}.layer{i}")
    unit = (lambda t: F.normalize(t, dim=-1)) if normalise_attnpool else None
    taps["attnpool"] = Tap(f"{v}.attnpool", transform=unit)
    return taps


def _vit_taps(visual: nn.Module) -> dict[str, Tap]:
    v = "clip.visual"
    last = len(visual.transformer.resblocks) - 1
    taps = {"conv1": Tap(f"{v}.conv1"), "class_embedding": Tap(f"{v}.conv1", transform=_ClassTokenCat(visual)),
            "ln_pre": Tap(f"{v}.ln_pre")}
    taps.update({f"block_{i}": Tap(f"{v}.transformer.resblocks.{i}") for i in (0, 3, 6, 9)})
    taps.update({"blocks_end": Tap(f"{v}.transformer.resblocks.{last}"), "linear_end": Tap(v)})
    return taps


def build(spec: ModelSpec) -> StageNetwork:
    name = spec.build.get("open_clip_name")
    if name is None:
        raise ValueError(f"registry entry '{spec.id}' needs build.open_clip_name (e.g. RN50, ViT-B-32)")
    net = CLIPZeroShot(name)
    visual = net.clip.visual
    if hasattr(visual, "attnpool"):
        taps = _resnet_taps(bool(spec.build.get("attnpool_l2_normalised", False)))
    else:
        taps = _vit_taps(visual)
    taps["logits"] = Tap("head")
    return StageNetwork(net=net, taps=taps)


def convert(state: dict[str, Any]) -> dict[str, Tensor]:
    """open_clip / OpenAI CLIP state dict → `CLIPZeroShot` keys (`clip.` prefix; non-tensor entries dropped)."""
    return {(k if k.startswith("clip.") else f"clip.{k}"): v for k, v in state.items() if isinstance(v, Tensor)}
