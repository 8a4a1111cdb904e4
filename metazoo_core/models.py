"""Build registered models: spec → its `Family` (looked up by name) → weights → `StagedModel`."""
from __future__ import annotations

from typing import Any

from .errors import MetazooError, RegistryError, WeightsError
from .plugins import PluginHost, host
from .registry import ModelSpec


def _host(plugin_host: PluginHost | None) -> PluginHost:
    return plugin_host or host()


def build_network(spec: ModelSpec, device: str = "cpu", plugin_host: PluginHost | None = None,
                  options: dict[str, Any] | None = None):
    """The family's `StageNetwork` for `spec` (random or constructed weights), built on `device` ("meta" ok)."""
    import torch

    family = _host(plugin_host).family(spec)
    opts = {"device": device, **(options or {})}
    with torch.device(device):
        network = family.build_network(spec, opts)
    if network is None:
        raise MetazooError(f"family '{spec.family}' built nothing for model '{spec.id}'; its build must return "
                           "a StageNetwork")
    return network


def _readout_keys(spec: ModelSpec, network) -> set[str]:
    """The network's parameter/buffer names under the modules of the stages reached by the separate readout."""
    prefixes = tuple(network.taps[s.name].module + "." for s in spec.stages if s.needs_readout)
    return {k for k in network.net.state_dict() if prefixes and k.startswith(prefixes)}


def load_weights(spec: ModelSpec, network, override: str | None = None,
                 plugin_host: PluginHost | None = None,
                 without_readout: bool = False) -> tuple[str, str, str | None]:
    """Load the checkpoint into `network.net` strictly; returns (sha256 of the file, source, notice or None).

    Non-finite weights are refused; tensors cast from integers or a lower precision give the notice.

    without_readout: leave out the entry's separate readout checkpoint (`build.readout_weights`); only the
        readout stages' own keys may then be missing (they keep the family's initialisation).
    """
    from . import weights

    path, ref = weights.resolve(spec, override)
    state = weights.load_state_dict(path)
    tolerated: set[str] = set()
    if without_readout:
        spec = spec.model_copy(update={"build": {k: v for k, v in spec.build.items() if k != "readout_weights"}})
        tolerated = _readout_keys(spec, network)
    if ref.origin != "mirror":  # a metazoo export already holds the network's own keys
        state = _host(plugin_host).family(spec).convert_state(spec, state, network)
    expected = network.net.state_dict()
    weights.check_shapes(state, expected, spec.id, path)
    cast_notice = weights.check_values(state, expected, spec.id, path)
    result = network.net.load_state_dict(state, strict=False)
    result.missing_keys[:] = [k for k in result.missing_keys if k not in tolerated]
    if result.missing_keys or result.unexpected_keys:
        raise WeightsError(
            f"weights {path} do not fit '{spec.id}': {len(result.missing_keys)} missing keys "
            f"(e.g. {result.missing_keys[:3]}), {len(result.unexpected_keys)} unexpected "
            f"(e.g. {result.unexpected_keys[:3]}); is this the right checkpoint?"
        )
    return weights.sha256_file(path), ref.source, cast_notice


def declares_weights(spec: ModelSpec) -> bool:
    """Whether the registry names a checkpoint for `spec` (a source, an archive member or a manual download)."""
    w = spec.weights
    return bool(w.source or w.archive or w.manual or w.fallbacks)


def random_without_checkpoint(spec: ModelSpec) -> bool:
    """Whether `spec` names no checkpoint although learned weights reach some of its stages (`needs_weights`): it
    then runs with its family's random initialisation and is flagged RANDOM everywhere, as `--random-weights` is."""
    return not declares_weights(spec) and any(s.needs_weights for s in spec.stages)


_SHAPES_CHECKED: set[str] = set()
"""Specs (as JSON) whose declared stage shapes matched a meta-device forward in this process."""


