"""Issue 18, must-show 1: the README's first-hour tour, run as written (the commands are read from README.md, in
a fresh folder, offline) with each output checked. The tour is sized to finish in minutes on a laptop."""
import json
import re
import shlex
from pathlib import Path

import pytest

from climain import run_main

REPO = Path(__file__).resolve().parents[1]

MARK = "<!-- first-hour tour"


def tour_commands() -> list[list[str]]:
    """The `metazoo …` commands of the README's tour block (after the marker), comments dropped, `\\` joined."""
    text = (REPO / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text[text.index(MARK):], re.S).group(1)
    lines = re.sub(r"\\\n\s*", " ", block).splitlines()
    commands = [shlex.split(line, comments=True) for line in lines]
    return [c[1:] for c in commands if c and c[0] == "metazoo"]


def test_the_tour_is_the_one_checked_here():
    names = [" ".join(c[:1] + [a for a in c[1:] if a.startswith("--")][:1]) for c in tour_commands()]
    assert names == ["list --available", "info", "generate --stage", "null --inputs", "generate --stage",
                     "recognize --models", "report --out", "predict", "list-sounds"]


@pytest.fixture(scope="module")
def tour(tmp_path_factory):
    """Every command of the tour, run in one fresh folder: [(command, result)]."""
    folder = tmp_path_factory.mktemp("tour")
    mp = pytest.MonkeyPatch()
    mp.chdir(folder)
    mp.setenv("HF_HUB_OFFLINE", "1")
    results = []
    for args in tour_commands():
        results.append((args, run_main(*args)))
        if args[0] == "generate" and "--null" not in args:
            results.append((["(metamer bytes)"], _metamers(folder)))
    mp.undo()
    return folder, results


def _metamers(folder) -> dict[str, bytes]:
    return {p.parent.name: p.read_bytes() for p in folder.glob("runs/cat/*/*/*/metamer.safetensors")}


def test_each_tour_step_gives_what_the_readme_promises(tour):
    folder, results = tour
    (lst, r_list), (_, r_info), (_, r_gen), (_, before), (_, r_null), (_, r_judge), (_, r_rec), (_, r_rep), \
        (_, r_pred), (_, r_sounds) = results
    for args, res in results:
        if hasattr(res, "code"):
            assert res.code == 0, (args, res.stderr[-2000:])
    assert "that run offline here" in r_list.stdout and "efficientnet_lite0" in r_list.stdout
    assert "alexnet" not in r_list.stdout
    assert "offline here: yes" in r_info.stdout
    assert "2 metamers" in r_gen.stdout and "not evaluated" in r_gen.stdout and sorted(before) == ["blocks_1", "final"]
    assert "null maxima over 20 pairs" in r_null.stdout
    assert "null of 20 pairs: the thresholds are loose" in r_null.stderr
    assert "null 20 pairs (loose)" in r_judge.stdout
    assert _metamers(folder) == before  # judged against the null without recomputing anything
    records = [json.loads(p.read_text()) for p in folder.glob("runs/cat/*/*/*/record.json")]
    assert len(records) == 2 and all(r["null"]["pairs"] == 20 and r["null"]["loose"] is True for r in records)
    assert all(r["recipe"]["init_step"] == 8 and r["passed"] is not None for r in records)
    assert "efficientnet_lite1" in r_rec.stdout and (folder / "runs/cat/recognition/recognition.csv").is_file()
    html = (folder / "runs/cat/report.html").read_text()
    assert "null of 20 pairs: the thresholds are loose" in html and "RANDOM" not in html
    lines = r_pred.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("chelsea [16-way: cat]: ") and lines[1].startswith("coffee ")
    assert "apple" in r_sounds.stdout
