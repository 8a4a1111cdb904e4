"""`metazoo robustness` and `metazoo train` from the command line: the accuracy-vs-ε plot on real weights, bad input
as one-line errors, and an interrupted training run that resumes from its last checkpoint."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

PHOTOS = ["builtin:chelsea", "builtin:coffee", "builtin:rocket"]


def one_line_error(result) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.slow
def test_robustness_plot_on_efficientnet(cli, tmp_path):
    """Must-show 5: real EfficientNet-Lite0 weights, bundled photos, labels = the model's clean decisions, so
    accuracy is 100 % at ε = 0; an L∞ ε of 2/255 (4 steps) fools it on every photo. The grid is given out of order
    and is sorted with a notice."""
    args = ["robustness", "efficientnet_lite0", "--norm", "linf", "--eps", "0.008,0,0.0001", "--subsets", "2",
            "--n", "3", "--steps", "4", "--out", str(tmp_path), "--json"]
    for p in PHOTOS:
        args += ["--inputs", p]
    r = cli(*args)
    assert r.returncode == 0, r.stderr
    assert "sorted" in r.stderr
    result = json.loads(r.stdout)
    rows = result["results"]
    assert [row["eps"] for row in rows] == [0.0, 0.0001, 0.008]
    assert result["labels"] == "predicted" and result["n"] == 3 and result["subsets"] == 2
    assert result["metric"] == "accuracy"
    assert rows[0]["mean"] == 1.0 and rows[0]["sem"] == 0.0
    assert rows[-1]["mean"] == 0.0
    assert result["weights_sha256"]
    png = tmp_path / "efficientnet_lite0_untargeted_linf.png"
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size[0] > 300 and im.size[1] > 200
    assert json.loads((tmp_path / "efficientnet_lite0_untargeted_linf.json").read_text())["results"] == rows


@pytest.mark.parametrize("args,fragment", [
    (["--norm", "linf", "--eps", "0,-0.1"], "≥ 0"),
    (["--norm", "l3", "--eps", "0,0.1"], "unknown norm 'l3'"),
    (["--norm", "l2", "--eps", "0,abc"], "not a number"),
    (["--norm", "l2", "--eps", "log:1:0.1"], "0 < low < high"),
    (["--attack", "feature", "--eps", "0,1"], "needs --stage"),
    (["--attack", "feature", "--stage", "blocks_9", "--eps", "0,1"], "no stage 'blocks_9'"),
    (["--attack", "fool", "--eps", "0,1"], "untargeted, fooling or feature"),
])
def test_robustness_bad_arguments(cli, tmp_path, args, fragment):
    line = one_line_error(cli("robustness", "efficientnet_lite0", *args, "--out", str(tmp_path)))
    assert fragment in line


def test_robustness_empty_input_folder(cli, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    line = one_line_error(cli("robustness", "efficientnet_lite0", "--eps", "0", "--inputs", str(empty),
                              "--random-weights", "--out", str(tmp_path / "o")))
    assert "no usable inputs" in line


def _image_folder(root: Path) -> Path:
    import skimage.data

    for cls, names in {"cat": ["chelsea", "coffee"], "rocket": ["rocket", "astronaut"]}.items():
        (root / cls).mkdir(parents=True)
        for name in names:
            Image.fromarray(getattr(skimage.data, name)()).resize((64, 64)).save(root / cls / f"{name}.png")
    return root


def _missing(root: Path) -> Path:
    return root


def _empty(root: Path) -> Path:
    root.mkdir()
    return root


def _unreadable_files(root: Path) -> Path:
    (root / "x").mkdir(parents=True)
    (root / "x" / "bad.png").write_bytes(b"not an image")
    return root


@pytest.mark.parametrize("make,extra,fragment", [
    (_missing, [], "no such folder"),
    (_empty, [], "empty"),
    (_unreadable_files, [], "none of its 1 files"),
    (_image_folder, ["--adversarial", "l2", "--random", "linf"], "one of --adversarial and --random"),
    (_image_folder, ["--eps", "3"], "need --adversarial"),
    (_image_folder, ["--adversarial", "l1"], "l2 or linf"),
])
def test_train_bad_input(cli, tmp_path, make, extra, fragment):
    data = make(tmp_path / "data")
    line = one_line_error(cli("train", "efficientnet_lite0", "--data", str(data), "--out", str(tmp_path / "run"),
                              *extra))
    assert fragment in line


@pytest.mark.slow
def test_train_interrupted_then_resumed(cli, tmp_path):
    """SIGINT during `metazoo train` saves a checkpoint and exits 130; the same command resumes from it and
    finishes all 3 epochs × 2 batches; the weights load back through the registry with --weights."""
    data = _image_folder(tmp_path / "data")
    run = tmp_path / "run"
    args = ["train", "efficientnet_lite0", "--data", str(data), "--out", str(run), "--epochs", "3",
            "--batch-size", "2", "--lr", "0.01", "--checkpoint-every", "1", "--adversarial", "linf", "--steps", "1",
            "--eval-steps", "2"]
    proc = subprocess.Popen([sys.executable, "-m", "metazoo_cli.app", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    ckpt = run / "checkpoint.safetensors"
    deadline = time.time() + 300
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr

    from metazoo_core.robustness.training import read_checkpoint

    _, meta = read_checkpoint(ckpt)
    assert 1 <= meta["step"] < 6
    r = cli(*args, "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["resumed_from"]["step"] == meta["step"] and summary["steps"] == 6
    assert summary["epochs_done"] == 3 and len(summary["history"]) == 3
    assert "resumed at" in r.stderr
    assert set(summary["evaluation"]) >= {"clean_accuracy", "adversarial_accuracy"}
    p = cli("predict", "efficientnet_lite0", "builtin:chelsea", "--weights", str(run / "weights.safetensors"),
            "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)[0]["top"]


@pytest.mark.slow
def test_robustness_at_the_cochleagram(cli, tmp_path):
    """Audio attacks at the cochleagram (ReLU after the perturbation) on CochCNN9 (random weights, bundled words):
    decisions all survive ε = 0 and none survive an L2 ε of 100 on the cochleagram."""
    r = cli("robustness", "cochcnn9", "--random-weights", "--where", "cochleagram", "-i", "builtin:apple",
            "-i", "builtin:water", "--norm", "l2", "--eps", "0,100", "--steps", "2", "--subsets", "1", "--n", "2",
            "--out", str(tmp_path), "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["where"] == "cochleagram"
    assert [row["mean"] for row in result["results"]] == [1.0, 0.0]


@pytest.mark.slow
def test_train_audio_at_the_cochleagram(cli, tmp_path):
    """`metazoo train` on an audio folder with adversarial L2 perturbations of the cochleagram (study: ε = 1,
    5 steps of 0.5; here 1 step to stay short)."""
    from metazoo_core.io.audio import builtin_sound_path

    for cls, names in {"a": ["apple", "money"], "b": ["water", "seven"]}.items():
        (tmp_path / "sounds" / cls).mkdir(parents=True)
        for name in names:
            (tmp_path / "sounds" / cls / f"{name}.wav").write_bytes(builtin_sound_path(name).read_bytes())
    r = cli("train", "cochcnn9", "--data", str(tmp_path / "sounds"), "--adversarial", "l2", "--where", "cochleagram",
            "--steps", "1", "--batch-size", "2", "--lr", "0.01", "--eval-steps", "1", "--out", str(tmp_path / "run"),
            "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert "study's 1" in r.stderr  # default ε for L2 at the cochleagram
    p = summary["config"]["perturbation"]
    assert (p["where"], p["eps"], p["steps"], p["step_size"], p["random_start"]) == ("cochleagram", 1.0, 1, 0.5, True)
    assert summary["steps"] == 2 and summary["evaluation"]["n"] == 4
    assert (tmp_path / "run" / "weights.safetensors").stat().st_size > 1_000_000
