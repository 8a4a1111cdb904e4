"""Sweeps on one machine: in-process (debug) and submitit's local executor — results, retries, kills, concurrency."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from metazoo_core.sweep.collect import table
from metazoo_core.sweep.executors import submit, wait
from metazoo_core.sweep.plan import load_plan
from metazoo_core.sweep.store import Store

METAZOO = [sys.executable, "-m", "metazoo_cli.app"]

PHOTOS = ["builtin:chelsea", "builtin:coffee", "builtin:rocket", "builtin:astronaut"]
SHORT = {"recipe": "feather2023", "iterations": 4, "blocks": 2}


def write_plan(folder: Path, name: str = "plan", **fields) -> Path:
    plan = {"name": name, "kind": "activations", "models": ["efficientnet_lite0"],
            "stages": ["blocks_1", "blocks_3", "head"], "inputs": PHOTOS, "seeds": [0], "retries": 2, **fields}
    path = folder / f"{name}.yaml"
    path.write_text(json.dumps(plan))  # JSON is YAML
    return path


def run_debug(plan_path: Path, root: Path) -> Store:
    store = Store(root)
    sub = submit(load_plan(plan_path), store, executor="debug")
    assert wait(sub) == []
    return store


def done_files(store: Store) -> dict[str, str]:
    return {p.parent.name: p.read_text() for p in (store.root / "units").glob("*/done.json")}


def assert_clean_and_complete(store: Store, n: int) -> None:
    """n units done, each exactly once, every record readable, nothing left in partial/ or locks/."""
    states = store.status()
    assert [s.state for s in states] == ["done"] * n
    df = table(store)
    assert len(df) == n and df["unit"].is_unique
    assert not df.duplicated([c for c in ("model", "input.name", "stage", "seed") if c in df]).any()
    assert not list((store.root / "partial").iterdir())
    assert not [p for p in (store.root / "locks").iterdir() if not store.is_done(p.name.removesuffix(".lock"))]


def test_activation_units_equal_a_direct_forward_pass(tmp_path):
    import torch
    from safetensors.torch import load_file

    from metazoo_core.inputs import load_input
    from metazoo_core.models import load_model

    store = run_debug(write_plan(tmp_path), tmp_path / "run")
    assert_clean_and_complete(store, 12)
    df = table(store)
    assert set(df["stage"]) == {"blocks_1", "blocks_3", "head"} and set(df["input.name"]) == {p[8:] for p in PHOTOS}
    model = load_model("efficientnet_lite0")
    row = df[(df["input.name"] == "coffee") & (df["stage"] == "blocks_3")].iloc[0]
    saved = load_file(store.root / Path(row["record"]).parent / "activations.safetensors")["activation"]
    with torch.no_grad():
        direct = model(load_input("builtin:coffee", model.spec).tensor[None], ["blocks_3"])["blocks_3"][0]
    assert saved.shape == (80, 14, 14) and json.loads(row["shape"]) == [80, 14, 14]
    torch.testing.assert_close(saved, direct, rtol=0, atol=1e-6)
    assert row["stats.l2"] == pytest.approx(direct.norm().item(), rel=1e-5)
    assert row["weights_sha256"] == model.weights_sha256


def test_metamer_unit_equals_a_direct_engine_call(tmp_path):
    import torch
    from safetensors.torch import load_file

    from metazoo_core.inputs import load_input
    from metazoo_core.metamer import generate_metamers
    from metazoo_core.models import load_model

    plan = write_plan(tmp_path, kind="metamer", stages=["blocks_1"], inputs=["builtin:rocket"], seeds=[3],
                      options=SHORT)
    store = run_debug(plan, tmp_path / "run")
    assert_clean_and_complete(store, 1)
    row = table(store).iloc[0]
    assert row["schema"] == "metazoo.metamer/1" and row["seed"] == 3 and row["recipe.iterations"] == 4
    saved = load_file(store.root / Path(row["record"]).parent / "metamer.safetensors")["metamer"]
    model = load_model("efficientnet_lite0")
    direct = generate_metamers(model, [load_input("builtin:rocket", model.spec)], ["blocks_1"], iterations=4,
                               blocks=2, seed=3, batch_size=1, out_dir=tmp_path / "direct")
    again = load_file(tmp_path / "direct" / "efficientnet_lite0" / "rocket" / "blocks_1" / "metamer.safetensors")
    torch.testing.assert_close(saved, again["metamer"], rtol=0, atol=0)
    assert row["final_loss"] == pytest.approx(direct[0]["final_loss"], rel=1e-6)


def test_metamer_unit_takes_the_recipe_constants_as_generate_does(tmp_path):
    """A plan's init_step (and the other recipe constants) reach the engine: the unit equals a direct call with
    `tuned_recipe(init_step=8, noise_std=0.1)` and its record says so (issue 26)."""
    import torch
    from safetensors.torch import load_file

    from metazoo_core.inputs import load_input
    from metazoo_core.metamer import generate_metamers
    from metazoo_core.metamer.recipes import tuned_recipe
    from metazoo_core.models import load_model

    plan = write_plan(tmp_path, kind="metamer", stages=["blocks_1"], inputs=["builtin:rocket"],
                      options={**SHORT, "init_step": 8, "noise_std": 0.1})
    store = run_debug(plan, tmp_path / "run")
    row = table(store).iloc[0]
    assert row["recipe.init_step"] == 8 and row["recipe.noise_std"] == 0.1
    assert json.loads(row["recipe.step_sizes"]) == [8, 4]
    saved = load_file(store.root / Path(row["record"]).parent / "metamer.safetensors")["metamer"]
    model = load_model("efficientnet_lite0")
    direct = generate_metamers(model, [load_input("builtin:rocket", model.spec)], ["blocks_1"],
                               recipe=tuned_recipe("feather2023", init_step=8, noise_std=0.1), iterations=4,
                               blocks=2, batch_size=1)
    torch.testing.assert_close(saved, direct.metamers[0], rtol=0, atol=0)


def test_null_distribution_unit_equals_a_direct_build(tmp_path):
    import torch

    from metazoo_core.inputs import load_input
    from metazoo_core.metamer import NullDistribution, build_null
    from metazoo_core.models import load_model

    inputs = PHOTOS[:3]
    plan = write_plan(tmp_path, kind="null_distribution", stages=None, inputs=inputs, seeds=[1],
                      options={"pairs": 5})
    store = run_debug(plan, tmp_path / "run")
    assert_clean_and_complete(store, 1)
    row = table(store).iloc[0]
    saved = NullDistribution.load(store.root / Path(row["record"]).parent / "null.safetensors")
    model = load_model("efficientnet_lite0")
    direct = build_null(model, [load_input(s, model.spec) for s in inputs], pairs=5, seed=1, augment=True)
    assert saved.pairs == 5 and saved.stages == direct.stages
    for stage in direct.stages:
        for measure, values in direct.values[stage].items():
            torch.testing.assert_close(saved.values[stage][measure], values.to(torch.float64))
        assert row[f"max.{stage}.snr_db"] == pytest.approx(direct.max(stage)["snr_db"])


def test_robustness_unit_clean_accuracy_is_one_and_pgd_breaks_it(tmp_path):
    plan = write_plan(tmp_path, kind="robustness", stages=None, seeds=[0],
                      options={"norm": "linf", "eps": [0, 8 / 255], "steps": 3, "subsets": 2, "n": 3})
    store = run_debug(plan, tmp_path / "run")
    assert_clean_and_complete(store, 1)
    row = table(store).iloc[0]
    results = json.loads(row["results"])
    assert row["labels"] == "predicted" and row["schema"] == "metazoo.robustness/1" and row["metric"] == "accuracy"
    assert [r["eps"] for r in results] == [0.0, 8 / 255]
    assert results[0]["mean"] == 1.0  # labels are the model's own clean predictions
    assert results[1]["mean"] < 1.0  # 8/255 L∞ PGD fools a standard (not adversarially trained) ImageNet model
    assert len(results[0]["per_subset"]) == 2 and row["n"] == 3


def test_an_input_error_is_not_retried_and_is_reported_and_the_rest_completes(tmp_path, cli):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"this is not an image")
    plan = write_plan(tmp_path, stages=["head"], inputs=["builtin:chelsea", str(broken), "builtin:coffee"], retries=2)
    store = run_debug(plan, tmp_path / "run")
    states = {s.id: s for s in store.status()}
    bad = next(uid for uid in states if "-broken-" in uid)
    assert [s.state for uid, s in states.items() if uid != bad] == ["done", "done"]
    failures = store.failures(bad)
    assert len(failures) == 1 and failures[0]["type"] == "InputError"  # the same file would fail again: no retry
    assert "broken.png" in failures[-1]["error"]

    res = cli("status", str(store.root))
    assert res.returncode == 0, res.stderr
    assert "done 2 · running 0 · failed 1 · pending 0" in res.stdout
    assert bad in res.stderr and "failed after 1 attempt:" in res.stderr and "broken.png" in res.stderr
    assert "--retry-failed" in res.stderr
    js = json.loads(cli("status", str(store.root), "--json").stdout)
    assert js["counts"] == {"done": 2, "running": 0, "failed": 1, "pending": 0}

    run_debug(plan, store.root)  # a final failure: not tried again
    assert len(store.failures(bad)) == 1
    sub = submit(load_plan(plan), store, executor="debug", retry_failed=True)
    assert sub.todo == 1 and wait(sub) == [] and len(store.failures(bad)) == 1  # tried afresh, once
    assert len(table(store)) == 2


def _sweep_proc(plan: Path, root: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([*METAZOO, "sweep", str(plan), "--executor", "local", "-j", "1", "--out", str(root),
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


def _kill_mid_unit(store: Store, deadline: float) -> tuple[str, int]:
    """SIGKILL the worker while it holds a unit that is started (lock and work folder) and not committed — checked
    with the worker stopped — after at least one unit was committed."""
    while time.monotonic() < deadline:
        if done_files(store):
            for lock in (store.root / "locks").glob("*.lock"):
                try:
                    info = json.loads(lock.read_text())
                except (OSError, ValueError):
                    continue
                uid = lock.name.removesuffix(".lock")
                os.kill(info["pid"], signal.SIGSTOP)
                if lock.exists() and store.partial_dir(uid).exists() and not store.is_done(uid):
                    os.kill(info["pid"], signal.SIGKILL)
                    return uid, info["pid"]
                os.kill(info["pid"], signal.SIGCONT)
        time.sleep(0.02)
    raise AssertionError("no unit in progress to kill")


@pytest.mark.slow
def test_worker_killed_mid_unit_then_rerun_completes_only_the_missing_units(tmp_path, cli):
    plan = write_plan(tmp_path, kind="metamer", stages=["blocks_1", "head"], inputs=PHOTOS[:2], options=SHORT)
    store = Store(tmp_path / "run")
    first = _sweep_proc(plan, store.root)
    killed, pid = _kill_mid_unit(store, time.monotonic() + 240)
    out, err = first.communicate(timeout=120)
    assert first.returncode == 2 and "ended abnormally" in err, err
    before = done_files(store)
    assert 1 <= len(before) < 4 and killed not in before
    assert store.lock_path(killed).exists() and store.partial_dir(killed).exists()  # what the kill left behind

    second = _sweep_proc(plan, store.root)
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err
    assert f"{len(before)} already done" in err and f"{4 - len(before)} to run" in err
    after = done_files(store)
    assert {uid: after[uid] for uid in before} == before  # finished units were not redone
    rerun_pids = {json.loads(after[uid])["pid"] for uid in set(after) - set(before)}
    assert len(rerun_pids) == 1 and pid not in rerun_pids and killed in after
    lost = store.failures(killed)
    assert [f["type"] for f in lost] == ["WorkerLost"] and str(pid) in lost[0]["error"]
    assert_clean_and_complete(store, 4)
    res = cli("collect", str(store.root))
    assert res.returncode == 0 and "4 records" in res.stdout


@pytest.mark.slow
def test_two_concurrent_sweeps_on_one_store_give_one_result_per_unit(tmp_path):
    plan = write_plan(tmp_path, kind="metamer", stages=["blocks_1", "head"], inputs=PHOTOS[:3], options=SHORT)
    store = Store(tmp_path / "run")
    procs = [_sweep_proc(plan, store.root), _sweep_proc(plan, store.root)]
    results = [p.communicate(timeout=400) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    dones = [json.loads(t) for t in done_files(store).values()]
    assert len(dones) == 6 and all(d["attempt"] == 1 for d in dones)
    assert len({d["pid"] for d in dones}) == 2  # both sweeps' workers did part of the work
    assert not list((store.root / "failures").iterdir())
    assert_clean_and_complete(store, 6)
