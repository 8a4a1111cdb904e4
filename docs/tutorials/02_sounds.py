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
# # 2. Sounds: a word, its cochleagram, and metamers you can listen to
#
# The study's audio models hear 2 s of sound at 20 kHz through a simulated cochlea: a **cochleagram** of 211
# frequency channels × 390 time frames. metazoo bundles a few spoken words (`metazoo list-sounds`).

# %%
import metazoo as mz

word = mz.sound("builtin:family")
word

# %% [markdown]
# ## Metamers at three stages
#
# **About the weights.** The trained weights of the study's audio networks are not shipped on PyPI, so this page,
# which must run offline, uses **CochCNN9 with random weights** (`pretrained=False`, the CLI's `--random-weights`).
# Its `cochleagram` stage has no weights at all, so that metamer is the real thing; the metamers of `relu1` and
# `relu4` are those of an *untrained* network and say nothing about the study's trained model. With the weights
# cached (`metazoo fetch cochcnn9`), drop `pretrained=False`.
#
# The schedule is tiny (4 steps × 2 blocks; the study used 3000 × 8), and no null is given, so no verdict is
# computed. Listen to the originals and metamers with the players under each cochleagram.

# %%
model = mz.load_model("cochcnn9", pretrained=False)
run = mz.generate(model, "builtin:family", stages=["cochleagram", "relu1", "relu4"], iterations=4, blocks=2)
run

# %%
run.plot();
