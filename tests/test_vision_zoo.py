"""The vision zoo (issue 4): stage tables, upstream equality, CORnet-S, IPCL, CLIP zero-shot head, info/fetch.

Shapes are checked on the meta device against numbers typed from the seed's Supplementary Modeling Note 2 (and
the facts file §3 where the seed has no table), independently of registry.yaml. Upstream equality loads the
same random weights into metazoo's wrapper and into the upstream library's own network.
"""
from __future__ import annotations

import hashlib
import io
import math

import pytest
import torch
import torch.nn.functional as F

from metazoo_core.models import load_model
from metazoo_core.plugins import host, registry
from metazoo_core.stages import stage_shapes

FAMILIES = ("torchvision", "cornet", "clip", "timm", "ipcl", "robust")
IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
CLIP_MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
CLIP_STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)

# Supplementary Modeling Note 2: stage → (output shape, number of features), as printed in the seed.
_RESNET = {"conv1_relu1": ((64, 112, 112), 802816), "layer1": ((256, 56, 56), 802816),
           "layer2": ((512, 28, 28), 401408), "layer3": ((1024, 14, 14), 200704),
           "layer4": ((2048, 7, 7), 100352), "avgpool": ((2048, 1, 1), 2048), "final": ((1000,), 1000)}
SEED = {
    "alexnet": {"relu0": ((64, 55, 55), 193600), "relu1": ((192, 27, 27), 139968), "relu2": ((384, 13, 13), 64896),
                "relu3": ((256, 13, 13), 43264), "relu4": ((256, 13, 13), 43264), "fc0_relu": ((4096,), 4096),
                "fc1_relu": ((4096,), 4096), "final": ((1000,), 1000)},
    "vgg19": {"conv_relu_0_1": ((64, 224, 224), 3211264), "conv_relu_1_1": ((128, 112, 112), 1605632),
              "conv_relu_2_3": ((256, 56, 56), 802816), "conv_relu_3_3": ((512, 28, 28), 401408),
              "conv_relu_4_3": ((512, 14, 14), 100352), "avgpool": ((512, 7, 7), 25088),
              "fc_relu_0": ((4096,), 4096), "fc_relu_1": ((4096,), 4096), "final": ((1000,), 1000)},
    "resnet": _RESNET,
    "cornet_s": {"V1": ((64, 56, 56), 200704), "V2": ((128, 28, 28), 100352), "V4": ((256, 14, 14), 50176),
                 "IT": ((512, 7, 7), 25088), "final": ((1000,), 1000)},
    "clip_resnet50": {"stem": ((64, 56, 56), 200704),
                      **{k: _RESNET[k] for k in ("layer1", "layer2", "layer3", "layer4")},
                      "attnpool": ((1024,), 1024)},
    "clip_vit_b32": {"conv1": ((768, 7, 7), 37632), "class_embedding": ((50, 768), 38400),
                     "ln_pre": ((50, 768), 38400), "block_0": ((50, 768), 38400), "block_3": ((50, 768), 38400),
                     "block_6": ((50, 768), 38400), "block_9": ((50, 768), 38400),
                     "blocks_end": ((50, 768), 38400), "linear_end": ((512,), 512)},
    "vit_large": {"patch_embed": ((196, 1024), 200704), "pos_embedding": ((197, 1024), 201728),
                  **{f"block_{i}": ((197, 1024), 201728) for i in range(23)},
                  "blocks_end": ((197, 1024), 201728), "final": ((1000,), 1000)},
    # facts §3 (no seed table): IPCL AlexNetGN; robust models are used at `final` only.
    "ipcl": {"conv_block_1": ((96, 55, 55), 290400), "conv_block_2": ((256, 27, 27), 186624),
             "conv_block_3": ((384, 13, 13), 64896), "conv_block_4": ((384, 13, 13), 64896),
             "conv_block_5": ((256, 13, 13), 43264), "avgpool": ((256, 6, 6), 9216), "fc6": ((4096,), 4096),
             "fc7": ((4096,), 4096), "final": ((1000,), 1000)},
    "final_only": {"final": ((1000,), 1000)},
}


