"""Probe S8/S9 and the sweep rows of S11: a plan is refused at load, in one line, for everything the probe found
only at run time (or never), and the same file under two spellings is one unit."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from metazoo_core.sweep.plan import MAX_YAML_NODES, PlanError, load_plan

BASE = {"kind": "activations", "models": ["efficientnet_lite0"], "stages": ["blocks_1"],
        "inputs": ["builtin:chelsea"], "seeds": [0]}


def plan(tmp_path: Path, **fields) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(json.dumps({**BASE, **fields}))
    return path


@pytest.mark.parametrize("fields, needle", [
    ({"seeds": [-1]}, "seeds"),
    ({"seeds": [18446744073709551616]}, "seeds"),
    ({"seeds": [True]}, "seeds"),
    ({"name": "../../../escape_sweep"}, "not a path"),
    ({"store": "../elsewhere"}, "'..'"),
    ({"stages": []}, "`stages:` is empty"),
    ({"kind": "metamer", "options": {"iterations": -3}}, "iterations"),
    ({"kind": "metamer", "options": {"recipe": "nope"}}, "unknown recipe 'nope'"),
    ({"kind": "metamer", "options": {"device": ["cpu"]}}, "device"),
    ({"kind": "metamer", "options": {"device": "gpu"}}, "is not a device"),
    ({"kind": "null_distribution", "options": {"pairs": "many"}}, "pairs"),
    ({"kind": "robustness", "options": {"norm": "l7", "eps": [1]}}, "norm"),
])
def test_bad_plans_are_refused_at_load(tmp_path, fields, needle):
    with pytest.raises(PlanError, match=None) as e:
        load_plan(plan(tmp_path, **fields))
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_largest_seed_every_writer_stores_is_accepted(tmp_path):
    units = load_plan(plan(tmp_path, seeds=[0, 2**63 - 1])).units
    assert [u.seed for u in units] == [0, 2**63 - 1]


def test_latin1_plan_is_one_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\u00e9\n".encode("latin-1") + b"models: [efficientnet_lite0]\n")
    with pytest.raises(PlanError, match=r"not UTF-8 text \(byte 0xe9"):
        load_plan(path)


def test_alias_bomb_is_refused_before_expansion(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):  # 10^9 strings once expanded
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\nmodels: [efficientnet_lite0]\noptions: {device: *a8}\n")
    with pytest.raises(PlanError, match=f"more than {MAX_YAML_NODES} nodes"):
        load_plan(path)


def test_recursive_alias_is_one_line(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("a: &a [*a]\n")
    with pytest.raises(PlanError, match="refers to itself|malformed"):
        load_plan(path)


def test_same_file_spelled_two_ways_is_one_unit(tmp_path, good_png):
    folder = tmp_path / "in"
    folder.mkdir()
    good_png.rename(folder / "full.png")
    (tmp_path / "link.png").symlink_to(folder / "full.png")
    spellings = [str(folder / "full.png"), str(folder / ".." / "in" / "full.png"), "in/full.png", "link.png"]
    units = load_plan(plan(tmp_path, inputs=spellings)).units
    assert len(units) == 1 and units[0].input == str((folder / "full.png").resolve())


def test_sweep_exit_counts_only_its_own_units(tmp_path, monkeypatch):
    """S11: a sweep whose units are all done exits 0 even when another plan's units in the same store are not."""
    from probes import invoke

    monkeypatch.chdir(tmp_path)
    store = tmp_path / "store"
    other = plan(tmp_path, seeds=[5])
    other.rename(tmp_path / "other.yaml")
    from metazoo_core.sweep.store import Store

    Store(store).write_manifest(load_plan(tmp_path / "other.yaml"))  # pending units of another plan
    r = invoke("sweep", str(plan(tmp_path)), "--executor", "debug", "--out", str(store))
    assert r.code == 0, r.stderr
    assert "done 1 · running 0 · failed 0 · pending 0 (of 1 units)" in r.stdout


def test_collect_keeps_integers_beyond_64_bits_as_text(tmp_path):
    """S8 for stores written before seeds were bounded: Parquet and SQLite get the value as text, no traceback."""
    import sqlite3

    import pandas as pd

    from metazoo_core.sweep.collect import write_table

    df = pd.DataFrame.from_records([{"seed": 2**64, "n": 1}, {"seed": 0, "n": 2}])
    write_table(df, tmp_path / "t.parquet")
    write_table(df, tmp_path / "t.sqlite")
    assert list(pd.read_parquet(tmp_path / "t.parquet")["seed"]) == [str(2**64), "0"]
    with sqlite3.connect(tmp_path / "t.sqlite") as con:
        assert con.execute("select seed, n from records").fetchall() == [(str(2**64), 1), ("0", 2)]
