"""Checkpoint sources, download with integrity checks, safe loading, and user overrides.

Sources (a spec's `weights.source`/`archive`+`member`/`fallbacks`/`mirror`, a `--weights` override, or an entry
of the user's weights config):
- `hf://ORG/REPO/PATH/IN/REPO[@REVISION]` — Hugging Face Hub through huggingface_hub (its cache, HF_ENDPOINT,
  HF_HUB_OFFLINE all apply);
- `https://…` (or `http://`) — downloaded resumably into metazoo's cache (metazoo_core.download), checked against
  `sha256` when given; with `member`, the URL is a tar archive (metazoo_core.archives): it is downloaded once and
  every member the registry names is extracted in one pass;
- `pkg://MODULE:CALLABLE` — a file shipped by an installed Python package that declares metazoo weights (the
  registry's `weight_packages:` allow-list or the `metazoo.weights` entry-point group); CALLABLE, a function the
  package itself defines (FUNCTION or CLASS.FUNCTION), returns its path, called in a child process
  (metazoo_core.pkgsource);
- a local path.

Order: the Hub mirror when one is configured (`METAZOO_HUB_MIRROR=ORG` → `hf://ORG/<model id>`, or the entry's
`mirror:`), then `source`, then each of `fallbacks`; a manual-download entry ends with a line saying where to get
the file. Every file loaded is checked against the weights lockfile (metazoo_core.lockfile).

Loading never unpickles code: safetensors, or `torch.load(weights_only=True)` for .pt/.pth/.tar files.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import archives, lockfile, pkgsource
from .download import CONNECT_TIMEOUT_S, download, sha256_file
from .errors import WeightsError
from .registry import ManualSpec, ModelSpec

USER_CONFIG_ENV = "METAZOO_WEIGHTS_CONFIG"
CACHE_ENV = "METAZOO_CACHE"
MIRROR_ENV = "METAZOO_HUB_MIRROR"
WEIGHTS_ENTRY_POINTS = "metazoo.weights"
MIRROR_FILE = "model.safetensors"

__all__ = ["WeightsRef", "cache_dir", "is_cached", "load_state_dict", "resolve", "sha256_file", "weights_ref"]


class WeightsUnavailable(WeightsError):
    """This source cannot deliver the file now (offline, unreachable, absent): the next source may."""


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
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError:
        raise WeightsError(f"weights config {path} is not UTF-8 text; "
                           f"save it as UTF-8 or unset {USER_CONFIG_ENV}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or "syntax"
        raise WeightsError(f"weights config {path}:{where}: malformed YAML ({problem}); "
                           f"fix it or unset {USER_CONFIG_ENV}") from None
    except OSError as e:
        raise WeightsError(f"cannot read weights config {path}: {e.strerror}; "
                           f"fix it or unset {USER_CONFIG_ENV}") from None
    if not isinstance(data, dict):
        raise WeightsError(f"weights config {path} must map model ids to sources")
    out = {}
    for k, v in data.items():
        entry = v if isinstance(v, dict) else {"source": str(v)}
        unknown = set(entry) - {"source", "sha256", "member"}
        if unknown or not isinstance(entry.get("source", ""), str):
            raise WeightsError(f"weights config {path}: entry '{k}' may hold only source, sha256, member "
                               f"(got {', '.join(sorted(map(str, entry)))})")
        out[str(k)] = entry
    return out


@dataclass(frozen=True)
class WeightsRef:
    """A resolved description of where one model's weights come from."""

    source: str
    sha256: str | None = None
    member: str | None = None
    origin: str = "registry"  # registry | override | user-config | mirror | fallback
    sha256_prefix: str | None = None

    @property
    def scheme(self) -> str:
        if self.source.startswith("hf://"):
            return "hf"
        if self.source.startswith(("https://", "http://")):
            return "url"
        if self.source.startswith("pkg://"):
            return "pkg"
        return "file"


def _registry():
    from .plugins import registry

    return registry()


