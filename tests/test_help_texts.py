"""Issue 26, problem 18: every option of every command has a help text, on/off options print as flags (no `<bool>`),
and a short flag means the same long option in every command that has it."""
from collections import defaultdict

import typer

from climain import run_main


def _commands():
    """(path, click command) of every command, sub-commands of groups (humans, replicate) included."""
    # --help is click's own option (its text is click's); every other option is metazoo's
    from metazoo_cli.app import app

    root = typer.main.get_command(app)
    todo = [("metazoo", root)]
    while todo:
        path, cmd = todo.pop()
        if hasattr(cmd, "commands"):  # a group (typer vendors its own click: no isinstance)
            todo.extend((f"{path} {name}", sub) for name, sub in cmd.commands.items())
        else:
            yield path, cmd


def test_every_option_has_help_text():
    undescribed = [f"{path} {'/'.join(p.opts)}" for path, cmd in _commands() for p in cmd.params
                   if p.param_type_name == "option" and not (p.help or "").strip()]
    assert undescribed == []


def test_a_short_flag_has_one_meaning():
    meanings = defaultdict(set)
    for _path, cmd in _commands():
        for p in cmd.params:
            if p.param_type_name == "option":
                longs = [o for o in p.opts if o.startswith("--")]
                for short in (o for o in p.opts if not o.startswith("--")):
                    meanings[short].add(longs[0])
    assert {s: m for s, m in meanings.items() if len(m) > 1} == {}


def test_help_pages_show_flags_without_a_type():
    """`--help` itself is typer's own option: typer 0.29.2 prints it as `--help <bool>` (not metazoo's to change)."""
    for args in (["robustness", "--help"], ["humans", "collect", "--help"], ["list", "--help"]):
        res = run_main(*args)
        ours = [ln for ln in res.stdout.splitlines() if "--help" not in ln]
        assert res.code == 0 and "--json" in res.stdout and not any("<bool>" in ln for ln in ours), res.stdout
