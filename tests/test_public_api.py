"""The public Python API (`import metazoo`, issue 29): flat, torch-free at import, complete (every public name
documented with shapes, ranges or units), one module identity, and its notebook pictures and sounds are the data
they show (decoded back and compared)."""
from __future__ import annotations

import base64
import importlib.util
import io
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]

# What a docstring must show: a shape like (N, C, H, W) or (samples,), a range like [0, 1], or a unit.
SHAPES_RANGES_UNITS = re.compile(r"\((?:[A-Za-z_*]+, )+[A-Za-z_*. ]*\)|\(\w+,\)|\[0, 1\]|\bHz\b|\bdB\b|input units|"
                                 r"fractions? in|\bin \[|\bs at\b|samples|× \d|\d+ ×")


def test_import_loads_no_torch_and_lists_models_without_it():
    code = ("import metazoo, sys; specs = metazoo.list_models(); "
            "print(len(metazoo.__all__), 'torch' in sys.modules, len(specs))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    n_names, torch_loaded, n_models = out.stdout.split()
    assert int(n_names) >= 20 and torch_loaded == "False" and int(n_models) > 0


def test_one_level_deep_and_every_name_resolves():
    import metazoo

    assert metazoo.__all__ == list(dict.fromkeys(metazoo.__all__)), "a name is exported twice"
    for name in metazoo.__all__:
        value = getattr(metazoo, name)
        assert not isinstance(value, types.ModuleType), f"metazoo.{name} is a module: the API is one level deep"
    private = [p.stem for p in (REPO / "metazoo").glob("*.py") if p.stem != "__init__"]
    assert private and all(s.startswith("_") for s in private), "modules behind the facade are private"
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        metazoo.nonexistent  # noqa: B018


def test_one_module_identity():
    """`metazoo` is the repository's metazoo/ folder, importable under that name only (no alias package)."""
    spec = importlib.util.find_spec("metazoo")
    assert Path(spec.origin).resolve() == REPO / "metazoo" / "__init__.py"
    setup = (REPO / "setup.py").read_text()
    assert '"metazoo"' in setup and "metazoo_core/_alias" not in setup
    for other in ("metazoo_core.metazoo", "metazoo_cli.metazoo", "metazoo_plugins.metazoo"):
        assert importlib.util.find_spec(other) is None


@pytest.mark.parametrize("name", [n for n in __import__("metazoo").__all__ if n != "__version__"])
def test_every_public_name_shows_shapes_ranges_or_units(name):
    import metazoo

    doc = getattr(metazoo, name).__doc__ or ""
    assert len(doc.split()) >= 25, f"metazoo.{name}: docstring too short to document it"
    assert SHAPES_RANGES_UNITS.search(doc), f"metazoo.{name}: its docstring names no shape, range or unit"


def test_results_are_todays_objects():
    import metazoo
    from metazoo_core.analysis.recognition import Recognition
    from metazoo_core.metamer.generate import MetamerRun

    assert issubclass(metazoo.MetamerRun, MetamerRun) and issubclass(metazoo.Recognition, Recognition)


def _decoded(html: str, kind: str) -> list[bytes]:
    return [base64.b64decode(b) for b in re.findall(rf'src="data:{kind};base64,([A-Za-z0-9+/=]+)"', html)]


def test_inline_png_is_the_image_exactly():
    from PIL import Image

    from metazoo._display import png_tag

    rng = np.random.default_rng(0)
    array = rng.integers(0, 256, (17, 23, 3), dtype=np.uint8)
    (png,) = _decoded(png_tag(array, "x"), "image/png")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), array)  # PNG is lossless


def test_a_sound_shows_its_cochleagram_and_plays_its_waveform():
    """The player's WAV is the waveform to 16-bit PCM precision: |error| ≤ one quantisation step, 1/32767
    (soundfile scales float by 32767 and rounds: half a step, plus a step of slack for the float32 product)."""
    import soundfile as sf

    import metazoo

    s = metazoo.sound("builtin:family")
    assert s.waveform.shape == (40000,) and s.sample_rate == 20000
    html = s._repr_html_()
    (wav,) = _decoded(html, "audio/wav")
    data, rate = sf.read(io.BytesIO(wav), dtype="float64")
    assert rate == 20000
    expected = np.clip(s.waveform.numpy().astype(np.float64), -1, 1)
    assert np.abs(data - expected).max() <= 1 / 32767
    (png,) = _decoded(html, "image/png")
    assert png.startswith(b"\x89PNG") and "<audio controls" in html
    assert s.cochleagram().shape == (211, 390)


def test_human_study_shows_tables_and_curves():
    import metazoo

    listing = metazoo.human_study()
    exp = next(iter(listing))
    study = metazoo.human_study(exp)
    html = study._repr_html_()
    assert all(m in html for m in listing[exp]) and len(_decoded(html, "image/png")) == 1
    assert len(study.plot().axes) >= len(listing[exp])


def _commands(group, prefix=()):
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group (typer may vendor its own click: no isinstance)
            yield from _commands(command, (*prefix, name))
        else:
            yield " ".join((*prefix, name)), command


def test_every_cli_command_names_its_python_twin():
    """Each command's help ends with 'Python: NAME', and a `metazoo.X` twin is a public name of the facade (the
    others name the metazoo_core function until the facade has one)."""
    import typer

    import metazoo
    from metazoo_cli.app import app

    commands = dict(_commands(typer.main.get_command(app)))
    assert {"generate", "null", "recognize", "humans study", "list"} <= set(commands)
    for name, command in commands.items():
        twin = re.search(r"Python: (metazoo(?:_core)?[\w.]*)", command.help or "")
        assert twin, f"`metazoo {name} --help` names no Python twin"
        if twin[1].startswith("metazoo."):
            assert twin[1].split(".")[1] in metazoo.__all__, f"{name}: {twin[1]} is not in metazoo.__all__"
    result = __import__("climain").run_main("generate", "--help")
    assert result.code == 0 and "Python: metazoo.generate" in result.stdout
