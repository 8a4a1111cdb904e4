"""`pkg://MODULE:CALLABLE` weight sources, run in a child process so the package's code cannot end or fork metazoo.

The rule (issue 27, class 3): MODULE is an allowed package or one of its submodules; CALLABLE is a function the
package itself defines — a module-level function (`get_path`) or a function of a class the package defines
(`ModelFile.get_model_file_path`). No step of the path may be a module (so `pkg://PKG:os.abort` and
`pkg://PKG:inspect.sys.exit` are refused), and every step must be defined in the package under the name used
(so a function the package merely imports, such as `from os import fork`, is refused). The import and the call
happen in a child Python process (`python -P -m metazoo_core.pkgsource MODULE CALLABLE`): `sys.exit`, `os.abort`,
`os._exit` or `os.fork` inside the package's code end or fork that child only, and the parent reports one line.
The child prints one JSON object on its stdout: `{"path": …}`, or `{"refused"|"unavailable"|"failed": message}`.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from contextlib import redirect_stdout
from typing import Any

TIMEOUT_S = 120.0  # the callable returns the path of a file inside an installed package; it does no download


class PkgSourceError(Exception):
    """The source was refused or its callable failed; `kind` is refused | unavailable | failed."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def _in_package(obj: Any, package: str) -> bool:
    owner = getattr(obj, "__module__", None) or ""
    return owner == package or owner.startswith(package + ".")


def find_callable(module: Any, package: str, attr: str) -> Any:
    """The function `attr` (NAME or CLASS.NAME…) of `module`, defined in `package` under that name.

    Raises PkgSourceError('refused') when a step is a module, is not defined in the package, or the end is not a
    Python function (builtins such as os.abort are not)."""
    import inspect

    obj: Any = module
    for depth, part in enumerate(attr.split("."), start=1):
        try:
            obj = inspect.getattr_static(obj, part)
        except AttributeError:
            raise PkgSourceError("unavailable", f"'{module.__name__}' has no attribute '{attr}'") from None
        if isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
        qualname = ".".join(attr.split(".")[:depth])
        if inspect.ismodule(obj) or not _in_package(obj, package) or getattr(obj, "__qualname__", None) != qualname:
            raise PkgSourceError("refused", f"'{qualname}' is not a function or class that package '{package}' "
                                 "defines under that name; name one of its own functions (pkg://MODULE:FUNCTION "
                                 "or pkg://MODULE:CLASS.FUNCTION)")
        if depth < len(attr.split(".")) and not inspect.isclass(obj):
            raise PkgSourceError("refused", f"'{qualname}' is not a class of package '{package}'")
    if not inspect.isfunction(obj):
        raise PkgSourceError("refused", f"'{attr}' is not a function of package '{package}'")
    return obj


def _child(module_name: str, attr: str) -> dict[str, str]:
    import importlib

    try:
        with redirect_stdout(sys.stderr):  # the package's prints must not mix with the answer
            module = importlib.import_module(module_name)
            function = find_callable(module, module_name.split(".")[0], attr)
            value = function()
    except PkgSourceError as e:
        return {e.kind: str(e)}
    except ImportError as e:
        return {"unavailable": f"the Python package module '{module_name}' is not usable ({e})"}
    except BaseException as e:  # noqa: BLE001 — SystemExit/KeyboardInterrupt of package code become one line too
        return {"failed": f"{e.__class__.__name__}: {' '.join(str(e).split())[:120]}"}
    if not isinstance(value, (str, os.PathLike)):
        return {"failed": f"returned {type(value).__name__} {str(value)[:80]!r}, not the path of a weights file"}
    return {"path": os.fspath(value)}


def call_in_child(module_name: str, attr: str, timeout_s: float | None = None) -> str:
    """The path returned by `module_name`'s `attr()`, called in a child process; PkgSourceError otherwise.

    The child answers, then ends; whatever it forked is ended with it (its process group), so a package that
    leaves a process behind neither keeps metazoo waiting nor outlives the call. timeout_s: default TIMEOUT_S."""
    timeout_s = TIMEOUT_S if timeout_s is None else timeout_s
    try:
        # -P: the working directory is not put on sys.path, so a file there cannot stand in for the package
        proc = subprocess.Popen([sys.executable, "-P", "-m", __name__, module_name, attr], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError as e:
        raise PkgSourceError("failed", f"cannot start Python to run the package's code ({e.strerror})") from None
    with proc:
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _end_group(proc.pid)
            proc.wait()
            raise PkgSourceError("failed", f"did not return within {timeout_s:g} s (stopped)") from None
        finally:
            _end_group(proc.pid)  # whatever the package's code forked ends with the child
        answer = _first_answer(_available(proc.stdout.fileno()))
    if answer is None:
        ended = (f"was ended by signal {signal.Signals(-proc.returncode).name}" if proc.returncode < 0
                 else f"ended the process (exit status {proc.returncode}) without returning")
        raise PkgSourceError("failed", f"the package's code {ended}")
    (kind, message), = answer.items()
    if kind != "path":
        raise PkgSourceError(kind, message)
    return message


def _available(fd: int) -> bytes:
    """What the pipe holds now (the child has ended), without waiting for writers that may never close it."""
    os.set_blocking(fd, False)
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _end_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _first_answer(out: bytes) -> dict[str, str] | None:
    for line in out.decode("utf-8", "replace").splitlines():
        try:
            answer = json.loads(line)
        except ValueError:
            continue
        if isinstance(answer, dict) and len(answer) == 1 and \
                next(iter(answer)) in {"path", "refused", "unavailable", "failed"} and \
                isinstance(next(iter(answer.values())), str):
            return answer
    return None


if __name__ == "__main__":
    result = _child(sys.argv[1], sys.argv[2])
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)  # no atexit handlers of the package's code run after the answer