def _table(spec) -> str:
    if spec.family == "robust":
        return "final_only"
    if spec.family in ("cornet", "ipcl") or spec.id in ("clip_resnet50", "clip_vit_b32", "vgg19"):
        return {"cornet": "cornet_s", "ipcl": "ipcl"}.get(spec.family, spec.id)
    if spec.id.startswith("vit_large"):
        return "vit_large"
    if spec.id.startswith("alexnet"):
        return "alexnet"
    return "resnet"


VISION = [s.id for s in registry().query(modality="vision") if s.family in FAMILIES]


def test_zoo_is_complete():
    """Every deep-network vision model of the study (but HMAX, VOne-, Lowpass-AlexNet) is here: 27 + 22 robust."""
    assert len([m for m in VISION if registry().get(m).family != "robust"]) == 27
    assert len(registry().query(group="robust_final_stage")) == 25
    assert len(registry().query(family="robust")) == 22


@pytest.mark.parametrize("model_id", VISION)
def test_meta_build(model_id):
    """On the meta device (no memory): stage names, shapes and feature counts as the seed's table; registry
    `relu: true` ⇔ the stage is a (fake-)ReLU of a recorded pre-activation; the family converter accepts the
    entry's checkpoint format and passes the network's own keys through unchanged."""
    spec = registry().get(model_id)
    model = load_model(model_id, pretrained=False, device="meta")
    assert all(p.is_meta for p in model.net.parameters()), "meta build allocated real parameters"
    seed = SEED[_table(spec)]
    assert spec.stage_names == list(seed)
    assert {s.name: s.n_features for s in spec.stages} == {k: n for k, (_, n) in seed.items()}
    assert stage_shapes(model) == {k: shape for k, (shape, _) in seed.items()}
    assert all(math.prod(shape) == n for shape, n in seed.values())

    assert {s.name for s in spec.stages if s.relu} == {k for k, t in model.taps.items() if t.relu}
    assert all(model.taps[s.name].point == "input" for s in spec.stages if s.relu)

    state = model.net.state_dict()
    out = host().family(spec).convert_state(spec, state, model)
    assert set(out) == set(state)


# SI Table 3 (ImageNet1K top-1, top-5) as printed in the seed.
SI_TABLE3 = {
    "alexnet": (56.518, 79.070), "alexnet_l2_eps3": (41.882, 65.018), "alexnet_random_l2_eps3": (57.978, 79.986),
    "alexnet_linf_eps8": (29.702, 51.034), "alexnet_random_linf_eps8": (57.738, 79.996),
    "resnet50": (76.130, 92.862), "resnet50_l2_eps3": (57.900, 80.706), "resnet50_random_l2_eps3": (76.600, 93.136),
    "resnet50_linf_eps4": (62.424, 84.060), "resnet50_linf_eps8": (47.906, 72.484),
    "resnet50_random_linf_eps8": (73.062, 91.366), "resnet101": (77.374, 93.546), "vgg19": (72.376, 90.876),
    "cornet_s": (73.020, 91.116), "resnet50_byol": (68.706, 88.090), "resnet50_moco_v2": (67.832, 88.322),
    "resnet50_simclr": (59.204, 81.304), "alexnet_early_checkpoint": (52.536, 76.446),
    "clip_resnet50": (59.822, 86.568), "clip_vit_b32": (63.360, 88.820), "swsl_resnet50": (81.180, 95.986),
    "swsl_resnext101_32x8d": (84.294, 97.174), "vit_large_patch16_224": (84.374, 97.232),
    "alexnetgn_ipcl": (40.288, 63.622), "alexnetgn_ipcl_supervised": (60.988, 82.786),
    "alexnet_stylized": (40.012, 64.178), "resnet50_stylized": (60.184, 82.616),
}


