"""Resumable downloads of large files over HTTP(S), with a progress bar and no partial file under a final name.

Requests go through huggingface_hub's shared HTTP client (`get_session`: its user agent, proxies and the
HF_HUB_OFFLINE guard) and its tqdm progress bar (size and rate; HF_HUB_DISABLE_PROGRESS_BARS hides it). The
transfer loop is ours, for what a multi-gigabyte archive needs (docs/architecture.md, "Downloads"):

- one quick reachability check (a HEAD request, no retries), so an unreachable host fails at once;
- bytes written as they arrive to `DEST.incomplete`; a dropped connection, or a run interrupted earlier,
  resumes from that file's size with an HTTP `Range` request instead of starting again;
- a per-destination file lock, so two processes on one machine download a file once;
- size, sha256 and torch-hub hash-prefix checks before the final rename (a bad file is deleted, never kept);
- a size bound (issue 27, class 4): the transfer stops, and its partial file is deleted, as soon as it passes the
  smallest of the expected size (the lockfile's sha256-verified size of an earlier copy), the server's declared
  length (HEAD or GET Content-Length) and the ceiling `METAZOO_MAX_DOWNLOAD_BYTES` (default 16 GiB: metazoo's
  choice, above the largest file the registry names, the study's ~9.4 GB audio archive).
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from urllib.parse import urlparse

from .errors import WeightsError

CONNECT_TIMEOUT_S = 10.0
MAX_BYTES_ENV = "METAZOO_MAX_DOWNLOAD_BYTES"
DEFAULT_MAX_BYTES = 16 * 2**30  # metazoo's choice: above the study's ~9.4 GB audio archive (registry.yaml)
MAX_STALLED_TRIES = 3
_TORCH_HUB_HASH = re.compile(r"-([a-f0-9]{8,64})\.[A-Za-z.]+$")
_TORCH_HUB_HOSTS = {"download.pytorch.org"}


_DIGESTS: dict[tuple[str, int, int, int], str] = {}


def sha256_file(path: Path | str, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks (remembered per path, inode, size and mtime within a process,
    so a checkpoint checked against the lockfile is not hashed again when it loads)."""
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_ino, st.st_size, st.st_mtime_ns)
    if key in _DIGESTS:
        return _DIGESTS[key]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


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


def check_digest(path: Path, url: str, sha256: str | None, sha256_prefix: str | None = None) -> str:
    """sha256 of `path`, checked against `sha256`, the registry's `sha256_prefix` and the URL's published prefix;
    WeightsError on a mismatch."""
    got = sha256_file(path)
    if sha256 and got != sha256.lower():
        raise WeightsError(f"sha256 mismatch for {url}: expected {sha256}, got {got}; the file was not kept: "
                           "fix the sha256 in the registry entry or weights config if the file is right")
    for prefix, who in ((sha256_prefix, "its publisher gives"), (published_hash_prefix(url), "its file name promises")):
        if prefix and not got.startswith(prefix):
            raise WeightsError(f"sha256 of {url} is {got}, but {who} a hash starting {prefix}; the file was not "
                               "kept: fetch it again, or pass a trusted copy with --weights PATH")
    return got


def max_bytes() -> int:
    """The ceiling on any one download or extracted archive member, in bytes (METAZOO_MAX_DOWNLOAD_BYTES)."""
    text = os.environ.get(MAX_BYTES_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_BYTES
    if not text.isdigit() or int(text) == 0:
        raise WeightsError(f"{MAX_BYTES_ENV}={text!r} is not a positive whole number of bytes; set it to one "
                           f"(e.g. {DEFAULT_MAX_BYTES}) or unset it")
    return int(text)


def incomplete_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".incomplete")


