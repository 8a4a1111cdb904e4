"""Test-wide settings: offline hubs, a small thread count, an empty cache per run, and shared fixtures."""
import os
import subprocess
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("OMP_NUM_THREADS", "2")

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
pytest_plugins = ["npm_registry"]  # the `jspsych_cached` fixture (jsPsych from a loopback npm mirror)
METAZOO = [sys.executable, "-m", "metazoo_cli.app"]


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 600):
    """Run `metazoo ARGS…` in a subprocess; returns CompletedProcess with text stdout/stderr."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([*METAZOO, *args], capture_output=True, text=True, env=full_env, cwd=cwd,
                          timeout=timeout)


@pytest.fixture(scope="session", autouse=True)
def fresh_cache(tmp_path_factory):
    """Every test run starts from empty caches inside pytest's temporary folder: nothing a test reads comes from
    the user's ~/.cache (metazoo weights and generated HMAX patches, the Hugging Face hub, torch/timm).
    Session-wide: tests may share what an earlier test in the run built, but never state from outside the run."""
    root = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        for var, sub in (("METAZOO_CACHE", "metazoo"), ("HF_HOME", "hf"), ("XDG_CACHE_HOME", "xdg"),
                         ("TORCH_HOME", "torch")):
            mp.setenv(var, str(root / sub))
        yield root


@pytest.fixture
def one_thread():
    """torch on one thread for this test (restored afterwards): for exact equalities whose summation order
    depends on the thread count, and for tests that time or compare many small steps."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def cli():
    return run_cli