def test_provenance_and_weights_source():
    """Every entry names its weights source and layout; study models carry their SI Table 3 row and accuracy."""
    for model_id in VISION:
        spec = registry().get(model_id)
        w = spec.weights
        assert (w.source or w.archive or w.manual) and w.format, model_id
        assert spec.provenance.row and spec.provenance.table, model_id
        if spec.family != "robust":
            assert (spec.provenance.top1, spec.provenance.top5) == SI_TABLE3[model_id], model_id
    assert {m for m in VISION if registry().get(m).family != "robust"} == set(SI_TABLE3)


def test_normalisation_and_input_per_family():
    """facts §4: ImageNet mean/std everywhere (ViT-L included, not timm's 0.5/0.5) but CLIP's own constants.

    The dedeswim robust models differ (trained on raw pixels or with their own normaliser) and are checked in
    test_registry_sources.py.
    """
    for model_id in VISION:
        spec = registry().get(model_id)
        if model_id.endswith("_linf_eps4") and spec.build.get("timm_arch"):
            continue
        mean = CLIP_MEAN if spec.family == "clip" else IMAGENET_MEAN
        std = CLIP_STD if spec.family == "clip" else IMAGENET_STD
        assert torch.allclose(torch.tensor(spec.normalization.mean), mean.flatten()), model_id
        assert torch.allclose(torch.tensor(spec.normalization.std), std.flatten()), model_id
        assert spec.input.shape == [3, 224, 224] and tuple(spec.input.range) == (0.0, 1.0), model_id


# ---- upstream equality ---------------------------------------------------------------------------------------

def _image(seed: int = 0, batch: int = 2) -> torch.Tensor:
    return torch.rand(batch, 3, 224, 224, generator=torch.Generator().manual_seed(seed))


def _hook(module: torch.nn.Module, store: dict, name: str, pre: bool = False, first: bool = False):
    def post(m, args, out):
        if not (first and name in store):
            store[name] = out.detach().clone()

    def pre_hook(m, args):
        if not (first and name in store):
            store[name] = args[0].detach().clone()

    return module.register_forward_pre_hook(pre_hook) if pre else module.register_forward_hook(post)


def _same_weights(ours, upstream: torch.nn.Module) -> None:
    ours.net.load_state_dict(upstream.state_dict(), strict=True)


# stage → (upstream module whose output is the pre-activation, i.e. the conv/linear before the ReLU)
_ALEXNET_PRE = {"relu0": "features.0", "relu1": "features.3", "relu2": "features.6", "relu3": "features.8",
                "relu4": "features.10", "fc0_relu": "classifier.1", "fc1_relu": "classifier.4"}
_VGG19_PRE = {"conv_relu_0_1": "features.2", "conv_relu_1_1": "features.7", "conv_relu_2_3": "features.16",
              "conv_relu_3_3": "features.25", "conv_relu_4_3": "features.34", "fc_relu_0": "classifier.0",
              "fc_relu_1": "classifier.3"}


def _check_torchvision(model_id: str, arch: str, pre: dict[str, str], seed: int) -> None:
    import torchvision

    torch.manual_seed(seed)
    up = getattr(torchvision.models, arch)().eval()
    ours = load_model(model_id, pretrained=False)
    _same_weights(ours, up)
    x = _image(seed, batch=1)
    rec: dict = {}
    modules = dict(up.named_modules())
    for stage, path in pre.items():
        _hook(modules[path], rec, stage)
    with torch.no_grad():
        ref = up((x - IMAGENET_MEAN) / IMAGENET_STD)
        got = ours(x)
    torch.testing.assert_close(ours.logits(x), ref, rtol=0, atol=1e-5)
    torch.testing.assert_close(got["final"], ref, rtol=0, atol=1e-5)
    for stage in pre:
        torch.testing.assert_close(got[stage], torch.relu(rec[stage]), rtol=0, atol=1e-5)


def test_torchvision_alexnet_equals_upstream():
    """Logits equal torchvision's forward; every relu stage equals ReLU of a hook on the layer before it."""
    _check_torchvision("alexnet", "alexnet", _ALEXNET_PRE, seed=0)


@pytest.mark.slow
def test_torchvision_vgg19_equals_upstream():
    _check_torchvision("vgg19", "vgg19", _VGG19_PRE, seed=10)


