"""Sound loading as the study prepared its words, bundled spoken words, and float WAV output.

Loading (facts §1.3): any file soundfile reads (WAV/FLAC/OGG, any bit depth) → mono (channels averaged, with a
notice) → resampled to the model's rate with scipy's polyphase resampler (notice) → centre crop or zero pad
(centred) to the model's length (notice) → mean removed → scaled to the model's RMS (0.1). Every conversion is
reported; unreadable or empty files, NaN/infinite samples, silence and clips shorter than `MIN_DURATION_S` are
`InputError`s with one line. `.npy`/`.safetensors` waveforms (e.g. a saved metamer) load as they are.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..registry import InputSpec

MIN_DURATION_S = 0.5
"""Sounds shorter than this are refused: padding them to 2 s would make the word mostly silence."""
MAX_DURATION_S = 600.0
"""Sounds longer than this (10 min) are refused before they are read: the models hear 2 s (centre crop)."""
RATE_RANGE_HZ = (1000, 384000)
"""Accepted sample rates (header value), checked before reading. The polyphase resampler's filter grows with the
rate: a 10⁷ Hz header made it allocate 1.5 GiB and 10⁹ Hz 149 GiB in the reliability probe; 384 kHz is the
highest common recording rate, 1 kHz far below any speech rate."""
MAX_SAMPLES = 2**26
"""Most samples (frames × channels) read from one file: 0.5 GiB as float64."""
STUDY_INPUT = InputSpec(shape=[40000], range=(-1.0, 1.0), sample_rate=20000, rms=0.1)
"""The study's audio input: 40000 samples (2 s at 20 kHz) in [−1, 1], RMS 0.1 (facts §1.3)."""
SOUNDS_PACKAGE = "metazoo_core.data"
SOUNDS_FOLDER = "sounds"


@dataclass
class LoadedSound:
    name: str
    tensor: Any  # torch.Tensor (n_samples,) float32 in the model's range, RMS = spec.rms
    notices: list[str] = field(default_factory=list)
    source: str = ""


def _sounds_dir() -> Path:
    return Path(str(resources.files(SOUNDS_PACKAGE).joinpath(SOUNDS_FOLDER)))


def builtin_sound_names() -> list[str]:
    """Names of the bundled 2 s spoken words (`builtin:NAME`), sorted."""
    folder = _sounds_dir()
    return sorted(p.stem for p in folder.glob("*.wav")) if folder.is_dir() else []


def builtin_sound_path(name: str) -> Path:
    path = _sounds_dir() / f"{name}.wav"
    if not path.is_file():
        known = ", ".join(builtin_sound_names()) or "(none installed)"
        raise InputError(f"unknown built-in sound '{name}'; choose from {known}")
    return path


