"""`metazoo cochleagram`: the study's cochleagram of a sound, drawn as a PNG and optionally saved as an array."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..console import notice, out, print_json


def _cochleagram(
    sound: str = typer.Argument(..., help="WAV/FLAC/OGG file, or builtin:NAME for a bundled spoken word "
                                          "(`metazoo list-sounds` lists them)"),
    out_png: Optional[Path] = typer.Option(None, "--out", help="PNG to draw (default: <name>_cochleagram.png)"),
    save_array: Optional[Path] = typer.Option(None, "--save-array", help="also save the (211, 390) array as .npy"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON summary on stdout"),
) -> None:
    """Cochleagram of a sound as the study's audio models see it: 2 s at 20 kHz, RMS 0.1 → 211 channels × 390 frames.

    Python: metazoo.sound (its .plot() and .cochleagram()).
    """
    from metazoo_core.errors import InputError
    from metazoo_core.fileio import check_writable
    from metazoo_core.io.audio import STUDY_INPUT, load_sound

    if out_png is not None and out_png.suffix.lower() != ".png":
        raise InputError(f"--out {out_png}: the picture is written as PNG; give a path ending in .png")
    if save_array is not None and save_array.suffix != ".npy":
        raise InputError(f"--save-array {save_array}: arrays are saved as .npy; give a path ending in .npy")
    item = load_sound(sound, STUDY_INPUT)  # checked before torch is imported: a bad file fails fast
    for n in item.notices:
        notice(n)
    png = out_png or Path(f"{item.name}_cochleagram.png")
    for target in (png, save_array):
        if target is not None:
            check_writable(target.parent)
    import torch

    from metazoo_core.audio.cochleagram import Cochleagram
    from metazoo_core.audio.display import save_cochleagram_png
    from metazoo_core.fileio import save_npy

    coch_module = Cochleagram()
    with torch.no_grad():
        coch = coch_module(item.tensor.unsqueeze(0))[0, 0].numpy()
    save_cochleagram_png(coch, coch_module.centre_hz, png, title=f"{item.name}: cochleagram")
    if save_array is not None:
        save_npy(save_array, coch)
    summary = {"input": item.name, "shape": list(coch.shape), "min": float(coch.min()), "max": float(coch.max()),
               "png": str(png), "array": str(save_array) if save_array else None, "notices": item.notices}
    if as_json:
        print_json(summary)
    else:
        saved = f", array {save_array}" if save_array else ""
        out.print(f"{item.name}: cochleagram {coch.shape[0]}×{coch.shape[1]} → {png}{saved}", highlight=False)


def _list_sounds(
    vocabulary: bool = typer.Option(False, "--vocabulary", help="also list the study's 793 words, in the order "
                                    "of the audio networks' outputs 1–793 (0 is the null class)"),
    as_json: bool = typer.Option(False, "--json", help="print the lists as JSON on stdout"),
) -> None:
    """List the bundled spoken words (`builtin:NAME` for audio commands), and optionally the study's vocabulary.

    Python: metazoo.sound("builtin:NAME"); names from metazoo_core.io.audio.builtin_sound_names (no facade twin).
    """
    from metazoo_core.humans.design import vocabulary as study_words
    from metazoo_core.io.audio import builtin_sound_names
    from metazoo_core.labels import WORD_ORDER_SOURCE

    bundled, words = builtin_sound_names(), study_words()
    if as_json:
        print_json({"bundled": bundled, **({"vocabulary": words, "note": WORD_ORDER_SOURCE} if vocabulary else {})})
        return
    out.print(f"{len(bundled)} bundled words (use builtin:NAME, or builtin for all): {', '.join(bundled)}",
              highlight=False, markup=False)
    if vocabulary:
        out.print(f"the study's {len(words)} words ({WORD_ORDER_SOURCE}):", highlight=False, markup=False)
        for i, w in enumerate(words, start=1):
            out.print(f"{i:4d} {w}", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    app.command("cochleagram")(_cochleagram)
    app.command("list-sounds")(_list_sounds)
