"""Resumable downloads of large files over HTTP(S), with a progress bar and no partial file under a final name.

The transfer itself is huggingface_hub's `http_get` (the helper behind `hf_hub_download`): it streams through
huggingface_hub's shared HTTP client, draws a tqdm progress bar with size and rate, and when a connection drops
mid-transfer it asks for the remaining bytes only (an HTTP `Range` request) instead of starting again. Around it
this module adds what a multi-gigabyte archive needs (docs/architecture.md, "Downloads"):

- one quick reachability check (a HEAD request, no retries), so an unreachable host fails at once;
- `DEST.incomplete` next to the destination: a transfer interrupted in an earlier run resumes from its size;
- a per-destination file lock, so two processes on one machine download a file once;
- size, sha256 and torch-hub hash-prefix checks before the final rename (a bad file is deleted, never kept).
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from urllib.parse import urlparse

from .errors import WeightsError

CONNECT_TIMEOUT_S = 10.0
_TORCH_HUB_HASH = re.compile(r"-([a-f0-9]{8,64})\.[A-Za-z.]+$")
_TORCH_HUB_HOSTS = {"download.pytorch.org"}


def sha256_file(path: Path | str, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def published_hash_prefix(url: str) -> str | None:
    """The sha256 prefix a torchvision / torch-hub file name carries (`alexnet-owt-7be5be79.pth` → `7be5be79`).

    torch.hub's convention (`torch/hub.py`, HASH_REGEX, `check_hash`): the hex run after the last `-` of the file
    name is the start of the file's sha256. Applied to download.pytorch.org only, where the convention is known to
    hold; None elsewhere.
    """
    parsed = urlparse(url)
    if parsed.hostname not in _TORCH_HUB_HOSTS:
        return None
    m = _TORCH_HUB_HASH.search(Path(parsed.path).name)
    return m.group(1) if m else None


def check_digest(path: Path, url: str, sha256: str | None) -> str:
    """sha256 of `path`, checked against `sha256` and the URL's published prefix; WeightsError on a mismatch."""
    got = sha256_file(path)
    if sha256 and got != sha256.lower():
        raise WeightsError(f"sha256 mismatch for {url}: expected {sha256}, got {got}")
    prefix = published_hash_prefix(url)
    if prefix and not got.startswith(prefix):
        raise WeightsError(f"sha256 of {url} is {got}, but its file name promises a hash starting {prefix}")
    return got


def incomplete_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".incomplete")


def download(url: str, dest: Path, sha256: str | None = None, label: str | None = None) -> Path:
    """Download `url` to `dest` (resuming an earlier partial transfer); returns `dest`.

    The file appears under `dest` only once complete and checked. Raises WeightsError (one line naming the URL)
    when the host is unreachable, the server refuses, the transfer stays short, or a hash does not match.
    """
    from filelock import FileLock

    dest.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(dest) + ".lock"):
        if dest.is_file():  # another process finished it while we waited
            return dest
        final_url, size = _probe(url)
        part = incomplete_path(dest)
        _transfer(final_url, url, part, size, label or dest.name)
        try:
            check_digest(part, url, sha256)
        except WeightsError:
            part.unlink(missing_ok=True)
            raise
        os.chmod(part, 0o644)
        os.replace(part, dest)
    return dest


def _probe(url: str) -> tuple[str, int | None]:
    """(URL after redirects, size in bytes or None) from one HEAD request; WeightsError if the host is unreachable."""
    import httpx2
    from huggingface_hub.utils import get_session

    try:
        r = get_session().head(url, follow_redirects=True, timeout=CONNECT_TIMEOUT_S)
    except (httpx2.TransportError, ConnectionError) as e:
        raise WeightsError(f"cannot reach {url} ({_short(e)})") from None
    if r.status_code in (404, 410):
        raise WeightsError(f"{url} does not exist on its server (HTTP {r.status_code})")
    if r.status_code >= 400 and r.status_code not in (403, 405):  # some hosts refuse HEAD but serve GET
        raise WeightsError(f"{url} answered HTTP {r.status_code}")
    length = r.headers.get("Content-Length")
    size = int(length) if length and length.isdigit() and r.status_code < 400 else None
    return str(r.url), size


def _transfer(url: str, shown_url: str, part: Path, size: int | None, label: str) -> None:
    """Append the missing bytes of `url` to `part` (Range from its current size); check the final size."""
    from huggingface_hub.file_download import http_get

    have = part.stat().st_size if part.is_file() else 0
    if size is not None and have > size:  # not a prefix of this file: start again
        part.unlink()
        have = 0
    try:
        with open(part, "ab") as f:
            http_get(url, f, resume_size=have, expected_size=size, displayed_filename=label)
    except Exception as e:  # the helper raises transport, status and consistency errors of several kinds
        got = part.stat().st_size if part.is_file() else 0
        raise WeightsError(f"download of {shown_url} stopped at {got} of {size if size is not None else '?'} bytes "
                           f"({_short(e)}); run the command again to resume") from None
    if size is not None and part.stat().st_size != size:
        raise WeightsError(f"download of {shown_url} is short ({part.stat().st_size} of {size} bytes); "
                           "run the command again to resume")


def _short(e: BaseException) -> str:
    text = " ".join(str(e).split()) or e.__class__.__name__
    return text[:160]
