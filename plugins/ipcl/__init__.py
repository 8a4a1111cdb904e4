"""IPCL AlexNetGN (Konkle & Alvarez 2022) and its category-supervised twin, in the study's layout.

The IPCL readout is the study's linear layer on fc7, a second file (`build.readout_weights`) merged in by the
converter."""
from metazoo_core.family import Family, lazy, registers

FAMILY = Family("ipcl", __doc__, lazy(f"{__name__}.model:build", "spec"),
                lazy(f"{__name__}.model:convert", "spec", "state_dict"), formats=("ipcl",))
metazoo_register_families = registers(FAMILY)
