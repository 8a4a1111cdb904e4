"""A real browser (Debian's headless chromium driven by Selenium through Debian's chromedriver) completes whole
sessions on `metazoo experiment … --serve`: an image session (practice, main and catch trials) and a sound session
(headphone check, practice, main and catch trials). Every trial lands in SQLite with the measured durations, and
screenshots of the fixation, stimulus, mask and response screens are checked against what they should show."""
from __future__ import annotations

import io
import shutil
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from metazoo_core.humans import design as D
from test_humans_server import Server

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = [pytest.mark.browser, pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="needs Debian chromium and chromium-driver (apt-get install chromium "
    "chromium-driver; CI installs them)")]

HALF_FRAME_MS = 8.0  # static/experiment.js: a screen is switched at the first frame ≥ its duration − this
TIMESTAMP_MS = 0.2  # Chromium coarsens performance.now() / rAF timestamps to 100 µs (with jitter) without isolation


@pytest.fixture(scope="module")
def experiments(tmp_path_factory, jspsych_cached) -> dict[str, Path]:
    from metazoo_core.analysis.runs import read_run
    from metazoo_core.experiment import write_experiment
    from test_recognition import AUDIO, VISION, write_run

    root = tmp_path_factory.mktemp("browser")
    write_run(root / "vrun", VISION, labels={"chelsea": "cat", "coffee": "bottle", "clock": "clock"})
    write_experiment(read_run(root / "vrun"), root / "vision", total=12, seed=0, participants=1)
    write_run(root / "arun", AUDIO, inputs=("family", "water"), labels={"family": "family", "water": "water"})
    write_experiment(read_run(root / "arun"), root / "audio", total=2, seed=0, participants=1)
    return {"vision": root / "vision", "audio": root / "audio"}


@pytest.fixture()
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1000,900", "--force-device-scale-factor=1",
                "--autoplay-policy=no-user-gesture-required", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


def wait_for(condition, timeout: float, what: str, poll: float = 0.02):
    """Poll `condition()` until it returns a truthy value (returned) or `timeout` seconds pass (AssertionError
    naming `what`). Tests wait on states, never on a fixed time."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        time.sleep(poll)


def click(driver, selector: str) -> bool:
    """Click the first element matching `selector` if the page shows one now; False when it does not (not drawn
    yet, or replaced between finding and clicking): the caller polls again."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, selector)
    if not found:
        return False
    try:
        found[0].click()
    except StaleElementReferenceException:
        return False
    return True


START = "#jspsych-html-button-response-btngroup button"  # the instructions' (jsPsych's) start button


def state(driver) -> tuple[str, int | None]:
    phase, trial = driver.execute_script("return [document.body.dataset.phase, document.body.dataset.trial]")
    return phase, (int(trial) if trial not in (None, "") else None)


def run_session(driver, url: str, plan: list[dict], wrong: set[int] = frozenset(), timeout: float = 120,
                on_phase=None) -> str:
    """Click/type through the whole session, answering each trial's answer (another one for `wrong` trials)."""
    from selenium.webdriver.common.by import By

    driver.get(url)
    t0, seen = time.time(), set()
    while time.time() - t0 < timeout:
        phase, trial = state(driver)
        if on_phase and (phase, trial) not in seen:
            seen.add((phase, trial))
            on_phase(phase, trial)
        if phase == "instructions":
            click(driver, START)
        elif phase == "response" and (trial, "answered") not in seen:
            t = plan[trial]
            response = t["answer"] if trial not in wrong else ("knife" if t["answer"] != "knife" else "oven")
            words = driver.find_elements(By.CSS_SELECTOR, "input.mz-word")
            if words:
                words[0].send_keys(response)
                answered = click(driver, "form button[type=submit]")
            else:
                answered = click(driver, f'button.mz-choice[data-choice="{response}"]')
            if answered:
                seen.add((trial, "answered"))
        elif phase in ("done", "error"):
            return driver.find_element(By.TAG_NAME, "body").text
        time.sleep(0.02)
    raise AssertionError(f"session did not finish in {timeout} s (last phase {state(driver)})")


def stored(folder: Path) -> list[dict]:
    with sqlite3.connect(folder / "responses.sqlite") as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM trials ORDER BY trial")]


