"""The Typer app. Commands live in `metazoo_cli.commands.*`, one module per topic, each exposing
`register(app)`; they are discovered here and must not import torch at module import (so that
`metazoo --help` and `metazoo list` stay fast). Plugins add theirs through the `metazoo_register_commands` hook.
"""
from __future__ import annotations

import importlib
import os
import pkgutil
import sys

import typer

from metazoo_core.errors import MetazooError
from metazoo_core.plugins import register_commands

from . import commands

app = typer.Typer(
    name="metazoo",
    help="Model metamers, robustness and invariance comparisons over a registry of vision and audio models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

@app.callback()
def _options(
    max_pixels: int = typer.Option(None, "--max-pixels", min=1024,
                                   help="largest image accepted, in pixels (width × height; default 50000000): a "
                                   "decompression-bomb guard checked before an image is decoded"),
) -> None:
    """Model metamers, robustness and invariance comparisons over a registry of vision and audio models."""
    if max_pixels is not None:
        os.environ["METAZOO_MAX_PIXELS"] = str(max_pixels)  # read by metazoo_core.io.images (and sweep workers)


PANELS = {
    "Models": ["list", "info", "plugins", "fetch", "predict", "activations", "cochleagram"],
    "Metamers": ["demo", "generate", "null"],
    "Robustness": ["robustness", "train", "ood"],
    "Readouts and profiles": ["readout", "profile"],
    "Comparing invariances": ["recognize", "report", "experiment", "humans", "replicate"],
    "Cluster": ["sweep", "status", "collect"],
}
"""Help-page sections; commands of third-party or new modules not named here go under "Other"."""

for _info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
    importlib.import_module(f"{commands.__name__}.{_info.name}").register(app)
register_commands(app, warn=lambda line: print(line, file=sys.stderr))  # third-party plugins' commands

_ORDER = [name for names in PANELS.values() for name in names]
for _command in [*app.registered_commands, *app.registered_groups]:
    _command.rich_help_panel = next((panel for panel, names in PANELS.items() if _command.name in names), "Other")
app.registered_commands.sort(key=lambda c: _ORDER.index(c.name) if c.name in _ORDER else len(_ORDER))


def fail(message: str, code: int = 2) -> None:
    """Print one error line to stderr and exit nonzero."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        app()
    except MetazooError as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail("interrupted", 130)


if __name__ == "__main__":
    main()