def mirror_source(spec: ModelSpec) -> str | None:
    """hf://… of this model's exported copy on the Hub, when a mirror is configured (env first, then the entry)."""
    org = os.environ.get(MIRROR_ENV, "").strip().strip("/")
    if org:
        from huggingface_hub.errors import HFValidationError
        from huggingface_hub.utils import validate_repo_id

        try:
            validate_repo_id(f"{org}/{spec.id}")
        except HFValidationError:
            raise WeightsError(f"{MIRROR_ENV}={org!r} is not a Hub organisation or user name (letters, digits, '-', "
                               "'_', '.', no '--' or '..', not starting or ending with '-' or '.'); set it to the ORG "
                               "the models are mirrored under (hf://ORG/<model id>) or unset it") from None
        return f"hf://{org}/{spec.id}/{MIRROR_FILE}"
    if spec.weights.mirror:
        return f"{spec.weights.mirror}/{MIRROR_FILE}"
    return None


def registry_refs(spec: ModelSpec) -> list[WeightsRef]:
    """The registry's sources for `spec` in the order they are tried (mirror, source, fallbacks)."""
    w = spec.weights
    refs = []
    mirror = mirror_source(spec)
    if mirror:
        refs.append(WeightsRef(source=mirror, origin="mirror"))
    if w.archive:
        table = _registry().archives
        if w.archive not in table:
            raise WeightsError(f"model '{spec.id}' names weights archive '{w.archive}', which the registry's "
                               "archives: table lacks; fix the registry entry")
        refs.append(WeightsRef(source=table[w.archive].url, sha256=w.sha256, member=w.member))
    elif w.source:
        refs.append(WeightsRef(source=w.source, sha256=w.sha256, member=w.member, sha256_prefix=w.sha256_prefix))
    refs.extend(WeightsRef(source=f, sha256=w.sha256, origin="fallback", sha256_prefix=w.sha256_prefix)
                for f in w.fallbacks)
    return refs


def candidate_refs(spec: ModelSpec, override: str | None = None) -> list[WeightsRef]:
    """Every source to try, in order: the --weights override alone, else the user's config, else the registry's."""
    if override:
        return [WeightsRef(source=str(override), origin="override")]
    user = user_overrides().get(spec.id)
    if user and user.get("source"):
        return [WeightsRef(source=str(user["source"]), sha256=user.get("sha256"), member=user.get("member"),
                           origin="user-config")]
    return registry_refs(spec)


def weights_ref(spec: ModelSpec, override: str | None = None) -> WeightsRef | None:
    """The first source that would be tried (None when the model has none)."""
    refs = candidate_refs(spec, override)
    return refs[0] if refs else None


def _parse_hf(source: str) -> tuple[str, str, str | None]:
    rest = source[len("hf://"):]
    rev = None
    if "@" in rest:
        rest, rev = rest.rsplit("@", 1)
    parts = rest.split("/")
    if len(parts) < 3 or not all(parts):
        raise WeightsError(f"bad Hub source '{source}': expected hf://ORG/REPO/FILE[@REVISION]")
    return "/".join(parts[:2]), "/".join(parts[2:]), rev


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes", "on"}


def _way_out(spec_id: str, archive: bool) -> str:
    extra = "; or, with a copy of the archive, `metazoo fetch --archive PATH`" if archive else ""
    return (f"run `metazoo fetch {spec_id}` where the source is reachable, or point to a local copy with "
            f"--weights PATH or an entry '{spec_id}: PATH' in {user_config_path()}{extra}")


def _manual_error(spec_id: str, manual: ManualSpec, tried: str = "") -> WeightsError:
    return WeightsError(
        f"weights for '{spec_id}' are a manual download{f' ({tried})' if tried else ''}: get the file "
        f"'{manual.file}' from {manual.where}, then pass --weights PATH or add '{spec_id}: PATH' to "
        f"{user_config_path()}")


def _verify(path: Path, ref: WeightsRef, spec_id: str) -> None:
    if ref.sha256:
        got = sha256_file(path)
        if got != ref.sha256.lower():
            raise WeightsError(
                f"sha256 mismatch for '{spec_id}' from {ref.source}: expected {ref.sha256}, got {got}; "
                "the file was removed, fetch it again or fix the sha256"
            )


