"""Own models in five minutes (issue 26): a registry file adds to the built-in models, a wrong declared stage shape
is one line at first load, a spec without weights is RANDOM everywhere, and an unknown id says how to add one."""
import json
from pathlib import Path

import pytest
import yaml

from metazoo_core.caveats import RANDOM_WEIGHTS

ENTRY = {"id": "my_resnet18", "family": "torchvision", "modality": "vision", "description": "ResNet18, my own",
         "input": {"shape": [3, 224, 224], "range": [0, 1], "colour": "rgb"},
         "normalization": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
         "build": {"arch": "resnet18"},
         "stages": [{"name": "conv1_relu1", "shape": [64, 112, 112], "relu": True},
                    {"name": "layer1", "shape": [64, 56, 56], "relu": True},
                    {"name": "final", "shape": [1000]}]}
"""torchvision's resnet18 (random init: no `weights:`); layer1 is 64×56×56 at 224×224 input."""


def _registry(tmp_path: Path, **change) -> dict[str, str]:
    path = tmp_path / "my.yaml"
    path.write_text(yaml.safe_dump({"models": [{**ENTRY, **change}]}))
    return {"METAZOO_REGISTRY": str(path), "METAZOO_CACHE": str(tmp_path / "cache")}


def _one_line(r, *needles: str) -> str:
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_a_registry_file_adds_to_the_builtin_models(cli, tmp_path):
    builtin = json.loads(cli("list", "--json").stdout)
    r = cli("list", "--json", env=_registry(tmp_path))
    assert r.returncode == 0, r.stderr
    rows = {row["id"]: row for row in json.loads(r.stdout)}
    assert len(rows) == len(builtin) + 1 and set(rows) == {b["id"] for b in builtin} | {"my_resnet18"}
    assert rows["my_resnet18"]["offline"].startswith("RANDOM")


def test_an_id_clash_with_a_builtin_model_is_one_line(cli, tmp_path):
    _one_line(cli("list", env=_registry(tmp_path, id="resnet50")), "my.yaml", "'resnet50'", "already built in")


def test_unknown_model_says_how_to_add_one(cli):
    line = _one_line(cli("info", "resnet18"), "unknown model 'resnet18'", "METAZOO_REGISTRY",
                     "docs/plugin-guide.md", "timm:NAME are planned")
    assert (Path(__file__).resolve().parents[1] / "docs" / "plugin-guide.md").read_text().count(
        "## 6. Adding a model") == 1, line


def test_a_wrong_declared_shape_is_one_line_at_first_load(cli, tmp_path):
    stages = [dict(s) for s in ENTRY["stages"]]
    stages[1]["shape"] = [64, 28, 28]
    env = _registry(tmp_path, stages=stages)
    _one_line(cli("activations", "my_resnet18", "builtin:chelsea", "--stage", "layer1", "--out",
                  str(tmp_path / "acts"), env=env),
              "'my_resnet18'", "'layer1'", "declared 64×28×28", "gives 64×56×56", "shape: [64, 56, 56]")
    assert not (tmp_path / "acts").exists() or not any((tmp_path / "acts").rglob("*.npy"))


def test_the_check_is_done_once_and_builtin_entries_skip_it():
    from metazoo_core import models
    from metazoo_core.errors import RegistryError
    from metazoo_core.plugins import registry
    from metazoo_core.registry import ModelSpec

    builtin = registry().get("efficientnet_lite0")
    models.check_declared_shapes(builtin)
    assert builtin.model_dump_json() not in models._SHAPES_CHECKED  # skipped: the contract test covers it
    good = ModelSpec.model_validate(ENTRY)
    models.check_declared_shapes(good)
    assert good.model_dump_json() in models._SHAPES_CHECKED
    stages = [ENTRY["stages"][0], {"name": "layer1", "shape": [64, 3136]}, ENTRY["stages"][2]]
    wrong = ModelSpec.model_validate({**ENTRY, "stages": stages})
    with pytest.raises(RegistryError, match="stage 'layer1' is declared 64×3136 but its network gives 64×56×56"):
        models.check_declared_shapes(wrong)


def test_a_spec_without_weights_is_random_in_predict_generate_and_report(cli, tmp_path):
    env = _registry(tmp_path)
    r = cli("predict", "my_resnet18", "builtin:chelsea", env=env)
    assert r.returncode == 0, r.stderr
    assert RANDOM_WEIGHTS in r.stdout
    run = tmp_path / "run"
    r = cli("generate", "my_resnet18", "builtin:chelsea", "--stage", "layer1", "--iterations", "2", "--blocks", "1",
            "--workers", "1", "--out", str(run), env=env)
    assert r.returncode == 0, r.stderr
    assert "RANDOM" in r.stdout and "RANDOM weights" in r.stderr
    record = json.loads(next(run.rglob("record.json")).read_text())
    assert record["random_weights"] is True and record["weights_sha256"] is None
    r = cli("report", str(run), "--out", str(tmp_path / "report.html"), env=env)
    assert r.returncode == 0, r.stderr
    assert RANDOM_WEIGHTS.split(" (")[0] in (tmp_path / "report.html").read_text()


def test_given_weights_are_not_random(tmp_path):
    """The same spec with its checkpoint given (`--weights`) is trained, not RANDOM."""
    import torch
    from safetensors.torch import save_file

    from metazoo_core.models import build_network, load_model
    from metazoo_core.registry import ModelSpec

    spec = ModelSpec.model_validate(ENTRY)
    state = {k: v.contiguous() for k, v in build_network(spec).net.state_dict().items()}
    save_file(state, str(tmp_path / "w.safetensors"))
    model = load_model(spec, weights=str(tmp_path / "w.safetensors"))
    assert model.random_weights is False and model.weights_sha256
    assert load_model(spec).random_weights is True
    assert torch.equal(model.net.state_dict()["fc.weight"], state["fc.weight"])
