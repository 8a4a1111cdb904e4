"""Notices (a greyscale photo made RGB, a loose null, a recogniser that cannot load) as Python warnings, attributed
to the user's line that called the facade rather than to a line inside it."""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

_PACKAGE = str(Path(__file__).resolve().parent)


def notice(line: str) -> None:
    """Warn with `line` (UserWarning), attributed to the first caller outside the metazoo package."""
    level, frame = 2, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        level, frame = level + 1, frame.f_back
    warnings.warn(line, stacklevel=level)
