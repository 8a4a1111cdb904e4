"""The HTML report: content checks on the page, and the page opened in headless Debian Chromium (no console errors,
every image decoded, every audio element with its duration, a non-blank screenshot)."""
import itertools
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from metazoo_core.analysis import plots
from metazoo_core.analysis.recognition import Recognition, summarise
from metazoo_core.analysis.runs import NATURAL, read_run
from metazoo_core.fileio import write_json
from metazoo_core.report import build_report
from test_recognition import AUDIO, VISION, write_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian chromium is not installed (CI installs it: apt-get install chromium)")
CLIP_S = 40000 / 20000  # the audio models hear 2 s at 20 kHz

VERDICT_JS = """<script>
window.__errs = [];
window.addEventListener("error", e => {
  const t = e.target;
  window.__errs.push(t && t !== window ? "failed to load " + t.tagName : String(e.message));
}, true);
window.addEventListener("unhandledrejection", e => window.__errs.push("unhandled rejection: " + e.reason));
const __ce = console.error.bind(console);
console.error = (...a) => { window.__errs.push(a.map(String).join(" ")); __ce(...a); };
window.addEventListener("load", () => {
  const auds = [...document.querySelectorAll("audio")];
  const ready = a => a.readyState >= 1 ? Promise.resolve() : new Promise(r => {
    a.addEventListener("loadedmetadata", r); a.addEventListener("error", r); });
  Promise.all(auds.map(ready)).then(() => {
    const imgs = [...document.images];
    const v = {errors: window.__errs, n_images: imgs.length,
               images_ok: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
               durations: auds.map(a => a.duration)};
    const pre = document.createElement("pre");
    pre.id = "metazoo-verdict";
    pre.textContent = JSON.stringify(v);
    document.body.appendChild(pre);
  });
});
</script>"""


def _chromium(tmp_path, *args):
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chromium-profile'}"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120)


