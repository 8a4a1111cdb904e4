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
# # 5. Bring your own model
#
# A model family is a plugin: a `Family` record (how to build the network) and specs (input, normalisation,
# stages). docs/plugin-guide.md packages one as an installable plugin; in a notebook, `mz.add_plugin` registers it
# for the session, so any `nn.Module` can be wrapped in one cell. Stages are named by **taps** on submodules.
#
# This toy network has random weights (its spec declares none), so its metamers show the mechanics, not a finding.

# %%
from types import SimpleNamespace

import torch
from torch import nn

import metazoo as mz
from metazoo_core.family import Family, registers
from metazoo_core.hookspecs import hookimpl
from metazoo_core.stages import StageNetwork, Tap


def build(spec, options):
    """The network: a two-layer CNN on 32×32 RGB images, its stages tapped by submodule name."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
                        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
                        nn.Flatten(), nn.Linear(16 * 8 * 8, 10))
    taps = {"relu0": Tap("1", point="input", relu=True), "relu1": Tap("3", point="input", relu=True),
            "final": Tap("5")}
    return StageNetwork(net=net, taps=taps)


SPEC = {
    "id": "notebook_cnn", "family": "notebook", "modality": "vision", "group": "third_party",
    "description": "Two-layer CNN on 32×32 RGB images (tutorial 5)",
    "input": {"shape": [3, 32, 32], "range": [0, 1], "colour": "rgb"},
    "normalization": {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
    "stages": [{"name": "relu0", "shape": [8, 16, 16], "relu": True},
               {"name": "relu1", "shape": [16, 8, 8], "relu": True},
               {"name": "final", "shape": [10]}],
    "classifier": "none",
}


@hookimpl
def metazoo_register_specs(register):
    register(SPEC)


plugin = SimpleNamespace(metazoo_register_families=registers(Family("notebook", "A CNN defined in a notebook",
                                                                    build=build)),
                         metazoo_register_specs=metazoo_register_specs)
mz.add_plugin(plugin, name="notebook")

# %% [markdown]
# The model is now a registry entry like any other: listed, loaded by id, with its stages and shapes.

# %%
[(s.id, s.family, s.stage_names) for s in mz.list_models(family="notebook")]

# %%
model = mz.load_model("notebook_cnn")
{stage: tuple(a.shape) for stage, a in mz.activations(model, "builtin:chelsea", ["relu0", "relu1"]).items()}

# %% [markdown]
# Metamers and a null work unchanged (photos are centre-cropped and resized to the spec's 32×32).

# %%
null = mz.build_null(model, "builtin", pairs=20)
mz.generate(model, ["builtin:chelsea", "builtin:rocket"], stages=["relu0", "final"], iterations=25, blocks=4,
            null=null)
