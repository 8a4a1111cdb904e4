"""Shared auditory front end: the study's ERB filter bank and differentiable cochleagram, the waveform →
cochleagram → backbone wrapper every audio family uses, and cochleagram pictures. Submodules import torch;
this package itself does not."""
