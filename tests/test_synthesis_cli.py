"""The synthesis commands end to end on registry models (random or weights-free stages, offline): result folders
with records, media and read-back, a sound through the same path, and one-line errors for bad input."""
from __future__ import annotations

import json

import pytest
import torch
from climain import run_main

from metazoo_core.synthesis.eigen import EigendistortionResult
from metazoo_core.synthesis.mad import MADResult
from metazoo_core.synthesis.principal import PrincipalResult


@pytest.fixture
def image(tmp_path):
    from PIL import Image

    g = torch.Generator().manual_seed(0)
    arr = (torch.rand(40, 48, 3, generator=g) * 255).to(torch.uint8).numpy()
    path = tmp_path / "noise.png"
    Image.fromarray(arr).save(path)
    return path


def test_eigendistort_image_and_a_bad_input_beside_it(tmp_path, image, one_thread):
    out = tmp_path / "ed"
    r = run_main("eigendistort", "alexnet", str(image), str(tmp_path / "missing.png"), "--stage", "relu0",
                 "--random-weights", "--k", "2", "--max-iter", "3", "-o", str(out), "--json")
    assert r.code == 2, r.stderr  # the missing file is reported, the other input still runs
    assert "missing.png" in r.stderr and "Traceback" not in r.stderr
    (row,) = json.loads(r.stdout)
    res = EigendistortionResult.read(row["folder"])
    assert res.distortions.shape == (4, 3, 224, 224) and res.record["iterations"] == [3, 3]
    assert res.record["random_weights"] is True and res.record["fake_relu"] is False
    assert res.eigenvalues[:2].tolist() == sorted(res.eigenvalues[:2].tolist(), reverse=True)
    assert torch.allclose(res.distortions.reshape(4, -1).norm(dim=1), torch.ones(4), atol=1e-5)
    names = sorted(p.name for p in (out / "alexnet" / "noise" / "relu0").iterdir())
    assert "eigen0_plus.png" in names and "eigen150527_minus.png" in names and "record.json" in names


def test_mad_and_principal_distortions_commands(tmp_path, image, one_thread):
    r = run_main("mad", "alexnet", "alexnet", str(image), "--stage-a", "relu0", "--stage-b", "relu1",
                 "--random-weights", "--iterations", "3", "--tradeoff", "1", "-o", str(tmp_path / "mad"), "--json")
    assert r.code == 0, r.stderr
    (row,) = json.loads(r.stdout)
    res = MADResult.read(row["folder"])
    assert res.images.shape == (4, 3, 224, 224) and res.losses.shape == (4, 3)
    assert sorted(p.name for p in (tmp_path / "mad" / "alexnet__alexnet" / "noise").glob("*.png")) == [
        "max_a.png", "max_b.png", "min_a.png", "min_b.png", "original.png"]
    r = run_main("principal-distortions", str(image), "--pair", "alexnet:relu0", "--pair", "alexnet:relu1",
                 "--method", "ascent", "--steps", "2", "--random-weights", "-o", str(tmp_path / "pd"), "--json")
    assert r.code == 0, r.stderr
    (row,) = json.loads(r.stdout)
    res = PrincipalResult.read(row["folder"])
    assert res.objective.shape == (2,) and res.log_ratios.shape == (2,)
    assert (tmp_path / "pd" / "principal" / "noise" / "eps2_x200.png").is_file()


@pytest.mark.parametrize("args, message", [
    (["eigendistort", "alexnet", "builtin:chelsea", "--stage", "relu9", "--random-weights"], "no stage 'relu9'"),
    (["eigendistort", "alexnet", "builtin:chelsea", "--stage", "relu0", "--method", "svd"], "--method 'svd'"),
    (["principal-distortions", "builtin:chelsea", "--pair", "alexnet"], "--pair 'alexnet': write MODEL:STAGE"),
    (["principal-distortions", "builtin:chelsea", "--pair", "alexnet:relu0", "--lr", "x"], "--lr 'x'"),
    (["mad", "alexnet", "cochcnn9", "builtin:chelsea", "--random-weights"], "take different inputs"),
    (["mad", "alexnet", "alexnet", "builtin:chelsea", "--direction", "up"], "--direction 'up'"),
])
def test_bad_input_is_one_line(args, message, tmp_path):
    r = run_main(*args, "-o", str(tmp_path / "o"))
    assert r.code == 2 and message in r.stderr
    assert "Traceback" not in r.stderr and r.stderr.strip().splitlines()[-1].startswith("error: ")
