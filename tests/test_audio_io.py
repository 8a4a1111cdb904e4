"""Audio I/O: the study's preparation (mono, 20 kHz, 2 s, demeaned, RMS 0.1), every bad-audio case as one clear
line or a reported conversion, float WAV output, the bundled words, and the `metazoo cochleagram` command."""
import numpy as np
import pytest
import soundfile as sf
import torch

from metazoo_core.audio.cochleagram import Cochleagram
from metazoo_core.io.audio import STUDY_INPUT
from metazoo_core.errors import InputError
from metazoo_core.io.audio import builtin_sound_names, builtin_sound_path, load_sound, save_wav


def _write(path, x, rate, subtype="PCM_16"):
    sf.write(str(path), x, rate, subtype=subtype)
    return path


def _tone(freq, seconds, rate, amp=0.3):
    t = np.arange(int(round(seconds * rate))) / rate
    return amp * np.sin(2 * np.pi * freq * t)


def test_builtin_words_are_ready_for_the_models():
    names = builtin_sound_names()
    assert len(names) >= 6 and "apple" in names
    for name in names:
        s = load_sound(f"builtin:{name}", STUDY_INPUT)
        x = s.tensor.double()
        assert s.tensor.shape == (40000,) and s.tensor.dtype == torch.float32 and s.notices == []
        assert float(x.pow(2).mean().sqrt()) == pytest.approx(0.1, rel=1e-4)
        assert abs(float(x.mean())) < 1e-6 and float(x.abs().max()) <= 1.0  # no clipping once at RMS 0.1
    info = sf.info(str(builtin_sound_path("apple")))
    assert (info.samplerate, info.channels, info.frames) == (20000, 1, 40000)


def test_stereo_44k_long_file_is_converted_with_notices(tmp_path):
    left = _tone(1000.0, 2.5, 44100)
    path = _write(tmp_path / "tone.flac", np.stack([left, left], axis=1), 44100)
    s = load_sound(path, STUDY_INPUT)
    text = " ".join(s.notices)
    assert "mono" in text and "44100 Hz to 20000 Hz" in text and "centre-cropped" in text
    spectrum = np.abs(np.fft.rfft(s.tensor.numpy()))
    assert np.fft.rfftfreq(40000, 1 / 20000)[np.argmax(spectrum)] == pytest.approx(1000.0, abs=0.5)
    assert float(s.tensor.pow(2).mean().sqrt()) == pytest.approx(0.1, rel=1e-4)


def test_short_clip_is_zero_padded_centred(tmp_path):
    path = _write(tmp_path / "one_second.ogg", _tone(500.0, 1.0, 20000), 20000, subtype="VORBIS")
    s = load_sound(path, STUDY_INPUT)
    assert any("zero-padded" in n for n in s.notices)
    x = s.tensor.numpy()
    assert np.abs(x[:9000]).max() < 1e-3 and np.abs(x[-9000:]).max() < 1e-3 and np.abs(x[15000:25000]).max() > 0.1


@pytest.mark.parametrize("case,message", [
    ("not_audio", "not a readable sound file"), ("empty", "empty file"), ("nan", "NaN or infinite"),
    ("tiny", "too short"), ("silent", "silent"), ("missing", "no such file"), ("builtin", "unknown built-in sound")])
def test_bad_audio_is_one_clear_line(tmp_path, case, message):
    if case == "not_audio":
        source = tmp_path / "notes.wav"
        source.write_text("this is not a sound\n")
    elif case == "empty":
        source = tmp_path / "empty.wav"
        source.write_bytes(b"")
    elif case == "nan":
        x = _tone(440.0, 2.0, 20000)
        x[100:110] = np.nan
        source = _write(tmp_path / "nan.wav", x, 20000, subtype="FLOAT")
    elif case == "tiny":
        source = _write(tmp_path / "tiny.wav", _tone(440.0, 0.1, 20000), 20000)
    elif case == "silent":
        source = _write(tmp_path / "silent.wav", np.zeros(40000), 20000)
    elif case == "missing":
        source = tmp_path / "nowhere.wav"
    else:
        source = "builtin:no_such_word"
    with pytest.raises(InputError) as err:
        load_sound(source, STUDY_INPUT)
    text = str(err.value)
    assert message in text and "\n" not in text


def test_save_wav_is_float_and_atomic(tmp_path):
    x = torch.linspace(-1.2, 1.2, 40000)  # values beyond ±1 are kept (float WAV), not clipped
    save_wav(x, tmp_path / "out.wav", 20000)
    data, rate = sf.read(str(tmp_path / "out.wav"), dtype="float32")
    assert rate == 20000 and sf.info(str(tmp_path / "out.wav")).subtype == "FLOAT"
    np.testing.assert_array_equal(data, x.numpy())
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]  # no temporary left behind


def test_waveform_tensor_files_round_trip(tmp_path):
    x = load_sound("builtin:water", STUDY_INPUT).tensor
    np.save(tmp_path / "w.npy", x.numpy()[None])
    np.testing.assert_array_equal(load_sound(tmp_path / "w.npy", STUDY_INPUT).tensor.numpy(), x.numpy())
    np.save(tmp_path / "bad.npy", np.zeros(10, dtype=np.float32))
    with pytest.raises(InputError, match="does not match"):
        load_sound(tmp_path / "bad.npy", STUDY_INPUT)


def test_cochleagram_command_draws_and_saves(cli, tmp_path):
    png, npy = tmp_path / "apple.png", tmp_path / "apple.npy"
    result = cli("cochleagram", "builtin:apple", "--out", str(png), "--save-array", str(npy))
    assert result.returncode == 0, result.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = np.load(npy)
    assert saved.shape == (211, 390)
    with torch.no_grad():
        expected = Cochleagram()(load_sound("builtin:apple", STUDY_INPUT).tensor[None])[0, 0].numpy()
    # The CLI runs in another process (its own thread count, batch of one). Measured (docs/fidelity.md,
    # "Cochleagram reproducibility"): the 8 bundled clips differ by up to 4.9e-5 between 1 and 2 torch threads and
    # by 1.2e-5 between batch sizes 1 and 2 (FFT summation order, amplified by the 0.3 power at small envelopes);
    # 2e-4 leaves 4x for other CPUs' kernels. A wrong filter, level or compression moves values by >1e-2.
    np.testing.assert_allclose(saved, expected, atol=2e-4, rtol=0)


def test_cochleagram_command_reports_bad_input(cli, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_text("nope")
    result = cli("cochleagram", str(bad), "--out", str(tmp_path / "x.png"))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("error:") and len(result.stderr.strip().splitlines()) == 1


def test_multi_input_run_keeps_going(cli, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF0000WAVE")
    result = cli("predict", "cochcnn9", "--random-weights", "--top", "1", "--json", str(bad), "builtin:seven")
    assert result.returncode != 0 and "broken.wav" in result.stderr
    assert '"input": "seven"' in result.stdout  # the good input still ran
