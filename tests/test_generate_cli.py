"""`metazoo generate`, `metazoo null` and `metazoo demo` as a user meets them: bad inputs, JSON, nulls."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

FAST = ["--iterations", "2", "--blocks", "1", "--random-weights"]


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    (d / "notes.txt").write_text("not an image at all\n")
    rgb = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(d / "good.png")
    (d / "corrupt.png").write_bytes((d / "good.png").read_bytes()[:200])
    Image.fromarray(rgb[..., 0]).save(d / "grey.png")
    Image.fromarray(np.dstack([rgb, np.full((64, 64), 128, np.uint8)])).save(d / "rgba.png")
    Image.fromarray(rgb[:16, :16]).save(d / "tiny.png")
    nan = np.full((3, 224, 224), 0.5, np.float32)
    nan[0, 0, 0] = np.nan
    np.save(d / "nan.npy", nan)
    return d


def test_bad_inputs_each_give_one_line_and_the_others_finish(cli, bad_inputs, tmp_path):
    names = ["notes.txt", "corrupt.png", "grey.png", "rgba.png", "tiny.png", "nan.npy", "good.png"]
    res = cli("generate", "efficientnet_lite0", *[str(bad_inputs / n) for n in names], "--stage", "blocks_0",
              "--stage", "blokcs_1", *FAST, "--out", str(tmp_path), "--json")
    assert res.returncode == 2
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    expected = {"notes.txt: not an image", "corrupt.png: corrupt or truncated image", "tiny: image is 16×16 px",
                "nan.npy: tensor contains NaN", "no stage 'blokcs_1' (did you mean blocks_1"}
    for fragment in expected:
        assert sum(fragment in e for e in errors) == 1, (fragment, res.stderr)
    assert len(errors) == len(expected)
    assert "Traceback" not in res.stderr
    assert "grey: greyscale image replicated to 3 channels" in res.stderr
    assert "rgba: RGBA image composited on white" in res.stderr
    records = json.loads(res.stdout)
    assert [(r["input"]["name"], r["stage"]) for r in records] == [("grey", "blocks_0"), ("rgba", "blocks_0"),
                                                                   ("good", "blocks_0")]
    for name in ("grey", "rgba", "good"):
        folder = tmp_path / "efficientnet_lite0" / name
        assert (folder / "original.png").is_file() and (folder / "blocks_0" / "record.json").is_file()
        assert Image.open(folder / "blocks_0" / "metamer.png").mode == "RGB"


def test_unwritable_out_is_one_line(cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = cli("generate", "efficientnet_lite0", "builtin:chelsea", "--stage", "stem", *FAST,
              "--out", str(blocker / "run"))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        f"error: output folder {blocker / 'run'} is not writable (Not a directory); choose another with --out"]


def test_null_then_generate_against_it(cli, tmp_path):
    null_path = tmp_path / "null.safetensors"
    res = cli("null", "efficientnet_lite0", "--inputs", "builtin:chelsea", "--inputs", "builtin:coffee",
              "--inputs", "builtin:rocket", "--pairs", "3", "--random-weights", "--out", str(null_path), "--json")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["pairs"] == 3 and set(summary["max"]) >= {"input_after_preproc", "stem", "final"}
    gen = cli("generate", "efficientnet_lite0", "builtin:chelsea", "--stage", "stem", *FAST, "--null",
              str(null_path), "--out", str(tmp_path / "run"), "--json")
    assert gen.returncode == 0, gen.stderr
    (rec,) = json.loads(gen.stdout)
    assert rec["null"]["path"] == str(null_path) and rec["null"]["pairs"] == 3
    assert rec["null"]["max"] == pytest.approx(summary["max"]["stem"])
    assert isinstance(rec["passed"], bool)
    # a null of other weights is refused with one line
    wrong = cli("generate", "efficientnet_lite0", "builtin:chelsea", "--stage", "stem", "--iterations", "1",
                "--blocks", "1", "--null", str(null_path), "--out", str(tmp_path / "run2"))
    assert wrong.returncode == 2 and wrong.stderr.count("error:") == 1 and "rebuild it with the same weights" in \
        wrong.stderr and "Traceback" not in wrong.stderr


def test_command_module_does_not_import_torch():
    code = "import sys, metazoo_cli.commands.generate, metazoo_cli.commands.demo; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


@pytest.mark.slow
def test_demo_generates_three_stages_and_prints_the_summary(cli, tmp_path):
    res = cli("demo", "--out", str(tmp_path), "--iterations", "10", "--blocks", "2")
    assert res.returncode == 0, res.stderr
    for stage in ("blocks_1", "blocks_3", "final"):
        rec = json.loads((tmp_path / "efficientnet_lite0" / "chelsea" / stage / "record.json").read_text())
        assert rec["null"]["pairs"] == 24 and rec["passed"] in (True, False)
    assert "3 metamers" in res.stdout and str(tmp_path.resolve()) in res.stdout.replace("\n", "")
