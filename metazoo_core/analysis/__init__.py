"""Comparing invariances: reading metamer runs, cross-model recognition, the study's statistics, and plots.

Modules: `runs` (read a run folder written by the metamer engine), `recognition` (other models classify the saved
metamers, SI Fig. 3/4), `stats` (repeated-measures ANOVAs and the permutation test, SI Tables 1/2), `plots`
(matplotlib figures). Importing this package does not import torch.
"""
