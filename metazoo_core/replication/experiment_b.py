"""Experiment B — the robustness effect in miniature (the study's Fig. 5/6 and SI Table 2, on digits).

1. Train small CNNs (`digitnet`) on upsampled digits with standard training, L2 adversarial training (PGD 7 steps
   of ε/2, as the study) and L2 random-perturbation training (a random point on the ε-sphere), for every seed.
2. Per model: a null distribution from pairs of different training digits, then metamers of held-out digits at
   every stage (feather2023 recipe, the plan's iterations). A metamer is accepted when it passes the engine's
   measure criteria (Spearman, Pearson, dB SNR ≥ the null's maximum) AND the generating model's argmax on the
   metamer equals its argmax on the original (the study's prediction-match criterion).
3. Every model classifies every accepted metamer of every OTHER model, from the saved PNG (8-bit, as the study's
   network–network evaluation). Correct = the digit's true label. The "subjects" of the repeated-measures
   ANOVA are the recognising models: per recogniser, the proportion correct for each (training type, stage),
   over all accepted metamers of the other models of that type. Secondary analysis: the same with six
   pixel-space classifiers (nearest neighbours, nearest class mean, logistic regression, LDA, RBF SVM) as the
   observers — observers without the CNNs' learned invariances.
4. SI Table 2 form: `model_comparison_anova` (within factors training type × stage) for adversarial vs standard
   and adversarial vs random; the training-type main effect (and the interaction) with F, p and partial η², plus
   a permutation test of the main effect.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..fileio import write_json
from .digitnet import STAGES, digit_model
from .digits import load_digits_split, metamer_inputs, null_inputs
from .plan import PlanB

NATURAL = "natural"
KIND_PERTURBATION = {"standard": "none", "adversarial": "adversarial", "random": "random"}
Say = Callable[[str], None]


def model_id(kind: str, seed: int) -> str:
    return f"digits_{kind}_s{seed}"


def train_models(plan: PlanB, train_set, held_out, out: Path, say: Say) -> tuple[dict, dict[str, Any]]:
    """{id: StagedModel} trained (or resumed from OUT/models/<id>) and {id: training summary}."""
    from ..robustness.settings import TrainConfig, study_perturbation
    from ..robustness.training import robust_accuracy, train, trainee_from_model

    models, summaries = {}, {}
    for kind in plan.kinds:
        for seed in plan.seeds:
            mid = model_id(kind, seed)
            torch.manual_seed(10_000 + seed)
            model = digit_model(mid, f"digit CNN, {kind} training, seed {seed}")
            trainee = trainee_from_model(model)
            pert = study_perturbation(KIND_PERTURBATION[kind], "l2", plan.eps, "vision")
            cfg = TrainConfig(epochs=plan.epochs, batch_size=plan.batch_size, lr=plan.lr, seed=seed,
                              lr_step_epochs=max(1, (2 * plan.epochs) // 3), eval_steps=plan.robust_eval_steps,
                              checkpoint_every=0, perturbation=pert)
            t0 = time.time()
            summary = _finished(out / "models" / mid, cfg)
            if summary is None:
                summary = train(trainee, train_set, cfg, out / "models" / mid, eval_data=held_out,
                                meta={"model": mid, "kind": kind, "seed": seed})
                ev = summary["evaluation"]
                if "adversarial_accuracy" not in ev:
                    ev["adversarial_accuracy"] = robust_accuracy(trainee, held_out, "l2", plan.eps,
                                                                 plan.robust_eval_steps)
                    write_json(out / "models" / mid / "train.json", summary)
            else:
                from safetensors.torch import load_file

                model.net.load_state_dict(load_file(str(out / "models" / mid / "weights.safetensors")))
            ev = summary["evaluation"]
            model.requires_grad_(False)
            model.eval()
            models[mid] = model
            summaries[mid] = {"kind": kind, "seed": seed, "perturbation": summary["perturbation"],
                              "clean_accuracy": ev["clean_accuracy"],
                              "adversarial_accuracy": ev["adversarial_accuracy"],
                              "final_train_loss": summary["history"][-1]["loss"] if summary["history"] else None}
            say(f"B trained {mid}: held-out accuracy {ev['clean_accuracy']:.3f}, under L2 PGD ε={plan.eps:g} "
                f"{ev['adversarial_accuracy']:.3f} ({time.time() - t0:.0f} s)")
    return models, summaries


def _finished(folder: Path, cfg) -> dict[str, Any] | None:
    """The summary of a finished training run in `folder` with the same settings (weights and evaluation
    saved), or None: resuming then reuses the weights instead of re-evaluating them."""
    import json
    from dataclasses import asdict

    try:
        summary = json.loads((folder / "train.json").read_text())
    except (OSError, ValueError):
        return None
    done = summary.get("config") == json.loads(json.dumps(asdict(cfg))) and \
        "adversarial_accuracy" in summary.get("evaluation", {}) and (folder / "weights.safetensors").is_file()
    return summary if done else None


def _read_png(path: Path) -> torch.Tensor:
    from PIL import Image

    arr = np.asarray(Image.open(path), dtype=np.float32) / 255.0
    return torch.from_numpy(arr)[None]  # (1, 16, 16), ToTensor semantics


def make_metamers(plan: PlanB, models: dict, train_set, held_out, out: Path, say: Say) -> list[dict[str, Any]]:
    """Nulls and metamers for every model; one row per (model, input, stage) with acceptance and the PNG path."""
    from safetensors.torch import load_file

    from ..metamer import NullDistribution, build_null, generate_metamers
    from ..metamer.null import NullError

    inputs = metamer_inputs(held_out, plan.metamer_per_class)
    labels = {x.name: int(x.name.rsplit("_", 1)[1]) for x in inputs}
    pool = null_inputs(train_set)
    rows: list[dict[str, Any]] = []
    for mid, model in models.items():
        t0 = time.time()
        null_path = out / "nulls" / f"{mid}.safetensors"
        null = None
        if null_path.is_file():
            null = NullDistribution.load(null_path)
            try:
                null.check_model(model)
            except NullError:  # a null of other weights (the model was retrained): rebuild
                null = None
        if null is None:
            null = build_null(model, pool, pairs=plan.null_pairs, seed=0, augment=False, batch_size=256)
            null.save(null_path)
        records = generate_metamers(model, inputs, STAGES, iterations=plan.iterations, blocks=plan.blocks, seed=0,
                                    batch_size=len(inputs), out_dir=out / "metamers", null=null)
        with torch.no_grad():
            originals = torch.stack([x.tensor for x in inputs])
            own_original = model.logits(originals).argmax(1).tolist()
        by_name = {x.name: k for k, x in enumerate(inputs)}
        for rec in records:
            folder = out / "metamers" / mid / rec["input"]["folder"] / rec["stage"]
            x = load_file(str(folder / "metamer.safetensors"))["metamer"]
            with torch.no_grad():
                own_metamer = int(model.logits(x[None]).argmax(1))
            k = by_name[rec["input"]["name"]]
            match = own_metamer == own_original[k]
            rows.append({"model": mid, "input": rec["input"]["name"], "label": labels[rec["input"]["name"]],
                         "stage": rec["stage"], "passed_measures": rec["passed"], "prediction_match": match,
                         "accepted": bool(rec["passed"]) and match,
                         "measures": rec["measures"][rec["stage"]], "null_max": (rec["null"] or {}).get("max"),
                         "final_loss": rec["final_loss"], "png": str(folder / rec["files"]["metamer"])})
        n_ok = sum(r["accepted"] for r in rows if r["model"] == mid)
        say(f"B metamers {mid}: {n_ok}/{len(records)} accepted ({time.time() - t0:.0f} s)")
    return rows


Decide = Callable[[torch.Tensor], list]
"""An observer: images (N, 1, 16, 16) in [0, 1] → N predicted digit labels."""


def cnn_observers(models: dict) -> dict[str, Decide]:
    """The trained networks as observers (argmax of the 10 logits)."""
    def decide(model) -> Decide:
        def run(x: torch.Tensor) -> list:
            with torch.no_grad():
                return model.logits(x).argmax(1).tolist()
        return run

    return {mid: decide(m) for mid, m in models.items()}


PIXEL_OBSERVERS = ("pixel_1nn", "pixel_5nn", "pixel_nearest_mean", "pixel_logistic", "pixel_lda", "pixel_svm_rbf")


def pixel_observers(train_set) -> dict[str, Decide]:
    """Classifiers on raw pixels (scikit-learn, fitted on the training digits): observers that share none of the
    CNNs' learned invariances — a crude stand-in for the study's human observers (secondary analysis)."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier, NearestCentroid
    from sklearn.svm import SVC

    makers = {"pixel_1nn": lambda: KNeighborsClassifier(1), "pixel_5nn": lambda: KNeighborsClassifier(5),
              "pixel_nearest_mean": NearestCentroid, "pixel_logistic": lambda: LogisticRegression(max_iter=3000),
              "pixel_lda": LinearDiscriminantAnalysis, "pixel_svm_rbf": lambda: SVC(gamma="scale")}
    import warnings

    X, y = train_set.x.flatten(1).numpy(), train_set.y.numpy()
    out: dict[str, Decide] = {}
    for name in PIXEL_OBSERVERS:
        with warnings.catch_warnings():  # NearestCentroid notes the constant border pixels; harmless
            warnings.simplefilter("ignore", UserWarning)
            clf = makers[name]().fit(X, y)
        out[name] = lambda x, clf=clf: [int(v) for v in clf.predict(x.flatten(1).numpy())]
    return out


