"""Cross-model recognition (SI Fig. 3/4) on run folders: real images and sounds, real weights (EfficientNet-Lite,
offline), numbers checked against independent computations.

`write_run` writes a run folder in the metamer engine's format (record.json written last) from real inputs, so the
analysis can be tested without the cost of optimisation; the slow test uses the real engine.
"""
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from metazoo_core.analysis.recognition import (MEAN, RecognitionError, bootstrap_sem, recognise,
                                               resolve_recognisers)
from metazoo_core.analysis.runs import NATURAL, read_run
from metazoo_core.errors import InputError
from metazoo_core.fileio import save_tensors, write_json
from metazoo_core.io.images import load_image, save_png, to_uint8
from metazoo_core.plugins import get_spec

VISION = "efficientnet_lite0"
AUDIO = "cochcnn9"


def _record(spec, name, stage, label, passed, folder_file, original_file, measures):
    return {
        "schema": "metazoo.metamer/1", "model": spec.id, "family": spec.family, "modality": spec.modality,
        "weights_sha256": None, "weights_source": None, "stage": stage,
        "input": {"name": name, "source": f"builtin:{name}"},
        "recipe": {"name": "feather2023", "iterations": 10, "blocks": 2, "init_step": 1.0, "noise_mean": 0.5,
                   "noise_std": 0.05, "schedule": None},
        "seed": 0, "versions": {"metazoo": "0.1.0", "torch": torch.__version__, "python": "3.11"},
        "loss_curve": [[s, float(math.exp(-s / 5))] for s in range(0, 20, 2)],
        "measures": measures,
        "null": {"path": "null.safetensors", "pairs": 100, "max": {"spearman": 0.3, "pearson": 0.4, "snr_db": 1.2}},
        "criteria": {"spearman": passed, "pearson": passed, "snr_db": passed, "prediction_match": True},
        "passed": passed,
        "prediction": {"original": label, "metamer": label, "match": True,
                       "rule": "16-way" if spec.modality == "vision" else "argmax"},
        "files": {"metamer": folder_file, "tensor": "metamer.safetensors", "original": f"../{original_file}"},
        "wall_time_s": 1.0, "device": "cpu", "completed": "2026-11-29T07:00:00Z",
    }


def write_run(root: Path, model: str = VISION, inputs=("chelsea", "coffee", "clock"),
              stages=("input_after_preproc", "final"), labels=None, passed=None, seed=0) -> Path:
    """A run folder like the engine's: the input_after_preproc metamer is the original itself, deeper stages are
    seeded uniform noise. labels: {input: decision}; passed: {(input, stage): bool|None} (default None)."""
    spec = get_spec(model)
    g = torch.Generator().manual_seed(seed)
    measures = {s: {"spearman": 0.9, "pearson": 0.95, "snr_db": 12.0} for s in ("input_after_preproc",
                                                                              *spec.stage_names)}
    for name in inputs:
        folder = root / model / name
        if spec.modality == "audio":
            from metazoo_core.io.audio import load_sound, save_wav

            x = load_sound(f"builtin:{name}", spec.input).tensor
            save_wav(x, folder / "original.wav", spec.input.sample_rate)
            ext = ".wav"
        else:
            x = load_image(f"builtin:{name}", spec.input).tensor
            save_png(x, folder / "original.png", spec.input)
            ext = ".png"
        save_tensors(folder / "original.safetensors", {"original": x})
        for stage in stages:
            sub = folder / stage
            if stage == "input_after_preproc":
                m = x.clone()
            elif spec.modality == "audio":
                m = 0.1 * torch.randn(x.shape, generator=g)
            else:
                m = torch.rand(x.shape, generator=g)
            if spec.modality == "audio":
                save_wav(m, sub / "metamer.wav", spec.input.sample_rate)
            else:
                save_png(m, sub / "metamer.png", spec.input)
            save_tensors(sub / "metamer.safetensors", {"metamer": m})
            ok = (passed or {}).get((name, stage))
            label = (labels or {}).get(name, "cat")
            write_json(sub / "record.json", _record(spec, name, stage, label, ok, f"metamer{ext}",
                                                    f"original{ext}", measures))
    return root


def _decide_png(model_id: str, path: Path) -> str:
    """Independent 16-way decision of a model on a PNG: uint8/255 → bicubic resize → logits → max-logit rule."""
    from PIL import Image

    from metazoo_core.labels import categories16, imagenet16
    from metazoo_core.models import load_model

    net = load_model(model_id)
    h, w = net.spec.input.shape[1:]
    img = Image.open(path).convert("RGB").resize((w, h), Image.BICUBIC)
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).permute(2, 0, 1)[None]
    with torch.no_grad():
        logits = net.logits(x)[0]
    best = {c: float(logits[idx].max()) for c, idx in imagenet16().items()}
    return max(categories16(), key=lambda c: best[c])


