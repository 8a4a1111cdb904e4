"""Third-party plugins through entry points, and isolation of a broken plugin."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    """The toy and broken plugin packages pip-installed into a private site folder (not the shared venv)."""
    site = tmp_path_factory.mktemp("site")
    for pkg in ("toyplugin", "brokenplugin"):
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                        "--target", str(site), str(FIXTURES / pkg)], check=True, capture_output=True)
    return site


def _env(site):
    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


def test_third_party_model_is_listed(cli, plugin_site):
    r = cli("list", "--json", env=_env(plugin_site))
    assert r.returncode == 0, r.stderr
    rows = {row["id"]: row for row in json.loads(r.stdout)}
    assert rows["toy_cnn"]["family"] == "toy" and rows["toy_cnn"]["n_stages"] == 3
    assert "efficientnet_lite0" in rows  # the broken plugin broke nothing else


def test_broken_plugin_reported_in_one_line(cli, plugin_site):
    r = cli("plugins", env=_env(plugin_site))
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("broken ")]
    assert len(lines) == 1
    assert "FAILED" in lines[0] and "metazoo_dependency_that_does_not_exist" in lines[0]
    toy = [ln for ln in r.stdout.splitlines() if ln.startswith("toy ")]
    assert toy and toy[0].endswith("ok")


def test_third_party_model_builds_and_runs(cli, plugin_site, tmp_path):
    r = cli("activations", "toy_cnn", "builtin:chelsea", "--stage", "relu1", "--random-weights",
            "--out", str(tmp_path), env=_env(plugin_site))
    assert r.returncode == 0, r.stderr
    import numpy as np

    arr = np.load(tmp_path / "chelsea__relu1.npy")
    assert arr.shape == (16, 8, 8) and (arr >= 0).all()


def test_failing_register_hook_is_isolated():
    from metazoo_core.hookspecs import hookimpl
    from metazoo_core.plugins import build_host

    class Raises:
        @hookimpl
        def metazoo_register_specs(self, register):
            raise RuntimeError("database offline")

    class BadSpec:
        @hookimpl
        def metazoo_register_specs(self, register):
            register({"id": "oops", "family": "x", "modality": "smell", "input": {}, "stages": []})

    host = build_host(extra_plugins={"raises": Raises(), "badspec": BadSpec()})
    errors = {p.name: p.error for p in host.failures}
    assert "database offline" in errors["raises"]
    assert "oops" in errors["badspec"] and "modality" in errors["badspec"]
    assert "efficientnet_lite0" in host.registry and "oops" not in host.registry


def test_nothing_importable_under_generic_names(tmp_path):
    code = "import importlib.util as u; print(u.find_spec('cli'), u.find_spec('plugins'), u.find_spec('metazoo_cli'))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    none_cli, none_plugins, found = r.stdout.split(" ", 2)
    assert none_cli == "None" and none_plugins == "None" and found.strip() != "None"
