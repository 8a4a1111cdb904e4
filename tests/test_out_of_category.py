"""Inputs outside the study's 16 categories: `predict`, `generate`, `recognize` and `experiment` say when an input's
top-1 ImageNet class is in none of them (the 16-way answer then comes from a class far down the list), the records
keep it, and `experiment` refuses degenerate designs unless asked. The photos are made here (a ping-pong-ball-like
sphere, a logo, a text page, a colour wheel); the expected notice is computed from efficientnet_lite0's own logits."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from metazoo_core.errors import InputError
from metazoo_core.io.images import BUILTIN_IMAGES, load_image
from metazoo_core.labels import categories16, category16_index, category16_source, imagenet16, imagenet_names

NOTICE = re.compile(r"^notice: (\S+): top-1 '(.+)' is not in the study's 16 categories; the 16-way answer '(\w+)' "
                    r"comes from rank (\d+) \(p = ([0-9.e+-]+)\)$")
CATEGORY_OF = {i: cat for cat, idx in imagenet16().items() for i in idx}


def _ball(path: Path) -> None:
    """A white sphere, shaded, with a highlight, on a green table (640 × 480 like the walkthrough's ball.jpg)."""
    yy, xx = np.mgrid[0:480, 0:640].astype(float)
    d = np.hypot(yy - 240, xx - 320)
    inside = (d < 130)[..., None]
    shade = np.clip(0.3 + 0.7 * np.sqrt(np.clip(1 - (d / 130) ** 2, 0, None)), 0, 1)[..., None]
    highlight = 255 * np.exp(-((yy - 190) ** 2 + (xx - 270) ** 2) / 600)[..., None]
    img = np.where(inside, np.array([250, 250, 245]) * shade + highlight, np.array([20, 90, 40]))
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)


def _logo(path: Path) -> None:
    im = Image.new("RGB", (300, 300), "white")
    draw = ImageDraw.Draw(im)
    draw.rounded_rectangle((50, 70, 250, 230), radius=30, fill=(30, 80, 200))
    draw.polygon([(80, 200), (80, 100), (150, 160), (220, 100), (220, 200), (195, 200), (195, 150), (150, 190),
                  (105, 150), (105, 200)], fill="white")
    draw.rectangle((50, 240, 250, 255), fill=(250, 140, 0))
    im.save(path)


def _page(path: Path) -> None:
    words = ["the", "model", "metamer", "stage", "of", "a", "network", "human", "recognition", "and", "noise"]
    rng = np.random.default_rng(0)
    im = Image.new("L", (400, 520), 255)
    draw = ImageDraw.Draw(im)
    for row in range(30):
        draw.text((20, 15 + 16 * row), " ".join(rng.choice(words, 8)), fill=0)
    im.save(path)


def _wheel(path: Path) -> None:
    """Hue by angle, saturation by radius, white outside the disc."""
    yy, xx = np.mgrid[0:300, 0:300].astype(float) - 150
    hue = (np.arctan2(yy, xx) / (2 * np.pi)) % 1.0
    sat = np.hypot(yy, xx) / 140
    pure = np.clip(np.abs((hue[..., None] * 6 + np.array([0, 4, 2])) % 6 - 3) - 1, 0, 1)
    rgb = 1 - np.clip(sat, 0, 1)[..., None] * (1 - pure)
    rgb[sat > 1] = 1
    Image.fromarray((255 * rgb).astype(np.uint8)).save(path)


PHOTOS = {"ball": _ball, "logo": _logo, "page": _page, "wheel": _wheel}


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("own")
    paths = {}
    for name, make in PHOTOS.items():
        make(root / f"{name}.png")
        paths[name] = root / f"{name}.png"
    return paths


@pytest.fixture(scope="module")
def lite0():
    from metazoo_core.models import load_model

    return load_model("efficientnet_lite0")


def _expected(lite0, source: str) -> dict:
    """The walk-down rule done here in float64 on the model's logits: top-1 class, whether it is in a category,
    the 1-based rank of the first class that is, its category and softmax probability."""
    x = load_image(source, lite0.spec.input).tensor
    with torch.no_grad():
        logits = lite0.logits(x[None])[0].double()
    order = sorted(range(logits.numel()), key=lambda i: -float(logits[i]))
    rank = next(r for r, i in enumerate(order) if i in CATEGORY_OF)
    p = float(logits.softmax(0)[order[rank]])
    return {"top1": imagenet_names()[order[0]], "in_category": rank == 0, "rank": rank + 1,
            "category": CATEGORY_OF[order[rank]], "p": p}


def _notices(stderr: str) -> dict[str, tuple]:
    """{input: (top-1, answer, rank, p)} from the out-of-category notices; each input at most once."""
    found = [NOTICE.match(line) for line in stderr.splitlines()]
    names = [m.group(1) for m in found if m]
    assert len(names) == len(set(names)), "one notice per input"
    return {m.group(1): (m.group(2), m.group(3), int(m.group(4)), float(m.group(5))) for m in found if m}


def _check(notices: dict, expected: dict[str, dict]) -> None:
    """Notices exactly for the inputs whose top-1 is out of category, each naming top-1, answer, rank and p.
    p is printed with 2 significant digits: relative rounding error ≤ 5 %."""
    assert set(notices) == {n for n, e in expected.items() if not e["in_category"]}
    for name, (top1, answer, rank, p) in notices.items():
        e = expected[name]
        assert (top1, answer, rank) == (e["top1"], e["category"], e["rank"])
        assert p == pytest.approx(e["p"], rel=0.05)


