"""Models resolved from upstream libraries by id (`timm:NAME`, `torchvision:NAME@WEIGHTS`,
`open_clip:MODEL/TAG`): built by metazoo_core.anymodel from the library's own constructors, stages discovered as
module taps."""
from metazoo_core.family import Family, lazy, registers

FAMILY = Family("anymodel", __doc__, lazy("metazoo_core.anymodel.build:build", "spec"),
                lazy("metazoo_core.anymodel.build:convert", "spec", "state_dict"))
metazoo_register_families = registers(FAMILY)
