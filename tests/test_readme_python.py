"""Issue 29, must-show 1: the README's Python tour (≤ 12 lines, one import), run as written in a fresh folder,
offline, with each result checked, including what a notebook would show."""
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MARK = "<!-- python tour"


def tour_block() -> str:
    text = (REPO / "README.md").read_text()
    return re.search(r"```python\n(.*?)```", text[text.index(MARK):], re.S).group(1)


def test_the_tour_is_short_with_one_import():
    lines = [line for line in tour_block().splitlines() if line.strip()]
    assert len(lines) <= 12
    assert [line for line in lines if re.match(r"\s*(import|from) ", line)] == ["import metazoo as mz"]


@pytest.mark.slow
def test_the_python_tour_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(tour_block(), "README.md (python tour)", "exec"), namespace)
    run = namespace["run"]
    assert [(r["stage"], r["null"]["pairs"]) for r in run] == [("blocks_1", 20), ("final", 20)]
    assert all(r["passed"] in (True, False) for r in run)
    html = run._repr_html_()
    assert html.count("data:image/png;base64,") == 4  # the original beside each of its 2 metamers
    assert all(word in html for word in ("Spearman ρ", "SNR", " dB", "null 20 pairs (loose)", "decision: cat → "))
    assert (tmp_path / "runs/cat/report.html").is_file() and (tmp_path / "nulls/lite0.null.safetensors").is_file()
    assert len(run.plot().axes) == 3
