"""The report page: per model, a grid of inputs × [natural, stages…] with the originals and metamers (images, or
audio players for sounds), a pass/fail badge per metamer with its measures at the generation stage against the
null maxima, the generating model's decisions, loss curves, the recognition table and plot when
`metazoo recognize` has written RUN/recognition/, and the human experiment's results (curves of humans and the
generating model per stage, participants and exclusions, SI Table 1 and 2 effects) when `metazoo humans collect`
has written RUN/experiment/humans.json.

By default everything is embedded as data: URIs (PNG images; sounds as 16-bit PCM WAV copies of the saved float
WAVs, which browsers play everywhere), so the page works offline and can be mailed as one file. For large runs the
images and sounds can instead be linked by relative path (`link_media`); plots and cochleagrams stay embedded.

The page is rendered from Jinja2 templates (templates/, package data) with autoescaping: every value read from a
record or a run folder is shown as text, never interpreted as markup. Media files come only from inside the run
folder (`analysis.runs` refuses records naming files elsewhere).
"""
from __future__ import annotations

import base64
import io
import json
import os
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

from ..analysis.runs import NATURAL, MetamerItem, Run, inside, read_run
from ..analysis.recognition import sem_text
from ..caveats import RANDOM_WEIGHTS, null_note
from ..labels import decision_text
from ..fileio import check_writable, write_text

RECOGNITION_DIR = "recognition"
HUMANS_FILE = Path("experiment") / "humans.json"
MEASURES = (("spearman", "ρ"), ("pearson", "r"), ("snr_db", "SNR dB"))
TEMPLATE = "report.html.j2"


def _environment():
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("metazoo_core.report", "templates"),
                              autoescape=True, undefined=jinja2.StrictUndefined)


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _png(path: Path) -> str:
    return _data_uri(path.read_bytes(), "image/png")


def _wav(path: Path) -> str:
    """A 16-bit PCM copy of a (float) WAV, for the browser's player."""
    import soundfile as sf

    data, rate = sf.read(str(path), dtype="float32")
    buf = io.BytesIO()
    sf.write(buf, data.clip(-1, 1), rate, format="WAV", subtype="PCM_16")
    return _data_uri(buf.getvalue(), "audio/wav")


def _cochleagram(path: Path) -> str:
    """A data: URI of a small picture of the study's cochleagram of a 20 kHz, 2 s sound; '' for other sounds."""
    from PIL import Image

    from ..analysis.plots import cochleagram_of, cochleagram_rgb

    coch = cochleagram_of(path)
    if coch is None:
        return ""
    buf = io.BytesIO()
    Image.fromarray(cochleagram_rgb(coch)).save(buf, format="PNG")
    return _data_uri(buf.getvalue(), "image/png")


def _media(path: Path, modality: str, alt: str, link_from: Path | None) -> dict[str, str]:
    """An image or an audio player (+ cochleagram): embedded, or a relative link from the page's folder."""
    if link_from is not None:
        src = urllib.parse.quote(os.path.relpath(path, link_from))
    else:
        src = _wav(path) if modality == "audio" else _png(path)
    return {"modality": modality, "src": src, "alt": alt,
            "cochleagram": _cochleagram(path) if modality == "audio" else ""}


def _fmt(x: Any) -> str:
    return "—" if x is None else f"{x:.3g}" if isinstance(x, float) else str(x)


def _badge(item: MetamerItem) -> dict[str, Any]:
    rec = item.record
    passed = rec.get("passed")
    cls, text = {True: ("pass", "passed"), False: ("fail", "failed")}.get(passed, ("na", "not evaluated"))
    measured = _dict(_dict(rec.get("measures")).get(item.stage))
    null_max = _dict(_dict(rec.get("null")).get("max"))
    criteria = _dict(rec.get("criteria"))
    parts = []
    for key, sym in MEASURES:
        if key in measured:
            bound = f" ≥ {_fmt(null_max[key])}" if key in null_max else ""
            ok = criteria.get(key)
            mark = "" if ok is None else " ✓" if ok else " ✗"
            parts.append(f"{sym} {_fmt(measured[key])}{bound}{mark}")
    pred = _dict(rec.get("prediction"))
    if pred:
        mark = " ✓" if pred.get("match") else " ✗"
        parts.append(f"{pred.get('original')} → {pred.get('metamer')}{mark}")
    pairs = _dict(rec.get("null")).get("pairs")
    if isinstance(pairs, int):
        parts.append(f"null of {pairs} pairs")
    note = null_note(pairs) if isinstance(pairs, int) else None
    return {"cls": cls, "verdict": text + (" (loose null)" if note and passed is not None else ""), "parts": parts,
            "note": note, "random": RANDOM_WEIGHTS if rec.get("random_weights") else ""}


