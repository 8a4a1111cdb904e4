"""registry.yaml: every model of the study, schema validation, and torch-free listing."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MODELS_MD = REPO.parent / "shared" / "design" / "models.md"


def _design_ids() -> set[str]:
    """Every id in the design catalogue (backticked ids in the first column of its tables)."""
    ids = set()
    for line in MODELS_MD.read_text().splitlines():
        if line.startswith("| ") and not line.startswith("| id") and not line.startswith("|---"):
            first = line.split("|")[1]
            ids.update(x.strip() for x in first.split(",") if re.fullmatch(r"\s*[a-z0-9_]+\s*", x))
    return ids


def test_list_json_has_every_study_model(cli):
    r = cli("list", "--json")
    assert r.returncode == 0, r.stderr
    rows = {row["id"]: row for row in json.loads(r.stdout)}
    if MODELS_MD.exists():
        missing = _design_ids() - set(rows)
        assert not missing, missing
    robust = [i for i, row in rows.items() if "robust_final_stage" in row["groups"]]
    assert len(robust) == 25
    assert sum(row["group"] == "robust_final_stage" for row in rows.values()) == 22
    for row in rows.values():
        assert row["modality"] in ("vision", "audio") and row["family"] and row["n_stages"] >= 1
    assert {r["id"] for r in rows.values() if r["modality"] == "audio"} >= {"cochcnn9", "cochresnet50", "spectemp"}
    assert len(rows) >= 73


def test_list_filters(cli):
    r = cli("list", "--json", "--modality", "audio", "--query", "cochcnn9*")
    ids = [row["id"] for row in json.loads(r.stdout)]
    assert len(ids) == 8 and all(i.startswith("cochcnn9") for i in ids)


def test_list_does_not_import_torch():
    code = ("import sys; sys.argv=['metazoo','list','--json']\n"
            "from metazoo_cli.app import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "bad = [m for m in ('torch','torchvision','timm','open_clip','numpy') if m in sys.modules]\n"
            "sys.stderr.write('HEAVY=' + ','.join(bad))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "HEAVY=" in r.stderr and r.stderr.split("HEAVY=")[1].strip() == "", r.stderr[-300:]


def test_help_does_not_import_torch():
    code = ("import sys; sys.argv=['metazoo','--help']\nfrom metazoo_cli.app import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\nsys.stderr.write('TORCH=%s' % ('torch' in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "TORCH=False" in r.stderr


def test_info_json_shape(cli):
    r = cli("info", "resnet50", "--json")
    info = json.loads(r.stdout)
    assert {"id", "family", "modality", "input", "normalization", "weights", "stages"} <= set(info)
    assert {"source", "cached"} <= set(info["weights"])
    stages = {s["name"]: (s["shape"], s["n_features"]) for s in info["stages"]}
    # SI Modeling Note 2, ResNet50 table
    assert stages == {"conv1_relu1": ([64, 112, 112], 802816), "layer1": ([256, 56, 56], 802816),
                      "layer2": ([512, 28, 28], 401408), "layer3": ([1024, 14, 14], 200704),
                      "layer4": ([2048, 7, 7], 100352), "avgpool": ([2048, 1, 1], 2048), "final": ([1000], 1000)}
    assert info["normalization"] == {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def test_malformed_registry_one_line(cli, tmp_path):
    bad = tmp_path / "registry.yaml"
    bad.write_text("models:\n  - id: x\n    family: y\n    modality: vision\n    input: {shape: [3], range: [0, 1]}\n"
                   "    stages: [{name: final, shape: [10], n_features: 11}]\n")
    r = cli("list", env={"METAZOO_REGISTRY": str(bad)})
    assert r.returncode != 0 and "Traceback" not in r.stderr
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1 and "entry 'x'" in line and "stages.0" in line
    bad.write_text("models:\n  - id: [unclosed\n")
    r = cli("list", env={"METAZOO_REGISTRY": str(bad)})
    assert r.returncode != 0 and "malformed YAML" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_unknown_model_suggests(cli):
    r = cli("info", "resnet5")
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1
    assert "did you mean" in r.stderr and "resnet50" in r.stderr


def test_unknown_stage_lists_valid(cli, tmp_path):
    r = cli("activations", "efficientnet_lite0", "builtin:chelsea", "--stage", "blocks_9", "--out", str(tmp_path))
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1
    assert "blocks_9" in r.stderr and "valid stages" in r.stderr and "blocks_6" in r.stderr


def test_spec_validation_rejects_wrong_feature_count():
    from metazoo_core.errors import RegistryError
    from metazoo_core.registry import parse_specs

    with pytest.raises(RegistryError, match="n_features"):
        parse_specs([{"id": "a", "family": "f", "modality": "vision", "input": {"shape": [1], "range": [0, 1]},
                      "stages": [{"name": "s", "shape": [2, 2], "n_features": 5}]}], "test")
