"""CPUs allotted (affinity, cgroup v1/v2 quota, SLURM_CPUS_PER_TASK) and the workers × threads split."""
import os

import pytest

from metazoo_core.cpus import allotted_cpus, default_thread_env, workers_and_threads

AFFINITY = len(os.sched_getaffinity(0))


def test_affinity_without_limits(tmp_path):
    assert allotted_cpus({}, cgroup=tmp_path) == AFFINITY


@pytest.mark.parametrize("text, cpus", [("50000 100000\n", 1), ("150000 100000\n", 2), ("max 100000\n", None)])
def test_cgroup_v2_quota_rounds_up(tmp_path, text, cpus):
    (tmp_path / "cpu.max").write_text(text)
    assert allotted_cpus({}, cgroup=tmp_path) == (AFFINITY if cpus is None else min(cpus, AFFINITY))


def test_cgroup_v1_quota(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert allotted_cpus({}, cgroup=tmp_path) == 1
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert allotted_cpus({}, cgroup=tmp_path) == AFFINITY


def test_slurm_cpus_per_task_limits(tmp_path):
    assert allotted_cpus({"SLURM_CPUS_PER_TASK": "1"}, cgroup=tmp_path) == 1
    assert allotted_cpus({"SLURM_CPUS_PER_TASK": "512"}, cgroup=tmp_path) == AFFINITY


def test_workers_times_threads_never_exceed_the_cpus():
    assert workers_and_threads(tasks=8, cpus=2) == (2, 1)
    assert workers_and_threads(tasks=1, cpus=4) == (1, 4)
    assert workers_and_threads(tasks=3, cpus=8) == (3, 2)
    assert workers_and_threads(tasks=8, cpus=8, max_workers=2) == (2, 4)
    for tasks in range(1, 10):
        for cpus in range(1, 17):
            w, t = workers_and_threads(tasks, cpus)
            assert w * t <= cpus and w <= tasks


def test_thread_env_respects_the_user():
    env = {"OMP_NUM_THREADS": "3"}
    default_thread_env(env)
    assert env["OMP_NUM_THREADS"] == "3"
    env = {"SLURM_CPUS_PER_TASK": "1"}
    default_thread_env(env)
    assert env["OMP_NUM_THREADS"] == "1"


def test_budget_is_the_users_thread_count_when_set():
    from metazoo_core.cpus import cpu_budget

    assert cpu_budget({"OMP_NUM_THREADS": "1"}) == 1
    assert cpu_budget({"OMP_NUM_THREADS": "", "SLURM_CPUS_PER_TASK": "1"}) == 1