@pytest.fixture(scope="module")
def lite0_labels():
    """efficientnet_lite0's own 16-way decisions on the saved (uint8) originals: what the engine records."""
    from metazoo_core.labels import predict_labels
    from metazoo_core.models import load_model

    net = load_model(VISION)
    out = {}
    for name in ("chelsea", "coffee", "clock"):
        t = load_image(f"builtin:{name}", net.spec.input).tensor
        x = torch.from_numpy(to_uint8(t, net.spec.input).astype(np.float32) / 255).permute(2, 0, 1)
        with torch.no_grad():
            out[name] = predict_labels(net.logits(x[None]), "imagenet1000")[0]
    return out


def test_bootstrap_sem_matches_binomial_standard_error():
    x = np.r_[np.ones(60), np.zeros(140)]  # p = 0.3, n = 200 → sqrt(p(1-p)/n) = 0.0324
    assert bootstrap_sem(x, n_boot=1000, seed=1) == pytest.approx(math.sqrt(0.3 * 0.7 / 200), rel=0.1)
    assert bootstrap_sem(np.ones(10)) == 0.0
    assert math.isnan(bootstrap_sem([]))


def test_recognition_table_against_independent_decisions(tmp_path, lite0_labels):
    run = read_run(write_run(tmp_path / "run", labels=lite0_labels))
    result = recognise(run, [VISION, "efficientnet_lite1"], n_boot=200)
    rows = {(r["stage"], r["recogniser"]): r for r in result.table}
    # the generating model agrees with itself on its own originals (the label is its decision)
    assert rows[(NATURAL, VISION)]["accuracy"] == 1.0 and rows[(NATURAL, VISION)]["self"]
    # lite1 decided independently from the PNGs
    expected = [_decide_png("efficientnet_lite1", tmp_path / "run" / VISION / n / "original.png") == lite0_labels[n]
                for n in ("chelsea", "clock", "coffee")]
    lite1 = rows[(NATURAL, "efficientnet_lite1")]
    assert (lite1["n"], lite1["n_correct"]) == (3, sum(expected))
    # the input-stage metamer is the original's pixels: identical recognition
    assert rows[("input_after_preproc", "efficientnet_lite1")]["accuracy"] == lite1["accuracy"]
    # the mean leaves out the generating model itself: here only lite1 remains (SEM undefined for one model)
    mean = rows[(NATURAL, MEAN)]
    assert mean["accuracy"] == lite1["accuracy"] and mean["n"] == 1 and mean["sem"] is None
    assert [t["stage"] for t in result.trials[:4]] == [NATURAL] * 3 + ["input_after_preproc"]


def test_resolve_recognisers_modalities():
    assert resolve_recognisers("efficientnet_lite1, efficientnet_lite2", {"vision"}) == [
        "efficientnet_lite1", "efficientnet_lite2"]
    with pytest.raises(RecognitionError, match="'cochcnn9' takes audio input but the run holds vision"):
        resolve_recognisers("efficientnet_lite1,cochcnn9", {"vision"})
    with pytest.raises(RecognitionError, match="holds vision metamers, not audio"):
        resolve_recognisers("all-audio", {"vision"})
    ids = resolve_recognisers("all-vision", {"vision"})
    assert "efficientnet_lite2" in ids and all(get_spec(i).modality == "vision" for i in ids)


def test_read_run_skips_corrupt_records_and_reports_the_rest(tmp_path):
    root = write_run(tmp_path / "run")
    (root / VISION / "coffee" / "final" / "record.json").write_text("{not json")
    (root / VISION / "clock" / "final" / "metamer.png").unlink()
    bad = json.loads((root / VISION / "chelsea" / "final" / "record.json").read_text())
    bad["schema"] = "other/1"
    (root / VISION / "chelsea" / "final" / "record.json").write_text(json.dumps(bad))
    run = read_run(root)
    assert len(run.items) == 3 and {i.stage for i in run.items} == {"input_after_preproc"}
    assert len(run.warnings) == 3
    assert any("unreadable record" in w for w in run.warnings)
    assert any("metamer file metamer.png is missing" in w for w in run.warnings)


def test_missing_and_empty_run_folders(tmp_path):
    with pytest.raises(InputError, match="no such run folder"):
        read_run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no usable metamer records"):
        read_run(tmp_path / "empty")


