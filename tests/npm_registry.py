"""The real jsPsych npm tarballs, served from a loopback npm-registry mirror to fill metazoo's jsPsych cache.

The tarballs are the `npm pack` outputs of metazoo_core.humans.jspsych.PACKAGES, kept in
`$METAZOO_TEST_NPM_TARBALLS` (default ~/.cache/metazoo-test-npm). When one is missing, `npm pack NAME@VERSION` fills
the folder once (CI: the npm registry is reachable; elsewhere put the tarballs there by hand). Each is checked
against the registry's integrity before use. The mirror has the public registry's layout (`/NAME/-/FILE.tgz`) on
127.0.0.1; the metazoo commands the tests start afterwards find jsPsych in the cache and run with HF_HUB_OFFLINE=1.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import threading
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from metazoo_core.humans import jspsych

TARBALLS = Path(os.environ.get("METAZOO_TEST_NPM_TARBALLS") or Path.home() / ".cache" / "metazoo-test-npm")


def packed_tarballs() -> Path:
    """The folder with every package's `npm pack` tarball (packing the missing ones); skips the test without them."""
    TARBALLS.mkdir(parents=True, exist_ok=True)
    for pkg in jspsych.PACKAGES:
        if (TARBALLS / pkg.packed).is_file():
            continue
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip(f"needs the npm tarball {pkg.packed} in {TARBALLS} (or npm to pack it)")
        res = subprocess.run([npm, "pack", f"{pkg.name}@{pkg.version}", "--pack-destination", str(TARBALLS)],
                             capture_output=True, text=True, timeout=300)
        if res.returncode != 0:
            pytest.skip(f"`npm pack {pkg.name}@{pkg.version}` failed ({res.stderr.strip()[-200:]}); put "
                        f"{pkg.packed} into {TARBALLS}")
    for pkg in jspsych.PACKAGES:
        assert jspsych.integrity_of(TARBALLS / pkg.packed) == pkg.integrity, pkg
    return TARBALLS


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@contextmanager
def serve_registry(tarballs: Path, root: Path) -> Iterator[str]:
    """Lay the tarballs out under `root` like registry.npmjs.org and serve it on 127.0.0.1; yields the base URL."""
    for pkg in jspsych.PACKAGES:
        dest = root / pkg.name / "-" / pkg.tarball
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tarballs / pkg.packed, dest)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def jspsych_cached(fresh_cache) -> Path:
    """jsPsych fetched into this run's metazoo cache from the loopback mirror, through metazoo's own download path
    (integrity-checked, extracted); returns the served folder."""
    tarballs = packed_tarballs()
    with pytest.MonkeyPatch.context() as mp, serve_registry(tarballs, fresh_cache / "npm-mirror") as url:
        mp.setenv("HF_HUB_OFFLINE", "0")
        mp.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)  # read once, when first imported
        mp.setenv(jspsych.REGISTRY_ENV, url)
        folder = jspsych.static_dir()
    assert sorted(p.name for p in folder.iterdir()) == sorted(pkg.served for pkg in jspsych.PACKAGES)
    return folder
