"""Process helpers shared by the local generate workers and the sweep's local jobs (standard library only, so that
the base install can start workers without the `cluster` extra)."""
from __future__ import annotations

import os
import sys

PR_SET_PDEATHSIG = 1
"""prctl(2) option: the signal this process gets when its parent thread ends (Linux)."""


def die_with_parent() -> None:
    """Make this worker process end when its parent (the command, or submitit's job wrapper whose PID the sweep
    prints as the job id) ends, even by SIGKILL: otherwise the worker lives on as an orphan, holding its unit's lock
    and the CPU. A sweep then breaks the lock as a lost worker's (the unit counts one failed attempt and is retried).
    Linux only; elsewhere a no-op."""
    import ctypes
    import signal

    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # no prctl in this libc: keep the old behaviour
        return
    if os.getppid() != parent:  # the parent ended before prctl took effect
        os._exit(1)
