"""jsPsych comes from the npm registry by exact version and sha512 integrity, into metazoo's cache: from a registry
mirror, from a folder of `npm pack` tarballs, never from a file whose hash differs; offline without a cache it is
one line that says how to get it."""
from __future__ import annotations

import shutil
import socket

import pytest

from metazoo_core.humans import jspsych
import test_humans_server
from npm_registry import packed_tarballs, serve_registry

experiment = test_humans_server.experiment  # an experiment folder (made with jsPsych in the run's cache)


@pytest.fixture()
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("METAZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(jspsych.TARBALLS_ENV, raising=False)
    return tmp_path / "cache"


@pytest.fixture()
def online(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)  # read once, when first imported


def test_the_pinned_integrities_are_those_of_the_packed_tarballs():
    folder = packed_tarballs()
    for pkg in jspsych.PACKAGES:
        assert jspsych.integrity_of(folder / pkg.packed) == pkg.integrity
        assert pkg.url(jspsych.REGISTRY).startswith("https://registry.npmjs.org/")
    assert jspsych.PACKAGES[1].url(jspsych.REGISTRY) == ("https://registry.npmjs.org/@jspsych/plugin-html-button-"
                                                         "response/-/plugin-html-button-response-2.1.0.tgz")


def test_mirror_download_keeps_only_the_browser_builds(empty_cache, online, tmp_path, monkeypatch):
    with serve_registry(packed_tarballs(), tmp_path / "mirror") as url:
        monkeypatch.setenv(jspsych.REGISTRY_ENV, url)
        folder = jspsych.static_dir()
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.served for p in jspsych.PACKAGES)
    assert (folder / "jspsych-8.3.0.min.js").read_bytes().startswith(b"var jsPsychModule")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # later runs: from the cache, offline
    assert jspsych.static_dir() == folder


def test_a_tarball_with_another_hash_is_refused_and_not_kept(empty_cache, online, tmp_path, monkeypatch):
    wrong = tmp_path / "wrong"
    shutil.copytree(packed_tarballs(), wrong)
    main = jspsych.PACKAGES[0]
    shutil.copyfile(wrong / jspsych.PACKAGES[2].packed, wrong / main.packed)  # another package under its name
    with serve_registry(wrong, tmp_path / "mirror") as url:
        monkeypatch.setenv(jspsych.REGISTRY_ENV, url)
        with pytest.raises(jspsych.JsPsychUnavailable, match="is not jspsych@8.3.0.*not kept"):
            jspsych.static_dir()
    assert not [p for p in (empty_cache / "npm").glob("jspsych-8.3.0.tgz*") if p.suffix != ".lock"]
    assert not (empty_cache / "jspsych" / main.served).exists()
    monkeypatch.setenv(jspsych.TARBALLS_ENV, str(wrong))
    with pytest.raises(jspsych.JsPsychUnavailable, match="is not jspsych@8.3.0"):
        jspsych.static_dir()
    assert not [p for p in (empty_cache / "npm").glob("jspsych-8.3.0.tgz*") if p.suffix != ".lock"]


def test_an_unreachable_registry_is_one_line_with_the_ways_out(empty_cache, online, monkeypatch):
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(jspsych.REGISTRY_ENV, f"http://127.0.0.1:{port}")
    with pytest.raises(jspsych.JsPsychUnavailable, match="cannot reach") as e:
        jspsych.static_dir()
    assert "\n" not in str(e.value) and jspsych.TARBALLS_ENV in str(e.value)
    assert not (empty_cache / "jspsych").exists()


def test_a_folder_of_npm_pack_tarballs_works_offline(empty_cache, monkeypatch):
    monkeypatch.setenv(jspsych.TARBALLS_ENV, str(packed_tarballs()))
    folder = jspsych.static_dir()
    assert all((folder / p.served).stat().st_size > 1000 for p in jspsych.PACKAGES)


def test_offline_without_a_cache_is_one_line_naming_the_ways_out(cli, experiment, tmp_path):
    r = cli("experiment", str(experiment), "--export", str(tmp_path / "bundle"),
            env={"METAZOO_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"})
    assert r.returncode != 0 and "Traceback" not in r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert "jsPsych (jspsych@8.3.0) is not in the cache" in line and jspsych.TARBALLS_ENV in line
    assert "npm pack" in line and not any((tmp_path / "bundle").rglob("*"))  # nothing written
