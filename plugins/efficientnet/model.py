"""EfficientNet-Lite networks and the lukemelas → timm checkpoint converter.

Stages (per example, lite0 at 224 px): stem 32×112×112, blocks_0 16×112², blocks_1 24×56², blocks_2 40×28²,
blocks_3 80×14², blocks_4 112×14², blocks_5 192×7², blocks_6 320×7², head 1280×7², avgpool 1280, final 1000.
Activations are ReLU6 (no fake-ReLU stages).
"""
from __future__ import annotations

import re

import timm
from torch import Tensor

from metazoo_core.registry import ModelSpec
from metazoo_core.stages import StageNetwork, Tap

_ARCH = {"efficientnet_lite0": "tf_efficientnet_lite0", "efficientnet_lite1": "tf_efficientnet_lite1",
         "efficientnet_lite2": "tf_efficientnet_lite2"}


def build(spec: ModelSpec) -> StageNetwork:
    arch = spec.build.get("timm_arch", _ARCH.get(spec.id))
    net = timm.create_model(arch, pretrained=False)
    taps = {"stem": Tap("bn1"), "head": Tap("bn2"), "avgpool": Tap("global_pool"), "final": Tap("classifier")}
    taps.update({f"blocks_{i}": Tap(f"blocks.{i}") for i in range(len(net.blocks))})
    return StageNetwork(net=net, taps=taps)


_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
_FIRST_STAGE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_OTHER_STAGES = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
                 "_project_conv": "conv_pwl", "_bn2": "bn3"}
def convert_lukemelas(state: dict[str, Tensor], blocks_per_stage: list[int]) -> dict[str, Tensor]:
    """lukemelas EfficientNet-PyTorch keys (`_blocks.k._expand_conv…`) → timm keys (`blocks.s.i.conv_pw…`).

    Block k of `_blocks` is the k-th block of timm's stages flattened in order; stage 0 blocks are
    depthwise-separable, the others inverted-residual. Keys already in timm layout pass through.
    """
    if not any(k.startswith("_") for k in state):
        return state
    flat = [(s, i) for s, n in enumerate(blocks_per_stage) for i in range(n)]
    out = {}
    for key, value in state.items():
        m = re.match(r"_blocks\.(\d+)\.(\w+)\.(.+)", key)
        if m:
            stage, index = flat[int(m.group(1))]
            table = _FIRST_STAGE if stage == 0 else _OTHER_STAGES
            out[f"blocks.{stage}.{index}.{table[m.group(2)]}.{m.group(3)}"] = value
        else:
            head, _, rest = key.partition(".")
            out[f"{_TOP[head]}.{rest}"] = value
    return out


def convert(spec: ModelSpec, state: dict[str, Tensor], network: StageNetwork) -> dict[str, Tensor]:
    """The family's converter (uniform signature): lukemelas keys with the built network's blocks per stage."""
    return convert_lukemelas(state, [len(stage) for stage in network.net.blocks])
