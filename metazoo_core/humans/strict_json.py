"""JSON from browsers, files and the response store, parsed so that what is accepted can always be written back
as standard JSON: no NaN/Infinity (Python's json accepts them, a JSON response cannot carry them), every number
finite and within ±MAX_NUMBER, nesting at most `max_depth` deep (checked before parsing, so a deeply nested
document cannot exhaust the parser's recursion).
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np

from ..errors import InputError

MAX_NUMBER = 2.0**53
"""Largest magnitude accepted for a number: the largest integer a browser's (IEEE double) number holds exactly."""

MAX_DEPTH = 8
"""Deepest nesting of arrays/objects accepted in a trial record (the page's download is 4 deep)."""

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)


class _Refused(ValueError):
    pass


class NotJson(InputError):
    """Text that is not one JSON document."""


class RefusedValue(InputError):
    """Valid JSON whose content is refused: nested too deep, NaN/Infinity, a number out of range."""


def _constant(name: str) -> float:
    raise _Refused(f"{name} is not a JSON number")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or abs(value) > MAX_NUMBER:
        raise _Refused(f"number {text[:30]} is outside ±2^53")
    return value


def _int(text: str) -> int:
    if len(text.lstrip("-")) > 16 or abs(int(text)) > MAX_NUMBER:
        raise _Refused(f"number {text[:30]} is outside ±2^53")
    return int(text)


def depth(text: str) -> int:
    """Deepest nesting of `[`/`{` outside strings (0 for a scalar)."""
    codes = np.frombuffer(_STRING.sub('""', text).encode("utf-8"), dtype=np.uint8)
    steps = np.isin(codes, (0x5B, 0x7B)).astype(np.int64) - np.isin(codes, (0x5D, 0x7D))
    return int(np.cumsum(steps).max(initial=0))


def loads(data: str | bytes, where: str, max_depth: int = MAX_DEPTH) -> Any:
    """Parse one JSON document; one line (InputError) naming `where` when it is not UTF-8, not JSON, nested deeper
    than max_depth, or holds NaN/Infinity or a number outside ±MAX_NUMBER."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as e:
        raise InputError(f"{where} is not UTF-8 text (byte {e.start}); save it as UTF-8 JSON") from None
    if depth(text) > max_depth:
        raise RefusedValue(f"{where}: JSON nested deeper than {max_depth} levels is refused "
                           "(the page's download is 4 deep)")
    try:
        return json.loads(text, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except _Refused as e:
        raise RefusedValue(f"{where}: {e}; only finite numbers are accepted") from None
    except ValueError as e:
        raise NotJson(f"{where} is not valid JSON ({e})") from None