def test_cli_bad_inputs_are_one_line_errors(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    for args, text in (((str(tmp_path / "nope"), "--models", "efficientnet_lite1"), "no such run folder"),
                       ((str(tmp_path / "empty"), "--models", "efficientnet_lite1"), "no usable metamer records")):
        r = cli("recognize", *args)
        assert r.returncode == 2 and r.stderr.strip().startswith("error:") and text in r.stderr
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    run = write_run(tmp_path / "run", inputs=("chelsea",), stages=("final",))
    r = cli("recognize", str(run), "--models", AUDIO)
    assert r.returncode == 2 and "takes audio input but the run holds vision metamers" in r.stderr
    assert "Traceback" not in r.stderr


def test_cli_recognize_with_a_corrupt_record(cli, tmp_path, lite0_labels):
    root = write_run(tmp_path / "run", labels=lite0_labels, passed={("clock", "final"): False})
    (root / VISION / "coffee" / "final" / "record.json").write_text("")
    png = root / VISION / "clock" / "input_after_preproc" / "metamer.png"
    png.write_bytes(png.read_bytes()[:200])  # truncated image
    r = cli("recognize", str(root), "--models", "efficientnet_lite1", "--json", "--bootstrap", "100")
    assert r.returncode == 0, r.stderr
    assert "skipped" in r.stderr and "coffee/final/record.json" in r.stderr
    assert "corrupt or truncated image" in r.stderr
    assert "1 metamer that failed the acceptance criteria is left out" in r.stderr
    table = json.loads(r.stdout)
    final = [t for t in table if t["stage"] == "final" and t["recogniser"] == "efficientnet_lite1"]
    assert final[0]["n"] == 1  # chelsea only: coffee's record is corrupt, clock's metamer failed
    first = [t for t in table if t["stage"] == "input_after_preproc" and t["recogniser"] == "efficientnet_lite1"]
    assert first[0]["n"] == 2  # clock's PNG is truncated
    out = root / "recognition"
    assert json.loads((out / "recognition.json").read_text())["table"] == table
    assert (out / "recognition.csv").read_text().splitlines()[0].startswith("generator,stage,recogniser,n,")
    from PIL import Image

    assert np.asarray(Image.open(out / "recognition.png").convert("L")).std() > 10  # a drawn figure


@pytest.mark.slow
def test_must_show_2_real_lite0_run_recognised_by_lite1_and_lite2(cli, tmp_path):
    """Issue 8, must show 2: real efficientnet_lite0 metamers (short schedule) → recognize with lite1 and lite2."""
    from metazoo_core.inputs import load_input
    from metazoo_core.metamer import generate_metamers
    from metazoo_core.models import load_model

    net = load_model(VISION)
    inputs = [load_input(f"builtin:{n}", net.spec) for n in ("chelsea", "clock")]
    stages = ["input_after_preproc", "blocks_2", "final"]
    generate_metamers(net, inputs, stages, iterations=10, blocks=1, out_dir=tmp_path / "run", batch_size=2)
    r = cli("recognize", str(tmp_path / "run"), "--models", "efficientnet_lite1,efficientnet_lite2", "--json")
    assert r.returncode == 0, r.stderr
    table = json.loads(r.stdout)
    assert {(t["stage"], t["recogniser"]) for t in table} == {
        (s, m) for s in [NATURAL, *stages] for m in ("efficientnet_lite1", "efficientnet_lite2", MEAN)}
    for stage in [NATURAL, *stages]:
        a, b, mean = (next(t for t in table if t["stage"] == stage and t["recogniser"] == m)
                      for m in ("efficientnet_lite1", "efficientnet_lite2", MEAN))
        assert a["n"] == b["n"] == 2 and a["accuracy"] in (0, 0.5, 1)
        assert mean["accuracy"] == pytest.approx((a["accuracy"] + b["accuracy"]) / 2)
        assert mean["sem"] == pytest.approx(abs(a["accuracy"] - b["accuracy"]) / 2)  # SEM of two values
    # natural inputs: each recogniser's decision on original.png, computed independently
    for m in ("efficientnet_lite1", "efficientnet_lite2"):
        nat = next(t for t in table if t["stage"] == NATURAL and t["recogniser"] == m)
        labels = {n: json.loads((tmp_path / "run" / VISION / n / "final" / "record.json").read_text())
                  ["prediction"]["original"] for n in ("chelsea", "clock")}
        hits = sum(_decide_png(m, tmp_path / "run" / VISION / n / "original.png") == labels[n] for n in labels)
        assert nat["n_correct"] == hits
    assert (tmp_path / "run" / "recognition" / "recognition.png").stat().st_size > 10_000


def test_saved_sounds_are_read_as_they_are(tmp_path):
    """A metamer WAV at the model's rate and length is used unchanged (no RMS rescaling); another rate is resampled
    to the model's 20 kHz × 40,000 samples."""
    import soundfile as sf
    from safetensors.torch import load_file

    from metazoo_core.analysis.recognition import _read_sound

    spec = get_spec(AUDIO)
    root = write_run(tmp_path / "run", AUDIO, inputs=("apple",), stages=("final",), labels={"apple": "1"})
    folder = root / AUDIO / "apple" / "final"
    saved = load_file(str(folder / "metamer.safetensors"))["metamer"]
    x = _read_sound(folder / "metamer.wav", spec)
    assert torch.equal(x, saved)  # float WAV round trip, RMS 0.1·randn kept (not rescaled to the input RMS)
    data, _ = sf.read(str(folder / "metamer.wav"), dtype="float32")
    sf.write(str(tmp_path / "16k.wav"), data[::5][:16000].repeat(2)[:32000], 16000, subtype="FLOAT")
    y = _read_sound(tmp_path / "16k.wav", spec)
    assert y.shape == (40000,) and float(y.pow(2).mean().sqrt()) == pytest.approx(0.1, rel=1e-3)
