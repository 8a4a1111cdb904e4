"""Sweep plans, unit ids and the result store (locks, stale owners, commits, status) — no models are run here."""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from metazoo_core.errors import MetazooError
from metazoo_core.sweep.executors import chunk
from metazoo_core.sweep.plan import PlanError, load_plan, parse_plan
from metazoo_core.sweep.store import Store, lock_is_stale, owner_info

PHOTOS = ["builtin:chelsea", "builtin:coffee", "builtin:rocket", "builtin:astronaut"]
STAGES = ["blocks_1", "blocks_3", "head"]


def plan_dict(**over):
    return {"name": "t", "kind": "activations", "models": ["efficientnet_lite0"], "stages": STAGES,
            "inputs": PHOTOS, "seeds": [0], "retries": 1, **over}


def make_store(tmp_path: Path, **over) -> tuple[Store, list[str]]:
    plan = parse_plan(plan_dict(**over), "test-plan", tmp_path)
    store = Store(tmp_path / "run")
    store.write_manifest(plan)
    return store, [u.id for u in plan.units]


# -- plans -------------------------------------------------------------------------------------------------------

def test_plan_expands_to_the_product_in_plan_order(tmp_path):
    plan = parse_plan(plan_dict(seeds=[0, 1]), "p", tmp_path)
    assert len(plan.units) == 1 * 4 * 3 * 2
    assert len({u.id for u in plan.units}) == 24
    keys = [(u.input, u.stage, u.seed) for u in plan.units]
    assert keys == [(i, s, r) for i in PHOTOS for s in STAGES for r in (0, 1)]
    assert plan.units[0].id.startswith("activations-efficientnet_lite0-chelsea-blocks_1-s0-")