def _dict(x: Any) -> dict:
    """`x` when it is a mapping, else {} (records come from shared folders; a wrong type is not an error)."""
    return x if isinstance(x, dict) else {}


def _rows(run: Run, model: str, link_from: Path | None) -> list[dict[str, Any]]:
    stages = run.stages(model)
    modality = run.modality(model)
    originals = run.originals(model)
    rows = []
    for name in run.inputs(model):
        path, label = originals[name]
        cells = []
        for stage in stages:
            item = run.get(model, name, stage)
            cells.append(None if item is None else
                         {"media": _media(item.metamer_file, modality, f"{name} {stage}", link_from), **_badge(item)})
        rows.append({"name": name, "natural": _media(path, modality, f"{name} natural", link_from),
                     "label": decision_text(label, modality), "cells": cells})
    return rows


def _loss_plots(run: Run, model: str, tmp: Path) -> list[dict[str, str]]:
    from ..analysis.plots import loss_curves

    plots = []
    for k, name in enumerate(run.inputs(model)):
        records = [i.record for i in run.for_model(model) if i.input == name]
        records.sort(key=lambda r: run.stages(model).index(r["stage"]))
        if not any(r.get("loss_curve") for r in records):
            continue
        png = loss_curves(records, tmp / f"loss-{k}.png", title=f"{model} · {name}")
        plots.append({"name": name, "src": _png(png)})
    return plots


def _section(run: Run, model: str, link_from: Path | None, tmp: Path) -> dict[str, Any]:
    items = run.for_model(model)
    first = items[0].record
    recipe = _dict(first.get("recipe"))
    weights = first.get("weights_sha256")
    return {"model": model, "modality": run.modality(model), "n_inputs": len(run.inputs(model)),
            "n_stages": len(run.stages(model)), "recipe": str(recipe.get("name")),
            "iterations": _fmt(recipe.get("iterations")), "blocks": _fmt(recipe.get("blocks")),
            "seed": _fmt(first.get("seed")),
            "weights": (RANDOM_WEIGHTS if any(i.record.get("random_weights") for i in items)
                        else f"{str(weights)[:12]}…" if weights else "random/constructed"),
            "n_pass": sum(i.passed is True for i in items), "n_fail": sum(i.passed is False for i in items),
            "n_na": sum(i.passed is None for i in items), "head": [NATURAL, *run.stages(model)],
            "rows": _rows(run, model, link_from), "loss_plots": _loss_plots(run, model, tmp),
            "notes": list(dict.fromkeys(n for n in (_badge(i)["note"] for i in items) if n))}


def _recognition(run: Run) -> dict[str, Any] | None:
    folder = run.root / RECOGNITION_DIR
    path = folder / "recognition.json"
    if not path.is_file():
        return None
    try:
        table = json.loads(path.read_text(encoding="utf-8"))["table"]
        rows = [{"generator": str(r["generator"]), "stage": str(r["stage"]), "recogniser": str(r["recogniser"]),
                 "n": _fmt(r["n"]), "accuracy": _fmt(r["accuracy"]), "sem": sem_text(r["sem"], r["n"], _fmt)}
                for r in table]
    except (OSError, ValueError, KeyError, TypeError) as e:
        return {"error": f"{path} unreadable ({e})"}
    plot = folder / "recognition.png"
    return {"error": "", "rows": rows, "plot": _png(plot) if plot.is_file() and inside(plot, run.root) else ""}


