"""`metazoo experiment RUN --export DIR`: the session as a static bundle for an online platform (Prolific, MTurk).

The bundle runs the same page and plans as `--serve` (design.py, static/experiment.js). The participant id and
the completion code come from URL parameters (defaults `PROLIFIC_PID` and `cc`; the page falls back to
`participant`); the participant's plan is chosen from plans.json by a hash of the id. Each answered trial is POSTed
as JSON to `--post-url` (if given) and all responses are offered as a download at the end.
"""
from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

from ..fileio import atomic_path, write_json, write_text
from . import design as D
from . import jspsych
from .server import MEDIA, page, prepare_media


def export_bundle(folder: Path | str, out: Path | str, settings: D.Settings, post_url: str = "",
                  participant_param: str = "PROLIFIC_PID", code_param: str = "cc") -> Path:
    """Write index.html, plans.json, static/ and the media under `out`; returns the index.html path."""
    scripts = jspsych.static_dir()  # fetched, or one line, before anything is written
    design = D.load_design(folder, settings)
    D.save_settings(design, keep_existing=(design.root / "responses.sqlite").is_file())
    prepare_media(design)
    out = Path(out)
    for sub in MEDIA:
        src = design.root / sub
        for f in sorted(src.rglob("*")) if src.is_dir() else []:
            if f.is_file():
                with atomic_path(out / f.relative_to(design.root)) as tmp:
                    shutil.copyfile(f, tmp)
    static = resources.files("metazoo_core.humans").joinpath("static")
    for f in _files(static):
        rel = f.relative_to(Path(str(static)))
        with atomic_path(out / "static" / rel) as tmp:
            shutil.copyfile(f, tmp)
    for f in _files(scripts):
        with atomic_path(out / "static" / "jspsych" / f.name) as tmp:
            shutil.copyfile(f, tmp)
    plans = [D.browser_plan(D.plan(design, n)) for n in sorted(design.lists)]
    write_json(out / "plans.json", plans)
    config = {"mode": "export", "post_url": post_url, "media": "", "static": "static/",
              "participant_param": participant_param, "code_param": code_param, "completion_code": "",
              **D.public_settings(design)}
    write_text(out / "index.html", page(config))
    write_text(out / "README.txt", "Upload this folder as a static site; open index.html?"
               f"{participant_param}=ID&{code_param}=CODE. Responses: POSTed to {post_url or '(no URL set)'} and "
               "downloadable at the end; read them back with `metazoo humans collect`.\n"
               f"Settings: {json.dumps(D.public_settings(design) | {'responses': len(design.responses)})}\n")
    return out / "index.html"


def _files(root) -> list[Path]:
    base = Path(str(root))
    return [p for p in sorted(base.rglob("*")) if p.is_file()]
