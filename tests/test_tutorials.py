"""Issue 29, must-show 2: the five tutorials (docs/tutorials/NN_*.py, jupytext percent scripts) execute offline on
the CPU, and their outputs hold the pictures and audio players they promise. Executing writes the notebooks the
documentation site renders (docs/tutorials/NN_*.ipynb), with the wall time in their metadata."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("jupytext", reason="needs the docs tools: make docs-deps")
pytest.importorskip("nbclient", reason="needs the docs tools: make docs-deps")
pytest.importorskip("ipykernel", reason="needs the docs tools: make docs-deps")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import execute_tutorials  # noqa: E402

PNG, WAV = "data:image/png;base64,", "data:audio/wav;base64,"

# What each tutorial promises: (the fewest inline PNG pictures, audio players, words its outputs must show).
PROMISES = {
    "01_first_metamer": (4, 0, ["Spearman ρ", "null 20 pairs (loose)", "decision: cat → "]),
    "02_sounds": (7, 7, ["cochleagram", "relu4", "random weights"]),
    "03_robustness": (4, 0, ["accuracy %", "adversarial (linf"]),
    "04_recognition": (10, 0, ["recogniser", "efficientnet_lite2", "vision-exp1", "SI Table 1 form"]),
    "05_your_model": (8, 0, ["notebook_cnn", "relu0"]),
}


def _outputs(notebook) -> tuple[str, int]:
    """All outputs as one text (HTML, plain text, streams) and the number of image/png display outputs."""
    texts, images = [], 0
    for cell in notebook.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            images += "image/png" in data
            texts += [data.get("text/html", ""), data.get("text/plain", ""), out.get("text", "")]
    return "\n".join(t if isinstance(t, str) else "".join(t) for t in texts), images


def test_there_are_five_tutorials():
    assert [s.stem for s in execute_tutorials.sources()] == list(PROMISES)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PROMISES))
def test_tutorial_executes_and_shows_what_it_promises(name):
    import nbformat

    source = REPO / "docs" / "tutorials" / f"{name}.py"
    seconds = execute_tutorials.execute(source, timeout=900)  # a guard against a hung cell on a busy machine
    notebook = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    meta = notebook.metadata["metazoo"]
    assert meta["seconds"] == round(seconds, 1)
    # ≤ 3 minutes on 2 idle cores: the kernel's CPU time (all threads; not inflated by other jobs on a shared
    # machine, unlike wall time) bounds the wall time of an idle machine from above, start-up aside.
    assert meta["kernel_cpu_seconds"] <= 180
    text, png_outputs = _outputs(notebook)
    pictures, players, words = PROMISES[name]
    assert text.count(PNG) + png_outputs >= pictures
    assert text.count(WAV) >= players and text.count("<audio controls") >= players
    for word in words:
        assert word in text, f"{name}: its outputs do not show '{word}'"
    assert "Traceback" not in text
    print(f"{name}: {seconds:.1f} s wall, {meta['kernel_cpu_seconds']} s kernel CPU, load {meta['load_average_1min']}")