def recognise(observers: dict[str, Decide], rows: list[dict[str, Any]], held_out, plan: PlanB) -> list[dict]:
    """Trials {recogniser, generator, kind, stage, input, correct}: every observer on every accepted metamer (PNG)
    except its own, and on the held-out metamer inputs themselves (stage "natural"); correct = true digit."""
    kinds = {model_id(k, s): k for k in plan.kinds for s in plan.seeds}
    accepted = [r for r in rows if r["accepted"]]
    images = torch.stack([_read_png(Path(r["png"])) for r in accepted]) if accepted else None
    inputs = metamer_inputs(held_out, plan.metamer_per_class)
    natural = torch.stack([x.tensor for x in inputs])
    natural_labels = [int(x.name.rsplit("_", 1)[1]) for x in inputs]
    trials = []
    for rid, decide in observers.items():
        nat = decide(natural)
        dec = decide(images) if images is not None else []
        for x, d, y in zip(inputs, nat, natural_labels):
            trials.append({"recogniser": rid, "generator": None, "kind": NATURAL, "stage": NATURAL,
                           "input": x.name, "correct": float(d == y)})
        for r, d in zip(accepted, dec):
            if r["model"] == rid:
                continue
            trials.append({"recogniser": rid, "generator": r["model"], "kind": kinds[r["model"]],
                           "stage": r["stage"], "input": r["input"], "correct": float(d == r["label"])})
    return trials