def test_image_session_in_chromium(experiments, browser, tmp_path):
    folder = tmp_path / "vision"
    shutil.copytree(experiments["vision"], folder)
    plan = D.plan(D.load_design(folder, D.Settings(practice=4, catch=4)), 1)
    assert len(plan) >= 20
    server = Server(folder, "--practice", "4", "--catch", "4")
    try:
        text = run_session(browser, server.links["P001"], plan, wrong={5})
    finally:
        server.stop()
    assert "finished" in text
    rows = stored(folder)
    assert [r["trial"] for r in rows] == list(range(len(plan)))
    assert sum(r["practice"] for r in rows) == 4 and sum(r["catch"] for r in rows) == 4
    assert [r["correct"] for r in rows] == [int(i != 5) for i in range(len(plan))]
    for r in rows:
        assert r["condition"] and r["stimulus"] and r["mask"] and r["rt_ms"] > 0
        requested = D.json.loads(r["requested"])
        timing = D.json.loads(r["timing"])
        assert "requestAnimationFrame" in timing["method"]
        # a screen switches at the first frame ≥ requested − HALF_FRAME_MS after it appeared, so it lasts from that
        # to that plus the longest frame interval the page saw (16.7 ms at 60 Hz; longer when a loaded machine drops
        # frames), ± TIMESTAMP_MS for Chromium's coarsened timestamps
        frame = timing["longest_frame_ms"]
        assert 0 < frame < 1000
        for key in ("fixation", "stimulus", "mask"):
            low = requested[key] - HALF_FRAME_MS - TIMESTAMP_MS
            assert low <= r[f"{key}_ms"] <= low + frame + 2 * TIMESTAMP_MS, (r["trial"], key, r[f"{key}_ms"], frame)
    assert D.json.loads(rows[0]["requested"]) == {"fixation": 500, "stimulus": 400, "mask": 400}  # slow practice
    assert D.json.loads(rows[-1]["requested"]) == {"fixation": 300, "stimulus": 200, "mask": 200}  # SI defaults


def _png(driver) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB"), dtype=float)


