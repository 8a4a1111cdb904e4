"""Sounds for notebooks: a waveform with its cochleagram, shown as a picture beside an audio player."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._display import audio_tag, figure_tag


def cochleagram_of(waveform: Any) -> tuple[Any, Any]:
    """(cochleagram (211, 390) float32 array, channel centre frequencies (211,) Hz) of a 2 s, 20 kHz waveform
    (40000 samples), the study's front end (`metazoo cochleagram`)."""
    import torch

    from metazoo_core.audio.cochleagram import Cochleagram

    module = Cochleagram()
    with torch.no_grad():
        coch = module(torch.as_tensor(waveform, dtype=torch.float32).reshape(1, -1))[0, 0].numpy()
    return coch, module.centre_hz


def cochleagram_picture(waveform: Any, title: str, small: bool = False) -> str:
    """An inline <img> of the waveform's cochleagram (time in s, channel centre frequency in Hz)."""
    from metazoo_core.audio.display import cochleagram_figure

    coch, centre_hz = cochleagram_of(waveform)
    fig = cochleagram_figure(coch, centre_hz, title=title, figsize=(3.6, 2.4) if small else (7, 4))
    return figure_tag(fig, f"cochleagram of {title}", 300 if small else None)


@dataclass
class Sound:
    """A waveform to look at and listen to: `waveform` (samples,) float32 in the model's range (the study's audio
    models: 40000 samples = 2 s at `sample_rate` 20000 Hz, RMS 0.1), `name`. In a notebook it shows its cochleagram
    (211 channels × 390 frames, 200 frames/s) beside an audio player; `.plot()` returns the cochleagram figure;
    `.cochleagram()` the (211, 390) array."""

    name: str
    waveform: Any
    sample_rate: int = 20000

    def cochleagram(self) -> Any:
        """The (211, 390) float32 cochleagram (compressed envelope, dimensionless)."""
        return cochleagram_of(self.waveform)[0]

    def plot(self) -> Any:
        """The cochleagram as a matplotlib Figure (time in s, channel centre frequency in Hz)."""
        from metazoo_core.audio.display import cochleagram_figure

        coch, centre_hz = cochleagram_of(self.waveform)
        return cochleagram_figure(coch, centre_hz, title=f"{self.name}: cochleagram")

    def _repr_html_(self) -> str:
        return (f"<figure>{cochleagram_picture(self.waveform, self.name)}<figcaption>{self.name} "
                f"({len(self.waveform) / self.sample_rate:g} s at {self.sample_rate} Hz)<br>"
                f"{audio_tag(self.waveform, self.sample_rate)}</figcaption></figure>")


def sound(source: Any, model: Any = None) -> Sound:
    """A `Sound` from a file, `builtin:NAME` (a bundled spoken word; `metazoo list-sounds`), a loaded sound or a
    waveform array ((samples,) at 20 kHz), prepared for `model`'s input (id, spec or loaded model; default: the
    study's audio input, 40000 samples = 2 s at 20 kHz, RMS 0.1). The twin of `metazoo cochleagram`."""
    from metazoo_core.io.audio import STUDY_INPUT

    from ._models import load_input, spec_of

    rate = int(spec_of(model).input.sample_rate) if model is not None else STUDY_INPUT.sample_rate
    if hasattr(source, "tensor"):
        return Sound(source.name, source.tensor, rate)
    if isinstance(source, str) or hasattr(source, "__fspath__"):
        item = load_input(source, model if model is not None else _StudyInput())
        return Sound(item.name, item.tensor, rate)
    return Sound("waveform", source, rate)


class _StudyInput:
    """A stand-in spec: the study's audio input (for `sound` without a model)."""

    modality = "audio"

    @property
    def input(self) -> Any:
        from metazoo_core.io.audio import STUDY_INPUT

        return STUDY_INPUT
