"""Probe S10/S11 command options: each mistake is one `error:` line and a nonzero exit, found before any model
or input loads (these calls return in well under a second because nothing is loaded)."""
from __future__ import annotations

import os
import stat

import pytest

from probes import assert_one_line, invoke

GEN = ["generate", "efficientnet_lite0", "builtin:chelsea", "--stage", "blocks_1", "--iterations", "5",
       "--blocks", "1"]


@pytest.mark.parametrize("args, needle", [
    (["--checkpoint-every", "0"], "--checkpoint-every 0"),
    (["--checkpoint-every", "-1"], "--checkpoint-every -1"),
    (["--device", "cuda"], "available: cpu"),
    (["--device", "cuda:3"], "available: cpu"),
    (["--device", "mps"], "available: cpu"),
    (["--device", "gpu"], "auto, cpu, cuda, cuda:N or mps"),
    (["--schedule", "nope"], "choose none"),
    (["--seed", "18446744073709551616"], "2^63-1"),
    (["--seed", "-1"], "2^63-1"),
    (["--iterations", "0"], "--iterations 0"),
    (["--batch-size", "0"], "--batch-size 0"),
])
def test_generate_option_mistakes_are_one_line_before_loading(tmp_path, args, needle, monkeypatch):
    import metazoo_core.models as models

    def no_load(*a, **k):
        raise AssertionError("the model was loaded before the options were checked")

    monkeypatch.setattr(models, "load_model", no_load)
    r = invoke(*GEN, "--out", str(tmp_path / "run"), *args)
    assert_one_line(r, needle)
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


def test_device_auto_picks_the_cpu_here_with_a_notice(capsys):
    from metazoo_cli.console import pick_device
    from metazoo_core.devices import available_devices

    here = available_devices()
    chosen = pick_device("auto")
    assert chosen == next((d for d in here if d != "cpu"), "cpu")
    assert "--device auto: using" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["null", "efficientnet_lite0"], ["activations", "efficientnet_lite0",
                                     "builtin:chelsea", "--stage", "blocks_1"],
                                     ["predict", "efficientnet_lite0", "builtin:chelsea"],
                                     ["recognize", "norun", "--models", "efficientnet_lite0"],
                                     ["robustness", "efficientnet_lite0", "--norm", "l2", "--eps", "0,1"],
                                     ["generate", "efficientnet_lite0", "builtin", "--stage", "final"]])
def test_every_model_command_checks_the_device(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_one_line(invoke(*command, "--device", "cuda:7"), "cuda:7")


def test_predict_top_zero_is_refused():
    assert_one_line(invoke("predict", "efficientnet_lite0", "builtin:chelsea", "--top", "0"), "--top 0")


def test_predict_top_beyond_the_classes_shows_them_all():
    r = invoke("predict", "efficientnet_lite0", "builtin:chelsea", "--top", "5000", "--json")
    assert r.code == 0, r.stderr
    import json

    rows = json.loads(r.stdout)
    assert len(rows[0]["top"]) == 1000 and "showing all of them" in r.stderr
    assert abs(sum(t["p"] for t in rows[0]["top"]) - 1) < 0.01


def test_out_that_is_a_file_says_so(tmp_path):
    f = tmp_path / "full.png"
    f.write_bytes(b"x")
    assert_one_line(invoke(*GEN, "--out", str(f)), "is a file, not a folder")


def test_outputs_are_group_readable(tmp_path):
    """S12: safetensors (and every atomic write) get the mode a plain open() would give, not mkstemp's 0600."""
    import torch

    from metazoo_core.fileio import save_tensors, write_text

    old = os.umask(0o022)
    try:
        save_tensors(tmp_path / "m.safetensors", {"x": torch.zeros(2)})
        write_text(tmp_path / "r.json", "{}")
    finally:
        os.umask(old)
    for name in ("m.safetensors", "r.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644


def _main(monkeypatch, capsys, *argv: str) -> tuple[int, str]:
    """`metazoo ARGV…` through the real entry point (`main`, which turns errors into lines)."""
    import sys

    from metazoo_cli.app import main

    monkeypatch.setattr(sys, "argv", ["metazoo", *argv])
    with pytest.raises(SystemExit) as e:
        main()
    return e.value.code, capsys.readouterr().err


@pytest.mark.parametrize("argv, needle", [
    (GEN[:-4] + ["--iterations", "nan"], "Invalid value for '--iterations'"),
    (["generate"], "Missing argument 'model'"),
    (["list", "--bogus"], "No such option: --bogus"),
    (["--max-pixels", "3", "list"], "--max-pixels"),
])
def test_usage_mistakes_are_one_line(monkeypatch, capsys, argv, needle):
    code, err = _main(monkeypatch, capsys, *argv)
    assert code == 2 and err.count("\n") == 1 and err.startswith("error:") and needle in err, err


def test_ctrl_c_prints_interrupted(monkeypatch, capsys):
    import metazoo_core.plugins as plugins

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(plugins, "get_spec", interrupted)
    code, err = _main(monkeypatch, capsys, "info", "efficientnet_lite0")
    assert code == 130 and err == "error: interrupted\n"


def test_names_with_markup_characters_are_text(capsys):
    from metazoo_cli.console import load_inputs
    from metazoo_core.plugins import get_spec

    items, failed = load_inputs(["a[/]b [bold]c.png"], get_spec("efficientnet_lite0"))
    assert failed == 1 and "a[/]b [bold]c.png: no such file" in capsys.readouterr().err


def test_a_newline_in_a_name_stays_one_line(monkeypatch, capsys):
    code, err = _main(monkeypatch, capsys, "cochleagram", "no\nsuch\x1b[31m.wav")
    assert code == 2 and err == "error: no\\x0asuch\\x1b[31m.wav: no such file\n", err


def test_device_choice_on_a_machine_with_two_gpus(monkeypatch):
    """The selection rule, given what torch reports (this machine has no GPU; the list stands in for torch's)."""
    import metazoo_core.devices as devices
    from metazoo_core.errors import InputError

    monkeypatch.setattr(devices, "available_devices", lambda: ["cpu", "cuda:0", "cuda:1", "mps"])
    assert devices.resolve_device("auto")[0] == "cuda:0"
    assert devices.resolve_device("CUDA:1") == ("cuda:1", None)
    assert devices.resolve_device("cuda") == ("cuda", None)
    assert devices.resolve_device("mps") == ("mps", None)
    with pytest.raises(InputError, match=r"cuda:2: not available .*available: cpu, cuda:0, cuda:1, mps"):
        devices.resolve_device("cuda:2")
    monkeypatch.setattr(devices, "available_devices", lambda: ["cpu", "mps"])
    assert devices.resolve_device("auto")[0] == "mps"
