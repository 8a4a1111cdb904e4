"""`metazoo experiment RUN --export DIR`: the session as a static bundle for an online platform (Prolific, MTurk).

The bundle runs the same page and plans as `--serve` (design.py, static/experiment.js). The participant id and
the completion code come from URL parameters (defaults `PROLIFIC_PID` and `cc`; the page falls back to
`participant`); the participant's plan is chosen from plans.json by a hash of the id. Each answered trial is POSTed
as JSON to `--post-url` (if given) and all responses are offered as a download at the end.

A bundle is uploaded to a public host, so it carries exactly what the page and the plans reference (bundle_files):
the page's scripts and style sheet, plans.json, each trial's stimulus and mask, the response icons (images) — all
regular files copied without following links from inside the experiment folder (trial_list.media_file) — plus
index.html, README.txt, bundle.json (the file list) and the licence texts of the page's libraries. The answer key
(trials.csv), the session settings and the response store are never referenced, so never copied. The bundle is
built beside DIR, checked by check_bundle, and only then put in DIR's place; DIR must be absent, empty or an earlier
bundle, and neither inside the experiment folder nor holding it. Plans hold plain file paths; the page
percent-encodes each path segment when it builds a URL, so names with `#`, `?`, `%` or spaces load.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import stat
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..fileio import check_writable, write_json, write_text
from . import design as D
from . import jspsych
from .server import MEDIA, check_session_file, page, prepare_media
from .trial_list import media_file

SCHEMA = "metazoo.bundle/1"
MANIFEST = "bundle.json"
OWN_FILES = ("index.html", "plans.json", "README.txt", MANIFEST)
"""Files the export writes itself (everything else is copied)."""

NOTICE = re.compile(r"^(LICEN[CS]E|NOTICE|COPYING)", re.I)
"""Licence texts shipped beside the page's libraries (their licences ask for it), though no page loads them."""


def static_files(scripts: Path) -> dict[str, Path]:
    """The page's static files: URL path below `static/` → the file metazoo ships, and `jspsych/NAME` → the jsPsych
    build in `scripts` (the cache folder `jspsych.static_dir()` returns)."""
    base = Path(str(resources.files("metazoo_core.humans").joinpath("static")))
    files = {p.relative_to(base).as_posix(): p for p in sorted(base.rglob("*")) if p.is_file()}
    return files | {f"jspsych/{p.name}": p for p in sorted(scripts.iterdir()) if p.is_file()}


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.config = ""
        self._in_config = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.links += [attrs[k] for k in ("src", "href") if attrs.get(k)]
        self._in_config = attrs.get("id") == "metazoo-config"

    def handle_data(self, data):
        if self._in_config:
            self.config += data

    def handle_endtag(self, tag):
        self._in_config = False


def references(html: str, plans: list[list[dict[str, Any]]]) -> tuple[set[str], set[str]]:
    """(files the page loads from the bundle's static/, media files): the page's src/href links, plans.json, every
    trial's stimulus and mask and, for images, the icon of every response (as static/experiment.js loads them)."""
    parser = _Links()
    parser.feed(html)
    config = json.loads(parser.config)
    outside = [u for u in parser.links if not u.startswith("static/")]
    if outside:
        raise InputError(f"the page links to {outside[0]}, outside the bundle's static/ folder")
    media = {"plans.json"} | {t[k] for plan in plans for t in plan for k in ("stimulus", "mask") if t.get(k)}
    if config["modality"] == "vision":
        media |= {f"icons/{c}.svg" for c in config["responses"]}
    return set(parser.links), media


