"""Registry, models, inputs, activations and predictions: the twins of `metazoo list`, `info`, `activations` and
`predict`. Functions accept a model id, a `ModelSpec` or a loaded `StagedModel` wherever a model is asked for."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from metazoo_core.plugins import get_spec as _get_spec

from ._notices import notice

def list_models(modality: str | None = None, family: str | None = None, query: str | None = None,
                group: str | None = None, available: bool = False) -> list[Any]:
    """Registered models as `ModelSpec`s (`.id`, `.family`, `.modality`, `.stage_names`, `.input.shape`), the twin
    of `metazoo list`. Never imports torch, never uses the network.

    modality: "vision" or "audio"; family: a plugin family, e.g. "torchvision"; query: a glob on ids, e.g.
    `"*resnet50*"`; group: e.g. "study"; available: only models that run offline here (weights cached or shipped in a
    package, or none needed). Returns the specs in registry order (73 models in all at 0.1.0); `.input.shape` is
    e.g. (3, 224, 224) for ImageNet images in [0, 1], or (40000,) samples = 2 s at 20 kHz for the audio models.
    """
    from metazoo_core.availability import availability
    from metazoo_core.plugins import registry

    specs = registry().query(modality=modality, family=family, pattern=query, group=group)
    return [s for s in specs if availability(s).runs] if available else specs


def get_spec(model: str) -> Any:
    """The `ModelSpec` of a model id, torch-free: input (`.input.shape`, e.g. [3, 224, 224] images in [0, 1] or
    [40000] samples at 20 kHz), normalisation, stages (`.stage_names`, shallow to deep), weights and provenance.
    Unknown ids raise `UnknownModelError` with the closest ids (the twin of `metazoo info`)."""
    return _get_spec(model)


def load_model(model: Any, pretrained: bool = True, weights: str | None = None, device: str = "cpu",
               stages: Sequence[str] | None = None) -> Any:
    """A ready `StagedModel` (frozen, eval mode, on `device`): `model(x, stages) -> {stage: tensor}` for a batch
    x of shape (B, *spec.input.shape) in the model's input range (images [0, 1], sounds waveforms at 20 kHz);
    `.logits(x)` (B, classes); `.spec`, `.input_range`. A loaded model is returned as it is.

    pretrained=False keeps the family's initialisation (random weights, seeded with 0; the CLI's `--random-weights`);
    weights: a checkpoint overriding the registry's; stages: the stages you will read (weights-free stages then
    need no checkpoint).
    """
    if hasattr(model, "net") and hasattr(model, "spec"):
        return model
    from metazoo_core.models import load_model as _load

    return _load(model, pretrained=pretrained, weights=weights, device=device,
                 stages=list(stages) if stages is not None else None)


def spec_of(model: Any) -> Any:
    """The `ModelSpec` of an id, a spec or a loaded model."""
    if isinstance(model, str):
        return _get_spec(model)
    return getattr(model, "spec", model)


def device_of(net: Any) -> str:
    """The device a loaded model's parameters are on ("cpu" for a parameter-free model)."""
    import torch

    return str(next(iter(net.net.parameters()), torch.empty(0)).device)


def load_input(source: Any, model: Any) -> Any:
    """One natural input prepared for `model` (id, spec or loaded model): a `LoadedImage` (`.tensor` (C, H, W) in
    the model's input range, centre-cropped and resized) or a `LoadedSound` (`.tensor` (samples,) at the model's
    rate, RMS 0.1 for the study's audio models), with `.name` and `.notices`. `source`: a file,
    `builtin:NAME` (bundled photos and spoken words) or a .npy/.safetensors tensor. Bad input raises `InputError`."""
    from metazoo_core.inputs import load_input as _load

    item = _load(source, spec_of(model))
    for line in item.notices:
        notice(line)
    return item


def load_inputs(sources: Any, model: Any) -> list[Any]:
    """Many inputs for `model`, as `load_input` returns them: `sources` is one source or a list (files, folders,
    `builtin` for the bundled set, `builtin:NAME`); each `.tensor` is (C, H, W) in the model's input range for
    images or (samples,) at the model's rate for sounds. Loaded items are passed through unchanged. Sources that cannot
    be used are skipped with a warning each; none usable raises `InputError`."""
    from metazoo_core.errors import InputError
    from metazoo_core.inputs import load_many

    if isinstance(sources, (str, Path)) or hasattr(sources, "tensor"):
        sources = [sources]
    loaded = [s for s in sources if hasattr(s, "tensor")]
    named = [str(s) for s in sources if not hasattr(s, "tensor")]
    items, problems = load_many(named, spec_of(model)) if named else ([], [])
    for line in problems + [n for item in items for n in item.notices]:
        notice(line)
    if not loaded + items:
        raise InputError("no usable inputs; give image/sound files, folders, builtin or builtin:NAME")
    return loaded + items


def activations(model: Any, inputs: Any, stages: Sequence[str]) -> dict[str, Any]:
    """Stage activations of `inputs` (as `load_inputs` accepts): {stage: float32 tensor (N, *stage shape)} on the
    CPU, N inputs in the order given (the twin of `metazoo activations`, which saves one .npy per input and
    stage). `stages` may hold "all"."""
    import torch

    net = load_model(model, stages=None if "all" in stages else stages)
    wanted = net.spec.check_stages(net.spec.expand_stages(list(stages)))
    x = torch.stack([item.tensor for item in load_inputs(inputs, net)]).to(device_of(net))
    with torch.no_grad():
        acts = net(x, wanted)
    return {s: acts[s].cpu() for s in wanted}


def predict(model: Any, inputs: Any, top: int = 5) -> list[dict[str, Any]]:
    """Top-`top` classes per input (the twin of `metazoo predict`): one dict per input, {"input": name,
    "category16": the study's 16-way category for ImageNet classifiers (else None), "random_weights": bool,
    "top": [{"index", "label", "p"}, …]} with softmax probabilities p in [0, 1] (4 decimals). Notices are
    warnings."""
    from metazoo_core.predict import predict as _predict

    net = load_model(model)
    rows, notices = _predict(net, load_inputs(inputs, net), top=top, device=device_of(net))
    for line in notices:
        notice(line)
    return rows


def add_plugin(plugin: Any, name: str | None = None) -> list[str]:
    """Register a model-family plugin for this session (a module or object with hook implementations, as in
    docs/plugin-guide.md; no package or entry point needed) and return the ids of the models it added, e.g. a
    toy CNN whose spec declares `input.shape` (3, 32, 32) images in [0, 1]. A broken plugin raises
    `MetazooError` with its one-line reason; the other families keep working."""
    from metazoo_core.errors import MetazooError
    from metazoo_core.plugins import add_session_plugin, registry

    before = set(registry().ids())
    info = add_session_plugin(name or getattr(plugin, "__name__", type(plugin).__name__), plugin)
    if info.error:
        raise MetazooError(f"plugin {info.name}: {info.error}")
    return sorted(set(registry().ids()) - before)