def analyse(trials: list[dict[str, Any]], plan: PlanB) -> dict[str, Any]:
    """Curves, SI Table 2 rows and the per-subject table of one set of observers."""
    table = subject_table(trials, plan)
    return {"observers": sorted({t["recogniser"] for t in trials}), "curves": curves(trials, plan),
            "anova": anova_rows(table, plan), "subject_table": table.to_dict(orient="records")}


def subject_table(trials: list[dict[str, Any]], plan: PlanB):
    """Long DataFrame: one row per (recogniser = subject, training type, stage) with the proportion correct."""
    import pandas as pd

    df = pd.DataFrame([t for t in trials if t["stage"] != NATURAL])
    if df.empty:
        return pd.DataFrame(columns=["subject", "model", "stage", "accuracy"])
    table = df.groupby(["recogniser", "kind", "stage"], as_index=False)["correct"].mean()
    return table.rename(columns={"recogniser": "subject", "kind": "model", "correct": "accuracy"})


def anova_rows(table, plan: PlanB) -> dict[str, Any]:
    """SI Table 2 rows: adversarial vs standard and adversarial vs random, over the stages where every subject has
    both conditions (stages without accepted metamers of one type are left out and listed)."""
    from ..analysis.stats import (StatsError, format_F, format_np2, format_p, model_comparison_anova,
                                  permutation_test)

    out: dict[str, Any] = {}
    for other in ("standard", "random"):
        key = f"adversarial_vs_{other}"
        sub = table[table["model"].isin(["adversarial", other])]
        n_subjects = sub["subject"].nunique()
        complete = [s for s in STAGES
                    if len(sub[sub["stage"] == s]) == 2 * n_subjects and n_subjects > 0]
        sub = sub[sub["stage"].isin(complete)]
        row: dict[str, Any] = {"model_1": "adversarial", "model_2": other, "stages": complete,
                               "stages_left_out": [s for s in STAGES if s not in complete],
                               "n_subjects": int(n_subjects)}
        try:
            if len(complete) >= 2:
                eff = model_comparison_anova(sub, dv="accuracy", model="model", stage="stage", subject="subject")
            else:
                eff = model_comparison_anova(sub, dv="accuracy", model="model", stage=None, subject="subject")
            perm = permutation_test(sub, dv="accuracy", factor="model", subject="subject",
                                    other="stage" if len(complete) >= 2 else None)
        except StatsError as e:
            row["error"] = str(e)
            out[key] = row
            continue
        means = sub.groupby("model")["accuracy"].mean()
        row.update({
            "main": eff["main"].as_dict(),
            "interaction": eff["interaction"].as_dict() if "interaction" in eff else None,
            "permutation": perm.as_dict(),
            "mean_accuracy": {k: float(v) for k, v in means.items()},
            "direction": "adversarial > " + other if means["adversarial"] > means[other] else
                         ("adversarial < " + other if means["adversarial"] < means[other] else "equal"),
            "formatted": {"F": format_F(eff["main"]), "p": format_p(eff["main"].p),
                          "effect_size": format_np2(eff["main"].np2)},
        })
        out[key] = row
    return out


