"""A venv with exactly the base install of metazoo (`pip install -e .`, what `make demo` installs), built from the
test venv without downloading anything: `python -m venv`, then a site-packages of symlinks to the files of the
distributions in metazoo's base dependency closure (its `Requires-Dist` without extras, recursively, markers
evaluated here), the editable metazoo among them, and a `metazoo` console script. Nothing of an extra (submitit,
pandas, pytest, …) is linked unless a base dependency needs it.
"""
from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from collections import defaultdict
from importlib.metadata import Distribution, distribution, distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def base_closure(root: str = "metazoo") -> dict[str, Distribution]:
    """{canonical name: Distribution} of `root` and everything its requirements without extras pull in."""
    found: dict[str, Distribution] = {}
    todo = [(root, frozenset())]
    while todo:
        name, extras = todo.pop()
        key = canonicalize_name(name)
        if key in found:
            continue
        dist = distribution(name)
        found[key] = dist
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in (extras or {""})):
                todo.append((req.name, frozenset(req.extras)))
    return found


def _owners(site: Path) -> dict[tuple[str, ...], set[str]]:
    """Each file of each distribution installed in `site` (as path parts) → the distributions whose RECORD lists it."""
    owners: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for dist in distributions(path=[str(site)]):
        for f in dist.files or []:
            if not str(f).startswith(".."):
                owners[Path(f).parts].add(canonicalize_name(dist.metadata["Name"]))
    return owners


def _link(src: Path, dst: Path, files: dict[tuple[str, ...], set[str]], keep: set[str], depth: int = 0) -> None:
    """Symlink each entry of `src` whose files all belong to kept distributions; recurse into entries shared with
    distributions that are not kept (e.g. the `nvidia` namespace, the top-level `__pycache__`)."""
    by_name: dict[str, dict[tuple[str, ...], set[str]]] = defaultdict(dict)
    for parts, who in files.items():
        by_name[parts[depth]][parts] = who
    for name, sub in by_name.items():
        who = set().union(*sub.values())
        if not who & keep:
            continue
        if who <= keep or all(len(p) == depth + 1 for p in sub):
            if (src / name).exists():
                (dst / name).symlink_to(src / name)
        else:
            (dst / name).mkdir()
            _link(src / name, dst / name, {p: w for p, w in sub.items() if len(p) > depth + 1}, keep, depth + 1)


def build(dest: Path) -> Path:
    """Create the base venv at `dest`; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(dest)], check=True)
    site = Path(sysconfig.get_paths()["purelib"])
    rel = site.relative_to(sys.prefix)
    new_site = dest / rel
    keep = set(base_closure())
    _link(site, new_site, _owners(site), keep)
    python = dest / "bin" / "python"
    script = dest / "bin" / "metazoo"
    script.write_text(f"#!{python}\nimport sys\nfrom metazoo_cli.app import main\nsys.exit(main())\n")
    os.chmod(script, 0o755)
    return python


def closure_bytes() -> int:
    """Bytes on disk of the base closure's files (what `make demo` installs into .venv, without pip itself)."""
    total = 0
    for dist in base_closure().values():
        for f in dist.files or []:
            p = Path(dist.locate_file(f))
            if p.is_file() and not p.is_symlink():
                total += p.stat().st_size
    return total
