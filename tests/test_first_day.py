"""Issue 26 (a researcher's first day, part 2): the polish problems of newcomer-walkthrough-2 — one line naming an
extra, aggregated experiment notices, a bar that ends on the reported loss, a robustness title that fits, report
grammar and notes, SEM for n = 1, audio decisions as words, sounds and sub-folders given to `predict`."""
import re
import shutil

import pytest

from climain import run_main

REPO = __import__("pathlib").Path(__file__).resolve().parents[1]


def test_a_missing_extra_is_one_line_with_the_checkouts_install_command():
    from metazoo_core.errors import MetazooError
    from metazoo_core.extras import require

    with pytest.raises(MetazooError) as e:
        require(["json", "no_such_module_xyz"], "cluster", "metazoo sweep --executor local")
    line = str(e.value)
    assert "\n" not in line and "no_such_module_xyz" in line and "json" not in line.split("needs")[1]
    assert f"pip install -e '.[cluster]' (in {REPO}" in line  # this checkout is an editable install
    require("json", "cluster", "anything")  # present: no error


def test_experiment_notices_are_one_line_per_kind_with_participants():
    from metazoo_core.experiment import aggregate_notes

    notes = [(p, f"{n} trials show the natural input because the metamer failed") for p, n in
             [(1, 12), (2, 15), (3, 13), (5, 9)]] + [(p, "a note without a count") for p in (1, 2)]
    assert aggregate_notes(notes, 6) == ["participants 1–3, 5: 9–15 trials show the natural input because the "
                                         "metamer failed", "a note without a count"]
    every = [(p, f"{10 + p} trials show X") for p in range(1, 21)]
    assert aggregate_notes(every, 20) == ["each participant: 11–30 trials show X"]
    assert aggregate_notes([(1, "12 trials show X")], 1) == ["12 trials show X"]


def test_sem_of_one_observation_is_not_a_number_and_audio_decisions_are_words():
    from metazoo_core.analysis.recognition import sem_text
    from metazoo_core.labels import audio_output_names, decision_text

    assert sem_text(0.0, 1) == "n/a (n = 1)" and sem_text(None, 3) == "—" and sem_text(0.1234, 4) == "0.123"
    words = audio_output_names(794)
    assert decision_text("380", "audio") == f"{words[380]} (380)" and words[380] != "(null)"
    assert decision_text("cat", "vision") == "cat" and decision_text("380", "vision") == "380"


def test_the_robustness_title_fits_its_figure():
    """Problem 16: the walkthrough's title (clipped on both sides before) lies inside the saved figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from metazoo_core.robustness.evaluate import FIGSIZE, TITLE_PT, wrapped_title

    title = ("efficientnet_lite0: linf untargeted PGD, 8 steps of 1/4 ε (the study: 64), labels predicted, "
             "n capped at 8 · 5×8 (predicted labels)")
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=120)
    ax.set_title(wrapped_title(title), fontsize=TITLE_PT)
    fig.tight_layout()
    fig.canvas.draw()
    box, frame = ax.title.get_window_extent(), fig.bbox
    plt.close(fig)
    assert wrapped_title(title).replace("\n", " ") == title
    assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and box.y1 <= frame.y1, (box, frame)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """One input, two stages, 2 steps, judged against a 4-pair null (loose): generate (piped) + report."""
    folder = tmp_path_factory.mktemp("firstday")
    null = folder / "lite0.null.safetensors"
    r_null = run_main("null", "efficientnet_lite0", "--inputs", "builtin", "--pairs", "4", "--out", str(null))
    r_gen = run_main("generate", "efficientnet_lite0", "builtin:chelsea", "--stage", "blocks_1", "--stage", "final",
                     "--iterations", "1", "--blocks", "2", "--init-step", "8", "--null", str(null),
                     "--out", str(folder / "run"))
    r_rep = run_main("report", str(folder / "run"), "--out", str(folder / "report.html"))
    return folder, r_null, r_gen, r_rep


def test_the_piped_progress_ends_on_the_reported_loss(small_run):
    """Problem 15: the last progress line of each stage shows the loss the table (and record) reports."""
    _, r_null, r_gen, _ = small_run
    assert r_gen.code == 0, r_gen.stderr
    assert re.search(r"null efficientnet_lite0: 4/4 pairs \(\d+ s\)", r_null.stderr), r_null.stderr
    for stage in ("blocks_1", "final"):
        last = [ln for ln in r_gen.stderr.splitlines() if ln.startswith(f"{stage} [chelsea]: 2/2 steps")][-1]
        loss = re.search(r"loss (\S+) \(", last).group(1)
        row = next(ln for ln in r_gen.stdout.splitlines() if f" {stage} " in ln)
        assert f" {loss} " in row, (last, row)


def test_the_report_says_the_loose_null_once_and_counts_in_good_grammar(small_run):
    folder, _, _, r_rep = small_run
    assert r_rep.code == 0, r_rep.stderr
    html = (folder / "report.html").read_text()
    assert html.count("the thresholds are loose") == 1 and html.count("(loose null)") == 2
    assert "loss curves (1 input)" in html and "1 input × 2 stages" in html.replace("\n", " ")


def test_predict_names_a_sound_in_an_image_folder_and_skipped_sub_folders(tmp_path):
    """Problem 19: a WAV in a folder given to a vision model, and a sub-folder that is not read."""
    from PIL import Image
    from skimage import data

    Image.fromarray(data.coffee()).save(tmp_path / "coffee.jpg")
    shutil.copy(REPO / "metazoo_core/data/sounds/apple.wav", tmp_path / "word.wav")
    (tmp_path / "more").mkdir()
    Image.fromarray(data.chelsea()).save(tmp_path / "more/cat.jpg")
    res = run_main("predict", "efficientnet_lite0", str(tmp_path))
    assert res.code == 2 and res.stdout.startswith("coffee ")
    assert f"{tmp_path / 'word.wav'}: a sound file, and this model is a vision model" in res.stderr
    assert f"{tmp_path}: 1 sub-folder not read (more)" in res.stderr and "PIL" not in res.stderr
