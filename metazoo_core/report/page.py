"""The report page: per model, a grid of inputs × [natural, stages…] with the originals and metamers (images, or
audio players for sounds), a pass/fail badge per metamer with its measures at the generation stage against the
null maxima, the generating model's decisions, loss curves, and the recognition table and plot when
`metazoo recognize` has written RUN/recognition/.

By default everything is embedded as data: URIs (PNG images; sounds as 16-bit PCM WAV copies of the saved float
WAVs, which browsers play everywhere), so the page works offline and can be mailed as one file. For large runs the
images and sounds can instead be linked by relative path (`link_media`); plots and cochleagrams stay embedded.
"""
from __future__ import annotations

import base64
import html
import io
import json
import os
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

from ..analysis.runs import NATURAL, MetamerItem, Run, read_run
from ..fileio import check_writable, write_text

RECOGNITION_DIR = "recognition"
MEASURES = (("spearman", "ρ"), ("pearson", "r"), ("snr_db", "SNR dB"))

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5rem;color:#222;background:#fff}
h1{font-size:1.4rem}h2{font-size:1.15rem;border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;font-size:.8rem}td,th{border:1px solid #e3e3e3;padding:.3rem;vertical-align:top}
th{background:#f5f5f5}.grid img{width:160px;height:auto;image-rendering:pixelated;display:block}
.grid audio{width:200px;display:block}.grid img.coch{width:200px;height:110px;image-rendering:auto}
.badge{display:inline-block;border-radius:.6rem;padding:0 .45rem;font-size:.72rem;font-weight:600;color:#fff}
.pass{background:#2e7d32}.fail{background:#c62828}.na{background:#757575}
.m{font-family:ui-monospace,monospace;font-size:.72rem;color:#444}.warn{color:#8a4b00}
.plot{max-width:100%;height:auto}.loss{width:440px;max-width:100%;height:auto;margin:.2rem}
details{margin:.4rem 0}.num{text-align:right}
"""


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
    """A small picture of the study's cochleagram of a 20 kHz, 2 s sound; '' for sounds of another format."""
    from PIL import Image

    from ..analysis.plots import cochleagram_of, cochleagram_rgb

    coch = cochleagram_of(path)
    if coch is None:
        return ""
    buf = io.BytesIO()
    Image.fromarray(cochleagram_rgb(coch)).save(buf, format="PNG")
    return f'<img class="coch" src="{_data_uri(buf.getvalue(), "image/png")}" alt="cochleagram">'


def _media(path: Path, modality: str, alt: str, link_from: Path | None) -> str:
    """An <img> or an <audio> player (+ cochleagram): embedded, or a relative link from the page's folder."""
    if link_from is not None:
        src = html.escape(urllib.parse.quote(os.path.relpath(path, link_from)))
    else:
        src = _wav(path) if modality == "audio" else _png(path)
    if modality == "audio":
        return (f'<audio controls preload="auto" src="{src}" title="{html.escape(alt)}"></audio>'
                f"{_cochleagram(path)}")
    return f'<img src="{src}" alt="{html.escape(alt)}">'


def _fmt(x: Any) -> str:
    return "—" if x is None else f"{x:.3g}" if isinstance(x, float) else html.escape(str(x))


def _badge(item: MetamerItem) -> str:
    rec = item.record
    passed = rec.get("passed")
    cls, text = {True: ("pass", "passed"), False: ("fail", "failed")}.get(passed, ("na", "not evaluated"))
    measured = (rec.get("measures") or {}).get(item.stage) or {}
    null_max = ((rec.get("null") or {}).get("max")) or {}
    parts = []
    for key, sym in MEASURES:
        if key in measured:
            bound = f" ≥ {_fmt(null_max[key])}" if key in null_max else ""
            ok = (rec.get("criteria") or {}).get(key)
            mark = "" if ok is None else " ✓" if ok else " ✗"
            parts.append(f"{sym} {_fmt(measured[key])}{bound}{mark}")
    pred = rec.get("prediction") or {}
    if pred:
        mark = " ✓" if pred.get("match") else " ✗"
        parts.append(f"{html.escape(str(pred.get('original')))} → {html.escape(str(pred.get('metamer')))}{mark}")
    return f'<span class="badge {cls}">{text}</span><div class="m">{"<br>".join(parts)}</div>'


def _grid(run: Run, model: str, link_from: Path | None) -> str:
    stages = run.stages(model)
    modality = run.modality(model)
    originals = run.originals(model)
    head = "".join(f"<th>{html.escape(s)}</th>" for s in [NATURAL, *stages])
    rows = []
    for name in run.inputs(model):
        path, label = originals[name]
        cells = [f"<td><b>{html.escape(name)}</b><br>{_media(path, modality, f'{name} natural', link_from)}"
                 f'<div class="m">decision: {html.escape(label)}</div></td>']
        for stage in stages:
            item = run.get(model, name, stage)
            cells.append("<td>—</td>" if item is None else
                         f"<td>{_media(item.metamer_file, modality, f'{name} {stage}', link_from)}{_badge(item)}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f'<table class="grid"><tr>{head}</tr>{"".join(rows)}</table>'


def _loss_plots(run: Run, model: str, tmp: Path) -> str:
    from ..analysis.plots import loss_curves

    blocks = []
    for name in run.inputs(model):
        records = [i.record for i in run.for_model(model) if i.input == name]
        records.sort(key=lambda r: run.stages(model).index(r["stage"]))
        if not any(r.get("loss_curve") for r in records):
            continue
        png = loss_curves(records, tmp / f"loss-{model}-{name}.png", title=f"{model} · {name}")
        blocks.append(f'<img class="plot loss" src="{_png(png)}" alt="loss curves {html.escape(name)}">')
    if not blocks:
        return "<p>No loss curves recorded.</p>"
    return f"<details open><summary>loss curves ({len(blocks)} inputs)</summary>{''.join(blocks)}</details>"


def _summary(run: Run, model: str) -> str:
    items = run.for_model(model)
    first = items[0].record
    recipe = first.get("recipe") or {}
    n_pass = sum(i.passed is True for i in items)
    n_fail = sum(i.passed is False for i in items)
    n_na = sum(i.passed is None for i in items)
    weights = first.get("weights_sha256")
    return (f'<p class="m">{len(run.inputs(model))} inputs × {len(run.stages(model))} stages; '
            f"recipe {html.escape(str(recipe.get('name')))} ({_fmt(recipe.get('iterations'))} steps × "
            f"{_fmt(recipe.get('blocks'))} blocks), seed {_fmt(first.get('seed'))}; weights "
            f"{html.escape(weights[:12]) + '…' if weights else 'random/constructed'}; "
            f"{n_pass} passed, {n_fail} failed, {n_na} not evaluated</p>")


def _recognition(run: Run) -> str:
    folder = run.root / RECOGNITION_DIR
    path = folder / "recognition.json"
    if not path.is_file():
        return ""
    try:
        table = json.loads(path.read_text())["table"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f'<h2>Recognition by other models</h2><p class="warn">{html.escape(str(path))} unreadable ({e})</p>'
    head = "".join(f"<th>{h}</th>" for h in ("generating model", "stage", "recognising model", "n",
                                             "proportion recognised", "SEM"))
    rows = "".join(
        f"<tr><td>{html.escape(str(r['generator']))}</td><td>{html.escape(str(r['stage']))}</td>"
        f"<td>{'<b>mean</b>' if r['recogniser'] == 'mean' else html.escape(str(r['recogniser']))}</td>"
        f"<td class=num>{r['n']}</td><td class=num>{_fmt(r['accuracy'])}</td><td class=num>{_fmt(r['sem'])}</td></tr>"
        for r in table)
    plot = folder / "recognition.png"
    img = f'<img class="plot" src="{_png(plot)}" alt="recognition curves">' if plot.is_file() else ""
    return (f"<h2>Recognition by other models</h2>{img}<details><summary>table ({len(table)} rows)</summary>"
            f"<table><tr>{head}</tr>{rows}</table></details>")


def render(run: Run, link_from: Path | None = None) -> str:
    """The page's HTML text for a read run; `link_from`: the page's folder, to link the run's media files
    (relative paths) instead of embedding them."""
    sections = []
    with tempfile.TemporaryDirectory(prefix="metazoo-report-") as tmp:
        for model in run.models():
            sections.append(f"<h2>{html.escape(model)} <small>({run.modality(model)})</small></h2>"
                            f"{_summary(run, model)}{_grid(run, model, link_from)}{_loss_plots(run, model, Path(tmp))}")
    warnings = ""
    if run.warnings:
        lis = "".join(f"<li>{html.escape(w)}</li>" for w in run.warnings)
        warnings = f'<h2>Skipped records</h2><ul class="warn">{lis}</ul>'
    title = f"metazoo report — {html.escape(run.root.name)}"
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>'
            f"<body><h1>{title}</h1><p>Model metamers: each column is the stage whose activations the metamer "
            f"matches; badges give the acceptance measures at that stage against the null maxima and the "
            f"generating model's decision on the original → on the metamer.</p>"
            f"{''.join(sections)}{_recognition(run)}{warnings}</body></html>")


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
