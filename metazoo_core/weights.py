"""Checkpoint sources, download with integrity checks, safe loading, and user overrides.

Sources (a spec's `weights.source`, a `--weights` override, or an entry of the user's weights config):
- `hf://ORG/REPO/PATH/IN/REPO[@REVISION]` — Hugging Face Hub through huggingface_hub (its cache, HF_ENDPOINT,
  HF_HUB_OFFLINE all apply);
- `https://…` (or `http://`) — downloaded into metazoo's cache, checked against `sha256` when given;
  `member` picks a file inside a tar archive;
- `pkg://MODULE:CALLABLE` — a file shipped by an installed Python package (CALLABLE returns its path);
- a local path.

Loading never unpickles code: safetensors, or `torch.load(weights_only=True)` for .pt/.pth/.tar files.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
import os
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import WeightsError
from .registry import ModelSpec

USER_CONFIG_ENV = "METAZOO_WEIGHTS_CONFIG"
CACHE_ENV = "METAZOO_CACHE"


def cache_dir() -> Path:
    root = os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "metazoo")
    return Path(root)


def user_config_path() -> Path:
    return Path(os.environ.get(USER_CONFIG_ENV) or Path.home() / ".config" / "metazoo" / "weights.yaml")


def user_overrides() -> dict[str, dict[str, Any]]:
    """The user's config: `{model_id: "SOURCE"}` or `{model_id: {source: …, sha256: …, member: …}}`."""
    path = user_config_path()
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise WeightsError(f"cannot read weights config {path}: {e}; fix it or unset {USER_CONFIG_ENV}") from None
    if not isinstance(data, dict):
        raise WeightsError(f"weights config {path} must map model ids to sources")
    return {k: (v if isinstance(v, dict) else {"source": str(v)}) for k, v in data.items()}


@dataclass(frozen=True)
class WeightsRef:
    """A resolved description of where one model's weights come from."""

    source: str
    sha256: str | None = None
    member: str | None = None
    origin: str = "registry"  # registry | override | user-config

    @property
    def scheme(self) -> str:
        if self.source.startswith("hf://"):
            return "hf"
        if self.source.startswith(("https://", "http://")):
            return "url"
        if self.source.startswith("pkg://"):
            return "pkg"
        return "file"


def weights_ref(spec: ModelSpec, override: str | None = None) -> WeightsRef | None:
    """Which weights to use: the --weights override, else the user's config, else the registry; None if none."""
    if override:
        return WeightsRef(source=str(override), origin="override")
    user = user_overrides().get(spec.id)
    if user and user.get("source"):
        return WeightsRef(source=str(user["source"]), sha256=user.get("sha256"), member=user.get("member"),
                          origin="user-config")
    if spec.weights.source:
        return WeightsRef(source=spec.weights.source, sha256=spec.weights.sha256, member=spec.weights.member)
    return None


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _parse_hf(source: str) -> tuple[str, str, str | None]:
    rest = source[len("hf://"):]
    rev = None
    if "@" in rest:
        rest, rev = rest.rsplit("@", 1)
    parts = rest.split("/")
    if len(parts) < 3:
        raise WeightsError(f"bad Hub source '{source}': expected hf://ORG/REPO/FILE[@REVISION]")
    return "/".join(parts[:2]), "/".join(parts[2:]), rev


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes", "on"}


def _missing_offline(spec_id: str, ref: WeightsRef) -> WeightsError:
    return WeightsError(
        f"weights for '{spec_id}' are not available offline (source {ref.source}); either run "
        f"`metazoo fetch {spec_id}` where the source is reachable, or point to a local copy with "
        f"--weights PATH or an entry '{spec_id}: PATH' in {user_config_path()}"
    )


def _verify(path: Path, ref: WeightsRef, spec_id: str) -> None:
    if ref.sha256:
        got = sha256_file(path)
        if got != ref.sha256.lower():
            raise WeightsError(
                f"sha256 mismatch for '{spec_id}' from {ref.source}: expected {ref.sha256}, got {got}; "
                "the file was removed, fetch it again or fix the sha256"
            )


def _fetch_hf(ref: WeightsRef, spec_id: str) -> Path:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    repo, filename, revision = _parse_hf(ref.source)
    last: Exception | None = None
    for attempt in range(3):
        try:
            path = Path(hf_hub_download(repo_id=repo, filename=filename, revision=revision))
            break
        except LocalEntryNotFoundError:
            raise _missing_offline(spec_id, ref) from None
        except Exception as e:  # interrupted transfers and transient server errors: retry
            last = e
            if _offline():
                raise _missing_offline(spec_id, ref) from None
            time.sleep(0.2 * (attempt + 1))
    else:
        raise WeightsError(f"download of weights for '{spec_id}' from {ref.source} failed: {last}") from None
    try:
        _verify(path, ref, spec_id)
    except WeightsError:
        real = path.resolve()
        path.unlink(missing_ok=True)
        real.unlink(missing_ok=True)
        raise
    return path


def _url_cache_path(url: str) -> Path:
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return cache_dir() / "url" / digest / Path(url.split("?")[0]).name


def _download(url: str, dest: Path, retries: int = 3) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    last: Exception | None = None
    for attempt in range(retries):
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=30) as resp:
                expected = resp.headers.get("Content-Length")
                shutil.copyfileobj(resp, out, length=1 << 20)
            if expected is not None and os.path.getsize(tmp) != int(expected):
                raise OSError(f"truncated transfer ({os.path.getsize(tmp)} of {expected} bytes)")
            os.replace(tmp, dest)
            return
        except (OSError, urllib.error.URLError) as e:
            last = e
            Path(tmp).unlink(missing_ok=True)
            time.sleep(0.2 * (attempt + 1))
    raise WeightsError(f"download of {url} failed after {retries} tries: {last}")


