"""Every file `git ls-files` lists is this project's own work: no vendored or minified third-party code, no license
headers of other projects in code, no markers of code copied in. Third-party code is a dependency (PyPI, npm by
version and hash: metazoo_core/humans/jspsych.py) or recorded reference numbers (tests/fixtures/README.md).

Data published by the study (its per-participant human data and its license, metazoo_core/humans/study_data/)
is data, not code, and stays with its notice."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath

import pytest

REPO = Path(__file__).resolve().parents[1]
STUDY_DATA = "metazoo_core/humans/study_data/"  # the study's released data files, MIT, with NOTICE.md
CODE = {".py", ".js", ".mjs", ".ts", ".css", ".html", ".sh", ".c", ".cc", ".cpp", ".h", ".pyx"}
VENDOR_PARTS = {"vendor", "vendored", "third_party", "thirdparty", "third-party", "node_modules", "bower_components",
                "site-packages", "_vendor"}
NOTICE_NAMES = re.compile(r"^(vendor|license|licence|copying|notice|authors)([._-].*)?$", re.IGNORECASE)
MINIFIED_NAME = re.compile(r"[.-]min\.(js|css|mjs)$|\.bundle\.js$|\.js\.map$", re.IGNORECASE)
LICENSE_TEXT = re.compile(r"Permission is hereby granted|Licensed under the Apache License|SPDX-License-Identifier|"
                          r"Copyright \(c\)|Copyright ©|GNU (Lesser |Affero )?General Public License|@license\b|"
                          r"^\s*/\*!", re.IGNORECASE | re.MULTILINE)
COPY_MARKER = re.compile(r"\bverbatim\b|\bcopied (from|verbatim)\b|\bvendored\b", re.IGNORECASE)
MAX_LINE = {"code": 300, "text": 1000}  # minified code is one line of many kilobytes; ruff keeps ours ≤ 120


def tracked() -> list[str]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs a git checkout (the test reads `git ls-files`)")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    return [p for p in out.decode().split("\0") if p and (REPO / p).is_file()]


def text_of(path: str) -> str | None:
    data = (REPO / path).read_bytes()
    if b"\0" in data[:8192]:
        return None  # binary (arrays, images, sounds)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def is_code(path: str) -> bool:
    return PurePosixPath(path).suffix.lower() in CODE or path.startswith(".ci/")


def problems(path: str, text: str | None) -> list[str]:
    """What makes `path` look third-party: a vendor folder, a notice file, a minified name or body, a foreign
    license header or a copy marker in code."""
    found = []
    parts = PurePosixPath(path).parts
    if VENDOR_PARTS & {p.lower() for p in parts[:-1]}:
        found.append("inside a vendored-code folder")
    if NOTICE_NAMES.match(parts[-1]) and not path.startswith(STUDY_DATA):
        found.append("a vendor/license/notice file")
    if MINIFIED_NAME.search(parts[-1]):
        found.append("a minified or bundled file name")
    if text is None:
        return found
    limit = MAX_LINE["code" if is_code(path) else "text"]
    long = [n for n, line in enumerate(text.splitlines(), 1) if len(line) > limit]
    if long:
        found.append(f"line {long[0]} is longer than {limit} characters (minified?)")
    if is_code(path) and path != "tests/test_no_foreign_code.py":
        if m := LICENSE_TEXT.search(text):
            found.append(f"another project's license text ({m.group(0).strip()!r})")
        if m := COPY_MARKER.search(text):
            found.append(f"a copied-code marker ({m.group(0)!r})")
    return found


def test_the_tree_holds_no_third_party_code():
    bad = {p: why for p in tracked() if (why := problems(p, text_of(p)))}
    assert not bad, "\n".join(f"{p}: {'; '.join(why)}" for p, why in sorted(bad.items()))


@pytest.mark.parametrize("path, text, expected", [
    ("metazoo_core/humans/static/jspsych/jspsych-8.3.0.min.js", "var jsPsychModule=" + "a," * 600, "minified"),
    ("web/vendor/lib.js", "export const x = 1;\n", "vendored-code folder"),
    ("metazoo_core/humans/static/jspsych/VENDOR.md", "# Vendored jsPsych\n", "vendor/license/notice"),
    ("tests/test_x.py", "# ---- verbatim from pkg 1.1.2 ----\ndef ref(x):\n    return x\n", "copied-code marker"),
    ("metazoo_core/x.py", "# Copied from torchvision/ops.py\n", "copied-code marker"),
    ("metazoo_core/x.py", "# Licensed under the Apache License, Version 2.0\n", "license text"),
    ("static/app.js", "/*! lib v1 | (c) someone */\nfunction f(){}\n", "license text"),
    ("docs/big.txt", "x" * 1001, "longer than 1000"),
])
def test_each_rule_catches_what_it_names(path, text, expected):
    """The rules are not vacuous: each flags the kind of file it is for (the removed jsPsych files among them)."""
    assert any(expected in why for why in problems(path, text)), problems(path, text)


def test_own_code_and_the_study_data_pass():
    assert problems("metazoo_core/humans/jspsych.py", (REPO / "metazoo_core/humans/jspsych.py").read_text()) == []
    assert problems(STUDY_DATA + "LICENSE-model_metamers_pytorch.txt", "MIT License\n") == []
