"""The readout's training and held-out sets are disjoint by content: the split layout, the train/val layout, copies
under other names, and the guard in `readout_stages`. The test hashes the tensors itself (not the code's digests)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from metazoo_core.errors import InputError
from metazoo_core.plugins import get_spec
from metazoo_core.readout.data import load_readout_data

SPEC = get_spec("efficientnet_lite0")


def _hashes(x: torch.Tensor) -> list[str]:
    """SHA-256 of each item's float64 values: independent of the code's float32 digest."""
    return [hashlib.sha256(item.double().numpy().tobytes()).hexdigest() for item in x]


def _photo(path: Path, seed: int) -> Path:
    """A distinct 64×64 RGB noise image (PNG, lossless) per seed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
    return path


def _classes(root: Path, per_class: int = 5) -> Path:
    for c, cls in enumerate(("a", "b")):
        for i in range(per_class):
            _photo(root / cls / f"{i:02d}.png", 10 * c + i)
    return root


def _assert_disjoint(train, val, n_files: int) -> None:
    tr, va = _hashes(train.x), _hashes(val.x)
    assert not set(tr) & set(va), "a held-out item is in the training set"
    assert len(set(tr)) == len(tr) and len(set(va)) == len(va)  # each content once per set
    assert len(tr) + len(va) == n_files  # nothing lost: every distinct content is in one of the two sets


def test_split_layout_holds_out_files_that_are_not_trained_on(tmp_path):
    root = _classes(tmp_path / "data")
    train, val, layout = load_readout_data(root, SPEC, val_fraction=0.4)
    assert layout == "split" and len(val) == 4 and len(train) == 6  # ⌈0.4 · 5⌉ = 2 per class held out
    assert val.names == ["a/00.png", "a/01.png", "b/00.png", "b/01.png"]
    _assert_disjoint(train, val, 10)


def test_a_copy_under_another_name_is_used_once(tmp_path):
    root = _classes(tmp_path / "data")
    (root / "a" / "zz_copy.png").write_bytes((root / "a" / "00.png").read_bytes())  # 00 is held out
    train, val, _ = load_readout_data(root, SPEC, val_fraction=0.4)
    _assert_disjoint(train, val, 10)
    assert "a/zz_copy.png" not in train.names + val.names
    assert any("used once" in n and "a/zz_copy.png = a/00.png" in n for n in train.notices)


def test_the_same_content_in_two_classes_is_refused(tmp_path):
    root = _classes(tmp_path / "data")
    (root / "b" / "zz.png").write_bytes((root / "a" / "03.png").read_bytes())
    with pytest.raises(InputError, match="a/03.png and b/zz.png have the same content but different classes") as e:
        load_readout_data(root, SPEC)
    assert "\n" not in str(e.value)


def test_train_val_layout_leaves_held_out_content_out_of_training(tmp_path):
    root = tmp_path / "data"
    _classes(root / "train", 4)
    for cls, seed in (("a", 100), ("b", 101)):
        _photo(root / "val" / cls / "v.png", seed)
    (root / "train" / "b" / "renamed.png").write_bytes((root / "val" / "b" / "v.png").read_bytes())
    train, val, layout = load_readout_data(root, SPEC)
    assert layout == "train/val" and len(val) == 2 and len(train) == 8
    _assert_disjoint(train, val, 10)
    assert any("left out of training" in n and "train/b/renamed.png = val/b/v.png" in n for n in train.notices)


def test_readout_refuses_overlapping_sets(tmp_path):
    from metazoo_core.models import load_model
    from metazoo_core.readout import readout_stages

    root = _classes(tmp_path / "data", 2)
    train, val, _ = load_readout_data(root, SPEC, val_fraction=0.5)
    leaky = train.subset(torch.arange(len(train)))
    leaky.x = torch.cat([train.x, val.x[:1]])
    leaky.y = torch.cat([train.y, val.y[:1]])
    leaky.names = [*train.names, "a/leak.png"]
    model = load_model(SPEC, pretrained=False)
    with pytest.raises(InputError, match=r"1 held-out item\(s\) are also in the training set by content"):
        readout_stages(model, leaky, val, ["final"], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_digits_split_of_the_readout_test_is_disjoint():
    from metazoo_core.replication.digits import load_digits_split

    train, val = load_digits_split(test_per_class=30)
    _assert_disjoint(train, val, 1797)  # sklearn's 1797 digits hold no two identical images