def test_torchvision_resnet50_equals_upstream():
    import torchvision

    torch.manual_seed(1)
    up = torchvision.models.resnet50().eval()
    ours = load_model("resnet50", pretrained=False)
    _same_weights(ours, up)
    x = _image(1, batch=1)
    rec: dict = {}
    _hook(up.bn1, rec, "bn1")
    _hook(up.layer2, rec, "layer2")
    _hook(up.avgpool, rec, "avgpool")
    with torch.no_grad():
        ref = up((x - IMAGENET_MEAN) / IMAGENET_STD)
        got = ours(x, ["conv1_relu1", "layer2", "avgpool", "final"])
    torch.testing.assert_close(got["final"], ref, rtol=0, atol=1e-5)
    torch.testing.assert_close(got["conv1_relu1"], torch.relu(rec["bn1"]), rtol=0, atol=1e-6)
    torch.testing.assert_close(got["layer2"], rec["layer2"], rtol=0, atol=1e-6)
    torch.testing.assert_close(got["avgpool"], rec["avgpool"], rtol=0, atol=1e-6)


def test_timm_resnet_equals_upstream():
    """swsl_resnet50 is timm's resnet50: logits and a layer stage equal timm's own forward / a plain hook."""
    import timm

    torch.manual_seed(2)
    up = timm.create_model("resnet50", pretrained=False).eval()
    ours = load_model("swsl_resnet50", pretrained=False)
    _same_weights(ours, up)
    x = _image(2, batch=1)
    rec: dict = {}
    _hook(up.layer3, rec, "layer3")
    _hook(up.global_pool, rec, "pool")
    with torch.no_grad():
        ref = up((x - IMAGENET_MEAN) / IMAGENET_STD)
        got = ours(x, ["layer3", "avgpool", "final"])
    torch.testing.assert_close(got["final"], ref, rtol=0, atol=1e-5)
    torch.testing.assert_close(got["layer3"], rec["layer3"], rtol=0, atol=1e-6)
    torch.testing.assert_close(got["avgpool"], rec["pool"].reshape(1, 2048, 1, 1), rtol=0, atol=1e-6)


def test_timm_vit_taps_equal_upstream():
    """The ViT stage map (used for ViT-L/16) on the small timm ViT-Ti/16: tokens, position embedding, blocks."""
    import timm

    from metazoo_core.registry import ModelSpec
    from metazoo_core.stages import StagedModel, StageNetwork
    from metazoo_plugins.timm_family.model import vit_taps

    torch.manual_seed(3)
    up = timm.create_model("vit_tiny_patch16_224", pretrained=False).eval()
    taps = vit_taps(up)
    stages = [{"name": n, "shape": [1]} for n in taps]
    spec = ModelSpec.model_validate({"id": "vit_tiny", "family": "timm", "modality": "vision",
                                     "input": {"shape": [3, 224, 224], "range": [0, 1]},
                                     "normalization": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
                                     "stages": stages})
    ours = StagedModel(spec, StageNetwork(net=up, taps=taps))
    x = _image(3, batch=1)
    z = (x - IMAGENET_MEAN) / IMAGENET_STD
    with torch.no_grad():
        ref = up(z)
        patches = up.patch_embed(z)
        tokens = torch.cat([up.cls_token.expand(1, -1, -1), patches], dim=1) + up.pos_embed
        after = up.blocks[:5](tokens)
        got = ours(x, ["patch_embed", "pos_embedding", "block_4", "blocks_end", "final"])
    assert got["patch_embed"].shape == (1, 196, 192) and got["pos_embedding"].shape == (1, 197, 192)
    torch.testing.assert_close(got["patch_embed"], patches, rtol=0, atol=1e-6)
    torch.testing.assert_close(got["pos_embedding"], tokens, rtol=0, atol=1e-6)
    torch.testing.assert_close(got["block_4"], after, rtol=0, atol=1e-5)
    torch.testing.assert_close(got["final"], ref, rtol=0, atol=1e-5)
    assert "block_11" not in taps and "blocks_end" in taps  # the last block is blocks_end, as the seed


