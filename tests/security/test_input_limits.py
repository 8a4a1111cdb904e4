"""Probe S5/S6 and the input rows of S11: limits are checked before anything is allocated, each bad input is one
line, and the other inputs of the same call still load."""
from __future__ import annotations

import numpy as np
import pytest

from probes import assert_one_line, invoke, png_header_only, wav
from metazoo_core.errors import InputError
from metazoo_core.io.audio import RATE_RANGE_HZ, read_audio
from metazoo_core.io.images import DEFAULT_MAX_PIXELS, load_image
from metazoo_core.plugins import get_spec

VISION = get_spec("efficientnet_lite0")
AUDIO = get_spec("cochcnn9")


def test_decompression_bomb_is_one_line_and_the_other_images_still_load(tmp_path, good_png, capsys):
    from metazoo_cli.console import load_inputs

    folder = tmp_path / "in"
    folder.mkdir()
    png_header_only(folder / "bomb.png", 20000, 20000)
    good_png.rename(folder / "good.png")
    items, failed = load_inputs([str(folder)], VISION)
    assert [i.name for i in items] == ["good"] and failed == 1
    err = capsys.readouterr().err
    assert "bomb.png" in err and "decompression-bomb" in err and "--max-pixels" in err
    assert len([ln for ln in err.splitlines() if ln.startswith("error:")]) == 1 and "Traceback" not in err


def test_pil_sized_bomb_between_its_limits_is_refused_by_ours_with_no_pil_warning(tmp_path, recwarn):
    bomb = png_header_only(tmp_path / "big144.png", 12000, 12000)  # 144 MP: PIL only warns, then decodes
    with pytest.raises(InputError, match="144 MP.*50 MP limit"):
        load_image(bomb, VISION.input)
    assert not [w for w in recwarn if "DecompressionBomb" in type(w.message).__name__]


def test_max_pixels_overrides_the_limit(tmp_path, monkeypatch):
    from PIL import Image

    path = tmp_path / "wide.png"
    Image.new("RGB", (400, 300), (10, 200, 30)).save(path)
    monkeypatch.setenv("METAZOO_MAX_PIXELS", "100000")
    with pytest.raises(InputError, match="over the 0.1 MP limit"):
        load_image(path, VISION.input)
    monkeypatch.setenv("METAZOO_MAX_PIXELS", "120000")
    assert tuple(load_image(path, VISION.input).tensor.shape) == tuple(VISION.input.shape)
    assert DEFAULT_MAX_PIXELS < 89_478_485  # below PIL's own warning limit, as the probe asked


def test_max_pixels_option_reaches_the_loader(tmp_path):
    bomb = png_header_only(tmp_path / "bomb.png", 20000, 20000)
    r = invoke("--max-pixels", "1024", "predict", "efficientnet_lite0", str(bomb), "--device", "nope")
    assert_one_line(r, "--device")  # options are checked first: nothing loaded
    import os

    assert os.environ.get("METAZOO_MAX_PIXELS") == "1024"
    os.environ.pop("METAZOO_MAX_PIXELS")


@pytest.mark.parametrize("rate", [9_999_991, 999_999_937, 1])
def test_implausible_sample_rates_are_refused_before_reading(tmp_path, rate):
    path = wav(tmp_path / f"r{rate}.wav", rate, 20 if rate > 1 else 3)
    with pytest.raises(InputError, match=f"sample rate {rate} Hz .* outside {RATE_RANGE_HZ[0]}"):
        read_audio(path)


def test_header_longer_than_the_file_is_refused(tmp_path):
    path = wav(tmp_path / "lying.wav", 20000, 100, declared_frames=10_000_000)
    with pytest.raises(InputError, match="truncated|header"):
        read_audio(path)


def test_too_long_sound_is_refused_from_its_header(tmp_path):
    path = wav(tmp_path / "long.wav", 1000, 1000 * 601)  # 601 s at 1 kHz: 1.2 MB
    with pytest.raises(InputError, match="too long"):
        read_audio(path)


def test_a_good_sound_still_loads(tmp_path):
    data, rate = read_audio(wav(tmp_path / "ok.wav", 16000, 16000))
    assert rate == 16000 and data.shape == (16000, 1)
    assert np.isclose(data[1, 0], (997 - 10000) / 32768)


def test_empty_folder_is_an_error_not_silence(tmp_path, capsys):
    from metazoo_cli.console import load_inputs

    empty = tmp_path / "adir.png"
    empty.mkdir()
    for spec, what in ((VISION, "images"), (AUDIO, "sounds")):
        items, failed = load_inputs([str(empty)], spec)
        assert items == [] and failed == 1
        err = capsys.readouterr().err
        assert f"is a folder with no usable {what}" in err and "no such file" not in err


def test_animated_image_says_which_frame(tmp_path):
    from PIL import Image

    path = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (64, 64), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    assert any("first of 2 frames" in n for n in load_image(path, VISION.input).notices)


def test_non_utf8_file_names_print_as_escapes(tmp_path, capsys):
    import os

    from metazoo_cli.console import load_inputs

    name = os.fsdecode(bytes(tmp_path) + b"/bad\xff\xfename.png")
    load_inputs([name], VISION)
    err = capsys.readouterr().err
    assert "bad\\xff\\xfename.png: no such file" in err and "\\udc" not in err
