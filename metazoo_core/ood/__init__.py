"""Out-of-distribution evaluation: ImageNet-C style corruptions and the model-vs-human (Geirhos et al. 2021) data
sets with error consistency, as the study reports them (Methods, "Out of distribution evaluation – visual models")."""