# --- Hugging Face Hub -------------------------------------------------------------------------------------------

def _fetch_hf(ref: WeightsRef, spec_id: str) -> Path:
    from huggingface_hub import hf_hub_download, try_to_load_from_cache
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError

    repo, filename, revision = _parse_hf(ref.source)
    cached = try_to_load_from_cache(repo_id=repo, filename=filename, revision=revision)
    if not isinstance(cached, str) and not _offline():
        _probe_hub(repo, filename, revision)
    last: Exception | None = None
    for _attempt in range(2):  # one retry: an interrupted transfer resumes from huggingface_hub's .incomplete file
        if isinstance(cached, str):  # in the Hub cache: used as is, no network (the lockfile checks it)
            path = Path(cached)
            break
        try:
            path = Path(hf_hub_download(repo_id=repo, filename=filename, revision=revision))
            break
        except LocalEntryNotFoundError:
            raise WeightsUnavailable("not available offline (not in the Hub cache)"
                                     if _offline() else "the Hub is unreachable") from None
        except (EntryNotFoundError, RepositoryNotFoundError):
            raise WeightsUnavailable("no such file on the Hub") from None
        except Exception as e:  # interrupted transfers and transient server errors
            last = e
    else:
        raise WeightsUnavailable(f"download failed ({' '.join(str(last).split())[:160]})") from None
    try:
        _verify(path, ref, spec_id)
    except WeightsError:
        real = path.resolve()
        path.unlink(missing_ok=True)
        real.unlink(missing_ok=True)
        raise
    return path


def _probe_hub(repo: str, filename: str, revision: str | None) -> None:
    """One quick request to the Hub (no retries): WeightsUnavailable at once when it cannot be reached.

    Without it, huggingface_hub retries a refused connection five times with back-off (about 25 s).
    """
    import httpx2
    from huggingface_hub import hf_hub_url
    from huggingface_hub.utils import get_session

    url = hf_hub_url(repo, filename, revision=revision)
    try:
        get_session().head(url, follow_redirects=False, timeout=CONNECT_TIMEOUT_S)
    except (httpx2.TransportError, ConnectionError) as e:
        raise WeightsUnavailable(f"the Hub is unreachable ({' '.join(str(e).split())[:120]})") from None


def _hf_cached(ref: WeightsRef) -> bool:
    from huggingface_hub import try_to_load_from_cache

    repo, filename, revision = _parse_hf(ref.source)
    return isinstance(try_to_load_from_cache(repo_id=repo, filename=filename, revision=revision), str)


# --- plain URLs and archives ------------------------------------------------------------------------------------

