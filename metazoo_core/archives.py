"""Checkpoint archives: find members, refuse unsafe ones, and extract every wanted member in one pass.

The study ships its checkpoints in two tar archives whose members are bare file names (the study's
`download_large_files.py` extracts each tar straight into its `pytorch_checkpoints/` folder, see
docs/fidelity.md); whether a tar stores them as `name` or `./name` is not known, so a member is found by its exact
name, by `./name`, or by a unique basename.

Safety (the reliability probe's S1): a member name is refused when it is absolute, contains `..`, or is empty, and
its output path must resolve inside the archive's `members/` folder — all checked before anything is written. Only
regular files are extracted (symbolic links, hard links, devices are refused). Each file is written to a
temporary name and renamed, so nothing partial ever sits under a final name.

Size (issue 27, class 4): the archive's members are indexed header by header, and the index stops with one line
as soon as the members' uncompressed sizes add up past the bound, before any member body is decompressed: the
ceiling `METAZOO_MAX_DOWNLOAD_BYTES` (metazoo_core.download), and for a compressed archive (.tar.gz, .tar.bz2,
.tar.xz) also MAX_EXPANSION times its compressed size. A member is read only up to its declared size.
"""
from __future__ import annotations

import bz2
import gzip
import lzma
import shutil
import tarfile
from pathlib import Path, PurePosixPath
from typing import Iterable

from .download import MAX_BYTES_ENV, max_bytes
from .errors import WeightsError
from .fileio import atomic_path

# metazoo's choice, far above what checkpoints compress by: gzip shrinks the EfficientNet-Lite0 checkpoint
# (18,826,032 bytes of float32) only 1.08×, measured; 100× is the ratio of a decompression bomb, not of weights
MAX_EXPANSION = 100


def safe_member_name(member: str) -> PurePosixPath:
    """`member` as a clean relative path (leading `./` dropped); raises WeightsError when it could escape.

    Refused: empty names, absolute paths (`/x`, `C:\\x`, `\\\\host\\x`), any `..` component, backslashes and NUL.
    """
    text = str(member)
    if not text or "\x00" in text or "\\" in text or (len(text) > 1 and text[1] == ":"):
        raise WeightsError(f"archive member '{member}' is not a plain relative file name; "
                           "name a file inside the archive")
    path = PurePosixPath(text)
    if path.is_absolute() or ".." in path.parts:
        raise WeightsError(f"archive member '{member}' points outside the archive (absolute or '..'); "
                           "name a file inside the archive")
    parts = [p for p in path.parts if p not in ("", ".")]
    if not parts:
        raise WeightsError(f"archive member '{member}' names no file")
    return PurePosixPath(*parts)


def member_path(members_dir: Path, member: str) -> Path:
    """Where `member` is (or will be) extracted: inside `members_dir`, or WeightsError before anything is written."""
    rel = safe_member_name(member)
    root = members_dir.resolve()
    out = (root / rel).resolve()
    if root not in out.parents:
        raise WeightsError(f"archive member '{member}' would land outside the cache ({out}); refusing it")
    return out


def _match(names: dict[str, tarfile.TarInfo], wanted: str) -> tarfile.TarInfo | None:
    """The tar entry for `wanted`: exact name, `./name`, else a unique basename; None when absent or ambiguous."""
    for candidate in (wanted, f"./{wanted}"):
        if candidate in names:
            return names[candidate]
    base = PurePosixPath(wanted).name
    hits = [info for name, info in names.items() if PurePosixPath(name).name == base]
    return hits[0] if len(hits) == 1 else None


def extract_members(archive: Path, wanted: Iterable[str], members_dir: Path, source: str) -> dict[str, Path]:
    """Extract each of `wanted` from the tar `archive` into `members_dir` in one pass over the archive.

    Returns {member name: extracted path} for the members found (already-extracted ones are kept, not rewritten);
    members absent from the archive are simply missing from the result. A truncated or unreadable archive, or a
    wanted member that is not a regular file, raises WeightsError naming `source` (the archive's address).
    """
    targets = {name: member_path(members_dir, name) for name in dict.fromkeys(wanted)}  # all checked first
    todo = {name: out for name, out in targets.items() if not out.is_file()}
    found = {name: out for name, out in targets.items() if out.is_file()}
    if not todo:
        return found
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            index = _bounded_index(tar, archive, source)
            picks: dict[str, str] = {}
            for name in todo:
                info = _match(index, name)
                if info is None:
                    continue
                if not info.isfile():
                    raise WeightsError(f"archive member '{info.name}' in {source} is not a regular file "
                                       f"(a link or device); refusing it")
                picks[info.name] = name
            for info in tar:  # one sequential pass, in archive order
                name = picks.get(info.name)
                if name is None:
                    continue
                src = tar.extractfile(info)
                if src is None:
                    raise WeightsError(f"archive member '{info.name}' in {source} cannot be read")
                with atomic_path(todo[name]) as tmp, open(tmp, "wb") as f:
                    shutil.copyfileobj(src, f, length=1 << 20)
                    if f.tell() != info.size:
                        raise WeightsError(f"archive {source} is truncated inside member '{info.name}'")
                found[name] = todo[name]
    except WeightsError:
        raise
    except (tarfile.TarError, EOFError, OSError) as e:
        text = " ".join(str(e).split())[:160]
        raise WeightsError(f"archive {source} ({archive}) is damaged or truncated ({text}); delete it and fetch "
                           "it again") from None
    return found


def _bounded_index(tar: tarfile.TarFile, archive: Path, source: str) -> dict[str, tarfile.TarInfo]:
    """{name: header} of every member, read header by header; WeightsError once the uncompressed sizes so far pass
    the bound (the member bodies are never decompressed to find out)."""
    limit, why = max_bytes(), f"the ceiling {MAX_BYTES_ENV}"
    hint = f"raise {MAX_BYTES_ENV} only for a trusted archive"
    if isinstance(tar.fileobj, (gzip.GzipFile, bz2.BZ2File, lzma.LZMAFile)):
        expansion = MAX_EXPANSION * archive.stat().st_size
        if expansion < limit:
            limit, why = expansion, f"{MAX_EXPANSION}× its compressed size of {archive.stat().st_size} bytes"
            hint = "a decompression bomb, not a checkpoint archive"
    index, total = {}, 0
    while (info := tar.next()) is not None:
        total += info.size
        if total > limit:
            raise WeightsError(f"archive {source} expands past {limit} bytes ({why}) at member '{info.name}'; "
                               f"refusing it, nothing was extracted ({hint})")
        index[info.name] = info
    return index


def tar_member_names(archive: Path) -> list[str]:
    """Names of the regular files in a tar archive (leading `./` dropped); WeightsError for an unreadable tar or one
    past the size bound."""
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            return [str(PurePosixPath(i.name)) for i in _bounded_index(tar, archive, str(archive)).values()
                    if i.isfile()]
    except (tarfile.TarError, EOFError, OSError) as e:
        raise WeightsError(f"{archive} is not a readable tar archive: damaged or truncated "
                           f"({' '.join(str(e).split())[:160]}); download it again") from None

