"""Any model in one line: ids `SOURCE:NAME[@REV]` resolved into a registry `ModelSpec` from upstream metadata.

Sources: `timm:` (timm.create_model + pretrained_cfg + feature_info), `torchvision:` (get_model + the weights
enum's transforms and meta) and `open_clip:` (the visual tower of open_clip.create_model). A resolved spec is an
ordinary spec of family `anymodel` whose stages are module taps, so truncation, fake-ReLU and stage hooks work
unchanged; it is cached as JSON (`cache`), so listing and `info` on a resolved id import no torch.
`contract.contract` is the contract a resolved model must pass.
"""
from .ids import SOURCES, ModelId, is_resolved_id, parse_id
from .resolver import resolve

__all__ = ["SOURCES", "ModelId", "is_resolved_id", "parse_id", "resolve"]
