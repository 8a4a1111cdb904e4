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
    "Models": ["list", "info", "stages", "check", "plugins", "fetch", "predict", "activations", "cochleagram",
               "list-sounds"],
    "Metamers": ["demo", "generate", "null"],
    "Synthesis": ["eigendistort", "mad", "principal-distortions"],
    "Robustness": ["robustness", "train", "ood"],
    "Readouts and profiles": ["readout", "profile"],
    "Comparing invariances": ["recognize", "report", "experiment", "humans", "replicate"],
    "Cluster": ["sweep", "status", "collect"],
}
"""Help-page sections; commands of third-party or new modules not named here go under "Other"."""

for _info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
    importlib.import_module(f"{commands.__name__}.{_info.name}").register(app)
register_commands(app, warn=lambda line: print(line, file=sys.stderr))  # third-party plugins' commands



def _plain_flags(typer_app: typer.Typer) -> None:
    """Show on/off options as flags in help (`--json`), not with a value type (`--json <bool>`): typer prints the
    type of every option unless it has a metavar."""
    import inspect

    for command in typer_app.registered_commands:
        for param in inspect.signature(command.callback).parameters.values():
            info = param.default
            flag = param.annotation in (bool, "bool") and isinstance(info, typer.models.OptionInfo)
            if flag and info.metavar is None:
                info.metavar = ""
    for group in typer_app.registered_groups:
        _plain_flags(group.typer_instance)


_plain_flags(app)
_ORDER = [name for names in PANELS.values() for name in names]
for _command in [*app.registered_commands, *app.registered_groups]:
    _command.rich_help_panel = next((panel for panel, names in PANELS.items() if _command.name in names), "Other")
app.registered_commands.sort(key=lambda c: _ORDER.index(c.name) if c.name in _ORDER else len(_ORDER))


def fail(message: str, code: int = 2) -> None:
    """Print one error line to stderr and exit nonzero."""
    from .console import one_line

    print(f"error: {one_line(message)}", file=sys.stderr)
    raise SystemExit(code)


def _click_error(exc: BaseException) -> str | None:
    """The kind of a click error (typer vendors its own click, so matched by class name): 'help' (the help was
    shown), 'usage', 'abort', 'other', or None for any other exception."""
    names = {c.__name__ for c in type(exc).__mro__}
    if "NoArgsIsHelpError" in names:
        return "help"
    if "UsageError" in names:
        return "usage"
    if "Abort" in names:
        return "abort"
    return "other" if "ClickException" in names else None


def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from metazoo_core.cpus import default_thread_env

    default_thread_env()  # threads follow the CPUs allotted (affinity, cgroup quota, SLURM), not the node's cores
    try:
        code = app(standalone_mode=False)  # errors are ours to print: one line each
    except MetazooError as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except MemoryError as e:
        fail(f"out of memory ({' '.join(str(e).split()) or 'MemoryError'}); free memory, use smaller inputs or "
             "batches, or raise the process's memory limit", 1)
    except Exception as e:
        kind = _click_error(e)
        if kind is None:
            raise
        if kind == "help":
            raise SystemExit(e.exit_code) from None
        if kind == "abort":
            fail("aborted", 1)
        message = " ".join(e.format_message().split())
        ctx = getattr(e, "ctx", None)
        if kind == "usage":  # a mistyped option or argument, e.g. --iterations nan
            message += f" (see `{ctx.command_path if ctx is not None else 'metazoo'} --help`)"
        fail(message, e.exit_code)
    if code == 130:  # typer turns Ctrl-C inside a command into exit code 130
        fail("interrupted", 130)
    raise SystemExit(code or 0)


if __name__ == "__main__":
    main()