def _rect(driver, selector: str) -> tuple[int, int, int, int]:
    r = driver.execute_script(f"const r = document.querySelector('{selector}').getBoundingClientRect();"
                              "return [r.left, r.top, r.width, r.height];")
    return tuple(int(round(v)) for v in r)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_screens_show_what_they_claim(experiments, browser, tmp_path):
    """Long durations (1.5 s) so a screenshot fits inside each screen; trial 0 is a practice trial (a natural
    image, smooth enough that a one-pixel offset of the screenshot does not matter)."""
    from PIL import Image

    folder = tmp_path / "vision"
    shutil.copytree(experiments["vision"], folder)
    plan = D.plan(D.load_design(folder, D.Settings(practice=1, catch=1)), 1)
    assert plan[0]["kind"] == "practice" and plan[0]["stimulus"].startswith("stimuli/natural/")
    server = Server(folder, "--practice", "1", "--catch", "1", "--fixation-ms", "1500", "--stimulus-ms", "1500",
                    "--mask-ms", "1500")
    shots: dict[str, np.ndarray] = {}
    rects: dict[str, tuple] = {}

    def grab(phase: str, trial: int | None) -> None:
        if trial == 0 and phase in ("fixation", "stimulus", "mask", "response") and phase not in shots:
            shots[phase] = _png(browser)
            sel = {"response": ".mz-grid", "fixation": ".mz-box"}.get(phase, ".mz-box img")
            rects[phase] = _rect(browser, sel)
            if phase == "response":
                rects["buttons"] = browser.execute_script(
                    "return [...document.querySelectorAll('button.mz-choice')].map(b => {"
                    "const r = b.getBoundingClientRect(); return [r.left, r.top, r.width, r.height];})")
            cursor = browser.execute_script("return getComputedStyle(document.body).cursor")
            assert (cursor == "none") == (phase != "response"), (phase, cursor)

    try:
        browser.get(server.links["P001"])

        t0 = time.time()
        while "response" not in shots and time.time() - t0 < 60:
            phase, trial = state(browser)
            if phase == "instructions":
                click(browser, START)
            grab(phase, trial)
            time.sleep(0.02)
    finally:
        server.stop()
    assert set(shots) == {"fixation", "stimulus", "mask", "response"}
    size = 224

    def crop(phase: str, dx: int = 0, dy: int = 0) -> np.ndarray:
        x, y, w, h = rects[phase]
        assert (w, h) == (size, size)
        return shots[phase][y + dy:y + dy + h, x + dx:x + dx + w]

    def match(phase: str, reference: np.ndarray) -> float:
        """Best correlation over screenshot offsets of up to 2 px (layout rounding)."""
        return max(_corr(crop(phase, dx, dy), reference) for dx in range(-2, 3) for dy in range(-2, 3))

    stim = np.asarray(Image.open(folder / plan[0]["stimulus"]).convert("RGB").resize((size, size)), dtype=float)
    mask = np.asarray(Image.open(folder / plan[0]["mask"]).convert("RGB").resize((size, size)), dtype=float)
    assert match("stimulus", stim) > 0.95 and match("stimulus", mask) < 0.5
    assert match("mask", mask) > 0.95 and match("mask", stim) < 0.5
    fix = crop("fixation").mean(axis=2)
    grey = np.abs(fix - 128) < 3
    assert grey.mean() > 0.9  # a grey field …
    centre = fix[size // 2 - 20:size // 2 + 20, size // 2 - 20:size // 2 + 20]
    assert (centre < 60).sum() > 30  # … with a dark cross in the middle
    assert (fix[:40] < 60).sum() == 0
    buttons = rects["buttons"]
    assert len(buttons) == 16
    xs, ys = sorted({round(b[0]) for b in buttons}), sorted({round(b[1]) for b in buttons})
    assert len(xs) == 4 and len(ys) == 4  # a 4 × 4 grid
    cells = []
    for x, y, w, h in buttons:
        cell = shots["response"][int(y) + 4:int(y + h) - 4, int(x) + 4:int(x + w) - 4].mean(axis=2)
        assert (cell > 240).mean() > 0.4 and (cell < 100).sum() > 150  # white card with a dark glyph
        cells.append(cell)
    assert len({c.tobytes() for c in cells}) == 16  # sixteen different icons


def test_sound_session_with_headphone_check_in_chromium(experiments, browser, tmp_path):
    folder = tmp_path / "audio"
    shutil.copytree(experiments["audio"], folder)
    plan = D.plan(D.load_design(folder, D.Settings(practice=1, catch=1)), 1)
    assert [t["kind"] for t in plan] == ["headphone"] * 6 + ["practice"] + ["main"] * 2 + ["catch"]
    server = Server(folder, "--practice", "1", "--catch", "1")
    try:
        text = run_session(browser, server.links["P001"], plan, timeout=150)
    finally:
        server.stop()
    assert "finished" in text
    rows = stored(folder)
    assert [r["trial"] for r in rows] == list(range(len(plan)))
    assert all(r["correct"] == 1 for r in rows)
    assert [r["response"] for r in rows[6:]] == [t["answer"] for t in plan[6:]]  # typed words
    for r in rows:
        timing = D.json.loads(r["timing"])
        assert timing["played"] == "ended" and "audio element" in timing["method"]
        requested = D.json.loads(r["requested"])["stimulus"]
        assert abs(r["stimulus_ms"] - requested) < 250, (r["trial"], r["stimulus_ms"], requested)


def test_server_killed_mid_session_the_page_waits_and_continues(experiments, browser, tmp_path):
    """SIGKILL while the participant answers trial 4; the page keeps retrying that trial's POST; the server is
    started again on the same port; the session continues at trial 5 and every trial is stored exactly once.
    Then a reload of the link resumes at the next unanswered trial."""
    import socket


    folder = tmp_path / "vision"
    shutil.copytree(experiments["vision"], folder)
    plan = D.plan(D.load_design(folder, D.Settings(practice=0, catch=2)), 1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    options = ("--practice", "0", "--catch", "2", "--port", port)

    def answer(trial: int) -> None:
        """Click trial `trial`'s right answer; wait until the page has left that trial's response screen."""
        wait_for(lambda: click(browser, f'button.mz-choice[data-choice="{plan[trial]["answer"]}"]'), 30,
                 f"the answer buttons of trial {trial}")
        wait_for(lambda: state(browser) != ("response", trial), 30, f"the page to take the answer to trial {trial}")

    def answer_until(stop: tuple[str, int]) -> None:
        """Answer every response screen (clicking through instructions) until the page shows `stop`, unanswered."""
        def step() -> bool:
            now = state(browser)  # one reading per step: the page may move on between two readings
            if now == stop:
                return True
            if now[0] == "instructions":
                click(browser, START)
            elif now[0] == "response":
                answer(now[1])
            return False
        wait_for(step, 90, f"the page to show {stop}")

    server = Server(folder, *options)
    link = server.links["P001"]
    browser.get(link)
    answer_until(("response", 4))
    server.kill()
    wait_for(lambda: click(browser, f'button.mz-choice[data-choice="{plan[4]["answer"]}"]'), 30,
             "the answer buttons of trial 4")
    # the page waits for the server to confirm trial 4: it stays on "saving" through failed POSTs and retries
    wait_for(lambda: state(browser) == ("saving", 4), 30, "the page to save trial 4")
    wait_for(lambda: int(browser.execute_script("return document.body.dataset.posts || 0")) >= 3, 30,
             "two failed POSTs of trial 4 and a third try")
    assert state(browser) == ("saving", 4)
    assert [r["trial"] for r in stored(folder)] == [0, 1, 2, 3]
    server = Server(folder, *options)
    try:
        # continues at the next trial without a reload once a retry reaches the new server (backoff ≤ 5 s)
        wait_for(lambda: state(browser)[1] == 5, 60, "the page to move on to trial 5")
        assert [r["trial"] for r in stored(folder)] == [0, 1, 2, 3, 4]
        answer_until(("response", 6))
        text = run_session(browser, link, plan)  # reload: "Welcome back", resumes at trial 6
    finally:
        server.stop()
    assert "finished" in text
    rows = stored(folder)
    assert [r["trial"] for r in rows] == list(range(len(plan))) and all(r["correct"] == 1 for r in rows)


def serve_static(folder: Path, slow: str = ""):
    """A loopback static web server for `folder` that records POSTed bodies and answers requests whose path
    contains `slow` (if given) 1.5 s late; returns (base URL, posts, stop)."""
    import functools
    import http.server
    import threading

    posted: list[bytes] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            if slow and slow in self.path:
                time.sleep(1.5)
            super().do_GET()

        def do_POST(self):  # noqa: N802 (http.server's naming)
            posted.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_address[1]}", posted, httpd.shutdown


def test_exported_bundle_runs_posts_and_collects(experiments, browser, tmp_path):
    """The static bundle on a loopback web server: id and completion code from the URL, every trial POSTed to
    --post-url, the download link at the end; the posted records go back through `humans collect --responses`."""
    import json
    import subprocess
    import sys

    from metazoo_core.humans.collect import collect, plan_number

    folder = tmp_path / "vision"
    shutil.copytree(experiments["vision"], folder)
    bundle = tmp_path / "bundle"
    base, posted, stop = serve_static(bundle)
    res = subprocess.run([sys.executable, "-m", "metazoo_cli.app", "experiment", str(folder), "--export", str(bundle),
                          "--post-url", f"{base}/collect", "--practice", "2", "--catch", "2"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    try:
        design = D.load_design(folder, D.Settings(practice=2, catch=2))
        pid = "PROLIFIC_42"
        plan = D.plan(design, plan_number(pid, design.n_lists))
        text = run_session(browser, f"{base}/index.html?PROLIFIC_PID={pid}&cc=C0DE", plan)
        link = browser.find_element("id", "mz-download").get_attribute("download")
    finally:
        stop()
    assert "finished" in text and "Completion code: C0DE" in text and link == f"responses_{pid}.json"
    records = [json.loads(b) for b in posted]
    assert [r["trial"] for r in records] == list(range(len(plan))) and {r["participant"] for r in records} == {pid}
    lines = tmp_path / "posted.jsonl"
    lines.write_text("\n".join(b.decode() for b in posted))
    result = collect(folder, files=[lines])
    (person,) = result["participants"]
    assert person["participant"] == pid and person["included"] and person["trials"] == len(plan)
