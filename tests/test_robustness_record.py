"""One robustness use case: `metazoo robustness` and a sweep's robustness unit call the same core function
(metazoo_core.robustness.run) and write records with the same fields and the same numbers."""
import json

from metazoo_core.sweep.plan import load_plan
from metazoo_core.sweep.units import run_robustness

OPTIONS = {"norm": "linf", "eps": [0, 8 / 255], "steps": 2, "subsets": 1, "n": 2, "pretrained": False}
INPUTS = ["builtin:chelsea", "builtin:coffee"]


def test_cli_and_sweep_robustness_records_have_the_same_fields(cli, tmp_path):
    r = cli("robustness", "efficientnet_lite0", "--norm", "linf", "--eps", f"0,{8 / 255}", "--steps", "2",
            "--subsets", "1", "--n", "2", "--random-weights", *[a for i in INPUTS for a in ("-i", i)],
            "--out", str(tmp_path / "cli"))
    assert r.returncode == 0, r.stderr[-800:]
    from_cli = json.loads((tmp_path / "cli" / "efficientnet_lite0_untargeted_linf.json").read_text())

    plan = tmp_path / "plan.yaml"
    plan.write_text(json.dumps({"name": "p", "kind": "robustness", "models": ["efficientnet_lite0"], "inputs": INPUTS,
                                "seeds": [0], "options": OPTIONS}))  # JSON is YAML
    (unit,) = load_plan(plan).units
    (path,) = run_robustness(unit, tmp_path)
    from_sweep = json.loads(path.read_text())

    assert set(from_cli) == set(from_sweep)
    assert from_cli["schema"] == from_sweep["schema"] == "metazoo.robustness/1"
    assert from_cli["labels"] == from_sweep["labels"] == "predicted"
    same = ("model", "weights_sha256", "weights_source", "norm", "steps", "step_ratio", "subsets", "n", "seed",
            "where", "inputs")
    assert {k: from_cli[k] for k in same} == {k: from_sweep[k] for k in same}
    assert from_cli["results"] == from_sweep["results"]  # same inputs, labels, subsets and attack → same numbers
    assert from_cli["results"][0]["mean"] == 1.0  # clean accuracy against the model's own predictions