def export_bundle(folder: Path | str, out: Path | str, settings: D.Settings, post_url: str = "",
                  participant_param: str = "PROLIFIC_PID", code_param: str = "cc") -> Path:
    """Write the bundle (see the module doc) to `out`; returns its index.html path."""
    design = D.load_design(folder, settings)
    out = Path(out)
    _check_target(design.root, out)
    check_writable(out.parent)
    check_session_file(design.root)
    scripts = jspsych.static_dir()  # fetched, or one line, before anything is written
    D.save_settings(design, keep_existing=(design.root / "responses.sqlite").is_file())
    prepare_media(design)
    plans = [D.browser_plan(D.plan(design, n)) for n in sorted(design.lists)]
    config = {"mode": "export", "post_url": post_url, "media": "", "static": "static/",
              "participant_param": participant_param, "code_param": code_param, "completion_code": "",
              **D.public_settings(design)}
    html = page(config)
    linked, media = references(html, plans)
    static = static_files(scripts)
    absent = sorted(rel for rel in linked if rel.removeprefix("static/") not in static)
    if absent:
        raise InputError(f"the page's file {absent[0]} is not installed; reinstall metazoo (`pip install -e .`)")
    sources = {rel: media_file(design.root, rel, "media file") for rel in media - {"plans.json"}}
    sources |= {rel: static[rel.removeprefix("static/")] for rel in linked}
    notices = sorted(f"static/{rel}" for rel in static if NOTICE.match(Path(rel).name)
                     and any(s.parent == static[rel].parent for s in sources.values()))
    sources |= {rel: static[rel.removeprefix("static/")] for rel in notices}
    staging = out.parent / f".{out.name}.export-{secrets.token_hex(4)}"
    try:
        for rel, src in sorted(sources.items()):
            _copy_regular(src, staging / rel)
        write_json(staging / "plans.json", plans)
        write_text(staging / "index.html", html)
        write_text(staging / "README.txt", "Upload this folder as a static site; open index.html?"
                   f"{participant_param}=ID&{code_param}=CODE. Responses: POSTed to {post_url or '(no URL set)'} "
                   "and downloadable at the end; read them back with `metazoo humans collect`.\n"
                   f"Settings: {json.dumps(D.public_settings(design) | {'responses': len(design.responses)})}\n")
        write_json(staging / MANIFEST, {"schema": SCHEMA, "notices": notices,
                                        "files": sorted([*sources, *OWN_FILES])})
        check_bundle(staging)
        _replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out / "index.html"


def check_bundle(bundle: Path) -> list[str]:
    """The bundle's self-check: every file is a regular file (no links, no other kinds), every reference of
    index.html and plans.json resolves to one, and nothing else is there but OWN_FILES and the listed licence
    texts. Returns the files (sorted, POSIX paths); one line (InputError) naming the first problem."""
    found = []
    for top, dirs, files in os.walk(bundle):
        for name in dirs + files:
            path = Path(top) / name
            mode = os.lstat(path).st_mode
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                raise InputError(f"bundle check: {path} is not a regular file or folder")
            if stat.S_ISREG(mode):
                found.append(path.relative_to(bundle).as_posix())
    plans = json.loads((bundle / "plans.json").read_text())
    linked, media = references((bundle / "index.html").read_text(), plans)
    bad = sorted(rel for rel in media if rel.split("/")[0] not in (*MEDIA, "plans.json"))
    if bad:
        raise InputError(f"bundle check: plans.json references {bad[0]}, outside the media folders")
    for rel in sorted(linked | media):
        media_file(bundle, rel, "bundle check: referenced file")
    manifest = json.loads((bundle / MANIFEST).read_text())
    extra = sorted(set(found) - linked - media - set(OWN_FILES) - set(manifest["notices"]))
    if extra:
        raise InputError(f"bundle check: {extra[0]} is in the bundle but nothing references it")
    if sorted(found) != manifest["files"]:
        raise InputError(f"bundle check: the files differ from {MANIFEST}'s list")
    return sorted(found)


def _check_target(root: Path, out: Path) -> None:
    """`out` may be replaced by a bundle: not inside the experiment nor holding it, absent, empty or a bundle."""
    inside, target = root.resolve(), out.resolve()
    if target == inside or inside in target.parents:
        raise InputError(f"--export {out} is inside the experiment folder {root}, which holds the answer key and "
                         "the responses; export to a folder outside it")
    if target in inside.parents:
        raise InputError(f"--export {out} holds the experiment folder {root}; export to a new folder")
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise InputError(f"--export {out} exists and is not a folder; give a new folder name")
    if out.is_dir() and any(out.iterdir()) and not _is_bundle(out):
        raise InputError(f"--export {out} is a folder with other files; give a new or empty folder (an earlier "
                         "bundle there is replaced)")


def _is_bundle(folder: Path) -> bool:
    try:
        return json.loads((folder / MANIFEST).read_text()).get("schema") == SCHEMA
    except (OSError, ValueError, AttributeError):
        return False


def _copy_regular(src: Path, dst: Path) -> None:
    """Copy a regular file without following a link at its last component (media_file checked the others)."""
    fd = os.open(src, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise InputError(f"{src} is not a regular file")
        dst.parent.mkdir(parents=True, exist_ok=True)
        with open(dst, "xb") as target:
            shutil.copyfileobj(fh, target)


def _replace(staging: Path, out: Path) -> None:
    """Put the checked bundle in out's place (an earlier bundle or an empty folder there is removed)."""
    old = out.parent / f".{out.name}.old-{secrets.token_hex(4)}"
    if out.exists():
        os.replace(out, old)
    os.replace(staging, out)
    shutil.rmtree(old, ignore_errors=True)
