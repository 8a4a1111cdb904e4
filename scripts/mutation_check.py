"""Mutation check: apply deliberate science bugs one at a time and report which fast tests catch each.

Usage: python scripts/mutation_check.py [--only ID,ID…] [--json OUT.json] [--timeout S]

Each mutation is a text patch (exact `old` → `new`, each `old` must occur exactly once) applied to a temporary copy
of the repository (tracked and untracked-but-not-ignored files). The tests run against the copy's code: a shim
folder on PYTHONPATH points `metazoo_core`, `metazoo_plugins` and `metazoo_cli` at the copy, ahead of the editable
install. The working tree is never modified. A baseline run (no mutation) must pass first, so every failure under
a mutation is caused by it. Prints a table (mutation, tests run, tests that failed) and exits 1 when a mutation
is caught by no test.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCIENCE = "tests/test_science_references.py"


@dataclass
class Mutation:
    id: str
    what: str
    patches: list[tuple[str, str, str]]
    """(file relative to the repository, old text, new text)"""
    tests: list[str]
    """pytest node ids or files (run with -m 'not slow')"""
    caught_by: list[str] = field(default_factory=list)


MUTATIONS = [
    Mutation("1", "Spearman on raw values (Pearson) instead of average ranks",
             [("metazoo_core/measures.py", "rho = _correlation(average_ranks(a), average_ranks(b))",
               "rho = _correlation(a, b)")],
             ["tests/test_metamer_criteria.py::test_spearman_matches_scipy_with_ties"]),
    Mutation("2", "null threshold = mean of the null instead of its maximum",
             [("metazoo_core/metamer/null.py", "return {m: float(self.values[stage][m].max()) for m in MEASURES}",
               "return {m: float(self.values[stage][m].mean()) for m in MEASURES}")],
             [f"{SCIENCE}::test_metamer_passes_at_the_null_maximum_and_fails_just_below_it",
              "tests/test_metamer_criteria.py::test_accepted_metamer_passes_and_underoptimised_fails"]),
    Mutation("3", "cochleagram envelope x2 (the full analytic magnitude)",
             [("metazoo_core/audio/cochleagram.py", "return (z.square().sum(-1)).clamp(min=ENVELOPE_FLOOR).sqrt()",
               "return (z.square().sum(-1)).clamp(min=ENVELOPE_FLOOR).sqrt() * 2")],
             ["tests/test_cochleagram.py::test_tone_level_is_quarter_amplitude_compressed",
              "tests/test_cochleagram.py::test_envelope_is_half_the_analytic_magnitude"]),
    Mutation("4a", "metamer step never halved (always the first block's step)",
             [("metazoo_core/metamer/optimise.py", "value=-recipe.step_size(block))", "value=-recipe.step_size(0))")],
             ["tests/test_metamer_engine.py::test_input_stage_metamer_converges_to_the_original"]),
    Mutation("4b", "metamer step decays x0.7 per block instead of x0.5 (record unchanged)",
             [("metazoo_core/metamer/optimise.py", "value=-recipe.step_size(block))",
               "value=-recipe.step_size(0) * 0.7 ** block)")],
             ["tests/test_metamer_engine.py::test_input_stage_metamer_converges_to_the_original"]),
    Mutation("5", "L1 attack: scale to the L1 ball, then clip, instead of the exact projection",
             [("metazoo_core/robustness/attacks.py", "delta = project_l1(delta, eps, lower, upper)",
               "delta = delta * _per_example((eps / delta.flatten(1).abs().sum(dim=1).clamp_min(1e-12))"
               ".clamp(max=1.0), delta)")],
             [f"{SCIENCE}::test_pgd_l1_step_is_the_exact_projection_of_the_step",
              "tests/test_attacks.py::test_perturbations_stay_in_ball_and_range"]),
    Mutation("6a", "ImageNet class 544 (Dutch oven) dropped from 'oven'",
             [("metazoo_core/data/imagenet16.json", '"oven": [\n   544,\n   766\n  ]', '"oven": [\n   766\n  ]')],
             [f"{SCIENCE}::test_16_way_table_equals_the_hand_typed_geirhos_list",
              f"{SCIENCE}::test_16_way_decision_is_the_max_logit_rule",
              "tests/test_stages.py::test_chelsea_is_a_cat"]),
    Mutation("6b", "16-way rule: mean logit per category instead of the max",
             [("metazoo_core/labels.py", "logits[:, idx].max(dim=1).values", "logits[:, idx].mean(dim=1)")],
             [f"{SCIENCE}::test_16_way_decision_is_the_max_logit_rule",
              "tests/test_stages.py::test_chelsea_is_a_cat"]),
    Mutation("7", "VOneNet complex cells without the 1/sqrt(2)",
             [("plugins/vonenet/block.py", "q1[:, s:] ** 2) / math.sqrt(2)", "q1[:, s:] ** 2)")],
             [f"{SCIENCE}::test_vonenet_simple_and_complex_responses_to_a_grating", "tests/test_vonenet.py"]),
    Mutation("8", "VOneNet without its k_exc = 25 gain",
             [("plugins/vonenet/block.py", "return self.k_exc * torch.cat(", "return torch.cat(")],
             [f"{SCIENCE}::test_vonenet_simple_and_complex_responses_to_a_grating", "tests/test_vonenet.py"]),
    Mutation("9", "recognition mean-row SEM with ddof 0 instead of 1",
             [("metazoo_core/analysis/recognition.py", "np.std(per_model, ddof=1)", "np.std(per_model, ddof=0)")],
             [f"{SCIENCE}::test_recognition_mean_row_has_the_sample_sem_over_other_recognisers"]),
    Mutation("10", "replication CIs at 90 % instead of 95 %",
             [("metazoo_core/replication/bootstrap.py", "LEVEL = 0.95", "LEVEL = 0.90")],
             [f"{SCIENCE}::test_replication_cis_equal_a_direct_95_percent_bootstrap",
              "tests/test_replication.py::test_mean_ci_matches_the_normal_approximation_for_proportions"]),
    Mutation("11", "HMAX patches from an unseeded RNG",
             [("plugins/hmax/patches.py", "rng = np.random.default_rng([seed, GENERATOR_VERSION])",
               "rng = np.random.default_rng()")],
             ["tests/test_hmax.py::test_generate_is_seeded_in_a_fresh_process_and_cuts_c1_windows"]),
    Mutation("12", "HMAX S1 back to a float32 Fourier correlation without the dark-window rule",
             [("plugins/hmax/model.py", "resp = self.correlations(x).abs()",
               "resp = self.correlations(img).double().abs()"),
              ("plugins/hmax/model.py",
               "live = border.repeat_interleave(4, dim=0) & (energy > (self.DARK ** 2) * total)",
               "live = border.repeat_interleave(4, dim=0)")],
             ["tests/test_hmax.py::test_s1_equals_direct_convolution_on_black_regions"]),
    Mutation("readout-leak", "readout: the held-out files stay in the training set",
             [("metazoo_core/readout/data.py", "        mask[held] = False\n", "")],
             ["tests/test_readout_split.py::test_split_layout_holds_out_files_that_are_not_trained_on"]),
    Mutation("word-shift", "audio output names shifted by one class (the null class last)",
             [("metazoo_core/labels.py", 'return ["(null)", *words] if', 'return [*words, "(null)"] if')],
             ["tests/test_audio_models.py::test_audio_output_order_is_the_study_label_map"]),
]


def copy_repo(dest: Path) -> None:
    """Tracked and untracked, not-ignored files of the working tree → dest."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           check=True, capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def make_shim(copy: Path, shim: Path) -> None:
    shim.mkdir()
    for name, folder in (("metazoo_core", "metazoo_core"), ("metazoo_plugins", "plugins"), ("metazoo_cli", "cli")):
        (shim / name).symlink_to(copy / folder)


