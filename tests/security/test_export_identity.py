"""Issue 27, class 6: `export` and `push` check which model a folder holds, so a Hub mirror never serves one
model's weights under another's name. Every refusal comes before any upload (the Hub is offline here) and leaves
the folder as it was."""
from __future__ import annotations

import json

import pytest
from probes import assert_one_line, invoke


@pytest.fixture(scope="module")
def lite0_export(tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "lite0"
    r = invoke("export", "efficientnet_lite0", "--out", str(out))
    assert r.code == 0, r.stderr
    return out


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_push_refuses_another_models_folder_and_a_repo_named_after_another_model(lite0_export):
    before = _snapshot(lite0_export)
    assert_one_line(invoke("push", "efficientnet_lite1", "--repo", "lab/efficientnet_lite1", "--from",
                           str(lite0_export)), "holds the export of 'efficientnet_lite0', not 'efficientnet_lite1'")
    assert_one_line(invoke("push", "efficientnet_lite0", "--repo", "lab/efficientnet_lite1", "--from",
                           str(lite0_export)), "named after the model 'efficientnet_lite1'",
                    "--repo ORG/efficientnet_lite0")
    assert _snapshot(lite0_export) == before


def test_push_refuses_a_folder_that_mixes_two_exports(lite0_export, tmp_path):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for name, data in _snapshot(lite0_export).items():
        (mixed / name).write_bytes(data)
    config = json.loads((mixed / "config.json").read_text())
    (mixed / "config.json").write_text(json.dumps({**config, "id": "efficientnet_lite1"}))
    assert_one_line(invoke("push", "efficientnet_lite1", "--repo", "lab/efficientnet_lite1", "--from", str(mixed)),
                    "config.json names 'efficientnet_lite1'", "holds 'efficientnet_lite0'")
    (mixed / "config.json").write_text("{not json")
    assert_one_line(invoke("push", "efficientnet_lite1", "--repo", "lab/efficientnet_lite1", "--from", str(mixed)),
                    "not a readable metazoo export")


def test_export_refuses_a_folder_holding_another_model(lite0_export, monkeypatch):
    import metazoo_core.models as models

    def no_load(*a, **k):
        raise AssertionError("the model was loaded before the folder was checked")

    monkeypatch.setattr(models, "load_model", no_load)
    before = _snapshot(lite0_export)
    assert_one_line(invoke("export", "efficientnet_lite1", "--out", str(lite0_export)),
                    "holds the export of 'efficientnet_lite0', not 'efficientnet_lite1'", "another --out")
    assert _snapshot(lite0_export) == before
