"""Issue 27, class 5: one malformed record under `profile --runs` gave a traceback for the whole profile. Each is
now skipped with one line naming the file, and the well-formed records are still used; a one-class readout
(top-1 = 1 by construction, class 6) is skipped the same way."""
from __future__ import annotations

import json

from probes import invoke

GOOD = {"schema": "metazoo.readout/1", "model": "efficientnet_lite0", "stage": "final", "top1": 0.5, "top5": None,
        "n_classes": 3, "completed": "2026-01-01T00:00:00Z"}


def test_malformed_records_are_skipped_with_a_line_and_the_rest_used(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    bad = {
        "top1_text.json": {**GOOD, "stage": "blocks_6", "top1": "high"},
        "one_class.json": {**GOOD, "stage": "blocks_5", "top1": 1.0, "n_classes": 1},
        "results_text.json": {"schema": "metazoo.robustness/1", "model": "efficientnet_lite0", "norm": "linf",
                              "results": [{"eps": "x", "mean": 0.5}]},
        "sets_list.json": {"schema": "metazoo.ood/1", "model": "efficientnet_lite0", "benchmark": "model-vs-human",
                           "sets": {"edge": [1, 2]}},
        "no_model.json": {**GOOD, "model": 7},
        "when_number.json": {**GOOD, "stage": "blocks_4", "completed": 12},
    }
    for name, rec in bad.items():
        (runs / name).write_text(json.dumps(rec))
    (runs / "good.json").write_text(json.dumps(GOOD))
    r = invoke("profile", "efficientnet_lite0", "--runs", str(runs), "--no-fill", "--out", str(tmp_path / "out"),
               "--store", str(tmp_path / "store"))
    assert r.code == 0, r.stderr
    assert "Traceback" not in r.stderr
    skipped = [ln for ln in r.stderr.splitlines() if ln.startswith("skipped ")]
    assert sorted(ln.split(" record ")[1].split(":")[0].rsplit("/", 1)[1] for ln in skipped) == sorted(
        set(bad) - {"when_number.json"}), r.stderr
    assert any("needs at least 2" in ln for ln in skipped)
    profile = json.loads((tmp_path / "out" / "profile.json").read_text())["profiles"]["efficientnet_lite0"]
    assert profile["readout"] == {"blocks_4": {"top1": 0.5, "top5": None}, "final": {"top1": 0.5, "top5": None}}
    assert profile["robustness"] == {}