def apply(copy: Path, mutation: Mutation) -> None:
    for rel, old, new in mutation.patches:
        path = copy / rel
        text = path.read_text()
        if text.count(old) != 1:
            raise SystemExit(f"mutation {mutation.id}: {rel} holds {text.count(old)} copies of the text to replace; "
                             "update the mutation to the current code")
        path.write_text(text.replace(old, new))


def run_tests(copy: Path, env: dict, tests: list[str], timeout: float) -> tuple[list[str], list[str]]:
    """(all test ids run, ids that failed or errored)."""
    report = copy / "mutation-junit.xml"
    report.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow",
           f"--junitxml={report}", *tests]
    try:
        subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return [], ["(timed out)"]
    if not report.is_file():
        return [], ["(pytest produced no report)"]
    ran, failed = [], []
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname', '').split('.')[-1]}::{case.get('name')}"
        if case.find("skipped") is not None:
            continue
        ran.append(name)
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(name)
    return ran, failed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated mutation ids")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per pytest run")
    args = ap.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.only or m.id in args.only.split(",")]
    with tempfile.TemporaryDirectory(prefix="metazoo-mutation-") as tmp:
        tmp = Path(tmp)
        shim = tmp / "shim"
        env = {**os.environ, "PYTHONPATH": str(shim), "HF_HUB_OFFLINE": "1"}
        base = tmp / "baseline"
        copy_repo(base)
        make_shim(base, shim)
        where = subprocess.run([sys.executable, "-c", "import metazoo_core, metazoo_plugins; "
                                "print(metazoo_core.__file__, metazoo_plugins.__file__)"],
                               env=env, cwd=base, capture_output=True, text=True, check=True).stdout
        if where.count(str(tmp)) != 2:
            raise SystemExit(f"the copy's code is not the one imported ({where.strip()}); check PYTHONPATH")
        tests = sorted({t for m in chosen for t in m.tests})
        t0 = time.time()
        ran, failed = run_tests(base, env, tests, args.timeout)
        print(f"baseline: {len(ran)} tests, {len(failed)} failed ({time.time() - t0:.0f} s)", flush=True)
        if failed or not ran:
            print("baseline must pass first:", *failed, sep="\n  ")
            return 2
        for m in chosen:
            shutil.rmtree(base)
            copy_repo(base)  # the shim's links point at `base`
            apply(base, m)
            t0 = time.time()
            ran, m.caught_by = run_tests(base, env, m.tests, args.timeout)
            print(f"mutation {m.id}: {len(ran)} tests, {len(m.caught_by)} failed ({time.time() - t0:.0f} s)",
                  flush=True)
    width = max(len(m.what) for m in chosen)
    print(f"\n| # | mutation{' ' * (width - 8)} | caught | failing tests |")
    print(f"|---|{'-' * (width + 2)}|---|---|")
    for m in chosen:
        print(f"| {m.id} | {m.what.ljust(width)} | {'yes' if m.caught_by else 'NO'} | "
              f"{', '.join(m.caught_by) or '-'} |")
    if args.json:
        args.json.write_text(json.dumps([{"id": m.id, "what": m.what, "tests": m.tests, "caught_by": m.caught_by}
                                         for m in chosen], indent=1))
    return 0 if all(m.caught_by for m in chosen) else 1


if __name__ == "__main__":
    sys.exit(main())
