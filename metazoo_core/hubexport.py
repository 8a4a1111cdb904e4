"""Mirroring the zoo on the Hugging Face Hub: `metazoo export` (a model-repo folder) and `metazoo push`.

An export folder has the Hub's model-repo layout:
- `model.safetensors` — the network's own state dict after metazoo's checkpoint conversion (so loading needs no
  converter; `weights.resolve` marks a mirror source and the loader skips conversion);
- `config.json` — the registry entry (id, family, input, normalisation, stages with shapes, classes) plus where
  the weights came from;
- `README.md` — a model card with YAML front matter (license, tags, `library_name: metazoo`) and provenance:
  original source and its sha256, the paper, the study's reported accuracy.

A lab pushes each model to `ORG/<model id>`; with `METAZOO_HUB_MIRROR=ORG` every command then fetches
`hf://ORG/<model id>/model.safetensors` first and falls back to the original source. So that a mirror never
serves one model's weights under another's name (issue 27), `export` refuses a folder holding another model's
export, and `push` refuses a folder whose config.json and model.safetensors do not both name the model, or a repo
named after another registry model.
"""
from __future__ import annotations

import json
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

    held = exported_model(out) if (out / "config.json").exists() or (out / MIRROR_FILE).exists() else None
    if held is not None and held != spec.id:
        raise WeightsError(f"{out} holds the export of '{held}', not '{spec.id}'; choose another --out folder")
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


def exported_model(folder: Path) -> str:
    """The model id an export folder holds: config.json's `id`, which model.safetensors' `metazoo_id` must equal.

    WeightsError (one line) when either file is missing or unreadable, or they name different models."""
    from safetensors import SafetensorError, safe_open

    missing = [n for n in (MIRROR_FILE, "config.json") if not (folder / n).is_file()]
    if missing:
        raise WeightsError(f"{folder} is not a metazoo export (missing {', '.join(missing)}); "
                           "run `metazoo export` first")
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        with safe_open(str(folder / MIRROR_FILE), framework="np") as f:
            stored = (f.metadata() or {}).get("metazoo_id")
    except (OSError, UnicodeDecodeError, ValueError, RecursionError, SafetensorError) as e:
        raise WeightsError(f"{folder} is not a readable metazoo export ({e.__class__.__name__}); "
                           "run `metazoo export` again") from None
    named = config.get("id") if isinstance(config, dict) else None
    if not isinstance(named, str) or named != stored:
        raise WeightsError(f"{folder}: config.json names '{named}' but {MIRROR_FILE} holds '{stored}'; "
                           "the folder mixes two exports: run `metazoo export` again into an empty folder")
    return named


def check_push(folder: Path, model_id: str, repo: str, registry_ids: set[str]) -> None:
    """WeightsError (one line) unless `folder` holds `model_id`'s export and `repo` (ORG/NAME) is not named after
    another registry model."""
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise WeightsError(f"--repo '{repo}' must be ORG/NAME")
    held = exported_model(folder)
    if held != model_id:
        raise WeightsError(f"{folder} holds the export of '{held}', not '{model_id}'; push it as {held} or export "
                           f"{model_id}")
    name = repo.split("/")[1]
    if name != model_id and name in registry_ids:
        raise WeightsError(f"--repo '{repo}' is named after the model '{name}', but this is '{model_id}': a mirror "
                           f"(METAZOO_HUB_MIRROR) would serve it as '{name}'; use --repo ORG/{model_id}")


def push_folder(folder: Path, repo: str, private: bool = False) -> str:
    """Upload an export folder to the Hub repo `repo` (created when missing; check_push first); returns the commit
    URL."""
    from huggingface_hub import HfApi

    if not (folder / "README.md").is_file():
        raise WeightsError(f"{folder} is not a metazoo export (missing README.md); run `metazoo export` first")
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
