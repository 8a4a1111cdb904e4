"""Probe S2/S3 and rep-htmlnames: a report of a shared run folder shows every record value as text (no script
runs in Chromium), embeds media only from inside the run folder, and survives "$" in input names."""
from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from metazoo_core.report import build_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MARK = "pwned"
XSS = f"<img src=x onerror=\"document.body.setAttribute('data-{MARK}','1')\">"
SCRIPT = f"<script>document.body.setAttribute('data-{MARK}','2')</script>"
ODD_NAME = "x\"'><b>é漢字 $\\bad$ b"
SECRET = b"TOP-SECRET-CONTENT-0123456789"


def _record(name: str, stage: str, metamer: str, original: str, **extra) -> dict:
    return {"schema": "metazoo.metamer/1", "model": "efficientnet_lite0", "family": "efficientnet",
            "modality": "vision", "stage": stage, "input": {"name": name, "source": name},
            "recipe": {"name": SCRIPT, "iterations": 3, "blocks": 1}, "seed": 0,
            "loss_curve": [[0, 1.0], [1, 0.5], [2, 0.25]],
            "measures": {stage: {"spearman": 0.9, "pearson": 0.8, "snr_db": 5.0}},
            "passed": None, "prediction": {"original": SCRIPT, "metamer": XSS, "match": False},
            "files": {"metamer": metamer, "original": original}, **extra}


def _png(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((32, 32, 3), value, np.uint8)).save(path)


@pytest.fixture
def hostile_run(tmp_path) -> Path:
    """A run folder as a colleague might share it: odd input names, scripts in fields, records naming files
    outside the run."""
    root = tmp_path / "shared" / "run"
    secret = tmp_path / "secret.png"  # a .png outside the run: the suffix alone must not let it in
    secret.write_bytes(SECRET)
    (tmp_path / "secret2.txt").write_bytes(SECRET)
    folder = root / "efficientnet_lite0" / "odd"
    _png(folder / "original.png", 40)
    _png(folder / "blocks_1" / "metamer.png", 200)
    (folder / "blocks_1" / "record.json").write_text(json.dumps(
        _record(ODD_NAME, "blocks_1", "metamer.png", "../original.png")), encoding="utf-8")
    for stage, metamer, original in (("blocks_3", str(secret), "../original.png"),
                                     ("head", "metamer.png", "../../../../secret2.txt"),
                                     ("final", "metamer.png", "../../../../secret.png")):
        _png(folder / stage / "metamer.png", 100)
        (folder / stage / "record.json").write_text(json.dumps(_record(ODD_NAME, stage, metamer, original)))
    bad = root / "efficientnet_lite0" / "bad" / "blocks_1"
    _png(bad / "metamer.png", 1)
    _png(bad.parent / "original.png", 1)
    (bad / "record.json").write_text(json.dumps({**_record("bad", "blocks_1", "metamer.png", "../original.png"),
                                                 "modality": XSS}))
    rec = root / "recognition"
    rec.mkdir()
    (rec / "recognition.json").write_text(json.dumps({"table": [
        {"generator": XSS, "stage": "blocks_1", "recogniser": SCRIPT, "n": XSS, "accuracy": SCRIPT, "sem": 0.1}]}))
    return root


def test_report_escapes_values_and_refuses_outside_media(hostile_run, tmp_path):
    out = tmp_path / "out" / "report.html"
    page, warnings = build_report(hostile_run, out, figures=tmp_path / "figs")
    text = page.read_text(encoding="utf-8")
    # every hostile value is text, never markup
    assert "<script>" not in text and "<img src=x" not in text and "onerror=\"" not in text
    assert "&lt;script&gt;" in text and "é漢字" in text
    # no byte of the files outside the run, in any encoding
    for blob in (SECRET, base64.b64encode(SECRET)):
        assert blob.decode() not in text
    assert sum("outside the run folder" in w for w in warnings) == 3
    assert any("'modality'" in w for w in warnings)
    assert sorted(p.name for p in (tmp_path / "figs").iterdir())  # figures written inside their folder only
    assert not list(tmp_path.glob("*-loss.png")) and not list(hostile_run.parent.glob("*.png"))


def test_linked_media_refuse_outside_files_too(hostile_run, tmp_path):
    page, _ = build_report(hostile_run, tmp_path / "linked.html", link_media=True)
    import re

    sources = re.findall(r'src="([^"]*)"', page.read_text(encoding="utf-8"))
    assert sources and not [s for s in sources if "secret" in s or s.startswith("..%2F..")]


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (CI installs it)")
def test_no_script_runs_in_chromium(hostile_run, tmp_path):
    page, _ = build_report(hostile_run, tmp_path / "report.html")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
             "--disable-component-update", "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}"]
    r = subprocess.run([CHROMIUM, *flags, "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
                       capture_output=True, text=True, timeout=120)
    dom = r.stdout
    assert "<body" in dom, r.stderr[-2000:]
    assert f"data-{MARK}" not in dom.split("<body", 1)[1].split(">", 1)[0]
    assert "<script>" not in dom and "&lt;script&gt;" in dom  # shown as text
    assert "é漢字" in dom
