"""Per-stage linear readouts: the digits CNN (sklearn's digits, offline), an independent logistic regression on the
same features, the fixed unit subsample, resuming, the CLI and the sweep unit."""
from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from metazoo_core.readout import ReadoutConfig, readout_stages, unit_indices
from metazoo_core.readout.subsample import indices_digest

STAGES = ["input_after_preproc", "relu0", "relu1", "relu2", "fc0_relu", "final"]


def _shifted(data, seed: int):
    """Each digit rolled by a random (dy, dx) in [-4, 4]²: pixels alone then read out poorly, pooled stages well."""
    g = torch.Generator().manual_seed(seed)
    x = torch.stack([torch.roll(img, tuple(torch.randint(-4, 5, (2,), generator=g).tolist()), (1, 2))
                     for img in data.x])
    data.x = x
    return data


@pytest.fixture(scope="module")
def digits_cnn():
    """(trained digit CNN, train set, held-out set): 6 epochs of Adam on shifted digits (~4 s on one core)."""
    from metazoo_core.replication.digitnet import digit_model
    from metazoo_core.replication.digits import load_digits_split

    torch.manual_seed(0)
    train, val = load_digits_split(test_per_class=30)
    train, val = _shifted(train, 1), _shifted(val, 2)
    model = digit_model("digits_readout")
    params = list(model.net.parameters())
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, 3e-3)
    for _ in range(6):
        order = torch.randperm(len(train))
        for i in range(0, len(train), 64):
            idx = order[i:i + 64]
            loss = torch.nn.functional.cross_entropy(model.logits(train.x[idx]), train.y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    for p in params:
        p.requires_grad_(False)
    return model, train, val


@pytest.fixture(scope="module")
def digit_records(digits_cnn, tmp_path_factory):
    model, train, val = digits_cnn
    out = tmp_path_factory.mktemp("readout")
    cfg = ReadoutConfig(augment=False, batch_size=64)  # fixed features: comparable with a logistic regression
    return out, cfg, readout_stages(model, train, val, STAGES, out, config=cfg)


def test_readout_accuracy_rises_from_the_input_to_the_last_stages(digit_records):
    _, _, rec = digit_records
    top1 = [rec[s]["top1"] for s in STAGES]
    assert top1[0] < 0.4  # shifted digits: pixels are a poor linear code (measured 0.25; chance 0.1)
    assert min(top1[-2:]) > top1[0] + 0.35  # measured 0.80 / 0.79
    assert top1[2] > top1[1] > top1[0]  # relu1 > relu0 > input
    assert all(rec[s]["top5"] >= rec[s]["top1"] for s in STAGES)
    assert rec["relu0"]["n_units"] == 2048 and rec["relu0"]["n_features"] == 16 * 16 * 16
    assert rec["relu2"]["n_units"] == rec["relu2"]["n_features"] == 1024  # ≤ 2048: every unit kept


def test_readout_equals_a_logistic_regression_on_the_same_features(digits_cnn, digit_records):
    """Tolerance: |Δ top-1| ≤ 0.08 per stage (about 3 binomial SE ≈ 0.025 on 300 held-out digits) and ≤ 0.04 on
    average over stages; measured up to 0.040 at one thread and 0.053 (fc0_relu) at two threads (SGD summation
    order). A wrong subsample, label or softmax would differ by far more."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    from metazoo_core.readout.run import _features

    model, train, val = digits_cnn
    _, _, rec = digit_records
    index = {s: unit_indices(model.spec.id, s, rec[s]["n_features"], 2048, 0) for s in STAGES}
    ftr = _features(model, train.x, STAGES, index, "cpu", 256)
    fva = _features(model, val.x, STAGES, index, "cpu", 256)
    diffs = []
    for s in STAGES:  # nearly unregularised (C = 1e4), like the readout (no weight decay), raw features
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            lr = LogisticRegression(C=1e4, max_iter=1000).fit(ftr[s].numpy(), train.y.numpy())
        ref = lr.score(fva[s].numpy(), val.y.numpy())
        diffs.append(abs(ref - rec[s]["top1"]))
        assert diffs[-1] <= 0.08, (s, ref, rec[s]["top1"])
    print("top-1 |readout − logistic regression| per stage:", [round(d, 3) for d in diffs])
    assert sum(diffs) / len(diffs) <= 0.04


def test_subsample_is_fixed_per_model_stage_and_seed_across_processes(digit_records):
    _, _, rec = digit_records
    code = ("from metazoo_core.readout.subsample import unit_indices, indices_digest;"
            "print(indices_digest(unit_indices('digits_readout', 'relu0', 4096, 2048, 0)))")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert other == rec["relu0"]["units_sha256"]
    a = unit_indices("m", "relu0", 4096, 2048, 0)
    assert len(a) == 2048 and len(a.unique()) == 2048 and bool((a[1:] > a[:-1]).all())
    assert not torch.equal(a, unit_indices("m", "relu0", 4096, 2048, 1))
    assert not torch.equal(a, unit_indices("m", "relu1", 4096, 2048, 0))
    assert indices_digest(unit_indices("m", "x", 100, 2048, 5)) == indices_digest(torch.arange(100))


def test_finished_stages_are_skipped_and_a_missing_one_is_redone(digits_cnn, digit_records):
    model, train, val = digits_cnn
    out, cfg, rec = digit_records
    before = {s: (out / f"{s}.json").stat().st_mtime_ns for s in STAGES}
    (out / "relu1.json").unlink()
    said: list[str] = []
    again = readout_stages(model, train, val, STAGES, out, config=cfg, say=said.append)
    assert sum("skipped" in m for m in said) == len(STAGES) - 1
    assert {s: (out / f"{s}.json").stat().st_mtime_ns for s in STAGES if s != "relu1"} == \
        {s: t for s, t in before.items() if s != "relu1"}
    assert again["relu1"]["top1"] == pytest.approx(rec["relu1"]["top1"], abs=1e-6)  # same seed, same result
    assert again["relu1"]["units_sha256"] == rec["relu1"]["units_sha256"]


def test_one_cycle_schedule_has_the_study_values():
    from metazoo_core.readout.run import _optimizer

    cfg = ReadoutConfig()
    layer = torch.nn.Linear(2, 2)
    opt, sched = _optimizer(layer, cfg, 100)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(3e-5)
    assert max(lrs) == pytest.approx(0.3) and lrs.index(max(lrs)) in (29, 30)
    assert lrs[-1] == pytest.approx(3e-9, rel=1e-3)  # the last step trains at the final rate


def _folder(root: Path) -> Path:
    from PIL import Image

    from metazoo_core.io.images import builtin_array

    for i, name in enumerate(["chelsea", "coffee", "rocket", "astronaut", "camera", "motorcycle"]):
        (root / "ab"[i % 2]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(builtin_array(name)).save(root / "ab"[i % 2] / f"{name}.png")
    return root


def test_cli_writes_per_stage_records_and_rejects_a_bad_folder(tmp_path, cli):
    data = _folder(tmp_path / "data")
    args = ["readout", "efficientnet_lite0", "--data", str(data), "--stage", "blocks_1", "--stage", "avgpool",
            "--epochs", "2", "--units", "64", "--batch-size", "4", "--out", str(tmp_path / "out"), "--json"]
    r = cli(*args)
    assert r.returncode == 0, r.stderr
    recs = json.loads(r.stdout)
    assert [x["stage"] for x in recs] == ["blocks_1", "avgpool"]
    assert recs[0]["n_units"] == 64 and recs[0]["n_features"] == 24 * 56 * 56 and recs[0]["augmented"]
    assert len(list((tmp_path / "out" / "efficientnet_lite0").glob("s0-*/blocks_1.json"))) == 1
    bad = cli("readout", "efficientnet_lite0", "--data", str(tmp_path / "nothing"))
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1 and "no such folder" in bad.stderr
    bad = cli("readout", "efficientnet_lite0", "--data", str(data), "--stage", "nope")
    assert bad.returncode != 0 and "no stage 'nope'" in bad.stderr and "Traceback" not in bad.stderr


def test_sweep_readout_unit_equals_the_direct_call(tmp_path):
    from metazoo_core.sweep.executors import submit, wait
    from metazoo_core.sweep.plan import load_plan
    from metazoo_core.sweep.store import Store

    data = _folder(tmp_path / "data")
    plan = {"name": "ro", "kind": "readout", "models": ["efficientnet_lite0"], "stages": ["blocks_1"],
            "inputs": [str(data)], "options": {"epochs": 2, "units": 32, "batch_size": 4, "augment": False}}
    (tmp_path / "p.yaml").write_text(json.dumps(plan))
    loaded = load_plan(tmp_path / "p.yaml")
    assert [u.kind for u in loaded.units] == ["readout"] and loaded.units[0].input == str(data)
    store = Store(tmp_path / "store")
    assert wait(submit(loaded, store, executor="debug")) == []
    rec = json.loads(next((store.root / "units").glob("*/record.json")).read_text())
    assert rec["schema"] == "metazoo.readout/1" and rec["n_units"] == 32 and not rec["augmented"]
    assert rec["units_sha256"] == indices_digest(unit_indices("efficientnet_lite0", "blocks_1", 24 * 56 * 56, 32, 0))
