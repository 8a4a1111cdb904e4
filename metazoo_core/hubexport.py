"""Mirroring the zoo on the Hugging Face Hub: `metazoo export` (a model-repo folder) and `metazoo push`.

An export folder has the Hub's model-repo layout:
- `model.safetensors` — the network's own state dict after metazoo's checkpoint conversion (so loading needs no
  converter; `weights.resolve` marks a mirror source and the loader skips conversion);
- `config.json` — the registry entry (id, family, input, normalisation, stages with shapes, classes) plus where
  the weights came from;
- `README.md` — a model card with YAML front matter (license, tags, `library_name: metazoo`) and provenance:
  original source and its sha256, the paper, the study's reported accuracy.

A lab pushes each model to `ORG/<model id>`; with `METAZOO_HUB_MIRROR=ORG` every command then fetches
`hf://ORG/<model id>/model.safetensors` first and falls back to the original source.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .download import sha256_file
from .errors import WeightsError
from .fileio import save_tensors, write_json, write_text
from .registry import ModelSpec
from .weights import MIRROR_FILE

CARD_TEMPLATE = Path(__file__).parent / "data" / "model_card.md.j2"
CLASS_NAMES = {"imagenet1000": "ImageNet-1k (1000 classes)", "words794": "Word-Speaker-Noise words (794 classes)",
               "zeroshot_imagenet": "ImageNet-1k, CLIP zero-shot head", "none": "no classifier"}


@dataclass(frozen=True)
class Export:
    folder: Path
    sha256: str  # of model.safetensors
    original_source: str
    original_sha256: str


def export_model(spec: ModelSpec, out: Path, weights: str | None = None) -> Export:
    """Write `out/{model.safetensors, config.json, README.md}` for `spec` with its trained weights loaded."""
    from .models import load_model

    staged = load_model(spec, pretrained=True, weights=weights)
    if not staged.weights_source:
        raise WeightsError(f"model '{spec.id}' has no trained weights to export; fetch them first")
    state = {k: v.detach().clone() for k, v in staged.net.state_dict().items()}  # clone: no shared storage
    out.mkdir(parents=True, exist_ok=True)
    save_tensors(out / MIRROR_FILE, state, metadata={"format": "pt", "metazoo_id": spec.id,
                                                      "original_sha256": staged.weights_sha256})
    sha = sha256_file(out / MIRROR_FILE)
    write_json(out / "config.json", config_for(spec, staged.weights_source, staged.weights_sha256))
    write_text(out / "README.md", model_card(spec, staged.weights_source, staged.weights_sha256, sha))
    return Export(out, sha, staged.weights_source, staged.weights_sha256)


def config_for(spec: ModelSpec, source: str, sha256: str) -> dict[str, Any]:
    """config.json: the registry entry as JSON, with the classes spelled out and the original file named."""
    entry = spec.model_dump(mode="json")
    entry["classes"] = CLASS_NAMES.get(spec.classifier, spec.classifier)
    entry["metazoo_export"] = {"weights_file": MIRROR_FILE, "original_source": source, "original_sha256": sha256,
                               "converted": True}
    return entry


def front_matter(spec: ModelSpec, source: str, sha256: str) -> dict[str, Any]:
    """The model card's YAML front matter (the Hub's model-card metadata fields)."""
    prov = spec.provenance
    meta: dict[str, Any] = {
        "license": (prov.license or "other").lower(),
        "library_name": "metazoo",
        "tags": ["metazoo", "model-metamers", spec.modality, spec.family, *spec.all_groups],
        "pipeline_tag": "image-classification" if spec.modality == "vision" else "audio-classification",
        "metazoo": {"id": spec.id, "original_source": source, "original_sha256": sha256,
                    "paper": prov.paper, "reported_top1": prov.top1, "reported_top5": prov.top5,
                    "table": prov.table},
    }
    if meta["license"] == "other":
        meta["license_name"] = "see-original-source"
    return meta


def model_card(spec: ModelSpec, source: str, sha256: str, export_sha256: str) -> str:
    """README.md rendered from the Jinja2 template `data/model_card.md.j2`."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(CARD_TEMPLATE.parent)), autoescape=False,
                             keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    prov = {**spec.provenance.model_dump(), "original_source": source, "original_sha256": sha256,
            "export_sha256": export_sha256}
    return env.get_template(CARD_TEMPLATE.name).render(
        spec=spec, provenance=prov, unverified=spec.weights.unverified,
        front_matter=yaml.safe_dump(front_matter(spec, source, sha256), sort_keys=False, allow_unicode=True))


def push_folder(folder: Path, repo: str, private: bool = False) -> str:
    """Upload an export folder to the Hub repo `repo` (created when missing); returns the commit URL."""
    from huggingface_hub import HfApi

    if repo.count("/") != 1 or not all(repo.split("/")):
        raise WeightsError(f"--repo '{repo}' must be ORG/NAME")
    missing = [n for n in (MIRROR_FILE, "config.json", "README.md") if not (folder / n).is_file()]
    if missing:
        raise WeightsError(f"{folder} is not a metazoo export (missing {', '.join(missing)}); "
                           "run `metazoo export` first")
    api = HfApi()
    try:
        api.create_repo(repo, private=private, exist_ok=True)
        info = api.upload_folder(folder_path=str(folder), repo_id=repo, commit_message="metazoo export",
                                 allow_patterns=[MIRROR_FILE, "config.json", "README.md"])
    except Exception as e:  # huggingface_hub raises HTTP, auth and offline errors of several kinds
        text = " ".join(str(e).split())[:200]
        raise WeightsError(f"push of {folder} to the Hub repo '{repo}' failed ({e.__class__.__name__}: {text}); "
                           "check HF_TOKEN (a write token), HF_ENDPOINT and that HF_HUB_OFFLINE is unset") from None
    return str(getattr(info, "commit_url", info))
