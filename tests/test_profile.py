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


# -- like with like (issue 26) ---------------------------------------------------------------------------------------
def test_profile_pages_show_the_schedule_and_the_final_loss(profiled):
    root, _, _ = profiled
    prof = json.loads((root / "out" / "profile.json").read_text())["profiles"]
    for m in MODELS:
        met = prof[m]["metamers"]
        assert met["schedules"] == [{"recipe": "feather2023", "iterations": 2, "blocks": 1, "init_step": 1.0}]
        assert set(met["stages"]) == {"blocks_1", "head"} and all(c["n"] == 1 for c in met["stages"].values())
        assert all(0 < c["final_loss_mean"] == c["final_loss_max"] for c in met["stages"].values())
        assert prof[m]["settings_differ"] == {}
        page = (root / "out" / f"{m}.html").read_text()
        assert "feather2023, 2 iterations ×\n1 blocks, init_step 1.0" in page and 'id="convergence"' in page
        assert f"{met['stages']['head']['final_loss_mean']:.3f}" in page and "settings differ" not in page


def test_profile_remeasures_records_made_with_other_settings_or_marks_them(profiled, cli):
    """Earlier records at other settings (here: PGD steps 2 in the store, asked 3) are measured again with --fill
    (only that unit runs), and shown with a visible "settings differ" mark with --no-fill (asked 5)."""
    root, _, _ = profiled
    store, runs = root / "store", root / "runs"
    tiny = [*TINY[:TINY.index("--steps")], *TINY[TINY.index("--steps") + 2:]]
    again = cli("profile", MODELS[0], "--out", str(root / "steps3"), "--store", str(store), "--runs", str(runs),
                *tiny, "--steps", "3")
    assert again.returncode == 0, again.stderr
    assert "profile sweep: 1 units, 0 already done, 1 to run" in again.stderr  # the robustness unit only
    prof = json.loads((root / "steps3" / "profile.json").read_text())["profiles"][MODELS[0]]
    used = [json.loads(Path(p).read_text()) for p in prof["sources"]]
    assert [r["steps"] for r in used if r.get("schema") == "metazoo.robustness/1"] == [3]
    assert prof["settings_differ"] == {}
    marked = cli("profile", MODELS[0], "--out", str(root / "steps5"), "--store", str(store), "--runs", str(runs),
                 *tiny, "--steps", "5", "--init-step", "8", "--no-fill")
    assert marked.returncode == 0, marked.stderr
    prof = json.loads((root / "steps5" / "profile.json").read_text())["profiles"][MODELS[0]]
    assert prof["settings_differ"] == {"robustness linf": ["steps 3, asked 5"],
                                       "metamers": ["init step 1.0, asked 8.0"]}
    row = prof["leaderboard"]
    assert row["settings_differ"] == "robustness linf: steps 3, asked 5; metamers: init step 1.0, asked 8.0"
    assert "⚠ settings differ" in (root / "steps5" / "index.html").read_text()
    page = (root / "steps5" / f"{MODELS[0]}.html").read_text()
    assert 'id="settings-differ"' in page and "robustness linf: steps 3, asked 5" in page
    assert "settings_differ" in (root / "steps5" / "leaderboard.csv").read_text().splitlines()[0]


def _robustness_record(**change) -> dict:
    rec = {"schema": "metazoo.robustness/1", "model": "efficientnet_lite0", "attack": "untargeted", "norm": "linf",
           "steps": 4, "step_ratio": 0.25, "subsets": 1, "n": 2, "inputs": ["builtin:chelsea", "builtin:coffee"],
           "results": [{"eps": 0.0, "mean": 1.0, "sem": 0.0}, {"eps": 0.001, "mean": 0.5, "sem": 0.0}]}
    return {**rec, **change}


def test_settings_differences_name_what_differs():
    from metazoo_core.profile.settings import input_set, ood_differences, robustness_differences

    asked = {"eps": [0.0, 0.001], "steps": 4, "step_ratio": 0.25, "subsets": 1, "n": 2}
    inputs = input_set(["builtin:coffee", "builtin:chelsea"], "vision")
    assert robustness_differences(_robustness_record(), asked, inputs, "vision") == []
    # the walkthrough's lite0: 8-step PGD on 7 ε values, 8 images
    seven = [{"eps": e, "mean": 0.5, "sem": 0.0} for e in (0, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)]
    old = _robustness_record(steps=8, results=seven, n=8, inputs=[f"builtin:{n}" for n in "abcdefgh"])
    assert robustness_differences(old, asked, inputs, "vision") == [
        "ε 0, 0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, asked 0, 0.001", "steps 8, asked 4", "other inputs",
        "n 8, asked 2"]
    # n below what was asked is the same measurement when the inputs are the same (capped by what is available)
    assert robustness_differences(_robustness_record(), {**asked, "n": 1024}, inputs, "vision") == []
    ic = {"accuracy": {c: {str(s): 0.5 for s in (1, 2, 3, 4, 5)} for c in ("gaussian_noise", "shot_noise")},
          "inputs": ["builtin:chelsea", "builtin:coffee"]}
    assert ood_differences(ic, ["gaussian_noise", "shot_noise"], [1, 2, 3, 4, 5], inputs, "vision") == []
    assert ood_differences(ic, ["gaussian_noise"], [3], inputs, "vision") == [
        "2 corruptions, asked 1", "severities 1,2,3,4,5, asked 3"]


def test_records_at_other_settings_are_planned_again_with_fill(tmp_path):
    from metazoo_core.plugins import registry
    from metazoo_core.profile.build import ProfileSettings, plan_missing, sort_by_settings

    reg = registry()
    s = ProfileSettings(stages=("blocks_1",), inputs=("builtin:chelsea", "builtin:coffee"), eps={"linf": (0.0, 1e-3)},
                        steps=4, subsets=1, n=2, corruptions=("gaussian_noise",), severities=(3,))
    have = {"efficientnet_lite0": {"robustness": [_robustness_record(steps=8), _robustness_record()]}}
    kept, differ = sort_by_settings(["efficientnet_lite0"], have, s, reg, reuse_other=False)
    assert kept["efficientnet_lite0"]["robustness"] == [_robustness_record()] and differ == {}  # the older, same
    have = {"efficientnet_lite0": {"robustness": [_robustness_record(steps=8)]}}
    kept, differ = sort_by_settings(["efficientnet_lite0"], have, s, reg, reuse_other=False)
    assert kept["efficientnet_lite0"]["robustness"] == [] and differ == {}
    plan = plan_missing(["efficientnet_lite0"], kept, {"efficientnet_lite0": {"blocks_1"}}, s, reg)
    assert [g["kind"] for g in plan["groups"]] == ["robustness", "ood"]
    assert plan["groups"][0]["options"]["steps"] == 4
    kept, differ = sort_by_settings(["efficientnet_lite0"], have, s, reg, reuse_other=True)
    assert kept["efficientnet_lite0"]["robustness"] == have["efficientnet_lite0"]["robustness"]
    assert differ == {"efficientnet_lite0": {"robustness linf": ["steps 8, asked 4"]}}
