"""What every audio family shares: waveform → cochleagram → backbone, and the study's checkpoint layout.

`CochleagramNet(backbone)` maps a waveform batch (B, 40000) to the backbone's output; its first module is the
study's cochleagram (B, 1, 211, 390). Its `parts()` are the perturbation points robustness needs: "front"
(waveform → cochleagram) and "back" (cochleagram → logits).

Checkpoints (facts §4, §9): robustness-library dicts whose state (key 'model', else 'state_dict') has keys
`module.model.0.full_rep.rep.…` (cochleagram buffers), `module.model.1.<backbone>` (the network),
`module.attacker.model.…` (a duplicate) and `…preproc.normalize.…` (mean 0 / std 1 buffers).
"""
from __future__ import annotations

from torch import Tensor, nn

from .cochleagram import Cochleagram

BACKBONE_PREFIX = "model.1."


class CochleagramNet(nn.Module):
    """waveform (B, 40000) in [−1, 1] → backbone(cochleagram) (B, n_classes)."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.cochleagram = Cochleagram()
        self.backbone = backbone

    def forward(self, x: Tensor) -> Tensor:
        return self.backbone(self.cochleagram(x))

    def parts(self) -> dict[str, nn.Module]:
        return {"front": self.cochleagram, "back": self.backbone}


def convert_robustness_audio(state: dict[str, Tensor], prefix: str = "backbone.") -> dict[str, Tensor]:
    """The study's audio checkpoint keys → `CochleagramNet` keys.

    Keeps `[module.]model.1.*` as `backbone.*` (already-converted `backbone.*` keys pass through); drops the
    cochleagram buffers (constructed here, never loaded), the attacker's duplicate and the normalisation buffers;
    keys outside those parts raise WeightsError. The study loaded its cochleagram-trained models with
    `strict=False` without saying why; differing front-end buffers are the likely reason (unverified), and
    those are dropped here for every model, so the backbone always loads strictly.
    """
    from ..converters import check_attacker_parts

    flat = {key.removeprefix("module."): value for key, value in state.items()}
    if any(k.startswith(BACKBONE_PREFIX) for k in flat):
        check_attacker_parts(flat)
    out = {}
    for key, value in flat.items():
        if key.startswith(BACKBONE_PREFIX):
            out[prefix + key[len(BACKBONE_PREFIX):]] = value
        elif key.startswith(prefix):
            out[key] = value
    return out