def curves(trials: list[dict[str, Any]], plan: PlanB) -> dict[str, list[dict[str, Any]]]:
    """Per training type: [{stage, mean, sem, n_subjects}] — the mean over recognisers (subjects) of each one's
    proportion correct, SEM across recognisers; the natural condition first (all recognisers, true labels)."""
    import pandas as pd

    df = pd.DataFrame(trials)
    out: dict[str, list[dict[str, Any]]] = {}
    nat = df[df["stage"] == NATURAL].groupby("recogniser")["correct"].mean()
    for kind in plan.kinds:
        rows = [_summary(NATURAL, nat.to_numpy())]
        for stage in STAGES:
            per = df[(df["kind"] == kind) & (df["stage"] == stage)].groupby("recogniser")["correct"].mean()
            rows.append(_summary(stage, per.to_numpy()))
        out[kind] = rows
    return out


def _summary(stage: str, values: np.ndarray) -> dict[str, Any]:
    n = int(values.size)
    sem = float(values.std(ddof=1) / np.sqrt(n)) if n > 1 else None
    return {"stage": stage, "mean": float(values.mean()) if n else None, "sem": sem, "n_subjects": n}


def acceptance(rows: list[dict[str, Any]], plan: PlanB) -> dict[str, dict[str, Any]]:
    """Per training type and stage: metamers accepted / generated, and the medians of the three measures."""
    out: dict[str, dict[str, Any]] = {}
    kinds = {model_id(k, s): k for k in plan.kinds for s in plan.seeds}
    for kind in plan.kinds:
        out[kind] = {}
        for stage in STAGES:
            sel = [r for r in rows if kinds[r["model"]] == kind and r["stage"] == stage]
            out[kind][stage] = {
                "generated": len(sel), "accepted": sum(r["accepted"] for r in sel),
                "passed_measures": sum(bool(r["passed_measures"]) for r in sel),
                "prediction_match": sum(r["prediction_match"] for r in sel),
                "median": {m: float(np.median([r["measures"][m] for r in sel])) for m in ("spearman", "pearson",
                                                                                            "snr_db")} if sel else None,
            }
    return out


def run(plan: PlanB, out: Path, say: Say) -> dict[str, Any]:
    """Experiment B end to end under OUT (models/, nulls/, metamers/); returns every number (JSON-ready)."""
    t0 = time.time()
    train_set, held_out = load_digits_split(plan.test_per_class)
    if plan.train_limit is not None:
        train_set = train_set.subset(torch.arange(min(plan.train_limit, len(train_set))))
    say(f"B data: {len(train_set)} training digits, {len(held_out)} held out (16×16)")
    models, training = train_models(plan, train_set, held_out, out, say)
    rows = make_metamers(plan, models, train_set, held_out, out, say)
    networks = analyse(recognise(cnn_observers(models), rows, held_out, plan), plan)
    pixels = analyse(recognise(pixel_observers(train_set), rows, held_out, plan), plan)
    result = {
        "plan": {k: (list(v) if isinstance(v, tuple) else v) for k, v in plan.__dict__.items()},
        "dataset": {"name": "scikit-learn digits (UCI optdigits), 8×8 → 16×16 bilinear", "train": len(train_set),
                    "held_out": len(held_out)},
        "stages": STAGES, "training": training, "acceptance": acceptance(rows, plan),
        **networks, "pixel_observers": pixels,
        "metamers": [{k: v for k, v in r.items() if k != "png"} | {"png": str(Path(r["png"]).relative_to(out))}
                     for r in rows],
        "wall_time_s": round(time.time() - t0, 1),
    }
    write_json(out / "experiment_b.json", result)
    return result
