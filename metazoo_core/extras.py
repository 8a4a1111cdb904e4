"""Optional dependencies: which extra of pyproject.toml a command needs, and the one line that says how to install it.

The base install (`make demo`, `pip install -e .`) runs every command except these (README, "Extras"):
`cluster` (submitit) for `sweep`/`profile` with `--executor local|slurm`; `analysis` (pandas, pyarrow, pingouin,
statsmodels, scikit-learn) for `collect` and `replicate`.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from .errors import MetazooError


def checkout() -> Path | None:
    """The source checkout metazoo is installed from (an editable install: `pyproject.toml` beside the package),
    or None for an install from a wheel."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() and (root / "metazoo_core").is_dir() else None


def install_command(extra: str) -> str:
    """How to install `extra`: from the checkout when metazoo runs from one (`pip install -e '.[extra]'` there),
    otherwise from the package index."""
    root = checkout()
    if root is not None:
        return f"pip install -e '.[{extra}]' (in {root}, with its venv active)"
    return f"pip install 'metazoo[{extra}]'"


def missing(modules: list[str]) -> list[str]:
    """The modules of `modules` that are not importable here (found without importing them)."""
    return [m for m in modules if importlib.util.find_spec(m) is None]


def require(modules: str | list[str], extra: str, what: str) -> None:
    """One clear line (MetazooError) instead of an ImportError when `what` needs modules of `extra` that are not
    installed."""
    absent = missing([modules] if isinstance(modules, str) else list(modules))
    if absent:
        raise MetazooError(f"{what} needs the Python package{'s' if len(absent) > 1 else ''} {', '.join(absent)} "
                           f"(the '{extra}' extra); install it with {install_command(extra)}")
