"""Probe S5/S6 under an address-space limit: with 2 GiB above what importing torch maps (scripts/address_limit.py;
a plain `ulimit -v 2G` cannot even import the pinned CUDA build of torch, see that script), each hostile input is
refused in one line naming the cause, and the good input of the same run is still classified."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from probes import png_header_only, wav

ROOT = Path(__file__).resolve().parents[2]


def run_limited(gib: float, *args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "address_limit.py"), str(gib), *args],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)


def errors(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("error:")]


@pytest.mark.parametrize("command", ["predict", "generate"])
def test_bomb_image_is_one_line_and_the_good_image_finishes_in_2_gib(tmp_path, command):
    folder = tmp_path / "in"
    folder.mkdir()
    png_header_only(folder / "bomb.png", 20000, 20000)
    Image.new("RGB", (300, 200), (200, 30, 30)).save(folder / "good.png")
    extra = (["--top", "1"] if command == "predict"
             else ["-s", "blocks_1", "--iterations", "3", "--blocks", "1", "-o", str(tmp_path / "run")])
    r = run_limited(2, command, "efficientnet_lite0", str(folder), "--random-weights", *extra, tmp_path=tmp_path)
    assert r.returncode == 2, r.stderr  # partial: one input refused, the other done
    assert "2 GiB above" in r.stderr and "Traceback" not in r.stderr
    (line,) = errors(r.stderr)
    assert "bomb.png" in line and "decompression-bomb" in line and "--max-pixels" in line
    assert "good" in r.stdout
    if command == "generate":
        assert (tmp_path / "run" / "efficientnet_lite0" / "good" / "blocks_1" / "record.json").is_file()


def test_hostile_wav_headers_are_one_line_each_and_the_good_sound_finishes_in_2_gib(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    wav(folder / "midrate.wav", 9_999_991, 20)  # the probe's 84-byte file: 1.49 GiB of resampling filter before
    wav(folder / "hirate.wav", 999_999_937, 20)  # 149 GiB before
    wav(folder / "lying.wav", 20000, 100, declared_frames=10_000_000)
    wav(folder / "good.wav", 20000, 40000)
    r = run_limited(2, "predict", "cochcnn9", str(folder), "--random-weights", "--top", "1", tmp_path=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "out of memory" not in r.stderr
    lines = errors(r.stderr)
    assert len(lines) == 3, r.stderr
    by_file = {name: [ln for ln in lines if f"{name}.wav:" in ln] for name in ("midrate", "hirate", "lying")}
    assert all(len(v) == 1 for v in by_file.values()), lines
    assert "9999991 Hz" in by_file["midrate"][0] and "999999937 Hz" in by_file["hirate"][0]
    assert "truncated" in by_file["lying"][0]
    assert r.stdout.startswith("good:")
