"""Run `metazoo ARGS…` in this process (the real entry point, `metazoo_cli.app.main`, with its one-line errors): much
faster than a subprocess for tests that call several commands."""
from __future__ import annotations

import contextlib
import io
import sys
from dataclasses import dataclass


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def run_main(*args: str) -> Result:
    """Exit code, stdout and stderr of `metazoo ARGS…` run through `metazoo_cli.app.main` (stdout/stderr redirected)."""
    from metazoo_cli.app import main

    out, err = io.StringIO(), io.StringIO()
    argv, sys.argv = sys.argv, ["metazoo", *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv = argv
    return Result(code, out.getvalue(), err.getvalue())
