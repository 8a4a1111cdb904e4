"""Human experiments: the study's published human data (`study`), the study's ANOVAs on arrays (`anova`), the
experiment server and its storage, and collecting responses back into a run."""
