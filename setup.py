"""Package layout: the design card's top-level folders install under metazoo_* names.

`cli/` installs as `metazoo_cli` and `plugins/` as `metazoo_plugins`, so nothing generic (`cli`, `plugins`) is
importable after installation; `metazoo/` (the public Python API, a thin lazy facade) installs as itself. Everything
else lives in pyproject.toml.
"""
from setuptools import find_packages, setup

_RENAMED = {"cli": "metazoo_cli", "plugins": "metazoo_plugins"}


def _packages() -> list[str]:
    found = find_packages(include=["metazoo_core", "metazoo_core.*", "metazoo"])
    for folder, name in _RENAMED.items():
        found += [name + pkg[len(folder):] for pkg in find_packages(include=[folder, folder + ".*"])]
    return found


setup(packages=_packages(), package_dir={name: folder for folder, name in _RENAMED.items()})
