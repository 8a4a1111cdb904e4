"""Write the profile pages (Jinja2 templates, autoescaped), their figures (PNG), profile.json and leaderboard.csv."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from ..analysis import plots
from ..fileio import write_json, write_text

COLUMNS = [
    ("metamer_recognition_last", "metamers recognised, last stage", "higher = more human-like invariance at depth"),
    ("metamer_recognition_mean", "metamers recognised, mean over stages", ""),
    ("readout_top1_last", "readout top-1, last stage", ""),
    ("imagenet_c", "ImageNet-C top-1 (mean)", ""),
    ("error_consistency", "error consistency κ", "model-vs-human"),
]
"""Leaderboard columns before the robustness ones (key, heading, note)."""


def _env():
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(loader=PackageLoader("metazoo_core.profile", "templates"),
                       autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)


def _fmt(x: Any) -> str:
    return "–" if x is None else f"{x:.3f}" if isinstance(x, float) else str(x)


def _stage_plot(series: dict[str, dict[str, float]], path: Path, ylabel: str, title: str,
                chance: float | None = None) -> Path:
    """Lines over stages: named stages when every series has the same ones, else relative depth (0 → 1)."""
    fig = plots.new_figure(5.2, 3.4)
    ax = fig.add_subplot()
    shared = len({tuple(pts) for pts in series.values()}) == 1
    for name, pts in series.items():
        stages = list(pts)
        xs = list(range(len(stages))) if shared else [i / max(len(stages) - 1, 1) for i in range(len(stages))]
        ax.plot(xs, [pts[s] for s in stages], marker="o", ms=3, label=name)
    if shared:
        stages = list(next(iter(series.values())))
        ax.set_xticks(range(len(stages)), stages, rotation=60, ha="right", fontsize=7)
    else:
        ax.set_xlabel("relative stage depth (0 = first, 1 = last)")
    if chance is not None:
        ax.axhline(chance, color="0.5", ls="--", lw=0.8)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    return plots.save_figure(fig, path)


def _severity_plot(acc: dict[str, dict[str, float]], path: Path, title: str) -> Path:
    fig = plots.new_figure(5.2, 3.4)
    ax = fig.add_subplot()
    for name, by in acc.items():
        sev = sorted(by, key=int)
        ax.plot([int(s) for s in sev], [by[s] for s in sev], marker="o", ms=3, label=name)
    ax.set_xlabel("severity")
    ax.set_ylabel("top-1 accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6, frameon=False, ncol=2)
    return plots.save_figure(fig, path)


def _figures(model: str, p: dict[str, Any], folder: Path) -> dict[str, str]:
    """{figure name: path relative to the pages} for the model's page."""
    figs: dict[str, str] = {}
    rec = p["recognition"]
    if rec:
        others = sorted({r for cell in rec.values() for r in cell["per_model"]})
        series = {f"{r}": {s: c["per_model"][r] for s, c in rec.items() if r in c["per_model"]} for r in others}
        series["mean of other models"] = {s: c["accuracy"] for s, c in rec.items() if c["accuracy"] is not None}
        figs["recognition"] = _stage_plot(series, folder / f"{model}-recognition.png", "proportion recognised",
                                          f"metamers of {model}, recognised by other models", 1 / 16).name
    if p["robustness"]:
        figs["robustness"] = plots.robustness_curves(p["robustness"], folder / f"{model}-robustness.png",
                                                     f"{model}: accuracy under PGD").name
    ic = (p["ood"].get("imagenet_c") or {}).get("accuracy")
    if ic:
        figs["imagenet_c"] = _severity_plot(ic, folder / f"{model}-imagenet-c.png", f"{model}: ImageNet-C").name
    if p["readout"]:
        figs["readout"] = _stage_plot({model: {s: v["top1"] for s, v in p["readout"].items()}},
                                      folder / f"{model}-readout.png", "top-1 accuracy",
                                      f"{model}: linear readout by stage").name
    return {k: f"figures/{v}" for k, v in figs.items()}


def _comparison_figures(profiles: dict[str, Any], folder: Path) -> dict[str, str]:
    figs: dict[str, str] = {}
    rec = {m: {s: c["accuracy"] for s, c in p["recognition"].items() if s != "natural" and c["accuracy"] is not None}
           for m, p in profiles.items()}
    if any(rec.values()):
        figs["recognition"] = _stage_plot({m: v for m, v in rec.items() if v}, folder / "compare-recognition.png",
                                          "proportion recognised", "metamer recognition by other models", 1 / 16).name
    ro = {m: {s: v["top1"] for s, v in p["readout"].items()} for m, p in profiles.items() if p["readout"]}
    if ro:
        figs["readout"] = _stage_plot(ro, folder / "compare-readout.png", "top-1 accuracy", "linear readout").name
    return {k: f"figures/{v}" for k, v in figs.items()}


def _leaderboard(profiles: dict[str, Any]) -> tuple[list[tuple[str, str, str]], list[dict[str, Any]]]:
    rows = [p["leaderboard"] for p in profiles.values()]
    robust = sorted({k for r in rows for k in r if k.startswith("robust_")})
    cols = [*COLUMNS, *((k, f"robust accuracy, {k[7:].replace('_', ' ')} (mean over ε > 0)", "") for k in robust)]
    return cols, [{**{k: None for k, _, _ in cols}, **r} for r in rows]


def write_pages(profiles: dict[str, Any], out: Path) -> list[Path]:
    """index.html + <model>.html + figures/ + profile.json + leaderboard.csv under `out`; returns the page paths."""
    folder = out / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    env = _env()
    env.filters["num"] = _fmt
    cols, rows = _leaderboard(profiles)
    pages = []
    for m, p in profiles.items():
        html = env.get_template("model.html").render(p=p, figures=_figures(m, p, folder), models=list(profiles))
        path = out / f"{m}.html"
        write_text(path, html)
        pages.append(path)
    index = out / "index.html"
    write_text(index, env.get_template("compare.html").render(
        columns=cols, rows=rows, figures=_comparison_figures(profiles, folder), models=list(profiles)))
    pages.insert(0, index)
    write_json(out / "profile.json", {"schema": "metazoo.profile/1", "profiles": profiles,
                                      "leaderboard": rows})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=[k for k, _, _ in [("model", "", ""), *cols, ("settings_differ", "", "")]],
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(out / "leaderboard.csv", buf.getvalue())
    return pages
