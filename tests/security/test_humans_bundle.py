"""Probes of issue 27, class 1: an `experiment --export` bundle carries exactly the files its page and plans
reference — regular files from inside the experiment folder, never links, the answer key or the response store —
and names with '#', '?', '%' and spaces load in a real browser."""
from __future__ import annotations

import json
import os
import re
import stat
import time
from pathlib import Path

import pytest

import humans_experiment as H
from metazoo_core.errors import InputError
from metazoo_core.humans import design as D
from metazoo_core.humans.export import check_bundle
from metazoo_core.labels import categories16
from probes import assert_one_line, invoke
from test_humans_browser import CHROMIUM, DRIVER, browser, run_session, serve_static  # noqa: F401 (browser: a fixture)

pytestmark = pytest.mark.usefixtures("jspsych_cached")  # the page needs jsPsych in the run's cache

OPTIONS = ("--practice", "2", "--catch", "2")
PRIVATE = ("trials.csv", "responses.sqlite", "session.json", "experiment.json")


@pytest.fixture(scope="module")
def experiment(tmp_path_factory) -> Path:
    return H.write(tmp_path_factory.mktemp("bundle"))


def export(folder: Path, out: Path):
    return invoke("experiment", str(folder), "--export", str(out), *OPTIONS)


def listing(bundle: Path) -> dict[str, int]:
    """Every entry of the bundle → its lstat mode."""
    return {p.relative_to(bundle).as_posix(): os.lstat(p).st_mode for p in bundle.rglob("*")}


def test_bundle_holds_only_referenced_regular_files(experiment, tmp_path):
    folder = H.copy(experiment, tmp_path / "exp")
    private = tmp_path / "private"
    private.mkdir()
    (private / "diary.txt").write_text("not for upload")
    (private / "photo.png").write_bytes((folder / H.rows(folder)[0]["stimulus"]).read_bytes())
    # links and files no trial references
    (folder / "stimuli" / "natural" / "secret.png").symlink_to(private / "photo.png")
    (folder / "stimuli" / "linked").symlink_to(private, target_is_directory=True)
    (folder / "stimuli" / "natural" / "unused.png").write_bytes(b"\x89PNG unused")
    (folder / "notes.txt").write_text("lab notes")
    (folder / "icons").mkdir()
    (folder / "icons" / "extra.svg").write_text("<svg/>")
    # a trial whose stimulus leaves the experiment: refused in one line, nothing written
    good = H.rows(folder)
    H.write_rows(folder, [{**good[0], "stimulus": "stimuli/../../private/photo.png"}, *good[1:]])
    before = H.tree(folder)
    out = tmp_path / "bundle"
    assert_one_line(export(folder, out), "stimuli/../../private/photo.png", "no '..'")
    assert not out.exists() and H.tree(folder) == before

    H.write_rows(folder, good)
    res = export(folder, out)
    assert res.code == 0, res.stderr
    found = listing(out)
    files = sorted(rel for rel, mode in found.items() if not stat.S_ISDIR(mode))
    assert all(stat.S_ISREG(found[f]) for f in files)  # no links, nothing but files and folders
    # expected: the media of every participant's plan and the 16 response icons …
    design = D.load_design(folder, D.Settings(practice=2, catch=2))
    media = {t[k] for n in design.lists for t in D.plan(design, n) for k in ("stimulus", "mask")}
    media |= {f"icons/{c}.svg" for c in categories16()}
    # … the files the page links to, the licence texts next to them, and the four files the export writes
    html = (out / "index.html").read_text()
    linked = set(re.findall(r'(?:src|href)="([^"]+)"', html))
    licences = {f for f in files if Path(f).name.startswith("LICENSE")}
    assert linked and all(u.startswith("static/") for u in linked)  # licences: none since jsPsych's npm tarballs
    # carry none (its package.json names MIT); any that a page library ships beside its files must come along
    assert files == sorted(media | linked | licences | {"index.html", "plans.json", "README.txt", "bundle.json"})
    for name in ("secret", "unused", "linked", "notes", "extra", "diary", *PRIVATE):
        assert not any(name in f for f in files), name
    assert json.loads((out / "bundle.json").read_text())["files"] == files
    assert check_bundle(out) == files