def download(url: str, dest: Path, sha256: str | None = None, label: str | None = None,
             sha256_prefix: str | None = None, expected_size: int | None = None) -> Path:
    """Download `url` to `dest` (resuming an earlier partial transfer); returns `dest`.

    `expected_size`: the file's size in bytes when known (a sha256-verified earlier copy). The file appears under
    `dest` only once complete and checked. Raises WeightsError (one line naming the URL) when the host is
    unreachable, the server refuses, the transfer stays short or runs past its bound, or a hash does not match.
    """
    ceiling = max_bytes()
    from filelock import FileLock

    dest.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(dest) + ".lock"):
        if dest.is_file():  # another process finished it while we waited
            return dest
        final_url, size = _probe(url)
        bound = _Bound.of(ceiling, expected_size, size)
        part = incomplete_path(dest)
        try:
            _transfer(final_url, url, part, size, label or dest.name, bound)
        except _TooLong as e:
            part.unlink(missing_ok=True)
            hint = (f"raise {MAX_BYTES_ENV} only if the file is known to be larger" if e.bound.why.startswith(
                "the ceiling") else "the host sends more than expected: download the file yourself and pass it "
                "with --weights PATH")
            raise WeightsError(f"download of {url} went past {e.bound.limit} bytes, {e.bound.why}; stopped and "
                               f"removed the partial file ({hint})") from None
        try:
            check_digest(part, url, sha256, sha256_prefix)
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


class _Bound:
    """The most bytes a transfer may bring, and why (for the one line when it is passed)."""

    def __init__(self, limit: int, why: str):
        self.limit, self.why = limit, why

    @classmethod
    def of(cls, ceiling: int, expected: int | None, declared: int | None) -> "_Bound":
        bound = cls(ceiling, f"the ceiling {MAX_BYTES_ENV}")
        for value, why in ((expected, "the size of the sha256-verified earlier copy"),
                           (declared, "the length the server declared")):
            if value is not None and value < bound.limit:
                bound = cls(value, why)
        return bound

    def tighter(self, declared: int | None) -> "_Bound":
        return self.of(self.limit, None, declared) if declared is not None and declared < self.limit else self


class _TooLong(Exception):
    def __init__(self, bound: _Bound):
        super().__init__(bound.limit)
        self.bound = bound


def _declared_total(r, have: int) -> int | None:
    """The whole file's length a GET response declares (Content-Length of a 200, or of a 206 plus its offset)."""
    length = r.headers.get("Content-Length", "")
    if not length.isdigit():
        return None
    return int(length) + (have if r.status_code == 206 else 0)


def _transfer(url: str, shown_url: str, part: Path, size: int | None, label: str, bound: _Bound) -> None:
    """Append the missing bytes of `url` to `part`, asking with `Range: bytes=N-` from its current size.

    A connection that drops mid-transfer is retried (from the new size) as long as each try brings new bytes, at
    most MAX_STALLED_TRIES times in a row without progress. A server that ignores Range (answers 200) restarts the
    file. Raises WeightsError when the file stays short, _TooLong as soon as it would pass `bound` (or a smaller
    length the GET declares).
    """
    import httpx2
    from huggingface_hub.utils import get_session, tqdm

    if part.is_file() and part.stat().st_size > bound.limit:  # not a prefix of this file
        part.unlink()
    stalled, last_error = 0, ""
    have = part.stat().st_size if part.is_file() else 0
    with tqdm(total=size, initial=have, unit="B", unit_scale=True, unit_divisor=1024, desc=label) as bar:
        while size is None or have < size:
            headers = {"Range": f"bytes={have}-"} if have else {}
            before = have
            try:
                with get_session().stream("GET", url, headers=headers, follow_redirects=True,
                                          timeout=httpx2.Timeout(CONNECT_TIMEOUT_S, read=60.0)) as r:
                    if r.status_code not in (200, 206):
                        raise WeightsError(f"download of {shown_url} failed: HTTP {r.status_code}")
                    mode = "ab" if r.status_code == 206 else "wb"
                    if mode == "wb" and have:
                        bar.update(-have)
                        have = 0
                    limit = bound.tighter(_declared_total(r, have))
                    with open(part, mode) as f:
                        for chunk in r.iter_bytes():
                            if have + len(chunk) > limit.limit:
                                raise _TooLong(limit)
                            f.write(chunk)
                            have += len(chunk)
                            bar.update(len(chunk))
                if size is None:
                    break
            except httpx2.TransportError as e:
                last_error = _short(e)
            stalled = stalled + 1 if have == before else 0
            if stalled >= MAX_STALLED_TRIES:
                break
    if size is not None and have != size:
        raise WeightsError(f"download of {shown_url} stopped at {have} of {size} bytes ({last_error or 'short'}); "
                           "run the command again to resume")


def _short(e: BaseException) -> str:
    text = " ".join(str(e).split()) or e.__class__.__name__
    return text[:160]
