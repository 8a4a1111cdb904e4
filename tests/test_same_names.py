"""Issue 18, must-show 3: inputs that share a file name (`cat/0.png`, `cup/0.png`) are kept and labelled apart by
`activations`, `generate` and `predict`, and a second run never replaces the first one's results silently:
`activations` refuses existing files without --overwrite, `generate` resumes the same command and refuses a
different one without --overwrite."""
import numpy as np
import pytest
from PIL import Image

from climain import run_main
from metazoo_core.inputs import distinct_labels

MODEL = ["efficientnet_lite0", "--random-weights"]


def _errors(result) -> int:
    return sum(line.startswith("error:") for line in result.stderr.splitlines())


def test_labels_are_the_shortest_distinguishing_path_suffix():
    assert distinct_labels(["0", "0", "x"], ["d/cat/0.png", "d/cup/0.png", "d/x.png"]) == ["cat/0", "cup/0", "x"]
    assert distinct_labels(["0", "0"], ["a/cat/0.png", "b/cat/0.png"]) == ["a/cat/0", "b/cat/0"]
    assert distinct_labels(["0", "1"], ["cat/0.png", "cat/1.png"]) == ["0", "1"]


@pytest.fixture(scope="module")
def two_zeros(tmp_path_factory):
    """cat/0.png (a photo-like gradient) and cup/0.png (its mirror image): same file name, different pictures."""
    root = tmp_path_factory.mktemp("data")
    ramp = np.linspace(0, 255, 64 * 64 * 3).reshape(64, 64, 3).astype(np.uint8)
    for folder, pixels in (("cat", ramp), ("cup", ramp[:, ::-1].copy())):
        (root / folder).mkdir()
        Image.fromarray(pixels).save(root / folder / "0.png")
    return root


def test_activations_keep_both_and_refuse_to_overwrite(two_zeros, tmp_path):
    args = ["activations", *MODEL, str(two_zeros / "cat"), str(two_zeros / "cup"), "--stage", "stem",
            "--out", str(tmp_path)]
    first = run_main(*args)
    assert first.code == 0, first.stderr
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["cat_0__stem.npy", "cup_0__stem.npy"]
    a, b = (np.load(tmp_path / f) for f in files)
    assert not np.array_equal(a, b)  # two different pictures, two different activations
    assert "cat/0 stem:" in first.stdout and "cup/0 stem:" in first.stdout
    stamp = {f: (tmp_path / f).stat().st_mtime_ns for f in files}
    again = run_main(*args)
    assert again.code == 2 and _errors(again) == 1 and "--overwrite" in again.stderr
    assert "notice: cat/0: 64 px crop upsampled" in again.stderr
    assert {f: (tmp_path / f).stat().st_mtime_ns for f in files} == stamp
    assert run_main(*args, "--overwrite").code == 0


def test_predict_labels_them_apart(two_zeros):
    res = run_main("predict", *MODEL, str(two_zeros / "cat"), str(two_zeros / "cup"), "--top", "1")
    assert res.code == 0, res.stderr
    assert [line.split(" ")[0] for line in res.stdout.splitlines()] == ["cat/0", "cup/0"]


def test_generate_keeps_both_resumes_and_refuses_another_command(two_zeros, tmp_path):
    args = ["generate", *MODEL, str(two_zeros / "cat" / "0.png"), str(two_zeros / "cup" / "0.png"),
            "--stage", "stem", "--iterations", "2", "--blocks", "1", "--out", str(tmp_path), "--json"]
    first = run_main(*args)
    assert first.code == 0, first.stderr
    import json

    records = json.loads(first.stdout)
    assert [r["input"]["name"] for r in records] == ["cat/0", "cup/0"]
    run = tmp_path / "efficientnet_lite0"
    assert sorted(p.name for p in run.iterdir()) == ["cat_0", "cup_0"]
    record = run / "cat_0" / "stem" / "record.json"
    before = record.read_bytes()
    assert run_main(*args).code == 0 and record.read_bytes() == before  # same command: resumed
    other = run_main(*args[:-1], "--seed", "3")  # a different command into the same folders
    assert other.code == 2 and _errors(other) == 1 and "--overwrite" in other.stderr
    assert record.read_bytes() == before
    replaced = run_main(*args, "--seed", "3", "--overwrite")
    assert replaced.code == 0 and record.read_bytes() != before


def test_short_schedule_constants_are_generate_options(tmp_path):
    args = ["generate", *MODEL, "builtin:chelsea", "--stage", "stem", "--iterations", "1", "--blocks", "2",
            "--out", str(tmp_path)]
    res = run_main(*args, "--init-step", "8", "--step-decay", "0.25", "--json")
    assert res.code == 0, res.stderr
    import json

    recipe = json.loads(res.stdout)[0]["recipe"]
    assert recipe["init_step"] == 8 and recipe["step_sizes"] == [8, 2]
    adam = run_main(*args, "--recipe", "adam", "--init-step", "8")
    assert adam.code == 2 and _errors(adam) == 1 and "--init-step applies to the normalised-gradient" in adam.stderr
    bad = run_main(*args, "--init-step", "0")
    assert bad.code == 2 and "--init-step 0: give a positive number" in bad.stderr


def test_stage_all_on_the_command_line_means_every_stage(tmp_path):
    from metazoo_core.plugins import get_spec

    res = run_main("activations", *MODEL, "builtin:chelsea", "--stage", "all", "--out", str(tmp_path))
    assert res.code == 0, res.stderr
    stages = get_spec("efficientnet_lite0").stage_names
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"chelsea__{s}.npy" for s in stages)


def test_collect_reads_a_plain_generate_run(two_zeros, tmp_path):
    gen = run_main("generate", *MODEL, str(two_zeros / "cat" / "0.png"), str(two_zeros / "cup" / "0.png"),
                   "--stage", "stem", "--iterations", "1", "--blocks", "1", "--out", str(tmp_path / "run"))
    assert gen.code == 0, gen.stderr
    res = run_main("collect", str(tmp_path / "run"), "--out", str(tmp_path / "t.csv"))
    assert res.code == 0, res.stderr
    import csv

    rows = list(csv.DictReader((tmp_path / "t.csv").open()))
    assert [r["input.name"] for r in rows] == ["cat/0", "cup/0"] and {r["stage"] for r in rows} == {"stem"}
    empty = run_main("collect", str(tmp_path))
    assert empty.code == 2 and "neither a sweep store" in empty.stderr
