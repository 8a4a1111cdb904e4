"""Resume: a run killed at any point and started again with the same command ends with the same metamer."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from metazoo_core.io.images import load_image
from metazoo_core.metamer import generate_metamers
from metazoo_core.models import load_model

STAGE_DIR = ("efficientnet_lite0", "chelsea", "blocks_1")
METAZOO = [sys.executable, "-m", "metazoo_cli.app"]


@pytest.fixture(scope="module")
def model():
    return load_model("efficientnet_lite0", pretrained=False)


@pytest.fixture(scope="module")
def chelsea(model):
    return load_image("builtin:chelsea", model.spec.input)


class _Crash(Exception):
    pass


def _crash_after(step: int):
    def progress(event):
        if event.kind == "step" and event.step >= step:
            raise _Crash

    return progress


@pytest.mark.parametrize("recipe", ["feather2023", "adam"])
def test_interrupted_then_resumed_equals_uninterrupted(model, chelsea, tmp_path, recipe):
    kw = dict(recipe=recipe, iterations=12, blocks=2, checkpoint_every=8, log_every=4, gather_every=4)
    clean = generate_metamers(model, [chelsea], ["blocks_1"], out_dir=tmp_path / "clean", **kw)[0]
    with pytest.raises(_Crash):  # dies after step 12, last checkpoint at step 8
        generate_metamers(model, [chelsea], ["blocks_1"], out_dir=tmp_path / "cut", progress=_crash_after(12), **kw)
    folder = tmp_path.joinpath("cut", *STAGE_DIR)
    assert (folder / "state.safetensors").is_file() and not (folder / "record.json").exists()
    resumed = generate_metamers(model, [chelsea], ["blocks_1"], out_dir=tmp_path / "cut", **kw)[0]
    a = load_file(str(tmp_path.joinpath("clean", *STAGE_DIR, "metamer.safetensors")))["metamer"]
    b = load_file(str(folder / "metamer.safetensors"))["metamer"]
    assert torch.equal(a, b)
    assert resumed["loss_curve"] == clean["loss_curve"] and resumed["steps_done"] == 24
    assert not (folder / "state.safetensors").exists()


def test_finished_items_are_reused_and_changed_commands_recompute(model, chelsea, tmp_path):
    kw = dict(iterations=3, blocks=1, out_dir=tmp_path)
    first = generate_metamers(model, [chelsea], ["blocks_1"], **kw)[0]
    again = generate_metamers(model, [chelsea], ["blocks_1"], **kw)[0]
    assert again == first  # read back from record.json, not recomputed
    other = generate_metamers(model, [chelsea], ["blocks_1"], seed=5, **kw)[0]
    assert other["seed"] == 5 and other["fingerprint"] != first["fingerprint"]
    fresh = generate_metamers(model, [chelsea], ["blocks_1"], resume=False, seed=5, **kw)[0]
    assert fresh["completed"] >= other["completed"] and fresh["loss_curve"] == other["loss_curve"]


def test_sigkill_mid_run_then_same_command_equals_uninterrupted(tmp_path):
    """Must-show 4: the process is killed with SIGKILL after a checkpoint; rerunning the command finishes it."""
    def command(out):
        return [*METAZOO, "generate", "efficientnet_lite0", "builtin:chelsea", "--stage", "blocks_1",
                "--iterations", "40", "--blocks", "2", "--random-weights", "--checkpoint-every", "10",
                "--out", str(out), "--json"]

    killed = tmp_path / "killed"
    state = killed.joinpath(*STAGE_DIR, "state.safetensors")
    proc = subprocess.Popen(command(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not state.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert state.exists() and not killed.joinpath(*STAGE_DIR, "record.json").exists()
    resumed = subprocess.run(command(killed), capture_output=True, text=True, timeout=600)
    clean = subprocess.run(command(tmp_path / "clean"), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0 and clean.returncode == 0, resumed.stderr + clean.stderr
    a = load_file(str(killed.joinpath(*STAGE_DIR, "metamer.safetensors")))["metamer"]
    b = load_file(str(tmp_path.joinpath("clean", *STAGE_DIR, "metamer.safetensors")))["metamer"]
    assert torch.equal(a, b)
    r, c = json.loads(resumed.stdout)[0], json.loads(clean.stdout)[0]
    assert r["loss_curve"] == c["loss_curve"] and r["steps_done"] == 80


def test_rerun_with_a_null_judges_finished_metamers_without_reoptimising(model, chelsea, tmp_path):
    from metazoo_core.metamer import build_null

    coffee = load_image("builtin:coffee", model.spec.input)
    first = generate_metamers(model, [chelsea], ["blocks_1"], iterations=3, blocks=1, out_dir=tmp_path)[0]
    null = build_null(model, [chelsea, coffee], pairs=2)
    null.save(tmp_path / "null.safetensors")
    judged = generate_metamers(model, [chelsea], ["blocks_1"], iterations=3, blocks=1, out_dir=tmp_path,
                               null=null)[0]
    assert first["passed"] is None and isinstance(judged["passed"], bool)
    assert judged["null"]["path"] == str(tmp_path / "null.safetensors") and judged["null"]["pairs"] == 2
    assert judged["completed"] == first["completed"]  # not re-optimised; the saved metamer was re-measured
    for stage, m in first["measures"].items():
        assert judged["measures"][stage] == pytest.approx(m, rel=1e-6)
    on_disk = json.loads(tmp_path.joinpath(*STAGE_DIR, "record.json").read_text())
    assert on_disk["passed"] == judged["passed"]