def browser_verdict(page, tmp_path) -> dict:
    """Open a copy of `page` (beside it, so relative links resolve) with an observer script injected first in
    <head>; returns its JSON verdict."""
    probe = page.parent / f"probe-{page.name}"
    probe.write_text(page.read_text().replace("<head>", "<head>" + VERDICT_JS, 1))
    r = _chromium(tmp_path, "--virtual-time-budget=20000", "--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="metazoo-verdict">(.*?)</pre>', r.stdout, re.S)
    assert found, f"no verdict from chromium (rc {r.returncode}): {r.stderr[-2000:]}"
    import html

    return json.loads(html.unescape(found.group(1)))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run with an image model (3 inputs × 2 stages, one failed metamer) and an audio model (2 words × 2 stages),
    plus a recognition result."""
    root = tmp_path_factory.mktemp("report") / "run"
    write_run(root, VISION, passed={("chelsea", "input_after_preproc"): True, ("coffee", "final"): False})
    write_run(root, AUDIO, inputs=("apple", "water"), labels={"apple": "12", "water": "40"})
    run = read_run(root)
    cells = itertools.product((NATURAL, "input_after_preproc", "final"), ("chelsea", "clock", "coffee"),
                              ("efficientnet_lite1", "efficientnet_lite2"))
    trials = [{"generator": VISION, "stage": s, "input": n, "recogniser": r, "label": "cat", "decision": "cat",
               "correct": i % 3 > 0} for i, (s, n, r) in enumerate(cells)]
    table = summarise(trials, run, n_boot=100)
    write_json(root / "recognition" / "recognition.json", Recognition(trials=trials, table=table).to_json())
    plots.recognition_curves(table, root / "recognition" / "recognition.png")
    return root


@pytest.fixture(scope="module")
def page(run_dir):
    """The report of `run_dir` (built once: cochleagrams take about a second each), with its figures folder."""
    path, warnings = build_report(run_dir, run_dir / "report.html", figures=run_dir / "figures")
    assert warnings == []
    return path


def test_page_content(page):
    text = page.read_text()
    # vision grid: 3 inputs × (natural + 2 stages) images, + 3 loss plots, + recognition plot
    assert text.count('<img src="data:image/png;base64,') == 3 * 3
    assert text.count('class="plot loss" src="data:image/png;base64,') == 3 + 2
    assert text.count('class="plot" src="data:image/png;base64,') == 1
    # audio grid: 2 words × (natural + 2 stages) players
    assert text.count('<audio controls preload="auto" src="data:audio/wav;base64,') == 2 * 3
    assert text.count('<img class="coch" src="data:image/png;base64,') == 2 * 3  # cochleagram under each player
    assert text.count('badge pass') == 1 and text.count('badge fail') == 1
    assert text.count('badge na') == 3 * 2 + 2 * 2 - 2
    assert "ρ 0.9 ≥ 0.3" in text and "Recognition by other models" in text
    assert not re.search(r'(src|href)="(https?:)?//', text)  # nothing fetched from the network


def test_corrupt_record_is_listed_and_the_rest_reported(cli, tmp_path):
    root = write_run(tmp_path / "run", VISION, inputs=("chelsea", "clock"))
    (root / VISION / "clock" / "final" / "record.json").write_text('{"schema": "metazoo.metamer/1"}')
    r = cli("report", str(root), "--out", str(tmp_path / "out" / "r.html"))
    assert r.returncode == 2, r.stderr  # the page is written, but not of the whole run (issue 27)
    assert "skipped" in r.stderr and "field 'model' missing" in r.stderr and "1 skipped record" in r.stderr
    text = (tmp_path / "out" / "r.html").read_text()
    assert "Skipped records" in text and text.count('<img src="data:image/png') == 2 * 3 - 1


def test_cli_missing_and_empty_run(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    for target, message in ((tmp_path / "missing", "no such run folder"), (tmp_path / "empty", "no usable")):
        r = cli("report", str(target))
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


@pytest.mark.browser
@needs_chromium
def test_report_in_headless_chromium(page, tmp_path):
    verdict = browser_verdict(page, tmp_path)
    assert verdict["errors"] == []
    assert verdict["n_images"] == 3 * 3 + 2 * 3 + 3 + 2 + 1 and verdict["images_ok"] == verdict["n_images"]
    assert verdict["durations"] == [pytest.approx(CLIP_S, abs=1e-3)] * (2 * 3)
    shot = tmp_path / "report-screenshot.png"
    r = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,1600", "--hide-scrollbars", page.as_uri())
    assert shot.is_file(), r.stderr[-2000:]
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int16)
    assert pixels.shape[:2] == (1600, 1280)
    non_white = (np.abs(pixels - 255).sum(axis=2) > 30).mean()
    assert non_white > 0.05  # text, photos and badges cover part of the page
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 1000  # photographs, not a flat page


@pytest.mark.browser
@needs_chromium
def test_linked_media_page_in_headless_chromium(run_dir, tmp_path):
    """--link-media: images and the float WAVs of the run linked by relative path, still all decoded."""
    page, _ = build_report(run_dir, run_dir / "linked" / "report.html", link_media=True)
    text = page.read_text()
    assert 'src="../efficientnet_lite0/chelsea/original.png"' in text and "data:audio/wav" not in text
    verdict = browser_verdict(page, tmp_path)
    assert verdict["errors"] == [] and verdict["images_ok"] == verdict["n_images"] == 3 * 3 + 2 * 3 + 3 + 2 + 1
    assert verdict["durations"] == [pytest.approx(CLIP_S, abs=1e-3)] * (2 * 3)


@pytest.mark.browser
@needs_chromium
def test_browser_check_catches_a_broken_image(tmp_path):
    """The observer itself: a page with an undecodable image must fail the check."""
    page = tmp_path / "broken.html"
    page.write_text('<!doctype html><html><head><title>x</title></head><body>'
                    '<img src="data:image/png;base64,AAAA"></body></html>')
    verdict = browser_verdict(page, tmp_path)
    assert verdict["n_images"] == 1 and verdict["images_ok"] == 0 and verdict["errors"]


def test_figures_show_the_data(run_dir, tmp_path):
    from PIL import Image

    run = read_run(run_dir)
    fig = plots.draw_metamer_grid(run, VISION)
    axes = np.array(fig.axes).reshape(3, 3)  # inputs (chelsea, clock, coffee) × (natural, 2 stages)
    shown = np.asarray(axes[2][2].images[0].get_array())
    assert np.array_equal(shown, np.asarray(Image.open(run_dir / VISION / "coffee" / "final" / "metamer.png")))
    assert np.array_equal(np.asarray(axes[0][0].images[0].get_array()),
                          np.asarray(Image.open(run_dir / VISION / "chelsea" / "original.png")))
    assert axes[0][1].title.get_color() == "tab:green" and axes[2][2].title.get_color() == "tab:red"

    rec = json.loads((run_dir / "recognition" / "recognition.json").read_text())["table"]
    ax = plots.draw_recognition_curves(rec).axes[0]
    mean = next(c for c in ax.containers if c.get_label() == "mean")
    assert list(mean.lines[0].get_ydata()) == [r["accuracy"] for r in rec if r["recogniser"] == "mean"]

    records = [i.record for i in run.for_model(VISION) if i.input == "clock"]
    ax = plots.draw_loss_curves(records).axes[0]
    assert list(ax.lines[0].get_ydata()) == [p[1] for p in records[0]["loss_curve"]]
    assert [ln.get_xdata()[0] for ln in ax.lines[len(records):]] == [10]  # the edge between 2 blocks of 10 steps

    curves = {"standard": [(1.0, 0.2, 0.01), (0.1, 0.7, 0.02)], "robust": [(0.1, 0.6, 0.02), (1.0, 0.5, 0.02)]}
    ax = plots.draw_robustness_curves(curves, "L2").axes[0]
    first = next(c for c in ax.containers if c.get_label() == "standard")
    assert list(first.lines[0].get_xdata()) == [0.1, 1.0] and list(first.lines[0].get_ydata()) == [0.7, 0.2]
    out = plots.robustness_curves(curves, tmp_path / "robust.png", "L2")
    assert Image.open(out).size == (520, 360)  # 5.2 × 3.6 in at 100 dpi


def test_figures_folder(page):
    names = sorted(p.name for p in (page.parent / "figures").iterdir())
    assert names == sorted([f"{AUDIO}-grid.png", f"{VISION}-grid.png"]
                           + [f"{VISION}-{n}-loss.png" for n in ("chelsea", "clock", "coffee")]
                           + [f"{AUDIO}-{n}-loss.png" for n in ("apple", "water")])