@pytest.fixture(scope="module")
def clip_pairs():
    """{model id: (open_clip's own model, metazoo's model)} with the same random weights, built once."""
    import open_clip

    pairs = {}
    for model_id in ("clip_resnet50", "clip_vit_b32"):
        torch.manual_seed(4)
        up = open_clip.create_model(registry().get(model_id).build["open_clip_name"], pretrained=None).eval()
        ours = load_model(model_id, pretrained=False)
        ours.net.clip.load_state_dict(up.state_dict(), strict=True)
        pairs[model_id] = (up, ours)
    return pairs


def test_clip_is_openai_quickgelu():
    """OpenAI's CLIP uses QuickGELU (x·σ(1.702x)) in both towers (seed's ViT-B/32 block; open_clip `-quickgelu`)."""
    from open_clip.transformer import QuickGELU

    for model_id in ("clip_resnet50", "clip_vit_b32"):
        net = load_model(model_id, pretrained=False, device="meta").net.clip
        towers = [net.transformer] + ([net.visual.transformer] if model_id == "clip_vit_b32" else [])
        for tower in towers:
            acts = [m for m in tower.modules() if "GELU" in type(m).__name__]
            assert acts and all(isinstance(m, QuickGELU) for m in acts), model_id


@pytest.mark.parametrize("model_id", ["clip_resnet50", "clip_vit_b32"])
def test_clip_embedding_equals_open_clip(model_id, clip_pairs):
    up, ours = clip_pairs[model_id]
    resnet = model_id == "clip_resnet50"
    x = _image(4, batch=1)
    z = (x - CLIP_MEAN) / CLIP_STD
    rec: dict = {}
    embed_stage = "attnpool" if resnet else "linear_end"
    if resnet:
        _hook(up.visual.layer3, rec, "layer3")
        _hook(up.visual.avgpool, rec, "stem")
        stages = ["stem", "layer3", embed_stage]
    else:
        _hook(up.visual.ln_pre, rec, "ln_pre_in", pre=True)
        _hook(up.visual.transformer.resblocks[6], rec, "block_6")
        stages = ["class_embedding", "block_6", embed_stage]
    with torch.no_grad():
        ref = up.encode_image(z)
        got = ours(x, stages)
    torch.testing.assert_close(got[embed_stage], ref, rtol=0, atol=1e-5)
    if resnet:
        torch.testing.assert_close(got["layer3"], rec["layer3"], rtol=0, atol=1e-5)
        torch.testing.assert_close(got["stem"], rec["stem"], rtol=0, atol=1e-6)
    else:
        # class_embedding is the token sequence before the positional embedding is added
        torch.testing.assert_close(got["class_embedding"] + up.visual.positional_embedding, rec["ln_pre_in"],
                                   rtol=0, atol=1e-5)
        torch.testing.assert_close(got["block_6"], rec["block_6"], rtol=0, atol=1e-5)


