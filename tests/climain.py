"""Run `metazoo ARGS…` in this process (the real entry point, `cli.app.main`, with its one-line errors): much
faster than a subprocess for tests that call several commands."""
from __future__ import annotations

import sys
from dataclasses import dataclass


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def run_main(capsys, *args: str) -> Result:
    """Exit code, stdout and stderr of `metazoo ARGS…` run through `cli.app.main` (capsys: pytest's fixture)."""
    from cli.app import main

    capsys.readouterr()
    argv, sys.argv = sys.argv, ["metazoo", *args]
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv = argv
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)
