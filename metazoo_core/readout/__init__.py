"""Per-stage linear readouts (the study's Supplementary Modeling Note 1): a fully connected softmax layer on a
random subsample of 2048 activations of each stage, trained on a labelled image folder."""
from .config import ReadoutConfig
from .run import readout_stages
from .subsample import unit_indices

__all__ = ["ReadoutConfig", "readout_stages", "unit_indices"]