def test_clip_zero_shot_head_and_cache(tmp_path, monkeypatch, clip_pairs):
    """W from templates × class names equals an independent text-encoder computation; logits = 100·cos·; cached."""
    import open_clip
    from safetensors.torch import save_file

    from metazoo_plugins.clip import zeroshot

    monkeypatch.setenv("METAZOO_CACHE", str(tmp_path))
    _, ours = clip_pairs["clip_resnet50"]
    clip = ours.net.clip
    tokenizer = open_clip.get_tokenizer(ours.net.model_name)
    names, templates = ["goldfish", "tabby cat", "volcano"], [lambda c: f"a photo of a {c}.", lambda c: f"a {c}."]
    w = zeroshot.zeroshot_weights(clip, tokenizer, names, templates)
    with torch.no_grad():
        for i, c in enumerate(names):
            t = F.normalize(clip.encode_text(tokenizer([f"a photo of a {c}.", f"a {c}."])), dim=-1)
            torch.testing.assert_close(w[i], F.normalize(t.mean(0), dim=0), rtol=0, atol=1e-5)
        # the cut context (up to the longest prompt's end token) changes nothing: the text tower is causal
        tokens = tokenizer(["a bad photo of the tabby cat.", "art of the goldfish.", "a volcano"])
        torch.testing.assert_close(zeroshot.encode_prompts(clip, tokens), clip.encode_text(tokens),
                                   rtol=0, atol=2e-5)
    assert torch.allclose(w.norm(dim=1), torch.ones(3), atol=1e-6)

    # the full 1000-class W is read from the cache (keyed by the text tower) instead of being recomputed
    fp = zeroshot.text_fingerprint(clip)
    full = F.normalize(torch.randn(1000, 1024, generator=torch.Generator().manual_seed(0)), dim=1)
    path = zeroshot.cache_path(ours.net.model_name, fp)
    path.parent.mkdir(parents=True)
    save_file({"weight": full}, str(path))
    x = _image(5, batch=2)
    with torch.no_grad():
        emb = ours(x, ["attnpool"])["attnpool"]
        logits = ours.logits(x)
    torch.testing.assert_close(logits, 100.0 * F.normalize(emb, dim=-1) @ full.T, rtol=0, atol=1e-4)
    assert logits.shape == (2, 1000)
    bias = clip.transformer.resblocks[0].mlp.c_fc.bias
    with torch.no_grad():
        bias.add_(1.0)
        changed = zeroshot.text_fingerprint(clip)
        bias.sub_(1.0)
    assert changed != fp  # other text weights → another cache entry


def test_clip_attnpool_study_aliasing_option():
    """`build.attnpool_l2_normalised` reproduces the study's in-place-normalised attnpool (facts §3); default: seed."""
    from metazoo_plugins.clip.model import _resnet_taps

    emb = torch.randn(4, 1024, generator=torch.Generator().manual_seed(9)) * 3
    assert _resnet_taps(False)["attnpool"].transform is None
    unit = _resnet_taps(True)["attnpool"].transform(emb)
    torch.testing.assert_close(unit.norm(dim=-1), torch.ones(4))
    torch.testing.assert_close(unit * emb.norm(dim=-1, keepdim=True), emb)


# ---- CORnet-S and IPCL ---------------------------------------------------------------------------------------

def test_cornet_s_parameters_and_shapes():
    """53,416,616 parameters in 77 tensors (facts §14); convolutions shared over time, one BatchNorm per step."""
    model = load_model("cornet_s", pretrained=False)
    params = dict(model.net.named_parameters())
    assert sum(p.numel() for p in params.values()) == 53_416_616
    assert len(params) == 77
    assert {k for k in params if k.startswith("V4.norm1_")} == {f"V4.norm1_{t}.{w}" for t in range(4)
                                                                for w in ("weight", "bias")}
    assert sum(k.startswith("V4.conv2") for k in params) == 1
    with torch.no_grad():
        out = model(_image(6, batch=1))
    assert {k: tuple(v.shape[1:]) for k, v in out.items()} == {k: s for k, (s, _) in SEED["cornet_s"].items()}
    assert all((v >= 0).all() for k, v in out.items() if k != "final")


def test_cornet_s_recurrence_matches_block_description():
    """V2 = the seed's 12-step CORblock_S run by hand for t = 0, 1 (stride 2 then 1, per-step BatchNorm)."""
    model = load_model("cornet_s", pretrained=False)
    torch.manual_seed(7)
    for m in model.net.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    b = model.net.V2
    x = _image(7, batch=1)
    with torch.no_grad():
        v1 = model(x, ["V1"])["V1"]
        h = b.conv_input(v1)
        for t in range(2):
            skip = b.norm_skip(F.conv2d(h, b.skip.weight, stride=2)) if t == 0 else h
            y = torch.relu(getattr(b, f"norm1_{t}")(F.conv2d(h, b.conv1.weight)))
            y = torch.relu(getattr(b, f"norm2_{t}")(F.conv2d(y, b.conv2.weight, stride=2 if t == 0 else 1, padding=1)))
            h = torch.relu(getattr(b, f"norm3_{t}")(F.conv2d(y, b.conv3.weight)) + skip)
        got = model(x, ["V2"])["V2"]
    torch.testing.assert_close(got, h, rtol=0, atol=1e-5)


