"""Helpers and fixtures of the regression suite for the reliability probe's findings: the CLI called in-process (Typer's
CliRunner, as `metazoo` would run it: a MetazooError becomes one `error:` line and exit 2) and tiny hostile
inputs written by the tests themselves."""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path



@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if ln.strip()]


def invoke(*args: str, env: dict | None = None) -> Result:
    """`metazoo ARGS…` in this process. Any exception other than a MetazooError fails the test (a traceback)."""
    from typer.testing import CliRunner

    from metazoo_cli.app import app
    from metazoo_core.errors import MetazooError

    result = CliRunner().invoke(app, list(args), env=env)
    exc = result.exception
    if isinstance(exc, MetazooError):
        return Result(2, result.stdout, result.stderr + f"error: {exc}\n")
    if exc is not None and not isinstance(exc, SystemExit):
        raise exc
    return Result(result.exit_code, result.stdout, result.stderr)


def assert_one_line(result: Result, *needles: str) -> str:
    """Nonzero exit, no traceback, and one `error:` line that contains every needle; returns that line."""
    assert result.code != 0, result
    assert "Traceback" not in result.stderr
    errors = [ln for ln in result.lines if ln.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "\n" not in errors[0]
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that declares width × height (8-bit RGB) in its header but holds almost no data: a decompression
    bomb's header, in 60 bytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 16))
                     + _chunk(b"IEND", b""))
    return path


def wav(path: Path, rate: int, n_frames: int, declared_frames: int | None = None, channels: int = 1) -> Path:
    """A 16-bit PCM WAV with `n_frames` of a ramp; its header may declare another rate or length."""
    data = b"".join(struct.pack("<h", (i * 997) % 20000 - 10000) for i in range(n_frames * channels))
    declared = (declared_frames if declared_frames is not None else n_frames) * channels * 2
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * 2, channels * 2, 16)
    path.write_bytes(b"RIFF" + struct.pack("<I", 36 + declared) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
                     + b"data" + struct.pack("<I", declared) + data)
    return path
