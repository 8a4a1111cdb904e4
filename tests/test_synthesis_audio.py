"""Sounds through the synthesis commands: waveform input, the cochleagram (weights-free) and a random-weight stage
of cochcnn9 on a bundled word; the records say that the cochleagram's backward is the study's, not the forward's."""
from __future__ import annotations

import json

from climain import run_main

from metazoo_core.synthesis.eigen import EigendistortionResult
from metazoo_core.synthesis.mad import MADResult


def test_audio_eigendistortion_on_a_bundled_word(tmp_path, one_thread):
    """The cochleagram stage needs no weights; the waveform is the input."""
    r = run_main("eigendistort", "cochcnn9", "builtin:seven", "--stage", "cochleagram", "--max-iter", "1",
                 "-o", str(tmp_path / "ed"), "--json")
    assert r.code == 0, r.stderr
    (row,) = json.loads(r.stdout)
    res = EigendistortionResult.read(row["folder"])
    assert res.distortions.shape == (2, 40000) and res.eigenvalues[0] >= res.eigenvalues[1] >= 0
    assert (tmp_path / "ed" / "cochcnn9" / "seven" / "cochleagram" / "eigen0_plus.wav").is_file()
    assert "backward" in " ".join(res.record["caveats"])


def test_audio_mad_on_a_bundled_word(tmp_path, one_thread):
    """cochcnn9's cochleagram (weights-free) against its first convolution stage (random weights)."""
    r = run_main("mad", "cochcnn9", "cochcnn9", "builtin:seven", "--stage-a", "cochleagram", "--stage-b", "relu0",
                 "--random-weights", "--iterations", "2", "--direction", "min_a,max_b", "--tradeoff", "1",
                 "-o", str(tmp_path / "mad"), "--json")
    assert r.code == 0, r.stderr
    (row,) = json.loads(r.stdout)
    res = MADResult.read(row["folder"])
    assert res.images.shape == (2, 40000) and len(res.record["caveats"]) == 2
    assert (tmp_path / "mad" / "cochcnn9__cochcnn9" / "seven" / "max_b.wav").is_file()
