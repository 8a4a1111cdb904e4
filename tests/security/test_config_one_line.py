"""Issue 27, class 5 (weights): a hand-edited lockfile entry of the wrong type and a METAZOO_HUB_MIRROR that is not
an organisation name are one line and a nonzero exit, and the lockfile is left as the user wrote it."""
from __future__ import annotations

import json

import pytest
from probes import assert_one_line, invoke

SHA = "0" * 64


@pytest.mark.parametrize("entry, needle", [
    ([1, 2], "entry 'efficientnet_lite0' is a list"),
    ("sha", "entry 'efficientnet_lite0' is a str"),
    ({"pkg://x:y": "abc"}, "entry 'efficientnet_lite0' / pkg://x:y is not"),
    ({"pkg://x:y": {"sha256": 5, "size": 1}}, "is not {\"sha256\": 64 hex digits"),
    ({"pkg://x:y": {"sha256": SHA, "size": "12"}}, "is not {\"sha256\": 64 hex digits"),
    ({"pkg://x:y": {"sha256": SHA, "size": True}}, "is not {\"sha256\": 64 hex digits"),
    ({"pkg://x:y": {"sha256": SHA.upper()[:-1] + "G", "size": 1}}, "is not {\"sha256\": 64 hex digits"),
])
def test_hand_edited_lockfile_entries_are_one_line(tmp_path, entry, needle):
    cache = tmp_path / "cache"
    cache.mkdir()
    lock = cache / "weights.lock.json"
    text = json.dumps({"efficientnet_lite0": entry})
    lock.write_text(text)
    r = invoke("fetch", "efficientnet_lite0", env={"METAZOO_CACHE": str(cache)})
    assert_one_line(r, str(lock), needle, "delete that entry")
    assert lock.read_text() == text
    info = invoke("info", "efficientnet_lite0", "--json", env={"METAZOO_CACHE": str(cache)})
    assert info.code == 0 and json.loads(info.stdout)["weights"]["lock"] == {}


@pytest.mark.parametrize("org", ["bad org!", "a/b/c", "..", "-lab", "lab--x", "x" * 97])
def test_a_mirror_that_is_not_an_organisation_is_one_line(tmp_path, org):
    env = {"METAZOO_CACHE": str(tmp_path / "cache"), "METAZOO_HUB_MIRROR": org}
    assert_one_line(invoke("fetch", "efficientnet_lite0", env=env), "METAZOO_HUB_MIRROR", repr(org.strip("/")),
                    "unset it")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.pth"))