def test_a_referenced_link_or_private_file_is_refused(experiment, tmp_path):
    good = H.rows(experiment)
    cases = {
        "link": "stimuli/natural/link.png",
        "absolute": str(experiment / good[0]["stimulus"]),
        "answer key": "trials.csv",
        "store": "responses.sqlite",
        "dot": "stimuli/./natural/x.png",
        "not under stimuli": "masks/mask_0000.png",
    }
    for what, stimulus in cases.items():
        folder = H.copy(experiment, tmp_path / what.replace(" ", "_"))
        (folder / "responses.sqlite").write_bytes(b"")
        (folder / "stimuli" / "natural" / "link.png").symlink_to(folder / good[0]["stimulus"])
        H.write_rows(folder, [{**good[0], "stimulus": stimulus}, *good[1:]])
        before = H.tree(folder)
        out = tmp_path / f"out_{what}"
        line = assert_one_line(export(folder, out), stimulus[:30])
        assert ("symbolic link" in line) == (what == "link"), line
        assert not out.exists() and H.tree(folder) == before, what


@pytest.mark.parametrize("where", [".", "bundle", "stimuli/bundle"])
def test_export_into_the_experiment_folder_is_refused(experiment, tmp_path, where):
    folder = H.copy(experiment, tmp_path / "exp")
    before = H.tree(folder)
    assert_one_line(export(folder, folder / where), "inside the experiment folder")
    assert H.tree(folder) == before


def test_export_replaces_only_an_earlier_bundle(experiment, tmp_path):
    folder = H.copy(experiment, tmp_path / "exp")
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    assert_one_line(export(folder, other), "other files")
    assert H.tree(other) == {"keep.txt": b"mine"}
    assert_one_line(export(folder, tmp_path), "holds the experiment folder")
    out = tmp_path / "bundle"
    assert export(folder, out).code == 0
    (out / "stale.png").write_bytes(b"left from an earlier upload")
    assert export(folder, out).code == 0
    assert not (out / "stale.png").exists() and check_bundle(out)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bundle.")]  # no staging folder left


def test_the_self_check_finds_extra_files_links_and_missing_references(experiment, tmp_path):
    out = tmp_path / "bundle"
    assert export(H.copy(experiment, tmp_path / "exp"), out).code == 0
    files = check_bundle(out)
    (out / "stimuli" / "extra.png").write_bytes(b"x")
    with pytest.raises(InputError, match="nothing references it"):
        check_bundle(out)
    (out / "stimuli" / "extra.png").unlink()
    stimulus = next(f for f in files if f.startswith("stimuli/"))
    (out / stimulus).unlink()
    (out / stimulus).symlink_to(tmp_path / "exp" / stimulus)
    with pytest.raises(InputError, match="not a regular file"):
        check_bundle(out)
    (out / stimulus).unlink()
    with pytest.raises(InputError, match="missing"):
        check_bundle(out)


@pytest.mark.browser
@pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs Debian chromium and chromium-driver (apt-get install "
                    "chromium chromium-driver)")
def test_names_with_hash_question_percent_and_spaces_load_in_chromium(experiment, tmp_path, browser):  # noqa: F811
    folder = H.copy(experiment, tmp_path / "exp")
    table = H.rows(folder)
    renamed = {}
    for i, old in enumerate(sorted({r["stimulus"] for r in table})):
        path = Path(old)
        new = (path.parent / f"{path.stem} #{i}?v=1 %41 100%{path.suffix}").as_posix()
        (folder / old).rename(folder / new)
        renamed[old] = new
    H.write_rows(folder, [{**r, "stimulus": renamed[r["stimulus"]]} for r in table])
    bundle = tmp_path / "bundle"
    base, posted, stop = serve_static(bundle, slow="mask_0000")
    res = invoke("experiment", str(folder), "--export", str(bundle), "--post-url", f"{base}/collect", *OPTIONS)
    assert res.code == 0, res.stderr
    assert all((bundle / new).is_file() for new in renamed.values())
    try:
        design = D.load_design(folder, D.Settings(practice=2, catch=2))
        from metazoo_core.humans.collect import plan_number

        plan = D.plan(design, plan_number("P9", design.n_lists))
        assert sum("#" in t["stimulus"] for t in plan) >= 8
        url = f"{base}/index.html?PROLIFIC_PID=P9&cc=OK"
        browser.get(url)  # the preload screen (one mask answers late) says what it is doing
        t0 = time.time()
        while "loading…" not in browser.find_element("tag name", "body").text and time.time() - t0 < 10:
            time.sleep(0.05)
        assert "loading…" in browser.find_element("tag name", "body").text
        text = run_session(browser, url, plan)
        loaded = browser.execute_script(
            "return performance.getEntriesByType('resource').map(e => [decodeURIComponent(new URL(e.name)"
            ".pathname), e.responseStatus])")
    finally:
        stop()
    assert "finished" in text and len(posted) == len(plan)
    shown = {p.lstrip("/"): status for p, status in loaded}
    for t in plan:
        assert shown.get(t["stimulus"]) == 200 and shown.get(t["mask"]) == 200, t["stimulus"]