def _effect_text(e: Any) -> str:
    """'F(2,6)=3.41  p=0.09  η²p = 0.53' from a stored effect, or '—'."""
    from ..analysis.stats import Effect, format_F, format_np2, format_p

    if not isinstance(e, dict):
        return "—"
    try:
        effect = Effect(source="", F=float(e["F"]), df1=int(e["df1"]), df2=int(e["df2"]), p=float(e["p"]),
                        np2=float(e["np2"]))
    except (KeyError, TypeError, ValueError):
        return "—"
    return f"{format_F(effect)}  {format_p(effect.p)}  {format_np2(effect.np2)}"


def _humans(run: Run, tmp: Path) -> dict[str, Any] | None:
    """The human experiment's summary (RUN/experiment/humans.json from `metazoo humans collect`), or None."""
    path = run.root / HUMANS_FILE
    if not path.is_file() or not inside(path, run.root):
        return None
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
        people = [{"id": str(p["participant"]), "trials": f"{p['trials']}/{p['planned']}",
                   "included": bool(p["included"]), "reasons": "; ".join(map(str, p.get("reasons") or []))}
                  for p in result["participants"]]
        models = [{"model": str(m["model"]), "n": _fmt(m.get("participants")),
                   "natural": _fmt((m["human"]["mean"] or [None])[0]),
                   "deepest": _fmt((m["human"]["mean"] or [None])[-1]),
                   "main": _effect_text(_dict(m.get("observer_stage")).get("main")),
                   "interaction": _effect_text(_dict(m.get("observer_stage")).get("interaction"))}
                  for m in result["models"]]
        comparisons = [{"a": str(c["model_1"]), "b": str(c["model_2"]), "main": _effect_text(c.get("main")),
                        "interaction": _effect_text(c.get("interaction"))} for c in result.get("comparisons") or []]
        plot = ""
        if result["models"]:
            from ..humans.plots import plot_curves

            plot = _png(plot_curves(result, tmp / "humans.png", title="humans and the generating model"))
    except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
        return {"error": f"{path} unreadable ({' '.join(str(e).split())})"}
    return {"error": "", "people": people, "included": sum(p["included"] for p in people), "models": models,
            "comparisons": comparisons, "notes": [str(n) for n in result.get("notes") or []], "plot": plot}


def render(run: Run, link_from: Path | None = None) -> str:
    """The page's HTML text for a read run; `link_from`: the page's folder, to link the run's media files
    (relative paths) instead of embedding them."""
    with tempfile.TemporaryDirectory(prefix="metazoo-report-") as tmp:
        sections = [_section(run, model, link_from, Path(tmp)) for model in run.models()]
        humans = _humans(run, Path(tmp))
    return _environment().get_template(TEMPLATE).render(
        title=run.root.name, sections=sections, recognition=_recognition(run), humans=humans, warnings=run.warnings)


def write_figures(run: Run, folder: Path) -> list[Path]:
    """Stand-alone PNG figures: per model a metamer grid (inputs × stages) and per input its loss curves."""
    from ..analysis.plots import loss_curves, metamer_grid

    paths = []
    for model in run.models():
        paths.append(metamer_grid(run, model, folder / f"{model}-grid.png"))
        order = run.stages(model)
        for name in run.inputs(model):
            records = sorted((i.record for i in run.for_model(model) if i.input == name),
                             key=lambda r: order.index(r["stage"]))
            paths.append(loss_curves(records, folder / f"{model}-{name}-loss.png", title=f"{model} · {name}"))
    return paths


def build_report(run_dir: Path | str, out: Path | str | None = None, figures: Path | str | None = None,
                 link_media: bool = False) -> tuple[Path, list[str]]:
    """Write the report of `run_dir` to `out` (default RUN/report.html), and PNG figures into `figures` if given;
    returns (page path, skipped-record warnings).

    link_media: link the run's images and sounds by relative path instead of embedding them (for large runs; the
    page then works as long as it stays in place relative to the run folder).
    """
    run = read_run(run_dir)
    out = Path(out) if out else Path(run_dir) / "report.html"
    check_writable(out.parent)
    write_text(out, render(run, out.parent.resolve() if link_media else None))
    if figures is not None:
        write_figures(run, check_writable(figures))
    return out, run.warnings
