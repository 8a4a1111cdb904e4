"""Stage maps shared by several families (a plugin never reaches into another plugin; shared maps live here)."""
from __future__ import annotations

from torch import nn

from .stages import Tap


def _last_relu(block: nn.Module) -> tuple[str, str]:
    """(attribute of the block's final ReLU, call) for torchvision-style (`relu`, used 3×) or timm-style (`act3`)."""
    if hasattr(block, "act3"):
        return "act3", "first"
    if hasattr(block, "act2") and not hasattr(block, "conv3"):
        return "act2", "first"  # timm BasicBlock
    return "relu", "last"


def resnet_taps(net: nn.Module, avgpool_shape: tuple[int, ...] | None = None) -> dict[str, Tap]:
    """Taps for the study's ResNet stages on a torchvision or timm ResNet/ResNeXt (facts §3).

    conv1_relu1: fake-ReLU of bn1's output; layerN: fake-ReLU replacing only the final ReLU of the layer's last
    block; avgpool: the pooled features, reshaped to `avgpool_shape` per example (the study's (2048, 1, 1));
    final: the classifier output.
    """
    stem_relu = "relu" if hasattr(net, "relu") else "act1"
    taps = {"conv1_relu1": Tap(stem_relu, point="input", relu=True, call="first")}
    for i in range(1, 5):
        layer = getattr(net, f"layer{i}")
        last = len(layer) - 1
        attr, call = _last_relu(layer[last])
        taps[f"layer{i}"] = Tap(f"layer{i}.{last}.{attr}", point="input", relu=True, call=call, done=f"layer{i}")
    pool = "avgpool" if hasattr(net, "avgpool") else "global_pool"
    shape = avgpool_shape
    taps["avgpool"] = Tap(pool, transform=(lambda t: t.reshape(t.shape[0], *shape)) if shape else None)
    taps["final"] = Tap("fc")
    return taps