def _fetch_url(ref: WeightsRef, spec_id: str) -> Path:
    dest = _url_cache_path(ref.source)
    if not dest.exists():
        if _offline():
            raise _missing_offline(spec_id, ref)
        _download(ref.source, dest)
        try:
            _verify(dest, ref if not ref.member else WeightsRef(ref.source), spec_id)
        except WeightsError:
            dest.unlink(missing_ok=True)
            raise
    if ref.member:
        return _extract_member(dest, ref, spec_id)
    return dest


def _extract_member(archive: Path, ref: WeightsRef, spec_id: str) -> Path:
    out = archive.parent / "members" / ref.member
    if out.exists():
        return out
    try:
        with tarfile.open(archive) as tar:
            member = tar.getmember(ref.member)
            src = tar.extractfile(member)
            if src is None:
                raise KeyError(ref.member)
            out.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".part-")
            with os.fdopen(fd, "wb") as f:
                shutil.copyfileobj(src, f)
    except (tarfile.TarError, KeyError, OSError) as e:
        raise WeightsError(f"cannot extract '{ref.member}' for '{spec_id}' from {archive}: {e}") from None
    try:
        _verify(Path(tmp), ref, spec_id)
    except WeightsError:
        Path(tmp).unlink(missing_ok=True)
        raise
    os.replace(tmp, out)
    return out


def _fetch_pkg(ref: WeightsRef, spec_id: str) -> Path:
    target = ref.source[len("pkg://"):]
    module_name, _, attr = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part) if part else obj
        path = Path(obj() if callable(obj) else obj)
    except (ImportError, AttributeError) as e:
        raise WeightsError(
            f"weights for '{spec_id}' come from the Python package module '{module_name}', which is not usable "
            f"({e}); install it with pip (see `metazoo info {spec_id}`)"
        ) from None
    _verify(path, ref, spec_id)
    return path


def resolve(spec: ModelSpec, override: str | None = None, download: bool = True) -> tuple[Path, WeightsRef]:
    """Local path of the weights file for `spec` (downloading when allowed and reachable)."""
    ref = weights_ref(spec, override)
    if ref is None:
        raise WeightsError(f"model '{spec.id}' has no weights source; pass --weights PATH or use random weights")
    if ref.scheme == "file":
        path = Path(ref.source).expanduser()
        if not path.is_file():
            raise WeightsError(f"weights file {path} for '{spec.id}' does not exist or is not a file")
        _verify(path, ref, spec.id)
        return path, ref
    if ref.scheme == "pkg":
        return _fetch_pkg(ref, spec.id), ref
    if not download and not is_cached(spec, override):
        raise _missing_offline(spec.id, ref)
    if ref.scheme == "hf":
        return _fetch_hf(ref, spec.id), ref
    return _fetch_url(ref, spec.id), ref


def is_cached(spec: ModelSpec, override: str | None = None) -> bool:
    """Whether the weights are on this machine already (no network)."""
    ref = weights_ref(spec, override)
    if ref is None:
        return False
    if ref.scheme == "file":
        return Path(ref.source).expanduser().is_file()
    if ref.scheme == "pkg":
        try:
            _fetch_pkg(ref, spec.id)
            return True
        except WeightsError:
            return False
    if ref.scheme == "hf":
        from huggingface_hub import try_to_load_from_cache

        repo, filename, revision = _parse_hf(ref.source)
        hit = try_to_load_from_cache(repo_id=repo, filename=filename, revision=revision)
        return isinstance(hit, str)
    dest = _url_cache_path(ref.source)
    return (dest.parent / "members" / ref.member).exists() if ref.member else dest.exists()


def load_state_dict(path: Path | str) -> dict[str, Any]:
    """Tensors from a checkpoint file, without running pickled code.

    .safetensors → safetensors; anything else → torch.load(weights_only=True). A file that needs code to load
    (a pickled class, dill) raises WeightsError saying how to convert it.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as e:
            raise WeightsError(f"cannot read safetensors file {path}: {e}") from None
    try:
        # timm training checkpoints (the dedeswim robust models) keep an argparse Namespace under "args";
        # allow-listing that plain attribute holder keeps loading free of arbitrary code.
        with torch.serialization.safe_globals([argparse.Namespace]):
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:
        text = " ".join(str(e).split())
        if "weights_only" in text or "Unsupported global" in text or "pickle" in text.lower():
            raise WeightsError(
                f"{path} needs code to load (pickled objects), which metazoo never runs; convert it once in a "
                "trusted environment to a plain state dict (torch.save(state_dict)) or to safetensors"
            ) from None
        raise WeightsError(f"cannot read weights file {path}: {text[:200]}") from None
    return unwrap_checkpoint(obj, path)


def unwrap_checkpoint(obj: Any, path: Path | str = "<memory>") -> dict[str, Any]:
    """The state dict inside common checkpoint containers ({'model': …}, {'state_dict': …}, plain dicts)."""
    import torch

    for key in ("model", "state_dict", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not any(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path} holds no state dict of tensors")
    return {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def strip_prefix(state: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Keys starting with `prefix`, with it removed (others dropped when any key has the prefix)."""
    if not any(k.startswith(prefix) for k in state):
        return state
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
