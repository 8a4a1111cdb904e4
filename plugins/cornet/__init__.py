"""CORnet-S (Kubilius et al. 2019), written from the block description in SI Modeling Note 2.

Checkpoints are the CORnet release's DataParallel state dicts (`module.V1.conv1.weight`, …)."""
from metazoo_core.family import Family, lazy, registers

FAMILY = Family("cornet", __doc__, lazy(f"{__name__}.model:build", "spec"),
                lazy("metazoo_core.converters:strip_module", "state_dict"), formats=("cornet",))
metazoo_register_families = registers(FAMILY)
