"""The plugin entrance: families declared once and looked up by name, third-party plugins through entry points
(the plugin guide's example, pip-installed), refused family clashes, plugin commands, isolation of a broken plugin,
and validation of family / weights.format / metamer.schedule before any model is built."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    """The toy, clashing and broken plugin packages pip-installed into a private site folder (not the shared venv)."""
    site = tmp_path_factory.mktemp("site")
    for pkg in ("toyplugin", "clashplugin", "brokenplugin"):
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
    assert toy and toy[0].endswith("ok") and "toy (formats: -; schedules: none)" in toy[0]
    hmax = [ln for ln in r.stdout.splitlines() if ln.startswith("hmax ")]
    assert "formats: robustness; schedules: hmax_units, hmax_units_code, none" in hmax[0]


def test_family_clash_refused_in_one_line_and_builtin_keeps_working(cli, plugin_site):
    r = cli("plugins", env=_env(plugin_site))
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("clash ")]
    assert len(lines) == 1 and "FAILED" in lines[0]
    assert "family 'torchvision' is already provided by plugin 'torchvision'; plugin 'clash'" in lines[0]
    tv = [ln for ln in r.stdout.splitlines() if ln.startswith("torchvision ")]
    assert tv[0].endswith("ok")
    code = ("from metazoo_core.models import load_model; from metazoo_core.stages import stage_shapes\n"
            "print(stage_shapes(load_model('alexnet', pretrained=False, device='meta'))['relu4'])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, **_env(plugin_site)})
    assert r.returncode == 0 and r.stdout.strip() == "(256, 13, 13)", r.stderr[-500:]


def test_plugin_command_in_help_without_torch(cli, plugin_site):
    code = ("import sys; sys.argv=['metazoo','--help']\nfrom metazoo_cli.app import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\nsys.stderr.write('TORCH=%s' % ('torch' in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, **_env(plugin_site)})
    assert "toy-stages" in r.stdout and "TORCH=False" in r.stderr, r.stderr[-500:]
    r = cli("toy-stages", env=_env(plugin_site))
    assert r.returncode == 0 and r.stdout.split() == ["relu0", "relu1", "final"]


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


# -- validation at registry load, before any model is built --------------------------------------------------------
_ENTRY = {"id": "tiny", "family": "efficientnet", "modality": "vision", "input": {"shape": [3, 8, 8], "range": [0, 1]},
          "stages": [{"name": "final", "shape": [10]}]}


@pytest.mark.parametrize("change, expected", [
    ({"family": "efficientnett"}, "unknown family 'efficientnett'; choose anymodel, clip, cochcnn9,"),
    ({"weights": {"source": "https://example.invalid/w.pth", "format": "lukemelass"}},
     "unknown weights.format 'lukemelass' for family efficientnet; choose lukemelas"),
    ({"family": "hmax", "metamer": {"schedule": "hmax_unit"}},
     "unknown metamer.schedule 'hmax_unit' for family hmax; choose hmax_units, hmax_units_code, none"),
])
def test_registry_typo_is_one_line_listing_the_choices(cli, tmp_path, change, expected):
    import yaml

    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump({"models": [{**_ENTRY, **change}]}))
    r = cli("list", env={"METAZOO_REGISTRY": str(path)})
    assert r.returncode != 0 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and f"entry 'tiny': {expected}" in lines[0], r.stderr


def test_plugin_spec_with_unknown_family_marks_only_that_plugin_failed():
    from metazoo_core.hookspecs import hookimpl
    from metazoo_core.plugins import build_host

    class Typo:
        @hookimpl
        def metazoo_register_specs(self, register):
            register({**_ENTRY, "family": "torchvison"})

    host = build_host(extra_plugins={"typo": Typo()})
    assert "unknown family 'torchvison'; choose" in host.plugins["typo"].error
    assert "tiny" not in host.registry and "alexnet" in host.registry


def test_unknown_schedule_on_the_command_line_lists_the_valid_ones(cli, tmp_path):
    r = cli("generate", "hmax", "builtin:chelsea", "--stage", "s1", "--schedule", "typo", "--out", str(tmp_path))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == ("error: unknown schedule 'typo' for family hmax of 'hmax'; "
                                "choose hmax_units, hmax_units_code, none")
    assert not any(tmp_path.iterdir())  # stopped before building the model or writing anything


def test_dispatch_is_by_name_with_one_signature():
    from metazoo_core.errors import MetazooError
    from metazoo_core.plugins import host

    h = host()
    # every family used, none missing (anymodel serves resolved ids, not registry entries)
    assert {h.registry.get(i).family for i in h.registry.ids()} == set(h.families) - {"anymodel"}
    hmax = h.registry.get("hmax")
    assert h.schedule(hmax, "s1", {"name": "none"}) is None
    assert h.schedule(hmax, "s1", {"name": "hmax_units_code", "iterations": 300}).variant == "code"
    with pytest.raises(MetazooError, match="unknown schedule 'hmax_unit' for family hmax"):
        h.schedule(hmax, "s1", {"name": "hmax_unit"})


def test_plugin_command_cannot_take_an_existing_name():
    import typer

    from metazoo_core.hookspecs import hookimpl
    from metazoo_core.plugins import register_commands

    class Commands:
        @hookimpl
        def metazoo_register_commands(self, cli):
            @cli.command(name="list")
            def shadow() -> None:
                """would replace `metazoo list`"""

            @cli.command()
            def extra_thing() -> None:
                """a new command"""

    app = typer.Typer()

    @app.command(name="list")
    def listing() -> None:
        """the built-in"""

    warnings: list[str] = []
    register_commands(app, warn=warnings.append, extra_plugins={"commands": Commands()}, use_entry_points=False)
    assert [c.callback.__name__ for c in app.registered_commands] == ["listing"]
    assert warnings == ["warning: plugin 'commands' could not add its commands: MetazooError: command name(s) list "
                        "already taken"]


def test_a_plugin_declares_an_archive_its_specs_name():
    """A third-party family whose checkpoints share one tar: the plugin declares the archive once, its specs name
    members of it, and the weights code resolves them like registry.yaml's archives; a clash or a missing archive
    fails only that plugin."""
    from metazoo_core.hookspecs import hookimpl
    from metazoo_core.plugins import build_host

    entry = {**_ENTRY, "id": "tiny_from_tar", "weights": {"archive": "lab_tar", "member": "tiny.pt"}}

    class Lab:
        @hookimpl
        def metazoo_register_archives(self, register):
            register("lab_tar", {"url": "https://example.org/lab/checkpoints.tar", "notes": "made up for a test"})

        @hookimpl
        def metazoo_register_specs(self, register):
            register(entry)

    class Clash:
        @hookimpl
        def metazoo_register_archives(self, register):
            register("study_visual", {"url": "https://example.org/other.tar"})

    class Missing:
        @hookimpl
        def metazoo_register_specs(self, register):
            register({**entry, "id": "tiny_missing", "weights": {"archive": "nowhere", "member": "x.pt"}})

    host = build_host(extra_plugins={"lab": Lab(), "clash": Clash(), "missing": Missing()})
    assert host.plugins["lab"].error is None and "tiny_from_tar" in host.registry
    assert host.registry.archives["lab_tar"].url == "https://example.org/lab/checkpoints.tar"
    assert "archive 'study_visual', which is already declared" in host.plugins["clash"].error
    assert host.registry.archives["study_visual"].url != "https://example.org/other.tar"
    assert "weights archive 'nowhere' is not in the 'archives:' table" in host.plugins["missing"].error
    assert "tiny_missing" not in host.registry