def read_audio(path: Path) -> tuple[np.ndarray, int]:
    """(samples (n_frames, n_channels) float64, sample rate) from any soundfile-readable file; one-line errors."""
    import soundfile as sf

    if path.is_dir():
        raise InputError(f"{path}: is a folder with no usable sounds; give sound files (WAV/FLAC/OGG)")
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{path}: empty file (0 bytes); give a WAV, FLAC or OGG sound")
    try:
        _check_header(path, sf.info(str(path)), size)
        data, rate = sf.read(str(path), dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as e:
        reason = " ".join(str(e).split())
        raise InputError(f"{path}: not a readable sound file ({reason}); give a WAV, FLAC or OGG file") from None
    if data.shape[0] == 0:
        raise InputError(f"{path}: the sound has no samples; give a WAV, FLAC or OGG file with audio in it")
    return data, int(rate)


def _check_header(path: Path, info: Any, size: int) -> None:
    """Refuse, before any sample is read, a header whose rate, length or size is implausible (see the bounds)."""
    lo, hi = RATE_RANGE_HZ
    if not lo <= info.samplerate <= hi:
        raise InputError(f"{path}: sample rate {info.samplerate} Hz in the header is outside {lo}–{hi} Hz; "
                         "re-export the sound at a standard rate (e.g. 16, 20, 44.1 or 48 kHz)")
    samples = info.frames * info.channels
    if info.frames > MAX_DURATION_S * info.samplerate or samples > MAX_SAMPLES:
        raise InputError(f"{path}: {info.frames / info.samplerate:.0f} s × {info.channels} channels is too long "
                         f"(at most {MAX_DURATION_S:g} s and {MAX_SAMPLES} samples; the model hears 2 s); "
                         "cut the part you want")
    declared = _wav_data_bytes(path) if info.format == "WAV" else None
    if declared is not None and declared[0] > size - declared[1]:
        raise InputError(f"{path}: the WAV header declares {declared[0]} bytes of samples but the file holds "
                         f"{max(size - declared[1], 0)}; the file is truncated or its header is wrong")


def _wav_data_bytes(path: Path) -> tuple[int, int] | None:
    """(declared size of the `data` chunk, offset of its first byte) from a RIFF/WAVE header, or None when the
    header has no data chunk in its first 64 KiB or leaves the size open (0 or 0xFFFFFFFF: a streamed file)."""
    with open(path, "rb") as f:
        head = f.read(65536)
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos = 12
    while pos + 8 <= len(head):
        kind, length = head[pos:pos + 4], int.from_bytes(head[pos + 4:pos + 8], "little")
        if kind == b"data":
            return None if length in (0, 0xFFFFFFFF) else (length, pos + 8)
        pos += 8 + length + (length & 1)  # chunks are padded to an even size
    return None


def prepare_waveform(data: np.ndarray, rate: int, spec: InputSpec, name: str) -> tuple[np.ndarray, list[str]]:
    """(n_frames, n_channels) samples at `rate` → (n_samples,) float32 ready for a model with input `spec`."""
    notices: list[str] = []
    bad = int(np.count_nonzero(~np.isfinite(data)))
    if bad:
        raise InputError(f"{name}: {bad} NaN or infinite samples; repair or re-export the file")
    if data.shape[1] > 1:
        notices.append(f"{name}: {data.shape[1]} channels mixed to mono (mean)")
    x = data.mean(axis=1)
    target_rate = spec.sample_rate or rate
    if not RATE_RANGE_HZ[0] <= rate <= RATE_RANGE_HZ[1]:
        raise InputError(f"{name}: sample rate {rate} Hz is outside {RATE_RANGE_HZ[0]}–{RATE_RANGE_HZ[1]} Hz; "
                         "re-export it at a standard rate")
    if rate != target_rate:
        from scipy.signal import resample_poly

        g = math.gcd(rate, target_rate)
        x = resample_poly(x, target_rate // g, rate // g)
        notices.append(f"{name}: resampled from {rate} Hz to {target_rate} Hz (polyphase)")
    duration = len(x) / target_rate
    if duration < MIN_DURATION_S:
        raise InputError(f"{name}: {duration:.2f} s of sound is too short (at least {MIN_DURATION_S} s; the model "
                         f"hears {spec.shape[-1] / target_rate:g} s)")
    n = spec.shape[-1]
    if len(x) > n:
        start = (len(x) - n) // 2
        x = x[start:start + n]
        notices.append(f"{name}: {duration:.2f} s centre-cropped to {n / target_rate:g} s")
    x = x - x.mean()
    if len(x) < n:
        before = (n - len(x)) // 2
        x = np.pad(x, (before, n - len(x) - before))
        notices.append(f"{name}: {duration:.2f} s zero-padded (centred) to {n / target_rate:g} s")
    rms = float(np.sqrt(np.mean(x**2)))
    if rms < 1e-8:
        raise InputError(f"{name}: the sound is silent (RMS {rms:.1e}); give a recording with audible content")
    if spec.rms is not None:
        x = x * (spec.rms / rms)
    lo, hi = spec.range
    if x.min() < lo or x.max() > hi:
        notices.append(f"{name}: peaks exceed [{lo:g}, {hi:g}] after RMS scaling; the model clips them")
    return x.astype(np.float32), notices


def _tensor_file(path: Path, spec: InputSpec) -> LoadedSound:
    import torch

    try:
        if path.suffix == ".npy":
            t = torch.from_numpy(np.asarray(np.load(path, allow_pickle=False), dtype=np.float32))
        else:
            from safetensors.torch import load_file

            tensors = load_file(str(path))
            t = tensors.get("metamer", tensors.get("original", next(iter(tensors.values())))).float()
    except Exception as e:  # numpy/safetensors raise several types for corrupt files
        raise InputError(f"{path}: unreadable waveform file ({' '.join(str(e).split())})") from None
    t = t.reshape(-1) if t.dim() == 2 and t.shape[0] == 1 else t
    if list(t.shape) != list(spec.shape):
        raise InputError(f"{path}: waveform shape {list(t.shape)} does not match the model input {spec.shape}")
    if not torch.isfinite(t).all():
        raise InputError(f"{path}: waveform contains NaN or infinite values")
    return LoadedSound(name=path.stem, tensor=t, source=str(path))


def load_sound(source: str | Path, spec: InputSpec) -> LoadedSound:
    """Load one sound (audio file, `builtin:NAME`, or a .npy/.safetensors waveform) for a model with input `spec`."""
    text = str(source)
    if text.endswith((".npy", ".safetensors")):
        return _tensor_file(Path(text), spec)
    if text.startswith("builtin:"):
        name = text.split(":", 1)[1]
        path = builtin_sound_path(name)
    else:
        path = Path(text)
        name = path.stem
    data, rate = read_audio(path)
    x, notices = prepare_waveform(data, rate, spec, name)
    import torch  # after the checks: a bad file fails fast

    return LoadedSound(name=name, tensor=torch.from_numpy(x), notices=notices, source=text)


def save_wav(x: Any, path: Path | str, sample_rate: int) -> None:
    """Write a waveform ((n,) or (1, n), tensor or array) as a 32-bit float WAV, atomically. Values are not clipped."""
    import soundfile as sf

    from ..fileio import atomic_path

    arr = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
    arr = np.asarray(arr, dtype=np.float32).reshape(-1)
    with atomic_path(path, suffix=".wav") as tmp:
        sf.write(str(tmp), arr, int(sample_rate), subtype="FLOAT", format="WAV")
