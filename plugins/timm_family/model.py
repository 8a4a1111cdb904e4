"""timm networks with the study's stage names (SI Modeling Note 2).

- ResNet50 / ResNeXt101-32x8d (timm layout): conv1_relu1 64×112², layer1 256×56², layer2 512×28²,
  layer3 1024×14², layer4 2048×7² (fake-ReLU), avgpool 2048×1×1 (timm's global pool, reshaped), final 1000.
- ViT-L/16: patch_embed 196×1024 (patch tokens), pos_embedding 197×1024 (class token concatenated, position
  embedding added), block_0 … block_22 197×1024, blocks_end 197×1024 (block 23, before the final LayerNorm),
  final 1000 (head on the LayerNorm-ed class token).
"""
from __future__ import annotations

import timm
from torch import nn

from metazoo_core.registry import ModelSpec
from metazoo_core.stagemaps import resnet_taps
from metazoo_core.stages import StageNetwork, Tap


def vit_taps(net: nn.Module) -> dict[str, Tap]:
    """Stage taps for a timm VisionTransformer with a class token (block_i for all but the last block)."""
    last = len(net.blocks) - 1
    taps = {"patch_embed": Tap("patch_embed"), "pos_embedding": Tap("pos_drop")}
    taps.update({f"block_{i}": Tap(f"blocks.{i}") for i in range(last)})
    taps.update({"blocks_end": Tap(f"blocks.{last}"), "final": Tap("head")})
    return taps


def build(spec: ModelSpec) -> StageNetwork:
    arch = spec.build.get("timm_arch", spec.id)
    net = timm.create_model(arch, pretrained=False, num_classes=spec.stages[-1].shape[0])
    if hasattr(net, "blocks") and hasattr(net, "cls_token"):
        return StageNetwork(net=net, taps=vit_taps(net))
    return StageNetwork(net=net, taps=resnet_taps(net, avgpool_shape=(net.num_features, 1, 1)))
