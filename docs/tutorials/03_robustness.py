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
# # 3. Robustness curves and an adversarial example
#
# Accuracy against the size ε of an untargeted white-box PGD attack (the study: 64 steps of ε/4, no random start,
# best iterate; mean ± SEM over 5 random subsets of 1024 images). Here: the 8 bundled photos, labelled by the
# model's own clean decision, 2 subsets of 4, and 4 steps, so the page executes in seconds — the curve's shape,
# not its numbers, is the point.

# %%
import metazoo as mz

model = mz.load_model("efficientnet_lite0")
curve = mz.robustness(model, eps=[0, 0.25 / 255, 1 / 255, 4 / 255], norm="linf", inputs="builtin", subsets=2, n=4,
                      steps=4)
curve

# %% [markdown]
# `curve.curve` holds (ε, mean, SEM) with accuracies as fractions; `curve.record` is the JSON record
# `metazoo robustness` writes.

# %%
curve.curve

# %% [markdown]
# ## One adversarial example
# An L∞ perturbation of 1/255 per pixel (invisible) changes the model's decision; the last column shows the
# perturbation, amplified to the full range.

# %%
mz.adversarial(model, "builtin:chelsea", eps=1 / 255, steps=8)