def _url_digest(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def _url_cache_path(url: str) -> Path:
    return cache_dir() / "url" / _url_digest(url) / Path(url.split("?")[0]).name


def archive_dir(url: str) -> Path:
    """The cache folder of the archive at `url`: `archives/<table name>` (or a digest of the URL)."""
    names = [name for name, a in _registry().archives.items() if a.url == url]
    return cache_dir() / "archives" / (names[0] if names else _url_digest(url))


def members_dir(url: str) -> Path:
    return archive_dir(url) / "members"


def archive_members(url: str) -> list[str]:
    """Every member the registry names inside the archive at `url` (model weights and extra files such as readouts)."""
    found = []
    for spec in _registry().query():
        for ref in [*_safe_refs(spec), *_readout_refs(spec)]:
            if ref.source == url and ref.member:
                found.append(ref.member)
    return list(dict.fromkeys(found))


def _safe_refs(spec: ModelSpec) -> list[WeightsRef]:
    try:
        return registry_refs(spec)
    except WeightsError:
        return []


def _readout_refs(spec: ModelSpec) -> list[WeightsRef]:
    from .registry import WeightsSpec

    extra = spec.build.get("readout_weights")
    if not isinstance(extra, dict):
        return []
    try:
        sub = spec.model_copy(update={"weights": WeightsSpec(**extra)})
        return registry_refs(sub)
    except Exception:  # a malformed readout entry is reported when that model loads
        return []


def _fetch_url(ref: WeightsRef, spec_id: str, download_ok: bool = True) -> Path:
    if ref.member:
        return _fetch_member(ref, spec_id, download_ok)
    dest = _url_cache_path(ref.source)
    if not dest.is_file():
        if _offline() or not download_ok:
            raise WeightsUnavailable("not available offline (not in the cache)")
        download(ref.source, dest, sha256=ref.sha256, label=f"{spec_id} weights", sha256_prefix=ref.sha256_prefix,
                 expected_size=lockfile.recorded_size(cache_dir(), spec_id, ref.source))
    return dest


def _fetch_member(ref: WeightsRef, spec_id: str, download_ok: bool = True) -> Path:
    members = members_dir(ref.source)
    out = archives.member_path(members, ref.member)  # refused here, before anything is downloaded or written
    if out.is_file():
        return out
    if ref.scheme == "file":  # a local archive named in the weights config: extracted into the cache
        archive = Path(ref.source).expanduser()
        if not archive.is_file():
            raise WeightsError(f"archive {archive} does not exist or is not a file")
    else:
        archive = archive_dir(ref.source) / Path(ref.source.split("?")[0]).name
    if not archive.is_file():
        if _offline() or not download_ok:
            raise WeightsUnavailable("not available offline (the archive is not in the cache)")
        download(ref.source, archive, label=archive.name)
    wanted = [ref.member, *[m for m in archive_members(ref.source) if m != ref.member]]
    extracted = archives.extract_members(archive, wanted, members, ref.source)
    if ref.member not in extracted:
        raise WeightsError(f"archive {ref.source} has no member '{ref.member}' (looked for it as "
                           f"'{ref.member}', './{ref.member}' and a unique basename); fix `member:` in the registry "
                           "entry or weights config, or pass the checkpoint with --weights PATH")
    try:
        _verify(extracted[ref.member], ref, spec_id)
    except WeightsError:
        extracted[ref.member].unlink(missing_ok=True)
        raise
    return extracted[ref.member]


def import_archive(path: Path) -> dict[str, list[str]]:
    """Extract every registry member found in a local copy of an archive (`metazoo fetch --archive PATH`).

    The archive is matched to the registry's archives: by file name when it equals the basename of an archive's
    URL, else to every archive whose named members it holds. Returns {archive URL: members extracted}. No network.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"archive {path} does not exist or is not a file; give the path of the downloaded .tar")
    present = set(archives.tar_member_names(path))
    present |= {Path(n).name for n in present}
    urls = {a.url for a in _registry().archives.values()}
    urls |= {r.source for s in _registry().query() for r in [*_safe_refs(s), *_readout_refs(s)] if r.member}
    by_name = [u for u in urls if Path(u.split("?")[0]).name == path.name]
    chosen = by_name or [u for u in urls if any(m in present or Path(m).name in present for m in archive_members(u))]
    if not chosen:
        raise WeightsError(f"{path} holds none of the files the registry names in its archives; is it the "
                           "study's checkpoint archive?")
    done = {}
    for url in sorted(chosen):
        got = archives.extract_members(path, archive_members(url), members_dir(url), str(path))
        done[url] = sorted(got)
    return done


# --- installed packages -----------------------------------------------------------------------------------------

def allowed_weight_packages() -> set[str]:
    """Top-level modules allowed in pkg:// sources: the registry's weight_packages: and the metazoo.weights group."""
    from importlib.metadata import entry_points

    allowed = set(_registry().weight_packages)
    allowed |= {ep.value.split(":")[0].split(".")[0] for ep in entry_points(group=WEIGHTS_ENTRY_POINTS)}
    return allowed


def _pkg_target(ref: WeightsRef) -> tuple[str, str]:
    """(MODULE, CALLABLE) of a pkg:// source whose module belongs to an allowed package (nothing is imported)."""
    module_name, _, attr = ref.source[len("pkg://"):].partition(":")
    expected = "expected pkg://MODULE:FUNCTION or pkg://MODULE:CLASS.FUNCTION"
    if not module_name or not all(p.isidentifier() for p in module_name.split(".")):
        raise WeightsError(f"bad package source '{ref.source}': {expected}")
    if module_name.split(".")[0] not in allowed_weight_packages():
        raise WeightsError(
            f"package source '{ref.source}' names module '{module_name}', which does not declare metazoo weights; "
            f"only the registry's weight_packages: or packages in the '{WEIGHTS_ENTRY_POINTS}' entry-point group "
            "may be used")
    if not attr or not all(p.isidentifier() for p in attr.split(".")):
        raise WeightsError(f"bad package source '{ref.source}': {expected}")
    return module_name, attr


def _fetch_pkg(ref: WeightsRef, spec_id: str) -> Path:
    """The file a package's own function names, the function run in a child process (metazoo_core.pkgsource)."""
    module_name, attr = _pkg_target(ref)
    try:
        value = pkgsource.call_in_child(module_name, attr)
    except pkgsource.PkgSourceError as e:
        if e.kind == "unavailable":
            raise WeightsUnavailable(f"{e}; install the package with pip (see `metazoo info {spec_id}`)") from None
        raise WeightsError(f"{ref.source} {'refused' if e.kind == 'refused' else 'failed'}: {e}") from None
    if not Path(value).is_file():
        raise WeightsError(f"{ref.source} returned {value[:80]!r}, not the path of a weights file")
    path = Path(value)
    _verify(path, ref, spec_id)
    return path


def _pkg_cached(ref: WeightsRef) -> bool:
    """Whether the package is installed and allowed — found without importing it (no code runs)."""
    try:
        module_name, _ = _pkg_target(ref)
        return importlib.util.find_spec(module_name.split(".")[0]) is not None
    except (WeightsError, ImportError, ValueError):
        return False


# --- resolution -------------------------------------------------------------------------------------------------

def _resolve_one(ref: WeightsRef, spec_id: str, download_ok: bool) -> Path:
    if ref.scheme == "file" and ref.member:
        return _fetch_member(ref, spec_id, download_ok)
    if ref.scheme == "file":
        path = Path(ref.source).expanduser()
        if not path.is_file():
            raise WeightsError(f"weights file {path} does not exist or is not a file")
        _verify(path, ref, spec_id)
        return path
    if ref.scheme == "pkg":
        return _fetch_pkg(ref, spec_id)
    if ref.scheme == "hf":
        if not download_ok and not _hf_cached(ref):
            raise WeightsUnavailable("not available offline (not in the Hub cache)")
        return _fetch_hf(ref, spec_id)
    try:
        return _fetch_url(ref, spec_id, download_ok)
    except WeightsUnavailable:
        raise
    except WeightsError as e:
        if "cannot reach" in str(e) or "does not exist on its server" in str(e):
            raise WeightsUnavailable(str(e)) from None
        raise


def resolve(spec: ModelSpec, override: str | None = None, download: bool = True,
            lock: bool = True) -> tuple[Path, WeightsRef]:
    """Local path of the weights file for `spec` (downloading when allowed and reachable), checked by the lockfile.

    Tries each source in order (see the module docstring); a source that is offline, unreachable or lacks the
    file passes to the next. Raises WeightsError with one line naming the model, the source and the way out.
    """
    refs = candidate_refs(spec, override)
    if not refs and spec.weights.manual is None:
        raise WeightsError(f"model '{spec.id}' has no weights source; pass --weights PATH or use random weights")
    failures: list[tuple[WeightsRef, str]] = []
    for ref in refs:
        try:
            path = _resolve_one(ref, spec.id, download)
        except WeightsUnavailable as e:
            failures.append((ref, str(e)))
            continue
        except WeightsError as e:
            text = str(e)
            raise WeightsError(text if spec.id in text
                               else f"weights for '{spec.id}' from {ref.source}: {text}") from None
        if lock and ref.origin != "override":
            lockfile.check_or_record(cache_dir(), spec.id, ref.source, sha256_file(path), path.stat().st_size)
        return path, ref
    tried = "; ".join(f"{r.source}: {why}" for r, why in failures)
    if spec.weights.manual is not None and not override:
        raise _manual_error(spec.id, spec.weights.manual, tried)
    raise WeightsError(f"weights for '{spec.id}' are not available ({tried}); "
                       + _way_out(spec.id, any(r.member for r, _ in failures)))


def is_cached(spec: ModelSpec, override: str | None = None) -> bool:
    """Whether the weights are on this machine already (no network, no package code run)."""
    try:
        refs = candidate_refs(spec, override)
    except WeightsError:
        return False
    for ref in refs:
        try:
            if ref.scheme == "file":
                hit = Path(ref.source).expanduser().is_file()
            elif ref.scheme == "pkg":
                hit = _pkg_cached(ref)
            elif ref.scheme == "hf":
                hit = _hf_cached(ref)
            elif ref.member:
                hit = archives.member_path(members_dir(ref.source), ref.member).is_file()
            else:
                hit = _url_cache_path(ref.source).is_file()
        except WeightsError:
            hit = False
        if hit:
            return True
    return False


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


def check_shapes(state: dict[str, Any], expected: dict[str, Any], spec_id: str, path: Path | str) -> None:
    """WeightsError (one line) when a tensor's shape differs from the network's tensor of the same name."""
    wrong = [(k, tuple(v.shape), tuple(expected[k].shape)) for k, v in state.items()
             if k in expected and hasattr(v, "shape") and tuple(v.shape) != tuple(expected[k].shape)]
    if wrong:
        k, got, want = wrong[0]
        raise WeightsError(f"weights {path} do not fit '{spec_id}': {len(wrong)} tensors have the wrong shape "
                           f"(e.g. {k}: {list(got)} instead of {list(want)}); is this the right checkpoint?")


def check_values(state: dict[str, Any], expected: dict[str, Any], spec_id: str, path: Path | str) -> str | None:
    """WeightsError (one line) when a floating tensor the network takes holds NaN or ±inf, or is stored as integers
    (int8 and the like: a quantised tensor without its scale, whose plain cast gives weights off by that scale and
    NaN probabilities — issue 27); a notice (or None) when tensors will be cast to the network's floating dtype from
    a lower precision (float16/bfloat16, exact). float64 → float32 is the usual narrowing of a saved float64 copy
    and passes without a notice."""
    import torch

    bad, ints, cast = [], [], []
    for k, v in state.items():
        want = expected.get(k)
        if not isinstance(v, torch.Tensor) or want is None or not want.is_floating_point():
            continue
        if not v.is_floating_point():
            ints.append((k, v.dtype))
        elif not bool(torch.isfinite(v).all()):
            bad.append(k)
        elif torch.finfo(v.dtype).bits < torch.finfo(want.dtype).bits:
            cast.append((k, v.dtype))
    if bad:
        raise WeightsError(f"weights {path} for '{spec_id}' hold NaN or infinite values in {len(bad)} tensors "
                           f"(e.g. {bad[0]}); the file is damaged or from a diverged run: use another checkpoint")
    if ints:
        k, dtype = ints[0]
        raise WeightsError(f"weights {path} for '{spec_id}': {len(ints)} tensors the network holds as floating point "
                           f"are stored as {str(dtype).removeprefix('torch.')} (e.g. {k}); integer weights lack the "
                           "scale that turns them back into the trained values: dequantise the checkpoint to float "
                           "first, or use the registry's weights")
    if cast:
        k, dtype = cast[0]
        return (f"weights {path}: {len(cast)} tensors of '{spec_id}' are stored as {str(dtype).removeprefix('torch.')}"
                f" (e.g. {k}) and were cast to the network's floating dtype")
    return None


def describe(spec: ModelSpec) -> dict[str, Any]:
    """What `metazoo info` shows about a model's weights (no network, no package code run)."""
    try:
        refs = candidate_refs(spec)
        error = None
    except WeightsError as e:
        refs, error = [], str(e)
    first = refs[0] if refs else None
    return {
        **spec.weights.model_dump(),
        "source": first.source if first else None,
        "origin": first.origin if first else None,
        "member": first.member if first else spec.weights.member,
        "tried_after": [r.source for r in refs[1:]],
        "cached": is_cached(spec),
        "lock": lockfile.entries_for(cache_dir(), spec.id),
        "error": error,
    }
