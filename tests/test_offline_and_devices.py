"""Issue 18, must-show 2: `--device cuda|mps` that this machine lacks is one line (auto runs on what is here, with a
notice) on every command that runs a model, and `list --available` names exactly the models whose weights resolve
offline here (or that need none)."""
import json

import pytest

from climain import run_main
from metazoo_core.devices import available_devices

MISSING = [d for d in ("cuda", "cuda:7", "mps") if (d if d != "cuda" else "cuda:0") not in available_devices()]


def _one_error(result, needle: str) -> None:
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.code != 0 and len(errors) == 1 and needle in errors[0], result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [
    ["demo"],
    ["readout", "efficientnet_lite0", "--data", "nowhere"],
    ["ood", "efficientnet_lite0", "--benchmark", "imagenet-c", "--data", "builtin:chelsea"],
    ["predict", "efficientnet_lite0", "builtin:chelsea"],
])
def test_a_missing_device_is_one_line(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for device in MISSING:
        _one_error(run_main(*command, "--device", device), f"--device {device}: not available")


def test_auto_runs_on_what_is_here_with_a_notice():
    res = run_main("predict", "efficientnet_lite0", "builtin:chelsea", "--device", "auto", "--top", "1")
    assert res.code == 0, res.stderr
    assert "--device auto: using" in res.stderr and res.stdout.startswith("chelsea [16-way: cat]")


def test_list_available_is_exactly_what_resolves_offline(monkeypatch):
    from metazoo_core import weights
    from metazoo_core.errors import WeightsError
    from metazoo_core.models import declares_weights
    from metazoo_core.plugins import registry

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    res = run_main("list", "--available", "--json")
    assert res.code == 0, res.stderr
    listed = {row["id"] for row in json.loads(res.stdout)}
    runs = set()
    for spec in registry().query():
        try:
            if not declares_weights(spec) or weights.resolve(spec, download=False, lock=False):
                runs.add(spec.id)
        except WeightsError:
            pass
    assert listed == runs and "efficientnet_lite0" in listed
    every = {row["id"]: row for row in json.loads(run_main("list", "--json").stdout)}
    assert every["cochcnn9"]["offline_stages"] == ["cochleagram"]  # its fixed front end needs no checkpoint


def test_recognize_all_vision_summarises_the_skipped_models_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    run = tmp_path / "run"
    gen = run_main("generate", "efficientnet_lite0", "builtin:chelsea", "--stage", "stem", "--iterations",
                   "1", "--blocks", "1", "--out", str(run))
    assert gen.code == 0, gen.stderr
    res = run_main("recognize", str(run), "--models", "all-vision")
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "recognisers skipped, their weights are not available here" in errors[0]
    assert res.code == 2 and "efficientnet_lite1" in res.stdout  # the models that are here still score
    failed = json.loads((run / "recognition" / "recognition.json").read_text())["failed_recognisers"]
    assert int(errors[0].split("error: ")[1].split()[0]) == len(failed) > 40
