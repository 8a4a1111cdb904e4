"""Issue 27, class 4: a compressed-archive bomb and an over-long download stop at their bound with one line and
nothing left behind (the bomb is generated as a stream, so the test never holds or writes its expanded size)."""
from __future__ import annotations

import io
import json
import tarfile
import zipfile
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from probes import assert_one_line, invoke

BOMB_BYTES = 256 * 2**20  # 256 MiB of zeros in one member; its .tar.gz is about 1.1 MiB


class _Zeros(io.RawIOBase):
    """`n` zero bytes as a readable stream (the member's content, never held in memory at once)."""

    def __init__(self, n: int):
        self.left = n

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        k = min(len(buffer), self.left)
        buffer[:k] = bytes(k)
        self.left -= k
        return k


def _bomb(path: Path, member: str = "syn_a_checkpoint.pth") -> Path:
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo(member)
        info.size = BOMB_BYTES
        tar.addfile(info, io.BufferedReader(_Zeros(BOMB_BYTES), buffer_size=1 << 20))
    return path


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_a_compressed_archive_bomb_is_refused_before_anything_is_extracted(tmp_path):
    bomb = _bomb(tmp_path / "study.tar.gz")
    assert bomb.stat().st_size < BOMB_BYTES // 100
    cache = tmp_path / "cache"
    r = invoke("fetch", "--archive", str(bomb), env={"METAZOO_CACHE": str(cache)})
    assert_one_line(r, "study.tar.gz", "expands past", "100× its compressed size", "nothing was extracted")
    assert _files(cache) == []


def test_archive_members_are_bounded_by_the_configured_ceiling_too(tmp_path, monkeypatch):
    from metazoo_core.archives import extract_members
    from metazoo_core.errors import WeightsError

    plain = tmp_path / "study.tar"  # uncompressed: only the ceiling applies
    with tarfile.open(plain, "w") as tar:
        info = tarfile.TarInfo("big.pth")
        info.size = 300_000
        tar.addfile(info, io.BytesIO(bytes(300_000)))
    monkeypatch.setenv("METAZOO_MAX_DOWNLOAD_BYTES", "100000")
    with pytest.raises(WeightsError, match="expands past 100000 bytes .the ceiling METAZOO_MAX_DOWNLOAD_BYTES"):
        extract_members(plain, ["big.pth"], tmp_path / "members", "study.tar")
    assert _files(tmp_path / "members") == []
    monkeypatch.setenv("METAZOO_MAX_DOWNLOAD_BYTES", "400000")
    assert extract_members(plain, ["big.pth"], tmp_path / "members", "study.tar")["big.pth"].stat().st_size == 300_000
    monkeypatch.setenv("METAZOO_MAX_DOWNLOAD_BYTES", "lots")
    r = invoke("fetch", "--archive", str(plain), env={"METAZOO_CACHE": str(tmp_path / "c2")})
    assert_one_line(r, "METAZOO_MAX_DOWNLOAD_BYTES='lots'", "positive whole number")


def test_a_zip_is_not_taken_for_a_checkpoint_archive(tmp_path):
    """`fetch --archive` reads tar archives (the study ships tars; any compression); a .zip is one line."""
    path = tmp_path / "study.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("syn_a_checkpoint.pth", bytes(10_000_000))
    cache = tmp_path / "cache"
    assert_one_line(invoke("fetch", "--archive", str(path), env={"METAZOO_CACHE": str(cache)}), "study.zip",
                    "not a readable tar archive")
    assert _files(cache) == []


@contextmanager
def _endless(declared: int | None):
    """A loopback host whose HEAD declares `declared` bytes (or no length) and whose GET streams zeros without a
    length until the client hangs up (or 64 MiB); yields (url, {'sent': bytes sent})."""
    sent = {"sent": 0}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_HEAD(self):
            self.send_response(200)
            if declared is not None:
                self.send_header("Content-Length", str(declared))
            self.end_headers()

        def do_GET(self):
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            chunk = bytes(64 * 1024)
            try:
                while sent["sent"] < 64 * 2**20:
                    self.wfile.write(chunk)
                    sent["sent"] += len(chunk)
            except OSError:
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/w.safetensors", sent
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("declared, ceiling, verified, needle", [
    (1000, None, None, "went past 1000 bytes, the length the server declared"),
    (None, "5000", None, "went past 5000 bytes, the ceiling METAZOO_MAX_DOWNLOAD_BYTES"),
    (None, None, 700, "went past 700 bytes, the size of the sha256-verified earlier copy"),
])
def test_an_over_long_download_stops_at_its_bound(tmp_path, monkeypatch, declared, ceiling, verified, needle):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)  # read once, when first imported
    cache = tmp_path / "cache"
    with _endless(declared) as (url, sent):
        if verified is not None:  # an earlier copy was recorded in the lockfile, then deleted from the cache
            cache.mkdir()
            (cache / "weights.lock.json").write_text(json.dumps(
                {"efficientnet_lite0": {url: {"sha256": "0" * 64, "size": verified}}}))
        cfg = tmp_path / "weights.yaml"
        cfg.write_text(yaml.safe_dump({"efficientnet_lite0": url}))
        env = {"METAZOO_CACHE": str(cache), "METAZOO_WEIGHTS_CONFIG": str(cfg), "HF_HUB_OFFLINE": "0",
               "HF_HUB_DISABLE_PROGRESS_BARS": "1", "METAZOO_MAX_DOWNLOAD_BYTES": ceiling}
        r = invoke("fetch", "efficientnet_lite0", env=env)
    assert_one_line(r, "efficientnet_lite0", url, needle, "removed the partial file")
    assert sent["sent"] < 64 * 2**20  # the client hung up long before the server's own stop
    assert [f for f in _files(cache) if not f.endswith(".lock") and f != "weights.lock.json"] == []
