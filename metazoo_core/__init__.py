"""metazoo core: the registry, plugin interfaces and the machinery every model family shares.

Importing this package is cheap (no torch): heavy modules (`stages`, `models`, `metamer`, ...) import torch
themselves when used.
"""
__version__ = "0.1.0"
