"""`metazoo profile`: pages from existing runs plus one sweep for the gaps, checked in headless Chromium."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from test_readout import _folder
from test_report import CHROMIUM, browser_verdict, needs_chromium

MODELS = ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
TINY = ["--stage", "blocks_1", "--stage", "head", "--inputs", "builtin:chelsea", "--iterations", "2", "--blocks", "1",
        "--eps", "0,0.001,0.01", "--steps", "2", "--subsets", "1", "--n", "1", "--corruption", "gaussian_noise",
        "--severity", "1", "--severity", "5"]
SORT_JS = """<script>
window.addEventListener("load", () => {
  const order = {};
  document.querySelectorAll("#leaderboard th.sortable").forEach(th => {
    th.click();
    order[th.dataset.key] = [...document.querySelectorAll("#leaderboard tbody tr")].map(r => r.cells[0].dataset.value);
  });
  const pre = document.createElement("pre");
  pre.id = "metazoo-sorted";
  pre.textContent = JSON.stringify(order);
  document.body.appendChild(pre);
});
</script>"""


@pytest.fixture(scope="module")
def profiled(tmp_path_factory, cli):
    """lite0 profiled alone first (its units land in the store), a readout of lite1 written into runs/ as
    `metazoo readout` writes it, then all three profiled by the CLI: only lite1's and lite2's missing units may run."""
    from metazoo_core.models import load_model
    from metazoo_core.readout import ReadoutConfig, readout_stages
    from metazoo_core.readout.data import load_readout_data
    from metazoo_core.readout.run import readout_dir

    root = tmp_path_factory.mktemp("profile")
    store, runs = root / "store", root / "runs"
    first = cli("profile", MODELS[0], "--out", str(root / "first"), "--store", str(store), "--runs", str(runs), *TINY)
    assert first.returncode == 0, first.stderr
    model = load_model(MODELS[1])
    train, val, _ = load_readout_data(_folder(root / "data"), model.spec, 0.34)
    cfg = ReadoutConfig(epochs=1, units=32, augment=False, batch_size=4)
    readout_stages(model, train, val, ["blocks_1", "head"], readout_dir(runs / "readout", MODELS[1], 0, cfg),
                   config=cfg)
    del model
    second = cli("profile", *MODELS, "--out", str(root / "out"), "--store", str(store), "--runs", str(runs), *TINY)
    assert second.returncode == 0, second.stderr
    return root, first, second


def test_profile_reuses_existing_runs_and_fills_the_gaps_with_one_sweep(profiled):
    root, first, second = profiled
    # per model: 2 metamers (1 input × 2 stages) + 1 robustness + 1 ImageNet-C unit; lite0's are found on disk by
    # the second profile and not planned again, so its one sweep holds only lite1's and lite2's 8 units
    assert "profile sweep: 4 units, 0 already done, 4 to run" in first.stderr
    assert "profile sweep: 8 units, 0 already done, 8 to run" in second.stderr
    assert second.stderr.count("profile sweep:") == 1  # one sweep for every gap
    prof = json.loads((root / "out" / "profile.json").read_text())["profiles"]
    assert list(prof) == MODELS
    assert list(prof[MODELS[1]]["readout"]) == ["blocks_1", "head"]  # from runs/, not planned again
    assert not prof[MODELS[0]]["readout"] and not prof[MODELS[2]]["readout"]
    for m in MODELS:
        p = prof[m]
        assert set(p["recognition"]) == {"natural", "blocks_1", "head"}
        assert sorted(p["recognition"]["head"]["per_model"]) == sorted(set(MODELS) - {m})  # recognised by the others
        assert [e for e, _, _ in p["robustness"]["untargeted linf"]] == [0.0, 0.001, 0.01]
        assert p["robustness"]["untargeted linf"][0][1] == 1.0  # clean accuracy on its own decisions
        assert set(p["ood"]["imagenet_c"]["accuracy"]["gaussian_noise"]) == {"1", "5"}
    rows = (root / "out" / "leaderboard.csv").read_text().splitlines()
    assert rows[0].startswith("model,metamer_recognition_last") and len(rows) == 4
    recog = prof[MODELS[0]]["recognition"]["head"]
    assert recog["accuracy"] == pytest.approx(sum(recog["per_model"].values()) / 2)


def _sorted_orders(page: Path, tmp_path: Path) -> dict:
    from test_report import _chromium

    probe = page.parent / f"sort-{page.name}"
    probe.write_text(page.read_text().replace("</body>", SORT_JS + "</body>", 1))
    r = _chromium(tmp_path, "--virtual-time-budget=20000", "--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="metazoo-sorted">(.*?)</pre>', r.stdout, re.S)
    assert found, r.stderr[-2000:]
    import html

    return json.loads(html.unescape(found.group(1)))


@pytest.mark.browser
@needs_chromium
def test_profile_pages_in_headless_chromium(profiled, tmp_path):
    root, _, _ = profiled
    out = root / "out"
    for page in [out / "index.html", *(out / f"{m}.html" for m in MODELS)]:
        verdict = browser_verdict(page, tmp_path)
        assert verdict["errors"] == [], page.name
        assert verdict["n_images"] >= (1 if page.name == "index.html" else 3), page.name
        assert verdict["images_ok"] == verdict["n_images"], page.name
        text = page.read_text()
        assert not re.search(r'(src|href)="(https?:)?//', text)  # nothing fetched from the network
    rows = {r["model"]: r for r in json.loads((out / "profile.json").read_text())["leaderboard"]}
    orders = _sorted_orders(out / "index.html", tmp_path)
    assert orders["model"] == sorted(MODELS, reverse=True)  # first click: descending
    for key in ("imagenet_c", "robust_untargeted_linf", "metamer_recognition_mean"):
        values = [rows[m][key] for m in orders[key]]
        assert values == sorted(values, reverse=True), (key, orders[key], values)
    assert shutil.which("chromium") == CHROMIUM


def test_study_models_carry_the_published_human_recognition_and_pages_render_it(tmp_path):
    from metazoo_core.humans.study import load
    from metazoo_core.profile.build import human_recognition
    from metazoo_core.profile.collect import leaderboard_row
    from metazoo_core.profile.render import write_pages

    h = human_recognition("alexnet")
    raw = next(m for m in load(h["experiment"]) if m.model == "alexnet")
    stages = list(h["stages"])
    assert stages[0] == raw.stages[0] and len(stages) == raw.human.shape[1]
    assert h["stages"][stages[0]]["accuracy"] == pytest.approx(float(raw.human[:, 0].mean()))
    assert h["stages"][stages[0]]["accuracy"] > 0.8 > 0.2 > h["stages"][stages[-1]]["accuracy"]  # natural vs final
    assert human_recognition("efficientnet_lite0") is None
    profile = {"model": "alexnet", "description": "d", "modality": "vision", "recognition": {}, "robustness": {},
               "ood": {}, "readout": {}, "humans": h, "sources": []}
    profile["leaderboard"] = leaderboard_row("alexnet", profile)
    write_pages({"alexnet": profile}, tmp_path)
    page = (tmp_path / "alexnet.html").read_text()
    assert 'id="humans"' in page and page.count("<tr><td>") >= len(stages)
    assert (tmp_path / "leaderboard.csv").read_text().splitlines()[1].startswith("alexnet,,")