def test_unit_ids_are_stable_and_cover_every_option(tmp_path):
    a = parse_plan(plan_dict(kind="metamer", options={"iterations": 10}), "p", tmp_path)
    b = parse_plan(plan_dict(kind="metamer", options={"iterations": 10}), "p", tmp_path)
    c = parse_plan(plan_dict(kind="metamer", options={"iterations": 11}), "p", tmp_path)
    assert [u.id for u in a.units] == [u.id for u in b.units]
    assert not {u.id for u in a.units} & {u.id for u in c.units}
    # pinned: a store written by an earlier metazoo must still be recognised (skip-if-done depends on it)
    assert a.units[0].id == "metamer-efficientnet_lite0-chelsea-blocks_1-s0-a070957bfc"
    code = ("from pathlib import Path; from metazoo_core.sweep.plan import parse_plan; import json, sys; "
            "print(parse_plan(json.loads(sys.argv[1]), 'p', Path(sys.argv[2])).units[5].id)")
    raw = json.dumps(plan_dict(kind="metamer", options={"iterations": 10}))
    other = subprocess.run([sys.executable, "-c", code, raw, str(tmp_path)],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert other == a.units[5].id  # same id in another process (no salted hash())


def test_duplicate_units_collapse_and_groups_combine(tmp_path):
    group = {k: v for k, v in plan_dict().items() if k not in ("name", "retries")}
    plan = parse_plan({"groups": [group, group, {**group, "kind": "null_distribution", "stages": None, "seeds": [0, 1],
                                                    "options": {"pairs": 10}}]}, "p", tmp_path)
    kinds = [u.kind for u in plan.units]
    assert kinds.count("activations") == 12 and kinds.count("null_distribution") == 2
    null = [u for u in plan.units if u.kind == "null_distribution"][0]
    assert null.inputs == tuple(PHOTOS) and null.stage is None and null.input is None


def test_relative_inputs_resolve_against_the_plan_folder(tmp_path):
    (tmp_path / "photos").mkdir()
    for name in ("b.png", "a.png"):
        (tmp_path / "photos" / name).write_bytes(b"")
    path = tmp_path / "plan.yaml"
    path.write_text("kind: activations\nmodels: efficientnet_lite0\nstages: [head]\ninputs: [photos]\n")
    plan = load_plan(path)
    assert [u.input for u in plan.units] == [str(tmp_path / "photos" / "a.png"), str(tmp_path / "photos" / "b.png")]
    assert plan.name == "plan"


@pytest.mark.parametrize("text, needle", [
    ("kind: activations\nmodels: [efficientnet_lite9]\nstages: [head]\ninputs: [builtin:chelsea]\n",
     "unknown model 'efficientnet_lite9' (did you mean"),
    ("kind: activations\nmodels: [efficientnet_lite0]\nstages: [blocks_9]\ninputs: [builtin:chelsea]\n",
     "no stage 'blocks_9'"),
    ("kind: activations\nmodels: [efficientnet_lite0]\ninputs: [builtin:chelsea]\n", "needs `stages:`"),
    ("kind: activatoins\nmodels: [efficientnet_lite0]\nstages: [head]\ninputs: [builtin:chelsea]\n", "field 'kind'"),
    ("models: [efficientnet_lite0\n", "malformed YAML"),
    ("kind: metamer\nmodels: [efficientnet_lite0]\nstages: [head]\ninputs: [builtin:chelsea]\n"
     "options: {iteratons: 5}\n", "unknown option 'iteratons' (did you mean iterations?)"),
    ("kind: robustness\nmodels: [efficientnet_lite0]\ninputs: [builtin:chelsea]\noptions: {norm: l2}\n",
     "needs options eps"),
    ("retries: -1\nmodels: [efficientnet_lite0]\nstages: [head]\ninputs: [builtin:chelsea]\n", "field 'retries'"),
    ("kind: metamer\nmodels: [efficientnet_lite0]\nstages: [head]\ninputs: [builtin:chelsea]\n"
     "options: {init_step: -1}\n", "option 'init_step': Input should be greater than 0"),
    ("kind: metamer\nmodels: [efficientnet_lite0]\nstages: [head]\ninputs: [builtin:chelsea]\n"
     "options: {init_step: x}\n", "option 'init_step': Input should be a number"),
    ("kind: metamer\nmodels: [efficientnet_lite0]\nstages: [head]\ninputs: [builtin:chelsea]\n"
     "options: {recipe: adam, init_step: 8}\n", "option init_step: --init-step applies to the normalised-gradient"),
    ("kind: metamer\nmodels: [efficientnet_lite0]\nstages: [head]\ninputs: [builtin:chelsea]\n"
     "options: {optimise: fold-bm}\n", "optimise"),
    ("kind: null_distribution\nmodels: [efficientnet_lite0]\ninputs: [builtin]\noptions: {pairing: blockd}\n",
     "option 'pairing': Input should be 'independent' or 'blocked'"),
])
def test_plan_mistakes_are_one_line_errors(tmp_path, text, needle):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(PlanError) as e:
        load_plan(path)
    msg = str(e.value)
    assert needle in msg and "\n" not in msg and "bad.yaml" in msg


def test_long_input_names_keep_ids_short_and_unique(tmp_path):
    long = [tmp_path / f"{'x' * 240}{i}.png" for i in range(2)]
    for path in long:
        path.write_bytes(b"")
    plan = parse_plan(plan_dict(inputs=[str(p) for p in long]), "p", tmp_path)
    ids = [u.id for u in plan.units]
    assert len(set(ids)) == 6 and max(map(len, ids)) <= 150 + 11


def test_chunks_cover_every_unit_once_in_order():
    ids = [f"u{i}" for i in range(23)]
    for chunks in (chunk(ids, n_chunks=4), chunk(ids, size=5), chunk(ids, n_chunks=50)):
        assert [u for c in chunks for u in c] == ids
    assert [len(c) for c in chunk(ids, n_chunks=4)] == [6, 6, 6, 5]
    assert [len(c) for c in chunk(ids, size=5)] == [5, 5, 5, 5, 3]
    assert len(chunk(ids, n_chunks=50)) == 23 and chunk([], size=3) == []


# -- locks -------------------------------------------------------------------------------------------------------

def test_live_owner_keeps_the_unit(tmp_path):
    store, ids = make_store(tmp_path)
    lock = store.claim(ids[0])
    assert lock is not None and json.loads(store.lock_path(ids[0]).read_text())["pid"] == os.getpid()
    assert store.claim(ids[0]) is None
    assert store.state(ids[0], 1).state == "running"
    lock.release()
    assert not store.lock_path(ids[0]).exists()
    assert store.state(ids[0], 1).state == "pending"


def test_lock_of_a_killed_worker_is_broken_and_counted(tmp_path):
    store, ids = make_store(tmp_path)
    code = ("import sys, time; from metazoo_core.sweep.store import Store; "
            "l = Store(sys.argv[1]).claim(sys.argv[2]); print('held', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(store.root), ids[0]], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    assert store.claim(ids[0]) is None  # owner alive
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert store.state(ids[0], 1).state == "pending"  # a dead owner's lock does not count as running
    lock = store.claim(ids[0])
    assert lock is not None
    failures = store.failures(ids[0])
    assert len(failures) == 1 and failures[0]["type"] == "WorkerLost" and str(proc.pid) in failures[0]["error"]
    lock.release()


def test_stale_rules():
    me = owner_info()
    assert not lock_is_stale(me, 0.0)
    assert lock_is_stale({**me, "pid_start": "1"}, 0.0)  # our pid, but another process's start time: pid reused
    other = {**me, "host": "node-that-is-not-this-one", "job": None}
    assert not lock_is_stale(other, 599.0) and lock_is_stale(other, 601.0)
    assert lock_is_stale(None, 11.0) and not lock_is_stale(None, 1.0)


def test_requeued_slurm_task_takes_over_its_own_lock(monkeypatch):
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "77")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    earlier = {**owner_info(), "host": "other-node", "pid": 12345, "restart": 0}
    assert earlier["job"] == "77_3"
    assert lock_is_stale(earlier, 0.0)  # the same array task before its requeue
    assert not lock_is_stale({**earlier, "job": "77_4"}, 0.0)  # another task, heartbeat fresh
    assert not lock_is_stale({**earlier, "restart": 1}, 0.0)  # another process of this same run


def test_a_worker_that_lost_its_lock_neither_commits_nor_releases(tmp_path):
    store, ids = make_store(tmp_path)
    lock = store.claim(ids[0])
    (store.fresh_partial(ids[0]) / "late.txt").write_text("stalled worker's result")
    store.lock_path(ids[0]).write_text(json.dumps({**owner_info(), "token": "someone-else"}))  # taken over
    assert store.commit(ids[0], {"records": []}, lock) is None and not store.is_done(ids[0])
    lock.release()
    assert store.lock_path(ids[0]).exists()


def _race(root: str, ids: list[str], seed: int, out: "mp.Queue") -> None:
    store, won = Store(root), []
    order = ids[:]
    random.Random(seed).shuffle(order)
    for uid in order:
        lock = store.claim(uid)
        if lock is None:
            continue
        try:
            if store.is_done(uid):
                continue
            work = store.fresh_partial(uid)
            (work / "who.txt").write_text(str(os.getpid()))
            time.sleep(0.002)
            assert store.commit(uid, {"records": [], "pid": os.getpid()}, lock) is not None
            won.append(uid)
        finally:
            lock.release()
    out.put(won)


def test_racing_workers_commit_each_unit_exactly_once(tmp_path):
    store, ids = make_store(tmp_path, seeds=[0, 1, 2])  # 36 units
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_race, args=(str(store.root), ids, s, q)) for s in range(6)]
    for p in procs:
        p.start()
    won = [q.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(10)
    flat = [u for w in won for u in w]
    assert sorted(flat) == sorted(ids)  # every unit once, none twice
    for w in won:
        for uid in w:
            done = json.loads((store.unit_dir(uid) / "done.json").read_text())
            assert (store.unit_dir(uid) / "who.txt").read_text() == str(done["pid"])
    assert not list((store.root / "partial").iterdir()) and not list((store.root / "locks").iterdir())


def test_status_counts_and_failures(tmp_path):
    store, ids = make_store(tmp_path)  # retries 1 → failed after 2 attempts
    lock = store.claim(ids[0])
    store.fresh_partial(ids[0])
    store.commit(ids[0], {"records": []}, lock)
    lock.release()
    held = store.claim(ids[1])
    for n in (1, 2):
        store.record_exception(ids[2], MetazooError(f"cannot read photo.png (attempt {n}); is it an image?"))
    store.record_exception(ids[3], ValueError("flaky"))
    states = {s.id: s for s in store.status()}
    assert [states[i].state for i in ids[:4]] == ["done", "running", "failed", "pending"]
    assert states[ids[2]].attempts == 2
    assert states[ids[2]].last_error == "cannot read photo.png (attempt 2); is it an image?"
    assert store.failures(ids[2])[0]["traceback"] is None and "ValueError" in store.failures(ids[3])[0]["traceback"]
    assert sum(s.state == "pending" for s in states.values()) == 12 - 3
    assert store.clear_failures(ids) == 2 and store.state(ids[2], 1).state == "pending"
    held.release()


def test_manifest_merges_plans_and_open_refuses_other_folders(tmp_path):
    store, ids = make_store(tmp_path)
    more = parse_plan(plan_dict(seeds=[5]), "second", tmp_path)
    store.write_manifest(more)
    store.write_manifest(more)  # rerun
    manifest = store.manifest()
    assert len(manifest["units"]) == 24 and [p["name"] for p in manifest["plans"]] == ["t", "t"]
    assert set(ids) <= set(store.units())
    with pytest.raises(MetazooError, match="not a sweep store"):
        Store.open(tmp_path / "elsewhere")
