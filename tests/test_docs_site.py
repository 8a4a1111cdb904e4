"""Issue 29, must-show 3: `mkdocs build --strict` builds the site (0 warnings), and headless Chromium opens every
page over a loopback HTTP server: every page loads, every image and audio element loads, the console shows no
error, and search finds pages."""
from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("mkdocs", reason="needs the docs tools: make docs-deps")
pytest.importorskip("nbclient", reason="needs the docs tools: make docs-deps")

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="needs Debian chromium and chromium-driver (apt-get install chromium "
    "chromium-driver; CI installs them)")]

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site built as `make docs` builds it (tutorials executed where their source changed)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, str(REPO / "scripts" / "execute_tutorials.py")], check=True, cwd=REPO,
                   timeout=1800)
    build = subprocess.run([str(Path(sys.executable).parent / "mkdocs"), "build", "--strict", "-d", str(target)],
                           cwd=REPO, capture_output=True, text=True, env={"NO_MKDOCS_2_WARNING": "1",
                                                                          **__import__("os").environ})
    assert build.returncode == 0, build.stderr[-3000:]
    assert "WARNING" not in build.stderr
    return target


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,900",
                f"--user-data-dir={tmp_path_factory.mktemp('profile')}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


MEDIA_STATE = """
const imgs = [...document.images].map(i => [i.currentSrc.slice(0, 60), i.complete && i.naturalWidth > 0]);
const audio = [...document.querySelectorAll('audio')].map(a => [a.currentSrc.slice(0, 40), a.readyState,
                                                                 a.error ? a.error.code : null]);
return [imgs, audio];
"""


def _wait_for_media(driver, timeout: float = 30):
    """[(src, loaded)] for images and [(src, readyState, error)] for audio, once every element has settled."""
    deadline = time.time() + timeout
    while True:
        imgs, audio = driver.execute_script(MEDIA_STATE)
        settled = all(ok for _, ok in imgs) and all(state >= 1 or err for _, state, err in audio)
        if settled or time.time() > deadline:
            return imgs, audio
        time.sleep(0.2)


def test_every_page_image_and_audio_loads_without_console_errors(site, server, browser):
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html") if p.name != "404.html")
    assert len(pages) >= 15 and "tutorials/02_sounds.html" in pages and "api.html" in pages
    counts = {"images": 0, "audio": 0}
    for page in pages:
        browser.get(f"{server}/{page}")
        assert browser.execute_script("return document.readyState") == "complete"
        assert browser.title and "404" not in browser.title, page
        imgs, audio = _wait_for_media(browser)
        assert all(ok for _, ok in imgs), f"{page}: images not loaded: {[s for s, ok in imgs if not ok]}"
        assert all(state >= 1 and err is None for _, state, err in audio), f"{page}: audio not loaded: {audio}"
        counts["images"] += len(imgs)
        counts["audio"] += len(audio)
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, f"{page}: console errors: {errors}"
    print(f"{len(pages)} pages, {counts['images']} images and {counts['audio']} audio players loaded")
    assert counts["audio"] >= 7 and counts["images"] >= 30


def test_search_finds_pages(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{server}/index.html")
    box = WebDriverWait(browser, 30).until(EC.element_to_be_clickable((By.CSS_SELECTOR, "input.md-search__input")))
    box.click()
    box.send_keys("cochleagram")
    results = WebDriverWait(browser, 30).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, ".md-search-result__item") or None)
    links = [r.find_element(By.TAG_NAME, "a").get_attribute("href") for r in results]
    assert any("02_sounds" in link for link in links), links
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