def check_declared_shapes(spec: ModelSpec, plugin_host: PluginHost | None = None) -> None:
    """One line (RegistryError) naming the first stage whose declared `shape` differs from what the network gives,
    from a forward on the meta device (no memory, no weights). Built-in entries are checked by the contract test
    (tests/test_contract.py) and skipped here; other specs (a `METAZOO_REGISTRY` file, plugins, specs made in
    Python) are checked once per process, at their first load. A network whose forward the meta device cannot run
    is not checked here (its first real forward is)."""
    from .stages import StagedModel, stage_shapes

    h = _host(plugin_host)
    key = spec.model_dump_json()
    if key in _SHAPES_CHECKED or h.builtin_specs.get(spec.id) == spec:
        return
    try:
        real = stage_shapes(StagedModel(spec, build_network(spec, device="meta", plugin_host=plugin_host)).to("meta"))
    except (NotImplementedError, RuntimeError):
        return
    for stage in spec.stages:
        if tuple(stage.shape) != real.get(stage.name, tuple(stage.shape)):
            shown = "×".join(map(str, real[stage.name]))
            raise RegistryError(f"model '{spec.id}': stage '{stage.name}' is declared "
                                f"{'×'.join(map(str, stage.shape))} but its network gives {shown} (checked on the "
                                f"meta device at first load); set `shape: {list(real[stage.name])}` in its entry")
    _SHAPES_CHECKED.add(key)


def weights_free_notice(spec: ModelSpec, stages: list[str] | None, weights: str | None = None) -> str | None:
    """The notice for running without the checkpoint when only weights-free stages are asked for, else None.

    A stage is weights-free when no learned parameter reaches it (`StageSpec.needs_weights` false: fixed
    front ends such as the cochleagram, HMAX S1/C1, the Spectemp filter bank); its output is the same with or
    without the checkpoint, so the checkpoint is not needed. An explicit `weights` file is always loaded.
    """
    if weights or not stages or not declares_weights(spec) or not spec.weights_free(stages):
        return None
    return (f"stage(s) {', '.join(stages)} of '{spec.id}' use no learned weights; "
            "running without its checkpoint (the results equal those with it)")


def load_model(model: str | ModelSpec, pretrained: bool = True, weights: str | None = None,
               device: str = "cpu", fake_relu: bool = True, plugin_host: PluginHost | None = None,
               stages: list[str] | None = None):
    """A ready `StagedModel`: frozen, eval mode, on `device`.

    pretrained: load the registry's (or the overriding `weights`) checkpoint; False keeps the family's
        initialisation (random weights for learned networks, constructed filters for hand-built ones), drawn
        from torch's generator seeded with 0, so every process gets the same network (the caller's RNG state
        is left untouched).
    stages: the stages the caller will read; when all of them are weights-free (see `weights_free_notice`)
        the checkpoint is not loaded, and when none of them is reached by the entry's separate readout
        (`StageSpec.needs_readout`, e.g. IPCL's fc7 readout) only the main checkpoint is;
        `StagedModel.weights_notice` says so.
    """
    from .stages import StagedModel

    import torch

    spec = _host(plugin_host).registry.get(model) if isinstance(model, str) else model
    if device != "meta":
        check_declared_shapes(spec, plugin_host)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # random/constructed weights are the same in every process
        network = build_network(spec, device="meta" if device == "meta" else "cpu", plugin_host=plugin_host)
    sha = source = None
    notice = weights_free_notice(spec, stages, weights) if pretrained else None
    if pretrained and notice is None and device != "meta" and (weights or declares_weights(spec)):
        without_readout = bool(stages) and spec.readout_free(stages)
        sha, source, notice = load_weights(spec, network, weights, plugin_host, without_readout=without_readout)
        if without_readout:
            notice = "; ".join(filter(None, [notice, f"stage(s) {', '.join(stages)} of '{spec.id}' do not use its "
                                                     "separate readout; loaded the main checkpoint only"]))
    staged = StagedModel(spec, network, fake_relu=fake_relu)
    staged.weights_sha256, staged.weights_source, staged.weights_notice = sha, source, notice
    staged.random_weights = weights is None and (not pretrained and declares_weights(spec)
                                                 or random_without_checkpoint(spec))
    return staged if device == "cpu" else staged.to(device)
