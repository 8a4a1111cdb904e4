"""OOD evaluation: error consistency against hand computations (edge cases included), the generated ImageNet-C
corruptions, `metazoo ood` on the bundled photos, and model-vs-human on a synthetic release-layout folder."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from metazoo_core.ood.consistency import error_consistency
from metazoo_core.ood.corruptions import CORRUPTIONS, NOT_GENERATED, STUDY_CORRUPTIONS, corrupt
from metazoo_core.ood.model_vs_human import image_key, score_set


def test_error_consistency_equals_a_hand_computation():
    a = [1, 1, 1, 0, 0, 1, 0, 1, 1, 0]  # accuracy 0.6
    b = [1, 0, 1, 0, 1, 1, 0, 0, 1, 0]  # accuracy 0.5
    # agreements at 0,2,3,5,6,8,9 → 7/10; expected 0.6·0.5 + 0.4·0.5 = 0.5; κ = (0.7 − 0.5) / 0.5 = 0.4
    r = error_consistency(a, b)
    assert r["observed"] == pytest.approx(0.7) and r["expected"] == pytest.approx(0.5)
    assert r["kappa"] == pytest.approx(0.4)
    # opposite on every trial: p_b = 0.4, c_obs = 0, c_exp = 0.6·0.4 + 0.4·0.6 = 0.48 → κ = −0.48 / 0.52 = −12/13
    assert error_consistency(a, [1 - v for v in a])["kappa"] == pytest.approx(-12 / 13)
    assert error_consistency([1, 0], [0, 1])["kappa"] == pytest.approx(-1.0)  # p = 0.5 each: the minimum
    # independent observers: 4 trials, a = 1100, b = 1010 → c_obs 0.5, c_exp 0.5 → κ 0
    assert error_consistency([1, 1, 0, 0], [1, 0, 1, 0])["kappa"] == pytest.approx(0.0)


def test_error_consistency_edge_cases_are_defined():
    # expected consistency 1 (both always right, or both always wrong): 0/0 in the formula, defined as κ = 1
    assert error_consistency([1, 1, 1], [1, 1, 1]) == pytest.approx(
        {"kappa": 1.0, "observed": 1.0, "expected": 1.0, "accuracy_a": 1.0, "accuracy_b": 1.0, "n": 3})
    assert error_consistency([0, 0], [0, 0])["kappa"] == 1.0
    # identical correctness with mixed accuracy: κ = 1 by the formula as well
    assert error_consistency([1, 0, 1], [1, 0, 1])["kappa"] == pytest.approx(1.0)
    # one always right, the other always wrong: c_exp = 0, c_obs = 0 → κ = 0
    assert error_consistency([1, 1], [0, 0])["kappa"] == pytest.approx(0.0)
    # one always right, the other not: c_exp = p_b = c_obs → κ = 0
    assert error_consistency([1, 1, 1, 1], [1, 0, 1, 1])["kappa"] == pytest.approx(0.0)
    with pytest.raises(ValueError):
        error_consistency([1, 0], [1])
    with pytest.raises(ValueError):
        error_consistency([], [])


def test_score_set_matches_hand_counts_per_observer():
    truth = {f"c_{cat}_1_n{i}": cat for i, cat in enumerate(["cat", "dog", "car", "oven"])}
    keys = list(truth)
    model = dict(zip(keys, ["cat", "dog", "bear", "bear"]))  # right, right, wrong, wrong
    rows = lambda subj, answers: [{"subj": subj, "object_response": r, "category": truth[k],  # noqa: E731
                                   "imagename": f"000{i}_x_s01_{k}.png"} for i, (k, r) in enumerate(zip(keys, answers))]
    humans = {"s1": rows("s1", ["cat", "dog", "car", "oven"]),   # all right → κ 0 against a 50 % model
              "s2": rows("s2", ["cat", "na", "bear", "oven"])}   # right, wrong, wrong, right
    r = score_set(model, truth, humans)
    assert r["accuracy"] == 0.5 and r["human_accuracy"] == pytest.approx(0.75)
    assert r["per_observer"]["s1"]["kappa"] == pytest.approx(0.0)
    # s2 vs model: correctness 1001 vs 1100 → c_obs 0.5, c_exp 0.5·0.5 + 0.5·0.5 = 0.5 → κ 0
    assert r["per_observer"]["s2"]["kappa"] == pytest.approx(0.0)
    humans["s3"] = rows("s3", ["cat", "dog", "dog", "dog"])  # same correctness as the model → κ 1
    assert score_set(model, truth, humans)["per_observer"]["s3"]["kappa"] == pytest.approx(1.0)
    assert image_key("0001_cl_s01_cr_oven_40_n04111531_14126.png") == image_key(
        "0417_cl_dnn_cr_oven_40_n04111531_14126.png") == "cr_oven_40_n04111531_14126"


def test_generated_corruptions_cover_the_study_list_and_grow_with_severity():
    from metazoo_core.io.images import builtin_array

    assert len(STUDY_CORRUPTIONS) == 15 and NOT_GENERATED == () and tuple(CORRUPTIONS) == STUDY_CORRUPTIONS
    x = builtin_array("chelsea")[:96, :96].astype(np.float32) / 255
    for name in (c for c in CORRUPTIONS if c != "frost"):  # frost needs its photographs: test_corruptions_extra.py
        dist = [float(np.abs(corrupt(x, name, s, np.random.default_rng(0)) - x).mean()) for s in (1, 3, 5)]
        assert dist[0] > 0 and dist[0] < dist[1] < dist[2], (name, dist)
        again = corrupt(x, name, 3, np.random.default_rng(0))
        assert np.array_equal(again, corrupt(x, name, 3, np.random.default_rng(0)))  # seeded: reproducible
        assert again.shape == x.shape and again.min() >= 0 and again.max() <= 1
    # contrast: (x − mean)·c + mean with c = 0.05 at severity 5 (no clipping happens for a contraction)
    means = x.astype(np.float64).mean(axis=(0, 1), keepdims=True)
    assert np.allclose(corrupt(x, "contrast", 5, np.random.default_rng(0)), (x - means) * 0.05 + means, atol=1e-6)
    # Gaussian noise on mid-grey: residual std = 0.08 at severity 1 (6σ from the bounds: no clipping)
    grey = np.full((64, 64, 3), 0.5, np.float32)
    assert np.std(corrupt(grey, "gaussian_noise", 1, np.random.default_rng(1)) - grey) == pytest.approx(0.08, rel=0.05)


def test_ood_imagenet_c_accuracy_falls_with_severity_on_the_bundled_photos(tmp_path, cli):
    """Frost is asked for too, without its photographs: one error line, nonzero exit, the others still scored."""
    chosen = ["gaussian_noise", "defocus_blur", "fog", "pixelate"]
    args = ["ood", "efficientnet_lite0", "--benchmark", "imagenet-c", "--severity", "1", "--severity", "3",
            "--severity", "5", "--out", str(tmp_path), "--json", "--corruption", "frost"]
    for c in chosen:
        args += ["--corruption", c]
    no_photos = {"METAZOO_FROST_DIR": str(tmp_path)}
    r = cli(*args, env=no_photos)
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode != 0 and last.startswith("error:") and "frost" in last and "METAZOO_FROST_DIR" in last, r.stderr
    rec = json.loads(r.stdout)
    assert list(rec["accuracy"]) == chosen and "frost" in rec["missing"]
    assert rec["n"] == 8 and rec["labels"] == "predicted" and rec["clean"] == 1.0
    for c in chosen:
        acc = [rec["accuracy"][c][s] for s in ("1", "3", "5")]
        assert acc[0] >= acc[1] >= acc[2] and acc[0] > acc[2], (c, acc)
    assert rec["mean"] == pytest.approx(np.mean([np.mean(list(v.values())) for v in rec["accuracy"].values()]))
    assert json.loads((tmp_path / "efficientnet_lite0_imagenet-c.json").read_text())["mean"] == rec["mean"]
    bad = cli("ood", "efficientnet_lite0", "--benchmark", "imagenet-c", "--corruption", "frost", env=no_photos)
    assert bad.returncode != 0 and "downloaded ImageNet-C tree" in bad.stderr and len(bad.stderr.splitlines()) == 1


def _release(root: Path) -> Path:
    """datasets/colour/dnn/session-1 with 4 bundled photos named by the convention, two observers in raw-data/."""
    from PIL import Image

    from metazoo_core.io.images import builtin_array

    photos = {"chelsea": "cat", "coffee": "bottle", "rocket": "airplane", "motorcycle": "bicycle"}
    stim = root / "datasets" / "colour" / "dnn" / "session-1"
    stim.mkdir(parents=True)
    raw = root / "raw-data" / "colour"
    raw.mkdir(parents=True)
    for i, (name, cat) in enumerate(photos.items()):
        Image.fromarray(builtin_array(name)).save(stim / f"{i:04d}_cl_dnn_cr_{cat}_40_n0000000{i}_{i}.png")
    for s, right in (("01", True), ("02", False)):
        with (raw / f"colour_subject-{s}_session_1.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["subj", "Session", "trial", "rt", "object_response", "category", "condition", "imagename"])
            for i, cat in enumerate(photos.values()):
                w.writerow([f"subject-{s}", 1, i + 1, 0.7, cat if right else "knife", cat, "cr",
                            f"{3 - i:04d}_cl_s{s}_cr_{cat}_40_n0000000{i}_{i}.png"])
    return root


def test_ood_model_vs_human_on_a_release_layout_folder(tmp_path, cli):
    root = _release(tmp_path / "mvh")
    r = cli("ood", "efficientnet_lite0", "--benchmark", "model-vs-human", "--data", str(root), "--out",
            str(tmp_path / "out"), "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)["sets"]["colour"]
    assert s["n"] == 4 and s["human_accuracy"] == pytest.approx(0.5)
    p = s["accuracy"]
    # an always-right and an always-wrong observer: κ = 0 against any model accuracy strictly between 0 and 1,
    # 1 for the observer whose correctness equals the model's on every trial (p = 1 or p = 0)
    per = s["per_observer"]
    assert per["subject-01"]["kappa"] == pytest.approx(1.0 if p == 1 else 0.0)
    assert per["subject-02"]["kappa"] == pytest.approx(1.0 if p == 0 else 0.0)
    assert per["subject-01"]["accuracy_a"] == pytest.approx(p)
    missing = cli("ood", "efficientnet_lite0", "--benchmark", "model-vs-human", "--data", str(tmp_path))
    assert missing.returncode != 0 and "bethgelab/model-vs-human" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("argv, needle", [
    (["ood", "efficientnet_lite0", "--benchmark", "imagenet-c", "--device", "cuda:7"], "cuda:7"),
    (["readout", "efficientnet_lite0", "--data", ".", "--device", "cuda:7"], "cuda:7"),
    (["ood", "efficientnet_lite0", "--benchmark", "imagenet-c", "--severity", "6"], "severities are 1–5"),
    (["ood", "efficientnet_lite0", "--benchmark", "nope"], "imagenet-c or model-vs-human"),
    (["ood", "cochresnet50", "--benchmark", "imagenet-c"], "not an ImageNet image classifier"),
    (["readout", "efficientnet_lite0", "--data", ".", "--max-lr", "0"], "lr")])
def test_option_mistakes_are_one_line(argv, needle, monkeypatch, capsys, tmp_path):
    import sys

    from metazoo_cli.app import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["metazoo", *argv])
    with pytest.raises(SystemExit) as e:
        main()
    err = capsys.readouterr().err
    assert e.value.code != 0 and len(err.strip().splitlines()) == 1 and err.startswith("error:"), err
    assert needle in err, err


def test_a_downloaded_imagenet_c_tree_is_scored_by_wordnet_id(tmp_path):
    """DIR/<corruption>/<severity>/<wnid>/<image>: labels from the WordNet id's ImageNet index. Each (clean) image
    is filed under the WordNet id of the model's own top-1, so accuracy is 1 exactly when id → index is right (and 0
    for the image filed under a neighbouring id); cells missing from the tree are reported, not scored."""
    import torch
    from PIL import Image

    from metazoo_core.inputs import load_input
    from metazoo_core.io.images import builtin_array
    from metazoo_core.models import load_model
    from metazoo_core.ood.imagenet_c import imagenet_wnids, is_imagenet_c_tree, tree_imagenet_c

    wnids = imagenet_wnids()
    assert len(wnids) == 1000 and wnids[0] == "n01440764" and len(set(wnids)) == 1000
    model = load_model("efficientnet_lite0")
    for sev, names, shift in (("1", ["chelsea", "coffee"], 0), ("5", ["chelsea"], 1)):
        for name in names:
            x = load_input(f"builtin:{name}", model.spec).tensor[None]
            with torch.no_grad():
                top = int(model.logits(x).argmax())
            folder = tmp_path / "fog" / sev / wnids[(top + shift) % 1000]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(builtin_array(name)).save(folder / f"{name}.png")
    assert is_imagenet_c_tree(tmp_path)
    r = tree_imagenet_c(model.logits, tmp_path, model.spec, ["fog", "snow"], [1, 5], None)
    assert r["accuracy"]["fog"] == {"1": 1.0, "5": 0.0}
    assert r["absent"] == ["snow/1", "snow/5"] and "snow" in r["missing"] and list(r["accuracy"]) == ["fog"]


def test_stray_files_in_an_imagenet_c_tree_are_skipped_with_a_line_and_the_rest_scored(tmp_path, cli):
    """A `.DS_Store`, a text note, a damaged PNG and a `__MACOSX` folder are each one notice; the photos are still
    scored (fog/1 holds two images in their predicted class: accuracy 1 — the bundled-photo labels of the test
    above). A tree with nothing readable is one error line."""
    import torch
    from PIL import Image

    from metazoo_core.inputs import load_input
    from metazoo_core.io.images import builtin_array
    from metazoo_core.models import load_model
    from metazoo_core.ood.imagenet_c import imagenet_wnids

    wnids = imagenet_wnids()
    model = load_model("efficientnet_lite0")
    for name in ("chelsea", "coffee"):
        with torch.no_grad():
            top = int(model.logits(load_input(f"builtin:{name}", model.spec).tensor[None]).argmax())
        folder = tmp_path / "tree" / "fog" / "1" / wnids[top]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(builtin_array(name)).save(folder / f"{name}.png")
        (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1" + bytes(40))
    (folder / "notes.txt").write_text("downloaded 2019\n")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(20))
    (tmp_path / "tree" / "fog" / "1" / "__MACOSX").mkdir()
    r = cli("ood", "efficientnet_lite0", "--benchmark", "imagenet-c", "--data", str(tmp_path / "tree"),
            "--corruption", "fog", "--severity", "1", "--out", str(tmp_path / "out"), "--json")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    skipped = [ln for ln in r.stderr.splitlines() if "skipped" in ln]
    assert len(skipped) == 5, r.stderr  # 2 × .DS_Store, notes.txt, broken.png, __MACOSX
    assert any("__MACOSX" in ln and "WordNet id" in ln for ln in skipped)
    record = json.loads(r.stdout)
    assert record["accuracy"] == {"fog": {"1": 1.0}} and record["n"] == 2 and len(record["skipped"]) == 5

    empty = tmp_path / "empty" / "fog" / "1" / wnids[0]
    empty.mkdir(parents=True)
    (empty / "notes.txt").write_text("nothing here\n")
    bad = cli("ood", "efficientnet_lite0", "--benchmark", "imagenet-c", "--data", str(tmp_path / "empty"),
              "--corruption", "fog", "--severity", "1", "--out", str(tmp_path / "out2"))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "no readable images" in bad.stderr
    assert not (tmp_path / "out2" / "efficientnet_lite0_imagenet-c.json").exists()