def test_ipcl_stages_and_heads():
    """conv_block_k = ReLU(GroupNorm(conv)) before the pool; the IPCL model reads out fc7, the twin uses fc8."""
    ipcl = load_model("alexnetgn_ipcl", pretrained=False)
    sup = load_model("alexnetgn_ipcl_supervised", pretrained=False)
    assert ipcl.net.fc8[0].out_features == 128 and ipcl.net.fc_final.in_features == 4096
    assert sup.net.fc8[0].out_features == 1000 and sup.net.fc_final is None
    x = _image(8, batch=2)
    net = ipcl.net
    with torch.no_grad():
        z = (x - IMAGENET_MEAN) / IMAGENET_STD
        c1 = torch.relu(F.group_norm(F.conv2d(z, net.conv_block_1[0].weight, stride=4, padding=2), 32,
                                     net.conv_block_1[1].weight, net.conv_block_1[1].bias))
        got = ipcl(x, ["conv_block_1", "fc7", "final"])
    torch.testing.assert_close(got["conv_block_1"], c1, rtol=0, atol=1e-5)
    torch.testing.assert_close(got["final"], net.fc_final(got["fc7"]), rtol=0, atol=1e-5)


# ---- CLI: info names the weights source; fetch from the loopback Hub ----------------------------------------

ONE_PER_FAMILY = ["resnet50", "cornet_s", "clip_vit_b32", "swsl_resnet50", "alexnetgn_ipcl", "rmt_resnet18_l2_eps3"]


@pytest.mark.parametrize("model_id", ONE_PER_FAMILY)
def test_info_names_weights_source(cli, model_id):
    import json

    r = cli("info", model_id, "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["weights"]["source"] == registry().get(model_id).weights.source
    assert info["weights"]["source"].startswith(("hf://", "https://"))
    assert info["provenance"]["row"]


def _state_bytes(state: dict, fmt: str) -> bytes:
    if fmt == "safetensors":
        from safetensors.torch import save

        return save({k: v.contiguous() for k, v in state.items()})
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def test_fetch_one_model_per_family_from_loopback_hub(cli, tmp_path):
    """`metazoo fetch` downloads each family's file (Hub or plain URL source) and reports its sha256."""
    from hubserver import serve_hub

    small = {"weight": torch.arange(12, dtype=torch.float32).reshape(3, 4)}
    hub_files, plain, expected = {}, {}, {}
    for model_id in ONE_PER_FAMILY:
        source = registry().get(model_id).weights.source
        if source.startswith("hf://"):
            org, repo, filename = source[len("hf://"):].split("/", 2)
            body = _state_bytes(small, "safetensors" if filename.endswith(".safetensors") else "pt")
            hub_files[(f"{org}/{repo}", filename)] = body
        else:
            body = _state_bytes({"state_dict": {"module." + k: v for k, v in small.items()}}, "pt")
            plain[f"{model_id}.pth.tar"] = body
        expected[model_id] = hashlib.sha256(body).hexdigest()
    with serve_hub(hub_files, plain=plain) as hub:
        config = tmp_path / "weights.yaml"
        config.write_text("".join(f"{m}: '{hub.url}/files/{m}.pth.tar'\n" for m in ONE_PER_FAMILY
                                  if f"{m}.pth.tar" in plain))
        env = {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf"),
               "HF_HUB_DISABLE_XET": "1", "METAZOO_CACHE": str(tmp_path / "cache"),
               "METAZOO_WEIGHTS_CONFIG": str(config)}
        r = cli("fetch", *ONE_PER_FAMILY, env=env)
    assert r.returncode == 0, r.stderr
    for model_id, sha in expected.items():
        assert f"{model_id}: " in r.stdout and sha[:16] in r.stdout, (model_id, r.stdout)