def test_walk_down_rank_agrees_with_the_max_logit_rule():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(500, 1000, generator=g)
    cats, names = categories16(), imagenet_names()
    for row, src, idx in zip(logits, category16_source(logits), category16_index(logits).tolist()):
        assert CATEGORY_OF[src["index"]] == cats[idx]
        above = row.argsort(descending=True)[:src["rank"] - 1].tolist()
        assert not any(i in CATEGORY_OF for i in above) and src["label"] == names[src["index"]]
        assert src["in_category"] == (src["rank"] == 1) == (src["top1_index"] in CATEGORY_OF)
    crafted = torch.zeros(1, 1000)
    crafted[0, 722], crafted[0, 0], crafted[0, 409] = 9.0, 8.0, 7.0  # ping-pong ball, tench, analog clock
    (src,) = category16_source(crafted)
    assert (src["in_category"], src["rank"], src["index"], src["top1_label"]) == (False, 3, 409, "ping-pong ball")
    assert src["p"] == pytest.approx(float(crafted.softmax(1)[0, 409]), rel=1e-3)  # 4 significant digits


def test_predict_flags_each_own_photo_and_keeps_the_flag(cli, photos, lite0):
    sources = [str(p) for p in photos.values()] + ["builtin:chelsea"]
    r = cli("predict", "efficientnet_lite0", *sources, "--json")
    assert r.returncode == 0, r.stderr
    expected = {name: _expected(lite0, str(path)) for name, path in photos.items()}
    expected["chelsea"] = _expected(lite0, "builtin:chelsea")
    assert not any(expected[n]["in_category"] for n in PHOTOS)  # the premise: all four photos are outside
    assert expected["chelsea"]["in_category"]
    _check(_notices(r.stderr), expected)
    for row in json.loads(r.stdout):
        e = expected[row["input"]]
        assert row["out_of_category"] is not e["in_category"] and row["category16"] == e["category"]
        assert row["category16_source"]["rank"] == e["rank"]
        assert row["category16_source"]["p"] == pytest.approx(e["p"], rel=1e-3)  # 4 significant digits


def test_bundled_photos_are_flagged_exactly_when_their_top1_is_outside(lite0):
    from metazoo_core.inputs import load_many
    from metazoo_core.predict import predict

    items, problems = load_many([f"builtin:{n}" for n in BUILTIN_IMAGES], lite0.spec)
    assert not problems
    rows, notices = predict(lite0, items, top=1)
    expected = {n: _expected(lite0, f"builtin:{n}") for n in BUILTIN_IMAGES}
    _check(_notices("\n".join(f"notice: {n}" for n in notices)), expected)
    assert {r["input"] for r in rows if not r["out_of_category"]} == {n for n, e in expected.items()
                                                                      if e["in_category"]}
    assert expected["chelsea"]["in_category"]  # the tour's photo: no notice


@pytest.fixture(scope="module")
def run(cli, photos, tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("ooc") / "run"
    r = cli("generate", "efficientnet_lite0", *map(str, photos.values()), "builtin:chelsea", "--stage", "final",
            "--iterations", "2", "--blocks", "1", "--workers", "1", "--out", str(out))
    assert r.returncode == 0, r.stderr
    return out, r.stderr


def test_generate_says_so_once_per_input_and_the_record_keeps_it(run, photos, lite0):
    out, stderr = run
    expected = {name: _expected(lite0, str(path)) for name, path in photos.items()}
    expected["chelsea"] = _expected(lite0, "builtin:chelsea")
    _check(_notices(stderr), expected)
    for name, e in expected.items():
        rec = json.loads((out / "efficientnet_lite0" / name / "final" / "record.json").read_text())
        assert rec["out_of_category"] is not e["in_category"] and rec["prediction"]["original"] == e["category"]
        assert rec["category16_source"]["rank"] == e["rank"] and rec["category16_source"]["top1_label"] == e["top1"]


def test_recognize_says_so(cli, run, photos, lite0):
    out, _ = run
    r = cli("recognize", str(out), "--models", "efficientnet_lite0", "--bootstrap", "10")
    assert r.returncode == 0, r.stderr
    assert set(_notices(r.stderr)) == set(PHOTOS)


def test_experiment_refuses_out_of_category_answers_unless_asked(cli, run):
    out, _ = run
    r = cli("experiment", str(out), "--trials", "20")
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert r.returncode == 2 and len(errors) == 1 and "Traceback" not in r.stderr
    assert "4 input(s) have a top-1 class outside the study's 16 categories" in errors[0]
    assert "--allow-degenerate" in errors[0] and not (out / "experiment").exists()
    assert set(_notices(r.stderr)) == set(PHOTOS)
    r = cli("experiment", str(out), "--trials", "20", "--allow-out-of-category")
    assert r.returncode == 0, r.stderr
    meta = json.loads((out / "experiment" / "experiment.json").read_text())
    assert meta["allow_degenerate"] is True and len(meta["degenerate"]) == 1
    assert sorted(line.split(":")[0] for line in meta["out_of_category"]) == sorted(PHOTOS)


def test_one_answer_for_every_trial_is_refused(tmp_path):
    from metazoo_core.analysis.runs import read_run
    from metazoo_core.experiment import write_experiment
    from test_recognition import write_run

    run = read_run(write_run(tmp_path / "run"))  # every input's answer is "cat"
    with pytest.raises(InputError, match=r"all 12 analysed trials have the answer 'cat'") as e:
        write_experiment(run, tmp_path / "exp", total=12)
    assert "\n" not in str(e.value) and not (tmp_path / "exp").exists()
    write_experiment(run, tmp_path / "exp", total=12, allow_degenerate=True)
    meta = json.loads((tmp_path / "exp" / "experiment.json").read_text())
    assert meta["allow_degenerate"] is True and meta["out_of_category"] == []
    assert meta["degenerate"] == ["all 12 analysed trials have the answer 'cat', so always answering it scores 100 %"]
