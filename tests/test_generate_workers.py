"""Worker processes for `metazoo generate`: the same metamers and records whatever the worker count, a killed
worker reported in one line with the others' results kept, resume, option checks and the split's balance."""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
from collections import Counter

import pytest
import torch

from metazoo_core.errors import InputError
from metazoo_core.io.images import load_image
from metazoo_core.metamer import generate_metamers
from metazoo_core.metamer.workers import check_threads, check_workers, generate_with_workers, plan_workers, split_items
from metazoo_core.models import load_model
from tests.climain import run_main

STAGES = ["blocks_1", "blocks_3"]  # convolutional stages: their steps do not depend on which items share a batch
RUN = dict(iterations=12, blocks=1, checkpoint_every=4, log_every=2, gather_every=2)
TIMING = ("wall_time_s", "completed")


@pytest.fixture(scope="module")
def model():
    return load_model("efficientnet_lite0", pretrained=False)


@pytest.fixture(scope="module")
def photos(model):
    return [load_image(f"builtin:{n}", model.spec.input) for n in ("chelsea", "rocket")]


@pytest.fixture(scope="module")
def reference(model, photos, tmp_path_factory):
    """One process, one thread: the run every worker split must reproduce."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return generate_metamers(model, photos, STAGES, out_dir=tmp_path_factory.mktemp("one"), **RUN)
    finally:
        torch.set_num_threads(threads)


def _same(run, reference, files: bool = True) -> None:
    assert len(run) == len(reference)
    for a, b, ra, rb in zip(run.metamers, reference.metamers, run, reference):
        # exact: every worker runs one thread of the same build on the same kernels as the reference, and items
        # are independent of their batch neighbours (tests/test_metamer_engine.py)
        assert torch.equal(a, b), (ra["input"]["name"], ra["stage"])
        skip = TIMING if files else (*TIMING, "files")
        assert {k: v for k, v in ra.items() if k not in skip} == {k: v for k, v in rb.items() if k not in skip}


def test_two_workers_give_the_one_process_metamers_and_records(model, photos, reference):
    run, problems = generate_with_workers(model, photos, STAGES, workers=2, threads=1, **RUN)  # in memory
    assert problems == []
    _same(run, reference, files=False)
    assert all(r["files"] is None for r in run)


def test_killed_worker_is_one_line_others_kept_and_rerun_resumes(model, photos, reference, tmp_path):
    killed = []

    def kill_worker_1(event):  # worker 1 holds chelsea × both stages; killed after its first checkpoint
        if getattr(event, "worker", 0) == 1 and event.step >= 6 and not killed:
            proc = next(p for p in mp.active_children() if p.name == "metazoo-worker-1")
            os.kill(proc.pid, signal.SIGKILL)
            killed.append(proc.pid)

    run, problems = generate_with_workers(model, photos, STAGES, workers=2, threads=1, out_dir=tmp_path,
                                          progress=kill_worker_1, **RUN)
    assert killed and len(problems) == 1
    assert problems[0].startswith("worker 1/2 (chelsea × blocks_1, chelsea × blocks_3) failed: killed by signal 9")
    assert [(r["input"]["name"], r["stage"]) for r in run] == [("rocket", s) for s in STAGES]
    folder = tmp_path / "efficientnet_lite0" / "chelsea" / "blocks_1"
    assert (folder / "state.safetensors").is_file() and not (folder / "record.json").exists()
    resumed, problems = generate_with_workers(model, photos, STAGES, workers=2, threads=1, out_dir=tmp_path, **RUN)
    assert problems == []
    _same(resumed, reference)
    events = []  # a finished run starts no worker: it only loads the records
    again, problems = generate_with_workers(model, photos, STAGES, workers=2, threads=1, out_dir=tmp_path,
                                            progress=events.append, **RUN)
    assert problems == [] and events == []
    _same(again, reference)


@pytest.mark.parametrize("n_inputs, stages, workers", [(4, 2, 2), (3, 2, 2), (5, 3, 4), (1, 3, 2), (2, 1, 5)])
def test_split_gives_each_worker_an_even_share_of_every_stage(n_inputs, stages, workers):
    items = [(i, f"s{k}") for i in range(n_inputs) for k in range(stages)]
    shares = split_items(items, workers)
    assert sorted(x for share in shares for x in share) == sorted(items)
    assert len(shares) == min(workers, len(items))
    sizes = [len(share) for share in shares]
    assert max(sizes) - min(sizes) <= 1
    for k in range(stages):
        per_stage = [Counter(s for _, s in share)[f"s{k}"] for share in shares]
        assert max(per_stage) - min(per_stage) <= 1
    assert all(share == sorted(share, key=items.index) for share in shares)


def test_plan_follows_the_budget_and_caps_at_the_items():
    assert plan_workers(None, None, items=8, budget=2) == (2, 1)
    assert plan_workers(None, None, items=1, budget=4) == (1, 4)
    assert plan_workers(None, None, items=3, budget=8) == (3, 2)
    assert plan_workers(4, None, items=2, budget=4) == (2, 2)
    assert plan_workers(2, 3, items=8, budget=2) == (2, 3)
    assert plan_workers(None, None, items=8, budget=2, device="cuda") == (1, 2)
    assert plan_workers(2, None, items=8, budget=2, device="cuda") == (2, 1)
    assert plan_workers(None, None, items=8, budget=2, steps=999) == (1, 2)  # start-up would not pay off
    assert plan_workers(None, None, items=8, budget=2, steps=24000) == (2, 1)
    assert plan_workers(2, None, items=8, budget=2, steps=10) == (2, 1)  # an explicit count is kept
    assert check_workers("auto") is None and check_workers("3") == 3 and check_threads(None) is None
    for bad in ("0", "-1", "two", "1.5"):
        with pytest.raises(InputError, match="--workers"):
            check_workers(bad)
    with pytest.raises(InputError, match="--threads"):
        check_threads(0)


@pytest.mark.parametrize("flags, where", [(["--workers", "0"], "--workers"), (["--workers", "many"], "--workers"),
                                          (["--threads", "0"], "--threads")])
def test_bad_worker_option_is_one_line(flags, where, tmp_path):
    r = run_main("generate", "efficientnet_lite0", "builtin:chelsea", "-s", "blocks_1", "--random-weights",
                 "--out", str(tmp_path), *flags)
    assert r.code != 0 and "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and where in lines[0], r.stderr
